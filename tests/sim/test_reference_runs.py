"""Plain SUMO runs of the sumo-rerouting and DUE references (real sumo / duaIterate.py)."""
from __future__ import annotations

import gzip
import math
import xml.etree.ElementTree as ET

import pytest

from reled_sumo.errors import ConfigError
from reled_sumo.sim import reference_runs as rr


def test_rerouting_file_equips_only_requested_agents(kotka_small, tmp_path):
    dest = rr.rerouting_agents_file(kotka_small.agents_file, ["agent_0", "agent_3"], 45, tmp_path / "a.rou.xml")
    root = ET.parse(dest).getroot()
    types = {t.get("id"): t for t in root.findall("vType")}
    trips = {t.get("id"): t.get("type") for t in root.findall("trip")}
    assert trips["agent_0"] == trips["agent_3"] == "agent__rerouting"
    assert trips["agent_1"] == "agent"
    params = {p.get("key"): p.get("value") for p in types["agent__rerouting"].findall("param")}
    assert params == {"has.rerouting.device": "true", "device.rerouting.period": "45"}
    assert types["agent__rerouting"].get("vClass") == types["agent"].get("vClass")
    with pytest.raises(ConfigError):
        rr.rerouting_agents_file(kotka_small.agents_file, ["agent_0"], 0, tmp_path / "b.rou.xml")


def test_due_trips_cover_all_vehicles_sorted(kotka_small, tmp_path):
    root = ET.parse(rr.due_trips_file(kotka_small, tmp_path / "t.rou.xml")).getroot()
    trips = root.findall("trip")
    assert len(trips) == 20 + 150 and not root.findall("vehicle")
    departs = [float(t.get("depart")) for t in trips]
    assert departs == sorted(departs)
    assert {"agent", "bg__passenger"} <= {t.get("id") for t in root.findall("vType")}
    assert all(t.get("from") and t.get("to") for t in trips)


def test_teleport_log_parsing(tmp_path):
    log = tmp_path / "sumo.log"
    log.write_text("Warning: Teleporting vehicle 'agent_6'; waited too long (yield), lane='e_0', time=117.00.\n"
                   "Warning: Vehicle 'agent_6' ends teleporting on edge 'x', time=117.00.\n"
                   "Warning: Teleporting vehicle 'agent_6'; waited too long (jam), lane='f_0', time=300.00.\n"
                   "Warning: Teleporting vehicle 'bg_1'; waited too long (jam), lane='g_0', time=12.00.\n")
    assert rr._teleports(log) == {"agent_6": 117.0, "bg_1": 12.0}
    assert rr._teleports(tmp_path / "missing.log") == {}


def test_short_horizon_reports_unfinished_and_not_departed(kotka_small):
    ids = [a.id for a in kotka_small.agents]
    run = rr.run_sumo_for_agents(kotka_small, ids, seed=1, horizon=60)
    by_id = {a.id: a for a in run.agents}
    assert [a.id for a in run.agents] == ids and run.end == 60
    late = [a for a in kotka_small.agents if a.depart > 60]
    assert late and all(not by_id[a.id].departed and math.isnan(by_id[a.id].travel_time) for a in late)
    first = by_id["agent_0"]  # departs at 0 and needs longer than 60 s
    assert first.departed and not first.arrived and 0 < first.travel_time <= 60


def test_forced_teleports_count_as_not_arrived(kotka_small):
    ids = [a.id for a in kotka_small.agents]
    run = rr.run_sumo_for_agents(kotka_small, ids, seed=7, extra_args=["--time-to-teleport", "2"])
    tele = [a for a in run.agents if a.teleported]
    assert tele and run.teleports >= len(tele)
    assert all(not a.arrived and a.travel_time >= 0 for a in tele)


def test_rerouting_run_all_agents_arrive(kotka_small):
    ids = [a.id for a in kotka_small.agents]
    run = rr.run_with_rerouting(kotka_small, ids, seed=3, period=30)
    assert all(a.arrived for a in run.agents)
    assert all(a.travel_time > 0 and a.waiting_time >= 0 for a in run.agents)


def test_dua_routes_are_cached(kotka_small):
    path = rr.dua_routes(kotka_small, iterations=1)
    assert path == rr.due_cache_path(kotka_small, 1, kotka_small.duration) and path.exists()
    assert path.parent.parent == kotka_small.path
    with gzip.open(path, "rt") as fh:
        vehicles = ET.parse(fh).getroot().findall("vehicle")
    assert len(vehicles) == 170
    mtime = path.stat().st_mtime_ns
    assert rr.dua_routes(kotka_small, iterations=1) == path and path.stat().st_mtime_ns == mtime
    ids = [a.id for a in kotka_small.agents]
    run = rr.run_routes(kotka_small, path, ids, seed=2)
    assert sum(a.arrived for a in run.agents) == len(ids)
    with pytest.raises(ConfigError):
        rr.dua_routes(kotka_small, iterations=0)
