"""InfluxSink throughput (batching + gzip) beside a raw line-protocol POST loop, same run.

    python bench/bench_influx.py [--points 200000] [--batch 5000] [--repeat 3]

The bench starts its own InfluxDB 1.11.8 on 127.0.0.1 (``scripts/influxdb.sh install``
builds it) and times, on the same points:

* **raw POST**: the lines encoded beforehand (not timed), joined per batch and POSTed
  uncompressed to ``/write`` with one httpx client: the floor any client pays;
* **InfluxSink v1**: ``add`` of every item (encoding included) and ``flush``: batches of
  ``--batch`` lines, gzip, ``/write``, the spool ready; also timed: ``flush`` alone (the
  same work as the raw loop, plus batching and gzip);
* **InfluxSink v2**: the same through influxdb-client's ``/api/v2/write``.

Every pass writes into a fresh database (the server does the same work each time) and the
bench checks that every point landed. Passes alternate, ``--repeat`` times; the fastest
run of each is kept. Ratios are points/s over the raw POST loop's.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from linewatch.connectors.influxdb import InfluxSink, item_line
from linewatch.pipeline.models import ChartPoint, Parameter
from tests.servers.influxdb import Influx11Server

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


def make_items(n: int) -> list[ChartPoint | Parameter]:
    """Chart points of 4 charts on 6 lines, and a parameter, at 1 ms steps."""
    items: list[ChartPoint | Parameter] = []
    for k in range(n):
        ts = T0 + timedelta(milliseconds=k // 5)
        line = f"L{k % 6 + 1}"
        if k % 5 == 4:
            items.append(Parameter(ts=ts, line=line, station="weld-2", equipment="welder-07",
                                   name="tip_temp_c", value=400.0 + (k % 997) / 10,
                                   part_id=f"P-{k:07d}"))  # fmt: skip
        else:
            items.append(ChartPoint(ts=ts, line=line, station="weld-2",
                                    characteristic="nugget_dia_mm", chart=f"imr:{k % 5}",
                                    value=5.4 + (k % 101) / 1000, cl=5.4, ucl=5.64, lcl=5.16,
                                    zone="C", limits_version=3))  # fmt: skip
    return items


def raw_post(
    server: Influx11Server, db: str, lines: list[str], batch: int
) -> tuple[float, float, int]:
    sent = 0
    with httpx.Client(base_url=server.url, timeout=60) as client:
        began = time.perf_counter()
        for start in range(0, len(lines), batch):
            body = "\n".join(lines[start : start + batch]).encode()
            response = client.post("/write", params={"db": db, "precision": "ns"}, content=body)
            if response.status_code != 204:
                raise RuntimeError(f"raw POST: HTTP {response.status_code}: {response.text}")
            sent += len(body)
        seconds = time.perf_counter() - began
        return seconds, seconds, sent


def sink_pass(
    api: Literal["v1", "v2"],
    server: Influx11Server,
    db: str,
    items: list[ChartPoint | Parameter],
    batch: int,
) -> tuple[float, float, int]:
    spool = Path(tempfile.mkdtemp(prefix="bench-influx-spool-"))
    sink = InfluxSink(server.url, db, api=api, batch_size=batch, spool_dir=spool)
    began = time.perf_counter()
    for item in items:
        sink.add(item)
    added = time.perf_counter()
    sink.flush()
    done = time.perf_counter()
    sink.close()
    if sink.written_lines != len(items) or sink.spooled_batches or sink.rejected_lines:
        raise RuntimeError(f"sink {api}: {sink.written_lines} of {len(items)} written")
    lines = [item_line(i) or "" for i in items[:batch]]
    compressed = len(gzip.compress("\n".join(lines).encode(), sink.gzip_level))
    return done - began, done - added, compressed * -(-len(items) // batch)  # bytes, estimated


def stored(server: Influx11Server, db: str) -> int:
    total = 0
    for measurement, field in (("spc_point", "value"), ("process_param", "value")):
        rows = server.select(f'SELECT COUNT("{field}") FROM "{measurement}"', db)
        total += int(rows[0]["count"]) if rows else 0
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    items = make_items(args.points)
    lines = [item_line(item) or "" for item in items]
    best: dict[str, tuple[float, float, int]] = {}
    with Influx11Server() as server:
        passes: dict[str, Callable[[str], tuple[float, float, int]]] = {
            "raw POST (no gzip)": lambda db: raw_post(server, db, lines, args.batch),
            "InfluxSink v1 (gzip)": lambda db: sink_pass("v1", server, db, items, args.batch),
            "InfluxSink v2 (gzip)": lambda db: sink_pass("v2", server, db, items, args.batch),
        }
        for run in range(args.repeat):
            for number, (label, timed) in enumerate(passes.items()):
                db = f"bench_{run}_{number}"
                server.create_database(db)
                result = timed(db)
                if stored(server, db) != len(items):
                    raise RuntimeError(f"{label}: {stored(server, db)} of {len(items)} stored")
                server.query(f'DROP DATABASE "{db}"')
                previous = best.get(label)
                best[label] = (
                    min(result[0], previous[0]) if previous else result[0],
                    min(result[1], previous[1]) if previous else result[1],
                    result[2],
                )
        version = server.request("GET", "/ping", params={"verbose": "true"})[1].decode()
    raw = best["raw POST (no gzip)"][0]
    n = len(items)
    print(f"InfluxDB {version.strip()} on 127.0.0.1; {n:,} points, batches of {args.batch}, "
          f"best of {args.repeat}")  # fmt: skip
    print(f"{'pass':22} {'MB sent':>8} {'points/s':>10} {'ratio':>6}   "
          f"{'flush only':>10} {'ratio':>6}")  # fmt: skip
    for label, (total, flush, sent) in best.items():
        print(f"{label:22} {sent / 1e6:8.1f} {n / total:10,.0f} {raw / total:6.2f}   "
              f"{n / flush:10,.0f} {raw / flush:6.2f}")  # fmt: skip
    print("points/s: add() of every item (encoding) + flush(); flush only: batching, gzip, "
          "POST, and the server's work")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
