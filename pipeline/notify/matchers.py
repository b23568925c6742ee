"""Alertmanager label matchers: ``name=value``, ``!=``, ``=~`` and ``!~`` (anchored regex).

A label an alert does not have matches as the empty string, as in Alertmanager.

>>> m = Matcher.parse('rule=~"nelson[1-4]"')
>>> m.matches({"rule": "nelson2"}), m.matches({"rule": "nelson12"})
(True, False)
>>> Matcher.parse("station!=weld-2").matches({})
True
>>> str(Matcher.parse(' line = "L3" '))
'line="L3"'
>>> Matcher.parse("line")
Traceback (most recent call last):
...
ValueError: matcher 'line' is not name=value, name!=value, name=~regex or name!~regex
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Matcher", "all_match", "parse_matchers"]

Op = Literal["=", "!=", "=~", "!~"]
_FORM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: Op
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, text: str) -> Matcher:
        found = _FORM.match(text)
        if found is None:
            raise ValueError(
                f"matcher {text!r} is not name=value, name!=value, name=~regex or name!~regex"
            )
        name, op, value = found.groups()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace('\\"', '"')
        return cls.of(name, op, value)  # type: ignore[arg-type]

    @classmethod
    def of(cls, name: str, op: Op, value: str) -> Matcher:
        regex = None
        if op in ("=~", "!~"):
            try:
                regex = re.compile(value)
            except re.error as exc:
                raise ValueError(f"matcher {name}{op}{value!r}: bad regex ({exc})") from None
        return cls(name, op, value, regex)

    def matches(self, labels: Mapping[str, str]) -> bool:
        got = labels.get(self.name, "")
        if self.op == "=":
            return got == self.value
        if self.op == "!=":
            return got != self.value
        assert self._regex is not None
        hit = self._regex.fullmatch(got) is not None
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        escaped = self.value.replace('"', '\\"')
        return f'{self.name}{self.op}"{escaped}"'


def parse_matchers(texts: Iterable[str]) -> tuple[Matcher, ...]:
    return tuple(Matcher.parse(text) for text in texts)


def all_match(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)
