"""The fuzz script stays runnable: a two-second run with one worker must find nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from . import fuzz_parser


@pytest.mark.usefixtures("shared_data")
def test_fuzz_script_runs_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = fuzz_parser.main(["--seconds", "2", "--workers", "1", "--seed", "7", "--save-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "no crashes" in out
