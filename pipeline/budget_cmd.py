"""``check-config``'s false-alarm budget and autocorrelation warnings (printing only)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable

from linewatch.pipeline.budget import StreamRates, false_alarm_budget, format_budget
from linewatch.pipeline.config import Config

__all__ = ["print_budget"]

log = logging.getLogger(__name__)


def print_budget(
    config: Config,
    args: argparse.Namespace,
    show: Callable[[str], None],
    warn: Callable[[str], None],
) -> int:
    """Print the budget table (and, with ``--history``, the autocorrelation); exit code 0,
    or 2 when the history file cannot be read."""
    rate = getattr(args, "rate", None)
    if rate is not None and not 0.0 < rate < 1e9:
        warn(f"error: --rate must be a positive number of observations an hour, got {rate:g}")
        return 2
    rates = StreamRates.from_config(config, rate)
    history_path = getattr(args, "history", None)
    correlations: list[tuple[str, float, str | None]] = []
    if history_path is not None:
        from linewatch.pipeline.budget_history import read_history

        try:
            history = read_history(history_path)
        except (OSError, ValueError) as exc:
            warn(f"error: --history {history_path}: {exc}")
            return 2
        rates = history.rates(config) if rate is None else rates
        correlations = history.autocorrelation(config)
    lines = false_alarm_budget(config, rates)
    for text in format_budget(lines, rates.source):
        (warn if text.startswith("warning:") else show)(text)
    if correlations:
        show("Lag-1 autocorrelation of each stream's phase I (as charted):")
        for key, r1, message in correlations:
            show(f"  {key:50} {r1:+.3f}")
            if message is not None:
                warn(f"warning: {key}: {message}")
    return 0
