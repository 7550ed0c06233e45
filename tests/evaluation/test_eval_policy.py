"""evaluate_policy / evaluate_loaded / evaluate_run and the metric definitions."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from reled_sumo.errors import ConfigError, RelEdError
from reled_sumo.evaluation.evaluate import evaluate_loaded, evaluate_policy, evaluate_run
from reled_sumo.metrics.results import (
    EVAL_SEED_BASE, EpisodeOutcome, EvalResult, SeedMetrics, eval_seeds, load_results, save_results,
)


def _shortest():
    from reled_sumo.env import get_policy
    from reled_sumo.env.acting import batch_policy, with_zero_stats

    return with_zero_stats(batch_policy(get_policy("shortest")))


def _policy(n_agents: int, scenario):
    from reled_sumo.env import make_env
    from reled_sumo.optim import PolicyConfig, build_policy

    env = make_env(scenario, max_agents=n_agents)
    try:
        return build_policy(PolicyConfig(), n_agents, env.obs_dim, env.K)
    finally:
        env.close()


def test_metric_definitions_on_a_hand_made_episode():
    o = EpisodeOutcome(
        travel_time=np.array([100.0, 200.0, 50.0, 30.0, np.nan]),
        arrived=np.array([True, True, False, False, False]),
        teleported=np.array([False, False, False, True, False]),
        departed=np.array([True, True, True, True, False]),
        waiting_time=np.array([10.0, 0.0, 20.0, 30.0, np.nan]),
        returns=np.array([-1.0, -2.0, -3.0, -4.0, 0.0]),
    )
    m = SeedMetrics.from_outcome(7, o)
    assert m.mean_travel_time == 150.0 and m.p95_travel_time == pytest.approx(195.0)
    assert m.arrival_rate == 0.4 and m.teleports == 1 and m.unfinished == 1 and m.not_departed == 1
    assert m.censored_travel_time == pytest.approx(95.0)
    assert m.mean_waiting_time == 15.0 and m.mean_return == -2.0
    assert m.travel_times == (100.0, 200.0)
    none = SeedMetrics.from_outcome(0, EpisodeOutcome(*(np.array(x) for x in (
        [np.nan], [False], [False], [False], [np.nan], [0.0]))))
    assert math.isnan(none.mean_travel_time) and none.arrival_rate == 0.0


def test_eval_seeds():
    assert eval_seeds(3) == (EVAL_SEED_BASE, EVAL_SEED_BASE + 1, EVAL_SEED_BASE + 2)
    assert eval_seeds([5, 1]) == (5, 1)
    with pytest.raises(ConfigError):
        eval_seeds(0)


def test_evaluate_policy_and_results_roundtrip(kotka_small, tmp_path):
    r = evaluate_policy(kotka_small, _shortest(), seeds=[1, 2], env_options={"max_agents": 6}, method="sp")
    assert all(s.arrival_rate == 1.0 for s in r.per_seed)
    assert r.method == "sp" and r.seeds == (1, 2) and r.meta["n_agents"] == 6
    assert all(s.n_agents == 6 for s in r.per_seed)
    assert r.travel_times().size == sum(len(s.travel_times) for s in r.per_seed)
    [back] = load_results(save_results([r], tmp_path / "res.json"))
    assert isinstance(back, EvalResult) and json.dumps(back.to_dict()) == json.dumps(r.to_dict())


def test_every_agent_is_counted_once(kotka_small):
    """arrived + still driving + teleported + never departed = all agents, on a horizon that cuts trips."""
    r = evaluate_policy(kotka_small, _shortest(), seeds=[1, 2], env_options={"max_agents": 8, "horizon": 120})
    for s in r.per_seed:
        arrived = round(s.arrival_rate * s.n_agents)
        assert arrived + s.unfinished + s.teleports + s.not_departed == s.n_agents == 8
        assert s.unfinished > 0  # 120 s is too short for some trips: the censored mean covers them
        assert s.censored_travel_time >= s.mean_travel_time or math.isnan(s.mean_travel_time)


def test_evaluate_loaded_policy_is_deterministic(kotka_small):
    policy = _policy(4, kotka_small)
    meta = {"scenario": str(kotka_small.path), "algo": "hpo", "seed": 0, "env": {"max_agents": 4, "horizon": 200}}
    a = evaluate_loaded(policy, meta, seeds=[3])
    b = evaluate_loaded(policy, meta, seeds=[3])
    assert a.method == "hpo" and a.meta["algo"] == "hpo" and a.per_seed == b.per_seed
    with pytest.raises(ConfigError):
        evaluate_loaded(policy, {"algo": "x"}, seeds=1)


def test_evaluate_run_missing_folder(tmp_path):
    with pytest.raises(RelEdError):
        evaluate_run(tmp_path / "nope", 1)


def test_evaluate_run_loads_a_real_checkpoint(kotka_small, tmp_path):
    """A run trained by the Trainer, loaded from disk: the evaluated policy is the saved one."""
    from reled_sumo.training.checkpoint import load_policy
    from reled_sumo.training.config import config_from_dict
    from reled_sumo.training.trainer import Trainer

    cfg = config_from_dict({"scenario": str(kotka_small.path), "algo": "ippo", "seed": 1,
                                 "total_decisions": 30, "eval_every": 0, "env": {"max_agents": 3, "horizon": 150}})
    run = tmp_path / "run-a"
    Trainer(cfg, run).run()
    r = evaluate_run(run, [4])
    assert r.method == "ippo:run-a" and r.meta["run_dir"] == str(run) and r.per_seed[0].n_agents == 3
    policy, meta = load_policy(run)
    direct = evaluate_loaded(policy.eval(), meta, seeds=[4])
    assert direct.per_seed == r.per_seed
