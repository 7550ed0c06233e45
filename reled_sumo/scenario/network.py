"""OSM XML -> SUMO network for passenger-car routing, with netconvert.

Options chosen for vehicle routing on real city extracts (see docs/scenarios.md):

* car roads only: ``--keep-edges.by-vclass passenger`` plus removal of service/track types;
* ``--geometry.remove`` and ``--edges.join``: fewer, longer edges = fewer decisions;
* ``--ramps.guess``, ``--roundabouts.guess``, ``--junctions.join``: clean junction topology;
* ``--tls.guess-signals --tls.discard-simple --tls.join`` with ``--tls.default-type actuated``:
  OSM signal nodes merged into one controller per junction; actuated control is what
  most real urban signals run and avoids fixed-time gridlock artefacts;
* ``--remove-edges.isolated`` and ``--keep-edges.components 1``: the largest connected part;
* then a strong-connectivity pass (below) so that every edge can reach every other edge.

Extracts are clipped at their border, so netconvert warns about missing node references;
those warnings are expected and kept in ``logs/netconvert.log``.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from reled_sumo.errors import OsmInputError, ToolFailedError
from reled_sumo.scenario.graph import RoadGraph
from reled_sumo.scenario.tools import run_tool

log = logging.getLogger(__name__)

REMOVED_TYPES = ",".join(
    f"highway.{t}" for t in ("track", "services", "unsurfaced", "service", "living_street", "pedestrian", "path")
)

NETCONVERT_ARGS = (
    "--keep-edges.by-vclass", "passenger",
    "--remove-edges.by-type", REMOVED_TYPES,
    "--geometry.remove", "--edges.join",
    "--ramps.guess", "--roundabouts.guess", "--junctions.join",
    "--tls.guess-signals", "--tls.discard-simple", "--tls.join",
    "--tls.default-type", "actuated",
    "--remove-edges.isolated", "--keep-edges.components", "1",
    "--osm.turn-lanes", "false",
    "--output.street-names", "true",
    "--no-warnings", "false",
)


@dataclass(frozen=True)
class NetStats:
    nodes: int
    junctions: int
    signals: int
    edges: int
    lane_km: float
    pruned_for_connectivity: int


def bbox_args(bbox: tuple[float, float, float, float] | None) -> list[str]:
    if bbox is None:
        return []
    return ["--keep-edges.in-geo-boundary", ",".join(str(v) for v in bbox)]


def convert(osm_xml: Path, out_net: Path, bbox=None, max_prune_rounds: int = 5) -> NetStats:
    """Run netconvert, then prune edges outside the largest strongly connected component."""
    workdir = out_net.parent
    args = ["--osm-files", str(osm_xml), "-o", str(out_net), *NETCONVERT_ARGS, *bbox_args(bbox)]
    try:
        run_tool("netconvert", args, cwd=workdir, log_name="netconvert")
    except ToolFailedError as exc:
        if "No nodes loaded" in exc.tail or "No edges loaded" in exc.tail or "empty" in exc.tail.lower():
            raise OsmInputError(f"the OSM data {osm_xml.name} has no drivable roads for cars") from exc
        raise
    pruned = 0
    for round_ in range(max_prune_rounds):
        graph = _read_graph(out_net, osm_xml)
        keep = graph.strongly_connected_mask()
        drop = [graph.edge_ids[i] for i in range(graph.num_edges) if not keep[i]]
        if not drop:
            break
        pruned += len(drop)
        log.info("round %d: removing %d edges outside the largest strongly connected component", round_, len(drop))
        run_tool(
            "netconvert",
            ["-s", str(out_net), "-o", str(out_net), "--remove-edges.explicit", ",".join(drop),
             "--remove-edges.isolated", "--keep-edges.by-vclass", "passenger"],
            cwd=workdir, log_name=f"netconvert-prune{round_}",
        )
    graph = _read_graph(out_net, osm_xml)
    if not graph.is_strongly_connected():
        raise OsmInputError(f"could not make the network of {osm_xml.name} strongly connected for cars")
    return net_stats(out_net, graph, pruned)


def _read_graph(net: Path, osm_xml: Path) -> RoadGraph:
    if not net.exists():
        raise OsmInputError(f"netconvert produced no network from {osm_xml.name}: no drivable roads?")
    try:
        graph = RoadGraph.from_net_file(net)
    except Exception as exc:
        raise OsmInputError(f"the OSM data {osm_xml.name} has no drivable roads for cars ({exc})") from exc
    if graph.num_edges < 4:
        raise OsmInputError(f"the OSM data {osm_xml.name} has only {graph.num_edges} car edges: too small to route on")
    return graph


def net_stats(net: Path, graph: RoadGraph, pruned: int) -> NetStats:
    types = re.findall(r'<junction id="(?!:)[^"]*" type="([^"]*)"', net.read_text())
    return NetStats(
        nodes=len(types),
        junctions=sum(t not in ("dead_end", "internal") for t in types),
        signals=sum(t.startswith("traffic_light") for t in types),
        edges=graph.num_edges,
        lane_km=round(float((graph.length * graph.lanes).sum()) / 1000.0, 2),
        pruned_for_connectivity=pruned,
    )
