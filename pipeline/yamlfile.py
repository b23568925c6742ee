"""Reading a YAML config file strictly: UTF-8 only, no duplicate keys, errors name file lines.

PyYAML lets the last of two equal keys win and names a string input ``<unicode string>``;
a config that silently loses a setting is worse than one that fails, so both are errors:

>>> read_yaml_text("a: 1\\nb: {c: 2, c: 3}\\n", "plant.yaml").duplicates
["b.c (plant.yaml lines 2 and 2): duplicate key 'c'"]
>>> read_yaml_text("a: [1\\n", "plant.yaml").data
Traceback (most recent call last):
...
linewatch.pipeline.yamlfile.YamlFileError: plant.yaml line 2 column 1: not valid YAML: expected ',' or ']', but got '<stream end>' (while parsing a flow sequence, plant.yaml line 1 column 4)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["YamlDocument", "YamlFileError", "read_yaml_file", "read_yaml_text"]

_MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlFileError(ValueError):
    """A file that is not readable UTF-8 YAML; one line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """The plain data of a YAML file, its node tree (for file lines of YAML paths) and
    its repeated keys, one problem each (the caller reports them with its other problems).
    """

    data: Any
    root: yaml.Node | None
    duplicates: list[str]


def read_yaml_file(path: Path) -> YamlDocument:
    """Read, decode (UTF-8, an optional BOM) and parse one YAML file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise YamlFileError([f"{path}: cannot read: {exc.strerror}"]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise YamlFileError(
            [
                f"{path} line {line} column {column}: not UTF-8: byte "
                f"0x{raw[exc.start]:02x} at offset {exc.start}; save the file as UTF-8"
            ]
        ) from None
    return read_yaml_text(text, str(path), short_name=path.name)


def read_yaml_text(text: str, name: str, short_name: str | None = None) -> YamlDocument:
    """Parse YAML text; ``name`` is used in every error (the file, not ``<unicode string>``).

    Repeated keys are named by YAML path and ``short_name`` lines, as validation errors are.
    """
    loader = yaml.SafeLoader(text)
    loader.name = name  # marks name the file
    try:
        root = loader.get_single_node()
        duplicates: list[str] = []
        if root is not None:
            _find_duplicates(root, "", short_name or name, duplicates, set())
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        raise YamlFileError([_describe(exc, name)]) from None
    except yaml.YAMLError as exc:
        raise YamlFileError([f"{name}: not valid YAML: {exc}"]) from None
    finally:
        loader.dispose()
    return YamlDocument(data, root, duplicates)


def _describe(exc: yaml.MarkedYAMLError, name: str) -> str:
    """One line: where, what, and the context PyYAML gives (``while parsing ...``)."""
    mark = exc.problem_mark or exc.context_mark
    where = f"{name} line {mark.line + 1} column {mark.column + 1}" if mark else name
    message = f"{where}: not valid YAML: {exc.problem or exc.context or 'syntax error'}"
    if exc.context and exc.problem:
        context = exc.context
        if exc.context_mark is not None:
            at = exc.context_mark
            context += f", {name} line {at.line + 1} column {at.column + 1}"
        message += f" ({context})"
    return " ".join(message.split())


def _find_duplicates(
    node: yaml.Node, path: str, name: str, found: list[str], visited: set[int]
) -> None:
    if id(node) in visited:  # an alias: already checked where its anchor is
        return
    visited.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first_seen: dict[tuple[str, str], yaml.Node] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == _MERGE_TAG:
                _find_duplicates(value, path, name, found, visited)
                continue
            here = f"{path}.{key.value}" if path else str(key.value)
            earlier = first_seen.setdefault((key.tag, key.value), key)
            if earlier is not key:
                found.append(
                    f"{here} ({name} lines {earlier.start_mark.line + 1} and "
                    f"{key.start_mark.line + 1}): duplicate key {key.value!r}"
                )
            _find_duplicates(value, here, name, found, visited)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _find_duplicates(item, f"{path}[{index}]", name, found, visited)
