"""OllamaExpert end to end: the real `ollama` client against the loopback server."""
import json
import logging

import pytest

from reled_sumo.errors import LLMUnavailableError
from reled_sumo.experts import AgentFeedback, AgentTrip, Expert, RoutingExpert, is_valid_trip_route
from reled_sumo.experts.llm import LLMExpertConfig, OllamaExpert
from reled_sumo.experts.ollama_client import OllamaConfig
from reled_sumo.testing.routes import answer_from_routes


def _expert(url, tmp_path, timeout_s=5.0, stream=False, **kw):
    ocfg = OllamaConfig(host=url, retries=0, backoff_s=0.01, timeout_s=timeout_s, stream=stream)
    return OllamaExpert(LLMExpertConfig(ollama=ocfg, cache_dir=str(tmp_path / "cache"), **kw))


@pytest.fixture
def trips(grid_graph):
    g = grid_graph
    return [AgentTrip(f"a{i}", g.index["A0A1"], g.index["E3E4"], 2.0 * i) for i in range(4)]


@pytest.fixture
def good_routes(grid_graph, trips):
    plan = RoutingExpert().plan(grid_graph, trips, grid_graph.freeflow_time, {})
    return {a: r.edges for a, r in plan.items()}


def _agents_in(body):
    return body["format"]["properties"]["instructions"]["items"]["prefixItems"][2]["enum"]


def _assert_valid(g, trips, routes):
    assert set(routes) == {t.agent_id for t in trips}
    for t in trips:
        assert is_valid_trip_route(g, routes[t.agent_id].edges, t)


def _sources(routes):
    return {a: r.source for a, r in routes.items()}


def test_good_answer(grid_graph, trips, good_routes, ollama_server, tmp_path):
    ollama_server.script(answer_from_routes(grid_graph, good_routes))
    ex = _expert(ollama_server.url, tmp_path)
    assert isinstance(ex, Expert)
    routes = ex.plan(grid_graph, trips, grid_graph.freeflow_time, {})
    _assert_valid(grid_graph, trips, routes)
    assert set(_sources(routes).values()) == {"llm"}
    assert {a: r.edges for a, r in routes.items()} == good_routes
    assert ex.stats.llm_calls == 1 and ex.stats.fallbacks == 0 and ex.stats.seconds > 0


@pytest.mark.parametrize("answer", ['{"instructions": [["MoveTo", "A1"', "", "Sorry, I can't do that."])
def test_malformed_or_empty_answer_falls_back(grid_graph, trips, ollama_server, tmp_path, answer):
    ollama_server.script(answer)
    ex = _expert(ollama_server.url, tmp_path)
    routes = ex.plan(grid_graph, trips, grid_graph.freeflow_time, {})
    _assert_valid(grid_graph, trips, routes)
    assert set(_sources(routes).values()) == {"fallback"}
    assert ex.stats.invalid_answers == 1 and ex.stats.fallbacks == len(trips)


def test_unknown_junctions_and_disconnected_moves(grid_graph, trips, ollama_server, tmp_path):
    ins = [["MoveTo", "Q99", "a0"], ["MoveTo", "C1", "a0"],                  # unknown, then a jump
           ["MoveTo", "E4", "a1"],                                           # straight to the end
           ["MoveTo", "NOPE", "a2"],                                         # nothing usable
           ["MoveTo", "A2", "ghost"]]                                        # unknown agent; a3 missing
    ollama_server.script(json.dumps({"instructions": ins}))
    ex = _expert(ollama_server.url, tmp_path)
    routes = ex.plan(grid_graph, trips, grid_graph.freeflow_time, {})
    _assert_valid(grid_graph, trips, routes)
    assert _sources(routes) == {"a0": "repaired", "a1": "repaired", "a2": "fallback", "a3": "fallback"}
    assert ex.stats.repairs == 2 and ex.stats.fallbacks == 2 and ex.stats.extra["unknown_agents"] == 1


def test_streaming(grid_graph, trips, good_routes, ollama_server, tmp_path):
    ollama_server.script(answer_from_routes(grid_graph, good_routes))
    routes = _expert(ollama_server.url, tmp_path, stream=True).plan(grid_graph, trips, None, {})
    assert set(_sources(routes).values()) == {"llm"}
    assert ollama_server.generation_requests()[0].body["stream"] is True


def test_slow_reply_past_timeout(grid_graph, trips, ollama_server, tmp_path):
    ollama_server.delay_s = 1.0
    with pytest.raises(LLMUnavailableError, match="no answer within"):
        _expert(ollama_server.url, tmp_path, timeout_s=0.2).plan(grid_graph, trips, None, {})
    ex = _expert(ollama_server.url, tmp_path, timeout_s=0.2, fallback_on_unavailable=True)
    routes = ex.plan(grid_graph, trips, None, {})
    _assert_valid(grid_graph, trips, routes)
    assert set(_sources(routes).values()) == {"fallback"} and ex.stats.fallbacks == len(trips)


def test_server_down(grid_graph, trips, closed_port_url, tmp_path, caplog):
    with pytest.raises(LLMUnavailableError, match="ollama serve"):
        _expert(closed_port_url, tmp_path).plan(grid_graph, trips, None, {})
    ex = _expert(closed_port_url, tmp_path, fallback_on_unavailable=True)
    with caplog.at_level(logging.WARNING, logger="reled_sumo.experts.llm"):
        for _ in range(3):
            routes = ex.plan(grid_graph, trips, None, {})
    _assert_valid(grid_graph, trips, routes)
    assert set(_sources(routes).values()) == {"fallback"} and ex.stats.fallbacks == 3 * len(trips)
    assert len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 1


def test_cache_replay_makes_no_requests(grid_graph, trips, good_routes, ollama_server, tmp_path):
    ollama_server.responder = lambda body: answer_from_routes(
        grid_graph, {a: good_routes[a] for a in _agents_in(body)})
    first = _expert(ollama_server.url, tmp_path).plan(grid_graph, trips, None, {})
    n = len(ollama_server.requests)
    assert n >= 1
    again = _expert(ollama_server.url, tmp_path)
    assert again.plan(grid_graph, trips, None, {}) == first
    assert len(ollama_server.requests) == n
    assert again.stats.cache_hits >= 1 and again.stats.llm_calls == 0


def test_unparseable_answers_are_not_cached(grid_graph, trips, ollama_server, tmp_path):
    ollama_server.script("garbage", "garbage")
    _expert(ollama_server.url, tmp_path).plan(grid_graph, trips, None, {})
    _expert(ollama_server.url, tmp_path).plan(grid_graph, trips, None, {})
    assert len(ollama_server.generation_requests()) == 2


def test_subsets_are_requested_concurrently(grid_graph, good_routes, ollama_server, tmp_path):
    g = grid_graph
    trips = [AgentTrip(f"b{i}", g.index[o], g.index[d], 0.0) for i, (o, d) in enumerate(
        [("A0A1", "A3A4"), ("A1A2", "A3A4"), ("E0E1", "E3E4"), ("E1E2", "E3E4"), ("C0C1", "C3C4")])]
    plan = RoutingExpert().plan(g, trips, None, {})
    ollama_server.responder = lambda body: answer_from_routes(
        g, {a: plan[a].edges for a in _agents_in(body)})
    ex = _expert(ollama_server.url, tmp_path, max_workers=3, max_subset=2)
    routes = ex.plan(g, trips, None, {})
    _assert_valid(g, trips, routes)
    assert set(_sources(routes).values()) == {"llm"}
    assert ex.stats.llm_calls == len(ollama_server.generation_requests()) == 3
    assert sorted(len(_agents_in(r.body)) for r in ollama_server.generation_requests()) == [1, 2, 2]


def test_feedback_reaches_the_prompt(grid_graph, trips, good_routes, ollama_server, tmp_path):
    ollama_server.script(answer_from_routes(grid_graph, good_routes))
    fb = {"a1": AgentFeedback("a1", volatility=0.77, congested_edges=("A1A2",))}
    _expert(ollama_server.url, tmp_path).plan(grid_graph, trips, None, fb)
    user = ollama_server.generation_requests()[0].body["messages"][1]["content"]
    assert "a1: volatility 0.77" in user and "congested edges: A1A2" in user


def test_no_trips(grid_graph, tmp_path, closed_port_url):
    assert _expert(closed_port_url, tmp_path).plan(grid_graph, [], None, {}) == {}


def test_long_prompt_warns_once(grid_graph, trips, good_routes, ollama_server, tmp_path, caplog):
    ollama_server.responder = lambda body: answer_from_routes(grid_graph, good_routes)
    ocfg = OllamaConfig(host=ollama_server.url, retries=0, num_ctx=64)
    ex = OllamaExpert(LLMExpertConfig(ollama=ocfg, cache=False))
    with caplog.at_level(logging.WARNING, logger="reled_sumo.experts.llm"):
        ex.plan(grid_graph, trips, None, {})
        ex.plan(grid_graph, trips, None, {})
    assert len([r for r in caplog.records if "num_ctx" in r.getMessage()]) == 1
