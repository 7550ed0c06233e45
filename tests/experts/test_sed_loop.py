"""The SED refinement loop on a real small scenario, with the routing expert and with the Ollama
expert against the loopback Ollama server (real HTTP, real `ollama` client)."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from reled_sumo.cli.app import app
from reled_sumo.demos.trajectory import DemoSet
from reled_sumo.env import make_env
from reled_sumo.experts.factory import ExpertOptions, make_expert
from reled_sumo.experts.routing import RoutingExpert
from reled_sumo.experts.base import agent_trips
from reled_sumo.experts.sed import SEDConfig, refine
from reled_sumo.testing import FakeOllamaServer
from reled_sumo.testing.routes import answer_from_routes

runner = CliRunner()


@pytest.fixture
def env(kotka_small):
    e = make_env(kotka_small, seed=0)
    yield e
    e.close()


def _check_demos(env, demos: DemoSet):
    graph = env.scenario.graph
    assert set(demos.trajectories) == set(env.possible_agents)
    for tr in demos.trajectories.values():
        if tr.length:
            assert tr.obs.shape[1] == env.obs_dim
            assert tr.masks.shape[1] == env.K
        route = [graph.index[e] for e in tr.edges]
        assert graph.is_valid_route(route)


def test_routing_expert_loop(env):
    demos, history = refine(env, RoutingExpert(), SEDConfig(rounds=3, seed=1))
    assert [m.round for m in history] == [0, 1, 2]
    assert history[0].arrival_rate == 1.0
    assert history[0].deviations == 0, "expert routes are followed exactly"
    _check_demos(env, demos)
    assert demos.meta["expert"] and len(demos.meta["metrics"]) == 3


def _scripted_llm(graph, trips_by_id):
    """A stand-in model: answers each request for exactly the agents it names, with their
    congestion-aware routing-expert routes, as MoveTo instructions."""
    expert = RoutingExpert()

    def respond(body: dict) -> str:
        text = json.dumps(body.get("messages", body.get("prompt", "")))
        ids = sorted(set(re.findall(r"agent_\d+", text)))
        trips = [trips_by_id[i] for i in ids if i in trips_by_id]
        routes = {a: list(r.edges) for a, r in expert.plan(graph, trips, None, {}).items()}
        return answer_from_routes(graph, routes)

    return respond


def test_ollama_expert_loop_against_loopback_server(env, tmp_path, monkeypatch):
    monkeypatch.setenv("RELED_CACHE_DIR", str(tmp_path / "cache"))
    graph = env.scenario.graph
    trips = {t.agent_id: t for t in agent_trips(env)}
    with FakeOllamaServer(responder=_scripted_llm(graph, trips)) as server:
        expert = make_expert(ExpertOptions(kind="ollama", host=server.url))
        demos, history = refine(env, expert, SEDConfig(rounds=2, seed=1))
    assert history[0].llm_calls >= 1
    assert history[0].fallbacks == 0
    assert history[1].mean_bound <= history[0].mean_bound
    _check_demos(env, demos)


def test_ollama_down_is_a_clear_cli_error(kotka_small):
    res = runner.invoke(app, ["demo", "generate", "--scenario", str(kotka_small.path), "--expert", "ollama",
                              "--host", "http://127.0.0.1:9", "--rounds", "1"])
    assert res.exit_code == 3, res.output
    assert "ollama serve" in res.output and "--expert routing" in res.output


def test_demo_generate_and_show(kotka_small, tmp_path):
    out = tmp_path / "demos"
    res = runner.invoke(app, ["demo", "generate", "--scenario", str(kotka_small.path), "--rounds", "2",
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "SED rounds" in res.output
    ds = DemoSet.load(out)
    assert len(ds) == len(kotka_small.agents) and ds.meta["scenario_hash"] == kotka_small.scenario_hash
    res = runner.invoke(app, ["demo", "show", str(out)])
    assert res.exit_code == 0 and "agent_0" in res.output
    assert f"written by: routing {len(kotka_small.agents)}" in res.output
    assert np.isfinite([t.ret for t in ds.trajectories.values()]).all()


class _SamePlan(RoutingExpert):
    """Re-plans every revision with exactly the routes of its first plan (a no-op revision)."""

    def __init__(self):
        super().__init__()
        self.first = None

    def plan(self, graph, trips, travel_times, feedback):
        if self.first is None:
            self.first = super().plan(graph, trips, None, {})
        return {t.agent_id: self.first[t.agent_id] for t in trips}


def test_sed_compares_plans_on_common_random_numbers(env):
    """Identical routes in every round give identical outcomes: kept and revised plans run on
    the same SUMO seeds, so a revision is judged on its routes, not on the seed's noise."""
    _, history = refine(env, _SamePlan(), SEDConfig(rounds=3, seed=4, seeds=2))
    assert len({m.run_return for m in history}) == 1
    assert all(m.accepted == 0 for m in history[1:])
