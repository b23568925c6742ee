"""Reading a config: YAML file, ``${VAR}`` interpolation, validation, error paths.

Pydantic's error locations become YAML paths with file lines:

    lines[0].stations[1].characteristics[2].chart (plant.yaml line 31): Input should be 'imr'
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    ValidationError,
)

from linewatch.pipeline.config.charts import (
    CharacteristicConfig,
    MultivariateConfig,
    ParameterConfig,
)
from linewatch.pipeline.config.root import Config
from linewatch.pipeline.config.sources import FileSourceConfig
from linewatch.pipeline.strict import Strict as _Strict
from linewatch.pipeline.yamlfile import YamlFileError, read_yaml_file

__all__ = [
    "ConfigError",
    "StreamCheck",
    "StreamSpec",
    "load_config",
    "parse_config",
]


class ConfigError(ValueError):
    """A configuration that cannot be used; the message lists every bad key by path."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration:\n" + "\n".join(f"  {p}" for p in self.problems))


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
    if config.limits is not None:
        updates["limits"] = fix(config.limits)
    return config.model_copy(update=updates)
