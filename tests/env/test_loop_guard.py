"""loop_guard: a decider may not turn onto an edge it was already seen on this trip, unless it must."""
from __future__ import annotations

import numpy as np

from reled_sumo import make_env
from reled_sumo.env.observation import C_LIVE_VIA_TIME, N_CAND, N_OWN


def _revisits(scenario, guard: bool) -> tuple[int, int]:
    """A policy that takes the candidate with the longest live time to the destination (the valid
    one farthest from the shortest path), for one episode: (decisions that turn onto an edge the agent
    had decided on before, decisions). A candidate's edge is ``tables.succ[edge][slot]``."""
    env = make_env(scenario, loop_guard=guard, max_agents=20, horizon=600)
    seen: dict[str, set[int]] = {}
    again = decisions = 0
    try:
        obs, infos = env.reset(seed=3)
        while env.agents:
            actions = {}
            for a, info in infos.items():
                if not info.get("needs_decision"):
                    continue
                e = env.tables.index[info["edge"]]
                seen.setdefault(a, set()).add(e)
                valid = np.flatnonzero(info["action_mask"])
                via = obs[a][N_OWN + valid * N_CAND + C_LIVE_VIA_TIME]
                actions[a] = k = int(valid[np.argmax(via)])
                again += env.tables.succ[e][k] in seen[a]
                decisions += 1
            obs, _, _, _, infos = env.step(actions)
    finally:
        env.close()
    return again, decisions


def test_the_loop_guard_stops_a_wandering_policy_from_revisiting_edges(sample_dir):
    off, n_off = _revisits(sample_dir, guard=False)
    on, n_on = _revisits(sample_dir, guard=True)
    assert off >= 10, (off, n_off)  # the policy does wander back without the guard
    assert on <= off // 4, (on, off, n_on, n_off)  # only where every candidate was visited already


def test_loop_guard_is_off_by_default_and_takes_only_a_bool():
    import pytest

    from reled_sumo.env import EnvConfig
    from reled_sumo.errors import ConfigError

    assert EnvConfig().loop_guard is False
    for bad in ("yes", 1, None):
        with pytest.raises(ConfigError, match="loop_guard"):
            EnvConfig(loop_guard=bad)
