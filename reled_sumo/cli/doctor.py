"""`reled doctor`: check SUMO, libsumo, the bundled data, caches and the Ollama server."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable, Optional

import typer
from rich.table import Table

from reled_sumo.cli.common import guarded, show_table

Check = tuple[str, bool, str, bool]  # name, ok, detail, required


def _try(name: str, fn: Callable[[], str], required: bool = True) -> Check:
    try:
        return name, True, fn(), required
    except Exception as exc:  # doctor reports every failure instead of stopping
        return name, False, str(exc), required


def _sumo_tools() -> str:
    from reled_sumo.scenario.tools import binary, sumo_version, tool_script  # lazy: startup

    for b in ("sumo", "netconvert", "duarouter", "sumo-gui"):
        binary(b)
    tool_script("randomTrips.py")
    return f"SUMO {sumo_version()}: sumo, netconvert, duarouter, sumo-gui, randomTrips.py found"


def _libsumo() -> str:
    from reled_sumo.sim.config import check_libsumo  # lazy: sumo

    return f"libsumo loads (in-process SUMO): {check_libsumo()}"


def _data() -> str:
    from reled_sumo.scenario.osm import package_resource  # lazy: startup
    from reled_sumo.scenario.registry import bundled  # lazy: startup

    names = []
    for r in bundled().values():
        package_resource(r.package, r.resource)
        names.append(r.name)
    if not names:
        raise RuntimeError("no bundled city recipes found (reled_sumo/data/cities/*.yaml); reinstall the package")
    return f"bundled cities: {', '.join(names)}"


def _writable(path: Path) -> str:
    """Check without side effects: no folder is created, a probe file is removed at once."""
    if path.is_dir():
        with tempfile.NamedTemporaryFile(dir=path):
            pass
        return f"{path} is writable"
    if path.exists():
        raise NotADirectoryError(f"{path} exists and is not a folder")
    parent = next(p for p in path.parents if p.exists())
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"{path} does not exist and cannot be created: {parent} is not a writable folder")
    return f"{path} does not exist yet; it will be created inside {parent} (writable)"


def _ollama(host: Optional[str], model: Optional[str]) -> str:
    from reled_sumo.experts.ollama_client import DEFAULT_MODEL, OllamaClient, OllamaConfig  # lazy: ollama

    info = OllamaClient(OllamaConfig(host=host, model=model or DEFAULT_MODEL, timeout_s=5, retries=0,
                                     check_timeout_s=5, check_retries=0)).check()
    return f"Ollama {info.version} at {info.host} has {info.model}"


@guarded
def doctor_cmd(
    host: Optional[str] = typer.Option(None, "--host", help="Ollama host to check."),
    model: Optional[str] = typer.Option(None, "--model", help="Ollama model to check."),
) -> None:
    """Check the installation; each failure comes with what to do about it."""
    from reled_sumo.scenario.registry import reled_home  # lazy: startup

    cache = Path(os.environ.get("RELED_CACHE_DIR", Path.home() / ".cache" / "reled-sumo" / "llm"))
    checks = [
        _try("SUMO binaries", _sumo_tools),
        _try("libsumo", _libsumo),
        _try("bundled OSM data", _data),
        _try("scenario folder", lambda: _writable(reled_home())),
        _try("LLM cache", lambda: _writable(cache)),
        _try("Ollama (optional: --expert ollama)", lambda: _ollama(host, model), required=False),
    ]
    t = Table(title="reled doctor")
    for c in ("check", "status", "detail"):
        t.add_column(c)
    for name, ok, detail, required in checks:
        status = "[green]ok[/green]" if ok else ("[red]FAIL[/red]" if required else "[yellow]unavailable[/yellow]")
        t.add_row(name, status, detail)
    show_table(t)
    if any(not ok and req for _, ok, _, req in checks):
        raise typer.Exit(code=1)
