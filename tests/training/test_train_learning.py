"""Slow: a short RELED run learns routes that beat the random policy on the small Kotka scenario.

Runs with ``pytest -m slow`` or ``RELED_TEST_SLOW=1`` (about 20-30 s on 2 cores).
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from reled_sumo.env import make_env
from reled_sumo.training.checkpoint import load_policy
from reled_sumo.training.config import load_config
from reled_sumo.env.episode import run_episode
from reled_sumo.training.trainer import Trainer


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_reled_beats_random_travel_time(kotka_small, tmp_path, request):
    if "slow" not in (request.config.getoption("markexpr") or "") and not os.environ.get("RELED_TEST_SLOW"):
        pytest.skip("slow: run with -m slow or RELED_TEST_SLOW=1")
    cfg = load_config(None, {"scenario": str(kotka_small.path), "algo": "reled", "total_decisions": 6000,
                             "sed_every": 5, "sed.rounds": 2, "hpo.learning_rate": 1e-3, "seed": 0})
    result = Trainer(cfg, run_dir=tmp_path / "run").run()
    policy, _ = load_policy(result.run_dir)
    env = make_env(kotka_small)
    rng = np.random.default_rng(0)

    def random_act(o, i, m):
        a = np.array([rng.choice(np.flatnonzero(row)) for row in m])
        return a, np.zeros(len(a)), np.zeros(len(a))

    try:
        learned = [run_episode(env, lambda o, i, m: policy.act(o, i, m, deterministic=True), seed=s)
                   for s in (101, 102)]
        rand = [run_episode(env, random_act, seed=s) for s in (101, 102)]
    finally:
        env.close()
    tt_learned = np.mean([e.mean_travel_time for e in learned])
    tt_random = np.mean([e.mean_travel_time for e in rand])
    assert tt_learned < 0.8 * tt_random, (tt_learned, tt_random)
    assert np.mean([e.arrival_rate for e in learned]) > np.mean([e.arrival_rate for e in rand])


def test_reled_learns_to_route_within_10_percent_of_shortest(kotka_small, tmp_path):
    """CI learning test (not slow): 10 agents, no shortest-path prior, 4,500 decisions. The greedy
    policy must end within 1.1x the free-flow shortest path's travel time on the same evaluation
    seeds (non-arrived agents counted), and the rollouts (sampled actions) must have improved over
    the run. A run stopped after its first update (lr 1e-3, 5 epochs) measured 2.52x shortest
    (arrival 0.50): the policy learns, it is not born there. Training seeds 0-3 measured
    1.003-1.040x at 4,500 decisions (26-30 updates) and 1.009-1.111x at 3,000 (one seed over 1.1x),
    once every episode sampled from its own seed (2026-12-05), so the budget is 4,500."""
    from reled_sumo.env.acting import learner_act
    from reled_sumo.evaluation.evaluate import evaluate_policy
    from reled_sumo.evaluation.references import evaluate_reference
    import csv

    env_opts = {"max_agents": 10, "horizon": 600}
    cfg = load_config(None, {"scenario": str(kotka_small.path), "algo": "reled", "total_decisions": 4500,
                             "sed_every": 0, "eval_every": 0, "sed.rounds": 2, "hpo.learning_rate": 3e-3,
                             "hpo.n_epochs": 10, "hpo.prior_tau": 0.0, "seed": 0, "env.max_agents": 10,
                             "env.horizon": 600})
    result = Trainer(cfg, run_dir=tmp_path / "run").run()
    policy, _ = load_policy(result.run_dir)
    seeds = [10_000, 10_001, 10_002]
    learned = evaluate_policy(kotka_small, learner_act(policy), seeds, env_opts)
    shortest = evaluate_reference("shortest", kotka_small, seeds, env_opts)
    tt_l = learned.values("censored_travel_time").mean()
    tt_s = shortest.values("censored_travel_time").mean()
    assert tt_l <= 1.1 * tt_s, (tt_l, tt_s)
    with open(result.run_dir / "progress.csv") as fh:
        rows = list(csv.DictReader(fh))
    first, last = (float(r["rollout/mean_travel_time"]) for r in (rows[0], rows[-1]))
    assert len(rows) >= 3 and last < first, (first, last)
