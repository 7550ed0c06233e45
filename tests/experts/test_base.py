import numpy as np
import pytest

from reled_sumo.errors import ExpertError
from reled_sumo.experts import AgentFeedback, AgentTrip, Expert, ExpertRoute, ExpertStats, RoutingExpert
from reled_sumo.experts.base import check_travel_times, check_trips, is_valid_trip_route


def test_expert_route_validates_source_and_edges():
    assert ExpertRoute("a", (1, 2), "llm").edges == (1, 2)
    with pytest.raises(ExpertError, match="source"):
        ExpertRoute("a", (1,), "oracle")
    with pytest.raises(ExpertError, match="empty"):
        ExpertRoute("a", (), "llm")


def test_feedback_defaults():
    fb = AgentFeedback("a")
    assert fb.congested_edges == () and fb.volatility == 0.0


def test_stats_counters():
    s = ExpertStats()
    s.fallbacks += 2
    s.bump("unknown_agents", 3)
    d = s.as_dict()
    assert d["fallbacks"] == 2 and d["unknown_agents"] == 3 and "extra" not in d


def test_routing_expert_satisfies_protocol():
    assert isinstance(RoutingExpert(), Expert)


def test_route_validity(grid_graph):
    g = grid_graph
    trip = AgentTrip("a", g.index["A0A1"], g.index["A2A3"], 0.0)
    good = [g.index[e] for e in ("A0A1", "A1A2", "A2A3")]
    assert is_valid_trip_route(g, good, trip)
    assert not is_valid_trip_route(g, good[:2], trip)
    assert not is_valid_trip_route(g, [good[0], good[2]], trip)
    assert not is_valid_trip_route(g, [], trip)
    assert not is_valid_trip_route(g, [good[0], 10**6], trip)


def test_check_trips_and_travel_times(grid_graph):
    g = grid_graph
    with pytest.raises(ExpertError, match="duplicate"):
        check_trips(g, [AgentTrip("a", 0, 1, 0), AgentTrip("a", 1, 2, 0)])
    with pytest.raises(ExpertError, match="outside"):
        check_trips(g, [AgentTrip("a", 0, g.num_edges, 0)])
    tt = np.array(g.freeflow_time)
    tt[0] = np.nan
    fixed = check_travel_times(g, tt)
    assert np.isfinite(fixed).all() and fixed[0] == g.freeflow_time[0]
    with pytest.raises(ExpertError, match="shape"):
        check_travel_times(g, np.ones(3))
