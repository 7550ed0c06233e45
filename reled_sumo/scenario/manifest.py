"""The scenario manifest (``scenario.json``) and the loaded :class:`Scenario`.

A scenario folder is self-contained::

    <dir>/
      scenario.json        # this manifest
      net.net.xml          # SUMO network (car roads, strongly connected)
      agents.rou.xml       # one <trip> per agent vehicle, ids agent_0..N-1
      background.rou.xml   # routed background vehicles
      scenario.sumocfg     # ties them together

The manifest records what is needed to prove which scenario a run used: source
hash, tool versions, options, counts, the agent list and the hash of every file.
"""
from __future__ import annotations

import functools
import hashlib
import json
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reled_sumo.errors import ScenarioError

MANIFEST = "scenario.json"
FORMAT_VERSION = 1


def sumocfg_begin(sumocfg: str | Path) -> float:
    """``<time><begin value=...>`` of a SUMO config; 0 when it is missing or unreadable."""
    try:
        el = ET.parse(sumocfg).getroot().find("./time/begin")
        return float(el.get("value", 0.0)) if el is not None else 0.0
    except (ET.ParseError, OSError, TypeError, ValueError):
        return 0.0


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class AgentSpec:
    """One agent vehicle: a stable id, origin and destination edge, departure time (s)."""

    id: str
    origin: str
    destination: str
    depart: float

    def __post_init__(self) -> None:
        if self.origin == self.destination:
            raise ScenarioError(f"agent {self.id}: origin equals destination ({self.origin})")
        if self.depart < 0:
            raise ScenarioError(f"agent {self.id}: negative departure time")


@dataclass(frozen=True)
class Scenario:
    """A built scenario folder, read from its manifest."""

    name: str
    path: Path
    manifest: dict[str, Any] = field(repr=False)

    @property
    def net_file(self) -> Path:
        return self.path / self.manifest["files"]["net"]["name"]

    @property
    def sumocfg(self) -> Path:
        return self.path / self.manifest["files"]["sumocfg"]["name"]

    @property
    def agents_file(self) -> Path:
        return self.path / self.manifest["files"]["agents"]["name"]

    @property
    def background_file(self) -> Path:
        return self.path / self.manifest["files"]["background"]["name"]

    @property
    def duration(self) -> float:
        return float(self.manifest["options"]["duration"])

    @property
    def seed(self) -> int:
        return int(self.manifest["options"]["seed"])

    @functools.cached_property
    def begin(self) -> float:
        """The simulation begin time (s) of the scenario's ``.sumocfg`` (0 when it sets none)."""
        return sumocfg_begin(self.sumocfg)

    @functools.cached_property
    def agents(self) -> tuple[AgentSpec, ...]:
        return tuple(AgentSpec(**a) for a in self.manifest["agents"])

    @property
    def agent_ids(self) -> list[str]:
        return [a.id for a in self.agents]

    @property
    def original_agent_ids(self) -> dict[str, str]:
        """Agent id -> the vehicle's id in the imported user scenario (built scenarios: itself)."""
        return dict(self.manifest.get("agent_original_ids") or {a: a for a in self.agent_ids})

    @property
    def scenario_hash(self) -> str:
        """Hash over all file hashes: identifies the exact scenario a run used."""
        files = self.manifest["files"]
        blob = json.dumps({k: v["sha256"] for k, v in sorted(files.items())}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @functools.cached_property
    def graph(self):
        from reled_sumo.scenario.graph import RoadGraph  # lazy: scipy

        return RoadGraph.from_net_file(self.net_file)

    def verify(self) -> None:
        """Raise ScenarioError if a file is missing or its hash differs from the manifest."""
        for info in self.manifest["files"].values():
            f = self.path / info["name"]
            if not f.exists():
                raise ScenarioError(f"scenario {self.name}: file {f} is missing; rebuild with --force")
            if sha256_file(f) != info["sha256"]:
                raise ScenarioError(f"scenario {self.name}: {f.name} changed since it was built; rebuild with --force")


#: what entry points accept as a scenario: a built Scenario, its name or its folder
ScenarioLike = Scenario | str | Path


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    tmp = path / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    tmp.replace(path / MANIFEST)


def file_entry(path: Path) -> dict[str, str]:
    return {"name": path.name, "sha256": sha256_file(path)}


def load_scenario_dir(path: str | Path) -> Scenario:
    p = Path(path)
    mf = p / MANIFEST
    if not mf.exists():
        raise ScenarioError(f"{p} is not a built scenario (no {MANIFEST})")
    try:
        manifest = json.loads(mf.read_text())
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{mf} is not valid JSON: {exc}") from exc
    check_manifest(mf, manifest)
    return Scenario(name=manifest["name"], path=p.resolve(), manifest=manifest)


REQUIRED_FILES = ("net", "agents", "background", "sumocfg")
AGENT_KEYS: dict[str, type | tuple[type, ...]] = {"id": str, "origin": str, "destination": str, "depart": (int, float)}


def check_manifest(mf: Path, manifest: Any) -> None:
    """ScenarioError (one line naming the file and the key) unless ``manifest`` has the fields a
    scenario is read by, and every file it names is a plain file name inside its folder."""
    def bad(what: str) -> ScenarioError:
        return ScenarioError(f"{mf} is not a valid scenario manifest: {what}; rebuild the scenario")

    if not isinstance(manifest, dict):
        raise bad(f"it holds a {type(manifest).__name__}, not an object")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ScenarioError(f"{mf}: unsupported format_version {manifest.get('format_version')}")
    if not isinstance(manifest.get("name"), str) or not manifest["name"]:
        raise bad("'name' is missing or not a string")
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(k in files for k in REQUIRED_FILES):
        raise bad(f"'files' must name {', '.join(REQUIRED_FILES)}")
    for key, info in files.items():
        if not (isinstance(info, dict) and isinstance(info.get("name"), str) and isinstance(info.get("sha256"), str)):
            raise bad(f"files.{key} needs a 'name' and a 'sha256'")
        name = info["name"]
        if name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name:
            raise bad(f"files.{key}.name {name!r} is not a plain file name inside the scenario folder")
    for key in ("options", "counts", "source", "tools"):
        if not isinstance(manifest.get(key, {}), dict):
            raise bad(f"'{key}' must be an object")
    opts = manifest.get("options")
    if not isinstance(opts, dict) or not all(isinstance(opts.get(k), (int, float)) and not isinstance(opts.get(k), bool)
                                             for k in ("duration", "seed")):
        raise bad("options.duration and options.seed must be numbers")
    agents = manifest.get("agents")
    if not isinstance(agents, list) or not all(
            isinstance(a, dict) and set(a) == set(AGENT_KEYS) and all(isinstance(a[k], t) for k, t in AGENT_KEYS.items())
            for a in agents):
        raise bad("'agents' must be a list of {id, origin, destination, depart}")


def agent_specs_as_dicts(agents: list[AgentSpec]) -> list[dict[str, Any]]:
    return [asdict(a) for a in agents]
