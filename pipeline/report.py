"""The diagnosis report of a run or replay, in Markdown.

It answers what a quality engineer asks after a shift: which streams went out of control,
when, in which order (the first signal of a cause often precedes its effect), with which
limits; how yield and defects moved; what could not be read; and, when the injected
faults of a simulated line are known, which of them the detectors caught and how fast.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from linewatch.pipeline.engine import StreamStats
from linewatch.pipeline.models import Alert, AlertAnnotation, Kpi, Output, WireRecord
from linewatch.pipeline.rare_advice import report_section as rare_event_section
from linewatch.pipeline.runner import RunSummary

__all__ = ["FaultWindow", "KpiCollector", "detection_table", "render_report", "write_report"]


class KpiCollector:
    """A sink that keeps the first, last, lowest and highest value of every KPI series."""

    def __init__(self) -> None:
        self.series: dict[tuple[str, str, str], dict[str, float]] = {}

    def add(self, item: Output | WireRecord) -> None:
        if not isinstance(item, Kpi):
            return
        # Capability KPIs are per characteristic: two of one station must not merge.
        name = item.kpi if item.characteristic is None else f"{item.characteristic} {item.kpi}"
        key = (item.line, item.station, name)
        entry = self.series.get(key)
        if entry is None:
            self.series[key] = {
                "first": item.value,
                "last": item.value,
                "min": item.value,
                "max": item.value,
                "count": 1.0,
            }
        else:
            entry["last"] = item.value
            entry["min"] = min(entry["min"], item.value)
            entry["max"] = max(entry["max"], item.value)
            entry["count"] += 1

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class FaultWindow:
    """A known fault (from the simulator's ground truth) to score detection against."""

    name: str
    kind: str
    target: str
    start: datetime
    end: datetime

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultWindow:
        return cls(
            str(data["name"]),
            str(data["kind"]),
            str(data["target"]),
            datetime.fromisoformat(data["start"]),
            datetime.fromisoformat(data["end"]),
        )


@dataclass(slots=True)
class Detection:
    fault: FaultWindow
    first_alert: Alert | None
    alerts: list[Alert] = field(default_factory=list)

    @property
    def delay_s(self) -> float | None:
        if self.first_alert is None:
            return None
        return (self.first_alert.starts_at - self.fault.start).total_seconds()

    @property
    def emitted_after_s(self) -> float | None:
        """Processing time from the fault's start to the first alert's emission.

        Meaningful on a live line (event time close to wall time); on a replay of recorded
        data it also counts the time since the recording.
        """
        if self.first_alert is None or self.first_alert.emitted_at is None:
            return None
        return (self.first_alert.emitted_at - self.fault.start).total_seconds()


def _target_of(alert: Alert) -> str:
    return f"{alert.station}/{alert.characteristic}"


def detection_table(
    faults: Sequence[FaultWindow], alerts: Sequence[Alert], grace_s: float = 1800.0
) -> list[Detection]:
    """For each fault, the firing alerts on its target between its start and end + grace."""
    detections = []
    for fault in faults:
        horizon_s = (fault.end - fault.start).total_seconds() + grace_s
        hits = sorted(
            (
                a
                for a in alerts
                if a.status == "firing"
                and _target_of(a) == fault.target
                and 0 <= (a.starts_at - fault.start).total_seconds() <= horizon_s
            ),
            key=lambda a: a.starts_at,
        )
        detections.append(Detection(fault, hits[0] if hits else None, hits))
    return detections


def _minutes(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds / 60:.1f} min"


def _points(stats: StreamStats) -> str:
    """The points cell; a stream still in phase I says how far it is."""
    got, need = stats.phase1_progress
    return f"{stats.points} (in phase I: {got} of {need} needed)" if need else str(stats.points)


def _fmt(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}g}"


def _ts(value: datetime | None) -> str:
    return "–" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def render_report(
    summary: RunSummary,
    streams: Sequence[StreamStats],
    kpis: KpiCollector | None = None,
    *,
    unconfigured: Counter[str] | None = None,
    refused: dict[str, tuple[int, str]] | None = None,
    defect_codes: Counter[str] | None = None,
    faults: Sequence[FaultWindow] = (),
    title: str = "Linewatch diagnosis report",
    annotations: Sequence[AlertAnnotation] = (),
    damage: str | None = None,
    root_cause: str | None = None,
    autocorrelation: Sequence[str] = (),
) -> str:
    """The report as Markdown text; ``damage`` says why the input ended early;
    ``root_cause`` is the body of the "Root-cause ranking" section
    (:func:`linewatch.pipeline.rootcause.ranking_markdown`); ``autocorrelation`` the
    streams whose phase I was too autocorrelated for Shewhart limits."""
    out: list[str] = [f"# {title}", ""]
    if damage is not None:
        out += [
            f"**The run is incomplete: {damage}.** Every record before the damage was read "
            "and is counted below; the rest of the file was not read.",
            "",
        ]
    first = min((s.first_ts for s in streams if s.first_ts), default=None)
    last = max((s.last_ts for s in streams if s.last_ts), default=None)
    fired = [a for a in summary.alerts if a.status == "firing"]
    resolved = [a for a in summary.alerts if a.status == "resolved"]
    out += [
        f"Generated {_ts(datetime.now(UTC))} UTC. Data from {_ts(first)} to {_ts(last)} UTC.",
        "",
        "## Summary",
        "",
        "| records read | processed | dead letters | streams charted | alerts fired | resolved | run time |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {summary.records_read} | {summary.records_processed} | {summary.dead_letters} | "
        f"{len(streams)} | {len(fired)} | {len(resolved)} | {summary.seconds:.1f} s |",
        "",
    ]

    if faults:
        out += [
            "## Known faults and their detection",
            "",
            "| fault | kind | target | window (UTC) | detected | first alert | delay "
            "(event time) | delay (processing time) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for d in detection_table(faults, summary.alerts):
            first_alert = d.first_alert
            out.append(
                f"| {d.fault.name} | {d.fault.kind} | {d.fault.target} | "
                f"{_ts(d.fault.start)} → {_ts(d.fault.end)} | {'yes' if first_alert else '**no**'} | "
                f"{first_alert.rule + ' ' + _ts(first_alert.starts_at) if first_alert else '–'} | "
                f"{'–' if d.delay_s is None else f'{d.delay_s / 60:.1f} min'} | "
                f"{_minutes(d.emitted_after_s)} |"
            )
        explained = {id(a) for d in detection_table(faults, summary.alerts) for a in d.alerts}
        others = [a for a in fired if id(a) not in explained]
        detected = sum(1 for d in detection_table(faults, summary.alerts) if d.first_alert)
        out += [
            "",
            f"{detected} of {len(faults)} known faults detected. {len(others)} of "
            f"{len(fired)} alerts fired outside the known fault windows (false alarms, or "
            "causes the ground truth does not list).",
        ]
        if first is not None and last is not None:
            from linewatch.pipeline.budget_report import in_control_alarms, in_control_sentence

            calm = in_control_alarms(faults, [a.starts_at for a in fired], first, last)
            out += ["", in_control_sentence(calm)]
        out.append("")

    if autocorrelation:
        out += ["## Autocorrelated streams", ""]
        out += [f"- {text}" for text in autocorrelation]
        out.append("")

    out += [
        "## Charted streams",
        "",
        "| line/station | stream | chart | observations | points | CL | LCL | UCL (location chart) | signals | first signal |",
        "|---|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for s in sorted(
        streams, key=lambda s: (s.identity.line, s.identity.station, s.identity.characteristic)
    ):
        signals = ", ".join(f"{rule}×{n}" for rule, n in sorted(s.signals.items())) or "–"
        out.append(
            f"| {s.identity.line}/{s.identity.station} | {s.identity.characteristic} | {s.chart} | "
            f"{s.observations} | {_points(s)} | {_fmt(s.center, 6)} | {_fmt(s.lcl, 6)} | "
            f"{_fmt(s.ucl, 6)} | {signals} | {_ts(s.first_signal_ts)} |"
        )
    out.append("")
    seeded = sorted({s.limits_from for s in streams if s.limits_from})
    for source in seeded:
        names = sorted(
            f"{s.identity.station}/{s.identity.characteristic}"
            for s in streams
            if s.limits_from == source
        )
        out += [
            f"Limits from the {source} (charted from the first record, no phase I): "
            f"{', '.join(names)}. The other streams estimate their own phase I.",
            "",
        ]
    out += rare_event_section(streams)  # np/c charts whose np̄/c̄ is below 1

    out += [
        "## Sequence of events",
        "",
        "Alerts less than an hour apart form an episode. Episodes that span several "
        "streams are listed with each stream's first alert in time order: a cause usually "
        "signals before its effect (a tip temperature drift before porosity, say).",
        "",
    ]
    episodes = _episodes(fired, gap_s=3600.0)
    shared = [e for e in episodes if len({(a.station, a.characteristic) for a in e}) > 1]
    if shared:
        out += [
            "| episode | first alert (UTC) | line/station | stream | chart | rule |",
            "|---:|---|---|---|---|---|",
        ]
        for number, episode in enumerate(shared, start=1):
            seen: set[tuple[str, str, str]] = set()
            for alert in episode:
                key = (alert.line, alert.station, alert.characteristic)
                if key in seen:
                    continue
                seen.add(key)
                out.append(
                    f"| {number} | {_ts(alert.starts_at)} | {alert.line}/{alert.station} "
                    f"| {alert.characteristic} | {alert.chart} | {alert.rule} |"
                )
    elif fired:
        out.append("No episode involved more than one stream.")
    else:
        out.append("No alerts: every charted stream stayed in control.")
    out.append("")

    if root_cause is not None:
        out += ["## Root-cause ranking", "", root_cause.rstrip(), ""]

    out += ["## Alerts", ""]
    if summary.alerts:
        ends = {a.fingerprint + a.alert_id: a for a in resolved}
        out += [
            "| started (UTC) | resolved (UTC) | severity | line/station | stream | rule | message |",
            "|---|---|---|---|---|---|---|",
        ]
        for alert in sorted(fired, key=lambda a: a.starts_at):
            end = ends.get(alert.fingerprint + alert.alert_id)
            out.append(
                f"| {_ts(alert.starts_at)} | {_ts(end.ends_at) if end else 'still firing'} | "
                f"{alert.severity} | {alert.line}/{alert.station} | {alert.characteristic} | "
                f"{alert.rule} | {alert.message} |"
            )
    else:
        out.append("None.")
    out.append("")

    out += _model_alerts(fired)
    out += _annotation_section(summary.alerts, annotations)

    if kpis is not None and kpis.series:
        out += [
            "## Yield and defects",
            "",
            "| line/station | KPI | first | last | lowest | highest | values |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for (line, station, name), e in sorted(kpis.series.items()):
            out.append(
                f"| {line}/{station} | {name} | {e['first']:.4f} | {e['last']:.4f} | "
                f"{e['min']:.4f} | {e['max']:.4f} | {int(e['count'])} |"
            )
        out.append("")
    if defect_codes:
        total = sum(defect_codes.values())
        out += [
            "## Defect Pareto",
            "",
            "| defect code | count | share | cumulative |",
            "|---|---:|---:|---:|",
        ]
        cumulative = 0
        for code, count in defect_codes.most_common():
            cumulative += count
            out.append(f"| {code} | {count} | {count / total:.1%} | {cumulative / total:.1%} |")
        out.append("")

    if summary.dead_letters:
        out += [
            "## Dead letters",
            "",
            f"{summary.dead_letters} record(s) could not be used and were kept with their "
            "reason in the dead-letter file. The first ones:",
            "",
        ]
        reasons: defaultdict[str, int] = defaultdict(int)
        for reason in summary.dead_letter_reasons[:20]:
            reasons[reason] += 1
        out += [f"- {reason}" for reason in reasons]
        out.append("")
    if refused:
        out += [
            "## Observations refused by a chart",
            "",
            "Derived observations (short subgroups, T² vectors) that a chart could not "
            "take; the records themselves were processed.",
            "",
            "| stream | refused | last reason |",
            "|---|---:|---|",
        ]
        out += [
            f"| `{name}` | {count} | {reason} |"
            for name, (count, reason) in sorted(refused.items())
        ]
        out.append("")
    if unconfigured:
        out += [
            "## Streams without a chart",
            "",
            "Records arrived for these, but the config charts nothing for them:",
            "",
        ]
        out += [f"- `{name}`: {count} record(s)" for name, count in sorted(unconfigured.items())]
        out.append("")
    return "\n".join(out)


MODEL_RULES = ("model:", "forecast")


def _drivers(alert: Alert) -> str:
    """What drove a model alert: its top parameters, or the forecast's predicted crossing."""
    top = alert.message.partition("; top: ")[2]
    if top:
        return top
    if alert.rule == "forecast":
        crossing = alert.message.partition("forecast of ")[2]
        target, _, rest = crossing.partition(" crosses ")
        limit = rest.partition(" within ")[0]
        when = rest.partition("expected crossing at ")[2]
        return f"{target} → {limit}, expected {when}" if target else "–"
    return "–"


def _model_alerts(fired: Sequence[Alert]) -> list[str]:
    """The model and predictive alerts, each with the parameters that drove it."""
    models = [a for a in fired if a.rule.startswith(MODEL_RULES)]
    if not models:
        return []
    out = [
        "## Model alerts",
        "",
        "Equipment models (`model:*`) and predictive alerts (`forecast`, "
        "`forecast:defect_p`), with the parameters that drove each (share of the model "
        "statistic, or push on the predicted log-odds) or the predicted limit crossing.",
        "",
        "| started (UTC) | line/station | model | rule | severity | driven by |",
        "|---|---|---|---|---|---|",
    ]
    for alert in sorted(models, key=lambda a: a.starts_at):
        out.append(
            f"| {_ts(alert.starts_at)} | {alert.line}/{alert.station} | {alert.characteristic} "
            f"| {alert.rule} | {alert.severity} | {_drivers(alert)} |"
        )
    out.append("")
    return out


def _annotation_section(
    alerts: Sequence[Alert], annotations: Sequence[AlertAnnotation]
) -> list[str]:
    """Acknowledgements and assignable causes recorded (``linewatch serve``) on these alerts."""
    ids = {a.alert_id for a in alerts}
    notes = sorted((n for n in annotations if n.alert_id in ids), key=lambda n: n.ts)
    if not notes:
        return []
    out = [
        "## Acknowledgements and causes",
        "",
        "| recorded (UTC) | line/station | stream | rule | kind | by | cause | action | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n in notes:
        out.append(
            f"| {_ts(n.ts)} | {n.line}/{n.station} | {n.characteristic} | {n.rule} | {n.kind} "
            f"| {n.author} | {n.cause or '–'} | {n.action or '–'} | {n.text or '–'} |"
        )
    return [*out, ""]


def _episodes(alerts: Sequence[Alert], gap_s: float) -> list[list[Alert]]:
    """Firing alerts in time order, split wherever the gap exceeds ``gap_s``."""
    episodes: list[list[Alert]] = []
    for alert in sorted(alerts, key=lambda a: a.starts_at):
        if episodes and (alert.starts_at - episodes[-1][-1].starts_at).total_seconds() <= gap_s:
            episodes[-1].append(alert)
        else:
            episodes.append([alert])
    return episodes


def write_report(path: str | Path, text: str) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target
