"""Fuzz suite: over a million mutated records through the replay path, seeded and bounded.

The clean base is the example line (69,249 records, three days, alerts included). Each
case writes files in one format where ~90% of the records are mutated (byte flips,
truncations, non-UTF-8 bytes, field swaps, dropped fields, wrong types, broken quoting;
in the values-and-time cases also extreme numbers and future or past timestamps), and
replays each file through FileSource → Runner with the real Engine and config. For each
file it asserts:

- no crash, and records read = the non-blank lines (rows) of the file, counted here
  independently, = processed + dead letters, exactly;
- every dead letter, read back from its JSONL file, holds the line's original bytes (a
  Parquet row: the row as JSON) and a reason that starts with ``file:line`` and names
  the field;
- the alerts (ids and statuses) equal those of a replay of the accepted records alone,
  written to a clean file, and that replay refuses nothing, with one precise exception:
  a record the fuzz run accepted because it *re-anchored* its key's event clock.

Why the exception: a station that really jumps ahead (a restart after a long stop, or a
sparse mutated key whose median lags behind) is recognised by ``lateness.reanchor_after``
future records in a row that agree; the first ones are refused and the last is accepted
on their evidence (see :mod:`linewatch.pipeline.guards`). That evidence is refused
records, so it is sequence-dependent by design: in the accepted-only replay the
re-anchoring record stands alone and is refused as a ``future timestamp``. So the
accepted-only replay is iterated to a fixed point, dropping what it refuses; every
record dropped on the way must be such a ``future timestamp`` refusal, and the alerts
of every round must equal the fuzz run's. Any other refusal (a value guard, a detector,
a subgroup) would mean a refused record still influenced state: a bug.

``MUTATED_RECORDS`` counts records whose bytes (row) differ from the clean record, and
the last test asserts the suite fed at least 1,000,000 of them (the structural cases alone
do). A smaller sample goes through the real CLI. Everything is seeded: the same files,
counts and alerts on every run.

The values-and-time cases add extreme numbers (up to ±1.8e308) and far-future and past
timestamps (issue 8 findings 1 and 2).
"""

from __future__ import annotations

import base64
import gzip
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest

from linewatch.connectors.files import FileSource, JsonlSink, parquet_schema
from linewatch.connectors.memory import ListSink
from linewatch.pipeline.config import Config, load_config
from linewatch.pipeline.engine import Engine
from linewatch.pipeline.models import Alert, DeadLetter
from linewatch.pipeline.runner import Route, Runner

ROOT = Path(__file__).resolve().parents[2]
CONFIG_PATH = ROOT / "examples" / "welding-line.yaml"
BASE_LINES = gzip.decompress((ROOT / "examples" / "welding-line.jsonl.gz").read_bytes()).split(
    b"\n"
)[:-1]
MUTATED_SHARE = 0.9
COLUMNS = [field.name for field in parquet_schema()]
WIRE_FIELDS = set(COLUMNS)
MUTATED_RECORDS: dict[str, int] = {}
FED_RECORDS: dict[str, int] = {}

EXTREMES = [1e200, -1e200, 1.7976931348623157e308, -1.7976931348623157e308, 5e-324, 1e-300,
            0.0, -0.0, 1e15, 9.007199254740993e15]  # fmt: skip
STRINGS = ["", " ", "L/3", "a b", "x" * 300, "\u00e9\u4e2d", "null", "0"]


def _base_dicts() -> list[dict[str, Any]]:
    decoder = msgspec.json.Decoder()
    return [decoder.decode(line) for line in BASE_LINES]


BASE = _base_dicts()


# -- mutations ------------------------------------------------------------------------


def _shift_ts(ts: str, rng: Any) -> str:
    when = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    choice = int(rng.integers(0, 8))
    shifted = [
        when.replace(year=2126),  # a typo'd year
        when + timedelta(days=365),
        when + timedelta(hours=1),  # clock skew, DST
        when - timedelta(hours=1),  # late
        when - timedelta(days=30),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2199, 12, 31, 23, 59, tzinfo=UTC),
        when.replace(year=9999),  # out of range
    ][choice]
    return shifted.isoformat().replace("+00:00", "Z")


def _mutate_dict(
    record: dict[str, Any], op: int, rng: np.random.Generator, values: bool
) -> dict[str, Any]:
    """A changed copy of a record: field swap, dropped field, wrong type, bad id, values."""
    out = dict(record)
    keys = list(out)
    if op == 0:  # swap two fields' values
        a, b = rng.choice(len(keys), 2, replace=False)
        out[keys[a]], out[keys[b]] = out[keys[b]], out[keys[a]]
    elif op == 1:  # drop a field
        del out[keys[int(rng.integers(0, len(keys)))]]
    elif op == 2:  # wrong type
        key = keys[int(rng.integers(0, len(keys)))]
        out[key] = [str(out[key]), 5, True, None, [1], {"a": 1}][int(rng.integers(0, 6))]
    elif op == 3:  # bad id or text
        key = ["line", "station", "kind", "part_id", "characteristic", "name", "result"][
            int(rng.integers(0, 7))
        ]
        out[key] = STRINGS[int(rng.integers(0, len(STRINGS)))]
    elif op == 4 and values:  # extreme numbers
        if "value" in out:
            out["value"] = EXTREMES[int(rng.integers(0, len(EXTREMES)))]
        elif "inspected" in out:
            out["inspected"] = int(rng.choice([1, 10**18, 2**63 - 1]))
        else:
            out["defects"] = int(rng.choice([0, 10**18, -1]))
    elif op == 5 and values:  # future and past timestamps
        out["ts"] = _shift_ts(out["ts"], rng)
    else:  # counts that break their invariants
        if "nonconforming" in out:
            out["nonconforming"] = out["inspected"] + 1
        else:
            out["kind"] = "weld"
    return out


def _mutate_bytes(line: bytes, op: int, rng: np.random.Generator) -> bytes:
    """Byte flip, truncation or non-UTF-8 bytes at a random place."""
    at = int(rng.integers(0, len(line)))
    if op == 0:
        flipped = bytearray(line)
        flipped[at] ^= int(rng.integers(1, 256))
        return bytes(flipped)
    if op == 1:
        return line[: max(at, 1)]
    return (
        line[:at]
        + [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80"][int(rng.integers(0, 4))]
        + line[at:]
    )


def mutated_records(
    seed: int,
    values: bool,
    render: Callable[[dict[str, Any]], bytes],
    byte_ops: bool = True,
) -> Iterator[tuple[bytes, bool]]:
    """Each base record rendered (``render``), ~90% of them mutated; (bytes, mutated)."""
    rng = np.random.default_rng(seed)
    mutate = rng.random(len(BASE)) < MUTATED_SHARE
    ops = rng.integers(0, 10 if byte_ops else 7, len(BASE))
    for record, clean, change, op in zip(BASE, _clean_lines(render), mutate, ops, strict=True):
        if not change:
            yield clean, False
            continue
        if op >= 7:
            mutated = _mutate_bytes(clean, int(op) - 7, rng)
        else:
            mutated = render(_mutate_dict(record, int(op), rng, values))
        yield mutated, mutated != clean


_encoder = msgspec.json.Encoder()


def _jsonl(record: dict[str, Any]) -> bytes:
    return _encoder.encode(record)


def _csv_cell(value: Any) -> str:
    kind = type(value)
    text: str
    if value is None:
        return ""
    if kind is str:
        text = value
    elif kind is bool:
        return "true" if value else "false"
    elif kind is float or kind is int:
        return repr(value)
    elif kind is list:
        text = "|".join(str(v) for v in value)
    else:
        text = _encoder.encode(value).decode()
    if "," in text or '"' in text or "\n" in text or "\r" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def _csv(record: dict[str, Any]) -> bytes:
    get = record.get
    return ",".join([_csv_cell(get(column)) for column in COLUMNS]).encode()


_CLEAN_CSV: list[bytes] = []


def _clean_lines(render: Callable[[dict[str, Any]], bytes]) -> list[bytes]:
    """The base records rendered once (the JSONL base is the example's own lines)."""
    if render is _jsonl:
        return BASE_LINES
    if not _CLEAN_CSV:
        _CLEAN_CSV.extend(_csv(record) for record in BASE)
    return _CLEAN_CSV


# -- running and checking -------------------------------------------------------------

FIELD = re.compile(r"`\$(?:\.[^`]+)?`|`(\w+)`|column `|\b(" + "|".join(WIRE_FIELDS) + r")\b")


def replay(path: Path, config: Config, dead_path: Path) -> tuple[Any, list[tuple[str, str]]]:
    alerts = ListSink()
    source = FileSource(path, batch_size=1000)
    runner = Runner(
        Engine(config),
        source,
        [Route(alerts, frozenset({"alerts"}))],
        JsonlSink(dead_path, append=False),
        checkpoint_every_records=10**9,
        checkpoint_every_seconds=1e9,
    )
    summary = runner.run()
    runner.close()
    assert source.damage is None
    return summary, [(a.alert_id, a.status) for a in alerts.items if isinstance(a, Alert)]


def check_file(
    path: Path, records: dict[int, bytes], config: Config, tmp: Path
) -> tuple[set[int], list[tuple[str, str]]]:
    """Replay ``path``; assert accounting and dead letters; the accepted record indexes."""
    summary, alerts = replay(path, config, tmp / "dead.jsonl")
    letters = [
        msgspec.json.decode(line, type=DeadLetter)
        for line in (tmp / "dead.jsonl").read_bytes().splitlines()
    ]
    assert summary.records_read == len(records)
    assert summary.records_read == summary.records_processed + summary.dead_letters
    assert len(letters) == summary.dead_letters
    dead: set[int] = set()
    for letter in letters:
        number = int(letter.origin.rsplit(":", 1)[1].removeprefix("row "))
        assert letter.reason.startswith(f"{letter.origin}: "), letter.reason
        assert FIELD.search(letter.reason.split(": ", 1)[1]), letter.reason
        dead.add(number)
        assert letter.original_bytes() == records[number], (letter.origin, letter.reason)
    assert len(dead) == len(letters)
    return {number for number in records if number not in dead}, alerts


def _reanchor_refusals(dead_path: Path) -> set[int]:
    """Line (row) numbers of an accepted-only replay's dead letters, all future timestamps."""
    refused = set()
    for line in dead_path.read_bytes().splitlines():
        letter = msgspec.json.decode(line, type=DeadLetter)
        assert letter.reason.startswith(f"{letter.origin}: future timestamp: "), letter.reason
        refused.add(int(letter.origin.rsplit(":", 1)[1].removeprefix("row ")))
    return refused


def _write_text(path: Path, lines: list[bytes], header: bytes | None) -> dict[int, bytes]:
    """Write the lines; the non-blank physical lines by number, as an editor counts them."""
    body = b"\n".join(lines) + b"\n"
    data = (header + b"\n" + body) if header is not None else body
    path.write_bytes(data)
    physical = data.split(b"\n")[:-1]
    start = 2 if header is not None else 1
    found = {}
    for number, line in enumerate(physical, start=1):
        line = line[:-1] if line.endswith(b"\r") else line
        if number >= start and line.strip():
            found[number] = line
    return found


def _text_case(name: str, seeds: range, values: bool, suffix: str, tmp: Path) -> None:
    config = load_config(CONFIG_PATH)
    render = _jsonl if suffix == "jsonl" else _csv
    header = ",".join(COLUMNS).encode() if suffix == "csv" else None
    for seed in seeds:
        produced = list(mutated_records(seed, values, render))
        lines = [line for line, _ in produced]
        path = tmp / f"fuzz-{seed}.{suffix}"
        records = _write_text(path, lines, header)
        accepted, alerts = check_file(path, records, config, tmp)
        clean = tmp / f"clean-{seed}.{suffix}"
        order = sorted(accepted)
        while True:  # to the fixed point: see the module docstring
            kept = _write_text(clean, [records[n] for n in order], header)
            summary, clean_alerts = replay(clean, config, tmp / "clean-dead.jsonl")
            assert clean_alerts == alerts
            assert summary.records_processed + summary.dead_letters == len(kept)
            refused = _reanchor_refusals(tmp / "clean-dead.jsonl")
            if not refused:
                break
            numbers = sorted(kept)
            order = [n for i, n in zip(numbers, order, strict=True) if i not in refused]
        assert alerts, "the case must exercise the alert path"
        MUTATED_RECORDS[f"{name}-{seed}"] = sum(changed for _, changed in produced)
        FED_RECORDS[f"{name}-{seed}"] = len(records)


@pytest.mark.parametrize("seeds", [range(1, 5), range(5, 9), range(9, 13)], ids=["a", "b", "c"])
def test_fuzz_jsonl_structural(seeds: range, tmp_path: Path) -> None:
    _text_case("jsonl", seeds, False, "jsonl", tmp_path)


def test_fuzz_jsonl_values_and_time(tmp_path: Path) -> None:
    _text_case("jsonl-values", range(101, 103), True, "jsonl", tmp_path)


def test_fuzz_csv_structural(tmp_path: Path) -> None:
    _text_case("csv", range(201, 204), False, "csv", tmp_path)


def test_fuzz_csv_values_and_time(tmp_path: Path) -> None:
    _text_case("csv-values", range(301, 302), True, "csv", tmp_path)


def _parquet_case(name: str, seeds: range, values: bool, tmp: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    config = load_config(CONFIG_PATH)
    schema = parquet_schema()
    for seed in seeds:
        if not _FITTED_BASE:
            _FITTED_BASE.extend(_fit_schema(record) for record in BASE)
        rows = []
        changed = 0
        produced = mutated_records(seed, values, _jsonl, byte_ops=False)
        for (row_bytes, mutated), clean in zip(produced, _FITTED_BASE, strict=True):
            row = _fit_schema(msgspec.json.decode(row_bytes)) if mutated else clean
            rows.append(row)
            changed += row != clean  # a mutation the schema cannot hold may fit back to clean
        table = _table(rows, schema, pa)
        path = tmp / f"fuzz-{seed}.parquet"
        pq.write_table(table, path, row_group_size=20_000)
        read_back = pq.read_table(path).to_pylist()
        records = {
            number: _encoder.encode({k: v for k, v in row.items() if v is not None})
            for number, row in enumerate(read_back, start=1)
        }
        accepted, alerts = check_file(path, records, config, tmp)
        clean_path = tmp / f"clean-{seed}.parquet"
        order = sorted(accepted)
        while True:  # to the fixed point: see the module docstring
            pq.write_table(table.take([n - 1 for n in order]), clean_path)
            summary, clean_alerts = replay(clean_path, config, tmp / "clean-dead.jsonl")
            assert clean_alerts == alerts
            assert summary.records_processed + summary.dead_letters == len(order)
            refused = _reanchor_refusals(tmp / "clean-dead.jsonl")
            if not refused:
                break
            order = [n for i, n in enumerate(order, start=1) if i not in refused]
        assert alerts
        MUTATED_RECORDS[f"{name}-{seed}"] = changed
        FED_RECORDS[f"{name}-{seed}"] = len(records)


_FITTED_BASE: list[dict[str, Any]] = []


def _fit_schema(row: Any) -> dict[str, Any]:
    """A mutated record as a row of the Parquet schema: wrong types become text or null."""
    if not isinstance(row, dict):
        return {}
    out: dict[str, Any] = {}
    for column in COLUMNS:
        value = row.get(column)
        if column == "ts":
            try:
                value = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
                value = value if value.tzinfo else None
            except ValueError:
                value = None
        elif column == "value":
            value = (
                float(value)
                if isinstance(value, int | float) and not isinstance(value, bool)
                else None
            )
        elif column in ("defects", "inspected", "nonconforming"):
            ok = (
                isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
            )
            value = value if ok else None
        elif column == "rework":
            value = value if isinstance(value, bool) else None
        elif column == "defect_codes":
            value = [str(v) for v in value] if isinstance(value, list) else None
        elif value is not None:
            value = value if isinstance(value, str) else str(value)
        out[column] = value
    return out


def _table(rows: list[dict[str, Any]], schema: Any, pa: Any) -> Any:
    return pa.Table.from_pylist(rows, schema=schema)


def test_fuzz_parquet_structural(tmp_path: Path) -> None:
    _parquet_case("parquet", range(401, 403), False, tmp_path)


def test_fuzz_parquet_values_and_time(tmp_path: Path) -> None:
    _parquet_case("parquet-values", range(501, 502), True, tmp_path)


def test_fuzz_cli_sample(tmp_path: Path) -> None:
    """A smaller sample through the real CLI: exit 0, no traceback, exact accounting."""
    for suffix, render, header in (
        ("jsonl", _jsonl, None),
        ("csv", _csv, ",".join(COLUMNS).encode()),
    ):
        produced = [line for line, _ in mutated_records(900, False, render)][:8000]
        path = tmp_path / f"sample.{suffix}"
        records = _write_text(path, produced, header)
        out = tmp_path / f"out-{suffix}"
        result = subprocess.run(
            [sys.executable, "-m", "linewatch.pipeline.cli", "replay", "--config",
             str(CONFIG_PATH), "--input", str(path), "--out", str(out), "--no-progress"],
            capture_output=True, text=True, timeout=300,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-2000:]
        assert "Traceback" not in result.stderr + result.stdout
        letters = [
            msgspec.json.decode(line, type=DeadLetter)
            for line in (out / "dead-letters.jsonl").read_bytes().splitlines()
        ]
        report = (out / "report.md").read_text()
        processed = len(records) - len(letters)
        assert f"| {len(records)} | {processed} | {len(letters)} |" in report
        for letter in letters:
            number = int(letter.origin.rsplit(":", 1)[1])
            payload = letter.payload.encode() if letter.payload_encoding != "base64" else (
                base64.b64decode(letter.payload)
            )  # fmt: skip
            assert payload == records[number]


def test_fuzz_fed_at_least_a_million_mutated_records() -> None:
    """Runs last (file order): the figure the suite claims, counted as it fed them."""
    total = sum(MUTATED_RECORDS.values())
    print(f"\nfuzz: {sum(FED_RECORDS.values())} records fed, {total} mutated")
    expected_cases = 12 + 2 + 3 + 1 + 2 + 1
    # Never a skip: the claim holds only when every case above ran and was counted.
    assert len(MUTATED_RECORDS) == expected_cases, (
        f"{len(MUTATED_RECORDS)} of {expected_cases} fuzz cases counted: run the whole module"
    )
    assert total >= 1_000_000  # the structural cases alone feed more
