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
        assert env.observation_space(a) is env.observation_space(a)
        assert env.action_space(a).n == env.tables.K == env.K
        assert env.observation_space(a).shape == (env.obs_dim,)
        assert env.observation_space(a).dtype == np.float32
        assert env.possible_agents == [f"agent_{i}" for i in range(30)]
        assert env.agents == []
    finally:
        env.close()
