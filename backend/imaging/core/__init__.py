"""The imaging core: DICOM reading, de-identification, geometry, uploads, conversions. No Django here.

The ingest path the services build on:
    parsed = read_dicom(data, uid_context=batch_id)            # refuses bad input with ImagingError
    decision = quarantine_decision(parsed.dataset)             # pixels need a human look?
    result = deidentify(parsed.dataset, policy=DeidPolicy(project_secret=...))
    stored = dataset_to_bytes(result.dataset)                  # what is hashed and written to storage
    summary = summarize(result.dataset)                        # what the index stores (never the original)
"""

from .archives import ZipLimits, ZipMember, iter_zip_members, safe_member_name
from .deid import DeidPolicy, DeidResult, QuarantineDecision, deidentify, quarantine_decision
from .errors import Code, ImagingError
from .geometry import SortedSlices, SubSeries, SubSeriesKey, sort_slices, sort_summaries, split_series
from .nifti import NiftiConversion, NiftiVolume, nifti_to_dicom_series, read_nifti
from .parsing import (
    CT_WINDOW_PRESETS,
    DEFAULT_MAX_PIXEL_BYTES,
    SUPPORTED_TRANSFER_SYNTAXES,
    DecodedFrame,
    InstanceSummary,
    ParsedDicom,
    WindowPreset,
    dataset_to_bytes,
    decode_frame,
    decode_frames,
    iter_frames,
    read_dicom,
    summarize,
)
from .raster import RasterImage, raster_to_secondary_capture, read_raster

__all__ = [
    "CT_WINDOW_PRESETS",
    "DEFAULT_MAX_PIXEL_BYTES",
    "SUPPORTED_TRANSFER_SYNTAXES",
    "Code",
    "DecodedFrame",
    "DeidPolicy",
    "DeidResult",
    "ImagingError",
    "InstanceSummary",
    "NiftiConversion",
    "NiftiVolume",
    "ParsedDicom",
    "QuarantineDecision",
    "RasterImage",
    "SortedSlices",
    "SubSeries",
    "SubSeriesKey",
    "WindowPreset",
    "ZipLimits",
    "ZipMember",
    "dataset_to_bytes",
    "decode_frame",
    "decode_frames",
    "deidentify",
    "iter_frames",
    "iter_zip_members",
    "nifti_to_dicom_series",
    "quarantine_decision",
    "raster_to_secondary_capture",
    "read_dicom",
    "read_nifti",
    "read_raster",
    "safe_member_name",
    "sort_slices",
    "sort_summaries",
    "split_series",
    "summarize",
]
