"""Each Nelson test on hand-made sequences (center 0, sigma 1, limits +-3): exact flagged points."""

import copy
import pickle

import pytest

from linewatch.detectors.spc.rules import RuleSet, RuleState, rule_names


def flagged(test: int, values: list[float], k: dict[int, float] | None = None) -> list[int]:
    state = RuleState(RuleSet(tests=(test,), k=k))
    return [i for i, x in enumerate(values) if state.step(x, 0.0, 1.0, 1.0, 3.0, -3.0)]


def test_1_beyond_limits_strict() -> None:
    assert flagged(1, [0.0, 3.0, 3.0001, -3.0, -3.5]) == [2, 4]


def test_2_run_same_side() -> None:
    assert flagged(2, [0.5] * 8) == []
    assert flagged(2, [0.5] * 10) == [8, 9]  # the ninth completes it, the tenth again
    assert flagged(2, [-0.1] * 9) == [8]
    # a point on the center line ends the run
    assert flagged(2, [1.0] * 5 + [0.0] + [1.0] * 9) == [14]
    assert flagged(2, [1.0] * 4 + [-1.0] + [1.0] * 8) == []
    assert flagged(2, [1.0] * 8, k={2: 8}) == [7]


def test_3_trend_counts_moves() -> None:
    assert flagged(3, [0, 1, 2, 3, 4, 5]) == []  # 5 increases
    assert flagged(3, [0, 1, 2, 3, 4, 5, 6]) == [6]  # 6 increases: the 7th point
    assert flagged(3, [9, 8, 7, 6, 5, 4, 3, 2]) == [6, 7]
    assert flagged(3, [0, 1, 2, 2, 3, 4, 5, 6, 7]) == []  # a tie breaks the trend
    assert flagged(3, [0, 1, 2, 3, 4, 5], k={3: 5}) == [5]  # qcc's NEL3 (6 points)


def test_4_alternating_moves() -> None:
    zigzag = [1.0 if i % 2 else -1.0 for i in range(16)]
    assert flagged(4, zigzag[:14]) == []  # 13 alternating moves
    assert flagged(4, zigzag[:15]) == [14]  # 14 alternating moves: the 15th point
    assert flagged(4, zigzag) == [14, 15]
    broken = [*zigzag[:7], zigzag[6], *zigzag[7:15]]
    assert flagged(4, broken) == []  # equal neighbours break it


def test_5_two_of_three_beyond_2_sigma() -> None:
    assert flagged(5, [2.5, 0.0, 2.5]) == [2]
    assert flagged(5, [2.5, 2.5]) == [1]
    assert flagged(5, [2.5, 0.0, 0.0, 2.5]) == []
    assert flagged(5, [2.5, 2.5, 0.0]) == [1]  # the third point does not complete it
    assert flagged(5, [2.0, 2.5]) == []  # exactly 2 sigma is not beyond
    assert flagged(5, [2.5, -2.5, 0.0]) == []  # opposite sides
    assert flagged(5, [-2.1, -3.5]) == [1]


def test_6_four_of_five_beyond_1_sigma() -> None:
    assert flagged(6, [1.5, 1.5, 0.0, 1.5, 1.5]) == [4]
    assert flagged(6, [1.5, 1.5, 1.5, 0.5]) == []
    assert flagged(6, [1.5] * 4) == [3]
    assert flagged(6, [1.5, 1.5, -1.5, 1.5, 0.0, 1.5]) == []
    assert flagged(6, [1.0, 1.5, 1.5, 1.5]) == []  # exactly 1 sigma is not beyond


def test_7_within_1_sigma() -> None:
    assert flagged(7, [0.5] * 14) == []
    assert flagged(7, [0.5] * 7 + [1.0, 0.0, -1.0] + [0.5] * 5) == [14]
    assert flagged(7, [0.5] * 7 + [1.01] + [0.5] * 14) == []


def test_8_beyond_1_sigma_either_side() -> None:
    assert flagged(8, [1.5, -1.5] * 4) == [7]
    assert flagged(8, [1.5] * 7 + [0.9]) == []
    assert flagged(8, [2.0] * 9) == [7, 8]


def test_step_reports_every_completed_test() -> None:
    state = RuleState(RuleSet.nelson())
    masks = [state.step(x, 0.0, 1.0, 1.0, 3.0, -3.0) for x in [2.5, 2.6, 3.5, 1.5]]
    assert [rule_names(m) for m in masks] == [
        (),
        ("nelson5",),
        ("nelson1", "nelson5"),
        ("nelson6",),
    ]


def test_asymmetric_sigma_and_thresholds() -> None:
    state = RuleState(RuleSet(tests=(1, 5)))
    # above uses s_up = 2, below uses s_lo = 0.5
    assert state.step(4.5, 0.0, 2.0, 0.5, 6.0, -1.5) == 0
    assert state.step(-1.2, 0.0, 2.0, 0.5, 6.0, -1.5) == 0
    assert state.step(-1.6, 0.0, 2.0, 0.5, 6.0, -1.5) == 1 | 16


def test_state_round_trip() -> None:
    rules = RuleSet.nelson()
    one, two = RuleState(rules), RuleState(rules)
    values = [0.3, 1.2, -0.4, 2.2, 2.5, 1.1, 1.3, 1.4, 1.6, -0.2, 0.1]
    for x in values[:6]:
        one.step(x, 0.0, 1.0, 1.0, 3.0, -3.0)
    two.load(one.to_state())
    for x in values[6:]:
        assert one.step(x, 0.0, 1.0, 1.0, 3.0, -3.0) == two.step(x, 0.0, 1.0, 1.0, 3.0, -3.0)


def test_ruleset_data_repr_hash() -> None:
    rules = RuleSet(tests=(6, 1, 2, 5), k={2: 8})
    assert repr(rules) == "RuleSet(tests=(1, 2, 5, 6), k={2: 8})"
    assert eval(repr(rules)) == rules
    assert rules == RuleSet.western_electric()
    assert hash(rules) == hash(RuleSet.western_electric())
    assert RuleSet(tests=(1,), k={1: 2.5}).k_of(1) == 2.5
    assert repr(RuleSet(tests=(1,), k={1: 2.5, 2: 9})) == "RuleSet(tests=(1,), k={1: 2.5})"
    assert RuleSet.from_dict(rules.to_dict()) == rules
    assert rules.to_dict() == {"tests": [1, 2, 5, 6], "k": {"2": 8}}
    assert RuleSet.none().tests == ()
    assert copy.deepcopy(rules) is rules
    assert pickle.loads(pickle.dumps(rules)) == rules
    with pytest.raises(AttributeError):
        rules.foo = 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("tests", "k", "message"),
    [
        ((9,), None, "1 to 8"),
        ((1,), {2: 0}, "positive integer"),
        ((1,), {3: 2.5}, "integer"),
        ((1,), {1: -1.0}, "positive"),
        ((1,), {9: 3}, "1 to 8"),
        ((1,), {5: 100}, "at most 62"),
    ],
)
def test_ruleset_rejects(tests: tuple[int, ...], k: dict[int, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RuleSet(tests=tests, k=k)


def test_descriptions() -> None:
    rules = RuleSet.nelson()
    assert rules.describe(1) == "1 point more than 3 sigma from the center line"
    assert (
        rules.describe(5) == "2 out of 3 points more than 2 sigma from the center line (same side)"
    )
    assert rules.describe(3) == "6 consecutive increases or decreases (7 points in a row)"
