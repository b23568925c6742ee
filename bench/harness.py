"""`make bench`: Linewatch beside raw Kafka clients and Quix Streams, on real servers.

    python bench/harness.py [--quick] [--out bench/results.json] [--quix-python PATH]

Starts the test tooling's real Kafka broker (KRaft, 127.0.0.1) and InfluxDB 1.11, produces
N simulated records of six welding lines once to a 3-partition topic, then runs each
throughput contender in its own process (bench/contenders.py; the Quix rows in their own
venv, bench/quix_contender.py), rows interleaved, ``--repeats`` times; each figure is the
median with min and max. Then: latency at a fixed offered load (bench/latency.py), 1 and
2 workers in one consumer group, the detector core (bench/bench_spc_throughput.py), the
default equipment model against river's HalfSpaceTrees (bench/bench_models.py) and memory
(bench/bench_memory.py). Prints a table and writes everything to ``--out``.
``--quick`` (or ``BENCH_QUICK=1``) is a smoke test: small N, one repeat, short windows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from bench.latency import measure_latency  # noqa: E402
from bench.workload import simulated_records, spc_lines  # noqa: E402
from linewatch.connectors.kafka import ensure_topics, produce_records  # noqa: E402
from linewatch.connectors.testing.influxdb import Influx11Server  # noqa: E402
from linewatch.connectors.testing.kafka import KafkaBroker  # noqa: E402

__all__ = ["main"]

PARTITIONS = 3
#: Throughput rows: key, label, how it runs.
ROWS = [
    ("raw_confluent", "raw confluent-kafka consume loop, no decode", "raw-confluent"),
    (
        "raw_confluent_decode",
        "raw confluent-kafka + the pipeline's decoder",
        "raw-confluent-decode",
    ),
    ("raw_kafka_python", "raw kafka-python consume loop, no decode", "raw-kafka-python"),
    (
        "raw_kafka_python_decode",
        "raw kafka-python + the pipeline's decoder",
        "raw-kafka-python-decode",
    ),
    ("quix_pass", "Quix Streams app, JSON in, nothing done", "quix-pass"),
    ("quix_spc", "Quix Streams app running Linewatch's IMRChart per key, signals out", "quix-spc"),
    ("linewatch_kafka", "linewatch run: kafka in, alerts + DLQ to Kafka", "linewatch-kafka"),
    (
        "linewatch_kafka_per_record",
        "linewatch run --per-record: the same, without the columnar lane",
        "linewatch-kafka-per-record",
    ),
    (
        "linewatch_influx",
        "linewatch run: kafka in, alerts/points/KPIs to InfluxDB",
        "linewatch-influx",
    ),
]


class BenchFailed(RuntimeError):
    """A contender failed or measured nothing."""


def _last_json(stdout: str, what: str) -> dict[str, Any]:
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            parsed: dict[str, Any] = json.loads(line)
            return parsed
    raise BenchFailed(f"{what}: no result line in its output")


def _run(cmd: list[str], what: str, timeout: float) -> dict[str, Any]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise BenchFailed(f"{what} failed (exit {proc.returncode}): {proc.stderr.strip()[-1500:]}")
    return _last_json(proc.stdout, what)


def linewatch_config(
    bootstrap: str,
    topic: str,
    sink: str,
    influx_url: str | None,
    changelog: str | None = None,
    spool_dir: Path | None = None,
) -> dict[str, Any]:
    """The config ``linewatch run`` gets: kafka source, a fresh group, the sink of the row."""
    tag = uuid.uuid4().hex[:8]
    sinks: list[dict[str, Any]] = (
        [
            {
                "type": "influx",
                "url": influx_url,
                "outputs": ["alerts", "points", "kpis"],
                "spool_dir": str(spool_dir) if spool_dir else None,
            }
        ]
        if sink == "influx"
        else [{"type": "kafka", "bootstrap": bootstrap, "alerts_topic": f"{topic}-alerts"}]
    )
    config: dict[str, Any] = {
        "lines": spc_lines(),
        "source": {
            "type": "kafka",
            "bootstrap": bootstrap,
            "topics": [topic],
            "group_id": f"bench-lw-{tag}",
        },
        "sinks": sinks,
        "dead_letters": {"type": "kafka", "bootstrap": bootstrap, "topic": f"{topic}-dlq"},
        "checkpoint": {"every_records": 50_000, "every_seconds": 5},
    }
    if changelog is not None:
        config["source"]["idle_exit_s"] = 10  # from construction: covers the go wait and the join
        config["checkpoint"]["changelog"] = {
            "type": "kafka",
            "bootstrap": bootstrap,
            "topic": changelog,
        }
    return config


def run_row(
    row: str, args: argparse.Namespace, ctx: dict[str, Any], work: Path, timeout: float
) -> dict[str, Any]:
    bootstrap, topic, n = ctx["bootstrap"], ctx["topic"], ctx["records"]
    if row.startswith("quix"):
        cmd = [ctx["quix_python"], str(HERE / "quix_contender.py"), row]
    elif row.startswith("linewatch"):
        sink = row.split("-")[1]
        path = work / f"{row}-{uuid.uuid4().hex[:6]}.json"
        spool = path.with_suffix(".spool")
        config = linewatch_config(bootstrap, topic, sink, ctx["influx_url"], spool_dir=spool)
        path.write_text(json.dumps(config))
        cmd = [sys.executable, str(HERE / "contenders.py"), "linewatch", "--config", str(path)]
        cmd += ["--state-dir", str(path.with_suffix(".state"))]
        if row.endswith("per-record"):
            cmd.append("--per-record")
    else:
        cmd = [sys.executable, str(HERE / "contenders.py"), row]
    cmd += ["--bootstrap", bootstrap, "--topic", topic, "--records", str(n)]
    cmd += ["--timeout", str(timeout)]
    result = _run(cmd, row, timeout + 60)
    if result.get("timed_out"):
        raise BenchFailed(f"{row}: stopped by its deadline before {n} records")
    return result


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    rates = [r["records"] / r["wall"] for r in runs]
    cpu_us = [r["cpu"] / r["records"] * 1e6 for r in runs]
    return {
        "records_per_s": round(statistics.median(rates)),
        "min": round(min(rates)),
        "max": round(max(rates)),
        "cpu_us_per_record": round(statistics.median(cpu_us), 2),
        "runs": len(runs),
        "timed_window_s": round(statistics.median(r["wall"] for r in runs), 3),
    }


def scale_out(ctx: dict[str, Any], work: Path, repeats: int, timeout: float) -> dict[str, Any]:
    """records/s of 1 and 2 ``linewatch run`` workers in one group (changelog state)."""
    bootstrap, topic = ctx["bootstrap"], ctx["scale_topic"]
    figures: dict[str, Any] = {}
    for workers in (1, 2):
        totals, costs, shares = [], [], []
        for _ in range(repeats):
            changelog = f"bench-changelog-{uuid.uuid4().hex[:6]}"
            config = linewatch_config(bootstrap, topic, "kafka", None, changelog)
            path = work / f"scale-{uuid.uuid4().hex[:6]}.json"
            path.write_text(json.dumps(config))
            go = path.with_suffix(".go")
            procs = []
            for w in range(workers):
                ready = path.with_suffix(f".ready{w}")
                cmd = [sys.executable, str(HERE / "contenders.py"), "linewatch"]
                cmd += ["--config", str(path), "--state-dir", str(path.with_suffix(f".s{w}"))]
                cmd += ["--records", str(10**12), "--timeout", str(timeout)]
                cmd += ["--ready-file", str(ready), "--go-file", str(go)]
                procs.append(
                    (
                        ready,
                        subprocess.Popen(
                            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
                        ),
                    )
                )
            deadline = time.monotonic() + 60
            while not all(r.exists() for r, _ in procs):
                if time.monotonic() > deadline:
                    raise BenchFailed("scale-out: the workers did not get ready")
                time.sleep(0.05)
            go.write_text("go")
            results = []
            for _, proc in procs:
                out, err = proc.communicate(timeout=timeout + 60)
                if proc.returncode != 0:
                    raise BenchFailed(f"scale-out worker failed: {err.strip()[-1500:]}")
                results.append(_last_json(out, "scale-out worker"))
            read = sum(r["read"] for r in results)
            processed = sum(r["processed"] for r in results)
            if processed + sum(r.get("skipped", 0) for r in results) < ctx["records"]:
                raise BenchFailed(f"scale-out: {read} of {ctx['records']} records read")
            busy = [r for r in results if r["records"]]
            start = min(r["t0"] for r in busy)
            end = max(r["t1"] for r in busy)
            counted = sum(r["records"] for r in busy)
            shares.append([r["read"] for r in results])
            totals.append(counted / (end - start))
            costs.append(sum(r["cpu"] for r in results) / counted * 1e6)
        figures[f"workers_{workers}"] = {
            "records_per_s": round(statistics.median(totals)),
            "min": round(min(totals)),
            "max": round(max(totals)),
            "cpu_us_per_record_per_worker": round(statistics.median(costs), 2),
            "runs": len(totals),
            "records_read_per_worker": shares,
        }
    one, two = figures["workers_1"]["records_per_s"], figures["workers_2"]["records_per_s"]
    figures["speedup_2_vs_1"] = round(two / one, 2)
    figures["partitions"] = ctx["scale_partitions"]
    return figures


def detector_core(quick: bool) -> dict[str, Any]:
    """bench/bench_spc_throughput.py's figures (its own process), parsed from its table."""
    cmd = [sys.executable, str(HERE / "bench_spc_throughput.py")]
    cmd += ["--n", "20000", "--repeat", "1"] if quick else ["--n", "300000", "--repeat", "3"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    figures: dict[str, Any] = {"command": " ".join(["python", *cmd[1:]])}
    # Its table: contender, samples/s, us/sample, x numpy time. "batch" is update_many
    # (a list of evaluations), "columnar" the update_batch path (columns, signals only).
    names = {
        "streaming": "per_sample",
        "batch": "update_many",
        "columnar": "batch",
        "numpy": "numpy",
        "generic": "generic",
    }
    for line in proc.stdout.splitlines():
        match = re.match(r"^(\S+)\s+([\d,]+)\s+[\d.]+\s+[\d.]+\s*$", line)
        if match and match.group(1) in names:
            figures[f"{names[match.group(1)]}_samples_per_s"] = int(match.group(2).replace(",", ""))
    figures["exit_code"] = proc.returncode
    if "numpy_samples_per_s" in figures:
        for key in ("per_sample", "batch"):
            if f"{key}_samples_per_s" in figures:
                figures[f"{key}_vs_numpy"] = round(
                    figures[f"{key}_samples_per_s"] / figures["numpy_samples_per_s"], 4
                )
    return figures


def models(quick: bool) -> dict[str, Any]:
    """The default equipment model's evaluate loop vs river HalfSpaceTrees (bench_models)."""
    from bench.bench_models import throughput

    rates = throughput(2000 if quick else 20000, repeats=1 if quick else 3)
    return {
        "default_model_samples_per_s": round(rates["default"]),
        "river_hst_samples_per_s": round(rates["river_hst"]),
        "vs_river_hst": round(rates["ratio"], 2),
        "goal_vs_river_hst": 2.5,
    }


def memory(quick: bool) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE / "bench_memory.py"), "--json"]
    if quick:
        cmd += ["--characteristics", "500", "--points", "30"]
    return _run(cmd, "bench_memory", 600)


def ratios(rows: dict[str, Any]) -> dict[str, float]:
    rate = {k: v["records_per_s"] for k, v in rows.items()}
    out: dict[str, float] = {}
    for key, value in rate.items():
        if "raw_confluent" in rate:
            out[f"{key}_vs_raw_confluent"] = round(value / rate["raw_confluent"], 3)
    for key in ("linewatch_kafka", "linewatch_kafka_per_record", "linewatch_influx"):
        if key in rate and "quix_spc" in rate:
            out[f"{key}_vs_quix_spc"] = round(rate[key] / rate["quix_spc"], 3)
    if "linewatch_kafka" in rate and "linewatch_kafka_per_record" in rate:
        out["lane_vs_per_record"] = round(
            rate["linewatch_kafka"] / rate["linewatch_kafka_per_record"], 3
        )
    return out


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in load],
    }


def print_table(results: dict[str, Any]) -> None:
    rows, rat = results["throughput"], results["ratios"]
    n = results["records"]
    print(
        f"\nThroughput: {n:,} records, {PARTITIONS} partitions, median of "
        f"{results['repeats']} (min..max), one process per contender"
    )
    print(f"{'contender':66} {'records/s':>10} {'min..max':>19} {'vs raw ck':>9} {'CPU us':>7}")
    for key, label, _ in ROWS:
        r = rows[key]
        spread = f"{r['min']:,}..{r['max']:,}"
        print(
            f"{label:66} {r['records_per_s']:>10,} {spread:>19} "
            f"{rat[f'{key}_vs_raw_confluent']:>9.2f} {r['cpu_us_per_record']:>7.1f}"
        )
    print(
        f"linewatch run (Kafka) vs Quix SPC: {rat['linewatch_kafka_vs_quix_spc']:.2f}x "
        f"(goal >= 2); vs raw confluent-kafka: {rat['linewatch_kafka_vs_raw_confluent']:.2f} "
        "(goal toward 0.5)"
    )
    for key, lat in results["latency"].items():
        topic, hook = lat["to_alerts_topic"], lat["to_webhook"]
        print(
            f"latency {key} at {lat['offered_records_per_s']:,} records/s offered: "
            f"alerts topic p50 {topic['p50_ms']} ms p99 {topic['p99_ms']} ms "
            f"({topic['count']} alerts); webhook p50 {hook['p50_ms']} ms p99 "
            f"{hook['p99_ms']} ms ({hook['count']}) (goal p99 <= 50 ms); the worker read "
            f"{lat.get('worker_records_per_s')}/s"
        )
    s = results["scale_out"]
    print(
        f"scale-out ({s['partitions']} partitions): 1 worker "
        f"{s['workers_1']['records_per_s']:,}/s ({s['workers_1']['cpu_us_per_record_per_worker']}"
        f" us/record), 2 workers {s['workers_2']['records_per_s']:,}/s "
        f"({s['workers_2']['cpu_us_per_record_per_worker']} us/record), "
        f"x{s['speedup_2_vs_1']}"
    )
    d = results["detector_core"]
    print(
        "detector core (I-MR, 8 tests): per-sample "
        f"{d.get('per_sample_samples_per_s', 0):,}/s, batch {d.get('batch_samples_per_s', 0):,}/s"
        f", numpy {d.get('numpy_samples_per_s', 0):,}/s"
    )
    m = results["models"]
    print(
        f"equipment model {m['default_model_samples_per_s']:,}/s vs river HST "
        f"{m['river_hst_samples_per_s']:,}/s: x{m['vs_river_hst']} (goal >= 2.5)"
    )
    mem = results["memory"]
    print(
        f"memory: {mem['state_bytes_per_characteristic']} B state per I-MR characteristic; "
        f"RSS {mem['rss_mb']} MB at {mem['characteristics']:,} characteristics "
        f"({mem['rss_bytes_per_characteristic']} B each over the empty process)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", default=os.environ.get("BENCH_QUICK") == "1"
    )
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    parser.add_argument("--records", type=int)
    parser.add_argument("--repeats", type=int)
    parser.add_argument(
        "--quix-python", default=str(HERE / ".venv-quix" / "bin" / "python"), help="Quix venv"
    )
    parser.add_argument(
        "--rows", help="only these throughput rows (comma-separated keys), then stop"
    )
    args = parser.parse_args(argv)
    rows = ROWS
    if args.rows:
        wanted = args.rows.split(",")
        unknown = sorted(set(wanted) - {key for key, _, _ in ROWS})
        if unknown:
            parser.error(f"unknown rows {unknown}; known: {[key for key, _, _ in ROWS]}")
        rows = [row for row in ROWS if row[0] in wanted]
    quick = args.quick
    n = args.records or (12_000 if quick else 200_000)
    repeats = args.repeats or (1 if quick else 3)
    timeout = 120.0 if quick else 240.0
    began = time.monotonic()
    if not Path(args.quix_python).exists():
        parser.error(f"no Quix venv at {args.quix_python} (make bench creates it)")
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "machine": machine(),
        "records": n,
        "repeats": repeats,
    }
    records = simulated_records(n)
    with tempfile.TemporaryDirectory(prefix="lw-bench-") as tmp:
        work = Path(tmp)
        delay = 0 if quick else 3000  # 2 workers join one generation (scale-out)
        broker = KafkaBroker(
            data_dir=work / "kafka",
            config={
                "num.partitions": PARTITIONS,
                "log.retention.ms": -1,
                "group.initial.rebalance.delay.ms": delay,
            },
        )
        broker.start()
        influx = Influx11Server(work / "influx")
        influx.start()
        try:
            influx.create_database("bench")
            bootstrap = broker.bootstrap
            topic, scale_topic = "bench-events", "bench-scale"
            ensure_topics(
                bootstrap,
                {topic: PARTITIONS, f"{topic}-alerts": PARTITIONS, f"{topic}-dlq": PARTITIONS},
            )
            ensure_topics(bootstrap, {scale_topic: 4})
            started = time.perf_counter()
            produce_records(records, f"kafka://{bootstrap}/{topic}")
            produce_records(records, f"kafka://{bootstrap}/{scale_topic}")
            print(f"produced {n:,} records twice in {time.perf_counter() - started:.1f} s")
            ctx = {
                "bootstrap": bootstrap,
                "topic": topic,
                "scale_topic": scale_topic,
                "scale_partitions": 4,
                "records": n,
                "quix_python": args.quix_python,
                "influx_url": influx.url.replace("http://", "influx://") + "/bench",
            }
            runs: dict[str, list[dict[str, Any]]] = {key: [] for key, _, _ in rows}
            for repeat in range(repeats):
                for key, _, row in rows:
                    runs[key].append(run_row(row, args, ctx, work, timeout))
                    rate = runs[key][-1]["records"] / runs[key][-1]["wall"]
                    print(f"  repeat {repeat + 1}: {key} {rate:,.0f} records/s", flush=True)
            results["throughput"] = {key: summarise(r) for key, r in runs.items()}
            if args.rows:
                results["ratios"] = ratios(results["throughput"])
                print(json.dumps(results, indent=2, sort_keys=True))
                return 0
            results["quix_spc_signals"] = runs["quix_spc"][-1].get("signals")
            results["linewatch_alerts"] = runs["linewatch_kafka"][-1].get("alerts")
            results["ratios"] = ratios(results["throughput"])
            args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
            results["vs_quix_spc"] = results["ratios"]["linewatch_kafka_vs_quix_spc"]
            results["vs_raw_confluent"] = results["ratios"]["linewatch_kafka_vs_raw_confluent"]
            seconds = 2 if quick else 10
            results["latency"] = {}
            for name, rate, overrides in (
                ("default_10k", 10_000, {}),
                ("batch_500_10k", 10_000, {"batch_size": 500}),
                ("default_2k", 2_000, {}),
            ):
                results["latency"][name] = measure_latency(
                    bootstrap,
                    simulated_records(rate * seconds),
                    rate,
                    spc_lines(),
                    work / f"lat-{name}",
                    overrides,
                )
                print(f"  latency {name} done", flush=True)
                args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
            results["scale_out"] = scale_out(ctx, work, repeats, timeout)
            print("  scale-out done", flush=True)
        finally:
            influx.close()
            broker.close()
    results["detector_core"] = detector_core(quick)
    results["models"] = models(quick)
    results["memory"] = memory(quick)
    results["versions"] = versions(args.quix_python)
    results["seconds"] = round(time.monotonic() - began)
    args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print_table(results)
    print(f"\nwrote {args.out} in {results['seconds']} s (2 shared cores: figures move +-20%)")
    return 0


def versions(quix_python: str) -> dict[str, str]:
    from importlib.metadata import version

    out = {name: version(name) for name in ("confluent-kafka", "kafka-python", "msgspec")}
    code = (
        "import quixstreams, confluent_kafka; "
        "print(quixstreams.__version__, confluent_kafka.version()[0])"
    )
    proc = subprocess.run([quix_python, "-c", code], capture_output=True, text=True, check=False)
    parts = proc.stdout.split()
    if len(parts) == 2:
        out["quixstreams"], out["quix_confluent-kafka"] = parts
    return out


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except BenchFailed as exc:
        print(f"make bench: FAILED: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
