"""What ``reled scenario import`` says when the demand does not fit (issue 24, item 5): a route
file without vehicles, ``--agents all`` in the default window, and the default window's refusal."""
from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest

from reled_sumo.errors import ScenarioImportError
from reled_sumo.scenario.importer import ImportRequest, import_scenario
from reled_sumo.scenario.tools import binary

ROUTE = '<route id="r{i}" edges="A0A1 A1A2"/>'
CAR = '<vehicle id="c{i}" type="car" depart="{t}"><route edges="A0A1 A1A2"/></vehicle>'


def _scenario(d: Path, departs: list[float], routes_only: bool = False) -> Path:
    """A 3x3 grid, one car per departure time (or only <route> definitions), end 600 s."""
    d.mkdir(parents=True, exist_ok=True)
    if not (d / "grid.net.xml").exists():
        proc = subprocess.run([binary("netgenerate"), "--grid", "--grid.number", "3", "--grid.length", "200",
                               "--default.lanenumber", "1", "-o", "grid.net.xml"], cwd=d, capture_output=True,
                              text=True)
        assert proc.returncode == 0, proc.stderr
    body = [ROUTE.format(i=i) for i in range(3)] if routes_only else \
        ['<vType id="car" vClass="passenger"/>'] + [CAR.format(i=i, t=t) for i, t in enumerate(departs)]
    (d / "demand.rou.xml").write_text("<routes>\n" + "\n".join(body) + "\n</routes>\n")
    cfg = d / "city.sumocfg"
    cfg.write_text('<configuration><input><net-file value="grid.net.xml"/><route-files value="demand.rou.xml"/>'
                   '</input><time><begin value="0"/><end value="600"/></time></configuration>\n')
    return cfg


def test_route_definitions_alone_are_no_vehicles(tmp_path, home):
    cfg = _scenario(tmp_path / "s", [], routes_only=True)
    with pytest.raises(ScenarioImportError, match="has no vehicles") as err:
        import_scenario(ImportRequest(name="x", sumocfg=cfg, agents=1))
    assert "passenger" not in str(err.value)


def test_agents_all_in_the_default_window_says_how_many_and_why(tmp_path, home, caplog):
    cfg = _scenario(tmp_path / "s", [0, 100, 200, 300, 400, 500])
    with caplog.at_level(logging.WARNING, logger="reled_sumo.scenario.importer"):
        sc = import_scenario(ImportRequest(name="x", sumocfg=cfg, agent_share=1.0)).scenario
    assert len(sc.agents) == 4  # departing in [0, 300]
    msg = " ".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
    assert "4 agents" in msg and "default window [0, 300] s" in msg and "out of 6 vehicles" in msg
    assert "has 6 that can be agents: --depart-window 0:600" in msg


def test_agents_all_with_an_explicit_window_says_nothing(tmp_path, home, caplog):
    cfg = _scenario(tmp_path / "s", [0, 100, 200, 300, 400, 500])
    with caplog.at_level(logging.WARNING, logger="reled_sumo.scenario.importer"):
        sc = import_scenario(ImportRequest(name="x", sumocfg=cfg, agent_share=1.0, depart_window=(0.0, 600.0))).scenario
    assert len(sc.agents) == 6
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_the_default_windows_refusal_names_the_window_and_what_a_wider_one_gives(tmp_path, home):
    cfg = _scenario(tmp_path / "s", [400, 450, 500])
    with pytest.raises(ScenarioImportError) as err:
        import_scenario(ImportRequest(name="x", sumocfg=cfg, agents=2))
    msg = str(err.value)
    assert "default window [0, 300] s" in msg and "has 3 that can be agents: --depart-window 0:600" in msg
    cfg = _scenario(tmp_path / "s", [100, 400, 450, 500])
    with pytest.raises(ScenarioImportError) as err:
        import_scenario(ImportRequest(name="x", sumocfg=cfg, agents=3))
    msg = str(err.value)
    assert "only 1 of the 1" in msg and "default window [0, 300] s" in msg and "has 4 that can be agents" in msg
