"""A run's greedy policy with and without env.loop_guard on evaluation seeds 10000-10009 (docs/results.md,
"The loop guard, tried on the README job"): mean travel time per seed of each, and the paired difference.

    python guard_eval.py RUN_DIR
"""
import sys

import numpy as np
from dataclasses import replace

from reled_sumo.env import make_env
from reled_sumo.env.acting import learner_act
from reled_sumo.env.episode import run_episode
from reled_sumo.metrics.stats import mean_ci
from reled_sumo.training.checkpoint import load_policy
from reled_sumo.training.config import load_config

run = sys.argv[1]
pol, _ = load_policy(run)
cfg = load_config(f"{run}/config.yaml")
res = {}
for guard in (False, True):
    env = make_env(cfg.scenario, config=replace(cfg.env, loop_guard=guard))
    try:
        res[guard] = np.array([np.nanmean(run_episode(env, learner_act(pol), seed=s).travel_time) for s in range(10000, 10010)])
    finally:
        env.close()
print("no guard", np.round(res[False], 1).tolist(), res[False].mean().round(1))
print("guard   ", np.round(res[True], 1).tolist(), res[True].mean().round(1))
print("guard - no guard", mean_ci(res[True] - res[False]).format(1))
