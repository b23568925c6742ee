"""Seeding an engine's charts from an approved limits file, so they judge from the first record.

:func:`limits_seeder` checks every stream of the file against the config at start (the
stream is configured, with the same chart, and the chart takes the parameters: a probe
observation is scored against them), then returns the hook the engine calls with each
stream it builds (:attr:`Engine.on_new_stream`). A stream the file does not name runs its
own phase I, as without a file; the report says which is which.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from linewatch.detectors.registry import chart_info
from linewatch.detectors.spc.chart import PhaseIChart
from linewatch.pipeline.alerts import StreamIdentity
from linewatch.pipeline.assembly import Spec, Stream, new_stream
from linewatch.pipeline.config import Config, MultivariateConfig
from linewatch.pipeline.limits_file import LimitsFileError, StreamLimits, stream_key

__all__ = ["config_specs", "limits_seeder", "seed_stream"]


def seed_stream(stream: Stream, limits: StreamLimits) -> None:
    """Install ``limits`` in the stream's chart and say so in its report line."""
    detector = stream.detector
    assert isinstance(detector, PhaseIChart)  # checked by limits_seeder
    params = dict(limits.params)
    if "phase1_n" in params:
        # T²: the estimate's own window was judged with phase-I limits; live points are not.
        params["phase1_n"] = 0
    detector.seed_limits(params, limits.effective_from, limits.version)
    stream.stats.limits_from = f"limits file v{limits.version}"


def _probe(spec: Spec) -> Any:
    """One harmless observation of the stream's kind, to score against the parameters."""
    if isinstance(spec, MultivariateConfig):
        return dict.fromkeys(spec.parameters, 0.0)
    takes = chart_info(spec.chart).takes
    if takes == "counts":
        return {"count": 0.0, "size": 1.0}
    if takes == "parts":
        return None  # per-part targets come from the config, not from phase I
    if takes == "subgroup":
        return [0.0] * max(2, spec.subgroup_size)
    return 0.0


def config_specs(config: Config) -> dict[tuple[str, str, str], Spec]:
    """Every charted stream of ``config`` by ``(line, station, name)``, as the engine keys it."""
    specs: dict[tuple[str, str, str], Spec] = {}
    for line in config.lines:
        for station in line.stations:
            for c in station.characteristics:
                specs[(line.name, station.name, c.name)] = c
            for p in station.parameters:
                specs[(line.name, station.name, f"{p.equipment}/{p.name}")] = p
            for group in station.multivariate:
                specs[(line.name, station.name, group.name)] = group
    return specs


def limits_seeder(
    path: Path, seeds: Mapping[tuple[str, str, str], StreamLimits], config: Config
) -> Callable[[Stream], None]:
    """The engine's ``on_new_stream`` hook for ``seeds``; refuses a seed that cannot be used."""
    now = datetime.now(UTC)
    specs = config_specs(config)
    for key, limits in seeds.items():
        where = f"{path}: versions[{limits.version - 1}].streams[{stream_key(*key)!r}]"
        spec = specs.get(key)
        if spec is None:
            raise LimitsFileError(f"{where}: no such stream in the config")
        chart = "t2" if isinstance(spec, MultivariateConfig) else spec.chart
        if limits.chart != chart:
            raise LimitsFileError(
                f"{where}.chart: the file has {limits.chart!r}, the config charts {chart!r}"
            )
        if getattr(spec, "limits", None) is not None:
            raise LimitsFileError(f"{where}: the config gives this stream frozen limits too")
        stream = new_stream(StreamIdentity(*key), spec)
        if not isinstance(stream.detector, PhaseIChart):
            raise LimitsFileError(f"{where}.chart: chart {chart!r} takes no phase-I limits")
        probe = _probe(spec)
        try:
            seed_stream(stream, limits)
            if probe is not None:
                stream.detector.score(now, probe)
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            detail = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            raise LimitsFileError(
                f"{where}.params: do not fit chart {chart!r} ({detail})"
            ) from None

    def seed(stream: Stream) -> None:
        identity = stream.identity
        found = seeds.get((identity.line, identity.station, identity.characteristic))
        if found is not None:
            seed_stream(stream, found)

    return seed
