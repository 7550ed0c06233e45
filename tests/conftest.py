"""Shared fixtures: built scenarios in a temporary RELED_HOME (real netconvert/duarouter/sumo)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def reled_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("reled_home")
    mp = pytest.MonkeyPatch()
    mp.setenv("RELED_HOME", str(home))
    yield home
    mp.undo()


@pytest.fixture(scope="session")
def kotka_small(reled_home):
    """The bundled Kotka city with a small demand: 20 agents, 150 background vehicles, 600 s."""
    from reled_sumo.scenario.build import BuildRequest, build
    from reled_sumo.scenario.registry import get_recipe

    req = BuildRequest.bundled(get_recipe("kotka"), agents=20, background_vehicles=150, duration=600, seed=7)
    return build(req).scenario


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """An empty RELED_HOME of this test's own (the folder is not created)."""
    h = tmp_path / "home"
    monkeypatch.setenv("RELED_HOME", str(h))
    return h


SAMPLE = DATA / "sample_scenario"


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    """A small real scenario shipped with the tests (Kotka network, 30 agents, 600 background, 1800 s)."""
    return SAMPLE


@pytest.fixture(scope="session")
def sample_scenario():
    from reled_sumo.scenario.manifest import load_scenario_dir

    return load_scenario_dir(SAMPLE)


@pytest.fixture(scope="module")
def local_ray():
    """A real Ray instance on this machine (2 CPUs), shared by the module's tests (skipped without Ray)."""
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        ray.shutdown()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def no_ray(monkeypatch):
    """``import ray`` raises ImportError, as without the package."""
    monkeypatch.setitem(sys.modules, "ray", None)
