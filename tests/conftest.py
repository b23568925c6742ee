"""The session's servers come from the ``linewatch`` pytest plugin.

:mod:`linewatch.connectors.testing.plugin` gives ``kafka_broker``, ``influx1_server``,
``influx11_server``, the ``*_auth_server`` variants, ``alertmanager_server`` and
``unique_name``. An installed Linewatch registers it through its ``pytest11`` entry
point; from a checkout on ``PYTHONPATH`` (no entry point) it is registered here.
No test skips for want of a server: `make test` installs them first, and the
fixtures fail loudly if a server cannot start.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from linewatch.connectors.testing import plugin
from linewatch.connectors.testing.plugin import INFLUX_AUTH

__all__ = ["INFLUX_AUTH", "repo_root"]


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.is_registered(plugin):
        config.pluginmanager.register(plugin, "linewatch")


def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]
