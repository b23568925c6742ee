"""Building blocks of the Grafana boards: datasource input, variables, targets, panels.

Every board names its datasource through the dashboard input ``DS_LINEWATCH`` (Grafana's
``__inputs``: the import dialog asks which InfluxDB to use and substitutes it) and a
datasource-type template variable of the same name (file provisioning and ``dashboards
push`` have no import step: there ``${DS_LINEWATCH}`` resolves through the variable, which
defaults to the default InfluxDB datasource). No board holds a datasource uid.

>>> board = with_datasource_input({"uid": "x", "panels": [], "templating": {"list": []}})
>>> board["__inputs"][0]["name"], board["templating"]["list"][0]["type"]
('DS_LINEWATCH', 'datasource')
>>> with_datasource_input(board) == board  # idempotent
True
"""

from __future__ import annotations

import re
from typing import Any

from linewatch.pipeline.models import STORAGE_SCHEMA

__all__ = [
    "DATASOURCE",
    "DATASOURCE_INPUT",
    "SCHEMA_VERSION",
    "check_queries",
    "panel",
    "table_target",
    "target",
    "variable",
    "with_datasource_input",
]

#: The dashboard input (and template variable) that stands for the InfluxDB datasource.
DATASOURCE_INPUT = "DS_LINEWATCH"
DATASOURCE = {"type": "influxdb", "uid": "${" + DATASOURCE_INPUT + "}"}
SCHEMA_VERSION = 39


def variable(
    name: str, measurement: str, depends: tuple[str, ...] = (), *, multi: bool = False
) -> dict[str, Any]:
    """A query variable listing the values of tag ``name``, filtered by the ``depends`` tags."""
    where = " AND ".join(f'"{d}" =~ /^${d}$/' for d in depends)
    query = f'SHOW TAG VALUES FROM "{measurement}" WITH KEY = "{name}"'
    if where:
        query += f" WHERE {where}"
    return {
        "name": name,
        "label": name,
        "type": "query",
        "datasource": DATASOURCE,
        "query": query,
        "refresh": 2,
        "includeAll": multi,
        "multi": multi,
        "sort": 1,
    }


def target(ref: str, query: str, alias: str = "") -> dict[str, Any]:
    """A raw InfluxQL target drawn as time series."""
    return {
        "refId": ref,
        "datasource": DATASOURCE,
        "rawQuery": True,
        "query": query,
        "resultFormat": "time_series",
        "alias": alias,
    }


def table_target(ref: str, query: str) -> dict[str, Any]:
    """A raw InfluxQL target returned as a table (bar charts, tables)."""
    return {**target(ref, query), "resultFormat": "table"}


def panel(
    number: int,
    title: str,
    kind: str,
    targets: list[dict[str, Any]],
    grid: tuple[int, int, int, int],
    **options: Any,
) -> dict[str, Any]:
    x, y, w, h = grid
    return {
        "id": number,
        "title": title,
        "type": kind,
        "datasource": DATASOURCE,
        "targets": targets,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        **options,
    }


def _datasource_variable() -> dict[str, Any]:
    return {
        "name": DATASOURCE_INPUT,
        "label": "Datasource",
        "type": "datasource",
        "query": "influxdb",
        "refresh": 1,
        "regex": "",
        "hide": 0,
        "includeAll": False,
        "multi": False,
    }


def with_datasource_input(board: dict[str, Any]) -> dict[str, Any]:
    """The board with the ``DS_LINEWATCH`` input and datasource variable (added once)."""
    inputs = [
        {
            "name": DATASOURCE_INPUT,
            "label": "Linewatch InfluxDB",
            "description": "the InfluxDB that Linewatch's influx sink writes to",
            "type": "datasource",
            "pluginId": "influxdb",
            "pluginName": "InfluxDB",
        }
    ]
    variables = list(board.get("templating", {}).get("list", []))
    if not any(v.get("name") == DATASOURCE_INPUT for v in variables):
        variables.insert(0, _datasource_variable())
    return {**board, "__inputs": inputs, "templating": {"list": variables}}


_FROM = re.compile(r'FROM "([a-z_]+)"')
_QUOTED = re.compile(r'"([a-z_]+)"')


def check_queries(board: dict[str, Any]) -> None:
    """Every measurement, tag and field a board's queries name exists in the schema."""
    queries = [t["query"] for p in board["panels"] for t in p.get("targets", [])]
    queries += [v["query"] for v in board["templating"]["list"] if v.get("type") == "query"]
    queries += [a["query"] for a in board.get("annotations", {}).get("list", [])]
    for query in queries:
        measurements = _FROM.findall(query)
        if len(measurements) != 1 or measurements[0] not in STORAGE_SCHEMA:
            raise ValueError(f"board {board['uid']}: unknown measurement in {query!r}")
        tags, fields = STORAGE_SCHEMA[measurements[0]]
        for name in _QUOTED.findall(query):
            if name not in (*tags, *fields, measurements[0]):
                raise ValueError(
                    f"board {board['uid']}: {name!r} is not a tag or field of "
                    f"{measurements[0]} in {query!r}"
                )
