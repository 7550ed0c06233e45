"""Every candidate feature tells candidates apart somewhere.

A feature that is equal for every candidate of every decision cannot change which candidate a
policy picks: it is dead weight in the observation (feature 16, "the turn is signalised",
was one: every turn of a junction shares its traffic light). The scenario is a SUMO grid in
which every junction has a traffic light, imported with ``reled scenario import``, and the
agents decide at random among their valid candidates for 400 simulated seconds.
"""
from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from reled_sumo.env import make_env
from reled_sumo.env.observation import C_VALID, CAND_NAMES, N_CAND, N_OWN
from reled_sumo.env.tables import RoutingTables
from reled_sumo.scenario.graph import TURN_LEFT
from reled_sumo.scenario.importer import ImportRequest, import_scenario
from reled_sumo.scenario.tools import binary, sumo_home, tool_script


@pytest.fixture(scope="module")
def signal_grid(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls_grid")
    run = dict(cwd=d, capture_output=True, text=True)
    p = subprocess.run([binary("netgenerate"), "--grid", "--grid.number", "4", "--grid.length", "150",
                        "--default.lanenumber", "1", "--default-junction-type", "traffic_light",
                        "-o", "grid.net.xml"], **run)
    assert p.returncode == 0, p.stderr
    _slow_down_columns(d / "grid.net.xml")
    env = dict(os.environ, SUMO_HOME=str(sumo_home()))
    p = subprocess.run([sys.executable, str(tool_script("randomTrips.py")), "-n", "grid.net.xml", "-b", "0",
                        "-e", "300", "-p", "2", "--seed", "3", "--min-distance", "300", "-o", "trips.trips.xml"],
                       env=env, **run)
    assert p.returncode == 0, p.stderr
    (d / "city.sumocfg").write_text("""<configuration>
    <input><net-file value="grid.net.xml"/><route-files value="trips.trips.xml"/></input>
    <time><begin value="0"/><end value="600"/></time>
</configuration>
""")
    mp = pytest.MonkeyPatch()
    mp.setenv("RELED_HOME", str(d / "home"))
    try:
        res = import_scenario(ImportRequest(name="tlsgrid", sumocfg=d / "city.sumocfg", agents=25,
                                            depart_window=(0.0, 300.0)))
    finally:
        mp.undo()
    return res.scenario


def _slow_down_columns(net: Path) -> None:
    """Speed limits differ between candidates: lanes of edges into column B drive at 8.33 m/s."""
    root = ET.parse(net)
    for edge in root.getroot().iter("edge"):
        if edge.get("function") != "internal" and edge.get("to", "").startswith("B"):
            for lane in edge.iter("lane"):
                lane.set("speed", "8.33")
    root.write(net)


def _decision_rows(scenario) -> tuple[np.ndarray, np.ndarray]:
    env = make_env(scenario, horizon=400)
    rng = np.random.default_rng(0)
    rows, masks = [], []
    try:
        obs, infos = env.reset(seed=1)
        while env.agents:
            dec = [a for a in env.agents if infos[a]["needs_decision"]]
            acts = {}
            for a in dec:
                m = np.asarray(infos[a]["action_mask"], bool)
                rows.append(obs[a])
                masks.append(m)
                acts[a] = int(rng.choice(np.flatnonzero(m)))
            obs, _, _, _, infos = env.step(acts)
    finally:
        env.close()
    return np.stack(rows), np.stack(masks)


def test_every_candidate_feature_varies_across_candidates(signal_grid):
    o, m = _decision_rows(signal_grid)
    k = m.shape[1]
    assert len(o) >= 50
    cand = o[:, N_OWN:N_OWN + k * N_CAND].reshape(len(o), k, N_CAND)
    constant = []
    for f, name in enumerate(CAND_NAMES):
        vals = cand[:, :, f]
        if f == C_VALID:  # validity differs between the real and the padded or dead-end slots
            differs = (vals.max(axis=1) != vals.min(axis=1)).any()
        else:  # the others only among the valid candidates of one decision
            hi = np.where(m, vals, -np.inf).max(axis=1)
            lo = np.where(m, vals, np.inf).min(axis=1)
            differs = ((m.sum(axis=1) > 1) & (hi - lo > 1e-6)).any()
        if not differs:
            constant.append(name)
    assert not constant, f"candidate features that never tell candidates apart: {constant}"


def test_path_signal_counts_follow_the_shortest_path(signal_grid):
    """Counted by pointer doubling in the tables; checked here against walking each path."""
    t = RoutingTables.for_scenario(signal_grid, [a.destination for a in signal_grid.agents])
    assert t.path_signals.max() >= 2  # a grid of traffic lights: paths pass several
    for r in range(len(t.dest_edge)):
        for e in range(0, t.E, 7):
            if not np.isfinite(t.T[r, e]):
                continue
            n_sig = n_left = 0
            cur = e
            while cur != t.dest_edge[r]:
                nxt = int(t.next_hop[r, cur])
                k = int(np.flatnonzero(t.succ[cur] == nxt)[0])
                n_sig += bool(t.signal[cur, k])
                n_left += int(t.turn[cur, k] == TURN_LEFT)
                cur = nxt
            assert t.path_signals[r, e] == n_sig and t.path_lefts[r, e] == n_left, (r, e)
