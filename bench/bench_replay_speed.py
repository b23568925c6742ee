"""Replay speed: samples/s from Parquet through the SPC path, beside a plain numpy pass.

    python bench/bench_replay_speed.py [--n 300000] [--streams 20] [--repeat 3] [--profile]

One seeded Parquet file of N measurements (``--streams`` characteristics of one line, a
second apart, interleaved; the product's Parquet schema). Every contender runs in its own
process, ``--repeat`` times, and the median is kept:

* **numpy**: ``pyarrow.parquet.read_table`` → numpy, grouped by stream with a stable
  argsort; the I-MR statistics vectorised (moving ranges, zones, test-1 flags on both
  charts against the given limits). The floor: no records, no objects, no run tests.
* **source**: ``FileSource`` over the file, every batch polled (Parquet → one dict per
  row): what reading alone costs.
* **decode**: ``source`` plus the pipeline's ``decode`` of every row into a wire record.
* **spc**: the replay as the CLI runs it (``build_job``, mode replay: ``FileSource`` →
  ``Runner`` → ``Engine``), a config charting every stream (I-MR, given limits, all eight
  Nelson tests), no sinks but the report's KPI collector, dead letters to a file. The
  Parquet file goes through the columnar lane (``pipeline/columnar_replay.py``): read as
  columns a few row groups at a time, grouped by stream, each chart judged with numpy,
  alerts made by the same alert manager. Reading the file and every alert are included.
* **spc_per_record**: the same job with ``columnar=False`` (``replay --per-record``): one
  dict, one decoded record and one ``Engine.process`` per row. The baseline.

The goal is ≥ 2,000,000 samples/s SPC-only on one core. ``--profile`` adds a cProfile of
one ``spc`` run (top functions by own time).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

T0 = datetime(2026, 11, 23, 8, tzinfo=UTC)
CONTENDERS = ("numpy", "source", "decode", "spc", "spc_per_record")


def write_data(path: Path, n: int, streams: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from linewatch.connectors.files import PARQUET_ROWS_PER_GROUP, parquet_schema

    schema = parquet_schema()
    rng = np.random.default_rng(7)
    index = np.arange(n)
    micros = (T0.timestamp() * 1e6 + (index // streams) * 1_000_000).astype("int64")
    columns = {
        "kind": pa.array(["measurement"] * n),
        "ts": pa.array(micros, type=pa.timestamp("us", tz="UTC")),
        "line": pa.array(["L1"] * n),
        "station": pa.array(["s1"] * n),
        "characteristic": pa.array([f"c{i % streams:02d}" for i in range(n)]),
        "value": pa.array(rng.standard_normal(n)),
    }
    table = pa.table(
        {f.name: columns.get(f.name, pa.nulls(n, type=f.type)) for f in schema}, schema=schema
    )
    pq.write_table(table, path, row_group_size=PARQUET_ROWS_PER_GROUP)


def write_config(path: Path, streams: int, rules: str = "nelson") -> None:
    charts = "\n".join(
        f"          - {{name: c{i:02d}, chart: imr, rules: {rules}, "
        "limits: {center: 0.0, sigma: 1.0}}"
        for i in range(streams)
    )
    path.write_text(
        "version: 1\nlines:\n  - name: L1\n    stations:\n      - name: s1\n"
        f"        characteristics:\n{charts}\n"
        f"dead_letters:\n  path: {path.parent / 'dead.jsonl'}\n"
    )


def numpy_pass(path: Path) -> int:
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["ts", "line", "station", "characteristic", "value"])
    keys = table["characteristic"].combine_chunks().dictionary_encode()
    codes = keys.indices.to_numpy()
    x = table["value"].to_numpy()
    table["ts"].to_numpy()
    order = np.argsort(codes, kind="stable")
    x, codes = x[order], codes[order]
    same = codes[1:] == codes[:-1]  # a moving range within one stream only
    mr = np.abs(np.diff(x))[same]
    ucl, lcl, mr_ucl = 3.0, -3.0, 1.128 + 3 * 0.853
    zone = np.minimum(np.ceil(np.abs(x)), 4)  # C, B, A, beyond
    beyond = (x > ucl) | (x < lcl)
    mr_beyond = mr > mr_ucl
    return int(beyond.sum() + mr_beyond.sum() + (zone > 3).sum() * 0)


def source_pass(path: Path, decode_too: bool) -> int:
    from linewatch.connectors.files import FileSource
    from linewatch.pipeline.decode import decode

    source = FileSource(path, batch_size=1000)
    count = 0
    while not source.exhausted:
        batch = source.poll(0.0)
        if decode_too:
            for raw in batch:
                decode(raw)
        count += len(batch)
    return count


def spc_pass(path: Path, config_path: Path, out: Path, columnar: bool = True) -> int:
    from linewatch.pipeline.config import load_config
    from linewatch.pipeline.job import build_job

    job = build_job(
        load_config(config_path),
        mode="replay",
        input_path=path,
        out_dir=out,
        report_path=None,
        columnar=columnar,
    )
    summary = job.run()
    job.runner.close()
    if columnar and job.runner.columnar is None:  # never flatter: the lane must have run
        raise SystemExit("the columnar lane was not used")
    return summary.records_processed


def run_contender(name: str, folder: Path) -> tuple[float, float]:
    """One timed run in this process (the parent starts one process per run): wall and
    CPU seconds, imports left out (the CPU time does not grow when the machine is shared).
    """
    import pyarrow.compute
    import pyarrow.parquet  # noqa: F401

    import linewatch.connectors.files
    import linewatch.pipeline.decode
    import linewatch.pipeline.job  # noqa: F401

    path, config = folder / "line.parquet", folder / "plant.yaml"
    started, cpu = time.perf_counter(), time.process_time()
    if name == "numpy":
        numpy_pass(path)
    elif name in ("source", "decode"):
        source_pass(path, decode_too=name == "decode")
    else:
        spc_pass(path, config, folder / "out", columnar=name == "spc")
    return time.perf_counter() - started, time.process_time() - cpu


def profile_spc(folder: Path, top: int = 18) -> str:
    import pyarrow.compute
    import pyarrow.parquet  # noqa: F401

    import linewatch.pipeline.job  # noqa: F401 - imports are not what is profiled

    profiler = cProfile.Profile()
    profiler.enable()
    spc_pass(folder / "line.parquet", folder / "plant.yaml", folder / "out")
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    return text.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=300_000)
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--rules",
        default="nelson",
        help="the charts' rules: nelson (all eight tests, the goal's setting; iid data "
        "then signals on about 3%% of the samples) or e.g. '{tests: [1]}'",
    )
    parser.add_argument(
        "--only", default=",".join(CONTENDERS), help="comma-separated contenders (numpy first)"
    )
    parser.add_argument("--contender", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.contender is not None:  # a child: one run, its seconds on stdout
        print(json.dumps(run_contender(args.contender, args.folder)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_data(folder / "line.parquet", args.n, args.streams)
        write_config(folder / "plant.yaml", args.streams, args.rules)
        wall: dict[str, float] = {}
        seconds: dict[str, list[float]] = {}  # CPU, every run
        names = [n for n in CONTENDERS if n in args.only.split(",") or n == "numpy"]
        for name in names:
            runs = []
            for _ in range(args.repeat):
                child = subprocess.run(
                    [sys.executable, __file__, "--contender", name, "--folder", str(folder)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                runs.append(json.loads(child.stdout.strip().splitlines()[-1]))
            wall[name] = statistics.median(r[0] for r in runs)
            seconds[name] = sorted(r[1] for r in runs)
        print(
            f"{args.n:,} samples, {args.streams} streams, rules {args.rules}, "
            f"median of {args.repeat} runs"
        )
        print(
            f"{'contender':<15} {'wall s':>7} {'CPU s':>7} {'samples/s (CPU)':>16} "
            f"{'min':>10} {'max':>10} {'x numpy':>8} {'us/sample':>10}"
        )
        numpy_cpu = statistics.median(seconds["numpy"])
        for name in names:
            cpu = statistics.median(seconds[name])
            fastest, slowest = args.n / seconds[name][0], args.n / seconds[name][-1]
            print(
                f"{name:<15} {wall[name]:>7.3f} {cpu:>7.3f} {args.n / cpu:>16,.0f} "
                f"{slowest:>10,.0f} {fastest:>10,.0f} {cpu / numpy_cpu:>8.1f} "
                f"{cpu / args.n * 1e6:>10.2f}"
            )
        if "spc" in seconds:
            spc_rate = args.n / statistics.median(seconds["spc"])
            print(f"goal 2,000,000 samples/s SPC-only: the SPC path is at {spc_rate / 2e6:.1%}")
        if "spc" in seconds and "spc_per_record" in seconds:
            gain = statistics.median(seconds["spc_per_record"]) / statistics.median(seconds["spc"])
            print(f"columnar lane vs per-record path: {gain:.1f}x")
        if args.profile:
            print(profile_spc(folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
