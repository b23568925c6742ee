"""The default output of analyze: Minitab's session-window text, points counted from 1."""

import argparse
import contextlib
import io
import itertools
import json
import math
import statistics
from pathlib import Path

import pytest
from scipy import stats

from linewatch.detectors.spc import RuleSet
from linewatch.pipeline import analyze_cmd
from linewatch.pipeline.analyze_summary import rule_report

DATA = json.loads((Path(__file__).parents[1] / "spc" / "published_data.json").read_text())


def _run(tmp_path: Path, text: str, *argv: str, name: str = "in.csv") -> tuple[int, str, str]:
    source = tmp_path / name
    source.write_text(text)
    parser = argparse.ArgumentParser()
    analyze_cmd.add_parser(parser.add_subparsers())
    args = parser.parse_args(["analyze", "--input", str(source), *argv])
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code: int = args.func(args)
    return code, out.getvalue(), err.getvalue()


def _spiked() -> list[float]:
    """70 quiet values with a spike at the 53rd and the 61st (0-based 52 and 60)."""
    values = [10 + ((i * 7) % 11 - 5) / 10 for i in range(70)]
    values[52], values[60] = 20.0, 0.0
    return values


def _g(x: float) -> str:
    return f"{x:.6g}"


def test_individuals_summary_exact_lines(tmp_path: Path) -> None:
    values = _spiked()
    code, out, err = _run(
        tmp_path, "thickness\n" + "".join(f"{v}\n" for v in values), "--chart", "imr"
    )
    assert code == 0, err
    # independent arithmetic: MR-bar/d2(2), d2 = 1.128, d3 = 0.853 (Montgomery App. VI)
    mean = statistics.fmean(values)
    mr_bar = statistics.fmean(abs(b - a) for a, b in itertools.pairwise(values))
    sigma = mr_bar / 1.128
    assert out == (
        "I-MR Chart of thickness\n"
        "\n"
        "70 observations; limits from all 70 observations\n"
        "\n"
        f"I chart: CL = {_g(mean)}, UCL = {_g(mean + 3 * sigma)}, LCL = {_g(mean - 3 * sigma)}\n"
        f"MR chart: CL = {_g(mr_bar)}, UCL = {_g(mr_bar * (1 + 3 * 0.853 / 1.128))}, LCL = 0\n"
        f"σ (within) = {_g(sigma)}\n"
        "\n"
        "Test Results for I Chart of thickness\n"
        "\n"
        "TEST 1. One point more than 3.00 standard deviations from center line.\n"
        "Test failed at points: 53, 61\n"
        "\n"
        "Test Results for MR Chart of thickness\n"
        "\n"
        "TEST 1. One point more than 3.00 standard deviations from center line.\n"
        "Test failed at points: 53, 54, 61, 62\n"
    )
    assert "CL = 10.01, UCL = 12.8392, LCL = 7.18083" in out  # the figures, pinned
    code, out, _ = _run(
        tmp_path, "thickness\n" + "".join(f"{v}\n" for v in values), "--chart", "imr", "--json"
    )
    assert json.loads(out)["charts"]["individuals"]["violations"] == {"nelson1": [52, 60]}


def test_piston_rings_phase_one_and_a_quiet_chart(tmp_path: Path) -> None:
    wide = "a,b,c,d,e\n" + "".join(",".join(map(str, g)) + "\n" for g in DATA["pistonrings"])
    code, out, err = _run(tmp_path, wide, "--chart", "xbar-r", "--phase1", "25")
    assert code == 0, err
    assert out.splitlines() == [
        "Xbar-R Chart of a, ..., e",
        "",
        "40 subgroups; limits from subgroups 1-25 (phase I)",
        "",
        # Montgomery example 6.3: 74.001, A2 = 0.577, R-bar = 0.023
        "Xbar chart: CL = 74.0012, UCL = 74.0143, LCL = 73.988",
        "R chart: CL = 0.02276, UCL = 0.0481228, LCL = 0",
        "σ (within) = 0.00978504",
        "",
        "Test Results for Xbar Chart of a, ..., e",
        "",
        "TEST 1. One point more than 3.00 standard deviations from center line.",
        "Test failed at points: 37, 38, 39",
        "",
        "No test failed on the R Chart of a, ..., e.",
    ]


def test_unequal_sizes_show_the_range_of_the_limits(tmp_path: Path) -> None:
    rows = "count,size\n" + "".join(
        f"{c},{n}\n" for c, n in ((2, 50), (5, 100), (3, 50), (4, 100), (6, 100), (1, 50))
    )
    code, out, _ = _run(tmp_path, rows, "--chart", "p")
    assert code == 0
    p_bar = 21 / 450
    ucl = [p_bar + 3 * math.sqrt(p_bar * (1 - p_bar) / n) for n in (100, 50)]
    assert (
        f"P chart: CL = {_g(p_bar)}, UCL = {_g(ucl[0])} to {_g(ucl[1])} (varies by point), LCL = 0\n"
        in out
    )
    assert "No test failed on the P Chart of count.\n" in out


def test_every_test_is_described_as_minitab_does() -> None:
    nelson = RuleSet.nelson()
    described = [rule_report(f"nelson{t}", [0, 9], nelson).splitlines()[0] for t in range(1, 9)]
    assert described == [
        "TEST 1. One point more than 3.00 standard deviations from center line.",
        "TEST 2. 9 points in a row on same side of center line.",
        "TEST 3. 6 points in a row all increasing or all decreasing.",
        "TEST 4. 14 points in a row alternating up and down.",
        "TEST 5. 2 out of 3 points more than 2 standard deviations from center line "
        "(on one side of CL).",
        "TEST 6. 4 out of 5 points more than 1 standard deviation from center line "
        "(on one side of CL).",
        "TEST 7. 15 points in a row within 1 standard deviation of center line "
        "(above and below CL).",
        "TEST 8. 8 points in a row more than 1 standard deviation from center line "
        "(above and below CL).",
    ]
    tuned = RuleSet(tests=(1, 2), k={1: 2.5, 2: 7})
    assert rule_report("nelson1", [4], tuned) == (
        "TEST 1. One point more than 2.50 standard deviations from center line.\n"
        "Test failed at points: 5"
    )
    assert rule_report("nelson2", [6, 7], tuned).splitlines() == [
        "TEST 2. 7 points in a row on same side of center line.",
        "Test failed at points: 7, 8",
    ]


def test_capability_section_with_ppm_and_normality(tmp_path: Path) -> None:
    values = DATA["cusum30"]
    code, out, err = _run(
        tmp_path,
        "x\n" + "".join(f"{v}\n" for v in values),
        *("--chart", "imr", "--lsl", "8", "--usl", "13", "--target", "10.5"),
    )
    assert code == 0, err
    section = out[out.index("Process Capability of x") :].splitlines()
    n = len(values)
    mean = statistics.fmean(values)
    within = statistics.fmean(abs(b - a) for a, b in itertools.pairwise(values)) / 1.128
    overall = statistics.stdev(values)
    cp = 5 / (6 * within)
    cpk = min(13 - mean, mean - 8) / (3 * within)
    assert section[2] == "LSL = 8, Target = 10.5, USL = 13"
    assert section[3] == (
        f"Sample mean = {_g(mean)}, N = {n}, StDev(Within) = {_g(within)}, "
        f"StDev(Overall) = {_g(overall)}"
    )
    assert section[5] == "Index     Value  95% CI"
    assert section[6].startswith(f"Cp    {cp:9.4f}  (")
    assert section[9].startswith(f"Cpk   {cpk:9.4f}  (")
    below = sum(v < 8 for v in values) / n * 1e6
    above = sum(v > 13 for v in values) / n * 1e6
    exp_w = (stats.norm.cdf((8 - mean) / within) * 1e6, stats.norm.sf((13 - mean) / within) * 1e6)
    exp_o = (stats.norm.cdf((8 - mean) / overall) * 1e6, stats.norm.sf((13 - mean) / overall) * 1e6)
    assert (
        section[14] == f"{'Performance':<11}{'Observed':>12}{'Exp. Within':>14}{'Exp. Overall':>14}"
    )
    assert section[15] == f"{'PPM < LSL':<11}{below:>12.2f}{exp_w[0]:>14.2f}{exp_o[0]:>14.2f}"
    assert section[16] == f"{'PPM > USL':<11}{above:>12.2f}{exp_w[1]:>14.2f}{exp_o[1]:>14.2f}"
    assert section[17] == (
        f"{'PPM Total':<11}{below + above:>12.2f}{sum(exp_w):>14.2f}{sum(exp_o):>14.2f}"
    )
    ad = stats.anderson(values, dist="norm", method="interpolate").statistic
    assert section[19].startswith(f"Anderson-Darling normality test: AD = {ad:.3f}, P-Value = ")
    code, out, _ = _run(
        tmp_path,
        "x\n" + "".join(f"{v}\n" for v in values),
        *("--chart", "imr", "--lsl", "8", "--usl", "13", "--json"),
    )
    doc = json.loads(out)["capability"]
    assert doc["ppm"]["expected_overall"]["below"] == pytest.approx(exp_o[0], rel=1e-9)
    assert doc["indices"]["cp"]["value"] == pytest.approx(cp, rel=1e-12)
    assert doc["normality"]["statistic"] == pytest.approx(ad, rel=1e-12)


def test_capability_is_refused_for_a_chart_without_it(tmp_path: Path) -> None:
    code, out, err = _run(tmp_path, "count\n1\n2\n3\n", "--chart", "c", "--usl", "5")
    assert code == 2 and out == ""
    assert (
        err == "error: --lsl/--usl give capability for imr, xbar-r, xbar-s and capability, not c\n"
    )
