"""Locate and run SUMO's command-line tools (netconvert, duarouter, randomTrips.py).

The binaries come from the ``eclipse-sumo`` wheel; no SUMO_HOME set-up is needed.
These are batch tools that read and write files; nothing here talks to a running
simulation (that is :mod:`reled_sumo.sim`).
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from reled_sumo.errors import ScenarioError, ToolFailedError

log = logging.getLogger(__name__)


def sumo_home() -> Path:
    try:
        import sumo  # the eclipse-sumo wheel

        return Path(sumo.SUMO_HOME)
    except ImportError:
        env = os.environ.get("SUMO_HOME")
        if env:
            return Path(env)
    raise ScenarioError("SUMO is not installed: `pip install eclipse-sumo` (or set SUMO_HOME)")


def binary(name: str) -> str:
    """Path of a SUMO binary (sumo, sumo-gui, netconvert, duarouter...)."""
    candidate = sumo_home() / "bin" / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise ScenarioError(f"SUMO binary '{name}' not found; reinstall the eclipse-sumo package")


def tool_script(relpath: str) -> Path:
    p = sumo_home() / "tools" / relpath
    if not p.exists():
        raise ScenarioError(f"SUMO tool {relpath} not found under {sumo_home()}")
    return p


def sumo_version() -> str:
    out = subprocess.run([binary("sumo"), "--version"], capture_output=True, text=True, check=False)
    first = out.stdout.splitlines()[0] if out.stdout else "unknown"
    return first.replace("Eclipse SUMO sumo ", "").strip()


def run_tool(tool: str, args: list[str], cwd: Path, log_name: str | None = None) -> str:
    """Run a SUMO binary or python tool; raise ToolFailedError with the last lines on failure.

    The full output goes to ``<cwd>/logs/<log_name>.log`` for later inspection.
    """
    if tool.endswith(".py"):
        cmd = [sys.executable, str(tool_script(tool)), *args]
    else:
        cmd = [binary(tool), *args]
    env = dict(os.environ, SUMO_HOME=str(sumo_home()))
    log.debug("running %s", " ".join(cmd))
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, check=False)
    output = proc.stdout + proc.stderr
    logs = cwd / "logs"
    logs.mkdir(exist_ok=True)
    (logs / f"{log_name or Path(tool).stem}.log").write_text(output)
    if proc.returncode != 0:
        tail = "\n".join(line for line in output.splitlines() if line.strip())
        tail = "\n".join(tail.splitlines()[-8:])
        raise ToolFailedError(Path(tool).name, proc.returncode, tail)
    return output

_HEADER = re.compile(r"<!-- generated on .*?-->\s*", re.DOTALL)


def strip_generated_headers(path: Path) -> None:
    """Remove SUMO's ``<!-- generated on <date> ... -->`` comments (dates, absolute paths).

    They would make identical builds differ byte for byte; the manifest records the
    tool versions and options instead.
    """
    text = path.read_text()
    path.write_text(_HEADER.sub("", text))
