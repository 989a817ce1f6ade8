"""A small built-in list of SNOMED CT codes for DICOM segment category (CID 7150) and type (CID 7151)."""

from __future__ import annotations

from typing import TypedDict


class Code(TypedDict):
    scheme: str
    value: str
    meaning: str


CATEGORIES: list[Code] = [
    {"scheme": "SCT", "value": "123037004", "meaning": "Anatomical Structure"},
    {"scheme": "SCT", "value": "49755003", "meaning": "Morphologically Altered Structure"},
    {"scheme": "SCT", "value": "91723000", "meaning": "Anatomical Structure"},
    {"scheme": "SCT", "value": "260787004", "meaning": "Physical Object"},
    {"scheme": "SCT", "value": "85756007", "meaning": "Tissue"},
]

TYPES: list[Code] = [
    {"scheme": "SCT", "value": "10200004", "meaning": "Liver"},
    {"scheme": "SCT", "value": "64033007", "meaning": "Kidney"},
    {"scheme": "SCT", "value": "78961009", "meaning": "Spleen"},
    {"scheme": "SCT", "value": "15776009", "meaning": "Pancreas"},
    {"scheme": "SCT", "value": "39607008", "meaning": "Lung"},
    {"scheme": "SCT", "value": "80891009", "meaning": "Heart"},
    {"scheme": "SCT", "value": "12738006", "meaning": "Brain"},
    {"scheme": "SCT", "value": "15825003", "meaning": "Aorta"},
    {"scheme": "SCT", "value": "421060004", "meaning": "Spinal column"},
    {"scheme": "SCT", "value": "89837001", "meaning": "Urinary bladder"},
    {"scheme": "SCT", "value": "108369006", "meaning": "Neoplasm"},
    {"scheme": "SCT", "value": "4147007", "meaning": "Mass"},
    {"scheme": "SCT", "value": "27925004", "meaning": "Nodule"},
    {"scheme": "SCT", "value": "52988006", "meaning": "Lesion"},
    {"scheme": "SCT", "value": "50960005", "meaning": "Hemorrhage"},
]

DEFAULT_CATEGORY: Code = {"scheme": "SCT", "value": "49755003", "meaning": "Morphologically Altered Structure"}
DEFAULT_TYPE: Code = {"scheme": "SCT", "value": "52988006", "meaning": "Lesion"}
