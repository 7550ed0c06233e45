"""Which agents make a learned policy's bad evaluation episodes bad (docs/results.md, "The README main job").

    python jam_agents.py RUN_DIR SEED [SEED ...]

For each SUMO seed, one greedy episode of the run's policy and one of the `live` prior on the same seed:
the mean travel times, how many agents lose or gain more than 60 s against `live`, and the six agents
that lose most, with the number of points of their path (one per decision, plus the end) under each.
"""
import sys

import numpy as np

from reled_sumo.env import make_env
from reled_sumo.env.acting import batch_policy, learner_act, with_zero_stats
from reled_sumo.env.episode import run_episode
from reled_sumo.env.policies import get_policy
from reled_sumo.training.checkpoint import load_policy
from reled_sumo.training.config import load_config

run = sys.argv[1]
policy, _ = load_policy(run)
cfg = load_config(f"{run}/config.yaml")
env = make_env(cfg.scenario, config=cfg.env)
live = with_zero_stats(batch_policy(get_policy("live")))
try:
    for seed in map(int, sys.argv[2:]):
        a = run_episode(env, learner_act(policy), seed=seed)
        b = run_episode(env, live, seed=seed)
        d = a.travel_time - b.travel_time
        pa, pb = (np.array([len(p) for p in e.paths]) for e in (a, b))
        worst = np.argsort(-d)[:6]
        print(f"seed {seed}: {np.nanmean(a.travel_time):.1f} s vs live {np.nanmean(b.travel_time):.1f} s; "
              f"agents > 60 s worse {(d > 60).sum()}, > 60 s better {(d < -60).sum()}; "
              f"worst agents {worst.tolist()} by {np.round(d[worst]).astype(int).tolist()} s, "
              f"path points {pa[worst].tolist()} vs live {pb[worst].tolist()}")
finally:
    env.close()
