"""Reference policies and the throughput benchmark."""
from __future__ import annotations

import numpy as np
import pytest

from reled_sumo.env import get_policy, policy_names
from reled_sumo.bench.env import bench_env, derive_scenario, format_rows
from reled_sumo.env.observation import C_LIVE_VIA_TIME, C_VIA_TIME, N_CAND, N_OWN
from reled_sumo.errors import ConfigError


def _batch():
    K = 4
    obs = {}
    infos = {}
    for a, (via, mask) in {
        "a": ([0.5, 0.2, 0.9, 0.0], [1, 1, 1, 0]),
        "b": ([0.3, 0.0, 0.1, 0.0], [1, 0, 0, 0]),  # slot 2 is cheaper but masked out
        "c": ([0.1, 0.2, 0.0, 0.0], [1, 1, 0, 0]),
    }.items():
        o = np.zeros(N_OWN + K * N_CAND, dtype=np.float32)
        o[N_OWN + C_VIA_TIME :: N_CAND] = via
        obs[a] = o
        infos[a] = {"needs_decision": a != "c", "action_mask": np.array(mask, dtype=np.int8)}
    return obs, infos


def test_shortest_policy_on_batches():
    obs, infos = _batch()
    assert get_policy("shortest")(obs, infos) == {"a": 1, "b": 0}  # c is not deciding


def test_live_policy_follows_the_live_times_not_the_free_flow_ones():
    obs, infos = _batch()
    for a, live in {"a": [0.4, 0.9, 0.3, 0.0], "b": [0.9, 0.0, 0.1, 0.0], "c": [0.0, 0.0, 0.0, 0.0]}.items():
        obs[a][N_OWN + C_LIVE_VIA_TIME :: N_CAND] = live
    # a: free flow says slot 1, the live times say slot 2; b: only slot 0 is valid
    assert get_policy("live")(obs, infos) == {"a": 2, "b": 0}
    assert get_policy("shortest")(obs, infos) == {"a": 1, "b": 0}


def test_random_policy_valid_and_seeded():
    obs, infos = _batch()
    p1, p2 = get_policy("random", seed=4), get_policy("random", seed=4)
    seq1 = [p1(obs, infos) for _ in range(50)]
    seq2 = [p2(obs, infos) for _ in range(50)]
    assert seq1 == seq2
    assert {s["a"] for s in seq1} == {0, 1, 2} and {s["b"] for s in seq1} == {0}
    p1.reset(4)
    assert [p1(obs, infos) for _ in range(50)] == seq1
    assert get_policy("random", seed=0)({}, {}) == {}


def test_policy_registry():
    assert {"random", "shortest", "live"} <= set(policy_names())
    with pytest.raises(ConfigError):
        get_policy("nope")


def test_bench_env_rows(sample_scenario, tmp_path):
    from reled_sumo.env import make_env
    from reled_sumo.env.episode import run_episode, shortest_act

    rows = bench_env(sample_scenario, agents_list=[5], backends=["libsumo"], horizon=300)
    (r,) = rows
    assert r["agents"] == r["controlled_agents"] == 5 and r["backend"] == "libsumo"
    # the row's decisions are the episode's: the same env, policy and seed played by the collector
    env = make_env(sample_scenario, backend="libsumo", horizon=300, max_agents=5, seed=0)
    try:
        stats = run_episode(env, shortest_act, seed=0)
    finally:
        env.close()
    assert r["decisions"] == stats.decisions > 0
    assert 0 < r["sim_s"] <= 300
    assert r["env_wall_s"] > 0 and r["raw_wall_s"] > 0
    assert 0 < r["cpu_ratio_env_to_raw"] < 10
    # the gap's split: SUMO's steps are part of the env's wall time, not all of it
    assert 0 < r["env_outside_sumo_share"] < 1 and r["sumo_in_env_to_raw"] > 0
    assert "ratio_env_to_raw" in format_rows(rows)


def test_bench_env_cli_columns(sample_dir):
    import json

    from typer.testing import CliRunner

    from reled_sumo.cli.app import app

    res = CliRunner().invoke(app, ["bench", "env", "-s", str(sample_dir), "--agents", "3", "--backends", "libsumo",
                                   "--horizon", "120", "--json"])
    assert res.exit_code == 0, res.output
    for col in ("ratio_env_to_raw", "decisions_per_s", "us_per_decision", "overhead_us_per_decision"):
        assert col in res.output
    (row,) = [json.loads(ln) for ln in res.output.splitlines() if ln.startswith("{")]
    assert row["controlled_agents"] == 3 and row["decisions"] > 0
    bad = CliRunner().invoke(app, ["bench", "env", "-s", str(sample_dir), "--agents", "10,lots"])
    assert bad.exit_code == 2 and "comma-separated list of integers" in bad.output


def test_derive_scenario_with_more_agents(sample_scenario, tmp_path):
    s = derive_scenario(sample_scenario, 40, tmp_path / "s40")
    s.verify()
    assert len(s.agents) == 40 and s.agent_ids[-1] == "agent_39"
    assert s.agents[30].depart == s.agents[29].depart + 10.0
    rows = bench_env(s, agents_list=[40], backends=["libsumo"], horizon=200)
    assert rows[0]["decisions"] > 0
