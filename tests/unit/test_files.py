"""Files that fight back: huge CSV cells, broken quoting, non-UTF-8 bytes, damaged gzip and
Parquet, unknown formats, a reused --out folder. Each finding of issue 8 (3, 4, 5 and the
.txt/.xlsx traceback) has its regression test here, through the CLI where it came from."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from linewatch.connectors.files import FileSource, JsonlSink, write_records
from linewatch.connectors.lines import InputDamaged, physical_lines
from linewatch.connectors.memory import ListSink
from linewatch.pipeline.cli import main
from linewatch.pipeline.config import load_config
from linewatch.pipeline.engine import Engine
from linewatch.pipeline.job import simulated_records
from linewatch.pipeline.models import DeadLetter
from linewatch.pipeline.runner import Route, Runner

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "welding-line.jsonl.gz"
EXAMPLE_CONFIG = ROOT / "examples" / "welding-line.yaml"
HEADER = "kind,ts,line,station,characteristic,value"
GOOD = "measurement,2026-11-23T08:00:{:02d}Z,L3,weld-2,nugget_dia_mm,5.4"


def run_file(path: Path) -> tuple[int, int, int, list[DeadLetter], FileSource]:
    """Replay ``path`` through the example config: read, processed, dead, letters, source."""
    config = load_config(EXAMPLE_CONFIG)
    source = FileSource(path, batch_size=50)
    dead = ListSink()
    runner = Runner(Engine(config), source, [Route(ListSink(), frozenset({"alerts"}))], dead)
    summary = runner.run()
    runner.close()
    letters = [item for item in dead.items if isinstance(item, DeadLetter)]
    return summary.records_read, summary.records_processed, summary.dead_letters, letters, source


def test_csv_survives_a_huge_cell_and_broken_quotes_with_exact_accounting(
    tmp_path: Path,
) -> None:
    rows = [GOOD.format(i) for i in range(60)]
    rows[3] = GOOD.format(3).replace("L3", "L3" + "x" * 200_000)  # a 200,002-character id
    rows[5] = GOOD.format(5).replace(",L3,", ',"L3,')  # an early unclosed quote
    rows[57] = GOOD.format(57).replace(",5.4", ',"5.4')  # an unclosed quote near the end
    rows[58] = GOOD.format(58).replace("weld-2", 'we"ld-2')  # a quote in an unquoted cell
    path = tmp_path / "line.csv"
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    read, processed, dead, letters, _ = run_file(path)
    assert (read, processed, dead) == (60, 56, 4)
    by_line = {letter.origin: letter.reason for letter in letters}
    assert by_line == {
        "line.csv:5": "line.csv:5: Expected `str` of length <= 200 - at `$.line`",
        "line.csv:7": "line.csv:7: a quote opened at character 34 is never closed (Linewatch "
        "CSV has one record per line) - in column `line` (cell 3)",
        "line.csv:59": "line.csv:59: a quote opened at character 58 is never closed (Linewatch "
        "CSV has one record per line) - in column `value` (cell 6)",
        "line.csv:60": "line.csv:60: a quote inside an unquoted cell at character 39 - in "
        "column `station` (cell 4)",
    }
    # Each dead letter keeps the line exactly as it was in the file.
    lines = path.read_bytes().split(b"\n")
    for letter in letters:
        number = int(letter.origin.rsplit(":", 1)[1])
        assert letter.original_bytes() == lines[number - 1]


def test_csv_non_utf8_row_keeps_its_bytes_and_never_becomes_an_id(tmp_path: Path) -> None:
    path = tmp_path / "line.csv"
    path.write_bytes(
        (HEADER + "\n" + GOOD.format(1) + "\n").encode()
        + GOOD.format(2).replace("L3", "L\xff3").encode("latin-1")
        + b"\n"
    )
    read, processed, dead, letters, _ = run_file(path)
    assert (read, processed, dead) == (2, 1, 1)
    (letter,) = letters
    assert (
        letter.reason
        == "line.csv:3: not UTF-8 text (byte 34 of the line) - in column `line` (cell 3)"
    )
    assert letter.payload_encoding == "base64"
    assert letter.original_bytes() == GOOD.format(2).replace("L3", "L\xff3").encode("latin-1")


def test_csv_row_with_the_wrong_cell_count_names_the_column(tmp_path: Path) -> None:
    path = tmp_path / "line.csv"
    path.write_text(f"{HEADER}\n{GOOD.format(1)},extra\n{GOOD.format(2).rsplit(',', 2)[0]}\n")
    _, processed, dead, letters, _ = run_file(path)
    assert (processed, dead) == (0, 2)
    assert [letter.reason for letter in letters] == [
        "line.csv:2: the row has 7 cells, the header 6 columns - cell 7, beyond the "
        "last column `value` is extra",
        "line.csv:3: the row has 4 cells, the header 6 columns - column `characteristic` "
        "and after are missing",
    ]


def test_jsonl_non_utf8_line_is_a_dead_letter_with_its_bytes(tmp_path: Path) -> None:
    good = (
        b'{"kind":"measurement","ts":"2026-11-23T08:00:00Z","line":"L3","station":"weld-2",'
        b'"characteristic":"nugget_dia_mm","value":5.4}'
    )
    bad = good.replace(b'"L3"', b'"L\xff3"')
    path = tmp_path / "line.jsonl"
    path.write_bytes(good + b"\r\n\n" + bad + b"\n")
    read, processed, dead, letters, _ = run_file(path)
    assert (read, processed, dead) == (2, 1, 1)
    assert letters[0].reason == "line.jsonl:3: not UTF-8 text (byte 59) - in `$.line`"
    assert letters[0].original_bytes() == bad


def test_truncated_gzip_keeps_every_whole_line_before_the_damage() -> None:
    data = EXAMPLE.read_bytes()
    cut = data[:500_000]
    expected = gzip.decompress(data).split(b"\n")
    lines: list[bytes] = []
    with pytest.raises(InputDamaged) as caught:
        lines.extend(physical_lines(io.BytesIO(cut).read, gzipped=True))
    assert caught.value.byte_offset == 500_000
    # Everything zlib could decode before the cut: whole lines plus the partial one.
    assert lines == expected[: len(lines)]
    assert expected[len(lines)].startswith(caught.value.partial)
    assert len(lines) > 29_000


def test_corrupt_gzip_member_names_the_byte() -> None:
    member = gzip.compress(b"a\nb\n" * 1000)
    damaged = member + b"\x1f\x8b\x08\x00garbage-garbage"  # a second member that is not one
    with pytest.raises(InputDamaged) as caught:
        list(physical_lines(io.BytesIO(damaged).read, gzipped=True))
    assert caught.value.byte_offset >= len(member)
    with pytest.raises(InputDamaged) as not_gzip:
        list(physical_lines(io.BytesIO(b"plain text\n").read, gzipped=True))
    assert str(not_gzip.value) == (
        "input damaged at byte 0: not gzip data (no gzip header where a member should start)"
    )
    # Zero padding after the last member is not damage (gzip allows it).
    assert list(physical_lines(io.BytesIO(member + b"\x00" * 10).read, gzipped=True)) == (
        [b"a", b"b"] * 1000
    )


def _cli(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "linewatch.pipeline.cli", *args],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
        timeout=120,
    )


def _replay(path: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return _cli(
        ["replay", "--config", str(EXAMPLE_CONFIG), "--input", str(path), "--out", str(out),
         "--no-progress"]
    )  # fmt: skip


def test_damaged_files_write_the_report_and_exit_1_without_a_traceback(tmp_path: Path) -> None:
    data = EXAMPLE.read_bytes()
    flipped = bytearray(data)
    flipped[-6] ^= 0xFF  # the stored length: the checksum check fails at the very end
    cases = {
        "truncated.jsonl.gz": (data[:300_000], "input damaged at byte 300000: the gzip data ends "
                               "before its end-of-stream marker (truncated file)"),
        "corrupt.jsonl.gz": (bytes(flipped), "input damaged at byte "),
        "plain.jsonl.gz": (b'{"kind":"x"}\n', "input damaged at byte 0: not gzip data"),
        "bad.parquet": (b"PAR1 not really", "input damaged at byte 0: the file cannot be read as "
                        "Parquet (ArrowInvalid"),
    }  # fmt: skip
    whole = len(gzip.decompress(data).split(b"\n")) - 1
    for name, (content, error) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        out = tmp_path / f"out-{name}"
        result = _replay(path, out)
        assert result.returncode == 1, (name, result.stderr)
        assert "Traceback" not in result.stderr + result.stdout
        (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
        assert line.startswith(f"error: {error}"), (name, line)
        if name == "corrupt.jsonl.gz":  # found in the 8-byte trailer that holds the checks
            byte = int(line.split("byte ", 1)[1].split(":", 1)[0])
            assert len(data) - 8 <= byte < len(data)
            assert "the gzip checksum does not match" in line
        report = (out / "report.md").read_text()
        assert f"**The run is incomplete: {error}" in report
        assert (out / "alerts.jsonl").exists() and (out / "dead-letters.jsonl").exists()
        if name == "truncated.jsonl.gz":
            read = int(line.rsplit("(", 1)[1].split()[0])
            assert 15_000 < read < whole
            assert f"| {read} | {read} | 0 |" in report  # read = processed, no dead letters
        if name == "corrupt.jsonl.gz":
            assert f"| {whole} | {whole} | 0 |" in report  # every line came out before the check


def test_unknown_formats_are_one_line_errors(tmp_path: Path) -> None:
    for name, hint in [
        ("line.txt", ""),
        ("sheet.xlsx", " (Excel workbooks are not read: save the sheet as CSV)"),
        ("noname", ""),
    ]:
        path = tmp_path / name
        path.write_text("kind\n")
        result = _replay(path, tmp_path / "out")
        assert result.returncode == 1
        shown = repr(path.suffix or "no suffix")
        assert " ".join(result.stderr.split()) == (
            f"error: {path}: unsupported format {shown}{hint}; supported: .jsonl, .ndjson, "
            ".json, .csv (each optionally .gz), .parquet, .pq"
        )


def test_a_reused_out_folder_never_shows_the_previous_report(tmp_path: Path) -> None:
    out = tmp_path / "out"
    good = tmp_path / "line.jsonl"
    # the first 6.8 hours: the nugget shift's alert (12:02) is in them
    good.write_bytes(gzip.decompress(EXAMPLE.read_bytes())[:1_300_000].rsplit(b"\n", 1)[0] + b"\n")
    assert _replay(good, out).returncode == 0
    assert (out / "report.md").exists() and (out / "alerts.jsonl").stat().st_size > 0
    result = _replay(tmp_path / "missing.jsonl", out)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert not (out / "report.md").exists()
    assert all(
        not (out / name).exists() or (out / name).stat().st_size == 0
        for name in ("alerts.jsonl", "kpis.jsonl", "dead-letters.jsonl")
    )


def test_simulated_parquet_replays_like_jsonl(tmp_path: Path) -> None:
    """Finding 4: every kind keeps its columns, so the two files replay identically."""
    results = {}
    for suffix in ("jsonl", "parquet", "csv"):
        line = tmp_path / f"sim.{suffix}"
        # 24 hours: the first two faults and what follows them (13 alert records)
        assert main(["simulate", "--config", str(EXAMPLE_CONFIG), "--minutes", "1440",
                     "--no-progress", "--out", str(line)]) == 0  # fmt: skip
        out = tmp_path / f"out-{suffix}"
        assert main(["replay", "--config", str(EXAMPLE_CONFIG), "--input", str(line),
                     "--out", str(out), "--no-progress"]) == 0  # fmt: skip
        alerts = [json.loads(x) for x in (out / "alerts.jsonl").read_text().splitlines()]
        dead = (out / "dead-letters.jsonl").read_text()
        report = (out / "report.md").read_text()
        summary = report.split("|---:|---:|---:|---:|---:|---:|---:|\n", 1)[1].split("\n", 1)[0]
        results[suffix] = (
            summary.rsplit("|", 2)[0],
            [(a["alert_id"], a["status"]) for a in alerts],
            dead,
        )
    jsonl = results["jsonl"]
    assert jsonl[2] == "" and len(jsonl[1]) > 10
    assert results["parquet"] == jsonl
    assert results["csv"] == jsonl


def test_parquet_schema_keeps_every_kind(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    config = load_config(EXAMPLE_CONFIG)
    assert config.simulation is not None
    records, _ = simulated_records(config.simulation, 240)
    kept = list(records)
    path = tmp_path / "sim.parquet"
    assert write_records(kept, path) == len(kept)
    rows = pq.read_table(path).to_pylist()
    assert {row["kind"] for row in rows} == {"parameter", "measurement", "inspection", "attribute"}
    source = FileSource(path)
    from linewatch.pipeline.decode import decode

    decoded = []
    while not source.exhausted:
        decoded += [decode(raw) for raw in source.poll(0.0)]
    assert decoded == kept


def test_jsonl_sink_and_source_agree_on_dead_letters(tmp_path: Path) -> None:
    """A dead letter written by the sink decodes back to the original bytes."""
    path = tmp_path / "line.jsonl"
    raw = b'{"kind":"measurement","line":"\xc3\x28"}'
    path.write_bytes(raw + b"\n")
    config = load_config(EXAMPLE_CONFIG)
    sink = JsonlSink(tmp_path / "dead.jsonl", append=False)
    runner = Runner(Engine(config), FileSource(path), [], sink)
    runner.run()
    runner.close()
    (letter,) = [
        msgspec.json.decode(x, type=DeadLetter)
        for x in (tmp_path / "dead.jsonl").read_bytes().splitlines()
    ]
    assert letter.original_bytes() == raw
