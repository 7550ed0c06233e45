import numpy as np
import pytest

from reled_sumo.optim.gae import compute_gae, successor_index


def hand_case():
    # t:            0     1     2     3     4
    agent = np.array([0, 1, 0, 1, 0])
    rewards = np.array([1.0, -1.0, 2.0, 0.5, 3.0])
    values = np.array([0.5, 0.2, 1.0, 0.3, 1.5])
    terminated = np.array([0, 0, 0, 1, 0], bool)
    truncated = np.array([0, 1, 0, 0, 0], bool)
    final_values = np.array([0.0, 1.0, 0.0, 0.0, 0.0])
    last_values = np.array([2.0, np.nan])
    return rewards, values, agent, terminated, truncated, final_values, last_values


def test_hand_computed_interleaved_trajectories():
    adv, ret = compute_gae(*hand_case(), gamma=0.9, gae_lambda=0.8)
    # agent 0: deltas 1.4, 2.35, 3.3 (last bootstrapped with last_values[0] = 2)
    a4 = 3.3
    a2 = 2.35 + 0.72 * a4
    a0 = 1.4 + 0.72 * a2
    # agent 1: truncated (bootstrap 0.9 * 1.0, no link), then terminated
    expected = np.array([a0, -0.3, a2, 0.2, a4])
    np.testing.assert_allclose(adv, expected, rtol=1e-6)
    np.testing.assert_allclose(ret, expected + hand_case()[1], rtol=1e-6)


def test_open_trajectory_without_last_value_raises():
    case = list(hand_case())
    case[6] = np.array([np.nan, np.nan])
    with pytest.raises(ValueError, match=r"agents \[0\]"):
        compute_gae(*case, gamma=0.9, gae_lambda=0.8)


def test_successor_index():
    np.testing.assert_array_equal(successor_index(np.array([0, 1, 0, 1, 0]), 2), [2, 3, 4, -1, -1])


def loop_reference(rewards, values, agent, term, trunc, final_values, last_values, gamma, lam):
    adv = np.zeros(len(rewards))
    for a in np.unique(agent):
        rows = np.flatnonzero(agent == a)
        running = 0.0
        for k in range(len(rows) - 1, -1, -1):
            t = rows[k]
            if term[t]:
                nv, link = 0.0, 0.0
            elif trunc[t]:
                nv, link = final_values[t], 0.0
            elif k + 1 < len(rows):
                nv, link = values[rows[k + 1]], 1.0
            else:
                nv, link = last_values[a], 0.0
            delta = rewards[t] + gamma * nv - values[t]
            running = delta + gamma * lam * link * running
            adv[t] = running
    return adv


def test_matches_loop_reference_on_random_data():
    rng = np.random.default_rng(0)
    t, n = 500, 7
    agent = rng.integers(0, n, t)
    rewards, values, final_values = rng.normal(size=(3, t))
    term = rng.random(t) < 0.1
    trunc = rng.random(t) < 0.05
    last_values = rng.normal(size=n)
    adv, _ = compute_gae(rewards, values, agent, term, trunc, final_values, last_values, 0.97, 0.9)
    ref = loop_reference(rewards, values, agent, term, trunc & ~term, final_values, last_values, 0.97, 0.9)
    np.testing.assert_allclose(adv, ref, rtol=1e-5, atol=1e-5)
