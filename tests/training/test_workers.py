"""Parallel rollouts: worker processes, one batched forward per round, failures, shutdown."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from reled_sumo.env import make_env
from reled_sumo.errors import SimulationDiedError
from reled_sumo.optim.buffer import MultiAgentRolloutBuffer
from reled_sumo.bench.workers import bench_workers
from reled_sumo.env.episode import run_episode
from reled_sumo.training.workers import (
    RolloutWorkerError, RolloutWorkerPool, WorkerSimulationDiedError, collect_parallel,
)
from rollout_policies import random_act, value_fn

HORIZON = 250
SEEDS = [3, 4, 5]
BUFFER_FIELDS = ("obs", "actions", "masks", "rewards", "values", "log_probs", "agent_index", "episode_start",
                 "terminated", "truncated", "final_values", "positions")


def shortest_like_act(obs, agent_index, mask):
    """Deterministic per row (the batch composition must not matter): lowest valid slot of a
    hash of the observation, values from value_fn, log-probs from the row."""
    score = np.where(mask, np.sin(obs[:, : mask.shape[1]] * 1000 + agent_index[:, None]), -2.0)
    return score.argmax(axis=1), value_fn(obs, agent_index), -np.abs(obs[:, 0])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def test_two_workers_match_sequential_collection(kotka_small):
    env = make_env(kotka_small.path, horizon=HORIZON)
    n = len(env.possible_agents)
    seq = MultiAgentRolloutBuffer(20_000, env.obs_dim, env.K, n)
    try:
        seq_stats = [run_episode(env, shortest_like_act, value_fn, seq, seed=s) for s in SEEDS]
    finally:
        env.close()
    calls = []

    def act(obs, idx, mask):
        calls.append(len(idx))
        return shortest_like_act(obs, idx, mask)

    with RolloutWorkerPool(kotka_small.path, {"horizon": HORIZON}, n_workers=2) as pool:
        assert pool.possible_agents == list(env.possible_agents) and pool.n_actions == env.K
        par = MultiAgentRolloutBuffer(20_000, pool.obs_dim, pool.n_actions, n)
        par_stats = collect_parallel(pool, act, value_fn, par, SEEDS)
    assert par.pos == seq.pos > 100 and par.truncated[: par.pos].any()
    for name in BUFFER_FIELDS:  # episodes reach the buffer whole and in seed order
        assert np.array_equal(getattr(par, name)[: par.pos], getattr(seq, name)[: seq.pos], equal_nan=True), name
    for a, b in zip(seq_stats, par_stats):
        assert np.array_equal(a.returns, b.returns) and a.decisions == b.decisions and a.paths == b.paths
        assert np.array_equal(a.travel_time, b.travel_time, equal_nan=True) and a.sim_seconds == b.sim_seconds
    for buf in (seq, par):
        assert not buf.open_agents().any()
        buf.compute_returns_and_advantage(np.zeros(n), gamma=0.99, gae_lambda=0.95)
    assert np.array_equal(par.advantages[: par.pos], seq.advantages[: seq.pos])
    assert np.array_equal(par.returns[: par.pos], seq.returns[: seq.pos])
    assert sum(calls) == sum(s.decisions for s in par_stats)
    assert len(calls) < sum(s.decisions for s in par_stats)  # rounds batch the deciders of both workers


def test_parallel_episode_stats_are_in_seed_order_with_a_stochastic_policy(kotka_small):
    with RolloutWorkerPool(kotka_small, {"horizon": 100}, n_workers=2) as pool:
        stats = collect_parallel(pool, random_act(0), seeds=[1, 2, 3])
        assert len(stats) == 3 and all(s.sim_seconds >= 100 and s.decisions > 0 for s in stats)
        assert collect_parallel(pool, random_act(0), seeds=[]) == []


def test_killed_sumo_raises_a_clear_error_and_the_pool_closes(kotka_small):
    pool = RolloutWorkerPool(kotka_small.path, {"horizon": HORIZON, "backend": "traci"}, n_workers=2)
    with pool:
        pool.reset({0: 1, 1: 2})
        sumo = _children(pool.pids[1])
        assert len(sumo) == 1
        os.kill(sumo[0], signal.SIGKILL)
        time.sleep(0.2)
        with pytest.raises(SimulationDiedError, match="rollout worker 1") as ei:
            for _ in range(50):
                pool.step({0: {}, 1: {}})
        assert isinstance(ei.value, WorkerSimulationDiedError) and ei.value.worker == 1
        assert "SimulationDiedError" in str(ei.value) and ei.value.remote_traceback
        assert pool.step({0: {}})[0].sim_time > 0  # the other worker goes on
        with pytest.raises(RolloutWorkerError, match="rollout worker 1"):
            pool.step({1: {}})
        assert pool.reset({1: 3})[1].sim_time >= 0  # a reset starts a new SUMO there
    assert not any(_alive(p) for p in [*pool.pids, *sumo])


def test_a_dead_worker_process_is_named_and_the_pool_closes(kotka_small):
    with pytest.raises(WorkerSimulationDiedError, match=r"rollout worker 0: process \d+ died \(exit code -9\)"):
        with RolloutWorkerPool(kotka_small.path, {"horizon": HORIZON}, n_workers=2) as pool:
            pids = pool.pids
            os.kill(pids[0], signal.SIGKILL)
            collect_parallel(pool, random_act(0), seeds=[1, 2])
    assert not any(_alive(p) for p in pids)


def test_close_terminates_processes_even_when_a_worker_hangs(kotka_small):
    pool = RolloutWorkerPool(kotka_small.path, {"horizon": HORIZON}, n_workers=2, close_timeout_s=0.5)
    pids = pool.pids
    assert all(_alive(p) for p in pids)
    os.kill(pids[1], signal.SIGSTOP)  # deaf to Close and to SIGTERM
    t0 = time.perf_counter()
    pool.close()
    assert time.perf_counter() - t0 < 10
    assert not any(_alive(p) for p in pids)
    pool.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        pool.reset({0: 1})


def test_a_worker_that_cannot_build_its_env_fails_the_pool_start(tmp_path):
    with pytest.raises(RolloutWorkerError, match="rollout worker 0"):
        RolloutWorkerPool(tmp_path / "no_such_scenario", {}, n_workers=1)


def test_bench_workers_rows(kotka_small):
    rows = bench_workers(kotka_small.path, (1, 2), episodes=2, env_options={"horizon": 100})
    assert [r.n_workers for r in rows] == [1, 2]
    assert rows[0].decisions == rows[1].decisions > 0  # same seeds, same fixed policy
    assert all(r.decisions_per_s > 0 and r.sim_s_per_wall_s > 0 for r in rows)
