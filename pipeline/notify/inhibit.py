"""Inhibition: a firing source alert mutes target alerts that share its ``equal`` labels.

As in Alertmanager, a missing label counts as the empty string (two alerts both without it
are equal on it), an alert never inhibits itself, and an alert matching both sides of a
rule is only muted by sources that do not also match the target side.

>>> from linewatch.pipeline.notify.config import InhibitRuleConfig
>>> rules = Inhibitor([InhibitRuleConfig(source_matchers=["alertname=station_down"],
...     target_matchers=["alertname=~nelson.*"], equal=["line", "station"])])
>>> down = ("a", {"alertname": "station_down", "line": "L3", "station": "weld-2"})
>>> rules.inhibited({"alertname": "nelson2", "line": "L3", "station": "weld-2"}, "b", [down])
True
>>> rules.inhibited({"alertname": "nelson2", "line": "L3", "station": "weld-3"}, "b", [down])
False
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from linewatch.pipeline.notify.config import InhibitRuleConfig
from linewatch.pipeline.notify.matchers import Matcher, all_match, parse_matchers

__all__ = ["Inhibitor"]


@dataclass(frozen=True, slots=True)
class _Rule:
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]


class Inhibitor:
    def __init__(self, rules: Sequence[InhibitRuleConfig]) -> None:
        self.rules = [
            _Rule(
                parse_matchers(r.source_matchers), parse_matchers(r.target_matchers), tuple(r.equal)
            )
            for r in rules
        ]

    def inhibited(
        self,
        labels: Mapping[str, str],
        fingerprint: str,
        firing: Iterable[tuple[str, Mapping[str, str]]],
    ) -> bool:
        """Whether an alert is muted by one of the ``firing`` ``(fingerprint, labels)``."""
        sources = list(firing)
        for rule in self.rules:
            if not all_match(rule.target, labels):
                continue
            two_sided = all_match(rule.source, labels)
            for source_fp, source in sources:
                if source_fp == fingerprint or not all_match(rule.source, source):
                    continue
                if two_sided and all_match(rule.target, source):
                    continue
                if all(source.get(n, "") == labels.get(n, "") for n in rule.equal):
                    return True
        return False
