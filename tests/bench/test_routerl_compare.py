"""bench/routerl_compare.py without RouteRL: its arguments, the missing-venv message, and the
ratios and table it computes from given numbers (the timed runs need RouteRL's venv and are a
benchmark, not a test)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).parents[2] / "bench" / "routerl_compare.py"


@pytest.fixture(scope="module")
def rc() -> ModuleType:
    spec = importlib.util.spec_from_file_location("routerl_compare", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["routerl_compare"] = mod
    spec.loader.exec_module(mod)
    return mod


def _run(tool: str, walls: list[float], cpus: list[float], sim: float, decisions: int, load: float) -> dict:
    days = [{"wall_s": w, "cpu_s": c, "sim_s": sim, "decisions": decisions} for w, c in zip(walls, cpus)]
    return {"tool": tool, "days": days, "load_before": [load, load, load]}


def test_missing_venv_is_one_clear_line(rc, tmp_path, capsys):
    missing = tmp_path / "no-venv" / "bin" / "python"
    assert rc.main(["--rrl-python", str(missing), "--home", str(tmp_path / "h")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"RouteRL venv not found: {missing}" in err and "pip install routerl==2.0.0" in err
    assert not (tmp_path / "h").exists()  # nothing was prepared


def test_a_python_that_is_not_executable_is_refused(rc, tmp_path, capsys):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\n")  # not executable
    assert rc.main(["--rrl-python", str(fake), "--home", str(tmp_path / "h")]) == 2
    assert "RouteRL venv not found" in capsys.readouterr().err


def test_an_existing_json_is_not_overwritten(rc, tmp_path, capsys):
    out = tmp_path / "out.json"
    out.write_text("mine")
    assert rc.main(["--rrl-python", str(tmp_path / "none"), "--json", str(out)]) == 2
    assert "exists" in capsys.readouterr().err and out.read_text() == "mine"


@pytest.mark.parametrize("bad", [["--rounds", "0"], ["--days", "0"], ["--agents", "0"], ["--networks", ","],
                                 ["--backend", "sumo"], ["--rounds", "x"], ["--env", "live_estimate"],
                                 ["--env", "=snapshot"]])
def test_bad_arguments_are_refused(rc, bad):
    with pytest.raises(SystemExit) as e:
        rc.parse_args(bad)
    assert e.value.code == 2


def test_defaults_are_the_issue_setting(rc):
    a = rc.parse_args([])
    assert a.networks == ["csomor", "ingolstadt", "cologne"]
    assert (a.agents, a.rounds, a.backend) == (100, 3, "libsumo")


def test_env_options_are_typed(rc):
    a = rc.parse_args(["--env", "live_estimate=snapshot", "--env", "live_period_s=15.5", "--env", "max_agents=50"])
    assert a.env_options == {"live_estimate": "snapshot", "live_period_s": 15.5, "max_agents": 50}


def test_ratios_are_medians_of_per_round_pairs(rc):
    # per round: the median day of each tool; ratios reled / RouteRL per round, then their median
    rounds = [
        {"reled": _run("reled", [2.0, 9.0, 2.0], [1.0, 1.0, 5.0], 3000, 1000, 1.5),
         "routerl": _run("routerl", [1.0, 1.0, 7.0], [1.0, 2.0, 2.0], 3600, 100, 1.0)},
        {"reled": _run("reled", [4.0, 4.0, 4.0], [3.0, 3.0, 3.0], 3000, 1000, 2.0),
         "routerl": _run("routerl", [1.0, 1.0, 1.0], [1.0, 1.0, 1.0], 3600, 100, 2.5)},
        {"reled": _run("reled", [1.0, 1.0, 1.0], [2.0, 2.0, 2.0], 3000, 1000, 3.0),
         "routerl": _run("routerl", [1.0, 1.0, 1.0], [4.0, 4.0, 4.0], 3600, 100, 3.5)},
    ]
    s = rc.summarise("csomor", rounds)
    assert [p["wall_ratio"] for p in s["pairs"]] == [2.0, 4.0, 1.0]
    assert [p["cpu_ratio"] for p in s["pairs"]] == [0.5, 3.0, 0.5]
    assert s["median_wall_ratio"] == 2.0 and s["median_cpu_ratio"] == 0.5
    assert s["median_wall_per_sim_s_ratio"] == pytest.approx(2.0 * 3600 / 3000)
    assert s["pairs"][0]["reled"]["decisions_per_s"] == 500.0
    assert s["pairs"][1]["routerl"]["decisions_per_s"] == 100.0
    assert s["pairs"][2]["load"] == [3.0, 3.5]
    table = rc.format_table([s])
    row = table.splitlines()[2]
    assert row.startswith("| csomor | 2.00 / 2.00 | 1.00 / 2.00 | **2.00** (2.00, 4.00, 1.00) | 0.50 (0.50, 3.00, 0.50)")
    assert "| 3000 / 3600 | 500 / 100 | 1.0–3.5 |" in row
