"""Issue 12: bounded waits on a hung Ollama server, and no crash on a server answering a JSON array.

The hung server is a real listening socket that accepts connections and never answers; the
process-level checks run in a subprocess, since lingering threads only show at interpreter exit.
"""
from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from reled_sumo.errors import LLMUnavailableError
from reled_sumo.experts.ollama_client import OllamaClient, OllamaConfig
from reled_sumo.testing import Reply

SAMPLE = str(Path(__file__).resolve().parents[1] / "data" / "sample_scenario")


@pytest.fixture
def hung_url():
    """A server that accepts every connection and never says a word."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    stop.set()
    t.join(2)
    for c in held:
        c.close()
    srv.close()


def test_chat_answering_a_json_array_is_a_clear_error_not_a_type_error(ollama_server):
    ollama_server.script(Reply(raw_body="[1, 2, 3]"), Reply(raw_body='"just a string"'))
    client = OllamaClient(OllamaConfig(host=ollama_server.url, retries=0))
    for _ in range(2):
        with pytest.raises(LLMUnavailableError, match="unexpected chat response"):
            client.chat_text([{"role": "user", "content": "x"}], {"type": "object"})


def test_health_check_has_its_own_short_timeout(hung_url):
    assert OllamaConfig().check_timeout_s <= 5 and OllamaConfig().check_retries <= 1
    client = OllamaClient(OllamaConfig(host=hung_url, timeout_s=120, retries=2, check_timeout_s=0.5,
                                       check_retries=1, backoff_s=0.1))
    t0 = time.monotonic()
    with pytest.raises(LLMUnavailableError, match="no answer within 0.5 s"):
        client.check()
    assert time.monotonic() - t0 < 30  # two 0.5 s attempts, not 3 x 120 s (loose: a loaded CI box)


def test_cli_demo_generate_fails_fast_on_a_hung_server(hung_url, tmp_path):
    """Defaults only: the health check gives up in about 2 x 5 s + 1 s, and the process exits."""
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "reled_sumo.cli.app", "demo", "generate", "--scenario", SAMPLE,
                           "--expert", "ollama", "--host", hung_url, "--agents", "2", "--rounds", "1",
                           "--out", str(tmp_path / "d")], capture_output=True, text=True, timeout=90,
                          env=_env(tmp_path))
    wall = time.monotonic() - t0
    assert proc.returncode == 3, proc.stderr
    assert "no answer within 5 s" in proc.stderr and "Traceback" not in proc.stderr
    assert wall < 45, wall


def test_cli_timeout_and_retries_options_reach_the_client(tmp_path):
    from typer.testing import CliRunner

    from reled_sumo.cli.app import app

    for cmd in (["demo", "generate", "--help"], ["train", "--help"]):
        res = CliRunner().invoke(app, cmd)
        assert "--timeout" in res.output and "--retries" in res.output, res.output
    from reled_sumo.experts.factory import ExpertOptions, make_expert

    ex = make_expert(ExpertOptions(kind="ollama", host="http://127.0.0.1:9", timeout_s=7.5, retries=0,
                                   fallback_on_unavailable=True))
    assert ex.config.ollama.timeout_s == 7.5 and ex.config.ollama.retries == 0


def _env(tmp_path):
    import os

    return {**os.environ, "RELED_CACHE_DIR": str(tmp_path / "llm-cache"), "RELED_HOME": str(tmp_path / "home")}


ROUND_SCRIPT = textwrap.dedent("""
    import sys, time
    from reled_sumo.errors import LLMUnavailableError
    from reled_sumo.experts import AgentTrip
    from reled_sumo.experts.llm import LLMExpertConfig, OllamaExpert
    from reled_sumo.experts.ollama_client import OllamaConfig
    from reled_sumo.scenario.graph import RoadGraph
    from reled_sumo.testing import FakeOllamaServer
    from reled_sumo.testing.routes import grid_net

    fallback = sys.argv[2] == "fallback"
    g = RoadGraph.from_net_file(grid_net(sys.argv[1], n=5))
    trips = [AgentTrip(f"a{i}", g.index["A0A1"], g.index["E3E4"], 2.0 * i) for i in range(4)]
    server = FakeOllamaServer(delay_s=3600).start()  # answers the health check, never a chat
    cfg = LLMExpertConfig(ollama=OllamaConfig(host=server.url, timeout_s=60, retries=2), max_subset=1,
                          max_workers=2, cache=False, round_timeout_s=1.5, fallback_on_unavailable=fallback)
    ex = OllamaExpert(cfg)
    t0 = time.monotonic()
    try:
        routes = ex.plan(g, trips, g.freeflow_time, {})
        print("ROUTES", sorted({r.source for r in routes.values()}), flush=True)
    except LLMUnavailableError as exc:
        print("ERROR", exc, flush=True)
    print("PLAN_S", round(time.monotonic() - t0, 2), flush=True)
    print("CHATS", len(server.generation_requests()), flush=True)
""")


@pytest.mark.parametrize("mode", ["raise", "fallback"])
def test_a_round_is_bounded_and_the_process_does_not_linger(tmp_path, mode):
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", ROUND_SCRIPT, str(tmp_path), mode], capture_output=True, text=True,
                          timeout=60, env=_env(tmp_path))
    wall = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)
    if mode == "raise":
        assert "round_timeout_s=1.5" in lines["ERROR"], proc.stdout
    else:
        assert lines["ROUTES"] == "['fallback']", proc.stdout
    assert float(lines["PLAN_S"]) < 30, proc.stdout  # 1.5 s round bound, not the 60 s read (loose: loaded CI box)
    assert int(lines["CHATS"]) == 2  # the two workers' first prompts; nobody took the other two
    assert wall < 50, wall  # the interpreter did not wait for the threads stuck in a 60 s read
