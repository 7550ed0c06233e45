"""Imported agents are pre-routed at import (duarouter) instead of routed by SUMO at insertion
(issue 24, item 5): the env must decide and arrive exactly as with ``<trip>``s."""
from __future__ import annotations

import json
import shutil
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from reled_sumo.env import make_env
from reled_sumo.env.policies import get_policy
from reled_sumo.scenario.importer import preroute_agents
from reled_sumo.scenario.manifest import file_entry, load_scenario_dir


def _routed_copy(sample_dir: Path, dest: Path) -> Path:
    shutil.copytree(sample_dir, dest)
    preroute_agents(dest / "agents.rou.xml", dest / "net.net.xml.gz", dest)
    mf = json.loads((dest / "scenario.json").read_text())
    mf["files"]["agents"] = file_entry(dest / "agents.rou.xml")
    (dest / "scenario.json").write_text(json.dumps(mf))
    return dest


def _episode(path: Path, policy: str) -> tuple[list, list, float]:
    sc = load_scenario_dir(path)
    sc.verify()
    env = make_env(sc, backend="libsumo", seed=0, max_agents=12, horizon=900)
    pol = get_policy(policy, seed=1) if policy == "random" else get_policy(policy)
    decisions, arrivals = [], []
    t0 = time.process_time()
    try:
        obs, infos = env.reset(seed=3)
        while env.agents:
            actions = pol(obs, infos)
            if actions:
                decisions.append((round(env.sim_time, 1), sorted(actions.items())))
            obs, _, terms, _, infos = env.step(actions)
            arrivals += [(a, round(float(infos[a]["travel_time"]), 1)) for a, done in terms.items() if done]
    finally:
        env.close()
    return decisions, arrivals, time.process_time() - t0


@pytest.fixture(scope="module")
def routed(sample_dir, tmp_path_factory) -> Path:
    return _routed_copy(sample_dir, tmp_path_factory.mktemp("pre") / "routed")


def test_prerouted_agents_are_vehicles_on_their_own_od(sample_dir, routed):
    trips = {t.get("id"): t for t in ET.parse(sample_dir / "agents.rou.xml").getroot().iter("trip")}
    root = ET.parse(routed / "agents.rou.xml").getroot()
    assert not list(root.iter("trip"))
    vehicles = {v.get("id"): v for v in root.iter("vehicle")}
    assert set(vehicles) == set(trips)
    for vid, v in vehicles.items():
        edges = v.find("route").get("edges").split()
        assert (edges[0], edges[-1]) == (trips[vid].get("from"), trips[vid].get("to"))
        assert v.get("type") == trips[vid].get("type") and float(v.get("depart")) == float(trips[vid].get("depart"))
    assert {t.get("id") for t in root.iter("vType")} == {"agent"}


@pytest.mark.parametrize("policy", ["shortest", "random"])
def test_prerouted_agents_decide_and_arrive_as_trips(sample_dir, routed, policy):
    d_trip, a_trip, _ = _episode(sample_dir, policy)
    d_routed, a_routed, _ = _episode(routed, policy)
    assert len(d_trip) > 10 and a_trip
    assert d_routed == d_trip
    assert a_routed == a_trip


def test_an_unroutable_agent_is_refused_and_the_file_kept(sample_dir, tmp_path):
    from reled_sumo.errors import ScenarioImportError

    dest = tmp_path / "bad"
    shutil.copytree(sample_dir, dest)
    f = dest / "agents.rou.xml"
    f.write_text(f.read_text().replace('to="39653010#0"', 'to="no_such_edge"', 1))
    before = f.read_bytes()
    with pytest.raises(ScenarioImportError, match="could not route"):
        preroute_agents(f, dest / "net.net.xml.gz", dest)
    assert f.read_bytes() == before and not list(dest.glob("agents.vehroutes*"))
