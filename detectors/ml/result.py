"""The result of one model judgement, and how it maps onto the SPC result types.

A model detector plots its score as one :class:`~linewatch.detectors.base.PlotPoint` on the
chart ``model:<name>`` (LCL 0, UCL the alarm threshold) and raises one
:class:`~linewatch.detectors.base.Signal` with rule ``model:<name>`` when the score is
beyond the threshold, so the existing AlertManager fires from it unchanged. The
contributions do not fit those types; the pipeline takes them from :class:`ModelEvaluation`.

>>> from datetime import datetime, timezone
>>> ts = datetime(2026, 1, 1, tzinfo=timezone.utc)
>>> result = ModelEvaluation(ts, "mewma", 4, 0.9995, 0.999, True, 17.2, {"a": 15.0, "b": 2.2})
>>> result.top_contributors(1)
(('a', 15.0),)
>>> evaluation = result.to_evaluation()
>>> evaluation.points[0].chart, evaluation.signals[0].rule
('model:mewma', 'model:mewma')
>>> print(evaluation.signals[0].description)
mewma score 0.9995 beyond 0.999 (statistic 17.2); top: a 87%, b 13%
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from linewatch.detectors.base import Evaluation, PlotPoint, Signal

__all__ = ["ModelEvaluation"]


# Slotted, not frozen: a frozen dataclass sets each field through object.__setattr__, and this
# is built once a sample on the hot path (see detectors/base.py). Treat it as immutable.
@dataclass(slots=True)
class ModelEvaluation:
    """One judgement of a model detector.

    ``score`` is in [0, 1] (1 - a p-value, or a rank; see each detector); ``alarm`` is
    ``score > threshold``; ``index`` counts judged points from 0 (warm-up points are not
    judged: ``calibrated`` is False, score 0, no alarm). ``statistic`` is the raw statistic
    (T², HST mass score, ...). ``contributions`` maps each variable to its share of the
    statistic, in the detector's variable order.
    """

    ts: datetime
    model: str
    index: int
    score: float
    threshold: float
    alarm: bool
    statistic: float
    contributions: dict[str, float] = field(default_factory=dict)
    calibrated: bool = True

    def top_contributors(self, n: int = 3) -> tuple[tuple[str, float], ...]:
        """The ``n`` largest contributions, largest first (ties by variable order)."""
        ranked = sorted(self.contributions.items(), key=lambda kv: -kv[1])
        return tuple(ranked[:n])

    def describe(self) -> str:
        """One line: score, threshold and the top contributors as shares of the positive sum."""
        positive = sum(v for v in self.contributions.values() if v > 0.0)
        parts = [
            f"{name} {100.0 * value / positive:.0f}%"
            for name, value in self.top_contributors()
            if positive > 0.0 and value > 0.0
        ]
        top = f"; top: {', '.join(parts)}" if parts else ""
        return (
            f"{self.model} score {self.score:.4g} beyond {self.threshold:.4g} "
            f"(statistic {self.statistic:.4g}){top}"
        )

    def to_evaluation(self) -> Evaluation:
        """The score as a plotted point, and a ``model:<name>`` signal when alarmed."""
        chart = f"model:{self.model}"
        if not self.calibrated:
            point = PlotPoint(self.ts, chart, self.index, self.score, None, None, None, 0, "")
            return Evaluation(points=(point,))
        rules = (chart,) if self.alarm else ()
        zone = "beyond" if self.alarm else ""
        point = PlotPoint(
            self.ts, chart, self.index, self.score, None, 0.0, self.threshold, 1, zone, rules
        )
        if not self.alarm:
            return Evaluation(points=(point,))
        signal = Signal(
            self.ts, chart, chart, self.index, self.score, 0.0, 0.0, self.threshold, self.describe()
        )
        return Evaluation(points=(point,), signals=(signal,))
