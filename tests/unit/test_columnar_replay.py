"""A Parquet replay through the columnar lane equals the per-record replay, output for output."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from linewatch.connectors.files import parquet_schema
from linewatch.pipeline.columnar_replay import ColumnarReplay
from linewatch.pipeline.config import Config
from linewatch.pipeline.job import Job, build_job

T0_US = 1_764_000_000_000_000


def _config(folder: Path, points: bool) -> Config:
    return Config.model_validate(_raw_config(folder, points))


def _raw_config(folder: Path, points: bool) -> dict[str, Any]:
    imr = {"chart": "imr", "rules": "nelson"}
    stations: list[dict[str, Any]] = [
        {
            "name": "s1",
            "characteristics": [
                {
                    "name": "a",
                    **imr,
                    "limits": {"center": 0.0, "sigma": 1.0},
                    "lsl": -2.8,
                    "usl": 2.8,
                    "capability": {"window": 40},
                },
                {"name": "b", **imr, "phase1": 30, "plausible": {"min": -40.0, "max": 40.0}},
            ],
            "parameters": [{"equipment": "e1", "name": "p", **imr, "phase1": 25, "usl": 3.1}],
        },
        # a late, a future and an implausible record: the key's batches go record by record
        {"name": "s2", "characteristics": [{"name": "c", **imr, "phase1": 30}]},
        # inspections share the key with a laneable stream
        {"name": "s3", "characteristics": [{"name": "d", **imr, "phase1": 20}]},
        # a subgroup chart: not for the lane
        {
            "name": "s4",
            "characteristics": [{"name": "x", "chart": "xbar-r", "subgroup_size": 4, "phase1": 20}],
        },
        {"name": "s5", "characteristics": [{"name": "p", "chart": "p", "phase1": 20}]},
    ]
    raw: dict[str, Any] = {
        "version": 1,
        "lines": [{"name": "L1", "stations": stations}],
        "dead_letters": {"path": str(folder / "dead.jsonl")},
        "checkpoint": {"every_records": 2500},
    }
    if points:
        raw["sinks"] = [
            {
                "type": "jsonl",
                "path": str(folder / "out.jsonl"),
                "outputs": ["alerts", "points", "kpis"],
            }
        ]
    return raw


def _rows(n: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(17)
    rows: list[dict[str, Any]] = []

    def add(i: int, **cells: Any) -> None:
        cells.setdefault("line", "L1")
        rows.append({"ts": T0_US + i * 1_000_000, **cells})

    for i in range(n):
        shift = 2.0 if n // 3 < i < n // 3 + 30 else 0.0
        add(
            i,
            kind="measurement",
            station="s1",
            characteristic="a",
            value=float(rng.standard_normal() + shift),
        )
        add(
            i,
            kind="measurement",
            station="s1",
            characteristic="b",
            value=float(rng.standard_normal() * 2 + 10),
        )
        add(
            i,
            kind="parameter",
            station="s1",
            equipment="e1",
            name="p",
            value=float(rng.standard_normal() + shift),
        )
        value = float(rng.standard_normal())
        if i == n // 2:
            value = 1e6  # implausible (no plausible range: the 50-sigma guard)
        c_ts = i
        if i == n // 4:
            c_ts = i - 4000  # late
        elif i == n // 5:
            c_ts = i + 400_000  # future
        add(c_ts, kind="measurement", station="s2", characteristic="c", value=value)
        add(
            i,
            kind="measurement",
            station="s3",
            characteristic="d",
            value=float(rng.standard_normal()),
        )
        if i % 10 == 0:
            add(
                i,
                kind="inspection",
                station="s3",
                part_id=f"P{i}",
                result="fail" if i % 70 == 0 else "pass",
                defects=int(i % 70 == 0),
                defect_codes=["porosity"] if i % 70 == 0 else [],
            )
            add(
                i,
                kind="measurement",
                station="s4",
                characteristic="x",
                subgroup=f"G{i}",
                value=float(rng.standard_normal()),
            )
            add(
                i,
                kind="attribute",
                station="s5",
                characteristic="p",
                inspected=50,
                nonconforming=int(rng.integers(0, 4)),
            )
        if i % 1500 == 7:  # unconfigured, then undecodable rows: dead letters, no key
            add(i, kind="measurement", station="s1", characteristic="nope", value=1.0)
            add(i, kind="measurement", station="s1", characteristic="a", value=float("nan"))
            add(i, kind="measurement", line=None, station="s1", characteristic="a", value=1.0)
            add(i, kind="measurement", station="bad station", characteristic="a", value=1.0)
    return rows


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    schema = parquet_schema()
    columns = {f.name: [row.get(f.name) for row in rows] for f in schema}
    table = pa.table(
        {f.name: pa.array(columns[f.name], type=f.type) for f in schema}, schema=schema
    )
    pq.write_table(table, path, row_group_size=1700)


def _replay(folder: Path, data: Path, columnar: bool, points: bool) -> tuple[Job, str]:
    out = folder / ("lane" if columnar else "plain")
    out.mkdir()
    job = build_job(
        _config(out, points),
        mode="replay",
        input_path=data,
        out_dir=out,
        report_path=None,
        columnar=columnar,
    )
    if columnar:
        assert isinstance(job.runner.columnar, ColumnarReplay)
        job.runner.columnar.max_rows = 3000  # two row groups a batch
    else:
        assert job.runner.columnar is None
    job.run()
    return job, _timeless(job.finish())


def _timeless(report: str) -> str:
    """The report without the time it was made at and the run's seconds."""
    report = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\. Data", "(now). Data", report, count=1)
    return re.sub(r"\| [\d.]+ s \|", "| (seconds) |", report, count=1)


def _lines(path: Path, drop: str = "") -> list[Any]:
    if not path.exists():
        return []
    found = [json.loads(line) for line in path.read_text().splitlines()]
    for item in found:
        item.pop(drop, None)
    return found


@pytest.mark.parametrize("points", [False, True])
def test_lane_replay_equals_per_record_replay(tmp_path: Path, points: bool) -> None:
    data = tmp_path / "line.parquet"
    _write(data, _rows(3000))
    plain, plain_report = _replay(tmp_path, data, columnar=False, points=points)
    lane, lane_report = _replay(tmp_path, data, columnar=True, points=points)
    assert lane.runner.columnar is not None
    laned = lane.runner.columnar.rows_laned  # type: ignore[attr-defined]
    assert 8000 < laned < lane.runner.summary.records_read - 3000  # both paths ran

    a, b = plain.runner.summary, lane.runner.summary
    assert b.alerts == a.alerts  # same alerts in the same order, across streams too
    assert len({x.fingerprint for x in a.alerts}) >= 10
    assert (b.records_read, b.records_processed, b.dead_letters, b.outputs) == (
        a.records_read,
        a.records_processed,
        a.dead_letters,
        a.outputs,
    )
    assert b.dead_letter_reasons == a.dead_letter_reasons
    assert any("late record" in r for r in a.dead_letter_reasons)
    assert any("future timestamp" in r for r in a.dead_letter_reasons)
    assert any("implausible value" in r for r in a.dead_letter_reasons)
    assert _lines(tmp_path / "lane" / "dead.jsonl", "ts") == _lines(
        tmp_path / "plain" / "dead.jsonl", "ts"
    )
    if points:
        lane_out = _lines(tmp_path / "lane" / "out.jsonl")
        assert lane_out == _lines(tmp_path / "plain" / "out.jsonl")
        assert sum(o["type"] == "chart_point" for o in lane_out) > 20_000
    assert lane.kpis.series == plain.kpis.series
    assert lane_report == plain_report
    assert lane.engine.snapshot() == plain.engine.snapshot()
    assert sorted(lane.engine.stream_stats, key=repr) == sorted(plain.engine.stream_stats, key=repr)
    for counter in ("records_by_kind", "unconfigured", "defect_codes", "refused"):
        assert getattr(lane.engine, counter) == getattr(plain.engine, counter)


def test_cli_replay_with_a_report_keeps_records_for_the_root_cause(tmp_path: Path) -> None:
    """With a report, the raw records go to the report's collectors too, in order."""
    data = tmp_path / "line.parquet"
    _write(data, _rows(800))
    reports = []
    for columnar in (False, True):
        out = tmp_path / str(columnar)
        out.mkdir()
        job = build_job(
            _config(out, False),
            mode="replay",
            input_path=data,
            out_dir=out,
            report_path=out / "report.md",
            columnar=columnar,
        )
        if columnar:
            job.runner.columnar.max_rows = 300  # type: ignore[union-attr]
        job.run()
        reports.append(_timeless(job.finish()))
        if columnar:
            assert job.runner.columnar.rows_laned > 1500  # type: ignore[union-attr]
    assert reports[0] == reports[1]


def test_cli_replay_per_record_flag(tmp_path: Path) -> None:
    """``replay --per-record`` forces the per-record path; both write the same alerts."""
    from linewatch.pipeline.cli import main

    data = tmp_path / "line.parquet"
    _write(data, _rows(600))
    config = tmp_path / "plant.yaml"
    config.write_text(json.dumps(_raw_config(tmp_path, True)))  # JSON is YAML
    written = []
    for flag in ([], ["--per-record"]):
        out = tmp_path / ("per" if flag else "lane")
        args = ["replay", "--config", str(config), "--input", str(data), "--out", str(out)]
        assert main([*args, "--no-progress", *flag]) == 0
        written.append((tmp_path / "out.jsonl").read_text())
        (tmp_path / "out.jsonl").unlink()
    assert written[0] == written[1]
    assert written[0].count('"type":"alert"') >= 5
