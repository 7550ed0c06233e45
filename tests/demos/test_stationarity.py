"""SED metrics against hand-computed small examples."""
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
    vol = volatility_of({"a1": [-1, -3], "a2": [-2, -2], "a3": [0, -4]}, {}, BoundConfig())
    b = bounds(vol, div, BoundConfig(alpha=2.0, beta=3.0))
    assert b["a1"] == pytest.approx(2 * 1 + 3 * (1 / 3))
    assert b["a2"] == pytest.approx(0 + 1.0)
    assert b["a3"] == pytest.approx(2 * 2)


def test_across_rounds_volatility():
    vol = volatility_of({"a": [1, 2, 3]}, {"a": [-10.0, -14.0]}, BoundConfig(volatility="across_rounds"))
    assert vol["a"] == pytest.approx(2.0)


def test_bad_config():
    with pytest.raises(ConfigError):
        BoundConfig(alpha=-1)
    with pytest.raises(ConfigError):
        BoundConfig(volatility="vibes")
