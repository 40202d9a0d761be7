from __future__ import annotations

import pytest

from mgn.models.summary import main


def test_summary_prints_official_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    main([])
    printed = capsys.readouterr().out
    assert "4,366,065" in printed and "17.46" in printed  # MGN default
    assert "4,569,675" in printed and "9,307,723" in printed  # HAN used / official file
    main(["--dim", "256"])
    assert "16,661,873" in capsys.readouterr().out
