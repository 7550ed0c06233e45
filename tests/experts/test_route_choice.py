"""Route-choice mode: candidates, schema, and the expert end to end through the real `ollama`
client against the scripted loopback server (the real model is in tests/experts/test_local_llm.py)."""
import json

import numpy as np
import pytest

from reled_sumo.errors import ConfigError
from reled_sumo.experts import AgentFeedback, AgentTrip, is_valid_trip_route
from reled_sumo.experts.factory import ExpertOptions, make_expert
from reled_sumo.experts.instructions import InvalidAnswerError
from reled_sumo.experts.llm import LLMExpertConfig
from reled_sumo.experts.ollama_client import OllamaConfig
from reled_sumo.experts.route_choice import (
    RouteChoiceConfig,
    RouteChoiceExpert,
    build_choice_prompt,
    candidate_routes,
    choices_of,
)
from reled_sumo.testing import Reply


@pytest.fixture
def trips(grid_graph):
    g = grid_graph
    return [AgentTrip(f"a{i}", g.index["A0A1"], g.index["E3E4"], 2.0 * i) for i in range(3)]


def _expert(url, tmp_path, **kw):
    ocfg = OllamaConfig(host=url, retries=0, backoff_s=0.01, timeout_s=5.0)
    return RouteChoiceExpert(LLMExpertConfig(ollama=ocfg, cache_dir=str(tmp_path / "cache")), **kw)


def test_candidates_are_distinct_valid_routes_named_in_order(grid_graph, trips):
    tt = np.asarray(grid_graph.freeflow_time, dtype=float)
    cands = candidate_routes(grid_graph, trips[0], tt, RouteChoiceConfig(k_routes=3))
    assert [c.name for c in cands] == ["R1", "R2", "R3"]
    assert len({c.edges for c in cands}) == 3
    for c in cands:
        assert is_valid_trip_route(grid_graph, c.edges, trips[0])
        assert c.time_s == pytest.approx(tt[list(c.edges)].sum())
    assert cands[0].time_s <= min(c.time_s for c in cands)


def test_congested_stretches_are_listed(grid_graph, trips):
    tt = np.asarray(grid_graph.freeflow_time, dtype=float).copy()
    jam = trips[0].destination  # on every candidate
    tt[jam] *= 3.0
    prompt = build_choice_prompt(grid_graph, trips, tt, {}, RouteChoiceConfig())
    text = prompt.messages[1]["content"]
    assert f"{grid_graph.edge_ids[jam]} (3.0x free flow)" in text


def test_schema_restricts_each_agent_to_its_route_names(grid_graph, trips):
    fb = {"a1": AgentFeedback("a1", volatility=0.5, travel_time=321.0, congested_edges=("B1B2",))}
    prompt = build_choice_prompt(grid_graph, trips, grid_graph.freeflow_time, fb, RouteChoiceConfig(k_routes=2))
    schema = prompt.schema
    assert schema["required"] == ["a0", "a1", "a2"] and schema["additionalProperties"] is False
    assert all(schema["properties"][a]["enum"] == ["R1", "R2"] for a in ("a0", "a1", "a2"))
    assert "321 s" in prompt.messages[1]["content"] and "B1B2" in prompt.messages[1]["content"]


@pytest.mark.parametrize("bad", [dict(k_routes=0), dict(k_routes=10), dict(k_routes=True),
                                 dict(penalty_factor=1.0), dict(congestion_ratio=float("nan")),
                                 dict(max_streets=-1), dict(max_congested=2.5)])
def test_bad_config_is_rejected(bad):
    with pytest.raises(ConfigError):
        RouteChoiceConfig(**bad)


@pytest.mark.parametrize("text", ["", "R1", "[1, 2]", "no json here", "null"])
def test_choices_of_rejects_non_objects(text):
    with pytest.raises(InvalidAnswerError):
        choices_of(text)


def test_choices_of_accepts_wrapping_and_ignores_non_strings():
    assert choices_of('{"choices": {"a0": " R2 ", "a1": 3}}') == {"a0": "R2"}
    assert choices_of('Sure: {"a0": "R1"} done') == {"a0": "R1"}


def test_chosen_routes_are_driven_and_recorded_as_llm(grid_graph, trips, ollama_server, tmp_path):
    ollama_server.script('{"a0": "R1", "a1": "R2", "a2": "R3"}')
    ex = _expert(ollama_server.url, tmp_path)
    tt = np.asarray(grid_graph.freeflow_time, dtype=float)
    routes = ex.plan(grid_graph, trips, tt, {})
    cands = {t.agent_id: candidate_routes(grid_graph, t, tt, RouteChoiceConfig()) for t in trips}
    assert routes["a0"].edges == cands["a0"][0].edges
    assert routes["a1"].edges == cands["a1"][1].edges
    assert routes["a2"].edges == cands["a2"][2].edges
    assert {r.source for r in routes.values()} == {"llm"}
    body = ollama_server.generation_requests()[0].body
    assert body["format"]["properties"]["a0"]["enum"] == ["R1", "R2", "R3"]
    assert ex.stats.fallbacks == 0 and ex.stats.llm_calls == 1


def test_unknown_names_fall_back_per_agent(grid_graph, trips, ollama_server, tmp_path):
    ollama_server.script('{"a0": "R7", "a1": "R2", "zz": "R1"}')
    ex = _expert(ollama_server.url, tmp_path)
    routes = ex.plan(grid_graph, trips, grid_graph.freeflow_time, {})
    assert routes["a0"].source == "fallback" and routes["a2"].source == "fallback"
    assert routes["a1"].source == "llm"
    assert ex.stats.fallbacks == 2 and ex.stats.extra["unknown_routes"] == 2
    for t in trips:
        assert is_valid_trip_route(grid_graph, routes[t.agent_id].edges, t)


@pytest.mark.parametrize("answer", ["the answer is R1", '["R1", "R2"]', Reply(status=200, text="")])
def test_malformed_answers_fall_back_and_are_not_cached(grid_graph, trips, ollama_server, tmp_path, answer):
    ollama_server.script(answer)
    ex = _expert(ollama_server.url, tmp_path)
    routes = ex.plan(grid_graph, trips, grid_graph.freeflow_time, {})
    assert {r.source for r in routes.values()} == {"fallback"}
    assert ex.stats.invalid_answers == 1 and len(ex.cache) == 0


def test_a_cached_choice_is_reused(grid_graph, trips, ollama_server, tmp_path):
    ollama_server.script('{"a0": "R2", "a1": "R2", "a2": "R2"}')
    first = _expert(ollama_server.url, tmp_path).plan(grid_graph, trips, grid_graph.freeflow_time, {})
    again = _expert(ollama_server.url, tmp_path)
    second = again.plan(grid_graph, trips, grid_graph.freeflow_time, {})
    assert again.stats.cache_hits == 1 and again.stats.llm_calls == 0
    assert {a: r.edges for a, r in first.items()} == {a: r.edges for a, r in second.items()}


def test_factory_modes(tmp_path):
    def opts(**kw):
        return ExpertOptions(kind="ollama", host="http://127.0.0.1:9", fallback_on_unavailable=True, **kw)

    assert isinstance(make_expert(opts(mode="routes")), RouteChoiceExpert)
    assert not isinstance(make_expert(opts()), RouteChoiceExpert)
    with pytest.raises(ConfigError):
        opts(mode="junctions")


def test_answer_log_records_the_equivalent_instructions(grid_graph, trips, ollama_server, tmp_path):
    ollama_server.script('{"a0": "R1", "a1": "R1", "a2": "R1"}')
    ex = _expert(ollama_server.url, tmp_path)
    ex.answer_log = []
    ex.plan(grid_graph, trips, grid_graph.freeflow_time, {})
    (group, text), = ex.answer_log
    assert [t.agent_id for t in group] == ["a0", "a1", "a2"]
    moves = json.loads(text)["instructions"]
    assert moves[0][0] == "MoveTo" and {m[2] for m in moves} == {"a0", "a1", "a2"}


def test_training_config_selects_the_mode():
    from reled_sumo.experts.factory import make_expert
    from reled_sumo.training.config import load_config

    cfg = load_config(None, {"expert.kind": "ollama", "expert.mode": "routes", "expert.fallback_on_unavailable": True,
                             "expert.host": "http://127.0.0.1:9"})
    assert isinstance(make_expert(cfg.expert), RouteChoiceExpert)
    assert load_config(None, {}).expert.mode == "path"
    with pytest.raises(ConfigError):
        load_config(None, {"expert.mode": "junctions"})
