"""The YAML configuration, validated with pydantic v2.

Every model forbids unknown keys, so a typo fails at start instead of being ignored.
:func:`load_config` turns pydantic's error locations into YAML paths with file lines:

    lines[0].stations[1].characteristics[2].chart (plant.yaml line 31): Input should be 'imr'

>>> cfg = parse_config({"lines": [{"name": "L3", "stations": [{"name": "weld-2",
...     "characteristics": [{"name": "nugget_dia_mm", "chart": "imr"}]}]}]})
>>> cfg.lines[0].stations[0].characteristics[0].phase1
25
>>> parse_config({"lines": [{"name": "L3", "stations": [{"name": "weld-2",
...     "characteristics": [{"name": "d", "chart": "imx"}]}]}]})
Traceback (most recent call last):
...
linewatch.pipeline.config.ConfigError: invalid configuration:
  lines[0].stations[0].characteristics[0].chart: Input should be 'imr', 'xbar-r', 'xbar-s', 'p', 'np', 'c', 'u', 'laney-p', 'laney-u', 'cusum', 'ewma' or 'zmr' (got 'imx')
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AwareDatetime,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
)

from linewatch.connectors.simulator import Simulation
from linewatch.pipeline.model_config import ModelConfig
from linewatch.pipeline.strict import (
    COUNT_MAX,
    YEAR_S,
    Alpha,
    Count,
    Period,
    Seconds,
    Sigma,
    Value,
    duplicates,
    names_of,
)
from linewatch.pipeline.strict import Strict as _Strict
from linewatch.pipeline.yamlfile import YamlFileError, read_yaml_file

__all__ = [
    "AlertingConfig",
    "CharacteristicConfig",
    "CheckpointConfig",
    "Config",
    "ConfigError",
    "FileSourceConfig",
    "LineConfig",
    "ParameterConfig",
    "PlausibleRange",
    "QuarantineConfig",
    "SimulatorSourceConfig",
    "StationConfig",
    "StreamCheck",
    "StreamSpec",
    "load_config",
    "parse_config",
]

ChartType = Literal[
    "imr", "xbar-r", "xbar-s", "p", "np", "c", "u", "laney-p", "laney-u", "cusum", "ewma", "zmr"
]
ParameterChartType = Literal["imr", "xbar-r", "xbar-s", "cusum", "ewma"]
ATTRIBUTE_CHARTS = frozenset({"p", "np", "c", "u", "laney-p", "laney-u"})
SUBGROUP_CHARTS = frozenset({"xbar-r", "xbar-s"})
SIGMA_METHODS: dict[str, frozenset[str]] = {
    "imr": frozenset({"mr", "median_mr", "overall"}),
    "xbar-r": frozenset({"rbar", "sbar", "pooled", "overall"}),
    "xbar-s": frozenset({"rbar", "sbar", "pooled", "overall"}),
    "cusum": frozenset({"mr", "overall", "rbar", "sbar", "pooled"}),
    "ewma": frozenset({"mr", "overall", "rbar", "sbar", "pooled"}),
    "zmr": frozenset({"by_part", "pooled"}),
}
Identifier = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^/\s]+$")]
RulePreset = Literal["nelson", "western_electric", "test1", "none"]


class ConfigError(ValueError):
    """A configuration that cannot be used; the message lists every bad key by path."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration:\n" + "\n".join(f"  {p}" for p in self.problems))


class RulesConfig(_Strict):
    """Which Nelson tests run (1-8), and their K where it differs from Minitab's default."""

    tests: list[Annotated[int, Field(ge=1, le=8)]]
    # test 1's K is in sigmas; the others count points in a row
    k: dict[Annotated[int, Field(ge=1, le=8)], Annotated[float, Field(gt=0.0, le=1000.0)]] = Field(
        default_factory=dict
    )
    _checks = ("_whole_counts",)

    def _whole_counts(self) -> Iterator[str]:
        for test, value in self.k.items():
            if test != 1 and value != int(value):
                yield f"k of test {test} counts points: a whole number, got {value}"


class FrozenLimits(_Strict):
    """Limits given instead of estimated: the chart starts in phase II.

    ``center``/``sigma`` are the process mean and sigma for variables charts (the target
    and sigma for CUSUM/EWMA); for attribute charts ``center`` is p-bar (p, np, Laney p')
    or the mean count per unit (c, u, Laney u') and ``sigma`` is not used. Records older
    than ``effective_from`` are not charted against them (see the README).
    """

    center: Value
    sigma: Sigma | None = None
    effective_from: AwareDatetime | None = None


class CusumConfig(_Strict):
    """Reference value k and decision interval h, both in sigmas."""

    k: Annotated[float, Field(ge=0.0, le=10.0)] = 0.5
    h: Annotated[float, Field(gt=0.0, le=100.0)] = 5.0
    headstart: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0


class EwmaConfig(_Strict):
    lam: Annotated[float, Field(ge=0.001, le=1.0, alias="lambda")] = 0.2
    L: Annotated[float, Field(gt=0.0, le=10.0)] = 3.0

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )


class CapabilityConfig(_Strict):
    """Rolling capability (Cp, Cpk, Pp, Ppk) over tumbling windows, emitted as KPIs."""

    window: Annotated[int, Field(ge=3, le=COUNT_MAX)] = 100
    alpha: Alpha = 0.05


class PlausibleRange(_Strict):
    """Values outside ``[min, max]`` are dead letters (``implausible value``), never charted."""

    min: Value
    max: Value

    _checks = ("_ordered",)

    def _ordered(self) -> Iterator[str]:
        if self.min >= self.max:
            yield f"plausible min ({self.min}) must be below max ({self.max})"


class _Charted(_Strict):
    """What every charted stream shares: limits, rules, sigma estimation, chart options."""

    # d2, d3 (range charts) are tabulated up to 50
    subgroup_size: Annotated[int, Field(ge=1, le=50)] = 1
    phase1: Annotated[int, Field(ge=2, le=COUNT_MAX)] = 25
    phase1_passes: Annotated[int, Field(ge=0, le=10)] = 0
    sigma: str | None = None
    k_sigma: Annotated[float, Field(gt=0.0, le=10.0)] = 3.0
    rules: RulePreset | RulesConfig = "test1"
    dispersion_rules: RulePreset | RulesConfig = "test1"
    limits: FrozenLimits | None = None
    cusum: CusumConfig = Field(default_factory=CusumConfig)
    ewma: EwmaConfig = Field(default_factory=EwmaConfig)
    unit: str = ""
    # The value guard (pipeline/engine.py): a hard range, and a bound in sigmas of the
    # established process (null: off). Far above any chart's limits: it is for garbage.
    plausible: PlausibleRange | None = None
    implausible_sigma: Annotated[float, Field(ge=6.0, le=1e6)] | None = 50.0

    def _subgroup_fits_chart(self) -> Iterator[str]:
        chart: str = self.chart  # type: ignore[attr-defined]  # each subclass has one
        if chart in SUBGROUP_CHARTS and self.subgroup_size < 2:
            yield f"chart {chart!r} needs subgroup_size of at least 2"
        if chart in ("imr", "zmr") and self.subgroup_size != 1:
            yield f"chart {chart!r} charts individual values: subgroup_size 1"

    def _sigma_fits_chart(self) -> Iterator[str]:
        chart: str = self.chart  # type: ignore[attr-defined]  # each subclass has one
        methods = SIGMA_METHODS.get(chart, frozenset())
        if self.sigma is not None and self.sigma not in methods:
            expected = ", ".join(sorted(methods)) or "none (this chart has no sigma estimator)"
            yield f"sigma {self.sigma!r} does not fit chart {chart!r}: use {expected}"


class CharacteristicConfig(_Charted):
    """One measured quality characteristic and how it is charted."""

    name: Identifier
    chart: ChartType = "imr"
    lsl: Value | None = None
    usl: Value | None = None
    target: Value | None = None
    capability: CapabilityConfig | None = None
    parts: dict[str, FrozenLimits] = Field(default_factory=dict)
    _checks = (
        "_specs_ordered",
        "_capability_has_specs",
        "_parts_fit_chart",
        "_subgroup_fits_chart",
        "_sigma_fits_chart",
    )

    def _specs_ordered(self) -> Iterator[str]:
        if self.lsl is not None and self.usl is not None and self.lsl >= self.usl:
            yield f"lsl ({self.lsl}) must be below usl ({self.usl})"
        if self.target is not None:
            if self.lsl is not None and self.target < self.lsl:
                yield f"target ({self.target}) is below lsl ({self.lsl})"
            if self.usl is not None and self.target > self.usl:
                yield f"target ({self.target}) is above usl ({self.usl})"

    def _capability_has_specs(self) -> Iterator[str]:
        if self.capability is not None and self.lsl is None and self.usl is None:
            yield "capability needs lsl or usl"

    def _plausible_fits_chart(self) -> Iterator[str]:
        if self.plausible is not None and self.chart in ATTRIBUTE_CHARTS:
            yield f"plausible applies to measured values, not to chart {self.chart!r}"

    def _parts_fit_chart(self) -> Iterator[str]:
        if self.parts and self.chart != "zmr":
            yield "parts (per-part target and sigma) go with chart 'zmr'"


class ParameterConfig(_Charted):
    """An equipment parameter and the chart that watches it."""

    equipment: Identifier
    name: Identifier
    chart: ParameterChartType = "imr"
    phase1: Annotated[int, Field(ge=2, le=COUNT_MAX)] = 50
    _checks = ("_subgroup_fits_chart", "_sigma_fits_chart")


class MultivariateConfig(_Strict):
    """Hotelling T² over a vector of a station's equipment parameters, one vector per part."""

    name: Identifier
    parameters: list[Annotated[str, Field(pattern=r"^[^/\s]+/[^/\s]+$")]] = Field(
        min_length=2, max_length=100
    )
    phase1: Annotated[int, Field(ge=3, le=COUNT_MAX)] = 50
    alpha: Alpha = 0.0027
    phase1_passes: Annotated[int, Field(ge=0, le=10)] = 0
    _checks = ("_enough_phase1",)

    def _enough_phase1(self) -> Iterator[str]:
        if self.phase1 < len(self.parameters) + 2:
            yield (
                f"phase1 must be at least parameters + 2 = "
                f"{len(self.parameters) + 2}, got {self.phase1}"
            )


class StationConfig(_Strict):
    name: Identifier
    characteristics: list[CharacteristicConfig] = Field(default_factory=list)
    parameters: list[ParameterConfig] = Field(default_factory=list)
    multivariate: list[MultivariateConfig] = Field(default_factory=list)
    models: list[ModelConfig] = Field(default_factory=list)  # pipeline/model_config.py
    kpi_window_s: Annotated[float, Field(ge=1.0, le=YEAR_S)] = 3600.0
    kpi_every_s: Annotated[float, Field(ge=1.0, le=YEAR_S)] = 900.0
    _checks = ("_unique_characteristics", "_unique_parameters", "_unique_group_members")

    def _unique_characteristics(self) -> Iterator[str]:
        characteristics = names_of(self.characteristics, "name")
        yield from duplicates(characteristics, "characteristic")
        yield from duplicates(
            characteristics + names_of(self.multivariate, "name"),
            "characteristic or multivariate group",
            skip_first=len(characteristics),
        )

    def _unique_parameters(self) -> Iterator[str]:
        yield from duplicates(names_of(self.parameters, "equipment", "name"), "parameter")

    def _unique_group_members(self) -> Iterator[str]:
        for group in self.multivariate:
            yield from duplicates(
                getattr(group, "parameters", []),
                f"parameter in multivariate group {getattr(group, 'name', '?')!r}",
            )


class LineConfig(_Strict):
    name: Identifier
    stations: list[StationConfig]
    _checks = ("_unique_stations",)

    def _unique_stations(self) -> Iterator[str]:
        yield from duplicates(names_of(self.stations, "name"), "station")


class FileSourceConfig(_Strict):
    """Records from a file in the wire format: JSONL, CSV or Parquet (``.gz`` for text)."""

    type: Literal["file"]
    path: Path
    format: Literal["auto", "jsonl", "csv", "parquet"] = "auto"
    batch_size: Count = 1000


class SimulatorSourceConfig(_Strict):
    """Records made on the fly by the simulator from the ``simulation`` section."""

    type: Literal["simulator"]
    minutes: Annotated[float, Field(gt=0.0, le=YEAR_S / 60)] = 60.0
    batch_size: Count = 1000


KafkaBootstrap = Annotated[str, Field(min_length=3, pattern=r"^[^\s/]+:\d+(,[^\s/]+:\d+)*$")]


class KafkaSourceConfig(_Strict):
    """Wire records from Kafka topics, in a consumer group, committed by hand.

    All input topics must have the same number of partitions (co-partitioned by the
    ``line/station`` key), as a Kafka Streams join requires.
    """

    type: Literal["kafka"]
    bootstrap: KafkaBootstrap
    topics: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    group_id: Annotated[str, Field(min_length=1)] = "linewatch"
    batch_size: Count = 5000
    idle_exit_s: Period | None = None
    consumer: dict[str, Any] = Field(default_factory=dict)


InfluxUrl = Annotated[str, Field(pattern=r"^influxs?://")]


class InfluxSourceConfig(_Strict):
    """Raw records of ``[start, stop)`` read back from InfluxDB, in time order, in pages."""

    type: Literal["influx"]
    url: InfluxUrl
    start: AwareDatetime
    stop: AwareDatetime
    page_size: Count = 5000
    batch_size: Count = 1000
    _checks = ("_ordered",)

    def _ordered(self) -> Iterator[str]:
        if self.stop <= self.start:
            yield f"stop ({self.stop.isoformat()}) must be after start"


SourceConfig = Annotated[
    FileSourceConfig | SimulatorSourceConfig | KafkaSourceConfig | InfluxSourceConfig,
    Field(discriminator="type"),
]

OutputKind = Literal["alerts", "points", "kpis", "model_scores", "records"]
SeverityName = Literal["critical", "warning", "info"]


def _alerts_only() -> list[OutputKind]:
    return ["alerts"]


def _derived_outputs() -> list[OutputKind]:
    return ["alerts", "points", "kpis"]


def _default_severities() -> dict[str, SeverityName]:
    return {"nelson1": "critical"}


class JsonlSinkConfig(_Strict):
    """Appends outputs to a JSON-lines file, one object per line."""

    type: Literal["jsonl"]
    path: Path
    outputs: list[OutputKind] = Field(default_factory=_alerts_only)


class ConsoleSinkConfig(_Strict):
    """Prints alerts as they fire (``run``) or as a table at the end (``replay``)."""

    type: Literal["console"]
    outputs: list[OutputKind] = Field(default_factory=_alerts_only)


class KafkaSinkConfig(_Strict):
    """Alerts to a topic keyed by fingerprint; chart points to another topic, optionally."""

    type: Literal["kafka"]
    bootstrap: KafkaBootstrap
    alerts_topic: str = "linewatch-alerts"
    points_topic: str | None = None
    outputs: list[OutputKind] = Field(default_factory=_alerts_only)
    producer: dict[str, Any] = Field(default_factory=dict)


class InfluxSinkConfig(_Strict):
    """Writes outputs (and raw records, for replay) to InfluxDB; never drops a point.

    ``url`` is ``influx://[user:password@]HOST:PORT/DB[?rp=..&api=v1|v2&token=..&org=..]``
    (``influxs://`` for https). While the server is away, batches go to a bounded on-disk
    spool; when it is full, the runner stops polling and does not commit.
    """

    type: Literal["influx"]
    url: InfluxUrl
    outputs: list[OutputKind] = Field(default_factory=_derived_outputs)
    batch_size: Count = 5000
    spool_dir: Path | None = None
    spool_max_mb: Annotated[float, Field(gt=0.0, le=1e7)] = 256.0
    retry_for_s: Annotated[float, Field(gt=0.0, le=7 * 24 * 3600.0)] = 10.0


SinkConfig = Annotated[
    JsonlSinkConfig | ConsoleSinkConfig | KafkaSinkConfig | InfluxSinkConfig,
    Field(discriminator="type"),
]


class JsonlDeadLetterConfig(_Strict):
    """Dead letters in a JSON-lines file, each with its reason and original payload."""

    type: Literal["jsonl"] = "jsonl"
    path: Path = Path("out/dead-letters.jsonl")


class KafkaDeadLetterConfig(_Strict):
    """Dead letters to a topic: original key, bytes and headers, plus reason headers."""

    type: Literal["kafka"]
    bootstrap: KafkaBootstrap
    topic: str = "linewatch-dead-letters"


def _dead_letter_type(value: Any) -> str:
    if isinstance(value, Mapping):
        return str(value.get("type", "jsonl"))
    return str(getattr(value, "type", "jsonl"))


DeadLetterConfig = Annotated[
    Annotated[JsonlDeadLetterConfig, Tag("jsonl")] | Annotated[KafkaDeadLetterConfig, Tag("kafka")],
    Discriminator(_dead_letter_type),
]


class KafkaStateConfig(_Strict):
    """Detector state in a compacted changelog topic, restorable by any worker."""

    type: Literal["kafka"]
    bootstrap: KafkaBootstrap
    topic: str = "linewatch-state"


class AlertingConfig(_Strict):
    """Alert lifecycle: dedup by fingerprint, resolve after enough clean points."""

    resolve_after_points: Count = 10
    severity: dict[str, SeverityName] = Field(default_factory=_default_severities)
    default_severity: SeverityName = "warning"


class CheckpointConfig(_Strict):
    """How often the runner flushes sinks, snapshots state and commits the source."""

    every_records: Annotated[int, Field(ge=1, le=1_000_000_000)] = 50_000
    every_seconds: Period = 5.0
    state_dir: Path | None = None
    changelog: KafkaStateConfig | None = None


class LatenessConfig(_Strict):
    """A record older than its stream's newest by more than this is a dead letter."""

    allowed_lateness_s: Seconds = 300.0
    #: A record this far ahead of its line/station's recent median timestamp is a dead
    #: letter (``future timestamp``) until ``reanchor_after`` such records in a row agree.
    allowed_future_s: Annotated[float, Field(gt=0.0, le=1e9)] = 86_400.0
    reanchor_after: Annotated[int, Field(ge=2, le=1000)] = 5


class QuarantineConfig(_Strict):
    """Records whose processing raised: dead letters, until too many say it is a bug."""

    max_failures: Annotated[int, Field(ge=1, le=1_000_000)] = 100
    window_records: Annotated[int, Field(ge=1, le=100_000_000)] = 10_000


class Config(_Strict):
    """The whole configuration of a Linewatch job."""

    version: Literal[1] = 1
    lines: list[LineConfig]
    source: SourceConfig | None = None
    sinks: list[SinkConfig] = Field(default_factory=list)
    dead_letters: DeadLetterConfig = Field(default_factory=JsonlDeadLetterConfig)
    alerting: AlertingConfig = Field(default_factory=AlertingConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    lateness: LatenessConfig = Field(default_factory=LatenessConfig)
    quarantine: QuarantineConfig = Field(default_factory=QuarantineConfig)
    # the simulator's own spec type: validated straight into it, no mirrored config class
    simulation: Simulation | None = None
    report_path: Path | None = None
    _checks = ("_unique_lines", "_simulator_has_simulation", "_changelog_has_kafka")

    def _unique_lines(self) -> Iterator[str]:
        yield from duplicates(names_of(self.lines, "name"), "line")

    def _simulator_has_simulation(self) -> Iterator[str]:
        if isinstance(self.source, SimulatorSourceConfig) and self.simulation is None:
            yield "source type 'simulator' needs a 'simulation' section"

    def _changelog_has_kafka(self) -> Iterator[str]:
        if self.checkpoint.changelog is not None and not isinstance(self.source, KafkaSourceConfig):
            yield "checkpoint.changelog needs a kafka source"


# -- error paths -----------------------------------------------------------------------


def _yaml_path(loc: Sequence[int | str], data: Any) -> tuple[str, list[int | str]]:
    """``lines[0].chart`` from pydantic's loc; drops union-tag steps absent from the data."""
    text = ""
    steps: list[int | str] = []
    node = data
    last = len(loc) - 1
    for position, step in enumerate(loc):
        if isinstance(step, int) and isinstance(node, list):
            text += f"[{step}]"
            node = node[step] if step < len(node) else None
            steps.append(step)
        elif isinstance(step, str) and isinstance(node, Mapping) and step in node:
            text += f".{step}" if text else step
            node = node[step]
            steps.append(step)
        elif isinstance(step, str) and position == last and isinstance(node, Mapping):
            # A missing key: name it. Other absent steps are union tags pydantic adds.
            text += f".{step}" if text else step
    return text or "(top level)", steps


def _line_of(root: yaml.Node | None, steps: Sequence[int | str]) -> int | None:
    node = root
    for step in steps:
        if isinstance(node, yaml.MappingNode) and isinstance(step, str):
            # the last of repeated keys is the one whose value is used
            node = next((v for k, v in reversed(node.value) if k.value == step), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            node = node.value[step] if step < len(node.value) else None
        else:
            return None
    return node.start_mark.line + 1 if node is not None else None


def parse_config(
    data: Any, *, source_name: str | None = None, yaml_root: yaml.Node | None = None
) -> Config:
    """Validate plain data as a :class:`Config`; :class:`ConfigError` names every bad path."""
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            path, steps = _yaml_path(error["loc"], data)
            line = _line_of(yaml_root, steps)
            where = f" ({source_name} line {line})" if line and source_name else ""
            message = error["msg"]
            if error["type"] == "unexpected_keyword_argument":  # a dataclass's word for it
                message = "Extra inputs are not permitted"
            if error["type"] not in ("missing", "model_type") and not isinstance(
                error.get("input"), (dict, list)
            ):
                message += f" (got {error.get('input')!r})"
            problems.append(f"{path}{where}: {message}")
        raise ConfigError(problems) from None


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _interpolate(value: Any, path: list[str], missing: list[tuple[str, str]]) -> Any:
    """``${VAR}`` and ``${VAR:-default}`` in strings, from the environment (secrets)."""
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name: str = match.group(1)
            default: str | None = match.group(2)
            found = os.environ.get(name, default)
            if found is None:
                missing.append(("".join(path) or "(top level)", name))
                return ""
            return found

        return _ENV.sub(substitute, value)
    if isinstance(value, dict):
        return {
            k: _interpolate(v, [*path, f".{k}" if path else str(k)], missing)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_interpolate(v, [*path, f"[{i}]"], missing) for i, v in enumerate(value)]
    return value


StreamSpec = CharacteristicConfig | ParameterConfig | MultivariateConfig
#: Builds a stream's detector from its spec; a ``ValueError`` is a setting it refuses.
StreamCheck = Callable[[StreamSpec], object]


def load_config(path: str | Path, *, check_streams: StreamCheck | None = None) -> Config:
    """Read and validate a YAML config file; relative paths in it are taken from its folder.

    Every problem is reported at once, in one :class:`ConfigError`. With ``check_streams``
    (the engine's detector factory), each stream whose own keys are valid is also built,
    so that a setting the chart refuses is reported with the others and its file line.
    """
    file = Path(path)
    try:
        document = read_yaml_file(file)
    except YamlFileError as exc:
        raise ConfigError(exc.problems) from None
    missing: list[tuple[str, str]] = []
    data = _interpolate(document.data, [], missing)
    # Every problem at once: repeated keys, unset variables, then the validation errors.
    problems = document.duplicates + [
        f"{path} ({file.name}): environment variable {name} is not set" for path, name in missing
    ]
    if not isinstance(data, dict):
        problems.append(f"{file}: the top level must be a mapping with a 'lines' key")
        raise ConfigError(problems)
    refused = []
    if check_streams is not None:
        refused = _stream_problems(data, document.root, file.name, check_streams)
    try:
        config = parse_config(data, source_name=file.name, yaml_root=document.root)
    except ConfigError as exc:
        raise ConfigError(problems + exc.problems + refused) from None
    if problems or refused:
        raise ConfigError(problems + refused)
    return _resolve_paths(config, file.parent)


_STREAM_KINDS: tuple[tuple[str, type[_Strict]], ...] = (
    ("characteristics", CharacteristicConfig),
    ("parameters", ParameterConfig),
    ("multivariate", MultivariateConfig),
)


def _items(node: Any, key: str) -> list[Any]:
    value = node.get(key) if isinstance(node, Mapping) else None
    return value if isinstance(value, list) else []


def _stream_problems(
    data: Mapping[str, Any], root: yaml.Node | None, name: str, check: StreamCheck
) -> list[str]:
    """Settings a stream's detector refuses, for every stream that validates on its own."""
    problems = []
    for i, line in enumerate(_items(data, "lines")):
        for j, station in enumerate(_items(line, "stations")):
            for kind, model in _STREAM_KINDS:
                for k, item in enumerate(_items(station, kind)):
                    try:
                        spec = model.model_validate(item)
                    except ValidationError:
                        continue  # its own errors come from the validation of the whole
                    try:
                        check(spec)  # type: ignore[arg-type]
                    except ValueError as exc:
                        number = _line_of(root, ["lines", i, "stations", j, kind, k])
                        where = f" ({name} line {number})" if number else ""
                        problems.append(f"lines[{i}].stations[{j}].{kind}[{k}]{where}: {exc}")
    return problems


def _resolve_paths(config: Config, base: Path) -> Config:
    """Relative paths in a config file are relative to that file, not to the cwd."""

    def fix(p: Path) -> Path:
        return p if p.is_absolute() else base / p

    updates: dict[str, Any] = {}
    if isinstance(config.source, FileSourceConfig):
        updates["source"] = config.source.model_copy(update={"path": fix(config.source.path)})
    return config.model_copy(update=updates)
