"""analyze on stacked (long) CSVs with a date column: the same numbers as the wide file."""

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from linewatch.pipeline import analyze_cmd
from linewatch.pipeline.analyze_input import Layout, read_named

DATA = json.loads((Path(__file__).parents[1] / "spc" / "published_data.json").read_text())
RINGS: list[list[float]] = DATA["pistonrings"]  # Montgomery table 6.3: 40 subgroups of 5
T0 = datetime(2026, 3, 1, 6, 0)


def _run(tmp_path: Path, name: str, text: str, *argv: str) -> tuple[int, str, str]:
    source = tmp_path / name
    source.write_text(text)
    parser = argparse.ArgumentParser()
    analyze_cmd.add_parser(parser.add_subparsers())
    args = parser.parse_args(["analyze", "--input", str(source), *argv])
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code: int = args.func(args)
    return code, out.getvalue(), err.getvalue()


def _json(tmp_path: Path, name: str, text: str, *argv: str) -> dict[str, Any]:
    code, out, err = _run(tmp_path, name, text, *argv, "--json")
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


def _wide() -> str:
    return "a,b,c,d,e\n" + "".join(",".join(map(str, g)) + "\n" for g in RINGS)


def _stacked(stamp: str = "%Y-%m-%d %H:%M:%S") -> str:
    """One measurement a row, lots in reverse time order, so only the times order them."""
    rows = [
        f"{(T0 + timedelta(hours=i, minutes=j)).strftime(stamp)},L{i:02d},{v}"
        for i, group in enumerate(RINGS)
        for j, v in enumerate(group)
    ]
    return "when,lot,diameter\n" + "\n".join(reversed(rows)) + "\n"


def test_stacked_with_a_date_column_gives_the_wide_files_limits(tmp_path: Path) -> None:
    wide = _json(tmp_path, "wide.csv", _wide(), "--chart", "xbar-r", "--phase1", "25")
    stacked = _json(
        tmp_path,
        "long.csv",
        _stacked(),
        *("--chart", "xbar-r", "--phase1", "25"),
        *("--value-col", "diameter", "--subgroup-col", "lot", "--time-col", "when"),
    )
    assert stacked["charts"] == wide["charts"] and stacked["params"] == wide["params"]
    assert stacked["sigma"] == wide["sigma"]
    # Montgomery example 6.3: the X-bar chart of the 15 new subgroups signals at 37, 38, 39
    assert stacked["charts"]["xbar"]["violations"] == {"nelson1": [36, 37, 38]}
    assert stacked["charts"]["xbar"]["center"][0] == pytest.approx(74.001176, abs=1e-12)
    assert stacked["subgroups"][:2] == ["L00", "L01"] and len(stacked["subgroups"]) == 40
    assert stacked["times"][0] == "2026-03-01T06:00:00+00:00"
    assert stacked["times"][-1] == "2026-03-02T21:00:00+00:00"


def test_iso_times_with_t_and_offset_order_the_rows(tmp_path: Path) -> None:
    wide = _json(tmp_path, "wide.csv", _wide(), "--chart", "xbar-s")
    text = _stacked("%Y-%m-%dT%H:%M:%S+01:00")
    stacked = _json(
        tmp_path,
        "long.csv",
        text,
        *("--chart", "xbar-s", "--value-col", "diameter", "--subgroup-size", "5"),
        *("--time-col", "when"),
    )
    assert stacked["charts"] == wide["charts"]
    assert stacked["times"][0] == "2026-03-01T06:00:00+01:00"


def test_stacked_without_times_keeps_the_files_order_of_first_appearance(tmp_path: Path) -> None:
    rows = "lot,x\nB,1\nA,5\nB,3\nA,7\nC,2\nC,2.5\n"
    doc = _json(
        tmp_path, "x.csv", rows, "--chart", "xbar-r", "--value-col", "x", "--subgroup-col", "lot"
    )
    assert doc["subgroups"] == ["B", "A", "C"]
    assert doc["charts"]["xbar"]["value"] == [2.0, 6.0, 2.25]
    assert doc["charts"]["range"]["value"] == [2.0, 2.0, 0.5]


def test_individuals_by_column_in_date_order(tmp_path: Path) -> None:
    values = DATA["cusum30"]
    days = [(T0 + timedelta(days=i)).strftime("%Y-%m-%d") for i in range(len(values))]
    text = "day,temp,note\n" + "".join(
        f"{d},{v},x\n" for d, v in reversed(list(zip(days, values, strict=True)))
    )
    plain = _json(tmp_path, "plain.csv", "\n".join(map(str, values)) + "\n", "--chart", "imr")
    by_name = _json(
        tmp_path, "d.csv", text, "--chart", "imr", "--value-col", "temp", "--time-col", "day"
    )
    assert by_name["charts"] == plain["charts"]
    assert by_name["times"][0] == "2026-03-01T00:00:00+00:00"


def test_read_named_gives_lines_of_each_subgroups_first_row(tmp_path: Path) -> None:
    source = tmp_path / "x.csv"
    source.write_text("t,lot,x\n2026-01-02,B,1\n2026-01-01,A,5\n2026-01-03,B,3\n2026-01-01,A,7\n")
    table = read_named(source, "xbar-r", Layout("x", "lot", time_col="t"))
    assert table.labels == ["A", "B"] and table.lines == [3, 2]
    assert table.observations == [[5.0, 7.0], [1.0, 3.0]]
    assert table.times is not None and table.times[0].tzinfo is UTC


def test_attribute_data_by_column_name(tmp_path: Path) -> None:
    counts = DATA["orangejuice_D"]
    sizes = [50 + 10 * (i % 3) for i in range(len(counts))]  # unequal: per-point limits
    wide = "count,size\n" + "".join(f"{c},{n}\n" for c, n in zip(counts, sizes, strict=True))
    named = "date,defective,inspected\n" + "".join(
        f"{(T0 + timedelta(days=i)).date()},{c},{n}\n"
        for i, (c, n) in reversed(list(enumerate(zip(counts, sizes, strict=True))))
    )
    expected = _json(tmp_path, "w.csv", wide, "--chart", "p")
    got = _json(
        tmp_path,
        "n.csv",
        named,
        *("--chart", "p", "--value-col", "defective", "--size-col", "inspected"),
        *("--time-col", "date"),
    )
    assert got["charts"] == expected["charts"] and got["params"] == expected["params"]
    c_chart = _json(tmp_path, "c.csv", named, "--chart", "c", "--value-col", "defective")
    assert c_chart["charts"]["c"]["value"] == [float(c) for c in counts[::-1]]


@pytest.mark.parametrize(
    ("text", "argv", "message"),
    [
        (
            "when,x\n2026-03-01,1\n2026-13-01,2\n",
            ("--chart", "imr", "--value-col", "x", "--time-col", "when"),
            "in.csv:3: column 1: not a date or time: '2026-13-01' "
            "(ISO 8601, YYYY-MM-DD HH:MM:SS or YYYY-MM-DD)",
        ),
        (
            "when,x\n2026-03-01,1\n,2\n",
            ("--chart", "imr", "--value-col", "x", "--time-col", "when"),
            "in.csv:3: column 1: 'when' is empty",
        ),
        (
            "lot,x\nA,1\nA,\n",
            ("--chart", "xbar-r", "--value-col", "x", "--subgroup-col", "lot"),
            "in.csv:3: column 2: 'x' is empty",
        ),
        (
            "lot,x\nA,1\nA,1,5\nB,abc\n",
            ("--chart", "xbar-r", "--value-col", "x", "--subgroup-col", "lot"),
            "in.csv:4: column 2: not a number: 'abc'",
        ),
        (
            "lot,x\nA,1\n",
            ("--chart", "xbar-r", "--value-col", "y", "--subgroup-col", "lot"),
            "in.csv:1: header lacks column 'y' (it has 'lot', 'x')",
        ),
        (
            "x\n1\n2\n",
            ("--chart", "xbar-r", "--value-col", "x"),
            "--chart xbar-r on stacked data needs --subgroup-col or --subgroup-size",
        ),
        (
            "lot,x\nA,1\nA,2\n",
            ("--chart", "imr", "--value-col", "x", "--subgroup-col", "lot"),
            "in.csv:2: --chart imr takes one value per subgroup, subgroup 'A' has 2",
        ),
        (
            "x,n\n1,5\n",
            ("--chart", "xbar-r", "--value-col", "x", "--size-col", "n"),
            "--size-col does not apply to --chart xbar-r",
        ),
        (
            "d,n\n1,5\n3,2\n",
            ("--chart", "p", "--value-col", "d", "--size-col", "n"),
            "in.csv:3: nonconforming count 3.0 exceeds the 2.0",
        ),
        ("1\n2\n", ("--chart", "imr", "--value-col", "x"), "in.csv:1: a header naming"),
    ],
)
def test_bad_cells_are_one_line_errors(
    tmp_path: Path, text: str, argv: tuple[str, ...], message: str
) -> None:
    code, out, err = _run(tmp_path, "in.csv", text, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err, err
