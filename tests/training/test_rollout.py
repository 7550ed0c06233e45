"""The step-driven EpisodeCollector behind run_episode stores exactly what the previous,
monolithic run_episode stored (kept verbatim below as the frozen reference)."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pytest

from reled_sumo.env import make_env
from reled_sumo.optim.buffer import MultiAgentRolloutBuffer
from reled_sumo.env.episode import ActFn, EnvWorker, EpisodeCollector, EpisodeStats, ValueFn, run_episode
from rollout_policies import random_act, value_fn

BUFFER_FIELDS = ("obs", "actions", "masks", "rewards", "values", "log_probs", "agent_index", "episode_start",
                 "terminated", "truncated", "final_values", "positions")


# --------------------------------------------------------------------------- frozen reference
# run_episode and its helpers as they were before the EpisodeCollector refactoring (renamed only).
@dataclass
class _LegacyPending:
    obs: np.ndarray
    action: int
    mask: np.ndarray
    value: float
    log_prob: float
    position: tuple[float, float]
    episode_start: bool


def _legacy_batch(agents, obs, infos, index):
    idx = np.fromiter((index[a] for a in agents), dtype=np.int64, count=len(agents))
    o = np.stack([obs[a] for a in agents]).astype(np.float32)
    m = np.stack([np.asarray(infos[a]["action_mask"], dtype=bool) for a in agents])
    return idx, o, m


def legacy_run_episode(env, act: ActFn, value_fn: ValueFn | None = None,
                       buffer: MultiAgentRolloutBuffer | None = None, seed: int | None = None) -> EpisodeStats:
    """Play one episode with ``act``; if ``buffer`` is given, store complete transitions."""
    index = {a: i for i, a in enumerate(env.possible_agents)}
    stats = EpisodeStats(len(env.possible_agents))
    t0 = time.perf_counter()
    obs, infos = env.reset(seed=seed)
    pending: dict[str, _LegacyPending] = {}
    started: set[str] = set()
    while env.agents:
        agents = _legacy_deciders(env, infos)
        if not agents:  # nobody at a decision point: let the env advance
            obs, rewards, terms, truncs, infos = env.step({})
            _legacy_complete(pending, rewards, terms, truncs, obs, infos, index, stats, buffer, value_fn)
            continue
        idx, o, m = _legacy_batch(agents, obs, infos, index)
        actions, values, logps = act(o, idx, m)
        for j, a in enumerate(agents):
            pos = tuple(infos[a].get("position", (np.nan, np.nan)))
            pending[a] = _LegacyPending(o[j], int(actions[j]), m[j], float(values[j]), float(logps[j]), pos,
                                        a not in started)
            started.add(a)
            stats.paths[index[a]].append(pos)
        stats.decisions += len(agents)
        obs, rewards, terms, truncs, infos = env.step({a: int(actions[j]) for j, a in enumerate(agents)})
        _legacy_complete(pending, rewards, terms, truncs, obs, infos, index, stats, buffer, value_fn)
    stats.wall_seconds = time.perf_counter() - t0
    stats.sim_seconds = float(getattr(env, "sim_time", 0.0))
    return stats


def _legacy_deciders(env, infos) -> list[str]:
    return [a for a in env.agents if infos[a].get("needs_decision", True)]


def _legacy_complete(pending, rewards, terms, truncs, obs, infos, index, stats, buffer, value_fn) -> None:
    """Close the pending transition of every agent whose reward was just delivered: it is at
    its next decision, or it is done."""
    done_now = [a for a in rewards if terms.get(a) or truncs.get(a)]
    delivered = [a for a in rewards if a in done_now or infos.get(a, {}).get("needs_decision", False)]
    for a, r in rewards.items():
        stats.returns[index[a]] += float(r)
    for a in done_now:
        info = infos.get(a, {})
        stats.arrived[index[a]] = bool(terms.get(a))
        stats.travel_time[index[a]] = float(info.get("travel_time", np.nan))
        if "position" in info:
            stats.paths[index[a]].append(tuple(info["position"]))
    if buffer is None:
        for a in delivered:
            pending.pop(a, None)
        return
    ready = [a for a in delivered if a in pending]
    if not ready:
        return
    trunc = np.array([bool(truncs.get(a)) and not bool(terms.get(a)) for a in ready])
    final_values = np.zeros(len(ready), dtype=np.float32)
    if trunc.any() and value_fn is not None:
        tr = [a for a, t in zip(ready, trunc) if t]
        fv = value_fn(np.stack([obs[a] for a in tr]).astype(np.float32),
                      np.array([index[a] for a in tr], dtype=np.int64))
        final_values[trunc] = fv
    ps = [pending.pop(a) for a in ready]
    buffer.add(
        obs=np.stack([p.obs for p in ps]), actions=np.array([p.action for p in ps]),
        masks=np.stack([p.mask for p in ps]), rewards=np.array([rewards[a] for a in ready], dtype=np.float32),
        values=np.array([p.value for p in ps]), log_probs=np.array([p.log_prob for p in ps]),
        agent_index=np.array([index[a] for a in ready]), episode_start=np.array([p.episode_start for p in ps]),
        terminated=np.array([bool(terms.get(a)) for a in ready]), truncated=trunc,
        final_values=final_values, positions=np.array([p.position for p in ps], dtype=np.float32),
    )


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


@pytest.mark.parametrize("horizon", [250, None])
def test_run_episode_buffer_unchanged_by_the_refactoring(kotka_small, horizon):
    old_buf, old_stats = _collect(legacy_run_episode, kotka_small, [3, 4], 11, horizon=horizon)
    new_buf, new_stats = _collect(run_episode, kotka_small, [3, 4], 11, horizon=horizon)
    assert new_buf.pos == old_buf.pos > 100
    for name in BUFFER_FIELDS:
        old, new = getattr(old_buf, name)[: old_buf.pos], getattr(new_buf, name)[: new_buf.pos]
        assert old.dtype == new.dtype and np.array_equal(old, new, equal_nan=True), name
    if horizon is not None:
        assert old_buf.truncated[: old_buf.pos].any() and (old_buf.final_values[: old_buf.pos] != 0).any()
    for a, b in zip(old_stats, new_stats):
        assert np.array_equal(a.returns, b.returns) and np.array_equal(a.arrived, b.arrived)
        assert np.array_equal(a.travel_time, b.travel_time, equal_nan=True)
        assert (a.decisions, a.sim_seconds) == (b.decisions, b.sim_seconds)
        assert [[tuple(map(float, p)) for p in path] for path in a.paths] == b.paths


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
