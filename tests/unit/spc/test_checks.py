"""The generic detector checks over every detector, found by introspection (no hand list)."""

import math
from collections.abc import Callable
from typing import Any

import pytest

from linewatch.detectors.base import Detector
from linewatch.detectors.checks import (
    ALL_CHECKS,
    check_detector,
    detector_classes,
    unit_test_streams,
)
from linewatch.detectors.ml.registry import MODEL_TYPES
from linewatch.detectors.registry import chart_of_class, charts

CLASSES = detector_classes()
#: Model detectors are checked over their own vector stream (tests/unit/ml/test_ml_checks.py).
CHARTS = [cls for cls in CLASSES if cls not in MODEL_TYPES.values()]


def _cases() -> list[tuple[str, type[Detector], dict[str, Any], int]]:
    cases = []
    for cls in CHARTS:
        params = getattr(cls, "_unit_test_params", lambda: [{}])()
        for i, settings in enumerate(params):
            info = chart_of_class(cls)
            streams = len(unit_test_streams(info.takes)) if info is not None else 1
            cases += [(f"{cls.__name__}-{i}-{s}", cls, settings, s) for s in range(streams)]
    return cases


CASES = _cases()


def test_introspection_finds_every_registered_detector() -> None:
    # every built-in chart and model class, each found by walking linewatch.detectors
    assert {c.cls for c in charts()} | set(MODEL_TYPES.values()) <= set(CLASSES)
    assert len(CHARTS) == 17  # with the AR(1) residual chart and the rare-event g and t charts


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_detector_declares_unit_test_params_and_is_registered(cls: type[Detector]) -> None:
    assert callable(getattr(cls, "_unit_test_params", None)), f"{cls.__name__}"
    assert cls._unit_test_params(), f"{cls.__name__} gives no settings to check"  # type: ignore[attr-defined]
    registered = chart_of_class(cls) is not None or cls in MODEL_TYPES.values()
    assert registered, f"{cls.__name__} is in neither the chart nor the model registry"


@pytest.mark.parametrize("check", ALL_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize(("case", "cls", "settings", "stream"), CASES, ids=[c[0] for c in CASES])
def test_generic_checks(
    case: str,
    cls: type[Detector],
    settings: dict[str, Any],
    stream: int,
    check: Callable[[Detector, Any], None],
) -> None:
    info = chart_of_class(cls)
    assert info is not None
    check(cls(**settings), unit_test_streams(info.takes)[stream])


@pytest.mark.parametrize(("case", "cls", "settings", "stream"), CASES, ids=[c[0] for c in CASES])
def test_snapshot_floats_round_trip_exactly(
    case: str, cls: type[Detector], settings: dict[str, Any], stream: int
) -> None:
    info = chart_of_class(cls)
    assert info is not None
    detector = cls(**settings)
    for ts, x in unit_test_streams(info.takes)[stream][:50]:
        detector.update(ts, x)
    twin = cls(**settings)
    twin.restore(detector.snapshot())
    assert twin._get_state() == detector._get_state()
    assert not any(isinstance(v, float) and math.isnan(v) for v in detector._get_state().values())


def test_a_detector_without_unit_test_params_fails_the_suite() -> None:
    class Bare(Detector):
        def update(self, ts: Any, x: Any) -> Any:
            raise NotImplementedError

        def _get_state(self) -> dict[str, Any]:
            return {}

        def _set_state(self, state: Any) -> None:
            pass

    with pytest.raises(AssertionError, match="Bare has no _unit_test_params"):
        check_detector(Bare)
