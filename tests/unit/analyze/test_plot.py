"""analyze --plot: the files open, and the SVG shows every failing point marked and numbered."""

import argparse
import contextlib
import io
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from linewatch.detectors.spc import analyze
from linewatch.pipeline import analyze_cmd
from linewatch.pipeline.analyze_plot import plot_spec, point_label, series_rows

DATA = json.loads((Path(__file__).parents[1] / "spc" / "published_data.json").read_text())
SVG = "{http://www.w3.org/2000/svg}"
RED = "#d62728"


def _run(tmp_path: Path, text: str, *argv: str) -> tuple[int, str, str]:
    source = tmp_path / "in.csv"
    source.write_text(text)
    parser = argparse.ArgumentParser()
    analyze_cmd.add_parser(parser.add_subparsers())
    args = parser.parse_args(["analyze", "--input", str(source), *argv])
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code: int = args.func(args)
    return code, out.getvalue(), err.getvalue()


def _spiked_csv() -> str:
    values = [10 + ((i * 7) % 11 - 5) / 10 for i in range(70)]
    values[52], values[60] = 20.0, 0.0
    return "thickness\n" + "".join(f"{v}\n" for v in values)


def _marks(svg: Path) -> tuple[list[str], int]:
    """The red point labels of the data marks and the number of red (violation) symbols."""
    root = ET.parse(svg).getroot()
    labels: list[str] = []
    dots = 0
    for group in root.iter(f"{SVG}g"):
        kind = group.get("class", "")
        if "role-mark" not in kind:
            continue
        for mark in group:
            if mark.get("fill") != RED:
                continue
            if "mark-text" in kind and "(test " in "".join(mark.itertext()):
                labels.append("".join(mark.itertext()))
            elif "mark-symbol" in kind:
                dots += 1
    return labels, dots


def test_svg_marks_and_numbers_the_failing_points(tmp_path: Path) -> None:
    out = tmp_path / "imr.svg"
    code, _, err = _run(tmp_path, _spiked_csv(), "--chart", "imr", "--plot", str(out))
    assert code == 0, err
    labels, dots = _marks(out)
    # I chart: points 53 and 61; MR chart: 53, 54, 61, 62 (1-based, as the summary says)
    assert sorted(labels) == sorted(
        ["53 (test 1)", "61 (test 1)", "53 (test 1)", "54 (test 1)", "61 (test 1)", "62 (test 1)"]
    )
    assert dots == 6
    text = out.read_text()
    assert "I chart" in text and "MR chart" in text and "I-MR Chart of thickness" in text


def test_png_and_pdf_open(tmp_path: Path) -> None:
    wide = "a,b,c,d,e\n" + "".join(",".join(map(str, g)) + "\n" for g in DATA["pistonrings"])
    png, pdf = tmp_path / "x.png", tmp_path / "x.pdf"
    for target in (png, pdf):
        code, _, err = _run(
            tmp_path,
            wide,
            *("--chart", "xbar-r", "--phase1", "25", "--lsl", "73.95", "--usl", "74.05"),
            *("--plot", str(target)),
        )
        assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 5_000


def test_capability_panel_in_the_svg(tmp_path: Path) -> None:
    out = tmp_path / "cap.svg"
    wide = "a,b,c,d,e\n" + "".join(",".join(map(str, g)) + "\n" for g in DATA["pistonrings"])
    code, _, err = _run(
        tmp_path,
        wide,
        *("--chart", "xbar-r", "--phase1", "25", "--lsl", "73.95", "--usl", "74.05"),
        *("--plot", str(out)),
    )
    assert code == 0, err
    labels, dots = _marks(out)
    assert labels == ["37 (test 1)", "38 (test 1)", "39 (test 1)"] and dots == 3
    texts = ["".join(t.itertext()).replace("\u00a0", " ") for t in ET.parse(out).iter(f"{SVG}text")]
    for wanted in ("Cpm ", "PPM Total", "Anderson-Darling normality test: AD = ", "LSL", "USL"):
        assert any(wanted in t for t in texts), wanted
    assert any(t.startswith("Cp       1.6549") for t in texts)


def test_plot_refuses_an_unknown_format(tmp_path: Path) -> None:
    code, out, err = _run(
        tmp_path, "1\n2\n3\n", "--chart", "imr", "--plot", str(tmp_path / "a.gif")
    )
    assert code == 2 and out == ""
    assert (
        err == f"error: --plot {tmp_path / 'a.gif'}: the file name must end in .png, .svg or .pdf\n"
    )


def test_spec_uses_times_when_given_and_numbers_otherwise() -> None:
    result = analyze("xbar-r", DATA["pistonrings"], phase1=25)
    times = [datetime(2026, 3, 1, tzinfo=UTC) + timedelta(hours=i) for i in range(40)]
    rows = series_rows(result.charts["xbar"], 25, 40, times)
    assert [r.number for r in rows if r.violations] == [37, 38, 39]
    assert rows[36].extra == {"label": "37 (test 1)"} and rows[36].ts == times[36]
    assert [r.phase for r in rows].count("I") == 25
    timed = plot_spec(result, of="d", times=times)
    numbered = plot_spec(result, of="d")
    x_timed = timed["vconcat"][0]["layer"][-1]["encoding"]["x"]
    x_numbered = numbered["vconcat"][0]["layer"][-1]["encoding"]["x"]
    assert x_timed["type"] == "temporal" and x_numbered == {
        "field": "n",
        "type": "quantitative",
        "title": "point",
        "scale": {"zero": False, "nice": False},
        "axis": {"tickMinStep": 1, "format": "d"},
    }
    assert "params" not in json.dumps(numbered)  # a file has no zoom binding
    assert point_label(0, ["nelson2", "nelson6"]) == "1 (test 2, 6)"


@pytest.mark.parametrize("chart", ["p", "c"])
def test_attribute_chart_plots(tmp_path: Path, chart: str) -> None:
    rows = "count,size\n" + "".join(f"{c},100\n" for c in DATA["circuit"][:26])
    out = tmp_path / f"{chart}.svg"
    code, _, err = _run(tmp_path, rows, "--chart", chart, "--plot", str(out))
    assert code == 0, err
    labels, dots = _marks(out)
    # Montgomery table 7.7: samples 6 and 20 beyond the limits (p: the same, n = 100 each)
    assert labels == ["6 (test 1)", "20 (test 1)"] and dots == 2
