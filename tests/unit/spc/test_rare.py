"""The rare-event g and t charts (Benneyan 2001; Montgomery §7.3) and the np̄/c̄ advice."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from linewatch.detectors.base import DetectorInputError
from linewatch.detectors.checks import check_detector
from linewatch.detectors.spc import GChart, TChart
from linewatch.detectors.spc.rare import (
    g_limits,
    g_signal_probability,
    rare_event_advice,
    two_sided_alpha,
)
from linewatch.detectors.spc.rules import RuleSet
from linewatch.pipeline.config import parse_config
from linewatch.pipeline.engine import Engine
from linewatch.pipeline.models import Alert, ChartPoint, Measurement

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def _feed(chart: GChart | TChart, values: list[float]) -> list[object]:
    out: list[object] = []
    for i, x in enumerate(values):
        evaluation = chart.update(T0 + timedelta(minutes=i), x)
        out += evaluation.points
    return out


def test_g_chart_limits_by_hand_from_phase_i() -> None:
    # counts 0, 4, 2, 6, 3: mean 3, p = 1/(3+1) = 0.25
    chart = GChart(phase1=5)
    points = _feed(chart, [0.0, 4.0, 2.0, 6.0, 3.0])
    assert chart.params is not None and chart.params["p"] == 0.25
    alpha = math.erfc(3.0 / math.sqrt(2.0))  # 0.0026998
    ucl = math.log(alpha / 2.0) / math.log(0.75) - 1.0  # 21.97
    assert round(ucl, 4) == 21.9688
    point = points[0]
    assert (point.center, point.lcl, point.ucl) == (3.0, 0.0, ucl)  # type: ignore[attr-defined]
    assert chart.update(T0, 22.0).points[0].rules == ("g_limit",)
    assert chart.update(T0, 21.0).points[0].rules == ()


def test_g_chart_lower_limit_exists_only_below_p_of_alpha_over_2() -> None:
    # p = 0.0005 (a crack in 2000 welds), a = 0.0027: LCL = ln(1 - a/2)/ln(1 - p) - 1 =
    # 0.00135091/0.00050013 - 1 = 1.7011, UCL = ln(a/2)/ln(1 - p) - 1 = 6.60765/0.00050013
    # - 1 = 13210.997
    lcl, ucl = g_limits(0.0005, 0.0027)
    assert (round(lcl, 4), round(ucl, 3)) == (1.7011, 13210.997)
    # signals: X in {0, 1} (1 - 0.9995^2) or X >= 13211 (0.9995^13211)
    expected = (1.0 - 0.9995**2) + 0.9995**13211
    assert g_signal_probability(0.0005, lcl, ucl) == pytest.approx(expected, rel=1e-12)
    assert 1.0 / expected == pytest.approx(425.46, abs=0.01)
    # for p above a/2 the LCL is clipped to 0: only the upper tail signals
    assert g_limits(0.01, 0.0027)[0] == 0.0


def test_g_chart_in_control_arl_matches_a_simulation() -> None:
    # p = 0.2, k = 2 (alpha 0.0455): UCL = ln(0.02275)/ln(0.8) - 1 = 15.96, LCL 0, so
    # P(signal) = 0.8^16 = 0.02815 and the in-control ARL is 35.5 points.
    p = 0.2
    chart = GChart(center=(1.0 - p) / p, k_sigma=2.0)  # center: the mean count, 4
    lcl, ucl = g_limits(p, two_sided_alpha(2.0))
    exact_arl = 1.0 / g_signal_probability(p, lcl, ucl)
    assert exact_arl == pytest.approx(1.0 / 0.8**16, rel=1e-12)
    rng = np.random.default_rng(20011)
    counts = rng.geometric(p, size=60_000) - 1  # numpy counts trials: failures = trials - 1
    signal_at = [i for i, x in enumerate(counts) if chart.update(T0, float(x)).points[0].rules]
    run_lengths = np.diff([-1, *signal_at])
    simulated_arl = float(np.mean(run_lengths))
    assert len(signal_at) > 1500
    assert simulated_arl == pytest.approx(exact_arl, rel=0.05)


def test_g_chart_detects_more_frequent_events() -> None:
    # events four times as frequent (p 0.0005 -> 0.002): a signal needs a count below the
    # LCL 1.7011 (0 or 1: 1 - 0.998^2 = 0.003996) or above 13212 (0.998^13213 ~ 3e-12),
    # so the out-of-control ARL is 250.25 events, against 425.46 in control
    chart = GChart(center=1999.0)  # p = 0.0005
    exact_arl = 1.0 / g_signal_probability(0.002, *g_limits(0.0005, two_sided_alpha(3.0)))
    assert exact_arl == pytest.approx(250.25, abs=0.01)
    rng = np.random.default_rng(7)
    counts = rng.geometric(0.002, size=50_000) - 1
    signalled = [float(x) for x in counts if chart.update(T0, float(x)).points[0].rules]
    assert set(signalled) <= {0.0, 1.0}  # every signal is an event too soon
    assert len(counts) / len(signalled) == pytest.approx(exact_arl, rel=0.15)


def test_t_chart_limits_by_hand() -> None:
    # times 2^3.6, 3^3.6, 2^3.6, 4^3.6: y = 2, 3, 2, 4; y-bar 2.75; MRs 1, 1, 2, MR-bar 4/3;
    # sigma = (4/3)/1.128 = 1.182033; UCL 2.75 + 3 sigma = 6.296099; LCL 2.75 - 3.546 < 0 -> 0
    chart = TChart(phase1=4)
    points = _feed(chart, [2.0**3.6, 3.0**3.6, 2.0**3.6, 4.0**3.6])
    assert [round(p.value, 12) for p in points] == [2.0, 3.0, 2.0, 4.0]  # type: ignore[attr-defined]
    first = points[0]
    assert first.center == pytest.approx(2.75, abs=1e-12)  # type: ignore[attr-defined]
    assert first.lcl == 0.0  # type: ignore[attr-defined]
    assert first.ucl == pytest.approx(2.75 + 3.0 * (4.0 / 3.0) / 1.128, abs=1e-12)  # type: ignore[attr-defined]
    assert round(first.ucl, 6) == 6.296099  # type: ignore[attr-defined]
    # a time of 6.3^3.6 = 753.9 is beyond; 6.2^3.6 = 710.2 is not
    assert chart.update(T0, 6.3**3.6).points[0].rules == ("nelson1",)
    assert chart.update(T0, 6.2**3.6).points[0].rules == ()


def test_t_chart_runs_the_configured_rules() -> None:
    chart = TChart(center=2.0, sigma=0.5, rules=RuleSet(tests=(1, 2), k={2: 3}))
    fired = [chart.update(T0, 2.2**3.6).points[0].rules for _ in range(3)]
    assert fired == [(), (), ("nelson2",)]  # 3 in a row above the center


def test_rare_charts_refuse_negative_gaps_and_pass_the_generic_checks() -> None:
    with pytest.raises(DetectorInputError, match="count between events must be >= 0"):
        GChart(center=3.0).update(T0, -1.0)
    with pytest.raises(DetectorInputError, match="time between events must be >= 0"):
        TChart(center=2.0, sigma=0.5).update(T0, -0.5)
    with pytest.raises(DetectorInputError, match="every phase-I count between events is 0"):
        _feed(GChart(phase1=2), [0.0, 0.0])
    check_detector(GChart)
    check_detector(TChart)


def test_g_chart_from_config_alerts_through_the_engine() -> None:
    config = parse_config(
        {
            "lines": [
                {
                    "name": "L",
                    "stations": [
                        {
                            "name": "final",
                            "characteristics": [
                                {
                                    "name": "welds_between_cracks",
                                    "chart": "g",
                                    "limits": {"center": 1999.0},
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    )
    engine = Engine(config)
    outputs = []
    for i, gap in enumerate([2500.0, 800.0, 1.0]):  # the third crack follows the second at once
        outputs += engine.process(
            Measurement(
                ts=T0 + timedelta(hours=i),
                line="L",
                station="final",
                characteristic="welds_between_cracks",
                value=gap,
            )
        )
    points = [o for o in outputs if isinstance(o, ChartPoint)]
    assert [(p.chart, p.value, p.cl, p.violations) for p in points] == [
        ("g", 2500.0, 1999.0, []),
        ("g", 800.0, 1999.0, []),
        ("g", 1.0, 1999.0, ["g_limit"]),  # below the LCL: a crack right after one
    ]
    assert {round(p.lcl or -1.0, 4) for p in points} == {1.7009}  # alpha = 2 Phi(-3)
    alerts = [o for o in outputs if isinstance(o, Alert)]
    assert [(a.rule, a.value, a.severity) for a in alerts] == [("g_limit", 1.0, "warning")]


def test_rare_event_advice_for_small_np_bar_and_c_bar() -> None:
    advice = rare_event_advice("np", 0.04)
    assert advice is not None and "np̄ = 0.04" in advice and "one event signals" in advice
    assert "chart: g" in advice and "chart: t" in advice
    # c-bar 0.5: UCL 0.5 + 3 * 0.7071 = 2.62, so one event does not signal, but LCL is 0
    advice = rare_event_advice("c", 0.5)
    assert advice is not None and "UCL ≈ 2.62)" in advice
    assert rare_event_advice("c", 1.0) is None
    assert rare_event_advice("p", 0.001) is None
