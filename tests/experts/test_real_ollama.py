"""Against a real Ollama server: only when RELED_TEST_OLLAMA is set (see docs/experts.md).

    ollama serve &
    ollama pull qwen2.5:7b-instruct
    RELED_TEST_OLLAMA=1 pytest -m llm tests/experts
"""
import logging
import os

import pytest

from reled_sumo.experts import AgentTrip, is_valid_trip_route
from reled_sumo.experts.llm import LLMExpertConfig, OllamaExpert
from reled_sumo.experts.ollama_client import OllamaClient, OllamaConfig

pytestmark = [
    pytest.mark.llm,
    pytest.mark.skipif(not os.environ.get("RELED_TEST_OLLAMA"), reason="set RELED_TEST_OLLAMA=1 to use a real Ollama"),
]


@pytest.fixture
def real_env(monkeypatch):
    """Undo the conftest's OLLAMA_HOST removal: a real run honours the developer's setting."""
    if "RELED_TEST_OLLAMA_HOST" in os.environ:
        monkeypatch.setenv("OLLAMA_HOST", os.environ["RELED_TEST_OLLAMA_HOST"])
    return OllamaConfig(host=os.environ.get("RELED_TEST_OLLAMA_HOST"),
                        model=os.environ.get("RELED_TEST_OLLAMA_MODEL", OllamaConfig().model),
                        timeout_s=600.0)


def test_real_server_has_model(real_env):
    info = OllamaClient(real_env).check()
    assert info.model in info.models or f"{info.model}:latest" in info.models


def test_real_llm_routes_are_valid(real_env, grid_graph):
    g = grid_graph
    trips = [AgentTrip(f"a{i}", g.index["A0A1"], g.index[d], 3.0 * i)
             for i, d in enumerate(["E3E4", "E3E4", "D4E4"])]
    expert = OllamaExpert(LLMExpertConfig(ollama=real_env, cache=False))
    routes = expert.plan(g, trips, g.freeflow_time, {})
    for t in trips:
        assert is_valid_trip_route(g, routes[t.agent_id].edges, t)
    assert expert.stats.llm_calls >= 1
    logging.getLogger(__name__).info("sources %s, stats %s", {a: r.source for a, r in routes.items()}, expert.stats)
