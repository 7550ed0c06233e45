"""PettingZoo API conformance (warnings are errors)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

from reled_sumo import make_env


@pytest.mark.parametrize("options", [
    {"horizon": 600},
    {"horizon": 400, "decision_delay_s": 5.0, "decision_lookahead": 2},  # decision batching
], ids=["default", "decision_batching"])
def test_parallel_api(sample_dir, options):
    env = make_env(sample_dir, **options)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            parallel_api_test(env, num_cycles=1000)
    finally:
        env.close()


def test_parallel_seed(sample_dir):
    # two environments at once: TraCI (libsumo is one simulation per process)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parallel_seed_test(lambda: make_env(sample_dir, backend="traci", horizon=300), num_cycles=50)


def test_spaces(sample_dir):
    env = make_env(sample_dir)
    try:
        a = env.possible_agents[0]
        assert env.action_space(a).n == env.tables.K == env.K
        assert env.observation_space(a).shape == (env.obs_dim,)
        assert env.observation_space(a).dtype == np.float32
        assert env.possible_agents == [f"agent_{i}" for i in range(30)]
        assert env.agents == []
        obs, _ = env.reset(seed=0)
        assert obs and all(env.observation_space(b).contains(o) for b, o in obs.items())
    finally:
        env.close()


def test_reported_rows_fast_path_equals_the_loop():
    """EnvWorker's reported rows: numpy over the dicts' values when they list the same agents
    in the same order, a loop otherwise; both give the same rows in the same order."""
    from reled_sumo.env.episode import _reported_rows

    rng = np.random.default_rng(1)
    for _ in range(30):
        names = [f"a{i}" for i in rng.permutation(40)[: rng.integers(1, 40)]]
        rewards = {a: float(rng.choice([0.0, 0.0, -0.5, 1.25])) for a in names}
        terms = {a: bool(rng.random() < 0.1) for a in names}
        truncs = {a: bool(rng.random() < 0.05) for a in names}
        infos = {a: {"needs_decision": bool(rng.random() < 0.2)} for a in names}
        dec = [a for a in names if infos[a]["needs_decision"]]
        fast = _reported_rows(rewards, terms, truncs, infos, dec)
        shuffled = dict(reversed(list(terms.items())))  # another order: the loop
        slow = _reported_rows(rewards, shuffled, truncs, infos, dec)
        assert fast == slow
        assert [r[0] for r in fast[0]] == [a for a in names if rewards[a] != 0 or terms[a] or truncs[a]
                                           or infos[a]["needs_decision"]]
