"""Train/val/test assignment: grouped by patient, stratified by label, deterministic for a seed.

Every case of a patient goes to one split (the group is the unit). Groups are stratified by their rarest
label (by how many groups carry it), so each label is spread over the splits in the asked ratios. Within
a stratum, groups are ordered by a seeded hash of their key (not by database order) and then by size,
largest first, and each goes to the split furthest below its target. Same input + seed = same splits.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from backend.common.errors import ApplicationError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Group:
    key: str  # patient key (or a stand-in for an unknown patient)
    size: int  # cases
    labels: frozenset[int]


def ratios_validate(ratios: Mapping[str, object]) -> dict[str, float]:
    """{"train": .7, "val": .15, "test": .15}: known names, numbers in [0, 1], summing to 1 (±1e-6)."""
    if not isinstance(ratios, Mapping) or not ratios:
        raise ApplicationError("invalid_split", 'Give split ratios, e.g. {"train": 0.8, "test": 0.2}.')
    unknown = sorted(set(ratios) - set(SPLITS))
    if unknown:
        raise ApplicationError("invalid_split", "Unknown split names.", extra={"unknown": unknown, "allowed": SPLITS})
    out: dict[str, float] = {}
    for name, raw in ratios.items():
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw) or not 0 <= raw <= 1:
            raise ApplicationError("invalid_split", f"The ratio of {name} must be a number in [0, 1].")
        out[name] = float(raw)
    total = sum(out.values())
    if abs(total - 1.0) > 1e-6:
        raise ApplicationError(
            "invalid_split", "Split ratios must sum to 1.", extra={"sum": round(total, 9), "ratios": out}
        )
    return {name: out.get(name, 0.0) for name in SPLITS}


def _order_key(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}\x00{key}".encode()).hexdigest()


def assign_splits(groups: list[Group], ratios: Mapping[str, float], seed: int) -> dict[str, str]:
    """{group key: split}."""
    carriers = Counter(label for group in groups for label in group.labels)

    def stratum(group: Group) -> str:
        if not group.labels:
            return "none"
        rarest = min(group.labels, key=lambda label: (carriers[label], label))
        return f"label:{rarest}"

    strata: dict[str, list[Group]] = {}
    for group in groups:
        strata.setdefault(stratum(group), []).append(group)
    active = [name for name in SPLITS if ratios.get(name, 0.0) > 0]
    overall = dict.fromkeys(SPLITS, 0)
    out: dict[str, str] = {}
    for name in sorted(strata):
        members = sorted(strata[name], key=lambda g: _order_key(seed, g.key))
        members.sort(key=lambda g: -g.size)  # stable: seeded order among equal sizes
        counts = dict.fromkeys(SPLITS, 0)
        placed = 0
        for group in members:
            placed += group.size
            # Deficit within the stratum first, then overall, then the fixed split order.
            choice = max(
                active,
                key=lambda s: (
                    ratios[s] * placed - counts[s],
                    ratios[s] * (sum(overall.values()) + group.size) - overall[s],
                    -SPLITS.index(s),
                ),
            )
            counts[choice] += group.size
            overall[choice] += group.size
            out[group.key] = choice
    return out
