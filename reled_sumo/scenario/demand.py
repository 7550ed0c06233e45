"""Demand: background traffic and explicitly listed agent vehicles, with SUMO's own tools.

* Background: ``randomTrips.py --validate`` (duarouter routes every trip, unroutable ones
  are dropped), fringe factor 5 so most through-traffic enters at the border, evenly
  spaced departures (period = duration / M).
* Agents: candidate trips drawn by ``randomTrips.py`` (same tool, own seed stream, a
  minimum trip distance), validated by duarouter, filtered to the strongly connected
  car network, then the first N kept by departure time and renumbered
  ``agent_0..agent_{N-1}``. Unroutable candidates are counted and redrawn; each agent
  has a distinct origin-destination pair.
  Agents are ``<trip>`` elements: the env decides their routes as they drive.
* Every car an agent (``all_agents=True``, ``reled scenario build CITY --agents all``): the
  demand is built as above (``agents`` drawn agents, ``background_vehicles`` background
  vehicles), then every background vehicle becomes an agent too, with its own origin,
  destination and departure (:func:`background_to_agents`). The traffic is the same as
  without the option, only every car decides. Converted vehicles keep their own
  origin-destination pairs, so pairs may repeat; a background vehicle that could not be an
  agent (not expected on a strongly connected network) stays background and is counted.
"""
from __future__ import annotations

import logging
import math
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from reled_sumo.errors import DemandError
from reled_sumo.scenario.graph import RoadGraph
from reled_sumo.scenario.manifest import AgentSpec
from reled_sumo.scenario.tools import run_tool

log = logging.getLogger(__name__)

AGENT_VTYPE = '<vType id="agent" vClass="passenger" color="220,30,30"/>'


ALL = "all"  # ``--agents all``: every vehicle of the demand is an agent


def parse_agents(value: object, option: str = "--agents") -> tuple[int | None, bool]:
    """``--agents`` as given by a user: ``(count, all)``; ``None`` -> ``(None, False)``.

    Accepts a positive integer (also as text) or ``"all"``; anything else is a one-line
    :class:`DemandError`.
    """
    if value is None:
        return None, False
    if isinstance(value, str):
        text = value.strip().lower()
        if text == ALL:
            return None, True
        if text.lstrip("+").isdigit():
            value = int(text)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value, False
    raise DemandError(f"{option} must be a positive integer or 'all', got {value!r}")


# Upper limits of a demand: beyond them randomTrips/duarouter run for hours and SUMO cannot insert the
# vehicles anyway (the largest bundled demand is about 1 vehicle per second).
MAX_VEHICLES_PER_S = 10.0
MAX_VEHICLES = 200_000
MAX_DURATION_S = 86_400


@dataclass(frozen=True)
class DemandOptions:
    agents: int
    background_vehicles: int
    duration: float
    seed: int
    agent_depart_window: float = 0.5  # agents depart within this fraction of the duration
    min_trip_distance: float = 400.0  # metres, straight line
    fringe_factor: float = 5.0
    all_agents: bool = False  # every background vehicle becomes an agent too (module doc)

    def __post_init__(self) -> None:
        def whole(v) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        def number(v) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        if not (whole(self.agents) and self.agents >= 1):
            raise DemandError(f"--agents must be an integer >= 1, got {self.agents!r}")
        if not (whole(self.background_vehicles) and self.background_vehicles >= 0):
            raise DemandError(f"--background-vehicles must be an integer >= 0, got {self.background_vehicles!r}")
        if not (number(self.duration) and self.duration > 0):
            raise DemandError(f"--duration must be a finite number of seconds > 0, got {self.duration!r}")
        if not (whole(self.seed) and 0 <= self.seed < 2**31):
            raise DemandError(f"--seed must be an integer in [0, 2**31), got {self.seed!r}")
        for name in ("agent_depart_window", "min_trip_distance", "fringe_factor"):
            if not (number(getattr(self, name)) and getattr(self, name) > 0):
                raise DemandError(f"{name} must be a finite number > 0, got {getattr(self, name)!r}")
        if not isinstance(self.all_agents, bool):
            raise DemandError(f"all_agents must be True or False, got {self.all_agents!r}")
        self._check_size()

    def _check_size(self) -> None:
        """Refuse a demand that cannot fit (it would run for hours or exhaust memory), naming what fits."""
        if self.duration > MAX_DURATION_S:
            raise DemandError(f"--duration {self.duration:g} s is too long: at most {MAX_DURATION_S} s (one day)")
        fit = min(MAX_VEHICLES, int(self.duration * MAX_VEHICLES_PER_S))
        if self.agents > fit:
            raise DemandError(f"--agents {self.agents} cannot fit in a {self.duration:g} s scenario: at most {fit} "
                              f"vehicles in all ({MAX_VEHICLES_PER_S:g} per simulated second, at most "
                              f"{MAX_VEHICLES}); use --agents {fit} or fewer")
        if self.agents + self.background_vehicles > fit:
            raise DemandError(f"--background-vehicles {self.background_vehicles} with {self.agents} agents cannot fit "
                              f"in a {self.duration:g} s scenario: at most {fit} vehicles in all "
                              f"({MAX_VEHICLES_PER_S:g} per simulated second, at most {MAX_VEHICLES}); use "
                              f"--background-vehicles {fit - self.agents} or fewer, or a longer --duration")

    def key(self) -> dict:
        """The options that define the demand (for cache keys): ``all_agents`` only when set,
        so that scenarios built before the option existed keep their keys."""
        d = asdict(self)
        if not self.all_agents:
            del d["all_agents"]
        return d


@dataclass(frozen=True)
class DemandResult:
    agents: tuple[AgentSpec, ...]
    candidates_drawn: int
    candidates_rejected: int
    background_vehicles: int
    background_rejected: int
    from_background: int = 0  # agents that were background vehicles (all_agents)


def _trip_args(net: Path, begin: float, end: float, period: float, seed: int, prefix: str, opts: DemandOptions):
    return [
        "-n", str(net), "-b", f"{begin:.2f}", "-e", f"{end:.2f}", "-p", f"{period:.6f}",
        "--seed", str(seed), "--prefix", prefix, "--vehicle-class", "passenger",
        "--fringe-factor", str(opts.fringe_factor), "--validate",
    ]


def _read_trips(path: Path, tag: str) -> list[ET.Element]:
    if not path.exists():
        return []
    return list(ET.parse(path).getroot().iter(tag))


def generate_background(net: Path, workdir: Path, opts: DemandOptions) -> tuple[Path, int, int]:
    out = workdir / "background.rou.xml"
    m = opts.background_vehicles
    if m == 0:
        out.write_text("<routes/>\n")
        return out, 0, 0
    period = opts.duration / m
    args = _trip_args(net, 0.0, opts.duration, period, opts.seed, "bg_", opts)
    args += ["-o", "background.trips.xml", "-r", out.name, "--min-distance", "200"]
    run_tool("randomTrips.py", args, cwd=workdir, log_name="randomTrips-background")
    routed = len(_read_trips(out, "vehicle"))
    return out, routed, max(0, m - routed)


def generate_agents(net: Path, graph: RoadGraph, workdir: Path, opts: DemandOptions) -> DemandResult:
    n = opts.agents
    _check_capacity(graph, n)
    window = max(1.0, opts.duration * opts.agent_depart_window)
    drawn = rejected = 0
    valid: list[AgentSpec] = []
    for attempt, oversample in enumerate((1.5, 3.0, 6.0)):
        want = int(np.ceil(n * oversample))
        cand = workdir / "agents.candidates.trips.xml"
        args = _trip_args(net, 0.0, window, window / want, opts.seed + 1000 + attempt, "cand_", opts)
        args += ["-o", cand.name, "--min-distance", str(opts.min_trip_distance)]
        run_tool("randomTrips.py", args, cwd=workdir, log_name=f"randomTrips-agents{attempt}")
        trips = _read_trips(cand, "trip")
        valid = _distinct_od([t for t in (_to_spec(graph, e) for e in trips) if t is not None])
        drawn, rejected = want, want - len(valid)
        log.info("agent candidates: drew %d, %d unroutable/rejected, %d valid", want, rejected, len(valid))
        if len(valid) >= n:
            break
    if len(valid) < n:
        raise DemandError(
            f"asked for {n} agents but only {len(valid)} routable agent trips with distinct origin-destination pairs "
            "could be drawn "
            f"(min trip distance {opts.min_trip_distance:.0f} m); use fewer --agents"
        )
    valid.sort(key=lambda a: a.depart)
    agents = tuple(
        AgentSpec(id=f"agent_{i}", origin=a.origin, destination=a.destination, depart=a.depart)
        for i, a in enumerate(valid[:n])
    )
    return DemandResult(agents, drawn, rejected, 0, 0)


def background_to_agents(background: Path, graph: RoadGraph, drawn: DemandResult) -> tuple[DemandResult, int]:
    """Every car an agent: move each routed background vehicle that can be an agent (origin and
    destination car edges of the network, destination reachable) out of ``background`` and
    into the agents, with its own origin, destination and departure. All agents are then
    sorted by departure and renumbered ``agent_0..``. Returns the result and the number of
    background vehicles left (those that could not be agents)."""
    tree = ET.parse(background)
    root = tree.getroot()
    moved: list[AgentSpec] = []
    for veh in list(root.iter("vehicle")):
        route = veh.find("route")
        edges = route.get("edges", "").split() if route is not None else []
        spec = _spec(graph, veh.get("id", ""), edges[0], edges[-1], veh.get("depart")) if edges else None
        if spec is not None:
            moved.append(spec)
            root.remove(veh)
    tree.write(background, encoding="UTF-8", xml_declaration=True)
    left = len(root.findall("vehicle"))
    log.info("every car an agent: %d background vehicles became agents, %d stay background", len(moved), left)
    merged = sorted([*drawn.agents, *moved], key=lambda a: (a.depart, a.id))
    agents = tuple(replace(a, id=f"agent_{i}") for i, a in enumerate(merged))
    return replace(drawn, agents=agents, from_background=len(moved)), left


def _distinct_od(specs: list[AgentSpec]) -> list[AgentSpec]:
    """Keep one agent per origin-destination pair: each agent is a distinct routing problem."""
    seen: set[tuple[str, str]] = set()
    out = []
    for s in specs:
        if (s.origin, s.destination) not in seen:
            seen.add((s.origin, s.destination))
            out.append(s)
    return out


def _check_capacity(graph: RoadGraph, n: int) -> None:
    pairs = graph.num_edges * (graph.num_edges - 1)
    if n > pairs:
        raise DemandError(
            f"asked for {n} agents but the network has only {graph.num_edges} car edges "
            f"({pairs} origin-destination pairs); use fewer --agents"
        )


def _to_spec(graph: RoadGraph, trip: ET.Element) -> AgentSpec | None:
    return _spec(graph, trip.get("id", ""), trip.get("from"), trip.get("to"), trip.get("depart", 0.0))


def _spec(graph: RoadGraph, vid: str, o: str | None, d: str | None, depart) -> AgentSpec | None:
    """An agent from ``o`` to ``d`` if both are car edges and ``d`` is reachable, else None."""
    if o not in graph.index or d not in graph.index or o == d:
        return None
    if not np.isfinite(graph.cost_to(graph.index[d])[graph.index[o]]):
        return None
    try:
        t = round(float(depart), 2)
    except (TypeError, ValueError):  # "triggered" and the like
        return None
    return AgentSpec(id=vid, origin=o, destination=d, depart=t)


def write_agents(agents: tuple[AgentSpec, ...], path: Path) -> None:
    lines = ["<routes>", f"    {AGENT_VTYPE}"]
    for a in agents:
        lines.append(
            f'    <trip id="{a.id}" type="agent" depart="{a.depart:.2f}" from="{a.origin}" '
            f'to="{a.destination}" departLane="best" departSpeed="max"/>'
        )
    lines.append("</routes>")
    path.write_text("\n".join(lines) + "\n")


def write_sumocfg(path: Path, net: Path, routes: list[Path], duration: float, seed: int) -> None:
    path.write_text(
        "<configuration>\n"
        "    <input>\n"
        f'        <net-file value="{net.name}"/>\n'
        f'        <route-files value="{",".join(r.name for r in routes)}"/>\n'
        "    </input>\n"
        f'    <time><begin value="0"/><end value="{duration:g}"/></time>\n'
        f'    <random_number><seed value="{seed}"/></random_number>\n'
        '    <processing><time-to-teleport value="300"/><ignore-route-errors value="true"/></processing>\n'
        '    <report><no-step-log value="true"/><duration-log.disable value="true"/></report>\n'
        "</configuration>\n"
    )
