from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data" / "sample_scenario"


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def sample_scenario():
    from reled_sumo.scenario.manifest import load_scenario_dir

    return load_scenario_dir(DATA)
