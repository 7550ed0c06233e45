"""``reled scenario build``: OSM (bundled city, file or place name) -> self-contained scenario folder."""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from reled_sumo.errors import UserInputError
from reled_sumo.scenario import demand as dm
from reled_sumo.scenario import network, osm
from reled_sumo.scenario.graph import RoadGraph
from reled_sumo.scenario.install import check_target, publish, work_dir
from reled_sumo.scenario.manifest import (
    FORMAT_VERSION, Scenario, agent_specs_as_dicts, file_entry, load_scenario_dir, sha256_file, write_manifest,
)
from reled_sumo.scenario.registry import Recipe, built_dir, check_name, get_recipe
from reled_sumo.scenario.tools import strip_generated_headers, sumo_version

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

# Bump when the builder's output changes, so that old cached builds are rebuilt.
BUILDER_VERSION = 4


@dataclass(frozen=True)
class BuildRequest:
    """What to build. ``kind`` is "bundled", "file" or "place"."""

    name: str
    kind: str
    source: str
    demand: dm.DemandOptions
    bbox: tuple[float, float, float, float] | None = None
    licence: str = "ODbL 1.0, (c) OpenStreetMap contributors"
    provider: str = "OpenStreetMap contributors"

    def __post_init__(self) -> None:
        check_name(self.name)

    @classmethod
    def bundled(cls, recipe: Recipe, name: str | None = None, **demand_overrides) -> "BuildRequest":
        """Build a bundled city, under its own name or ``name`` (e.g. a variant with more agents).

        ``agents="all"``: every vehicle of the demand is an agent (the recipe's agents and
        every background vehicle; :mod:`reled_sumo.scenario.demand`)."""
        return cls(recipe.name if name is None else name, "bundled", recipe.name,
                   demand_options(asdict(recipe.demand), **demand_overrides),
                   recipe.bbox, recipe.licence, recipe.provider)


def demand_options(defaults: dict, **overrides) -> dm.DemandOptions:
    """``DemandOptions`` from defaults and the given (non-None) overrides; ``agents`` may be
    a positive integer or ``"all"`` (:func:`~reled_sumo.scenario.demand.parse_agents`)."""
    d = {**defaults, **{k: v for k, v in overrides.items() if v is not None}}
    if "agents" in overrides:
        count, every = dm.parse_agents(overrides["agents"])
        d["agents"] = count if count is not None else defaults["agents"]
        d["all_agents"] = every or bool(d.get("all_agents", False))
    return dm.DemandOptions(**d)


@dataclass(frozen=True)
class BuildResult:
    scenario: Scenario
    cache_hit: bool
    seconds: float


def _options_key(req: BuildRequest, source_sha: str) -> str:
    blob = json.dumps({"format": FORMAT_VERSION, "builder": BUILDER_VERSION, "kind": req.kind, "source_sha256": source_sha,
                       "bbox": req.bbox, "demand": req.demand.key(),
                       "netconvert": network.NETCONVERT_ARGS}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _source_osm(req: BuildRequest, work: Path, progress: Progress) -> tuple[Path, str]:
    """Return (path of the original OSM input, its sha256)."""
    if req.kind == "bundled":
        recipe = get_recipe(req.source)
        src = osm.package_resource(recipe.package, recipe.resource)
    elif req.kind == "file":
        src = Path(req.source).expanduser()
        osm.check_osm_file(src)
    elif req.kind == "place":
        progress(f"downloading '{req.source}' from OpenStreetMap (osmnx)")
        src = work / "download.osm"
        osm.download_place(req.source, src)
    else:  # pragma: no cover - guarded by the CLI
        raise UserInputError(f"unknown source kind {req.kind}")
    return src, sha256_file(src)


def build(req: BuildRequest, force: bool = False, progress: Progress | None = None,
          replace: bool = False) -> BuildResult:
    """Build ``req`` into ``$RELED_HOME/scenarios/<name>`` (or reuse a cached build).

    Nothing is written before the cache check (except a place download, into a work
    folder). The build goes through :func:`reled_sumo.scenario.install.publish`, the safe-write
    path it shares with ``reled scenario import``: a target that is not a scenario is refused, a
    scenario built from other inputs is only replaced with ``replace=True``, one writer per name,
    a fresh work folder renamed into place.
    """
    progress = progress or (lambda msg: log.info(msg))
    t0 = time.perf_counter()
    out = built_dir(req.name)
    check_target(out)
    work: Path | None = None
    try:
        if req.kind == "place":  # the download is needed for the cache key
            work = work_dir(out)
        src, src_sha = _source_osm(req, work, progress)  # type: ignore[arg-type]  # None: no download
        key = _options_key(req, src_sha)
        held, work = work, None  # publish owns the work folder from here on
        sc, hit = publish(out, key, lambda w: _build_into(req, src, src_sha, key, w, progress), force=force,
                          replace=replace, work=held)
    finally:
        if work is not None:  # our own fresh work folder (mkdtemp), never anything else
            shutil.rmtree(work, ignore_errors=True)
    return BuildResult(sc, hit, time.perf_counter() - t0)


def _build_into(req: BuildRequest, src: Path, src_sha: str, key: str, work: Path, progress: Progress) -> Scenario:
    timings: dict[str, float] = {}
    t = time.perf_counter()
    progress("converting OSM to XML (pyosmium)")
    osm_xml = work / "map.osm"
    osm_counts = osm.to_osm_xml(src, osm_xml)
    timings["osm"] = time.perf_counter() - t

    t = time.perf_counter()
    progress("building the car network (netconvert)")
    net = work / "net.net.xml"
    stats = network.convert(osm_xml, net, req.bbox)
    graph = RoadGraph.from_net_file(net)
    timings["netconvert"] = time.perf_counter() - t

    t = time.perf_counter()
    progress("generating demand (randomTrips.py + duarouter)")
    bg, bg_n, bg_rej = dm.generate_background(net, work, req.demand)
    res = dm.generate_agents(net, graph, work, req.demand)
    if req.demand.all_agents:
        res, bg_n = dm.background_to_agents(bg, graph, res)
    agents_file = work / "agents.rou.xml"
    dm.write_agents(res.agents, agents_file)
    for f in (net, bg):
        strip_generated_headers(f)
    cfg = work / "scenario.sumocfg"
    dm.write_sumocfg(cfg, net, [bg, agents_file], req.demand.duration, req.demand.seed)
    timings["demand"] = time.perf_counter() - t
    osm_xml.unlink()  # large and reproducible from the source; keep the folder small
    for tmp in work.glob("*.trips.xml"):
        tmp.unlink()

    manifest = {
        "format_version": FORMAT_VERSION,
        "name": req.name,
        "build_key": key,
        "source": {"kind": req.kind, "value": req.source if req.kind != "file" else str(Path(req.source).resolve()),
                   "file": src.name, "sha256": src_sha, "osm_objects": osm_counts,
                   "provider": req.provider, "licence": req.licence, "bbox": req.bbox},
        "tools": {"sumo": sumo_version(), "netconvert_args": list(network.NETCONVERT_ARGS)},
        "options": asdict(req.demand),
        "counts": {**asdict(stats), "agents": len(res.agents), "agent_candidates_drawn": res.candidates_drawn,
                   "agent_candidates_rejected": res.candidates_rejected, "agents_from_background": res.from_background,
                   "background_vehicles": bg_n, "background_rejected": bg_rej},
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "agents": agent_specs_as_dicts(list(res.agents)),
        "files": {"net": file_entry(net), "agents": file_entry(agents_file),
                  "background": file_entry(bg), "sumocfg": file_entry(cfg)},
    }
    write_manifest(work, manifest)
    return load_scenario_dir(work)
