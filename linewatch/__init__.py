"""Linewatch: statistical process control and streaming anomaly detection for lines.

The project's four folders install under this one import name, so ``pip install
linewatch`` adds no generic top-level modules: ``linewatch.pipeline``,
``linewatch.detectors``, ``linewatch.connectors`` and ``linewatch.dashboards``.

>>> import linewatch
>>> linewatch.__version__
'0.1.0'
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
