"""The root-cause ranking of a replay: effects found, upstream candidates ranked.

From a :class:`~linewatch.pipeline.rootcause_data.SeriesCollector` and the config's
station order, :func:`rank_root_causes` finds every rise of an *output* (a defect code's
rate at an inspecting station, from inspections, or from attribute records where there
are no inspections; a measured characteristic at an inspecting station) and ranks the
parameters and measured characteristics of the same line at that station or upstream of
it (config order) with :mod:`linewatch.detectors.diagnosis`. :data:`METHOD` says how, in
words, for the reports; :func:`ranking_markdown` is the Markdown section.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from linewatch.detectors.diagnosis import (
    CandidateScore,
    Rise,
    level_rises,
    rank_candidates,
    rate_rises,
)
from linewatch.pipeline.config import Config
from linewatch.pipeline.report_sections import EpisodeRanking, RankedCandidate
from linewatch.pipeline.rootcause_data import SeriesCollector

__all__ = [
    "METHOD",
    "RankingSettings",
    "RootCause",
    "rank_root_causes",
    "ranking_markdown",
    "station_order",
    "to_report",
]

METHOD = (
    "How the ranking is computed: every series is cut into time bins (one minute, wider for "
    "long replays). A rise of a defect rate is found by a Bernoulli CUSUM (rate 3× the "
    "period's normal rate against the normal rate, h = 6), a shift of a measured output by "
    "a two-sided CUSUM of its standardised bin means; the rise's onset is where the CUSUM "
    "last stood at zero. Each parameter and measured characteristic of the same line, at "
    "that station or upstream of it, is standardised against its own first hour (phase I). "
    "Its strength G is the likelihood-ratio statistic of a mean shift from that baseline, "
    "|Σz|/√n, maximised over a change time between onset − max lag and the onset (the "
    "lead time is onset − change time, never negative); its lag is the delay at which its "
    "series correlates best with the effect's rate (r). Score = G × max(r, 0.05), ×0.25 "
    "if the candidate's best change time is after the effect began. The highest score is "
    "where to look first; it is evidence of timing and size, not proof of cause."
)


@dataclass(frozen=True, slots=True)
class RankingSettings:
    """How far back a cause may lie, the phase-I length, and how much to list."""

    max_lag_s: float = 7200.0
    baseline_s: float = 3600.0
    top: int = 5
    max_episodes: int = 10


@dataclass(frozen=True, slots=True)
class RootCause:
    """One rise of one output and every candidate's score, best first."""

    line: str
    station: str
    output: str  # a defect code or a characteristic
    kind: str  # "defect rate", "attribute rate" or "measured"
    rise: Rise
    bin_s: float
    origin_s: float  # epoch seconds of bin 0
    candidates: list[CandidateScore]

    def at(self, index: int) -> datetime:
        return datetime.fromtimestamp(self.origin_s + index * self.bin_s, UTC)

    @property
    def title(self) -> str:
        onset, alarm = self.at(self.rise.onset), self.at(self.rise.alarm)
        where = f"{self.line}/{self.station}/{self.output}"
        if self.kind == "measured":
            change = f"mean shift {self.rise.size:+.1f}σ"
        else:
            base = self.rise.baseline
            change = f"{self.kind} {100 * base:.2f}% → {100 * base * self.rise.size:.2f}%"
        return f"{where}: {change} from {onset:%Y-%m-%d %H:%M} UTC (alarm {alarm:%H:%M})"

    def why(self, c: CandidateScore) -> str:
        if c.change is None or c.lead_bins is None or c.lag_bins is None:
            return "no phase-I baseline or no data before the effect: not ranked"
        lead_min = c.lead_bins * self.bin_s / 60
        lag_min = c.lag_bins * self.bin_s / 60
        text = (
            f"moved {c.shift_sigma:+.1f}σ from its baseline from {self.at(c.change):%H:%M}, "
            f"{lead_min:.0f} min before the onset (G = {c.strength:.1f}); best lag "
            f"{lag_min:.0f} min, r = {c.correlation:.2f}"
        )
        if c.changed_after:
            text += "; its main change came after the effect began (score ×0.25)"
        return text


def station_order(config: Config) -> dict[str, list[str]]:
    """Each line's station names in config (flow) order."""
    return {line.name: [s.name for s in line.stations] for line in config.lines}


def _upstream(order: Sequence[str] | None, station: str, candidate: str) -> bool:
    if order is None:
        return True  # a line the config does not order: every station may be a cause
    if station not in order or candidate not in order:
        return False
    return order.index(candidate) <= order.index(station)


def _ratio(numerator: Sequence[float], denominator: Sequence[float]) -> list[float]:
    return [n / d if d > 0 else math.nan for n, d in zip(numerator, denominator, strict=True)]


def rank_root_causes(
    collector: SeriesCollector,
    order: Mapping[str, Sequence[str]],
    settings: RankingSettings | None = None,
) -> list[RootCause]:
    """Every output's rises with their ranked candidates, the weightiest rises first."""
    settings = settings or RankingSettings()
    origin = collector.start()
    if origin is None:
        return []
    bin_s = collector.bin_s
    baseline_bins = max(round(settings.baseline_s / bin_s), 1)
    max_lag_bins = max(round(settings.max_lag_s / bin_s), 1)
    found: list[RootCause] = []

    effects: list[tuple[str, str, str, str, list[float], list[Rise]]] = []
    inspecting = {(k[0], k[1]) for k in collector.counts if k[2] == "parts"}
    inspecting |= {(k[0], k[1]) for k in collector.attributes}
    for line, station in sorted(inspecting):
        parts = collector.total((line, station, "parts"))
        codes = sorted(
            k[2][1:] for k in collector.counts if k[:2] == (line, station) and k[2].startswith("#")
        )
        for code in codes:
            defects = collector.total((line, station, f"#{code}"))
            effects.append(
                (
                    line,
                    station,
                    code,
                    "defect rate",
                    _ratio(defects, parts),
                    rate_rises(parts, defects),
                )
            )
        for key, bins in sorted(collector.attributes.items()):
            if key[:2] != (line, station) or key[2] in codes:
                continue
            inspected = [0.0 if math.isnan(v) else v for v in collector.dense(bins, 0)]
            bad = [0.0 if math.isnan(v) else v for v in collector.dense(bins, 1)]
            effects.append(
                (
                    line,
                    station,
                    key[2],
                    "attribute rate",
                    _ratio(bad, inspected),
                    rate_rises(inspected, bad),
                )
            )
        for key in sorted(collector.values):
            if key[:2] == (line, station) and "/" not in key[2]:
                means = collector.means(key)
                effects.append(
                    (
                        line,
                        station,
                        key[2],
                        "measured",
                        means,
                        level_rises(means, baseline_bins=baseline_bins),
                    )
                )

    for line, station, output, kind, effect, rises in effects:
        if not rises:
            continue
        line_order = order.get(line)
        candidates = {
            f"{key[1]}/{key[2]}": collector.means(key)
            for key in sorted(collector.values)
            if key[0] == line
            and _upstream(line_order, station, key[1])
            and not (key[1] == station and key[2] == output)
        }
        for rise in rises:
            scores = rank_candidates(
                effect, rise, candidates, baseline_bins=baseline_bins, max_lag_bins=max_lag_bins
            )
            found.append(RootCause(line, station, output, kind, rise, bin_s, origin, scores))
    found.sort(key=lambda r: -r.rise.statistic)
    kept = found[: settings.max_episodes]
    return sorted(kept, key=lambda r: (r.rise.onset, r.line, r.station, r.output))


def to_report(causes: Sequence[RootCause], top: int = 5) -> list[EpisodeRanking]:
    """The HTML report's hook types: per rise its ``top`` candidates with the why."""
    return [
        EpisodeRanking(
            cause.title,
            [
                RankedCandidate(
                    c.name,
                    c.score,
                    None if c.lead_bins is None else c.lead_bins * cause.bin_s,
                    cause.why(c),
                )
                for c in cause.candidates[:top]
            ],
        )
        for cause in causes
    ]


def ranking_markdown(causes: Sequence[RootCause], top: int = 5) -> str:
    """The report's "Root-cause ranking" section body (Markdown)."""
    if not causes:
        return (
            "No rise of a defect rate or shift of an output characteristic was found, so "
            "there is nothing to rank.\n\n" + METHOD
        )
    out = [METHOD, ""]
    for number, cause in enumerate(causes, start=1):
        out += [
            f"**{number}. {cause.title}**",
            "",
            "| rank | stream | score | lead time | lag | why |",
            "|---:|---|---:|---:|---:|---|",
        ]
        for rank, c in enumerate(cause.candidates[:top], start=1):
            lead = "–" if c.lead_bins is None else f"{c.lead_bins * cause.bin_s / 60:.0f} min"
            lag = "–" if c.lag_bins is None else f"{c.lag_bins * cause.bin_s / 60:.0f} min"
            out.append(f"| {rank} | {c.name} | {c.score:.3g} | {lead} | {lag} | {cause.why(c)} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
