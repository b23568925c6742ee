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
        # The folders install as linewatch.<folder>: judge `linewatch.pipeline.x` as `pipeline.x`.
        found[str(path.relative_to(ROOT))] = {n.removeprefix("linewatch.") for n in names}
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


FOLDERS = ("pipeline", "detectors", "connectors", "dashboards")


@pytest.mark.parametrize("package", [*FOLDERS, "tests", "bench"])
def test_the_folders_are_imported_only_under_the_linewatch_name(package: str) -> None:
    """`import pipeline` would need the generic top-level names the package does not install."""
    bare = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                bare += [
                    f"{path.name}: {a.name}" for a in node.names if a.name.split(".")[0] in FOLDERS
                ]
            elif (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.level == 0
                and node.module.split(".")[0] in FOLDERS
            ):
                bare.append(f"{path.name}: {node.module}")
    assert bare == []


def test_the_installed_package_has_one_top_level_name() -> None:
    import linewatch
    import linewatch.pipeline

    assert linewatch.__version__ == "0.1.0"
    assert Path(linewatch.pipeline.__file__).resolve() == (ROOT / "pipeline" / "__init__.py")
