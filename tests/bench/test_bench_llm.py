"""`reled bench llm`: answer scoring on a grid, and the whole bench through the CLI against the
scripted loopback server (real HTTP, the official client, SUMO)."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from reled_sumo.bench.llm import LLMBenchConfig, answer_quality
from reled_sumo.cli.app import app
from reled_sumo.errors import ConfigError
from reled_sumo.experts import AgentTrip, RoutingExpert
from reled_sumo.scenario.graph import RoadGraph
from reled_sumo.testing import FakeOllamaServer
from reled_sumo.testing.routes import answer_from_routes, grid_net

runner = CliRunner()


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> RoadGraph:
    return RoadGraph.from_net_file(grid_net(tmp_path_factory.mktemp("grid"), n=4))


@pytest.fixture
def trips(grid):
    return [AgentTrip("a0", grid.index["A0A1"], grid.index["C2C3"], 0.0),
            AgentTrip("a1", grid.index["A0A1"], grid.index["D2D3"], 1.0)]


def test_a_perfect_answer_scores_one_everywhere(grid, trips):
    routes = {a: r.edges for a, r in RoutingExpert().plan(grid, trips, None, {}).items()}
    q = answer_quality(grid, trips, answer_from_routes(grid, routes))
    assert q.rates() == {"valid_json_rate": 1.0, "real_id_rate": 1.0, "adjacent_rate": 1.0, "reached_rate": 1.0}


def test_bad_answers_are_counted_as_such(grid, trips):
    text = json.dumps({"instructions": [["MoveTo", "A2", "a0"], ["MoveTo", "ZZ", "a0"], ["MoveTo", "C3", "a0"],
                                        ["MoveTo", "B1", "ghost"]]})
    q = answer_quality(grid, trips, text)
    assert (q.answers, q.valid_json, q.ids, q.real_ids) == (1, 1, 8, 6)  # ZZ and ghost are not real
    # a0 starts at A1: A1->A2 adjacent, A2->ZZ and ZZ->C3 not; a1 has no move
    assert (q.steps, q.adjacent_steps) == (3, 1)
    assert (q.agents, q.reached) == (2, 1)  # a0 names C3, the end of C2C3
    assert answer_quality(grid, trips, "not json").valid_json == 0
    assert answer_quality(grid, trips, None).rates()["valid_json_rate"] == 0.0


@pytest.mark.parametrize("bad", [dict(models=()), dict(modes=("junctions",)), dict(seeds=(-1,)), dict(seeds=(True,)),
                                 dict(agents=0), dict(rounds=0), dict(timeout_s=float("inf")),
                                 dict(max_edges=0), dict(max_subset=True)])
def test_bad_bench_config(bad):
    with pytest.raises(ConfigError):
        LLMBenchConfig(scenario="kotka", **bad)


def _responder(body: dict) -> str:
    fmt = body["format"]
    if "instructions" in fmt.get("properties", {}):
        return '{"instructions": []}'  # path mode: nothing usable -> fallback
    return json.dumps({a: "R1" for a in fmt["required"]})


def test_bench_llm_cli_rows(kotka_small, tmp_path, monkeypatch):
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    out = tmp_path / "bench.jsonl"
    with FakeOllamaServer(models=("tiny:1b",), responder=_responder) as server:
        res = runner.invoke(app, ["bench", "llm", "--scenario", str(kotka_small.path), "--models", "tiny:1b",
                                  "--agents", "4", "--host", server.url, "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["expert"], r["mode"]) for r in rows] == [("routing", "-"), ("llm", "path"), ("llm", "routes")]
    path, routes = rows[1], rows[2]
    assert path["fallbacks"] == 4 and path["sources"] == {"fallback": 4} and path["reached_rate"] == 0.0
    assert routes["fallbacks"] == 0 and routes["sources"] == {"llm": 4}
    assert routes["valid_json_rate"] == routes["adjacent_rate"] == routes["reached_rate"] == 1.0
    assert routes["prompt_tokens"] == 42  # what the scripted server reports per answer
    assert all(r["travel_time"] > 0 and r["sed_bound"] >= 0 for r in rows)
    assert routes["routing_travel_time"] is not None and routes["s_per_answer"] > 0
    assert "LLM experts on" in res.output
