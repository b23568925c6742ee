"""What a running job exposes to Prometheus, and whether it is healthy.

:class:`PipelineMetrics` watches one :class:`~linewatch.pipeline.runner.Runner` and keeps
its figures in a private ``CollectorRegistry`` (several jobs in one process, as in the
tests, never share counters). It costs the hot loop almost nothing: the record and output
counters are the runner's own :class:`~linewatch.pipeline.runner.RunSummary`, read when
Prometheus scrapes; the per-batch hook (``Runner.on_batch``) stamps a heartbeat, counts
the batch's new alerts, and at most once a second (and at every checkpoint) samples the
consumer lag and the sinks' spools (on the loop's thread: the Kafka clients and spools are
not thread-safe);
dead letters, backpressure waits and checkpoints come through the runner's
:class:`~linewatch.pipeline.runner.RunObserver` hooks, which never fire for a good record.

Dead letters are counted by a bounded reason class (:func:`reason_class`), never by the
reason text, which names the file line and would make a label per record.

``prometheus-client`` is optional (``pip install 'linewatch[metrics]'``); without it a
job asked for metrics stops at start with that hint.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from linewatch.pipeline.models import DeadLetter, Sink
from linewatch.pipeline.runner import Route, Runner, RunSummary

__all__ = [
    "EXPORTED",
    "INSTALL_HINT",
    "REASON_CLASSES",
    "Health",
    "PipelineMetrics",
    "import_prometheus",
    "reason_class",
]

INSTALL_HINT = "metrics need prometheus-client: pip install 'linewatch[metrics]'"

#: Reason classes by the text a dead letter's reason starts with (after its origin).
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("internal error", "internal_error"),
    ("late record", "late_record"),
    ("future timestamp", "future_timestamp"),
    ("implausible value", "implausible_value"),
    ("implausible size", "implausible_size"),
    ("not UTF-8", "malformed"),
    ("JSON is malformed", "malformed"),
    ("Input data was truncated", "malformed"),
    ("CSV", "malformed"),
)
REASON_CLASSES = (*dict.fromkeys(label for _, label in _PREFIXES), "wrong_chart", "invalid")

#: Every sample name /metrics can hold and its labels (boards and tests check against it).
EXPORTED: dict[str, tuple[str, ...]] = {
    "linewatch_records_in_total": (),
    "linewatch_records_processed_total": (),
    "linewatch_records_skipped_total": (),
    "linewatch_records_out_total": ("kind",),
    "linewatch_dead_letters_total": ("reason",),
    "linewatch_alerts_total": ("severity", "status"),
    "linewatch_consumer_lag": ("topic", "partition"),
    "linewatch_checkpoint_age_seconds": (),
    "linewatch_checkpoints_total": (),
    "linewatch_sink_spool_batches": ("sink",),
    "linewatch_sink_spool_lines": ("sink",),
    "linewatch_sink_backpressure_waits_total": ("sink",),
    "linewatch_rebalances_total": (),
    "linewatch_internal_errors_total": (),
    "linewatch_healthy": (),
}

#: How often the loop samples consumer lag and spools (seconds of wall time).
SAMPLE_EVERY_S = 1.0


def import_prometheus() -> Any:
    """The ``prometheus_client`` module, or ImportError with the install hint."""
    try:
        import prometheus_client
        import prometheus_client.core  # the metric families of a custom collector
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return prometheus_client


def reason_class(letter: DeadLetter) -> str:
    """The bounded label of a dead letter's reason (its origin prefix removed).

    >>> from datetime import UTC, datetime
    >>> def letter(reason: str) -> DeadLetter:
    ...     return DeadLetter(ts=datetime.now(UTC), origin="a.jsonl:7",
    ...                       reason=f"a.jsonl:7: {reason}", payload="x",
    ...                       payload_encoding="utf-8")
    >>> reason_class(letter("late record: ts 2026-11-23T08:00:00+00:00 is 400 s older"))
    'late_record'
    >>> reason_class(letter("JSON is malformed: truncated (byte 5) - near `$`"))
    'malformed'
    >>> reason_class(letter("nugget_dia_mm is charted as 'p', which takes attribute records"))
    'wrong_chart'
    >>> reason_class(letter("Object missing required field `line`"))
    'invalid'
    """
    reason = letter.reason
    prefix = f"{letter.origin}: "
    if reason.startswith(prefix):
        reason = reason[len(prefix) :]
    for start, label in _PREFIXES:
        if reason.startswith(start):
            return label
    if " is charted as " in reason:
        return "wrong_chart"
    return "invalid"


class Health:
    """/healthz's answer: ``ok`` and why not, as a JSON-able body."""

    __slots__ = ("body", "ok")

    def __init__(self, ok: bool, body: dict[str, Any]) -> None:
        self.ok = ok
        self.body = body


class PipelineMetrics:
    """The Prometheus figures and health of one runner; see the module docstring.

    ``stale_after_s``: the loop is dead when its last batch is older than this, and the
    checkpoint is stale when records have waited for one longer than
    ``checkpoint_every_s + stale_after_s``. ``clock`` is ``time.monotonic`` (tests pass
    their own).
    """

    def __init__(
        self,
        runner: Runner,
        *,
        stale_after_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        prometheus = import_prometheus()
        self.runner = runner
        self.stale_after_s = stale_after_s
        self._clock = clock
        self._lock = threading.Lock()
        self._dead_letters: Counter[str] = Counter()
        self._alerts: Counter[tuple[str, str]] = Counter()
        self._alerts_seen = 0
        self._backpressure: Counter[str] = Counter()
        self._lag: dict[tuple[str, int], int] = {}
        self._spools: dict[str, tuple[int, int]] = {}
        now = clock()
        self.started_at = now
        self.last_batch_at = now
        self.last_checkpoint_at: float | None = None
        self._records_at_checkpoint = 0
        self._next_sample_at = now
        self.stopped = False
        self._sink_names = _sink_names(runner.routes, runner.dead_letters)
        self.registry = prometheus.CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self, prometheus))
        self._chained = runner.on_batch
        runner.on_batch = self.on_batch
        runner.observer = self

    # -- the loop's side (its thread) ----------------------------------------------------

    def on_batch(self, summary: RunSummary) -> None:
        now = self._clock()
        self.last_batch_at = now
        alerts = summary.alerts
        if len(alerts) > self._alerts_seen:
            fresh = alerts[self._alerts_seen :]
            self._alerts_seen = len(alerts)
            with self._lock:
                for alert in fresh:
                    self._alerts[(alert.severity, alert.status)] += 1
        if now >= self._next_sample_at:
            self._next_sample_at = now + SAMPLE_EVERY_S
            self.sample()
        if self._chained is not None:
            self._chained(summary)

    def sample(self) -> None:
        """Read the consumer lag and the spools now (the loop's thread only)."""
        lag_of = getattr(self.runner.source, "lag", None)
        lag = dict(lag_of()) if callable(lag_of) else {}
        spools = {}
        for sink, name in self._sink_names.values():
            batches = getattr(sink, "spooled_batches", None)
            if isinstance(batches, int):
                spools[name] = (batches, int(getattr(sink, "spooled_lines", 0)))
        with self._lock:
            self._lag = lag
            self._spools = spools

    def dead_letter(self, letter: DeadLetter) -> None:
        label = reason_class(letter)
        with self._lock:
            self._dead_letters[label] += 1

    def backpressure(self, sink: Sink) -> None:
        self.last_batch_at = self._clock()  # waiting on a sink is the loop at work
        with self._lock:
            self._backpressure[self._sink_name(sink)] += 1

    def _sink_name(self, sink: Sink) -> str:
        known = self._sink_names.get(id(sink))
        return known[1] if known is not None else type(sink).__name__

    def checkpointed(self) -> None:
        self.last_checkpoint_at = self._clock()
        self._records_at_checkpoint = self.runner.summary.records_read
        self.sample()  # the run's last checkpoint leaves its final lag (the source closes next)

    def stop(self) -> None:
        """The loop has ended: /healthz answers 503 from now on."""
        self.stopped = True

    # -- the scrape's side (the HTTP thread) ---------------------------------------------

    def health(self) -> Health:
        now = self._clock()
        summary = self.runner.summary
        checkpoint_at = self.last_checkpoint_at
        checkpoint_age = None if checkpoint_at is None else now - checkpoint_at
        pending = summary.records_read - self._records_at_checkpoint
        body: dict[str, Any] = {
            "loop_age_s": round(now - self.last_batch_at, 3),
            "checkpoint_age_s": None if checkpoint_age is None else round(checkpoint_age, 3),
            "records_since_checkpoint": pending,
            "records_read": summary.records_read,
        }
        problem = None
        if self.stopped:
            problem = "the run loop has ended"
        elif now - self.last_batch_at > self.stale_after_s:
            problem = (
                f"the run loop has not finished a batch for {now - self.last_batch_at:.1f} s "
                f"(more than {self.stale_after_s:g} s)"
            )
        elif pending:
            waited = now - (self.started_at if checkpoint_at is None else checkpoint_at)
            allowed = self.runner.checkpoint_every_seconds + self.stale_after_s
            if waited > allowed:
                problem = (
                    f"{pending} records have waited {waited:.1f} s for a checkpoint "
                    f"(more than {allowed:g} s)"
                )
        body["status"] = "ok" if problem is None else "unhealthy"
        if problem is not None:
            body["reason"] = problem
        return Health(problem is None, body)

    def snapshot(self) -> dict[str, Any]:
        """The counters kept here (not the summary's), copied under the lock."""
        with self._lock:
            return {
                "dead_letters": dict(self._dead_letters),
                "alerts": dict(self._alerts),
                "backpressure": dict(self._backpressure),
                "lag": dict(self._lag),
                "spools": dict(self._spools),
            }


def _sink_names(routes: Sequence[Route], dead_letters: Sink) -> dict[int, tuple[Sink, str]]:
    """A label per sink (by identity: sinks need not be hashable): its route's name
    (``sinks[0]``, ``report``...) or ``dead_letters``."""
    names: dict[int, tuple[Sink, str]] = {}
    for route in routes:
        names.setdefault(id(route.sink), (route.sink, route.name or type(route.sink).__name__))
    names[id(dead_letters)] = (dead_letters, "dead_letters")
    return names


class _Collector:
    """Builds the metric families at each scrape from the summary and the snapshot."""

    def __init__(self, metrics: PipelineMetrics, prometheus: Any) -> None:
        self._metrics = metrics
        self._core = prometheus.core

    def collect(self) -> Iterator[Any]:
        core = self._core
        metrics = self._metrics
        summary = metrics.runner.summary
        kept = metrics.snapshot()

        def counter(name: str, doc: str, value: float) -> Any:
            return core.CounterMetricFamily(name, doc, value=value)

        yield counter(
            "linewatch_records_in", "Records polled from the source", summary.records_read
        )
        yield counter(
            "linewatch_records_processed",
            "Records the detectors took (not dead letters, not already applied)",
            summary.records_processed,
        )
        yield counter(
            "linewatch_records_skipped",
            "Records whose effect was already in the restored state",
            summary.records_skipped,
        )
        out = core.CounterMetricFamily(
            "linewatch_records_out", "Outputs emitted, by kind", labels=["kind"]
        )
        for kind, count in sorted(dict(summary.outputs).items()):
            out.add_metric([kind], count)
        yield out
        dead = core.CounterMetricFamily(
            "linewatch_dead_letters", "Dead letters, by reason class", labels=["reason"]
        )
        for reason, count in sorted(kept["dead_letters"].items()):
            dead.add_metric([reason], count)
        yield dead
        alerts = core.CounterMetricFamily(
            "linewatch_alerts",
            "Alert messages (firing and resolved), by severity",
            labels=["severity", "status"],
        )
        for (severity, status), count in sorted(kept["alerts"].items()):
            alerts.add_metric([severity, status], count)
        yield alerts
        lag = core.GaugeMetricFamily(
            "linewatch_consumer_lag",
            "Records behind the partition's high watermark (sampled each second)",
            labels=["topic", "partition"],
        )
        for (topic, partition), behind in sorted(kept["lag"].items()):
            lag.add_metric([topic, str(partition)], behind)
        yield lag
        now = metrics._clock()
        since = metrics.last_checkpoint_at
        yield core.GaugeMetricFamily(
            "linewatch_checkpoint_age_seconds",
            "Seconds since the last checkpoint (since start before the first)",
            value=now - (metrics.started_at if since is None else since),
        )
        yield counter("linewatch_checkpoints", "Checkpoints taken", summary.checkpoints)
        batches = core.GaugeMetricFamily(
            "linewatch_sink_spool_batches", "Batches spooled on disk, per sink", labels=["sink"]
        )
        lines = core.GaugeMetricFamily(
            "linewatch_sink_spool_lines", "Lines spooled on disk, per sink", labels=["sink"]
        )
        for name, (spooled_batches, spooled_lines) in sorted(kept["spools"].items()):
            batches.add_metric([name], spooled_batches)
            lines.add_metric([name], spooled_lines)
        yield batches
        yield lines
        waits = core.CounterMetricFamily(
            "linewatch_sink_backpressure_waits",
            "Times a sink pushed back and the runner waited, per sink",
            labels=["sink"],
        )
        for name, count in sorted(kept["backpressure"].items()):
            waits.add_metric([name], count)
        yield waits
        yield counter("linewatch_rebalances", "Consumer-group rebalances", summary.rebalances)
        yield counter(
            "linewatch_internal_errors",
            "Records whose processing raised (dead-lettered, key rebuilt)",
            summary.internal_errors,
        )
        yield core.GaugeMetricFamily(
            "linewatch_healthy", "1 when /healthz answers 200", value=int(metrics.health().ok)
        )
