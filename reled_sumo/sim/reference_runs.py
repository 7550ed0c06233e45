"""Plain SUMO runs for the non-learning references ``sumo-rerouting`` and ``due``.

Both run the ``sumo`` binary on the scenario (like :mod:`reled_sumo.sim.plain`) and
read back what happened to a given list of agent vehicles, in the same terms the
routing env reports (see docs/evaluation.md):

* ``arrived``: reached the destination within the horizon *without teleporting*
  (the env ends an agent's episode at its first teleport, so a teleported agent never
  counts as arrived here either);
* ``travel_time``: arrival - departure; for agents still driving at the horizon,
  horizon end - departure; for teleported agents, first teleport - departure;
  NaN for agents that never departed;
* ``waiting_time``: SUMO's tripinfo ``waitingTime`` (seconds with speed < 0.1 m/s).

Runs:

* :func:`run_with_rerouting`: the agents carry SUMO's rerouting device (a copy of the
  agents' route file gives them a vType with ``has.rerouting.device`` and a per-type
  ``device.rerouting.period``); nobody else gets a periodic rerouting device.
* :func:`dua_routes` + :func:`run_routes`: ``duaIterate.py`` (dynamic user equilibrium)
  on all agent + background trips, cached under ``<scenario>/references/``; the final
  routes then run in a plain simulation.
"""
from __future__ import annotations

import gzip
import logging
import math
import re
import shutil
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from reled_sumo.errors import ConfigError, SimulationError
from reled_sumo.scenario.manifest import Scenario
from reled_sumo.scenario.tools import binary, run_tool
from reled_sumo.sim.plain import run_sumo_command

log = logging.getLogger(__name__)

CACHE_DIR = "references"
_TELEPORT = re.compile(r"Teleporting vehicle '([^']+)';.*time=(-?\d+(?:\.\d+)?)")
_REROUTING_SUFFIX = "__rerouting"


@dataclass(frozen=True)
class AgentOutcome:
    """One agent vehicle's trip in a plain run (see the module doc for the definitions)."""

    id: str
    departed: bool
    arrived: bool
    travel_time: float
    waiting_time: float
    teleported: bool


@dataclass(frozen=True)
class PlainAgentRun:
    """What a plain run did to the requested agents (in the order they were asked for)."""

    seed: int
    begin: float
    end: float
    agents: tuple[AgentOutcome, ...]
    teleports: int  # all vehicles, from the statistic output
    wall_seconds: float


# ------------------------------------------------------------------ running sumo
def run_sumo_for_agents(scenario: Scenario, agent_ids: Sequence[str], seed: int, horizon: float | None = None,
                        route_files: Sequence[Path] | None = None, extra_args: Sequence[str] = ()) -> PlainAgentRun:
    """Run ``sumo`` on the scenario config (optionally with other route files) for ``horizon`` seconds."""
    if not agent_ids:
        raise ConfigError("no agent vehicles to evaluate")
    begin = scenario.begin
    horizon = float(horizon if horizon is not None else scenario.duration)
    end = begin + horizon
    with tempfile.TemporaryDirectory(prefix="reled-ref-") as tmp:
        out = Path(tmp)
        cmd = [binary("sumo"), "-c", str(scenario.sumocfg), "--begin", f"{begin:g}", "--end", f"{end:g}",
               "--seed", str(int(seed)), "--statistic-output", str(out / "stats.xml"),
               "--tripinfo-output", str(out / "tripinfo.xml"), "--tripinfo-output.write-unfinished", "true",
               "--log", str(out / "sumo.log"), "--aggregate-warnings", "-1", "--no-step-log", "true"]
        if route_files:
            cmd += ["--route-files", ",".join(str(Path(f).resolve()) for f in route_files)]
        cmd += list(extra_args)
        wall = run_sumo_command(cmd)
        teleports = _teleports(out / "sumo.log")
        agents = _agent_outcomes(out / "tripinfo.xml", agent_ids, teleports)
        total = _total_teleports(out / "stats.xml")
    log.debug("plain run seed %d: %.2f s wall", seed, wall)
    return PlainAgentRun(seed=int(seed), begin=begin, end=end, agents=agents, teleports=total, wall_seconds=wall)


def _teleports(log_file: Path) -> dict[str, float]:
    """Vehicle id -> time of its first teleport, from SUMO's warnings."""
    first: dict[str, float] = {}
    if not log_file.exists():
        return first
    for line in log_file.read_text(errors="replace").splitlines():
        m = _TELEPORT.search(line)
        if m and m.group(1) not in first:
            first[m.group(1)] = float(m.group(2))
    return first


def _total_teleports(stats: Path) -> int:
    try:
        tele = ET.parse(stats).getroot().find("teleports")
    except (ET.ParseError, OSError):
        return 0
    return int(tele.get("total", 0)) if tele is not None else 0


def _agent_outcomes(tripinfo: Path, agent_ids: Sequence[str], teleports: dict[str, float]) -> tuple[AgentOutcome, ...]:
    wanted = set(agent_ids)
    rows = {t.get("id"): t for t in ET.parse(tripinfo).getroot().iter("tripinfo") if t.get("id") in wanted}
    return tuple(_outcome(a, rows.get(a), teleports.get(a)) for a in agent_ids)


def _outcome(agent: str, row, teleport_time: float | None) -> AgentOutcome:
    if row is None:  # never inserted within the horizon
        return AgentOutcome(agent, False, False, math.nan, math.nan, False)
    depart = float(row.get("depart", "nan"))
    arrival = float(row.get("arrival", "-1"))
    waiting = float(row.get("waitingTime", "nan"))
    if teleport_time is not None:
        return AgentOutcome(agent, True, False, teleport_time - depart, waiting, True)
    # unfinished vehicles: arrival -1 and duration = end - depart (write-unfinished)
    return AgentOutcome(agent, True, arrival >= 0, float(row.get("duration", "nan")), waiting, False)


# -------------------------------------------------------------- sumo rerouting
def rerouting_agents_file(agents_file: Path, agent_ids: Sequence[str], period: float, dest: Path) -> Path:
    """Write a copy of ``agents_file`` in which ``agent_ids`` carry a rerouting device with ``period``."""
    if not period > 0:
        raise ConfigError(f"rerouting period must be > 0 s, got {period}")
    root = ET.parse(agents_file).getroot()
    wanted = set(agent_ids)
    vtypes = {el.get("id"): el for el in root.findall("vType")}
    made: set[str] = set()
    for el in list(root):
        if el.tag not in ("trip", "vehicle", "flow") or el.get("id") not in wanted:
            continue
        base = el.get("type", "DEFAULT_VEHTYPE")
        new_id = base + _REROUTING_SUFFIX
        if new_id not in made:
            src = vtypes.get(base)
            vt = ET.Element("vType", dict(src.attrib) if src is not None else {"vClass": "passenger"})
            vt.set("id", new_id)
            for child in (list(src) if src is not None else []):
                vt.append(child)
            ET.SubElement(vt, "param", {"key": "has.rerouting.device", "value": "true"})
            ET.SubElement(vt, "param", {"key": "device.rerouting.period", "value": f"{period:g}"})
            root.insert(0, vt)
            made.add(new_id)
        el.set("type", new_id)
    ET.ElementTree(root).write(dest, encoding="UTF-8", xml_declaration=True)
    return dest


def run_with_rerouting(scenario: Scenario, agent_ids: Sequence[str], seed: int, horizon: float | None = None,
                       period: float = 30.0, extra_args: Sequence[str] = ()) -> PlainAgentRun:
    """Plain run where ``agent_ids`` reroute every ``period`` s on SUMO's measured edge speeds."""
    with tempfile.TemporaryDirectory(prefix="reled-rerouting-") as tmp:
        agents = rerouting_agents_file(Path(scenario.agents_file), agent_ids, period, Path(tmp) / "agents.rou.xml")
        return run_sumo_for_agents(scenario, agent_ids, seed, horizon,
                                   route_files=[Path(scenario.background_file), agents], extra_args=extra_args)


# --------------------------------------------------------------------------- DUE
def due_trips_file(scenario: Scenario, dest: Path) -> Path:
    """All agent and background vehicles as trips (first -> last edge of routed vehicles), sorted by departure."""
    root = ET.Element("routes")
    types: dict[str, ET.Element] = {}
    trips: list[ET.Element] = []
    for f in (scenario.background_file, scenario.agents_file):
        for el in ET.parse(f).getroot():
            if el.tag == "vType":
                types.setdefault(el.get("id", ""), el)
            elif el.tag == "trip":
                trips.append(el)
            elif el.tag == "vehicle":
                trips.append(_as_trip(el))
    root.extend(types.values())
    trips.sort(key=lambda e: float(e.get("depart", 0)))
    root.extend(trips)
    ET.ElementTree(root).write(dest, encoding="UTF-8", xml_declaration=True)
    return dest


def _as_trip(vehicle: ET.Element) -> ET.Element:
    route = vehicle.find("route")
    edges = (route.get("edges", "") if route is not None else "").split()
    if not edges:
        raise ConfigError(f"vehicle {vehicle.get('id')!r} has no inline route; cannot turn it into a trip")
    trip = ET.Element("trip", dict(vehicle.attrib))
    trip.set("from", edges[0])
    trip.set("to", edges[-1])
    return trip


def due_cache_path(scenario: Scenario, iterations: int, horizon: float) -> Path:
    return Path(scenario.path) / CACHE_DIR / f"due-{scenario.scenario_hash}-it{iterations}-h{horizon:g}.rou.xml.gz"


def dua_routes(scenario: Scenario, iterations: int = 5, horizon: float | None = None, use_cache: bool = True) -> Path:
    """Final routes of ``iterations`` duaIterate.py steps (cached per scenario hash + iterations + horizon)."""
    if not (isinstance(iterations, int) and iterations >= 1):
        raise ConfigError(f"DUE needs at least one iteration, got {iterations!r}")
    begin = scenario.begin
    horizon = float(horizon if horizon is not None else scenario.duration)
    cached = due_cache_path(scenario, iterations, horizon)
    if use_cache and cached.exists():
        log.info("DUE routes from cache: %s", cached)
        return cached
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="reled-due-") as tmp:
        work = Path(tmp)
        trips = due_trips_file(scenario, work / "trips.rou.xml")
        run_tool("assign/duaIterate.py",
                 ["-n", str(Path(scenario.net_file).resolve()), "-t", str(trips), "-b", f"{begin:g}",
                  "-e", f"{begin + horizon:g}", "-l", str(iterations)], cwd=work, log_name="duaIterate")
        last = iterations - 1
        final = work / f"{last:03d}" / f"trips_{last:03d}.rou.xml.gz"
        if not final.exists():
            found = sorted((work / f"{last:03d}").glob("*.rou.xml*"))
            found = [p for p in found if ".alt." not in p.name]
            if not found:
                raise SimulationError(f"duaIterate.py wrote no routes for iteration {last}")
            final = found[0]
        cached.parent.mkdir(parents=True, exist_ok=True)
        part = cached.with_name(cached.name + ".part")
        if final.suffix == ".gz":
            shutil.copyfile(final, part)
        else:
            with open(final, "rb") as src, gzip.open(part, "wb") as dst:
                shutil.copyfileobj(src, dst)
        part.replace(cached)
    log.info("DUE: %d iteration(s) in %.1f s -> %s", iterations, time.perf_counter() - t0, cached)
    return cached


def run_routes(scenario: Scenario, route_file: Path, agent_ids: Sequence[str], seed: int,
               horizon: float | None = None, extra_args: Sequence[str] = ()) -> PlainAgentRun:
    """Plain run of a complete route file (e.g. the DUE routes) instead of the scenario's demand."""
    return run_sumo_for_agents(scenario, agent_ids, seed, horizon, route_files=[route_file], extra_args=extra_args)
