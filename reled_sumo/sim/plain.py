"""Run a scenario plainly in SUMO (no control): the baseline every speed figure compares to."""
from __future__ import annotations

import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from reled_sumo.errors import SimulationError
from reled_sumo.scenario.manifest import Scenario
from reled_sumo.scenario.tools import binary


@dataclass(frozen=True)
class PlainRunResult:
    sim_seconds: float
    wall_seconds: float
    inserted: int
    arrived: int
    teleports: int
    mean_travel_time: float
    agents_arrived: int
    agents_mean_travel_time: float

    @property
    def speedup(self) -> float:
        return self.sim_seconds / max(self.wall_seconds, 1e-9)


def run_plain(scenario: Scenario, end: float | None = None, gui: bool = False, seed: int | None = None) -> PlainRunResult:
    """Run ``sumo`` (or ``sumo-gui``) on the scenario's config and summarise the statistics."""
    end = float(end if end is not None else scenario.duration)
    with tempfile.TemporaryDirectory(prefix="reled-plain-") as tmp:
        stats, trips = Path(tmp) / "stats.xml", Path(tmp) / "tripinfo.xml"
        cmd = [binary("sumo-gui" if gui else "sumo"), "-c", str(scenario.sumocfg), "--end", f"{end:g}",
               "--statistic-output", str(stats), "--tripinfo-output", str(trips), "--no-warnings", "true"]
        if seed is not None:
            cmd += ["--seed", str(seed)]
        if gui:
            cmd += ["--start", "--quit-on-end"]
        return _summarise(stats, trips, end, run_sumo_command(cmd))


def run_sumo_command(cmd: list[str]) -> float:
    """Run a sumo/sumo-gui command line to completion; return its wall time in seconds.

    Raises SimulationError with SUMO's last lines when it exits with an error.
    """
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-6:])
        raise SimulationError(f"sumo exited with code {proc.returncode}:\n{tail}")
    return wall


def _summarise(stats: Path, trips: Path, end: float, wall: float) -> PlainRunResult:
    root = ET.parse(stats).getroot()
    veh = root.find("vehicles")
    tele = root.find("teleports")
    ttimes = [(t.get("id", ""), float(t.get("duration", 0))) for t in ET.parse(trips).getroot().iter("tripinfo")]
    agent_tt = [d for i, d in ttimes if i.startswith("agent_")]
    return PlainRunResult(
        sim_seconds=end,
        wall_seconds=wall,
        inserted=int(veh.get("inserted", 0)) if veh is not None else 0,
        arrived=len(ttimes),
        teleports=int(tele.get("total", 0)) if tele is not None else 0,
        mean_travel_time=sum(d for _, d in ttimes) / max(1, len(ttimes)),
        agents_arrived=len(agent_tt),
        agents_mean_travel_time=sum(agent_tt) / max(1, len(agent_tt)),
    )
