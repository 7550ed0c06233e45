"""SumoSession: start/close, batched data access, backends, errors."""
from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest
from traci import constants as tc

from reled_sumo.errors import ConfigError, SimulationDiedError, SimulationError
from reled_sumo.sim import (
    EDGE_VARS,
    VEHICLE_VARS,
    LibsumoBusyError,
    SessionConfig,
    SumoSession,
    find_sumo_binary,
)


def test_config_validation_and_binary():
    assert os.path.isfile(find_sumo_binary())
    with pytest.raises(ConfigError):
        SessionConfig(backend="nope")
    with pytest.raises(ConfigError):
        SessionConfig(step_length=0)
    with pytest.raises(ConfigError):
        SessionConfig(seed=-1)
    a, b = SessionConfig(), SessionConfig()
    assert a.label != b.label  # unique TraCI labels
    assert SessionConfig(gui=True).effective_backend == "traci"
    cmd = SessionConfig(seed=7, end=60, extra_args=("--foo", "1")).command("x.sumocfg")
    assert cmd[1:3] == ["-c", "x.sumocfg"] and "--seed" in cmd and cmd[-2:] == ["--foo", "1"]


def _run(session: SumoSession, steps: int):
    """Per step: time, events, data of the agents (all variables), edge data of their edges."""
    out = []
    agents: list[str] = []
    for _ in range(steps):
        ev = session.step()
        new = [v for v in ev.departed if v.startswith("agent_")]
        session.subscribe_vehicles(new)
        agents += new
        agents = [a for a in agents if a not in ev.arrived]
        data = session.vehicle_data(agents)
        rows = {a: tuple(data[a][k] for k in VEHICLE_VARS) for a in agents if a in data}
        edges = [r[0] for r in rows.values() if not r[0].startswith(":")]
        ed = session.edge_data(edges) if edges else np.zeros((0, 3))
        out.append((ev, rows, ed.tolist()))
    return out


@pytest.mark.parametrize("backend", ["libsumo", "traci"])
def test_session_steps_events_and_data(sample_scenario, backend):
    with SumoSession(sample_scenario.sumocfg, SessionConfig(backend=backend, seed=3)) as s:
        assert s.is_open and s.time == 0.0
        assert (s.pid is None) == (backend == "libsumo")
        ev = s.step()
        assert ev.time == 1.0 and "agent_0" in ev.departed
        s.subscribe_vehicles(["agent_0"])
        d = s.vehicle_data(["agent_0"])["agent_0"]
        assert d[tc.VAR_ROAD_ID] == sample_scenario.agents[0].origin
        assert set(VEHICLE_VARS) <= set(d)
        ed = s.edge_data([sample_scenario.agents[0].origin, sample_scenario.agents[1].origin])
        assert ed.shape == (2, len(EDGE_VARS)) and ed[0, 1] >= 1  # agent_0 is on its origin
        route = s.vehicle_route("agent_0")
        s.set_route("agent_0", route)  # replacing by the same route is valid
        with pytest.raises(SimulationError) as ei:
            s.set_route("agent_0", ["not-an-edge"])
        assert not isinstance(ei.value, SimulationDiedError)
        assert s.is_open
    assert not s.is_open


def test_backends_and_data_modes_agree(sample_scenario):
    """libsumo (direct reads) and TraCI (subscriptions) see exactly the same simulation."""
    cfg = dict(seed=5)
    with SumoSession(sample_scenario.sumocfg, SessionConfig(backend="libsumo", **cfg)) as s:
        a = _run(s, 120)
    with SumoSession(sample_scenario.sumocfg, SessionConfig(backend="libsumo", **cfg),
                     vehicle_mode="subscription", edge_mode="subscription") as s:
        s.subscribe_edges(sample_scenario.graph.edge_ids)
        b = _run(s, 120)
    with SumoSession(sample_scenario.sumocfg, SessionConfig(backend="traci", **cfg)) as s:
        c = _run(s, 120)
    assert a == b == c
    assert sum(len(x[1]) for x in a) > 100  # agents were observed


def test_libsumo_is_a_singleton(sample_scenario):
    with SumoSession(sample_scenario.sumocfg, SessionConfig()) as s1:
        s1.step()
        with pytest.raises(LibsumoBusyError, match="one simulation per process"):
            SumoSession(sample_scenario.sumocfg, SessionConfig()).start()
        # TraCI sessions can run next to it
        with SumoSession(sample_scenario.sumocfg, SessionConfig(backend="traci")) as s2:
            assert s2.step().time == 1.0
    with SumoSession(sample_scenario.sumocfg, SessionConfig()) as s3:  # free again
        assert s3.step().time == 1.0


def test_several_traci_sessions(sample_scenario):
    s1 = SumoSession(sample_scenario.sumocfg, SessionConfig(backend="traci", seed=1)).start()
    s2 = SumoSession(sample_scenario.sumocfg, SessionConfig(backend="traci", seed=1)).start()
    try:
        assert s1.label != s2.label and s1.pid != s2.pid
        for _ in range(20):
            e1, e2 = s1.step(), s2.step()
            assert e1 == e2
    finally:
        s1.close()
        s2.close()
    for s in (s1, s2):
        with pytest.raises(SimulationError):
            s.step()


def test_killed_sumo_raises_died_and_a_new_session_works(sample_scenario):
    s = SumoSession(sample_scenario.sumocfg, SessionConfig(backend="traci")).start()
    for _ in range(5):
        s.step()
    os.kill(s.pid, signal.SIGKILL)
    time.sleep(0.2)
    with pytest.raises(SimulationDiedError, match="died"):
        for _ in range(3):
            s.step()
    assert not s.is_open
    with pytest.raises(SimulationDiedError):
        s.step()
    s.close()  # idempotent after death
    with SumoSession(sample_scenario.sumocfg, SessionConfig(backend="traci", label=s.label)) as s2:
        assert s2.step().time == 1.0  # the label is free again


def test_start_failure_is_reported(tmp_path, sample_scenario):
    bad = tmp_path / "bad.sumocfg"
    bad.write_text('<configuration><input><net-file value="missing.net.xml"/></input></configuration>')
    for backend in ("libsumo", "traci"):
        with pytest.raises(SimulationError):
            SumoSession(bad, SessionConfig(backend=backend)).start()
    with pytest.raises(ConfigError):
        SumoSession(tmp_path / "nope.sumocfg").start()
    with SumoSession(sample_scenario.sumocfg) as s:  # libsumo usable after a failed start
        assert s.step().time == 1.0


def test_run_steps_without_events(sample_scenario):
    with SumoSession(sample_scenario.sumocfg, SessionConfig(end=100), events=False) as s:
        assert s.run_steps(50) == 50.0
        with pytest.raises(SimulationError):
            s.step()


@pytest.mark.parametrize("mode", ["direct", "subscription"])
def test_vehicle_columns_match_vehicle_data_and_mark_gone_vehicles(sample_scenario, mode):
    """``vehicle_columns`` (one list per variable) reads what ``vehicle_data`` reads; a vehicle
    that is not in the network is ``None`` in every column, wherever it stands in the list."""
    with SumoSession(sample_scenario.sumocfg, SessionConfig(backend="libsumo", seed=2), vehicle_mode=mode) as s:
        seen: list[str] = []
        for _ in range(40):
            ev = s.step()
            s.subscribe_vehicles(ev.departed)
            seen += [v for v in ev.departed if v.startswith("agent_")]
        arrived_or_new = ["no_such_vehicle"]
        ids = seen[:3] + arrived_or_new + seen[3:6]
        varids = (tc.VAR_ROAD_ID, tc.VAR_LANEPOSITION, tc.VAR_POSITION)
        cols = s.vehicle_columns(ids, varids)
        data = s.vehicle_data(ids, varids)
        assert len(cols) == 3 and all(len(c) == len(ids) for c in cols)
        for j, v in enumerate(ids):
            if v in data:
                assert [c[j] for c in cols] == [data[v][k] for k in varids]
            else:
                assert v == "no_such_vehicle" and all(c[j] is None for c in cols)
        assert sum(v in data for v in ids) >= 4
        assert s.vehicle_columns([], varids) == [[], [], []]


@pytest.mark.parametrize("backend", ["libsumo", "traci"])
def test_reload_in_place_equals_a_fresh_start(sample_scenario, backend):
    """Two episodes after ``reload`` (other seed, then the first seed again) are step for step the
    episodes of fresh starts with those seeds: events, vehicle data (subscriptions with TraCI) and
    edge data. With TraCI the same SUMO process and connection serve all three."""
    cfg = lambda seed: SessionConfig(backend=backend, seed=seed, end=400.0)  # noqa: E731
    fresh = {}
    for seed in (3, 8):
        with SumoSession(sample_scenario.sumocfg, cfg(seed)) as s:
            fresh[seed] = _run(s, 150)
    assert fresh[3] != fresh[8]  # the seeds matter, so equality below is not vacuous
    with SumoSession(sample_scenario.sumocfg, cfg(3)) as s:
        pid, label = s.pid, s.label
        assert _run(s, 150) == fresh[3]
        for seed in (8, 3):
            assert s.can_reload(cfg(seed))
            assert s.reload(cfg(seed)) is s and s.time == 0.0
            assert (s.pid, s.label, s.config.seed) == (pid, label, seed)
            assert _run(s, 150) == fresh[seed]


def test_reload_refuses_what_it_cannot_do(sample_scenario):
    from reled_sumo.sim import restart_session

    s = SumoSession(sample_scenario.sumocfg, SessionConfig(backend="traci", seed=1))
    with pytest.raises(ConfigError, match="cannot reload"):
        s.reload(SessionConfig(backend="traci", seed=2))  # not started
    s.start()
    try:
        for other in (SessionConfig(backend="libsumo", seed=2), SessionConfig(backend="traci", gui=True),
                      SessionConfig(backend="traci", sumo_binary="/nonexistent/sumo")):
            assert not s.can_reload(other)
            with pytest.raises(ConfigError, match="cannot reload"):
                s.reload(other)
        assert s.is_open and s.step().time == 1.0  # a refused reload leaves the simulation as it was
        again = restart_session(s, sample_scenario.sumocfg, SessionConfig(backend="traci", seed=2))
        assert again is s and s.time == 0.0
        other = restart_session(s, sample_scenario.sumocfg, SessionConfig(backend="libsumo", seed=2))
        assert other is not s and not s.is_open and other.is_open and other.backend == "libsumo"
        other.close()
    finally:
        s.close()
    s.close()


def test_edge_mean_speeds_over_traci_are_one_message_per_reading(sample_scenario):
    """The live estimate reads every edge's mean speed every simulated second: over TraCI that must be
    one subscription read, not one socket round trip per edge (482 per step on Kotka). Values equal
    libsumo's per-edge reads on the same seed, also after a reload (subscriptions do not survive one)."""
    ids = sample_scenario.graph.edge_ids
    readings = {}
    for backend in ("libsumo", "traci"):
        with SumoSession(sample_scenario.sumocfg, SessionConfig(backend=backend, seed=5)) as s:
            calls = []
            if backend == "traci":
                real = s.api.edge.getLastStepMeanSpeed
                s.api.edge.getLastStepMeanSpeed = lambda e: calls.append(e) or real(e)
            out = []
            for _ in range(3):
                s.run_steps(40)
                out.append(s.edge_mean_speeds(ids))
            readings[backend] = np.stack(out)
            assert calls == []
    np.testing.assert_allclose(readings["traci"], readings["libsumo"])
    assert (readings["libsumo"] > 0).all() and readings["libsumo"].std() > 0


def test_step_seconds_counts_the_time_inside_simulation_steps_only(sample_scenario):
    import time

    with SumoSession(sample_scenario.sumocfg, SessionConfig(backend="libsumo", seed=2)) as s:
        assert s.step_seconds == 0.0
        w0 = time.perf_counter()
        s.run_steps(200)
        for _ in range(100):
            s.step()
        wall = time.perf_counter() - w0
        stepped = s.step_seconds
        assert 0 < stepped <= wall
        time.sleep(0.05)  # time outside a step is not counted
        s.step()
        assert s.step_seconds - stepped < 0.05
