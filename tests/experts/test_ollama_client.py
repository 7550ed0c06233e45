"""The real `ollama` client against the loopback server."""
import time

import pytest

from reled_sumo.errors import ConfigError, LLMUnavailableError
from reled_sumo.experts.instructions import InvalidAnswerError
from reled_sumo.experts.ollama_client import DEFAULT_HOST, OllamaClient, OllamaConfig
from reled_sumo.testing import FakeOllamaServer, Reply

MSGS = [{"role": "user", "content": "route please"}]
SCHEMA = {"type": "object"}


def _client(url, **kw):
    kw.setdefault("retries", 0)
    kw.setdefault("backoff_s", 0.01)
    return OllamaClient(OllamaConfig(host=url, **kw))


def test_check_reports_version_and_models(ollama_server):
    info = _client(ollama_server.url).check()
    assert info.version == "0.6.5" and info.model in info.models
    assert [r.path for r in ollama_server.requests] == ["/api/tags", "/api/version"]


def test_model_not_pulled(ollama_server):
    with pytest.raises(LLMUnavailableError, match="ollama pull llama3.2"):
        _client(ollama_server.url, model="llama3.2").check()


def test_chat_404_for_unknown_model(ollama_server):
    with pytest.raises(LLMUnavailableError, match="not found.*ollama pull"):
        _client(ollama_server.url, model="nope:1b").chat_text(MSGS, SCHEMA)


def test_chat_sends_schema_and_options(ollama_server):
    ollama_server.script('{"instructions": []}')
    c = _client(ollama_server.url, temperature=0.2, seed=7)
    assert c.chat_json(MSGS, {"type": "object", "x": 1}) == {"instructions": []}
    body = ollama_server.generation_requests()[0].body
    assert body["model"] == "qwen2.5:7b-instruct" and body["stream"] is False
    assert body["format"] == {"type": "object", "x": 1} and body["messages"] == MSGS
    assert body["options"]["temperature"] == 0.2 and body["options"]["seed"] == 7
    assert body["options"]["num_ctx"] == 16384


def test_streaming(ollama_server):
    text = '{"instructions": [["MoveTo", "A1", "a"]]}' * 3
    ollama_server.script(text)
    assert _client(ollama_server.url, stream=True).chat_text(MSGS, SCHEMA) == text
    assert ollama_server.generation_requests()[0].body["stream"] is True


def test_chat_json_rejects_garbage(ollama_server):
    ollama_server.script("I cannot help with that.")
    with pytest.raises(InvalidAnswerError):
        _client(ollama_server.url).chat_json(MSGS, SCHEMA)


def test_server_down(closed_port_url):
    t0 = time.monotonic()
    with pytest.raises(LLMUnavailableError, match="ollama serve.*--expert routing"):
        _client(closed_port_url, retries=2).check()
    assert time.monotonic() - t0 < 5


def test_timeout_then_retry_succeeds(ollama_server):
    ollama_server.script(Reply(text="{}", delay_s=1.0), "{}")
    c = _client(ollama_server.url, timeout_s=0.2, retries=1)
    assert c.chat_text(MSGS, SCHEMA) == "{}"
    assert len(ollama_server.generation_requests()) == 2


def test_timeout_exhausts_retries(ollama_server):
    ollama_server.delay_s = 1.0
    with pytest.raises(LLMUnavailableError, match="no answer within 0.2 s"):
        _client(ollama_server.url, timeout_s=0.2, retries=1).chat_text(MSGS, SCHEMA)


def test_server_error_is_retried(ollama_server):
    ollama_server.script(Reply(status=500, error="llama runner crashed"), "ok")
    assert _client(ollama_server.url, retries=1).chat_text(MSGS, SCHEMA) == "ok"


def test_not_an_ollama_server(ollama_server):
    ollama_server.script(Reply(raw_body="<html>hello</html>"))
    with pytest.raises(LLMUnavailableError, match="unexpected"):
        _client(ollama_server.url).chat_text(MSGS, SCHEMA)


def test_host_from_environment(monkeypatch, ollama_server):
    assert OllamaConfig().resolved_host() == DEFAULT_HOST
    monkeypatch.setenv("OLLAMA_HOST", ollama_server.url)
    assert OllamaClient().check().host == ollama_server.url
    assert OllamaConfig(host="http://x:1").resolved_host() == "http://x:1"


def test_generate_endpoint_also_served():
    import ollama

    with FakeOllamaServer() as server:
        server.script("hello", "streamed hello")
        c = ollama.Client(host=server.url)
        r = c.generate(model="qwen2.5:7b-instruct", prompt="hi")
        assert r.response == "hello" and r.done and r.done_reason == "stop" and r.eval_count
        parts = list(c.generate(model="qwen2.5:7b-instruct", prompt="hi", stream=True))
        assert "".join(p.response for p in parts) == "streamed hello" and parts[-1].done


def test_config_validation():
    with pytest.raises(ConfigError):
        OllamaConfig(timeout_s=0)
    with pytest.raises(ConfigError):
        OllamaConfig(model="")
