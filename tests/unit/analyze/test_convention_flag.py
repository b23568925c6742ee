"""``analyze --convention qcc`` and ``--rules-on-dispersion`` reach the charts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from linewatch.pipeline.cli import main

# Stacked, unequal subgroups: A (10, 12) R=2, B (11, 14, 12) R=3, C (9, 10, 13, 11) R=4,
# D (12, 11) R=1.
ROWS = "sg,x\nA,10\nA,12\nB,11\nB,14\nB,12\nC,9\nC,10\nC,13\nC,11\nD,12\nD,11\n"
D2 = {2: 1.128, 3: 1.693, 4: 2.059}


def analyzed(tmp_path: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> dict[str, object]:
    path = tmp_path / "stacked.csv"
    path.write_text(ROWS)
    command = ["analyze", "--chart", "xbar-r", "--input", str(path), "--json"]
    assert main([*command, "--value-col", "x", "--subgroup-col", "sg", *flags]) == 0
    result: dict[str, object] = json.loads(capsys.readouterr().out)
    return result


def test_qcc_sigma_is_the_plain_mean_of_r_over_d2_and_its_r_centre_size_weighted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = analyzed(tmp_path, capsys, "--convention", "qcc")
    uwave_r = (2 / D2[2] + 3 / D2[3] + 4 / D2[4] + 1 / D2[2]) / 4  # qcc's UWAVE-R
    params = result["params"]
    assert isinstance(params, dict) and result["convention"] == "qcc"
    assert params["sigma"] == pytest.approx(uwave_r, rel=1e-12)
    assert params["center"] == pytest.approx(125 / 11, rel=1e-12)  # mean of all 11 values
    assert params["dispersion_center"] == pytest.approx((2 * 2 + 3 * 3 + 4 * 4 + 2 * 1) / 11)


def test_minitab_by_default_weights_the_subgroups(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = analyzed(tmp_path, capsys)
    params = result["params"]
    assert isinstance(params, dict) and result["convention"] == "minitab"
    assert "dispersion_center" not in params
    assert params["sigma"] != pytest.approx(1.5935668643181626, rel=1e-6)


def test_a_bad_convention_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "x.csv"
    path.write_text(ROWS)
    with pytest.raises(SystemExit) as stop:
        main(["analyze", "--chart", "xbar-r", "--input", str(path), "--convention", "jmp"])
    assert stop.value.code == 2
    assert "invalid choice: 'jmp'" in capsys.readouterr().err
