"""What the ``linewatch`` subcommands share: the consoles, the usage error, the config loader
that builds every detector, and the progress bar.

>>> issubclass(UsageError, ValueError)
True
"""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from linewatch.pipeline.config import (
    CharacteristicConfig,
    Config,
    MultivariateConfig,
    StreamSpec,
    load_config,
)
from linewatch.pipeline.factory import build_capability, build_detector, build_multivariate

__all__ = [
    "UsageError",
    "check_stream",
    "err",
    "error_line",
    "load_checked",
    "out",
    "progress_bar",
]

# soft_wrap: a long line (a path, an error) stays one line, whatever the terminal width
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


class UsageError(ValueError):
    """Options that do not go together; exit 2 like argparse's own usage errors."""


def error_line(message: str) -> None:
    """One ``error:`` line on plain stderr: no markup, never wrapped to the terminal."""
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()


def check_stream(spec: StreamSpec) -> None:
    """Build a stream's detector as the engine will, so refused settings fail at check time.

    A refused setting is a ``ValueError`` (``DetectorInputError`` is one).
    """
    if isinstance(spec, MultivariateConfig):
        build_multivariate(spec)
        return
    build_detector(spec)
    if isinstance(spec, CharacteristicConfig):
        build_capability(spec)


def load_checked(path: Path) -> Config:
    """The config with every problem at once, including settings a chart refuses."""
    return load_config(path, check_streams=check_stream)


def progress_bar(enabled: bool, records: bool = False) -> Progress:
    """The bar; ``records``: records read and the current event time instead of M/N."""
    counts = (
        (TextColumn("{task.fields[records]:>9,} records"), TextColumn("{task.fields[event_time]}"))
        if records
        else (MofNCompleteColumn(),)
    )
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        *counts,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not enabled,
        transient=False,
    )
