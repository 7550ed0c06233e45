"""Issue 23, item 5: whole-request deadlines. A server that sends its headers and then one byte at a
time passes every per-read timeout; the health check and each chat call must still end on time.

The dripping server is the real loopback ``FakeOllamaServer`` with ``drip_s``; the deadlines are
short, so each test takes seconds. On the old client each of these ran for minutes."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from reled_sumo.errors import LLMUnavailableError
from reled_sumo.experts.ollama_client import OllamaClient, OllamaConfig
from reled_sumo.testing import FakeOllamaServer, Reply

SAMPLE = str(Path(__file__).resolve().parents[1] / "data" / "sample_scenario")
DRIP_S = 0.3  # well under every per-read timeout below: only a whole-request deadline stops it


def _bounded(fn, limit_s: float):
    """Run ``fn`` on a thread; (its exception or result, seconds), or fail if it runs past ``limit_s``."""
    out: dict = {}

    def run():
        try:
            out["value"] = fn()
        except Exception as exc:  # noqa: BLE001 - inspected by the test
            out["error"] = exc

    t0 = time.monotonic()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(limit_s)
    assert not t.is_alive(), f"still waiting after {limit_s} s"
    return out.get("error", out.get("value")), time.monotonic() - t0


def test_health_check_against_a_dripping_server_ends_at_its_deadline():
    with FakeOllamaServer(drip_s=DRIP_S) as server:
        client = OllamaClient(OllamaConfig(host=server.url, check_timeout_s=1.0, check_retries=1, backoff_s=0.1))
        err, seconds = _bounded(client.check, 15)
        assert isinstance(err, LLMUnavailableError) and "no answer within 1 s" in str(err), err
        assert seconds < 10
        assert [r.path for r in server.requests] == ["/api/tags", "/api/tags"]  # two attempts, no more


def test_chat_against_a_dripping_server_ends_at_its_deadline():
    with FakeOllamaServer(responder=lambda body: Reply(text='{"instructions": []}', drip_s=DRIP_S)) as server:
        client = OllamaClient(OllamaConfig(host=server.url, timeout_s=1.0, retries=1, backoff_s=0.1))
        err, seconds = _bounded(lambda: client.chat_text([{"role": "user", "content": "x"}], {"type": "object"}),
                                15)
        assert isinstance(err, LLMUnavailableError) and "no answer within 1 s" in str(err), err
        assert seconds < 10 and len(server.generation_requests()) == 2


def test_a_quick_answer_is_not_cut_by_the_deadline():
    with FakeOllamaServer(responder=lambda body: '{"instructions": []}') as server:
        client = OllamaClient(OllamaConfig(host=server.url, timeout_s=2.0, retries=0, check_timeout_s=2.0))
        assert client.check().model == client.model
        assert client.chat_text([{"role": "user", "content": "x"}], {"type": "object"}) == '{"instructions": []}'


def _env(tmp_path):
    import os

    return {**os.environ, "RELED_CACHE_DIR": str(tmp_path / "llm-cache"), "RELED_HOME": str(tmp_path / "home")}


def test_doctor_against_a_dripping_server_reports_it_unavailable_in_seconds(tmp_path):
    with FakeOllamaServer(drip_s=DRIP_S) as server:
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "reled_sumo.cli.app", "doctor", "--host", server.url],
                              capture_output=True, text=True, timeout=90, env={**_env(tmp_path), "COLUMNS": "250"})
        wall = time.monotonic() - t0
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "no answer within 5 s" in proc.stdout, proc.stdout
    assert wall < 45, wall  # one 5 s attempt (plus start-up), not the minutes of the dripped body


@pytest.mark.parametrize("fallback", [False, True])
def test_demo_generate_round_timeout_option_bounds_a_dripping_chat(tmp_path, fallback):
    reply = Reply(text='{"instructions": []}', drip_s=DRIP_S)
    with FakeOllamaServer(responder=lambda body: reply) as server:
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "reled_sumo.cli.app", "demo", "generate", "--scenario", SAMPLE,
                               "--expert", "ollama", "--host", server.url, "--agents", "2", "--rounds", "1",
                               "--timeout", "60", "--retries", "0", "--round-timeout", "2",
                               "--fallback" if fallback else "--no-fallback", "--out", str(tmp_path / "d")],
                              capture_output=True, text=True, timeout=120, env=_env(tmp_path))
        wall = time.monotonic() - t0
    assert "Traceback" not in proc.stderr, proc.stderr
    if fallback:
        assert proc.returncode == 0, proc.stderr
    else:
        assert proc.returncode == 3 and "round_timeout_s=2" in proc.stderr, proc.stderr
    assert wall < 60, wall
