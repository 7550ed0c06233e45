"""Small helpers for expert tests: a grid network and well-formed LLM answers."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from reled_sumo.scenario.graph import RoadGraph


def _netgenerate() -> str:
    exe = shutil.which("netgenerate")
    if exe:
        return exe
    try:
        import sumo  # the eclipse-sumo wheel

        candidate = Path(sumo.SUMO_HOME) / "bin" / "netgenerate"
        if candidate.exists():
            return str(candidate)
    except ImportError:  # pragma: no cover
        pass
    raise RuntimeError("netgenerate not found: install eclipse-sumo or put SUMO's bin on PATH")


def grid_net(directory: str | Path, n: int = 5, length: float = 100.0, lanes: int = 1) -> Path:
    """Write an ``n`` x ``n`` grid network (junctions A0..; edges like ``A0A1``) and return its path."""
    out = Path(directory) / f"grid{n}.net.xml"
    cmd = [_netgenerate(), "--grid", "--grid.number", str(n), "--grid.length", str(length),
           "--default.lanenumber", str(lanes), "-o", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out


def answer_from_routes(graph: "RoadGraph", routes: Mapping[str, Sequence[int]]) -> str:
    """The ideal answer: one MoveTo per junction after each agent's origin edge."""
    instructions = [
        ["MoveTo", graph.to_junction[e], agent] for agent, edges in routes.items() for e in edges[1:]
    ]
    return json.dumps({"instructions": instructions})
