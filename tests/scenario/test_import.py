"""``reled scenario import`` on a SUMO scenario made in the test with SUMO's own tools.

netgenerate makes a grid; randomTrips.py makes flows and trips; a hand-written route
file adds vehicles with inline and referenced routes, a vType distribution and a bus.
"""
from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reled_sumo.cli.app import app
from reled_sumo.errors import ScenarioImportError
from reled_sumo.scenario.importer import ImportRequest, import_scenario
from reled_sumo.scenario.tools import binary, sumo_home, tool_script

runner = CliRunner()

OWN_ROUTES = """<routes>
    <vType id="car" vClass="passenger" accel="2.2" sigma="0.3"/>
    <vType id="bus" vClass="bus"/>
    <vTypeDistribution id="mix">
        <vType id="c1" vClass="passenger" probability="0.5"/>
        <vType id="c2" vClass="passenger" maxSpeed="20" probability="0.5"/>
    </vTypeDistribution>
    <route id="detour" edges="A0A1 A1B1 B1B0 B0C0 C0C1 C1C2 C2C3"/>
    <vehicle id="own_ref" type="car" route="detour" depart="3"/>
    <vehicle id="own_inline" type="mix" depart="4"><route edges="D3D2 D2C2 C2B2 B2A2 A2A1"/></vehicle>
    <vehicle id="bus_1" type="bus" depart="5"><route edges="A0A1 A1A2 A2A3"/></vehicle>
    <vehicle id="own_late" type="car" depart="250"><route edges="A0A1 A1A2"/></vehicle>
</routes>
"""


def _randomtrips(args: list[str], cwd: Path) -> None:
    import os

    env = dict(os.environ, SUMO_HOME=str(sumo_home()))
    proc = subprocess.run([sys.executable, str(tool_script("randomTrips.py")), *args], cwd=cwd, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def make_sumo_scenario(d: Path, gz: bool = False) -> Path:
    """A 4x4 grid with flows, trips and vehicles; returns the .sumocfg."""
    d.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([binary("netgenerate"), "--grid", "--grid.number", "4", "--grid.length", "200",
                           "--default.lanenumber", "1", "-o", "grid.net.xml"], cwd=d, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    _randomtrips(["-n", "grid.net.xml", "-b", "0", "-e", "300", "-p", "10", "--flows", "6", "--prefix", "f",
                  "--seed", "1", "-o", "flows.rou.xml", "--min-distance", "300"], d)
    _randomtrips(["-n", "grid.net.xml", "-b", "0", "-e", "300", "-p", "6", "--prefix", "t", "--seed", "2",
                  "-o", "trips.trips.xml", "--min-distance", "300"], d)
    (d / "own.rou.xml").write_text(OWN_ROUTES)
    net = "grid.net.xml"
    if gz:
        for name in ("grid.net.xml", "trips.trips.xml"):
            with open(d / name, "rb") as fi, gzip.open(d / (name + ".gz"), "wb") as fo:
                shutil.copyfileobj(fi, fo)
            (d / name).unlink()
        net = "grid.net.xml.gz"
    trips = "trips.trips.xml.gz" if gz else "trips.trips.xml"
    cfg = d / "city.sumocfg"
    cfg.write_text(f"""<configuration>
    <input><net-file value="{net}"/><route-files value="own.rou.xml,flows.rou.xml,{trips}"/></input>
    <time><begin value="0"/><end value="600"/></time>
</configuration>
""")
    return cfg


@pytest.fixture(scope="module")
def user_scenario(tmp_path_factory) -> Path:
    return make_sumo_scenario(tmp_path_factory.mktemp("user") / "city")


def _ids(path: Path, tag: str) -> list[str]:
    return [e.get("id") for e in ET.parse(path).getroot().iter(tag)]


def test_import_sumocfg_expands_flows_keeps_routes_and_runs(user_scenario, home):
    before = {p.name: p.read_bytes() for p in user_scenario.parent.iterdir()}
    res = import_scenario(ImportRequest(name="grid", sumocfg=user_scenario, agents=8, depart_window=(0.0, 200.0)))
    sc = res.scenario
    sc.verify()
    c = sc.manifest["counts"]
    assert c["input_flows"] == 6 and c["flow_vehicles"] >= 6 * 5  # each flow: 600 s / period -> many vehicles
    assert c["vehicles"] == c["background_vehicles"] + 8
    assert sc.agent_ids == [f"agent_{i}" for i in range(8)]
    orig = sc.original_agent_ids
    assert set(orig) == set(sc.agent_ids) and "bus_1" not in orig.values() and "own_late" not in orig.values()
    departs = [a.depart for a in sc.agents]
    assert departs == sorted(departs) and 0 <= departs[0] and departs[-1] <= 200
    assert sc.manifest["options"]["begin"] == 0 and sc.duration == 600
    # background keeps its own routes: the detour is not replaced by a shortest path, the bus stays
    bg = ET.parse(sc.background_file).getroot()
    routes = {v.get("id"): v.find("route").get("edges") for v in bg.iter("vehicle")}
    if "own_ref" not in orig.values():
        assert routes["own_ref"] == "A0A1 A1B1 B1B0 B0C0 C0C1 C1C2 C2C3"
    assert "bus_1" in routes and not set(orig.values()) & set(routes)
    # the user's files are untouched
    assert {p.name: p.read_bytes() for p in user_scenario.parent.iterdir()} == before
    # SUMO runs the result, agents arrive
    out = home / "trip.xml"
    proc = subprocess.run([binary("sumo"), "-c", str(sc.sumocfg), "--tripinfo-output", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert sum(i.startswith("agent_") for i in _ids(out, "tripinfo")) == 8
    # same inputs: cache hit; --force re-imports
    again = ImportRequest(name="grid", sumocfg=user_scenario, agents=8, depart_window=(0.0, 200.0))
    assert import_scenario(again).cache_hit
    assert not import_scenario(again, force=True).cache_hit


def test_imported_scenario_drives_in_the_env(user_scenario, home):
    from reled_sumo.env import make_env
    from reled_sumo.env.policies import get_policy

    sc = import_scenario(ImportRequest(name="grid_env", sumocfg=user_scenario, agent_share=0.05)).scenario
    n = len(sc.agents)
    assert n == round(0.05 * sc.manifest["counts"]["agent_candidates_usable"]) and n >= 2
    env = make_env(sc, backend="libsumo", seed=3)
    pol = get_policy("shortest")
    obs, infos = env.reset(seed=3)
    done = set()
    while env.agents:
        obs, _, terms, _, infos = env.step(pol(obs, infos))
        done |= {a for a, t in terms.items() if t}
    env.close()
    assert done == set(sc.agent_ids)


def test_import_net_routes_gzipped_and_cli(tmp_path, home):
    cfg = make_sumo_scenario(tmp_path / "gz", gz=True)
    d = cfg.parent
    r = runner.invoke(app, ["scenario", "import", "--net", str(d / "grid.net.xml.gz"), "--routes",
                            f"{d / 'flows.rou.xml'},{d / 'trips.trips.xml.gz'}", "--name", "gzgrid", "--agents", "5",
                            "--end", "500"])
    assert r.exit_code == 0, r.output
    assert "imported" in r.output and "gzgrid" in r.output
    r = runner.invoke(app, ["scenario", "import", "--sumocfg", str(cfg), "--name", "gzcfg", "--agents", "5"])
    assert r.exit_code == 0, r.output


def test_agent_share_one_and_agents_all_make_every_usable_vehicle_an_agent(user_scenario, home):
    """--agent-share 1.0 (and its synonym --agents all): every passenger vehicle departing in
    the window that can be an agent is one; the env controls every one of them."""
    from reled_sumo.env import make_env

    sc = import_scenario(ImportRequest(name="grid_all", sumocfg=user_scenario, agent_share=1.0,
                                       depart_window=(0.0, 600.0))).scenario
    c = sc.manifest["counts"]
    assert len(sc.agents) == c["agent_candidates_usable"] == c["agent_candidates_drawn"] - c["agent_candidates_rejected"]
    # what stays background: non-passenger vehicles and passenger vehicles that cannot be agents
    bg = ET.parse(sc.background_file).getroot()
    bg_ids = {v.get("id") for v in bg.iter("vehicle")}
    assert "bus_1" in bg_ids and "own_late" in sc.original_agent_ids.values()  # a bus stays; a late car decides
    assert c["vehicles"] == len(sc.agents) + c["background_vehicles"]
    assert c["background_vehicles"] == 1 + c["agent_candidates_rejected"]  # the bus + the skipped candidates
    env = make_env(sc, backend="libsumo", seed=0)
    assert env.possible_agents == sc.agent_ids
    env.close()
    r = runner.invoke(app, ["scenario", "import", "--sumocfg", str(user_scenario), "--name", "grid_all2", "--agents",
                            "all", "--depart-window", "0:600"])
    assert r.exit_code == 0, r.output
    from reled_sumo.scenario import resolve_scenario

    assert resolve_scenario("grid_all2").agents == sc.agents


# ------------------------------------------------------------------ bad input
def _err(args: list[str]) -> str:
    r = runner.invoke(app, ["scenario", "import", *args])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    return " ".join(r.output.split())


def test_missing_files(user_scenario, home, tmp_path):
    assert "does not exist" in _err(["--sumocfg", str(tmp_path / "nope.sumocfg"), "--name", "x", "--agents", "2"])
    assert "does not exist" in _err(["--net", str(tmp_path / "no.net.xml"), "--routes", str(tmp_path / "r.xml"),
                                     "--name", "x", "--agents", "2"])
    cfg = tmp_path / "c" / "broken.sumocfg"
    cfg.parent.mkdir()
    shutil.copy(user_scenario.parent / "grid.net.xml", cfg.parent)
    cfg.write_text('<configuration><input><net-file value="grid.net.xml"/>'
                   '<route-files value="missing.rou.xml"/></input></configuration>')
    assert "missing.rou.xml, which does not exist" in _err(["--sumocfg", str(cfg), "--name", "x", "--agents", "2"])


def test_config_pointing_outside_its_folder(user_scenario, home, tmp_path):
    inner = tmp_path / "inner"
    inner.mkdir()
    cfg = inner / "escape.sumocfg"
    cfg.write_text(f'<configuration><input><net-file value="../{user_scenario.parent.name}/grid.net.xml"/>'
                   '<route-files value="x.rou.xml"/></input></configuration>')
    shutil.copytree(user_scenario.parent, tmp_path / user_scenario.parent.name)
    assert "points outside its folder" in _err(["--sumocfg", str(cfg), "--name", "x", "--agents", "2"])


def test_net_without_passenger_edges(home, tmp_path):
    proc = subprocess.run([binary("netgenerate"), "--grid", "--grid.number", "3", "--default.disallow", "passenger",
                           "-o", "nocar.net.xml"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    (tmp_path / "r.rou.xml").write_text('<routes><vehicle id="v" depart="0"><route edges="A0A1"/></vehicle></routes>')
    msg = _err(["--net", str(tmp_path / "nocar.net.xml"), "--routes", str(tmp_path / "r.rou.xml"),
                "--name", "x", "--agents", "1"])
    assert "no edges usable by passenger cars" in msg


def test_routes_with_unknown_edges(user_scenario, home, tmp_path):
    bad = tmp_path / "bad.rou.xml"
    bad.write_text('<routes><trip id="t" depart="0" from="A0A1" to="ZZ9"/>'
                   '<vehicle id="v" depart="1"><route edges="A0A1 NOPE"/></vehicle></routes>')
    msg = _err(["--net", str(user_scenario.parent / "grid.net.xml"), "--routes", str(bad), "--name", "x",
                "--agents", "1"])
    assert "2 edge(s)" in msg and "ZZ9" in msg and "NOPE" in msg


def test_no_passenger_vehicles_in_window(user_scenario, home):
    net, own = user_scenario.parent / "grid.net.xml", user_scenario.parent / "own.rou.xml"
    msg = _err(["--net", str(net), "--routes", str(own), "--name", "x", "--agents", "1", "--depart-window", "100:200"])
    assert "no passenger vehicle departs in the window [100, 200]" in msg
    buses = user_scenario.parent.parent / "buses.rou.xml"
    buses.write_text('<routes><vType id="bus" vClass="bus"/>'
                     '<vehicle id="b" type="bus" depart="0"><route edges="A0A1 A1A2"/></vehicle></routes>')
    assert "no passenger vehicles" in _err(["--net", str(net), "--routes", str(buses), "--name", "x", "--agents", "1"])


@pytest.mark.parametrize("args,expect", [
    (["--agents", "0"], "--agents must be a positive integer or 'all'"),
    (["--agents", "-1"], "--agents must be a positive integer or 'all'"),
    (["--agents", "lots"], "--agents must be a positive integer or 'all'"),
    (["--agent-share", "1.5"], "--agent-share must be a number in (0, 1]"),
    (["--agent-share", "nan"], "--agent-share must be a number in (0, 1]"),
    (["--agent-share", "0"], "--agent-share must be a number in (0, 1]"),
    (["--agents", "all", "--agent-share", "0.5"], "give exactly one of --agents N|all or --agent-share F"),
])
def test_agent_count_hostile_values_one_line(args, expect, user_scenario, home):
    r = runner.invoke(app, ["scenario", "import", "--sumocfg", str(user_scenario), "--name", "x", *args])
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and expect in lines[0], r.output
    assert not (home / "scenarios" / "x").exists()


def test_too_many_agents_reports_skipped_candidates(user_scenario, home):
    net, own = user_scenario.parent / "grid.net.xml", user_scenario.parent / "own.rou.xml"
    msg = _err(["--net", str(net), "--routes", str(own), "--name", "x", "--agents", "5", "--depart-window", "0:10"])
    assert "asked for 5 agents but only 2" in msg


@pytest.mark.parametrize("kwargs", [
    dict(agents=0), dict(agents=True), dict(agents=2, agent_share=0.1), dict(), dict(agent_share=1.5),
    dict(agent_share=float("nan")), dict(agent_share=True), dict(agent_share="1"),
    dict(agents=2, depart_window=(5.0, 1.0)), dict(agents=2, begin=float("nan")), dict(agents=2, seed=1.5),
])
def test_request_validation(kwargs, user_scenario):
    with pytest.raises(ScenarioImportError):
        ImportRequest(name="x", sumocfg=user_scenario, **kwargs)


def test_additional_files_with_vtypes_are_kept_and_not_duplicated(user_scenario, home, tmp_path):
    d = tmp_path / "withadd"
    shutil.copytree(user_scenario.parent, d)
    (d / "types.add.xml").write_text('<additional><vType id="slowcar" vClass="passenger" maxSpeed="8" '
                                     'color="0,0,255"/></additional>')
    (d / "slow.rou.xml").write_text('<routes><flow id="slow" type="slowcar" begin="0" end="200" period="20" '
                                    'from="A0A1" to="D3D2"/></routes>')
    cfg = d / "withadd.sumocfg"
    cfg.write_text('<configuration><input><net-file value="grid.net.xml"/>'
                   '<route-files value="slow.rou.xml,flows.rou.xml"/><additional-files value="types.add.xml"/>'
                   '</input><time><begin value="0"/><end value="600"/></time></configuration>')
    sc = import_scenario(ImportRequest(name="withadd", sumocfg=cfg, agents=12, depart_window=(0.0, 300.0))).scenario
    assert sc.manifest["counts"]["flow_vehicles"] == 10 + 30
    files = sc.manifest["files"]
    assert "additional_0" in files and (sc.path / files["additional_0"]["name"]).is_file()
    bg_types = _ids(sc.background_file, "vType")
    assert "slowcar" not in bg_types  # defined once, in the copied additional file
    agents_root = ET.parse(sc.agents_file).getroot()
    slow_agents = [t for t in agents_root.iter("vehicle") if t.get("type") == "agent.slowcar"]  # pre-routed
    assert slow_agents, "agents keep (a red copy of) their own vType"
    vt = next(v for v in agents_root.iter("vType") if v.get("id") == "agent.slowcar")
    assert float(vt.get("maxSpeed")) == 8.0 and vt.get("color") == "220,30,30"
    proc = subprocess.run([binary("sumo"), "-c", str(sc.sumocfg), "--end", "300"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
