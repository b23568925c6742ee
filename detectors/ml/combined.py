"""Several model detectors judged as one: Bonferroni over their scores, one shared alarm.

``components`` are ``{"type": NAME, ...params}`` mappings (NAME from
:data:`linewatch.detectors.ml.registry.MODEL_TYPES`); each gets this detector's
``variables``, ``warmup`` and ``target_far``. The score is
``1 - min(1, m * min_j (1 - score_j))`` over the m components, so the family false-alarm
rate stays at most ``target_far``; no component learns from a point the combination
flags. Contributions and the statistic are those of the most significant component.

>>> from datetime import datetime, timezone
>>> ts = datetime(2026, 1, 1, tzinfo=timezone.utc)
>>> both = Combined(["x"], [{"type": "mewma", "lam": 0.1}, {"type": "mewma", "lam": 1.0}],
...                 warmup=3)
>>> for x in (9.0, 10.0, 11.0):
...     _ = both.evaluate(ts, {"x": x})
>>> round(both.evaluate(ts, {"x": 13.0}).score, 4)     # T² = 9 (lam 1): 1 - 2 * 0.0027
0.9946
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from linewatch.detectors.ml.model import Assessment, ModelDetector, bonferroni_score

__all__ = ["Combined"]


class Combined(ModelDetector):
    """Bonferroni combination of model detectors (see the module text)."""

    model_name: ClassVar[str] = "combined"
    max_state_bytes: int = 1 << 20

    def __init__(
        self,
        variables: Sequence[str],
        components: Sequence[Mapping[str, Any]],
        warmup: int = 200,
        target_far: float = 0.0027,
        name: str = "combined",
    ) -> None:
        from linewatch.detectors.ml.registry import MODEL_TYPES

        if not components:
            raise ValueError("components must not be empty")
        self.variables = tuple(variables)
        self.components = [dict(c) for c in components]
        self.warmup = warmup
        self.target_far = target_far
        self.name = name
        self._setup(variables, warmup, target_far)
        self._label = name
        self._parts: list[ModelDetector] = []
        for i, spec in enumerate(self.components):
            params = {k: v for k, v in spec.items() if k != "type"}
            kind = spec.get("type")
            if kind not in MODEL_TYPES or kind == "combined":
                raise ValueError(f"components[{i}].type must be one of {sorted(MODEL_TYPES)}")
            factory: Callable[..., ModelDetector] = MODEL_TYPES[kind]
            self._parts.append(
                factory(variables=self.variables, warmup=warmup, target_far=target_far, **params)
            )

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        return [
            {
                "variables": ("a", "b", "c"),
                "components": [{"type": "mewma"}, {"type": "imr"}, {"type": "pca"}],
                "warmup": 30,
            }
        ]

    def _warm(self, values: list[float]) -> None:
        for part in self._parts:
            part._warm(values)
            part._seen += 1

    def _calibrate(self) -> None:
        for part in self._parts:
            part._calibrate()

    def _assess(self, values: list[float]) -> Assessment:
        judged = [part._assess(values) for part in self._parts]
        score = bonferroni_score([1.0 - j.score for j in judged])
        best = max(judged, key=lambda j: j.score)

        def commit(alarm: bool) -> None:
            for part, j in zip(self._parts, judged, strict=True):
                j.commit(alarm)
                part._seen += 1

        return Assessment(score, best.statistic, best.contributions, commit)

    def _model_state(self) -> dict[str, Any]:
        return {"parts": [part._get_state() for part in self._parts]}

    def _set_model_state(self, state: Mapping[str, Any]) -> None:
        if len(state["parts"]) != len(self._parts):
            raise ValueError("combined state has another number of components")
        for part, part_state in zip(self._parts, state["parts"], strict=True):
            part._set_state(part_state)
