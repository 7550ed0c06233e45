"""Which agents are controlled (departure window, share, busy period) and the observation
features that let agents see the traffic (live time to destination, turn type, signals)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from reled_sumo.env import make_env
from reled_sumo.env.config import EnvConfig, select_agents
from reled_sumo.env.observation import (
    C_LIVE_EXTRA_TIME, C_LIVE_VIA_TIME, C_LEFT, C_RIGHT, C_UTURN, C_VALID, C_VIA_TIME, N_CAND, N_OWN,
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
    flags = np.stack([_cand(o, k, f) for f in (C_UTURN, C_LEFT, C_RIGHT)])
    assert set(np.unique(flags)) <= {0.0, 1.0}
    assert (_cand(o, k, C_UTURN)[m] == 1).any()  # Kotka offers U-turns at most branching edges
    assert ((_cand(o, k, C_UTURN) + _cand(o, k, C_LEFT) + _cand(o, k, C_RIGHT))[m] <= 1).all()
    assert (_cand(o, k, C_VALID)[~m] == 0).all() and (flags[:, ~m] == 0).all()


def test_live_times_fill_only_the_rows_asked_for_with_the_full_table_values(sample_scenario):
    """Lazy rows: a refresh computes nothing; asking for rows computes those (once per
    refresh), and their values equal one Dijkstra over every destination on the same times."""
    from reled_sumo.env.live import LiveTimes
    from reled_sumo.env.tables import RoutingTables

    t = RoutingTables.for_scenario(sample_scenario, [a.destination for a in sample_scenario.agents])
    assert len(t.dest_edge) >= 3
    live = LiveTimes(t, period_s=30.0, estimate="snapshot")
    raw = t.ff * np.linspace(1.0, 3.0, t.E)  # slower edges further down the list
    reads = []
    via = live.current(0.0, lambda: reads.append(1) or raw, rows=[1, 1])
    assert reads == [1] and live.rows_computed == 1
    full = raw + t.graph.cost_to_many(t.dest_edge, raw)  # [rows, E]: traverse e, then on to the destination
    np.testing.assert_array_equal(via[1], full[1])
    live.current(10.0, lambda: reads.append(1) or raw, rows=[1, 0])  # same period: only row 0 is new
    assert reads == [1] and live.rows_computed == 2
    via = live.current(20.0, lambda: raw, rows=None)  # every row
    np.testing.assert_array_equal(via, full)
    assert live.rows_computed == len(t.dest_edge)
    # the next refresh smooths the new reading into the old one and marks every row stale again
    via = live.current(31.0, lambda: raw * 2.0, rows=[2])
    smoothed = 0.5 * raw + 0.5 * np.clip(raw * 2.0, t.ff, 20 * t.ff)
    np.testing.assert_allclose(via[2], smoothed + t.graph.cost_to_many(t.dest_edge[[2]], smoothed)[0])
    assert live.rows_computed == len(t.dest_edge) + 1 and live.refreshes == 2


def test_observation_rows_do_not_depend_on_the_batch_they_are_built_in(sample_scenario):
    """The builder caches per (destination, edge) pair: a row built alone, in another batch,
    first or after the pair was cached, is the same."""
    from reled_sumo.env.config import ObsNorm
    from reled_sumo.env.observation import ObservationBuilder
    from reled_sumo.env.tables import RoutingTables

    t = RoutingTables.for_scenario(sample_scenario, [a.destination for a in sample_scenario.agents])
    rng = np.random.default_rng(0)
    pairs = [(int(r), int(e)) for r, e in zip(rng.integers(0, len(t.dest_edge), 12), rng.integers(0, t.E, 12))]
    dyn = [(1.0, float(rng.random() * 20), float(rng.random() * 10), float(rng.random() * 300), 100.0, 50.0)
           for _ in pairs]
    traffic = rng.random((t.E, 3)) * [15.0, 6.0, 40.0]
    edge_data = lambda names: traffic[[t.index[n] for n in names]]  # noqa: E731

    def build(builder, idx):
        return builder.build([pairs[i][0] for i in idx], [pairs[i][1] for i in idx], [dyn[i] for i in idx],
                             edge_data, t.VT * 1.5)

    together = build(ObservationBuilder(t, ObsNorm()), range(12))
    one_by_one = ObservationBuilder(t, ObsNorm())
    rows = [build(one_by_one, [i]) for i in reversed(range(12))][::-1]
    again = build(one_by_one, range(12))  # every pair cached now
    np.testing.assert_array_equal(again.obs, together.obs)
    for i, b in enumerate(rows):
        np.testing.assert_array_equal(b.obs[0], together.obs[i])
        np.testing.assert_array_equal(b.mask[0], together.mask[i])
        assert b.cand[0] == together.cand[i] and b.best_k[0] == together.best_k[i]
    assert together.cand == [t.succ[e].tolist() for _, e in pairs]
    # the traffic features come from the edges they name: the current edge's vehicles ...
    from reled_sumo.env.observation import N_CAND, N_OWN, C_VEHICLES, OWN_EDGE_VEHICLES

    for j, (r, e) in enumerate(pairs):
        assert together.obs[j, OWN_EDGE_VEHICLES] == np.float32(traffic[e, 1] / ObsNorm().vehicles)
        for k in np.flatnonzero(together.mask[j]):  # ... and each valid candidate's
            c = t.succ[e, k]
            assert together.obs[j, N_OWN + k * N_CAND + C_VEHICLES] == np.float32(traffic[c, 1] / ObsNorm().vehicles)


def test_occupied_only_edge_loads_read_the_same_speeds_where_vehicles_are(sample_dir):
    """The meter's read: vehicle counts everywhere, mean speeds only on occupied edges (the
    only ones the meter uses); the same numbers as the full read there, NaN elsewhere."""
    from reled_sumo.env import make_env
    from reled_sumo.env.policies import get_policy

    env = make_env(sample_dir, horizon=200)
    try:
        obs, infos = env.reset(seed=1)
        pol = get_policy("shortest")
        for _ in range(40):
            obs, _, _, _, infos = env.step(pol(obs, infos))
        speed, count = env.edge_loads()
        s2, c2 = env.edge_loads(occupied_only=True)
    finally:
        env.close()
    busy = count > 0
    assert busy.sum() >= 5 and (~busy).sum() >= 5
    np.testing.assert_array_equal(c2, count)
    np.testing.assert_array_equal(s2[busy], speed[busy])
    assert np.isnan(s2[~busy]).all() and np.isfinite(speed[~busy]).all()
