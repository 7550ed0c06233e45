"""Issue 23, items 9-12: hostile numbers refused, clear messages at the edges, nothing written to ~/.cache.

Each test was seen failing on the code before the fix (5e5daa8)."""
from __future__ import annotations

import gzip
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reled_sumo.cli.app import app
from reled_sumo.errors import LLMUnavailableError, SimulationDiedError

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "data" / "sample_scenario"
runner = CliRunner()


def _clean(res, code: int) -> str:
    assert res.exit_code == code, (res.exit_code, res.output, res.exception)
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output and ("error:" in res.output or "Invalid value" in res.output)
    return " ".join(res.output.replace("│", " ").split())  # Typer's usage box wraps its message


@pytest.mark.parametrize("args,says", [
    (["bench", "workers", "--scenario", str(SAMPLE), "--workers", "0"], "--workers must be"),
    (["bench", "workers", "--scenario", str(SAMPLE), "--workers", "1", "--agents", "0"], "Invalid value for '--agents'"),
    (["bench", "workers", "--scenario", str(SAMPLE), "--workers", "1", "--episodes", "0"], "--episodes must be"),
    (["bench", "env", "--scenario", str(SAMPLE), "--agents", "2", "--repeats", "0"], "--repeats must be"),
    (["bench", "env", "--scenario", str(SAMPLE), "--agents", "0"], "--agents must be"),  # a list: checked by reled
])
def test_bench_counts_below_one_are_refused(args, says):
    assert says in _clean(runner.invoke(app, args), 2)


def test_reled_home_that_is_a_file_is_an_error_not_an_empty_list(tmp_path, monkeypatch):
    f = tmp_path / "home-file"
    f.write_text("x")
    monkeypatch.setenv("RELED_HOME", str(f))
    out = _clean(runner.invoke(app, ["scenario", "list"]), 74)
    assert "(none)" not in out and "home-file" in out.replace("\n", "")


def test_an_empty_reled_home_means_the_documented_default(tmp_path, monkeypatch):
    from reled_sumo.scenario.registry import reled_home

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RELED_HOME", "")
    assert reled_home() == tmp_path / ".reled"


def test_demo_show_on_a_folder_that_is_not_a_demo_set_is_exit_2(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    assert "is not a demonstration set" in _clean(runner.invoke(app, ["demo", "show", str(tmp_path)]), 2)


def test_a_fake_gzip_network_is_a_user_error_like_a_fake_gzip_route_file(tmp_path, monkeypatch):
    monkeypatch.setenv("RELED_HOME", str(tmp_path / "home"))
    with gzip.open(tmp_path / "routes.rou.xml.gz", "wt") as fh:
        fh.write("<routes/>")
    (tmp_path / "net.net.xml.gz").write_bytes(b"this is not gzip at all")
    res = runner.invoke(app, ["scenario", "import", "--net", str(tmp_path / "net.net.xml.gz"), "--routes",
                              str(tmp_path / "routes.rou.xml.gz"), "--name", "fake", "--agents", "1"])
    assert "net.net.xml.gz is not a readable gzip file" in _clean(res, 2)
    assert not list((tmp_path / "home" / "scenarios").iterdir())


def test_a_sumo_killed_while_starting_is_reported_as_killed(sample_scenario):
    from reled_sumo.sim.session import SessionConfig, SumoSession

    s = SumoSession(sample_scenario.sumocfg, SessionConfig(backend="traci"))
    stop = threading.Event()

    def killer():
        while not stop.is_set():
            proc = getattr(s, "_proc", None)
            if proc is not None:
                proc.kill()
                return
            time.sleep(0.001)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    try:
        with pytest.raises(SimulationDiedError, match="killed by signal SIGKILL while starting"):
            s.start()
    finally:
        stop.set()
        s.close()


@pytest.fixture
def empty_404_url():
    """An HTTP server that answers every request with 404 and an empty body (not an Ollama server)."""

    class H(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_GET  # noqa: N815

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_a_host_that_is_not_ollama_gets_a_reason_not_an_empty_one(empty_404_url):
    from reled_sumo.experts.ollama_client import OllamaClient, OllamaConfig

    client = OllamaClient(OllamaConfig(host=empty_404_url, check_timeout_s=2, check_retries=0))
    with pytest.raises(LLMUnavailableError) as info:
        client.check()
    msg = str(info.value)
    assert "HTTP 404" in msg and "is it an Ollama server" in msg and ": ." not in msg, msg


def test_onnxruntime_writes_nothing_under_the_home_cache(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CACHE_HOME", "ORT_DISABLE_TELEMETRY")}
    code = ("from reled_sumo.deploy.onnx_policy import OnnxPolicy\n"
            "try:\n    OnnxPolicy('missing.onnx')\nexcept Exception as exc:\n    print(type(exc).__name__)\n"
            "import onnxruntime\nprint(onnxruntime.__version__)")
    proc = subprocess.run([sys.executable, "-c", code], env={**env, "HOME": str(home), "PYTHONPATH": str(ROOT)},
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "UserInputError" in proc.stdout, proc.stderr
    assert [str(p.relative_to(home)) for p in home.rglob("*")] == []
