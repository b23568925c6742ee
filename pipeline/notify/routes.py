"""Alertmanager's route tree: the deepest matching routes, ``continue``, inherited settings.

>>> from linewatch.pipeline.notify.config import RootRouteConfig
>>> tree = Route.build(RootRouteConfig(receiver="ops", group_by=["line"], routes=[
...     {"matchers": ["severity=critical"], "receiver": "pager", "continue": True},
...     {"matchers": ["line=L3"], "receiver": "l3-lead", "group_wait": 5}]))
>>> [(r.receiver, r.group_by, r.group_wait) for r in tree.match({"severity": "critical", "line": "L3"})]
[('pager', ('line',), 30.0), ('l3-lead', ('line',), 5.0)]
>>> [r.key for r in tree.match({"line": "L4"})]
['{}']
>>> tree.match({"severity": "critical", "line": "L3"})[1].key
'{}/{line="L3"}'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from linewatch.pipeline.notify.config import RouteConfig
from linewatch.pipeline.notify.matchers import Matcher, all_match, parse_matchers

__all__ = ["Route"]

#: ``group_by: ['...']`` groups by all labels (every distinct label set is its own group).
GROUP_BY_ALL = "..."


@dataclass(frozen=True, slots=True)
class Route:
    key: str
    receiver: str
    matchers: tuple[Matcher, ...]
    group_by: tuple[str, ...]
    group_wait: float
    group_interval: float
    repeat_interval: float
    continue_: bool
    children: tuple[Route, ...]

    @classmethod
    def build(cls, config: RouteConfig, parent: Route | None = None) -> Route:
        matchers = parse_matchers(config.matchers)
        if parent is None:
            key = "{}"
        else:
            key = parent.key + "/{" + ",".join(str(m) for m in matchers) + "}"

        def inherit(own: float | None, parents: float) -> float:
            return parents if own is None else own

        receiver = config.receiver or (parent.receiver if parent else "")
        route = cls(
            key=key,
            receiver=receiver,
            matchers=matchers,
            group_by=tuple(config.group_by)
            if config.group_by is not None
            else (parent.group_by if parent else ()),
            group_wait=inherit(config.group_wait, parent.group_wait if parent else 30.0),
            group_interval=inherit(
                config.group_interval, parent.group_interval if parent else 300.0
            ),
            repeat_interval=inherit(
                config.repeat_interval, parent.repeat_interval if parent else 14400.0
            ),
            continue_=config.continue_,
            children=(),
        )
        children = tuple(cls.build(child, route) for child in config.routes)
        object.__setattr__(route, "children", children)
        return route

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The routes an alert with ``labels`` goes to (the root matches everything)."""
        if not all_match(self.matchers, labels):
            return []
        found: list[Route] = []
        for child in self.children:
            hits = child.match(labels)
            found.extend(hits)
            if hits and not child.continue_:
                break
        return found or [self]

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        """The labels that make an alert's group on this route (only those it has)."""
        if GROUP_BY_ALL in self.group_by:
            return dict(labels)
        return {name: labels[name] for name in self.group_by if name in labels}
