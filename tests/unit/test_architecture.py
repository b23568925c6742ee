"""The one-way dependency rules of ARCHITECTURE.md, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def offenders(
    package: str,
    allowed: callable,
) -> list[str]:  # type: ignore[valid-type]
    return [
        f"{file}: {name}"
        for file, names in imported_modules(package).items()
        for name in sorted(names)
        if not allowed(name)
    ]


def test_detectors_import_neither_connectors_nor_pipeline() -> None:
    assert (
        offenders(
            "detectors",
            lambda n: (
                n.split(".")[0]
                not in {
                    "connectors",
                    "pipeline",
                    "dashboards",
                    "kafka",
                    "confluent_kafka",
                    "influxdb_client",
                    "httpx",
                    "requests",
                    "socket",
                    "urllib",
                }
            ),
        )
        == []
    )


def test_connectors_know_no_statistics_and_take_only_models_from_pipeline() -> None:
    assert (
        offenders(
            "connectors",
            lambda n: (
                n.split(".")[0] != "detectors"
                and (n.split(".")[0] != "pipeline" or n == "pipeline.models")
            ),
        )
        == []
    )


@pytest.mark.parametrize("package", ["dashboards"])
def test_dashboards_depend_only_on_the_storage_schema(package: str) -> None:
    assert (
        offenders(
            package,
            lambda n: (
                n.split(".")[0] not in {"connectors", "detectors"}
                and (n.split(".")[0] != "pipeline" or n in {"pipeline.models", "pipeline.schema"})
            ),
        )
        == []
    )
