"""Seeded numpy act/value functions shared by the rollout and worker tests (not a test module)."""
from __future__ import annotations

import numpy as np

from reled_sumo.env.observation import N_OWN


def value_fn(obs, agent_index):
    return obs[:, :N_OWN].sum(axis=1) * 0.1 - agent_index * 0.01


def random_act(seed):
    """Seeded random valid actions, non-trivial values and log-probs (numpy only)."""
    rng = np.random.default_rng(seed)

    def act(obs, agent_index, mask):
        score = np.where(mask, rng.random(mask.shape), -1.0)
        return score.argmax(axis=1), value_fn(obs, agent_index), -rng.random(len(agent_index))
    return act
