import numpy as np
import pytest

from reled_sumo.errors import ConfigError
from reled_sumo.optim.weights import WeightConfig, expert_weights


def test_weight_rises_with_dtw_distance():
    d = np.array([0.0, 10.0, 50.0, 200.0, 1e6])
    w = expert_weights(d, np.full(5, -500.0), np.full(5, -300.0), WeightConfig(w_max=2.0, d_scale=50.0))
    assert w[0] == 0.0
    assert np.all(np.diff(w) > 0)
    assert w[-1] == pytest.approx(2.0)
    assert w[2] == pytest.approx(2.0 * (1 - np.exp(-1)), rel=1e-6)


def test_weight_decays_to_zero_as_agent_catches_up():
    agent_return = np.array([-600.0, -320.0, -310.0, -300.0, -250.0])
    w = expert_weights(np.full(5, 100.0), agent_return, np.full(5, -300.0), WeightConfig(gap_scale=0.1, d_scale=50.0))
    assert w[0] == pytest.approx(1 - np.exp(-2), rel=1e-6)  # gap saturated
    assert np.all(np.diff(w[:4]) < 0)
    assert w[3] == 0.0 and w[4] == 0.0  # matches or beats the expert


def test_fixed_and_zero_modes_and_missing_demos():
    d = np.array([0.0, 100.0, np.nan])
    exp_ret = np.array([-300.0, -300.0, np.nan])  # agent 2 has no demonstration
    ag_ret = np.array([-100.0, -900.0, -900.0])
    np.testing.assert_array_equal(expert_weights(d, ag_ret, exp_ret, WeightConfig(mode="fixed", fixed_weight=0.3)),
                                  np.array([0.3, 0.3, 0.0], np.float32))
    np.testing.assert_array_equal(expert_weights(d, ag_ret, exp_ret, WeightConfig(mode="zero")), np.zeros(3))
    w = expert_weights(d, ag_ret, exp_ret, WeightConfig(d_scale=50.0), has_demo=np.array([True, True, False]))
    assert w[2] == 0.0


def test_unknown_distance_or_return_counts_as_far():
    w = expert_weights(np.array([np.nan, 1e9]), np.array([np.nan, -1e9]), np.array([-300.0, -300.0]), WeightConfig(d_scale=50.0))
    assert w[0] == pytest.approx(w[1]) == pytest.approx(1.0)


@pytest.mark.parametrize("kwargs", [{"mode": "dtw2"}, {"d_scale": 0.0}, {"w_max": -1.0}, {"gap_scale": -1}])
def test_bad_config_raises(kwargs):
    with pytest.raises(ConfigError):
        WeightConfig(**kwargs)


def test_auto_scale_is_the_median_distance_and_spreads_the_weights():
    from reled_sumo.optim.weights import calibrate_d_scale

    d = np.array([190.0, 230.0, 260.0, 300.0, np.nan])
    scale = calibrate_d_scale(d)
    assert scale == 245.0 and calibrate_d_scale(np.array([np.nan, 0.0])) == 50.0
    gap = np.full(5, -500.0), np.full(5, -300.0)
    w_auto = expert_weights(d, *gap, WeightConfig(), d_scale=scale)
    w_fixed = expert_weights(d, *gap, WeightConfig(d_scale=50.0))
    assert np.ptp(w_auto[:4]) > 0.15 > np.ptp(w_fixed[:4])  # 50 m saturates every agent at ~1
    with pytest.raises(ValueError):
        expert_weights(d, *gap, WeightConfig())  # "auto" needs the calibrated scale
    with pytest.raises(ConfigError):
        WeightConfig(d_scale="median")
