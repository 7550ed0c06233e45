"""Issue 12: saved demonstrations record, per demo, who actually wrote it (llm, repaired, fallback, routing),
and name a model only when the model wrote some of them."""
from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from reled_sumo.cli.app import app
from reled_sumo.demos.trajectory import DemoSet
from reled_sumo.experts.routing import RoutingExpert
from reled_sumo.experts.base import agent_trips
from reled_sumo.scenario.manifest import load_scenario_dir
from reled_sumo.testing import FakeOllamaServer
from reled_sumo.testing.routes import answer_from_routes

SAMPLE = str(Path(__file__).resolve().parents[1] / "data" / "sample_scenario")
runner = CliRunner()


def _generate(out: Path, *extra: str):
    return runner.invoke(app, ["demo", "generate", "--scenario", SAMPLE, "--agents", "4", "--rounds", "2",
                               "--out", str(out), *extra])


def test_full_fallback_is_recorded_as_fallback_not_as_the_model(tmp_path):
    out = tmp_path / "d"
    res = _generate(out, "--expert", "ollama", "--host", "http://127.0.0.1:9", "--fallback")
    assert res.exit_code == 0, res.output
    meta = DemoSet.load(out).meta
    assert meta["model"] is None and meta["requested_model"] == "qwen2.5:7b-instruct"
    assert meta["written_by"] == {"fallback": 4}
    assert set(meta["sources"].values()) == {"fallback"} and len(meta["sources"]) == 4
    show = runner.invoke(app, ["demo", "show", str(out)])
    assert show.exit_code == 0 and "written by: fallback 4" in show.output, show.output
    assert show.output.count("written by:") == 1, show.output  # one provenance line (the table has a column)


def test_routing_expert_demos_say_routing(tmp_path):
    out = tmp_path / "d"
    assert _generate(out).exit_code == 0
    meta = DemoSet.load(out).meta
    assert meta["written_by"] == {"routing": 4} and meta["model"] is None


def test_a_partial_llm_answer_is_recorded_per_demo(tmp_path, monkeypatch):
    """The fake model answers only for the first agent of each prompt: the others fall back."""
    monkeypatch.setenv("RELED_CACHE_DIR", str(tmp_path / "cache"))
    sc = load_scenario_dir(SAMPLE)
    graph = sc.graph
    plan = RoutingExpert().plan(graph, [t for t in _trips(sc)], None, {})
    answered: set[str] = set()

    def respond(body):
        text = body["messages"][-1]["content"]
        first = sorted(set(re.findall(r"agent_\d+", text)), key=lambda a: int(a.split("_")[1]))[0]
        answered.add(first)
        return answer_from_routes(graph, {first: list(plan[first].edges)})

    out = tmp_path / "d"
    with FakeOllamaServer(responder=respond) as server:
        res = _generate(out, "--expert", "ollama", "--host", server.url)
    assert res.exit_code == 0, res.output
    meta = DemoSet.load(out).meta
    assert sum(meta["written_by"].values()) == 4 and meta["written_by"].get("fallback", 0) >= 1
    assert meta["written_by"].get("llm", 0) + meta["written_by"].get("repaired", 0) >= 1
    assert meta["model"] == "qwen2.5:7b-instruct"
    for agent, source in meta["sources"].items():  # a rejected LLM revision keeps the earlier (fallback) demo
        assert agent in answered if source in ("llm", "repaired") else source == "fallback", (agent, source)
        assert agent in answered or source == "fallback", (agent, source)


def _trips(sc):
    from reled_sumo.env import make_env

    env = make_env(sc, max_agents=4)
    try:
        return agent_trips(env)
    finally:
        env.close()
