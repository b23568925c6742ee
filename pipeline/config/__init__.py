"""The YAML configuration, validated with pydantic v2, one module per section.

Every model forbids unknown keys, so a typo fails at start instead of being ignored.
:func:`load_config` turns pydantic's error locations into YAML paths with file lines:

    lines[0].stations[1].characteristics[2].chart (plant.yaml line 31): Input should be 'imr'

The sections: :mod:`.charts` (what a charted stream takes), :mod:`.lines` (lines and
stations), :mod:`.sources`, :mod:`.sinks`, :mod:`.runtime` (alerting, checkpoints,
lateness, quarantine), :mod:`.root` (the whole :class:`Config`) and :mod:`.load` (reading
and error paths). Every public name is importable from here.

>>> cfg = parse_config({"lines": [{"name": "L3", "stations": [{"name": "weld-2",
...     "characteristics": [{"name": "nugget_dia_mm", "chart": "imr"}]}]}]})
>>> cfg.lines[0].stations[0].characteristics[0].phase1
25
>>> parse_config({"lines": [{"name": "L3", "stations": [{"name": "weld-2",
...     "characteristics": [{"name": "d", "chart": "imx"}]}]}]})
Traceback (most recent call last):
...
linewatch.pipeline.config.load.ConfigError: invalid configuration:
  lines[0].stations[0].characteristics[0].chart: Input should be 'imr', 'xbar-r', 'xbar-s', 'p', 'np', 'c', 'u', 'laney-p', 'laney-u', 'cusum', 'ewma', 'zmr', 'g', 't' or 'ar1' (got 'imx')
"""

from linewatch.pipeline.config.charts import (
    CapabilityConfig,
    CharacteristicChart,
    CharacteristicConfig,
    Convention,
    CusumConfig,
    EwmaConfig,
    FrozenLimits,
    Identifier,
    MultivariateConfig,
    ParameterChart,
    ParameterConfig,
    PlausibleRange,
    RulesConfig,
    RulesSpec,
)
from linewatch.pipeline.config.lines import (
    LineConfig,
    StationConfig,
)
from linewatch.pipeline.config.load import (
    ConfigError,
    StreamCheck,
    StreamSpec,
    load_config,
    parse_config,
)
from linewatch.pipeline.config.root import (
    Config,
)
from linewatch.pipeline.config.runtime import (
    AlertingConfig,
    CheckpointConfig,
    KafkaStateConfig,
    LatenessConfig,
    MetricsConfig,
    QuarantineConfig,
    SeverityName,
)
from linewatch.pipeline.config.sinks import (
    ConsoleSinkConfig,
    CsvScoresSinkConfig,
    DeadLetterConfig,
    InfluxSinkConfig,
    JsonlDeadLetterConfig,
    JsonlSinkConfig,
    KafkaDeadLetterConfig,
    KafkaSinkConfig,
    OutputKind,
    SinkConfig,
)
from linewatch.pipeline.config.sources import (
    FileSourceConfig,
    InfluxSourceConfig,
    InfluxUrl,
    KafkaBootstrap,
    KafkaSourceConfig,
    SimulatorSourceConfig,
    SourceConfig,
)
from linewatch.pipeline.strict import Strict as _Strict  # noqa: F401  (the models' base)

__all__ = [
    "AlertingConfig",
    "CapabilityConfig",
    "CharacteristicChart",
    "CharacteristicConfig",
    "CheckpointConfig",
    "Config",
    "ConfigError",
    "ConsoleSinkConfig",
    "Convention",
    "CsvScoresSinkConfig",
    "CusumConfig",
    "DeadLetterConfig",
    "EwmaConfig",
    "FileSourceConfig",
    "FrozenLimits",
    "Identifier",
    "InfluxSinkConfig",
    "InfluxSourceConfig",
    "InfluxUrl",
    "JsonlDeadLetterConfig",
    "JsonlSinkConfig",
    "KafkaBootstrap",
    "KafkaDeadLetterConfig",
    "KafkaSinkConfig",
    "KafkaSourceConfig",
    "KafkaStateConfig",
    "LatenessConfig",
    "LineConfig",
    "MetricsConfig",
    "MultivariateConfig",
    "OutputKind",
    "ParameterChart",
    "ParameterConfig",
    "PlausibleRange",
    "QuarantineConfig",
    "RulesConfig",
    "RulesSpec",
    "SeverityName",
    "SimulatorSourceConfig",
    "SinkConfig",
    "SourceConfig",
    "StationConfig",
    "StreamCheck",
    "StreamSpec",
    "load_config",
    "parse_config",
]
