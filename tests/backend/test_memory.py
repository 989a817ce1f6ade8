"""The workers' malloc policy: freed intermediates are reused, not page-faulted in again on every prompt."""

from __future__ import annotations

import subprocess
import sys

# Three 16 MiB arrays, written (so every page is touched) and freed together, four times: the shape of a
# decode's intermediates. The last round's minor page faults are what every later prompt would pay.
PROBE = """
import resource, sys
import numpy as np
from backend.common.memory import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
for _ in range(4):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    arrays = [np.ones(1 << 21) for _ in range(3)]
    del arrays
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _steady_faults(mode: str) -> int:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=120, check=True
    )
    return int(result.stdout.strip())


def test_freed_blocks_are_reused_without_page_faults() -> None:
    kept = _steady_faults("keep")
    default = _steady_faults("default")
    assert kept < 64, f"{kept} page faults per round with freed memory kept (glibc defaults: {default})"
    assert default > kept
