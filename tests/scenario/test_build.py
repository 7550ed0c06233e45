"""End-to-end scenario building with the real SUMO tools, and the CLI's error handling."""
from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from reled_sumo.cli.app import app
from reled_sumo.scenario import resolve_scenario
from reled_sumo.scenario.build import BuildRequest, build
from reled_sumo.scenario.demand import DemandOptions
from reled_sumo.scenario.graph import RoadGraph
from reled_sumo.scenario.manifest import sha256_file
from reled_sumo.scenario.registry import get_recipe
from reled_sumo.scenario.tools import binary

DATA = Path(__file__).parents[1] / "data"
runner = CliRunner()


def test_bundled_city_builds_and_sumo_runs(kotka_small, tmp_path):
    sc = kotka_small
    sc.verify()
    assert sc.agent_ids == [f"agent_{i}" for i in range(20)]
    counts = sc.manifest["counts"]
    assert counts["edges"] > 300 and counts["lane_km"] > 10
    trip_out = tmp_path / "trips.xml"
    proc = subprocess.run([binary("sumo"), "-c", str(sc.sumocfg), "--end", "400", "--tripinfo-output", str(trip_out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    arrived = {t.get("id") for t in ET.parse(trip_out).getroot().iter("tripinfo")}
    assert any(a.startswith("agent_") for a in arrived), "some agents depart and arrive within 400 s"
    assert any(a.startswith("bg_") for a in arrived)


def test_network_strongly_connected_and_agents_routable(kotka_small):
    g = RoadGraph.from_net_file(kotka_small.net_file)
    assert g.is_strongly_connected()
    for a in kotka_small.agents:
        path = g.shortest_path(g.index[a.origin], g.index[a.destination])
        assert path is not None and g.is_valid_route(path)


def test_cache_hit_and_force(kotka_small):
    req = BuildRequest.bundled(get_recipe("kotka"), agents=20, background_vehicles=150, duration=600, seed=7)
    assert build(req).cache_hit
    assert not build(req, force=True).cache_hit


def _demand_files(name, seed, tmp_home, monkeypatch):
    monkeypatch.setenv("RELED_HOME", str(tmp_home))
    req = BuildRequest(name, "file", str(DATA / "tiny_grid.osm"), DemandOptions(8, 20, 300, seed))
    sc = build(req).scenario
    return {k: sha256_file(sc.path / v["name"]) for k, v in sc.manifest["files"].items()}


def test_same_seed_identical_files_different_seed_differs(tmp_path, monkeypatch):
    a = _demand_files("s1", 1, tmp_path / "a", monkeypatch)
    b = _demand_files("s1", 1, tmp_path / "b", monkeypatch)
    c = _demand_files("s1", 2, tmp_path / "c", monkeypatch)
    assert a == b
    assert a["net"] == c["net"] and a["agents"] != c["agents"]


@pytest.mark.parametrize("suffix,opener", [(".osm.gz", "gzip"), (".osm.bz2", "bz2")])
def test_compressed_user_files(tmp_path, monkeypatch, suffix, opener):
    import bz2
    import gzip

    mod = {"gzip": gzip, "bz2": bz2}[opener]
    src = tmp_path / f"grid{suffix}"
    with mod.open(src, "wb") as fh:
        fh.write((DATA / "tiny_grid.osm").read_bytes())
    monkeypatch.setenv("RELED_HOME", str(tmp_path / "home"))
    res = runner.invoke(app, ["scenario", "build", "--osm", str(src), "--name", "g", "--agents", "4",
                              "--background-vehicles", "5", "--duration", "200"])
    assert res.exit_code == 0, res.output
    assert resolve_scenario("g").manifest["counts"]["agents"] == 4


# ----------------------------------------------------------------- bad input
def _cli(args, tmp_path, monkeypatch):
    monkeypatch.setenv("RELED_HOME", str(tmp_path))
    return runner.invoke(app, args)


def test_unknown_city_lists_bundled(tmp_path, monkeypatch):
    res = _cli(["scenario", "build", "atlantis"], tmp_path, monkeypatch)
    assert res.exit_code == 2
    assert "unknown city 'atlantis'" in res.output and "helsinki" in res.output and "kotka" in res.output
    assert "Traceback" not in res.output


def test_missing_osm_file(tmp_path, monkeypatch):
    res = _cli(["scenario", "build", "--osm", str(tmp_path / "nope.osm"), "--name", "x"], tmp_path, monkeypatch)
    assert res.exit_code == 2 and "does not exist" in res.output


def test_corrupt_osm_file(tmp_path, monkeypatch):
    bad = tmp_path / "bad.osm.pbf"
    bad.write_bytes(b"\x00\x01 this is not a protobuf" * 10)
    res = _cli(["scenario", "build", "--osm", str(bad), "--name", "x"], tmp_path, monkeypatch)
    assert res.exit_code == 2 and "corrupt" in res.output


def test_no_drivable_roads(tmp_path, monkeypatch):
    res = _cli(["scenario", "build", "--osm", str(DATA / "footways_only.osm"), "--name", "f"], tmp_path, monkeypatch)
    assert res.exit_code == 2 and "no drivable roads" in res.output


def test_place_name_offline_says_how_to_use_osm(tmp_path, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # make sure nothing leaves the machine
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    res = _cli(["scenario", "build", "Piedmont, California", "--name", "piedmont"], tmp_path, monkeypatch)
    assert res.exit_code == 3
    assert "unreachable" in res.output and "--osm" in res.output


def test_too_many_agents(tmp_path, monkeypatch):
    res = _cli(["scenario", "build", "--osm", str(DATA / "tiny_grid.osm"), "--name", "t", "--agents", "2000",
                "--background-vehicles", "0"], tmp_path, monkeypatch)
    assert res.exit_code == 2 and "use fewer --agents" in res.output


def test_netconvert_failure_shows_its_last_lines(tmp_path):
    from reled_sumo.errors import ToolFailedError
    from reled_sumo.scenario.network import convert

    with pytest.raises(ToolFailedError) as exc:
        convert(DATA / "tiny_grid.osm", tmp_path / "n.net.xml", bbox=("west", 1, 2, 3))
    assert "netconvert" in str(exc.value) and exc.value.tail


def test_unbuilt_scenario_is_clear(tmp_path, monkeypatch):
    res = _cli(["scenario", "info", "helsinki"], tmp_path, monkeypatch)
    assert res.exit_code != 0 and "reled scenario build helsinki" in res.output


# ------------------------------------------------------------ every car an agent
def test_agents_all_makes_every_vehicle_an_agent(tmp_path, monkeypatch):
    """`--agents all`: the drawn agents and every background vehicle become agents, with the
    background vehicles' own origin, destination and departure; the env controls all of them."""
    from reled_sumo.env import make_env
    from reled_sumo.env.policies import get_policy

    res = _cli(["scenario", "build", "--osm", str(DATA / "tiny_grid.osm"), "--name", "g-all", "--agents", "all",
                "--background-vehicles", "12", "--duration", "240"], tmp_path, monkeypatch)
    assert res.exit_code == 0, res.output
    assert "background vehicles" in res.output
    sc = resolve_scenario("g-all")
    c = sc.manifest["counts"]
    left = [r.find("route").get("edges").split() for r in ET.parse(sc.background_file).getroot().iter("vehicle")]
    # only a vehicle whose trip starts and ends on one edge cannot be an agent (the net is strongly connected)
    assert c["background_vehicles"] == len(left) and all(e[0] == e[-1] for e in left)
    assert c["agents_from_background"] + len(left) >= 11
    assert c["agents"] == len(sc.agents) == sc.manifest["options"]["agents"] + c["agents_from_background"]
    assert sc.agent_ids == [f"agent_{i}" for i in range(len(sc.agents))]
    assert [a.depart for a in sc.agents] == sorted(a.depart for a in sc.agents)
    # the same demand without --agents all: its background vehicles are now agents, with their own trips
    plain = _cli(["scenario", "build", "--osm", str(DATA / "tiny_grid.osm"), "--name", "g-plain",
                  "--background-vehicles", "12", "--duration", "240"], tmp_path, monkeypatch)
    assert plain.exit_code == 0, plain.output
    base = resolve_scenario("g-plain")
    routes = [(r.find("route").get("edges").split(), float(r.get("depart")))
              for r in ET.parse(base.background_file).getroot().iter("vehicle")]
    bg = {(e[0], e[-1], t) for e, t in routes if e[0] != e[-1]}
    trips = {(a.origin, a.destination, a.depart) for a in sc.agents}
    assert len(bg) == c["agents_from_background"] and bg <= trips
    assert trips - bg == {(a.origin, a.destination, a.depart) for a in base.agents}
    env = make_env(sc, backend="libsumo", seed=1)
    assert env.possible_agents == sc.agent_ids
    pol = get_policy("shortest")
    obs, infos = env.reset(seed=1)
    done = set()
    while env.agents:
        obs, _, terms, truncs, infos = env.step(pol(obs, infos))
        done |= {a for a in terms if terms[a] or truncs[a]}
    env.close()
    assert done == set(sc.agent_ids)


def test_agents_all_from_python_and_cache_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("RELED_HOME", str(tmp_path))
    recipe = get_recipe("kotka")
    every = BuildRequest.bundled(recipe, name="k-all", agents="all", background_vehicles=30, duration=300)
    assert every.demand.all_agents and every.demand.agents == recipe.demand.agents
    plain = BuildRequest.bundled(recipe, name="k-all", agents=recipe.demand.agents, background_vehicles=30,
                                 duration=300)
    assert not plain.demand.all_agents
    assert "all_agents" not in plain.demand.key()  # scenarios built before the option keep their cache key
    sc = build(every).scenario
    assert len(sc.agents) == recipe.demand.agents + 30 and sc.manifest["counts"]["background_vehicles"] == 0
    assert build(every).cache_hit
    with pytest.raises(Exception, match="built from other inputs"):
        build(plain)  # another demand under the same name is refused, not a cache hit


@pytest.mark.parametrize("value", ["0", "-1", "lots", "1.5", "", "nan"])
def test_agents_option_hostile_values(value, tmp_path, monkeypatch):
    res = _cli(["scenario", "build", "kotka", "--name", "x", "--agents", value], tmp_path, monkeypatch)
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "--agents must be a positive integer or 'all'" in lines[0], res.output
    assert not (tmp_path / "scenarios" / "x").exists()


def test_a_thousand_drawn_agents_build_on_kotka(tmp_path, monkeypatch):
    """--agents 1000 fits Kotka's capacity and distinct-pair rule (482 edges: 231k pairs)."""
    res = _cli(["scenario", "build", "kotka", "--name", "k1000", "--agents", "1000", "--background-vehicles", "0"],
               tmp_path, monkeypatch)
    assert res.exit_code == 0, res.output
    sc = resolve_scenario("k1000")
    assert len(sc.agents) == 1000 and len({(a.origin, a.destination) for a in sc.agents}) == 1000
    g = RoadGraph.from_net_file(sc.net_file)
    assert all(np.isfinite(g.cost_to(g.index[a.destination])[g.index[a.origin]]) for a in sc.agents)
