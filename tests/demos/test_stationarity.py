"""SED metrics against hand-computed small examples."""
import numpy as np
import pytest

from reled_sumo.demos.stationarity import (
    BoundConfig, bounds, jaccard_distance, reward_volatility, subset_divergence, volatility_of,
)
from reled_sumo.errors import ConfigError


def test_jaccard():
    assert jaccard_distance(["a", "b", "c"], ["a", "b", "c"]) == 0.0
    assert jaccard_distance(["a", "b"], ["c"]) == 1.0
    # {a,b,c} vs {b,c,d}: intersection 2, union 4 -> 0.5
    assert jaccard_distance(["a", "b", "c"], ["b", "c", "d"]) == pytest.approx(0.5)
    assert jaccard_distance([], []) == 0.0


def test_volatility_hand_computed():
    # rewards -1, -3: mean -2, population std 1
    assert reward_volatility([-1.0, -3.0]) == pytest.approx(1.0)
    assert reward_volatility([-5.0]) == 0.0


def test_subset_divergence_and_bound():
    subsets = [["a1", "a2"], ["a3"]]
    before = {"a1": ["e1", "e2"], "a2": ["e3", "e4"], "a3": ["e5"]}
    now = {"a1": ["e1", "e2"], "a2": ["e3", "e9"], "a3": ["e5"]}
    div = subset_divergence(subsets, now, before)
    # a2 changed: |{e3}| / |{e3,e4,e9}| = 1/3 shared -> distance 2/3; subset mean (0 + 2/3)/2 = 1/3
    assert div["a1"] == pytest.approx(1 / 3) and div["a2"] == pytest.approx(1 / 3) and div["a3"] == 0.0
    vol = volatility_of({"a1": [-1, -3], "a2": [-2, -2], "a3": [0, -4]}, {}, BoundConfig(volatility="per_decision"))
    b = bounds(vol, div, BoundConfig(alpha=2.0, beta=3.0))
    assert b["a1"] == pytest.approx(2 * 1 + 3 * (1 / 3))
    assert b["a2"] == pytest.approx(0 + 1.0)
    assert b["a3"] == pytest.approx(2 * 2)


def test_travel_time_volatility_is_the_coefficient_of_variation():
    vol = volatility_of({"a": [1.0, 2.0], "b": [5.0], "c": []}, {},
                        BoundConfig(), {"a": [100.0, 300.0], "b": [200.0], "c": [np.nan, 50.0, 150.0]})
    assert vol["a"] == pytest.approx(0.5) and vol["b"] == 0.0 and vol["c"] == pytest.approx(0.5)


def test_across_rounds_volatility():
    vol = volatility_of({"a": [1, 2, 3]}, {"a": [-10.0, -14.0]}, BoundConfig(volatility="across_rounds"))
    assert vol["a"] == pytest.approx(2.0)


def test_bad_config():
    with pytest.raises(ConfigError):
        BoundConfig(alpha=-1)
    with pytest.raises(ConfigError):
        BoundConfig(volatility="vibes")


def test_js_divergence_by_hand():
    from reled_sumo.demos.stationarity import js_divergence

    assert js_divergence({"x": 3}, {"x": 1}) == 0.0  # same distribution, other counts
    assert js_divergence({"x": 1}, {"y": 1}) == pytest.approx(1.0)  # disjoint supports
    assert js_divergence({}, {}) == 0.0 and js_divergence({"x": 1}, {}) == 1.0
    # p = (1/2, 1/2), q = (1, 0): m = (3/4, 1/4); KL(p||m) = 1/2 log2(2/3) + 1/2 log2 2, KL(q||m) = log2(4/3)
    want = 0.5 * (0.5 * np.log2(2 / 3) + 0.5) + 0.5 * np.log2(4 / 3)
    assert js_divergence({"x": 1, "y": 1}, {"x": 2}) == pytest.approx(want)


def test_js_subset_divergence_compares_the_subsets_junction_choices():
    subsets = [["a1", "a2"], ["a3"]]
    before = {"a1": ["e1", "e2", "e3"], "a2": ["e1", "e2", "e3"], "a3": ["e5", "e6"]}
    now = {"a1": ["e1", "e2", "e3"], "a2": ["e1", "e4", "e3"], "a3": ["e5", "e6"]}
    div = subset_divergence(subsets, now, before, "js")
    # turns before: (e1,e2) x2, (e2,e3) x2 -> (1/2, 1/2, 0, 0) over [(e1,e2), (e2,e3), (e1,e4), (e4,e3)]
    # turns now: one each -> (1/4, 1/4, 1/4, 1/4); m = (3/8, 3/8, 1/8, 1/8)
    p, q = np.array([.5, .5, 0, 0]), np.full(4, .25)
    m = (p + q) / 2
    kl = lambda x: float(np.sum(x[x > 0] * np.log2(x[x > 0] / m[x > 0])))  # noqa: E731
    assert div["a1"] == div["a2"] == pytest.approx(0.5 * kl(p) + 0.5 * kl(q)) and div["a3"] == 0.0
    with pytest.raises(ConfigError):
        BoundConfig(divergence="kl")
    with pytest.raises(ConfigError):
        subset_divergence(subsets, now, before, "kl")
