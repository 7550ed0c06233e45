"""Which agents are controlled (departure window, share, busy period) and the observation
features that let agents see the traffic (live time to destination, turn type, signals)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from reled_sumo.env import make_env
from reled_sumo.env.config import EnvConfig, select_agents
from reled_sumo.env.observation import (
    C_LIVE_EXTRA_TIME, C_LIVE_VIA_TIME, C_LEFT, C_RIGHT, C_SIGNAL, C_UTURN, C_VALID, C_VIA_TIME, N_CAND, N_OWN,
)
from reled_sumo.errors import ConfigError

AGENTS = [SimpleNamespace(id=f"a{i}", depart=float(d)) for i, d in enumerate([0, 10, 50, 200, 320, 400, 650, 900])]


def _ids(**kw):
    return [a.id for a in select_agents(AGENTS, EnvConfig(**kw))]


def test_selection_first_window_share_and_busy():
    assert _ids(max_agents=3) == ["a0", "a1", "a2"]
    assert _ids(depart_window=(50, 400)) == ["a2", "a3", "a4"]
    assert _ids(agent_share=0.5) == ["a0", "a2", "a5", "a7"]  # evenly spaced by departure
    assert _ids(agent_selection="busy", busy_from_s=300, max_agents=3) == ["a4", "a5", "a6"]
    # too few in the busy period: the latest earlier ones fill up
    assert _ids(agent_selection="busy", busy_from_s=600, max_agents=4) == ["a4", "a5", "a6", "a7"]


@pytest.mark.parametrize("bad", [dict(depart_window=(5, 5)), dict(depart_window=(-1, 5)),
                                 dict(depart_window=(0, float("inf"))), dict(agent_share=0.0),
                                 dict(agent_share=True), dict(agent_selection="rush"), dict(busy_from_s=float("nan")),
                                 dict(live_period_s=0)])
def test_selection_options_are_validated(bad):
    with pytest.raises(ConfigError):
        EnvConfig(**bad)


def test_empty_window_is_a_clear_error(kotka_small):
    with pytest.raises(ConfigError, match="departure window"):
        make_env(kotka_small, depart_window=(1e6, 2e6))


def _cand(obs, k, feature):
    return obs[:, N_OWN + feature:: N_CAND][:, :k]


def test_live_features_follow_the_traffic_and_turn_flags_are_static(kotka_small):
    env = make_env(kotka_small, max_agents=12, horizon=400, live_period_s=10)
    try:
        obs, infos = env.reset(seed=3)
        rows = []
        while env.agents:
            dec = [a for a in env.agents if infos[a]["needs_decision"]]
            rows += [(obs[a], np.asarray(infos[a]["action_mask"], bool)) for a in dec]
            obs, _, _, _, infos = env.step({a: int(np.flatnonzero(infos[a]["action_mask"])[0]) for a in dec})
        assert env._live_times.refreshes >= 10  # noqa: SLF001 - every 10 simulated seconds
    finally:
        env.close()
    o = np.stack([r[0] for r in rows])
    m = np.stack([r[1] for r in rows])
    k = m.shape[1]
    live, ff = _cand(o, k, C_LIVE_VIA_TIME), _cand(o, k, C_VIA_TIME)
    assert (live[m] >= ff[m] - 1e-6).all()  # live times are never below free flow
    assert (live[m] > ff[m] + 1e-6).any()  # ... and traffic shows in them
    extra = _cand(o, k, C_LIVE_EXTRA_TIME)
    assert np.allclose(np.where(m, extra, np.inf).min(axis=1), 0.0)  # the best valid candidate has 0 extra
    flags = np.stack([_cand(o, k, f) for f in (C_UTURN, C_LEFT, C_RIGHT, C_SIGNAL)])
    assert set(np.unique(flags)) <= {0.0, 1.0}
    assert (_cand(o, k, C_UTURN)[m] == 1).any()  # Kotka offers U-turns at most branching edges
    assert ((_cand(o, k, C_UTURN) + _cand(o, k, C_LEFT) + _cand(o, k, C_RIGHT))[m] <= 1).all()
    assert (_cand(o, k, C_VALID)[~m] == 0).all() and (flags[:, ~m] == 0).all()
