"""What a checkpoint costs the processing loop, phase by phase (no Kafka: a file store).

    python bench/bench_checkpoint.py [--records 50000] [--between 10000] [--repeats 7]
                                     [--profile] [--json]

The engine is the one of the latency and throughput jobs (bench/workload.py: six welding
lines, I-MR and the eight Nelson tests on every characteristic and parameter), fed
``--records`` simulated records, stamped ``--rate`` records/s apart in event time as the
latency job's producer stamps them (2,000/s; 0 keeps the simulator's clock, where a
part comes every 30 s, so an hour's KPI window turns over between two checkpoints). Then, ``--repeats`` times, it takes ``--between`` more
records (10,000: the 5 s between two checkpoints at 2,000 records/s, so every checkpoint
sees what a live one does; the previous checkpoint's state is kept, as the runner keeps
it) and times each phase of :meth:`Runner.save_state` separately: ``Engine.snapshot``,
msgspec encode of the :class:`Checkpoint`, SHA-256 of the body, write, fsync of the file,
rename and fsync of the directory; ``save`` is one whole ``LocalStateStore.save`` of the
same checkpoint (encode, hash, write, both fsyncs) as a cross-check, and ``gc`` the time
the garbage collector ran inside the snapshot (collected as the runner does: everything
built before the first record frozen). Figures are medians with min..max, in ms.
``--profile`` prints the top functions of ``Engine.snapshot`` (cProfile, by own time).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import hashlib
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import msgspec

from bench.workload import START, simulated_records, spc_lines
from linewatch.pipeline.checkpoint import Checkpoint, LocalStateStore
from linewatch.pipeline.config import parse_config
from linewatch.pipeline.engine import Engine, RecordRejected
from linewatch.pipeline.models import WireRecord

__all__ = ["main", "measure"]

PHASES = ("snapshot", "gc", "encode", "hash", "write", "fsync", "rename_dirsync", "save")


class _GcClock:
    """Seconds the collector ran while :attr:`on` (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.on = False
        self.seconds = 0.0
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if not self.on:
            return
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start


def _feed(engine: Engine, records: Iterator[WireRecord], n: int) -> None:
    for _ in range(n):
        with contextlib.suppress(RecordRejected):
            engine.process(next(records))


def _timed(work: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = work()
    return (time.perf_counter() - start) * 1e3, result


def _stamped(records: list[WireRecord], rate: float) -> Iterator[WireRecord]:
    """``records`` with event times ``1 / rate`` s apart (``rate`` 0: the simulator's)."""
    if not rate:
        yield from records
        return
    for i, record in enumerate(records):
        yield msgspec.structs.replace(record, ts=START + timedelta(seconds=i / rate))


def measure(
    records: int, between: int, repeats: int, directory: Path, rate: float = 2000.0
) -> dict[str, Any]:
    """Per phase: the ms of each repeat; and the snapshot's size."""
    stream = _stamped(simulated_records(records + between * repeats), rate)
    engine = Engine(parse_config({"lines": spc_lines()}))
    gc.collect()
    gc.freeze()  # as Runner.run does: start-up objects out of the collector's sight
    _feed(engine, stream, records)
    store = LocalStateStore(directory)
    clock = _GcClock()
    gc.callbacks.append(clock)
    times: dict[str, list[float]] = {phase: [] for phase in PHASES}
    kept: Any = None  # the runner keeps the last checkpoint's keys (Runner._base)
    body = b""
    try:
        for _ in range(repeats):
            _feed(engine, stream, between)
            clock.seconds, clock.on = 0.0, True
            ms, state = _timed(engine.snapshot)
            clock.on = False
            times["snapshot"].append(ms)
            times["gc"].append(clock.seconds * 1e3)
            checkpoint = Checkpoint(source={"offsets": {"bench/0": 1}}, engine=state)
            ms, body = _timed(lambda: msgspec.json.encode(checkpoint))  # noqa: B023
            times["encode"].append(ms)
            ms, digest = _timed(lambda: hashlib.sha256(body).hexdigest())  # noqa: B023
            times["hash"].append(ms)
            header = json.dumps({"format": "bench", "sha256": digest}).encode()
            temporary = directory / "phases.json.tmp"
            with temporary.open("wb") as out:
                ms, _ = _timed(lambda: (out.write(header + b"\n" + body), out.flush()))  # noqa: B023
                times["write"].append(ms)
                ms, _ = _timed(lambda: os.fsync(out.fileno()))
                times["fsync"].append(ms)

            def rename(temporary: Path = temporary) -> None:
                temporary.replace(directory / "phases.json")
                handle = os.open(directory, os.O_RDONLY)
                try:
                    os.fsync(handle)
                finally:
                    os.close(handle)

            ms, _ = _timed(rename)
            times["rename_dirsync"].append(ms)
            ms, _ = _timed(lambda: store.save(checkpoint))  # noqa: B023
            times["save"].append(ms)
            kept = state["keys"]
    finally:
        gc.callbacks.remove(clock)
        gc.unfreeze()
    streams = sum(len(key["streams"]) for key in kept.values())
    return {
        "ms": times,
        "snapshot_bytes": len(body),
        "keys": len(kept),
        "streams": streams,
        "bytes_per_key": round(len(body) / len(kept)),
        "bytes_per_stream": round(len(body) / streams),
        "engine": engine,
    }


def _profile(engine: Engine, top: int) -> None:
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(20):
        engine.snapshot()
    profile.disable()
    print(f"\ncProfile of 20 x Engine.snapshot(), top {top} by own time:")
    pstats.Stats(profile).sort_stats("tottime").print_stats(top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=50_000, help="fed before the first")
    parser.add_argument("--between", type=int, default=10_000, help="fed before each repeat")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--rate", type=float, default=2000.0, help="event-time records/s (0: simulated time)"
    )
    parser.add_argument("--state-dir", type=Path, default=None, help="default: a temp dir")
    parser.add_argument("--profile", action="store_true", help="cProfile Engine.snapshot")
    parser.add_argument("--json", action="store_true", help="one JSON line, no table")
    args = parser.parse_args(argv)
    if args.repeats < 5:
        parser.error("--repeats must be >= 5 (medians of at least 5)")
    with tempfile.TemporaryDirectory(dir=args.state_dir) as directory:
        found = measure(args.records, args.between, args.repeats, Path(directory), args.rate)
    engine = found.pop("engine")
    summary = {
        phase: {
            "median": round(statistics.median(values), 3),
            "min": round(min(values), 3),
            "max": round(max(values), 3),
        }
        for phase, values in found.pop("ms").items()
    }
    load = os.getloadavg()
    if args.json:
        print(json.dumps({"ms": summary, **found, "load": [round(x, 2) for x in load]}))
    else:
        print(
            f"{found['keys']} keys, {found['streams']} streams; snapshot "
            f"{found['snapshot_bytes']:,} bytes ({found['bytes_per_key']:,} per key, "
            f"{found['bytes_per_stream']:,} per stream); event time {args.rate:g} records/s; "
            f"load {load[0]:.2f}"
        )
        print(f"{'phase':<16}{'median ms':>10}  min..max")
        for phase, row in summary.items():
            print(f"{phase:<16}{row['median']:>10.3f}  {row['min']:.3f}..{row['max']:.3f}")
    if args.profile:
        _profile(engine, 20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
