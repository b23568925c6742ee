"""Sources and sinks by their config ``type``: one registry of type -> (config model, builder).

The config validates ``source:`` and each of ``sinks:`` with the model registered for its
``type`` (an unknown type is one error line naming the known ones), and the job builds
each with the registered builder; nothing dispatches on classes. Adding a sink is its
module plus one :func:`register_sink` call. The built-in types register when
:mod:`linewatch.pipeline.sinks` and :mod:`linewatch.pipeline.job` are imported, which the
lookups here do on first use.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ValidatorFunctionWrapHandler
from pydantic_core import PydanticCustomError

from linewatch.pipeline.models import Sink, Source

__all__ = [
    "Plugin",
    "SinkContext",
    "SourceContext",
    "register_sink",
    "register_source",
    "sink_plugin",
    "sink_types",
    "source_plugin",
    "source_types",
    "validate_sink",
    "validate_source",
]

_BUILT_IN = ("linewatch.pipeline.sinks", "linewatch.pipeline.job")


@dataclass(frozen=True, slots=True)
class SinkContext:
    """What a sink builder may need besides its own config."""

    mode: Literal["run", "replay"]
    out_dir: Path | None = None
    console: Sink | None = None  # the CLI's console sink, when it brings one

    @property
    def append(self) -> bool:
        """``run`` appends to file outputs; ``replay`` starts them afresh."""
        return self.mode == "run"

    def place(self, path: Path) -> Path:
        """An output path: relative ones go to ``out_dir`` (``replay --out``), if given."""
        if self.out_dir is None or path.is_absolute():
            return path
        return self.out_dir / path.name


@dataclass(frozen=True, slots=True)
class SourceContext:
    """What a source builder may need besides its own config."""

    config: Any  # the whole Config (the simulator source reads its ``simulation``)
    resume: dict[str, Any] | None = None  # the source's own snapshot() from the checkpoint
    mode: str = "replay"  # "run" (resumable, may keep a changelog) or "replay"


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Plugin(Generic[T]):
    """One registered type: its config model and how to build it."""

    type_name: str
    model: type[BaseModel]
    build: Callable[[Any, Any], T]


_SINKS: dict[str, Plugin[Sink]] = {}
_SOURCES: dict[str, Plugin[Source]] = {}


def _load_built_in() -> None:
    for name in _BUILT_IN:
        if name not in sys.modules:
            importlib.import_module(name)


def register_sink(
    type_name: str, model: type[BaseModel], build: Callable[[Any, SinkContext], Sink]
) -> None:
    """Make ``sinks: [{type: type_name, ...}]`` validate with ``model`` and build with ``build``."""
    _SINKS[type_name] = Plugin(type_name, model, build)


def register_source(
    type_name: str, model: type[BaseModel], build: Callable[[Any, SourceContext], Source]
) -> None:
    """Make ``source: {type: type_name, ...}`` validate with ``model`` and build with ``build``."""
    _SOURCES[type_name] = Plugin(type_name, model, build)


def sink_types() -> tuple[str, ...]:
    _load_built_in()
    return tuple(_SINKS)


def source_types() -> tuple[str, ...]:
    _load_built_in()
    return tuple(_SOURCES)


def sink_plugin(type_name: str) -> Plugin[Sink]:
    _load_built_in()
    return _SINKS[type_name]


def source_plugin(type_name: str) -> Plugin[Source]:
    _load_built_in()
    return _SOURCES[type_name]


def _by_type(value: Any, registry: Mapping[str, Plugin[Any]]) -> Any:
    if isinstance(value, BaseModel):
        return value
    if not isinstance(value, Mapping):
        raise PydanticCustomError(
            "model_attributes_type",
            "Input should be a valid dictionary or object to extract fields from",
        )
    if "type" not in value:
        raise PydanticCustomError("union_tag_not_found", "a 'type' is required")
    tag = value["type"]
    plugin = registry.get(tag) if isinstance(tag, str) else None
    if plugin is None:
        expected = ", ".join(repr(t) for t in registry)
        # pydantic's own words for an unknown discriminator
        raise PydanticCustomError(
            "union_tag_invalid",
            "Input tag {tag} found using 'type' does not match any of the expected tags: "
            "{expected}",
            {"tag": repr(tag), "expected": expected},
        )
    return plugin.model.model_validate(value)


def validate_sink(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """A sink config, validated by the model of its ``type``."""
    _load_built_in()
    return _by_type(value, _SINKS)


def validate_source(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """A source config, validated by the model of its ``type``."""
    _load_built_in()
    return _by_type(value, _SOURCES)
