import numpy as np
import pytest
import torch as th

from reled_sumo.optim.buffer import MultiAgentRolloutBuffer
from reled_sumo.optim.gae import compute_gae

D, K, N = 3, 4, 2


def filled_buffer():
    """Agent 0: three decisions of one open episode; agent 1: a truncated then a terminated episode."""
    buf = MultiAgentRolloutBuffer(capacity=8, obs_dim=D, n_actions=K, n_agents=N)
    rows = [  # agent, reward, value, episode_start, terminated, truncated, final_value, position
        (0, 1.0, 0.5, True, False, False, 0.0, (0.0, 0.0)),
        (1, -1.0, 0.2, True, False, True, 1.0, (5.0, 5.0)),
        (0, 2.0, 1.0, False, False, False, 0.0, (1.0, 0.0)),
        (1, 0.5, 0.3, True, True, False, 0.0, (7.0, 7.0)),
        (0, 3.0, 1.5, False, False, False, 0.0, (2.0, 0.0)),
    ]
    for k, (a, r, v, start, term, trunc, fv, pos) in enumerate(rows):
        buf.add(np.full((1, D), k), [k % K], np.ones((1, K)), [r], [v], [-0.5], [a], [start], [term], [trunc],
                final_values=[fv], positions=[pos])
    return buf


def test_advantages_match_gae_and_minibatches_cover_buffer():
    buf = filled_buffer()
    assert len(buf) == 5 and buf.free == 3 and not buf.full
    np.testing.assert_array_equal(buf.open_agents(), [True, False])
    buf.compute_returns_and_advantage(np.array([2.0, np.nan]), gamma=0.9, gae_lambda=0.8)
    adv, ret = compute_gae(buf.rewards[:5], buf.values[:5], buf.agent_index[:5], buf.terminated[:5],
                           buf.truncated[:5], buf.final_values[:5], np.array([2.0, np.nan]), 0.9, 0.8)
    np.testing.assert_allclose(buf.advantages[:5], adv)
    seen = []
    for mb in buf.minibatches(2, np.random.default_rng(0)):
        assert mb.obs.dtype == th.float32 and mb.actions.dtype == th.int64 and mb.masks.dtype == th.bool
        assert mb.obs.shape[1] == D and mb.masks.shape[1] == K
        seen += mb.obs[:, 0].long().tolist()
        th.testing.assert_close(mb.returns, th.as_tensor(ret[mb.obs[:, 0].long().numpy()]))
    assert sorted(seen) == [0, 1, 2, 3, 4]


def test_sampling_before_gae_and_overflow_raise():
    buf = filled_buffer()
    with pytest.raises(RuntimeError):
        next(buf.minibatches(2, np.random.default_rng(0)))
    with pytest.raises(ValueError, match="full"):
        buf.add(np.zeros((4, D)), np.zeros(4), np.ones((4, K)), *np.zeros((3, 4)), np.zeros(4, int),
                *np.zeros((3, 4), bool))


def test_new_episode_without_done_flag_raises():
    buf = MultiAgentRolloutBuffer(4, D, K, N)
    for start in (True, True):  # second episode starts but the first was never flagged done
        buf.add(np.zeros((1, D)), [0], np.ones((1, K)), [0.0], [0.0], [0.0], [0], [start], [False], [False])
    with pytest.raises(ValueError, match="new episode"):
        buf.compute_returns_and_advantage(np.zeros(N), 0.9, 0.9)


def test_paths_and_episode_returns():
    buf = filled_buffer()
    paths = buf.agent_paths()
    np.testing.assert_allclose(paths[0], [[0, 0], [1, 0], [2, 0]])
    np.testing.assert_allclose(paths[1], [[7, 7]])  # latest episode only
    returns = buf.agent_episode_returns()
    assert np.isnan(returns[0])  # agent 0's episode is still running
    assert returns[1] == pytest.approx((-1.0 + 0.5) / 2)
