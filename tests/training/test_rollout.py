"""The EpisodeCollector behind run_episode: what it stores, checked against the env's own
dicts played step by step (not against a frozen copy of an older collector)."""
from __future__ import annotations

import numpy as np
import pytest

from reled_sumo.env import make_env
from reled_sumo.optim.buffer import MultiAgentRolloutBuffer
from reled_sumo.env.episode import EnvWorker, EpisodeCollector, run_episode
from reled_sumo.training.trainer import compute_advantages
from rollout_policies import random_act, value_fn

BUFFER_FIELDS = ("obs", "actions", "masks", "rewards", "values", "log_probs", "agent_index", "episode_start",
                 "terminated", "truncated", "final_values", "positions")


# --------------------------------------------------------------------------- tests
def _collect(run, scenario, seeds, act_seed, **options):
    env = make_env(scenario.path, **options)
    buf = MultiAgentRolloutBuffer(20_000, env.obs_dim, env.K, len(env.possible_agents))
    try:
        act = random_act(act_seed)
        stats = [run(env, act, value_fn, buf, seed=s) for s in seeds]
    finally:
        env.close()
    return buf, stats


def _trajectories(buf):
    n = buf.pos
    out: dict[int, list[int]] = {}
    for r, i in enumerate(buf.agent_index[:n].tolist()):
        out.setdefault(i, []).append(r)
    return out


@pytest.mark.parametrize("horizon", [150, None])
def test_buffer_rows_close_every_trajectory_and_match_the_episode(kotka_small, horizon):
    buf, stats = _collect(run_episode, kotka_small, [3], 11, horizon=horizon)
    n, st = buf.pos, stats[0]
    assert n == st.decisions > 50
    for i, rows in _trajectories(buf).items():
        assert buf.episode_start[rows[0]] and not buf.episode_start[rows[1:]].any()
        ends = buf.terminated[rows] | buf.truncated[rows]
        assert ends[-1] and not ends[:-1].any()  # one episode: each trajectory ends once, at its last row
        assert buf.terminated[rows[-1]] != buf.truncated[rows[-1]]
        # every reward of the episode lands on a decision, except what closed no decision
        assert buf.rewards[rows].sum() + st.unattributed[i] == pytest.approx(st.returns[i], abs=1e-4)
        if st.arrived[i]:
            assert buf.terminated[rows[-1]]
    if horizon is not None:
        assert buf.truncated[:n].any()


def test_truncation_bootstraps_from_the_state_at_the_horizon(kotka_small):
    """V(final obs) of a horizon-truncated row is the value of the agent's observation AT the
    horizon; before it was the row's own (stale) decision observation."""
    env = make_env(kotka_small.path, horizon=150)
    buf = MultiAgentRolloutBuffer(20_000, env.obs_dim, env.K, len(env.possible_agents))
    finals = []

    def spy(obs, idx):
        finals.append(obs.copy())
        return value_fn(obs, idx)

    try:
        run_episode(env, random_act(4), spy, buf, seed=6)
    finally:
        env.close()
    n = buf.pos
    trunc = np.flatnonzero(buf.truncated[:n])
    assert trunc.size >= 3 and finals
    final_obs = np.concatenate(finals)
    for r in trunc:
        assert not any(np.array_equal(buf.obs[r], f) for f in final_obs)  # never the row's own state
        assert buf.final_values[r] != buf.values[r]


def test_advantages_refuse_an_open_trajectory(kotka_small):
    """GAE's guard stays on: a trajectory cut without termination or truncation raises instead
    of silently bootstrapping from 0."""
    from reled_sumo.optim import HPOConfig

    buf, _ = _collect(run_episode, kotka_small, [3], 11, horizon=150)
    compute_advantages(buf, HPOConfig())  # whole episodes: fine
    buf.pos = int(np.flatnonzero(~(buf.terminated[: buf.pos] | buf.truncated[: buf.pos]))[-1]) + 1
    with pytest.raises(ValueError, match="mid-trajectory"):
        compute_advantages(buf, HPOConfig())


def test_collector_without_buffer_counts_the_same(kotka_small):
    _, with_buffer = _collect(run_episode, kotka_small, [5], 2, horizon=250)
    env = make_env(kotka_small.path, horizon=250)
    try:
        plain = run_episode(env, random_act(2), seed=5)
    finally:
        env.close()
    assert plain.decisions == with_buffer[0].decisions
    assert np.array_equal(plain.returns, with_buffer[0].returns)


def test_collector_step_by_step_api(kotka_small):
    env = make_env(kotka_small.path, horizon=120)
    try:
        worker = EnvWorker(env)
        col = EpisodeCollector(worker.n_agents)
        with pytest.raises(RuntimeError, match="begin"):
            col.deciders()
        col.begin(worker.reset(seed=1))
        steps = 0
        while not col.done:
            idx, obs, mask = col.deciders()
            assert obs.dtype == np.float32 and mask.dtype == bool and len(idx) == len(obs) == len(mask)
            actions = col.apply(mask.argmax(axis=1), np.zeros(len(idx)), np.zeros(len(idx))) if len(idx) else {}
            assert sorted(actions) == sorted(idx.tolist())
            batch = worker.step(actions)
            assert batch.final_obs.shape[0] == int((batch.terminated | batch.truncated).sum())
            col.observe(batch)
            steps += 1
        stats = col.finish()
        assert steps > 5 and stats.decisions > 0 and stats.sim_seconds >= 120
    finally:
        env.close()
