"""env.reset() reloads SUMO in place (sim.restart_session) and plays exactly the episodes a fresh
start plays with the same seeds."""
from __future__ import annotations

import pytest

from reled_sumo import make_env
from reled_sumo.env import get_policy

from tests.env.test_env_behaviour import run_episode


def _episode(env, seed):
    """Returns, final flags and infos (repr: they hold arrays) and every step's obs / actions / rewards."""
    ret, final, traj = run_episode(env, get_policy("random", seed=0), seed=seed)
    return ret, repr(sorted(final.items())), traj


@pytest.mark.parametrize("backend", ["libsumo", "traci"])
def test_consecutive_episodes_after_reload_equal_fresh_starts(sample_dir, backend):
    seeds = (11, 12, 11)
    fresh = []
    for seed in seeds:  # every episode in its own env: a fresh SUMO start each
        env = make_env(sample_dir, horizon=400, backend=backend)
        try:
            fresh.append(_episode(env, seed))
        finally:
            env.close()
    assert fresh[0] != fresh[1]
    env = make_env(sample_dir, horizon=400, backend=backend)
    try:
        got = [_episode(env, seeds[0])]
        sess, pid = env.session, env.session.pid
        for seed in seeds[1:]:
            got.append(_episode(env, seed))
            assert env.session is sess and env.session.pid == pid  # reloaded, not restarted
            assert env.session.config.seed == env.episode_seed == seed
        assert got == fresh
    finally:
        env.close()
    assert sess.is_open is False
