"""``reled scenario import``: an existing SUMO scenario -> a reled scenario folder (no TraCI here).

Steps (see docs/scenarios.md, "Importing a SUMO scenario"):

1. inputs from a ``.sumocfg`` (every file inside its folder) or ``--net/--routes/--additional``;
2. the network is copied unchanged (never pruned); every edge a route, trip or flow names
   must exist in it;
3. duarouter expands ``<flow>``s into vehicles and routes ``<trip>``s, keeping every
   given route (``--keep-route-probability 1``), so that every vehicle and its route is
   known before the simulation starts; unroutable trips are dropped and counted;
4. agents are chosen among the scenario's own passenger vehicles departing in a window:
   those whose origin can reach their destination for cars (the usable candidates), N of
   them evenly spread over the window (``agents=N``, or ``agent_share=F``: F x the usable
   candidates, so 1.0 makes every one of them an agent), renamed ``agent_0..N-1`` (the
   original ids are kept in the manifest);
5. everything else stays background with its own route; the folder gets the same
   manifest, hashes and cache as ``reled scenario build``.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import logging
import shutil
import time
import xml.etree.ElementTree as ET
import zlib
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from reled_sumo.errors import ScenarioError, ScenarioImportError, ToolFailedError, UserInputError
from reled_sumo.scenario import sumo_files as sf
from reled_sumo.scenario.build import BuildResult
from reled_sumo.scenario.graph import RoadGraph
from reled_sumo.scenario.install import check_target, publish
from reled_sumo.scenario.manifest import (
    FORMAT_VERSION, AgentSpec, agent_specs_as_dicts, file_entry, sha256_file, write_manifest,
)
from reled_sumo.scenario.network import net_stats
from reled_sumo.scenario.registry import built_dir, check_name
from reled_sumo.scenario.tools import run_tool, sumo_version

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

IMPORTER_VERSION = 1
AGENT_COLOR = "220,30,30"
DUAROUTER_ARGS = ("--keep-route-probability", "1", "--ignore-errors", "true", "--no-step-log", "true",
                  "--repair", "false")
DEFAULT_LICENCE = "the imported scenario's own licence (unchanged by reled)"
SKIP_REASONS = ("non-numeric departure", "route of one edge", "origin or destination not usable by cars",
                "origin equals destination", "destination unreachable from origin")


@dataclass(frozen=True)
class ImportRequest:
    """What to import: a ``sumocfg`` or a ``net`` with ``routes`` (and ``additional``) files.

    Agents: ``agents`` (a count) or ``agent_share`` (a fraction of the usable candidates:
    the passenger vehicles departing in ``depart_window`` that can be agents; 1.0: all of
    them), among passenger vehicles departing in ``depart_window`` (absolute seconds;
    default: the first half of [begin, end]).
    """

    name: str
    sumocfg: Path | None = None
    net: Path | None = None
    routes: tuple[Path, ...] = ()
    additional: tuple[Path, ...] = ()
    agents: int | None = None
    agent_share: float | None = None
    depart_window: tuple[float, float] | None = None
    begin: float | None = None
    end: float | None = None
    seed: int = 42
    licence: str = DEFAULT_LICENCE

    def __post_init__(self) -> None:
        try:
            check_name(self.name)
        except UserInputError as exc:
            raise ScenarioImportError(str(exc)) from None
        if (self.sumocfg is None) == (self.net is None):
            raise ScenarioImportError("give either --sumocfg or --net with --routes")
        if self.sumocfg is not None and (self.routes or self.additional):
            raise ScenarioImportError("--routes/--additional come from the --sumocfg; do not give both")
        if self.net is not None and not self.routes:
            raise ScenarioImportError("--net needs --routes (one or more route files)")
        if (self.agents is None) == (self.agent_share is None):
            raise ScenarioImportError("give exactly one of --agents N or --agent-share F")
        if self.agents is not None and (isinstance(self.agents, bool) or not isinstance(self.agents, int)
                                        or self.agents < 1):
            raise ScenarioImportError(f"--agents must be a positive integer, got {self.agents!r}")
        share = self.agent_share
        if share is not None and (isinstance(share, bool) or not isinstance(share, (int, float))
                                  or not 0.0 < share <= 1.0):  # NaN fails the comparison
            raise ScenarioImportError(f"--agent-share must be a number in (0, 1], got {share!r}")
        for what, v in (("begin", self.begin), ("end", self.end)):
            if v is not None and not (isinstance(v, (int, float)) and np.isfinite(v) and v >= 0):
                raise ScenarioImportError(f"--{what} must be a finite time >= 0, got {v!r}")
        w = self.depart_window
        if w is not None and not (len(w) == 2 and all(np.isfinite(x) for x in w) and 0 <= w[0] < w[1]):
            raise ScenarioImportError(f"--depart-window must be A:B with 0 <= A < B, got {w!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ScenarioImportError(f"--seed must be an integer, got {self.seed!r}")


@dataclass(frozen=True)
class _Inputs:
    net: Path
    routes: tuple[Path, ...]
    additional: tuple[Path, ...]
    begin: float | None
    end: float | None


def _inputs(req: ImportRequest) -> _Inputs:
    if req.sumocfg is not None:
        c = sf.read_sumocfg(Path(req.sumocfg).expanduser())
        if not c.routes:
            raise ScenarioImportError(f"{Path(req.sumocfg).name} names no route files: there is no demand to import")
        inp = _Inputs(c.net, c.routes, c.additional, c.begin, c.end)
    else:
        files = [Path(req.net).expanduser(),  # type: ignore[arg-type]  # no sumocfg: net is given (checked)
                 *(Path(r).expanduser() for r in req.routes),
                 *(Path(a).expanduser() for a in req.additional)]
        for f in files:
            if not f.is_file():
                raise ScenarioImportError(f"file {f} does not exist")
        inp = _Inputs(files[0].resolve(), tuple(f.resolve() for f in files[1:1 + len(req.routes)]),
                      tuple(f.resolve() for f in files[1 + len(req.routes):]), None, None)
    begin = req.begin if req.begin is not None else inp.begin
    end = req.end if req.end is not None else inp.end
    return _Inputs(inp.net, inp.routes, inp.additional, begin, end)


def _build_key(req: ImportRequest, inp: _Inputs) -> tuple[str, dict[str, str]]:
    hashes = {f"{k}:{p.name}": sha256_file(p) for k, files in (("net", (inp.net,)), ("routes", inp.routes),
                                                             ("additional", inp.additional)) for p in files}
    opts: dict[str, Any] = {"agents": req.agents, "agent_share": req.agent_share, "depart_window": req.depart_window,
            "begin": inp.begin, "end": inp.end, "seed": req.seed}
    if req.agent_share is not None:  # a share of the usable candidates (it was of all vehicles before)
        opts["agent_share_of"] = "usable candidates"
    blob = json.dumps({"format": FORMAT_VERSION, "importer": IMPORTER_VERSION, "inputs": hashes, "options": opts,
                       "duarouter": DUAROUTER_ARGS}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16], hashes


def import_scenario(req: ImportRequest, force: bool = False, progress: Progress | None = None,
                    replace: bool = False) -> BuildResult:
    """Import a SUMO scenario into ``$RELED_HOME/scenarios/<name>``; a cache hit when inputs are unchanged.

    Through the same safe-write path as ``reled scenario build``
    (:func:`reled_sumo.scenario.install.publish`): a target that is not a scenario is refused, one
    made from other inputs is only replaced with ``replace=True``, one writer per name."""
    progress = progress or (lambda msg: log.info(msg))
    t0 = time.perf_counter()
    out = built_dir(req.name)
    check_target(out)
    inp = _inputs(req)
    key, hashes = _build_key(req, inp)
    sc, hit = publish(out, key, lambda work: _import_into(req, inp, key, hashes, work, progress), force=force,
                      replace=replace)
    return BuildResult(sc, hit, time.perf_counter() - t0)


def _copy_net(src: Path, dst: Path) -> RoadGraph:
    if src.name.endswith(".gz"):
        try:
            with gzip.open(src, "rb") as fi, open(dst, "wb") as fo:
                shutil.copyfileobj(fi, fo)
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:  # a bad file, not an OS failure: exit 2
            raise ScenarioImportError(f"{src.name} is not a readable gzip file: {exc}") from exc
    else:
        shutil.copyfile(src, dst)
    try:
        return RoadGraph.from_net_file(dst)
    except ScenarioError as exc:
        raise ScenarioImportError(f"network {src.name}: {exc}") from exc


def _expand(inp: _Inputs, net: Path, work: Path, begin: float, end: float | None, seed: int) -> Path:
    routed = work / "expanded.rou.xml"
    args = ["-n", str(net), "--route-files", ",".join(str(r) for r in inp.routes), "-o", str(routed),
            "--begin", f"{begin:g}", "--seed", str(seed), *DUAROUTER_ARGS]
    if end is not None:
        args += ["--end", f"{end:g}"]
    if inp.additional:
        args += ["--additional-files", ",".join(str(a) for a in inp.additional)]
    run_tool("duarouter", args, cwd=work, log_name="duarouter")
    for alt in work.glob("expanded.rou.alt.xml"):
        alt.unlink()
    return routed


def _import_into(req: ImportRequest, inp: _Inputs, key: str, hashes: dict, work: Path, progress: Progress) -> None:
    timings: dict[str, float] = {}
    t = time.perf_counter()
    progress(f"reading the network {inp.net.name}")
    net = work / "net.net.xml"
    graph = _copy_net(inp.net, net)
    scan = sf.scan_routes(inp.routes, sf.net_edge_ids(net))
    if scan.unknown_edges:
        items = list(scan.unknown_edges.items())
        shown = ", ".join(f"{e} ({f})" for e, f in items[:5])
        raise ScenarioImportError(f"the routes name {len(items)} edge(s) that {inp.net.name} does not have: {shown}")
    timings["read"] = time.perf_counter() - t

    t = time.perf_counter()
    progress("expanding flows and routing trips (duarouter)")
    begin = float(inp.begin or 0.0)
    vtypes_in = sf.read_vtypes((*inp.routes, *inp.additional))
    routed = _expand(inp, net, work, begin, inp.end, req.seed)
    vehicles = sf.read_vehicles(routed)
    end = float(inp.end) if inp.end is not None else _default_end(vehicles, begin)
    if end <= begin:
        raise ScenarioImportError(f"end time {end:g} s is not after begin {begin:g} s")
    timings["duarouter"] = time.perf_counter() - t

    t = time.perf_counter()
    progress("choosing agents among the scenario's passenger vehicles")
    vtypes = {**vtypes_in, **sf.read_vtypes((routed,))}
    window = req.depart_window or (begin, begin + 0.5 * (end - begin))
    sel = _select(req, vehicles, vtypes, graph, window, (begin, end))
    add_types = set(sf.read_vtypes(inp.additional))
    bg_n = _write_background(routed, {v.id for v in sel.chosen}, add_types, work / "background.rou.xml")
    agents = _write_agents(sel.chosen, vtypes, work / "agents.rou.xml")
    preroute_agents(work / "agents.rou.xml", net, work)
    adds = _copy_additional(inp.additional, work)
    cfg = work / "scenario.sumocfg"
    _write_sumocfg(cfg, net, [work / "background.rou.xml", work / "agents.rou.xml"], adds, begin, end, req.seed)
    routed.unlink()
    timings["agents"] = time.perf_counter() - t
    _write_import_manifest(req, inp, key, hashes, work, graph, scan, vehicles, sel, agents, bg_n, adds,
                           (begin, end, window), timings)


def _default_end(vehicles: list[sf.Vehicle], begin: float) -> float:
    departs = [v.depart for v in vehicles if v.depart is not None]
    return float(np.ceil(max(departs, default=begin))) + 900.0


@dataclass(frozen=True)
class _Selection:
    chosen: tuple[sf.Vehicle, ...]
    candidates: int  # passenger vehicles departing in the window
    skipped: dict[str, int]
    usable: int  # candidates that can be agents


def _skip_reason(v: sf.Vehicle, graph: RoadGraph) -> str | None:
    if v.depart is None:
        return SKIP_REASONS[0]
    if len(v.edges) < 2:
        return SKIP_REASONS[1]
    o, d = v.edges[0], v.edges[-1]
    if o not in graph.index or d not in graph.index:
        return SKIP_REASONS[2]
    if o == d:
        return SKIP_REASONS[3]
    if not np.isfinite(graph.cost_to(graph.index[d])[graph.index[o]]):
        return SKIP_REASONS[4]
    return None


def _usable(cands: list[sf.Vehicle], graph: RoadGraph) -> tuple[list[sf.Vehicle], Counter[str]]:
    skipped: Counter[str] = Counter()
    valid = []
    for v in cands:
        why = _skip_reason(v, graph)
        if why is None:
            valid.append(v)
        else:
            skipped[why] += 1
    return valid, skipped


def _departing(vehicles: list[sf.Vehicle], window: tuple[float, float]) -> list[sf.Vehicle]:
    lo, hi = window
    return [v for v in vehicles if v.depart is None or lo <= v.depart <= hi]


def _wider(req: ImportRequest, passenger: list[sf.Vehicle], graph: RoadGraph, period: tuple[float, float]) -> str:
    """For the default window only: what the whole period would give, and the option that gives it."""
    if req.depart_window is not None:
        return ""
    n = len(_usable(_departing(passenger, period), graph)[0])
    return (f"; the whole period [{period[0]:g}, {period[1]:g}] s has {n} that can be agents: "
            f"--depart-window {period[0]:g}:{period[1]:g}")


def _select(req: ImportRequest, vehicles: list[sf.Vehicle], vtypes: dict, graph: RoadGraph,
            window: tuple[float, float], period: tuple[float, float]) -> _Selection:
    lo, hi = window
    where = f"the {'default ' if req.depart_window is None else ''}window [{lo:g}, {hi:g}] s" + \
        (" (the first half of the scenario)" if req.depart_window is None else "")
    if not vehicles:
        raise ScenarioImportError("the scenario has no vehicles: its route files define no <vehicle>, <trip> or "
                                  "<flow> in the simulated period (<route> definitions alone are not demand)")
    passenger = [v for v in vehicles if sf.vclass_of(v.type, vtypes) == "passenger"]
    if not passenger:
        raise ScenarioImportError(f"the scenario has {len(vehicles)} vehicle(s) but no passenger vehicles "
                                  "(vClass passenger) to choose agents from")
    cands = _departing(passenger, window)
    if not cands:
        raise ScenarioImportError(f"no passenger vehicle departs in {where} ({len(passenger)} depart outside it)"
                                  + (_wider(req, passenger, graph, period) or "; widen --depart-window"))
    valid, skipped = _usable(cands, graph)
    n = req.agents if req.agents is not None else max(1, int(round(req.agent_share * len(valid))))  # type: ignore[operator]
    if len(valid) < n:
        detail = ", ".join(f"{k}: {c}" for k, c in skipped.items()) or "none skipped"
        raise ScenarioImportError(f"asked for {n} agents but only {len(valid)} of the {len(cands)} passenger vehicles "
                                  f"departing in {where} can be agents (skipped: {detail})"
                                  + (_wider(req, passenger, graph, period) or
                                     "; use fewer --agents or a wider --depart-window"))
    valid.sort(key=lambda v: (v.depart, v.id))
    idx = np.unique(np.round(np.linspace(0, len(valid) - 1, n)).astype(int))
    chosen = tuple(valid[i] for i in idx)
    log.info("agents: %d of %d candidates (%d skipped: %s)", n, len(cands), sum(skipped.values()), dict(skipped))
    if req.agent_share is not None and req.depart_window is None:
        log.warning("%d agents: %s of the %d passenger vehicles departing in %s that can be agents, out of %d "
                    "vehicles in all%s", len(chosen), "all" if req.agent_share == 1.0 else f"{req.agent_share:g}",
                    len(valid), where, len(vehicles), _wider(req, passenger, graph, period))
    return _Selection(chosen, len(cands), dict(skipped), len(valid))


def _write_background(routed: Path, agent_ids: set[str], add_types: set[str], out: Path) -> int:
    """duarouter's output minus the agents (and minus vTypes the additional files already define)."""
    tree = ET.parse(routed)
    root = tree.getroot()
    n = 0
    for el in list(root):
        if el.tag == "vehicle" and el.get("id") in agent_ids:
            root.remove(el)
        elif el.tag == "vType" and el.get("id") in add_types:
            root.remove(el)
        elif el.tag == "vehicle":
            n += 1
    clash = sorted(v.get("id", "") for v in root.iter("vehicle") if v.get("id", "").startswith("agent_"))
    if clash:
        raise ScenarioImportError(f"background vehicle ids {clash[:3]} collide with reled's agent ids (agent_N)")
    root.attrib.clear()
    ET.indent(tree)
    tree.write(out, encoding="UTF-8", xml_declaration=True)
    return n


def _write_agents(chosen: tuple[sf.Vehicle, ...], vtypes: dict, out: Path) -> tuple[AgentSpec, ...]:
    """One ``<trip>`` per agent (routed once by :func:`preroute_agents`), with a red copy of its own vType."""
    root = ET.Element("routes")
    made: dict[str, str] = {}
    specs = []
    for i, v in enumerate(chosen):
        src = v.type if v.type in vtypes else None
        tid = made.get(src or "")
        if tid is None:
            tid = "agent" if src is None else f"agent.{src}"
            attrs = {k: x for k, x in (vtypes[src].attrib if src else {"vClass": "passenger"}).items()
                     if k not in ("id", "probability")}
            ET.SubElement(root, "vType", {"id": tid, **attrs, "color": AGENT_COLOR})
            made[src or ""] = tid
        spec = AgentSpec(id=f"agent_{i}", origin=v.edges[0], destination=v.edges[-1], depart=round(float(v.depart), 2))  # type: ignore[arg-type]
        trip = {"id": spec.id, "type": tid, "depart": f"{spec.depart:.2f}", "from": spec.origin, "to": spec.destination,
                "departLane": v.attrs.get("departLane", "best"), "departSpeed": v.attrs.get("departSpeed", "max")}
        for k in ("departPos", "arrivalLane", "arrivalPos", "arrivalSpeed"):
            if k in v.attrs:
                trip[k] = v.attrs[k]
        ET.SubElement(root, "trip", trip)
        specs.append(spec)
    tree = ET.ElementTree(root)
    ET.indent(tree)
    tree.write(out, encoding="UTF-8", xml_declaration=True)
    return tuple(specs)


def preroute_agents(agents_file: Path, net: Path, work: Path) -> None:
    """Turn the agents' ``<trip>``s into ``<vehicle>``s with the routes SUMO itself gives them at insertion.

    SUMO routes a trip when it enters the network, on free-flow (static) travel times; the env then
    replaces the route at the agent's decisions. Routing them once here, in a short SUMO run of the
    agents alone, gives the same routes (so the same decisions and arrivals) without routing every
    agent in every episode. ``agents_file`` is replaced only when every agent got its route."""
    trips = ET.parse(agents_file).getroot()
    want = [str(t.get("id")) for t in trips.iter("trip")]
    if not want:
        return
    out = work / "agents.vehroutes.xml"
    first = min(float(t.get("depart", 0.0)) for t in trips.iter("trip"))
    try:
        run_tool("sumo", ["-n", str(net), "-r", str(agents_file), "--vehroute-output", str(out),
                          "--vehroute-output.write-unfinished", "true", "--begin", f"{np.floor(first):g}",
                          "--no-step-log", "true", "--no-warnings", "true"], cwd=work, log_name="preroute-agents")
        routes = {str(v.get("id")): str(r.get("edges")) for v in ET.parse(out).getroot().iter("vehicle")
                  if (r := v.find("route")) is not None}
    except (ToolFailedError, ET.ParseError) as exc:
        raise ScenarioImportError(f"SUMO could not route the agents: {_last_line(exc)}") from exc
    finally:
        out.unlink(missing_ok=True)
    missing = [a for a in want if not routes.get(a)]
    if missing:
        raise ScenarioImportError(f"SUMO could not route agent(s) {', '.join(missing[:5])} ({len(missing)} of "
                                  f"{len(want)}); see {work / 'logs' / 'preroute-agents.log'}")
    for el in trips.findall("trip"):
        el.tag = "vehicle"
        for k in ("from", "to", "via"):
            el.attrib.pop(k, None)
        ET.SubElement(el, "route", {"edges": routes[str(el.get("id"))]})
    tree = ET.ElementTree(trips)
    ET.indent(tree)
    tree.write(agents_file, encoding="UTF-8", xml_declaration=True)


def _last_line(exc: Exception) -> str:
    text = exc.tail if isinstance(exc, ToolFailedError) else str(exc)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else type(exc).__name__


def _copy_additional(files: tuple[Path, ...], work: Path) -> list[Path]:
    out = []
    for i, f in enumerate(files):
        dst = work / (f"add{i}_{f.name}")
        shutil.copyfile(f, dst)
        out.append(dst)
    return out


def _write_sumocfg(path: Path, net: Path, routes: list[Path], adds: list[Path], begin: float, end: float,
                   seed: int) -> None:
    add = f'        <additional-files value="{",".join(a.name for a in adds)}"/>\n' if adds else ""
    path.write_text(
        "<configuration>\n"
        "    <input>\n"
        f'        <net-file value="{net.name}"/>\n'
        f'        <route-files value="{",".join(r.name for r in routes)}"/>\n'
        f"{add}"
        "    </input>\n"
        f'    <time><begin value="{begin:g}"/><end value="{end:g}"/></time>\n'
        f'    <random_number><seed value="{seed}"/></random_number>\n'
        '    <processing><time-to-teleport value="300"/><ignore-route-errors value="true"/></processing>\n'
        '    <report><no-step-log value="true"/><duration-log.disable value="true"/></report>\n'
        "</configuration>\n"
    )


def _write_import_manifest(req, inp, key, hashes, work, graph, scan, vehicles, sel, agents, bg_n, adds, times,
                           timings) -> None:
    begin, end, window = times
    flow_vehicles = sum(1 for v in vehicles if v.id.rpartition(".")[0] in scan.flow_ids)
    stats = net_stats(work / "net.net.xml", graph, 0)
    src = Path(req.sumocfg) if req.sumocfg is not None else inp.net
    files = {"net": file_entry(work / "net.net.xml"), "agents": file_entry(work / "agents.rou.xml"),
             "background": file_entry(work / "background.rou.xml"), "sumocfg": file_entry(work / "scenario.sumocfg")}
    files.update({f"additional_{i}": file_entry(a) for i, a in enumerate(adds)})
    manifest = {
        "format_version": FORMAT_VERSION,
        "name": req.name,
        "build_key": key,
        "source": {"kind": "import", "value": str(src.resolve()), "file": src.name,
                   "sha256": hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest(),
                   "inputs": hashes, "provider": "user", "licence": req.licence, "bbox": None},
        "tools": {"sumo": sumo_version(), "duarouter_args": list(DUAROUTER_ARGS),
                  "agent_routes": "pre-routed: SUMO's insertion routes (a run of the agents alone)"},
        "options": {"agents": len(agents), "requested_agents": req.agents, "agent_share": req.agent_share,
                    "depart_window": list(window), "begin": begin, "end": end, "duration": end - begin,
                    "seed": req.seed},
        "counts": {**asdict(stats), "edges_outside_largest_scc": int((~graph.strongly_connected_mask()).sum()),
                   "input_vehicles": scan.vehicles, "input_trips": scan.trips, "input_flows": scan.flows,
                   "vehicles": len(vehicles), "flow_vehicles": flow_vehicles,
                   "dropped_by_duarouter": max(0, scan.vehicles + scan.trips - (len(vehicles) - flow_vehicles)),
                   "agents": len(agents), "agent_candidates_drawn": sel.candidates,
                   "agent_candidates_rejected": sum(sel.skipped.values()), "agent_candidates_skipped": sel.skipped,
                   "agent_candidates_usable": sel.usable,
                   "background_vehicles": bg_n, "background_rejected": 0},
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "agents": agent_specs_as_dicts(list(agents)),
        "agent_original_ids": {a.id: v.id for a, v in zip(agents, sel.chosen)},
        "files": files,
    }
    write_manifest(work, manifest)
