"""river's Half-Space Trees over standardised equipment parameters, with a calibrated score.

Each variable is standardised online and mapped into HST's unit box by
``(clip(z, -clip, clip) + clip) / (2 clip)``. The trees are built from ``seed`` at
construction (river builds them on the first sample; here a first neutral sample does it
and its mass is zeroed), so the state is only the node masses: plain integers.

**Score**: the raw HST score is ranked against the calibration scores, the prequential
HST scores of the warm-up points after HST's first window (``warmup - window_size`` of
them): ``score = #(calibration < raw) / #calibration``. ``score > 1 - target_far`` thus
fires beyond the calibration's ``1 - target_far`` quantile; with n calibration points
the finest false-alarm rate it can hold is about ``1 / n``.
**Contributions**: HST has no decomposition; they are the squared standardised values
``z_i²``, which point at the variables that are out of their usual range.

River's HST is version-sensitive (its private ``trees``, ``_tree_nodes``, ``counter`` and
``_first_window`` are read and written here); written against river 0.26.1.

>>> from datetime import datetime, timezone
>>> import random
>>> ts = datetime(2026, 1, 1, tzinfo=timezone.utc)
>>> rng = random.Random(3)
>>> hst = HSTDetector(["a", "b"], warmup=300, window_size=100, seed=1)
>>> for _ in range(300):
...     _ = hst.evaluate(ts, {"a": rng.gauss(0, 1), "b": rng.gauss(0, 1)})
>>> hst.evaluate(ts, {"a": 5.0, "b": 5.0}).alarm
True
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from river import anomaly as _anomaly

from linewatch.detectors.ml.model import Assessment, ModelDetector
from linewatch.detectors.ml.standardize import OnlineMoments

__all__ = ["HSTDetector"]

# river is untyped: use it through Any.
anomaly: Any = _anomaly


class HSTDetector(ModelDetector):
    """HalfSpaceTrees over ``variables`` (see the module text)."""

    model_name: ClassVar[str] = "hst"
    max_state_bytes: int = 1 << 20

    def __init__(
        self,
        variables: Sequence[str],
        n_trees: int = 10,
        height: int = 8,
        window_size: int = 100,
        warmup: int = 400,
        target_far: float = 0.0027,
        seed: int = 0,
        clip: float = 4.0,
        forget: float = 0.0,
    ) -> None:
        if window_size < 1 or warmup < 2 * window_size:
            raise ValueError(f"warmup must be at least 2 * window_size, got {warmup}")
        if clip <= 0.0:
            raise ValueError(f"clip must be positive, got {clip}")
        self.variables = tuple(variables)
        self.n_trees = n_trees
        self.height = height
        self.window_size = window_size
        self.warmup = warmup
        self.target_far = target_far
        self.seed = seed
        self.clip = clip
        self.forget = forget
        self._setup(variables, warmup, target_far)
        self._moments = OnlineMoments(len(self._names), forget)
        self._forest = anomaly.HalfSpaceTrees(
            n_trees=n_trees, height=height, window_size=window_size, seed=seed
        )
        self._forest.learn_one(dict.fromkeys(self._names, 0.5))
        self._nodes = [node for nodes in self._forest._tree_nodes for node in nodes]
        for node in self._nodes:
            node.l_mass = 0
            node.r_mass = 0
        self._forest.counter = 0
        self._calibration: list[float] = []

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        return [
            {
                "variables": ("a", "b", "c"),
                "n_trees": 3,
                "height": 4,
                "window_size": 10,
                "warmup": 30,
            },
        ]

    def _features(self, values: list[float]) -> dict[str, float]:
        clip = self.clip
        width = 2.0 * clip
        z = self._moments.standardise(values)
        return {
            name: (min(max(zi, -clip), clip) + clip) / width
            for name, zi in zip(self._names, z, strict=True)
        }

    def _warm(self, values: list[float]) -> None:
        self._moments.learn(values)
        features = self._features(values)
        if not self._forest._first_window:
            self._calibration.append(float(self._forest.score_one(features)))
        self._forest.learn_one(features)

    def _calibrate(self) -> None:
        self._calibration.sort()

    def _assess(self, values: list[float]) -> Assessment:
        features = self._features(values)
        raw = float(self._forest.score_one(features))
        calibration = self._calibration
        score = bisect.bisect_left(calibration, raw) / len(calibration) if calibration else 0.0
        z = self._moments.standardise(values)
        contributions = [zi * zi for zi in z]

        def commit(alarm: bool) -> None:
            if not alarm:
                self._moments.learn(values)
                self._forest.learn_one(features)

        return Assessment(score, raw, contributions, commit)

    def _model_state(self) -> dict[str, Any]:
        return {
            "moments": self._moments.to_state(),
            "l_mass": [node.l_mass for node in self._nodes],
            "r_mass": [node.r_mass for node in self._nodes],
            "counter": self._forest.counter,
            "first_window": self._forest._first_window,
            "calibration": list(self._calibration),
        }

    def _set_model_state(self, state: Mapping[str, Any]) -> None:
        self._moments.set_state(state["moments"])
        if len(state["l_mass"]) != len(self._nodes) or len(state["r_mass"]) != len(self._nodes):
            raise ValueError("HST state has another number of tree nodes")
        for node, left, right in zip(self._nodes, state["l_mass"], state["r_mass"], strict=True):
            node.l_mass = int(left)
            node.r_mass = int(right)
        self._forest.counter = int(state["counter"])
        self._forest._first_window = bool(state["first_window"])
        self._calibration = [float(v) for v in state["calibration"]]
