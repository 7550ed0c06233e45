"""Every kept demonstration records who wrote it: the LLM, the LLM after repair, or the fallback."""
from __future__ import annotations

import json

import pytest

from reled_sumo.env import make_env
from reled_sumo.experts.factory import ExpertOptions, make_expert
from reled_sumo.experts.routing import RoutingExpert
from reled_sumo.experts.sed import SEDConfig, refine
from reled_sumo.testing import FakeOllamaServer


@pytest.fixture
def env(kotka_small):
    e = make_env(kotka_small, seed=0, max_agents=8)
    yield e
    e.close()


def test_routing_expert_demos_are_marked_routing(env):
    demos, _ = refine(env, RoutingExpert(), SEDConfig(rounds=2, seed=1))
    assert demos.meta["sources"] == {a: "routing" for a in sorted(env.possible_agents)}


def _choose(bad_agent: str):
    """Route choice: R1 for everybody, except a name that does not exist for ``bad_agent``."""
    def respond(body: dict) -> str:
        agents = body["format"]["required"]
        return json.dumps({a: ("R9" if a == bad_agent else "R1") for a in agents})
    return respond


def test_route_choice_demos_record_llm_and_fallback(env, tmp_path, monkeypatch):
    monkeypatch.setenv("RELED_CACHE_DIR", str(tmp_path / "cache"))
    bad = sorted(env.possible_agents)[0]
    with FakeOllamaServer(responder=_choose(bad)) as server:
        expert = make_expert(ExpertOptions(kind="ollama", host=server.url, mode="routes"))
        demos, history = refine(env, expert, SEDConfig(rounds=1, seed=1))
    sources = demos.meta["sources"]
    assert set(sources) == set(env.possible_agents)
    assert sources[bad] == "fallback"
    assert {s for a, s in sources.items() if a != bad} == {"llm"}
    assert history[0].fallbacks == 1
