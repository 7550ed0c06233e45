"""Fixtures for expert tests: graphs, a loopback Ollama server, an isolated cache dir."""
from __future__ import annotations

from pathlib import Path

import pytest

from reled_sumo.scenario.graph import RoadGraph
from reled_sumo.testing import FakeOllamaServer
from reled_sumo.testing.routes import grid_net

DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    """Never touch ~/.cache or a developer's OLLAMA_HOST."""
    monkeypatch.setenv("RELED_CACHE_DIR", str(tmp_path / "llm-cache"))
    monkeypatch.delenv("OLLAMA_HOST", raising=False)


@pytest.fixture(scope="session")
def grid_graph(tmp_path_factory) -> RoadGraph:
    """5 x 5 grid, 100 m blocks, one lane: junctions A0..E4, edges like 'A0A1'."""
    return RoadGraph.from_net_file(grid_net(tmp_path_factory.mktemp("grid"), n=5))


@pytest.fixture(scope="session")
def kotka_graph() -> RoadGraph:
    """A real OSM-derived network (Kotka, Finland), gzipped."""
    return RoadGraph.from_net_file(DATA / "kotka.net.xml.gz")


@pytest.fixture
def ollama_server():
    with FakeOllamaServer() as server:
        yield server


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL where nothing listens."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
