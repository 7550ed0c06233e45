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

from reled_sumo.errors import ScenarioError, UserInputError
from reled_sumo.scenario import demand as dm
from reled_sumo.scenario import network, osm
from reled_sumo.scenario.graph import RoadGraph
from reled_sumo.scenario.manifest import (
    FORMAT_VERSION, MANIFEST, Scenario, agent_specs_as_dicts, file_entry, load_scenario_dir, sha256_file, write_manifest,
)
from reled_sumo.scenario.registry import Recipe, built_dir, get_recipe
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

    @classmethod
    def bundled(cls, recipe: Recipe, **demand_overrides) -> "BuildRequest":
        d = asdict(recipe.demand)
        d.update({k: v for k, v in demand_overrides.items() if v is not None})
        return cls(recipe.name, "bundled", recipe.name, dm.DemandOptions(**d), recipe.bbox, recipe.licence, recipe.provider)


@dataclass(frozen=True)
class BuildResult:
    scenario: Scenario
    cache_hit: bool
    seconds: float


def _options_key(req: BuildRequest, source_sha: str) -> str:
    blob = json.dumps({"format": FORMAT_VERSION, "builder": BUILDER_VERSION, "kind": req.kind, "source_sha256": source_sha,
                       "bbox": req.bbox, "demand": asdict(req.demand),
                       "netconvert": network.NETCONVERT_ARGS}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _cached(out: Path, key: str) -> Scenario | None:
    if not (out / MANIFEST).exists():
        return None
    try:
        sc = load_scenario_dir(out)
        if sc.manifest.get("build_key") != key:
            return None
        sc.verify()
        return sc
    except ScenarioError as exc:
        log.info("cached scenario at %s not reusable: %s", out, exc)
        return None


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


def build(req: BuildRequest, force: bool = False, progress: Progress | None = None) -> BuildResult:
    progress = progress or (lambda msg: log.info(msg))
    t0 = time.perf_counter()
    out = built_dir(req.name)
    work = out.with_name(out.name + ".building")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        src, src_sha = _source_osm(req, work, progress)
        key = _options_key(req, src_sha)
        if not force and (hit := _cached(out, key)) is not None:
            shutil.rmtree(work, ignore_errors=True)
            return BuildResult(hit, True, time.perf_counter() - t0)
        _build_into(req, src, src_sha, key, work, progress)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    shutil.rmtree(out, ignore_errors=True)
    work.replace(out)
    return BuildResult(load_scenario_dir(out), False, time.perf_counter() - t0)


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
                   "agent_candidates_rejected": res.candidates_rejected,
                   "background_vehicles": bg_n, "background_rejected": bg_rej},
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "agents": agent_specs_as_dicts(list(res.agents)),
        "files": {"net": file_entry(net), "agents": file_entry(agents_file),
                  "background": file_entry(bg), "sumocfg": file_entry(cfg)},
    }
    write_manifest(work, manifest)
    return load_scenario_dir(work)
