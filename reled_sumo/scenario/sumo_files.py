"""Reading a user's SUMO files for ``reled scenario import`` (no TraCI here).

* :func:`read_sumocfg`: the net, route and additional files and the time window of a
  ``.sumocfg``, every path resolved inside the config's folder;
* :func:`scan_routes`: counts of ``<vehicle>``/``<trip>``/``<flow>`` elements and the
  edges they name that the network lacks;
* :func:`read_vehicles` / :func:`read_vtypes`: the vehicles of duarouter's expanded
  output (explicit routes) and the vehicle classes of every ``<vType>``.

Gzipped files (``.gz``) are read transparently, as SUMO does.
"""
from __future__ import annotations

import gzip
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator

from reled_sumo.errors import ScenarioImportError

# vClass of a vType without a vClass attribute, and of SUMO's DEFAULT_VEHTYPE
DEFAULT_VCLASS = "passenger"


def open_xml(path: Path) -> IO[bytes]:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]  # a GzipFile is a binary IO
    return open(path, "rb")


def _iter_elements(path: Path, tags: set[str]) -> Iterator[ET.Element]:
    try:
        with open_xml(path) as fh:
            for _, el in ET.iterparse(fh, events=("end",)):
                if el.tag in tags:
                    yield el
    except (ET.ParseError, OSError, EOFError) as exc:
        raise ScenarioImportError(f"{path.name} is not a readable SUMO XML file: {exc}") from exc


@dataclass(frozen=True)
class ConfigInputs:
    net: Path
    routes: tuple[Path, ...]
    additional: tuple[Path, ...]
    begin: float | None
    end: float | None


def _cfg_value(root: ET.Element, *names: str) -> str | None:
    for name in names:
        el = next(root.iter(name), None)
        if el is not None and el.get("value") is not None:
            return el.get("value", "").strip()
    return None


def _inside(folder: Path, value: str, cfg: Path) -> Path:
    p = (folder / value).resolve()
    if not p.is_relative_to(folder):
        raise ScenarioImportError(
            f"{cfg.name} points outside its folder ({value}): copy the file next to the config and use a relative path"
        )
    if not p.is_file():
        raise ScenarioImportError(f"{cfg.name} names {value}, which does not exist ({p})")
    return p


def _time(value: str | None, what: str, cfg: Path) -> float | None:
    if value is None or value == "":
        return None
    try:
        parts = [float(x) for x in value.split(":")]
    except ValueError:
        raise ScenarioImportError(f"{cfg.name}: {what} value {value!r} is not a time") from None
    seconds = 0.0
    for x in parts:  # s, m:s, h:m:s or d:h:m:s
        seconds = seconds * 60.0 + x
    return seconds


def read_sumocfg(cfg: Path) -> ConfigInputs:
    """The inputs of a ``.sumocfg``; every file must lie inside the config's folder."""
    if not cfg.is_file():
        raise ScenarioImportError(f"SUMO config {cfg} does not exist")
    try:
        root = ET.parse(cfg).getroot()
    except ET.ParseError as exc:
        raise ScenarioImportError(f"{cfg.name} is not a readable SUMO config: {exc}") from exc
    folder = cfg.resolve().parent
    net = _cfg_value(root, "net-file", "n")
    if not net:
        raise ScenarioImportError(f"{cfg.name} names no network (<net-file value=...>)")
    routes = [v for v in (_cfg_value(root, "route-files", "r") or "").split(",") if v.strip()]
    adds = [v for v in (_cfg_value(root, "additional-files", "a") or "").split(",") if v.strip()]
    return ConfigInputs(
        net=_inside(folder, net, cfg),
        routes=tuple(_inside(folder, v.strip(), cfg) for v in routes),
        additional=tuple(_inside(folder, v.strip(), cfg) for v in adds),
        begin=_time(_cfg_value(root, "begin", "b"), "begin", cfg),
        end=_time(_cfg_value(root, "end", "e"), "end", cfg),
    )


def net_edge_ids(net: Path) -> set[str]:
    """Every non-internal edge id of a SUMO network."""
    return {el.get("id", "") for el in _iter_elements(net, {"edge"}) if el.get("function") != "internal"}


@dataclass
class RouteScan:
    vehicles: int = 0
    trips: int = 0
    flows: int = 0
    flow_ids: set[str] = field(default_factory=set)
    unknown_edges: dict[str, str] = field(default_factory=dict)  # edge -> file that names it


_EDGE_ATTRS = ("from", "to")


def scan_routes(files: tuple[Path, ...], edges: set[str]) -> RouteScan:
    """Count demand elements and find the edges they name that are not in the network."""
    scan = RouteScan()
    for f in files:
        for el in _iter_elements(f, {"vehicle", "trip", "flow", "route"}):
            if el.tag == "vehicle":
                scan.vehicles += 1
            elif el.tag == "trip":
                scan.trips += 1
            elif el.tag == "flow":
                scan.flows += 1
                scan.flow_ids.add(el.get("id", ""))
            names = (el.get("edges") or "").split() if el.tag == "route" else []
            names += [el.get(a, "") for a in _EDGE_ATTRS if el.get(a)]
            names += (el.get("via") or "").split()
            for e in names:
                if e not in edges:
                    scan.unknown_edges.setdefault(e, f.name)
    return scan


def read_vtypes(files: tuple[Path, ...]) -> dict[str, ET.Element]:
    """vType id -> its element (the last definition wins), from route/additional files."""
    out: dict[str, ET.Element] = {}
    for f in files:
        for el in _iter_elements(f, {"vType"}):
            out[el.get("id", "")] = el
    return out


def vclass_of(vtype: str | None, vtypes: dict[str, ET.Element]) -> str:
    if not vtype or vtype not in vtypes:
        return DEFAULT_VCLASS
    return vtypes[vtype].get("vClass", DEFAULT_VCLASS)


@dataclass(frozen=True)
class Vehicle:
    """One vehicle of duarouter's output: id, type, departure (None if not a number), route edges."""

    id: str
    type: str | None
    depart: float | None
    edges: tuple[str, ...]
    attrs: dict[str, str]


def _depart(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:  # "triggered", "containerTriggered", "now", ...
        return None


def read_vehicles(routed: Path) -> list[Vehicle]:
    """The ``<vehicle>`` elements of a routed file, with their (inline or referenced) route."""
    root = ET.parse(routed).getroot()
    named = {r.get("id", ""): tuple((r.get("edges") or "").split()) for r in root.findall("route")}
    out = []
    for v in root.iter("vehicle"):
        inline = v.find("route")
        if inline is not None:
            edges = tuple((inline.get("edges") or "").split())
        else:
            edges = named.get(v.get("route", ""), ())
        out.append(Vehicle(v.get("id", ""), v.get("type"), _depart(v.get("depart")), edges, dict(v.attrib)))
    return out


def net_boundary(net: Path) -> tuple[float, float, float, float]:
    """The network's ``convBoundary`` (xmin, ymin, xmax, ymax) in SUMO coordinates."""
    for el in _iter_elements(net, {"location"}):
        try:
            x0, y0, x1, y1 = (float(v) for v in el.get("convBoundary", "").split(","))
        except ValueError:
            break
        return (x0, y0, x1, y1)
    raise ScenarioImportError(f"{net.name} has no <location convBoundary=...>")
