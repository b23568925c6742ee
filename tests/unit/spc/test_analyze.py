"""analyze() against the stream and published data; the analyze CLI's parsing and errors."""

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from linewatch.detectors.spc import IMRChart, RuleSet, analyze
from linewatch.detectors.spc.analyze import AnalysisInputError, parse_rules
from linewatch.pipeline import analyze_cmd

DATA = json.loads((Path(__file__).parent / "published_data.json").read_text())
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_analyze_equals_stream_concatenated() -> None:
    values = DATA["cusum30"]
    result = analyze("imr", values, phase1=20, rules="nelson")
    chart = IMRChart(phase1=20, rules=RuleSet.nelson())
    stamps = [T0 + timedelta(seconds=i) for i in range(30)]
    points = [p for e in chart.update_many(stamps, values) for p in e.points]
    ind = [p for p in points if p.chart == "individuals"]
    series = result.charts["individuals"]
    assert series.value == [p.value for p in ind]
    assert series.ucl == [p.ucl for p in ind] and series.center == [p.center for p in ind]
    assert series.violations == {
        r: [p.index for p in ind if r in p.rules] for r in {r for p in ind for r in p.rules}
    }
    assert result.charts["moving_range"].index == list(range(1, 30))


def test_analyze_piston_rings_violations() -> None:
    result = analyze("xbar-r", DATA["pistonrings"], phase1=25)
    assert result.charts["xbar"].violations == {"nelson1": [36, 37, 38]}
    assert round(result.sigma or 0.0, 9) == 0.009785039
    doc = json.loads(json.dumps(result.to_dict()))
    assert doc["charts"]["xbar"]["violations"] == {"nelson1": [36, 37, 38]}
    assert doc["charts"]["range"]["lcl"][0] == 0.0


def test_analyze_capability_and_t2() -> None:
    cap = analyze("capability", DATA["cusum30"][:20], lsl=7.0, usl=13.0)
    assert cap.capability is not None and set(cap.capability.indices) >= {"cp", "cpk", "pp"}
    json.dumps(cap.to_dict())
    t2 = analyze(
        "t2",
        [{"a": a, "b": b} for a, b in zip(DATA["cusum30"], DATA["circuit"], strict=False)],
        names=("a", "b"),
    )
    assert len(t2.charts["t2"].value) == 30


def test_analyze_bad_observation_index() -> None:
    with pytest.raises(AnalysisInputError) as info:
        analyze("p", [{"count": 1, "size": 5}, {"count": 9, "size": 5}])
    assert info.value.index == 1


def test_parse_rules() -> None:
    assert parse_rules("we") == RuleSet.western_electric()
    assert parse_rules("1,2;1=2.5") == RuleSet(tests=(1, 2), k={1: 2.5})
    with pytest.raises(ValueError, match="rules"):
        parse_rules("x")


def _cli(tmp_path: Path, text: str, *argv: str) -> int:
    source = tmp_path / "in.csv"
    source.write_text(text)
    parser = argparse.ArgumentParser()
    analyze_cmd.add_parser(parser.add_subparsers())
    args = parser.parse_args(["analyze", "--input", str(source), *argv])
    code: int = args.func(args)
    return code


def test_cli_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _cli(
        tmp_path,
        "count\n" + "\n".join(str(c) for c in DATA["circuit"][:26]),
        "--chart",
        "c",
        "--json",
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["charts"]["c"]["violations"] == {"nelson1": [5, 19]}


def test_cli_subgroups_with_blanks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _cli(tmp_path, "1,2,3\n2,,4\n3,4,\n", "--chart", "xbar-r", "--json")
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["charts"]["xbar"]["value"] == [2.0, 3.0, 3.5]


@pytest.mark.parametrize(
    ("text", "chart", "message"),
    [
        ("1\nx\n3\n", "imr", "in.csv:2: column 1: not a number: 'x'"),
        ("count,size\n1,5\n2,\n", "p", "in.csv:3: column 2: 'size' is empty"),
        ("count,size\n1,5\n6,5\n", "p", "in.csv:3: nonconforming count 6.0 exceeds the 5.0"),
        ("count,size\n1,5\n2,0\n", "p", "in.csv:3: size must be positive"),
        ("1,2\n3,4\n", "p", "in.csv:1: a header naming count,size is required"),
        ("1\n2\nnan\n", "imr", "in.csv:3: column 1: not finite"),
        ("1,2\n3\n", "xbar-r", "in.csv:2: a subgroup needs at least 2 values"),
    ],
)
def test_cli_errors_name_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, chart: str, message: str
) -> None:
    assert _cli(tmp_path, text, "--chart", chart) == 2
    assert message in capsys.readouterr().err


def test_cli_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        _cli(
            tmp_path,
            "\n".join(str(v) for v in DATA["cusum30"]),
            "--chart",
            "ewma",
            "--lambda",
            "0.1",
            "-L",
            "2.7",
            "--center",
            "10",
            "--known-sigma",
            "1",
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "ewma" in out and "10.27" in out
