import collections

import numpy as np
import pytest

from reled_sumo.errors import ConfigError, ExpertError
from reled_sumo.experts import AgentTrip, RoutingConfig, RoutingExpert, interaction_subsets, is_valid_trip_route


def _same_od_trips(g, n, src="A0A1", dst="E3E4", gap=2.0):
    return [AgentTrip(f"a{i}", g.index[src], g.index[dst], i * gap) for i in range(n)]


def _shared_edge_uses(routes):
    """Sum over edges of (agents on the edge - 1): 0 when no edge is shared."""
    count = collections.Counter(e for r in routes.values() for e in r.edges)
    return sum(c - 1 for c in count.values())


@pytest.mark.parametrize("aware", [True, False])
def test_routes_are_valid(grid_graph, aware):
    g = grid_graph
    rng = np.random.default_rng(0)
    trips = [AgentTrip(f"a{i}", int(o), int(d), float(i)) for i, (o, d) in
             enumerate(rng.integers(0, g.num_edges, size=(40, 2)))]
    routes = RoutingExpert(RoutingConfig(congestion_aware=aware)).plan(g, trips, g.freeflow_time, {})
    assert set(routes) == {t.agent_id for t in trips}
    for t in trips:
        assert routes[t.agent_id].source == "routing"
        assert is_valid_trip_route(g, routes[t.agent_id].edges, t)


def test_plain_is_shortest_on_current_times(grid_graph):
    g = grid_graph
    tt = np.array(g.freeflow_time)
    plain = RoutingExpert(RoutingConfig(congestion_aware=False))
    trip = AgentTrip("a", g.index["A0A1"], g.index["A2A3"], 0.0)
    assert plain.plan(g, [trip], tt, {})["a"].edges == tuple(g.index[e] for e in ("A0A1", "A1A2", "A2A3"))
    tt[g.index["A1A2"]] = 1e4  # a jam makes the detour shorter
    detour = plain.plan(g, [trip], tt, {})["a"].edges
    assert g.index["A1A2"] not in detour and is_valid_trip_route(g, detour, trip)


def test_congestion_variant_spreads_agents(grid_graph):
    g = grid_graph
    trips = _same_od_trips(g, 8)
    plain = RoutingExpert(RoutingConfig(congestion_aware=False)).plan(g, trips, g.freeflow_time, {})
    spread = RoutingExpert().plan(g, trips, g.freeflow_time, {})
    assert len({r.edges for r in plain.values()}) == 1
    assert len({r.edges for r in spread.values()}) > 1
    assert _shared_edge_uses(spread) < _shared_edge_uses(plain)


def test_load_expires_outside_window(grid_graph):
    g = grid_graph
    trips = _same_od_trips(g, 4, gap=1000.0)
    routes = RoutingExpert(RoutingConfig(load_window_s=100.0)).plan(g, trips, g.freeflow_time, {})
    assert len({r.edges for r in routes.values()}) == 1


def test_one_dijkstra_per_destination(grid_graph, monkeypatch):
    g = grid_graph
    calls = []
    real = type(g).cost_to
    monkeypatch.setattr(type(g), "cost_to", lambda self, d, w=None: calls.append(d) or real(self, d, w))
    trips = [AgentTrip(f"a{i}", g.index[o], g.index[d], 0.0) for i, (o, d) in enumerate(
        [("A0A1", "E3E4"), ("B0B1", "E3E4"), ("C0C1", "E3E4"), ("A0A1", "D3D4")])]
    RoutingExpert(RoutingConfig(congestion_aware=False)).plan(g, trips, g.freeflow_time, {})
    assert sorted(calls) == sorted({g.index["E3E4"], g.index["D3D4"]})
    calls.clear()
    RoutingExpert(RoutingConfig(batch_size=4)).plan(g, trips, g.freeflow_time, {})
    assert len(calls) == 2


def test_unreachable_destination_names_agent(kotka_graph):
    g = kotka_graph
    mask = g.strongly_connected_mask()
    src = int(np.flatnonzero(mask)[0])
    bad = [int(d) for d in np.flatnonzero(~mask) if not np.isfinite(g.cost_to(int(d))[src])]
    assert bad, "the Kotka sample should have edges outside the main component"
    trips = [AgentTrip("ok", src, src, 0.0), AgentTrip("lost-7", src, bad[0], 0.0)]
    with pytest.raises(ExpertError, match="lost-7"):
        RoutingExpert().plan(g, trips, None, {})


def test_real_network_routes(kotka_graph):
    g = kotka_graph
    edges = np.flatnonzero(g.strongly_connected_mask())
    rng = np.random.default_rng(1)
    trips = [AgentTrip(f"v{i}", int(o), int(d), float(i)) for i, (o, d) in
             enumerate(rng.choice(edges, size=(30, 2)))]
    routes = RoutingExpert().plan(g, trips, g.freeflow_time * 1.3, {})
    assert all(is_valid_trip_route(g, routes[t.agent_id].edges, t) for t in trips)


def test_config_validation():
    with pytest.raises(ConfigError):
        RoutingConfig(batch_size=0)
    with pytest.raises(ConfigError):
        RoutingConfig(bpr_beta=0)


# ------------------------------------------------------------------ subsets
def test_interaction_subsets_overlap_in_time(grid_graph):
    g = grid_graph
    r = lambda *ids: [g.index[e] for e in ids]  # noqa: E731
    routes = {
        "a": r("A0A1", "A1A2", "A2A3"),
        "b": r("B1A1", "A1A2", "A2B2"),   # shares A1A2 with a, same time
        "c": r("B0B1", "B1A1", "A1A2"),   # shares A1A2 but 1000 s later
        "d": r("E0E1", "E1E2"),           # elsewhere
    }
    departs = {"a": 0.0, "b": 0.0, "c": 1000.0, "d": 0.0}
    subsets = interaction_subsets(routes, departs, g, max_size=10)
    assert sorted(map(sorted, subsets)) == [["a", "b"], ["c"], ["d"]]
    subsets = interaction_subsets(routes, {**departs, "c": 0.0}, g, max_size=10)
    assert sorted(map(sorted, subsets)) == [["a", "b", "c"], ["d"]]
    chunks = interaction_subsets(routes, {**departs, "c": 0.0}, g, max_size=2)
    assert max(map(len, chunks)) == 2 and sorted(a for c in chunks for a in c) == list("abcd")


def test_interaction_subsets_rejects_bad_size(grid_graph):
    with pytest.raises(ConfigError):
        interaction_subsets({}, {}, grid_graph, 0)
