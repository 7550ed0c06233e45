"""Scenario layer: OSM -> SUMO network, demand and config (no TraCI here)."""
from __future__ import annotations

from pathlib import Path

from reled_sumo.errors import ScenarioNotBuiltError, UserInputError
from reled_sumo.scenario.manifest import AgentSpec, Scenario, load_scenario_dir
from reled_sumo.scenario.registry import built_dir, bundled, is_valid_name


def resolve_scenario(name_or_path: str | Path | Scenario) -> Scenario:
    """A built scenario from its name (under $RELED_HOME/scenarios) or its folder."""
    if isinstance(name_or_path, Scenario):
        return name_or_path
    p = Path(name_or_path)
    name = str(name_or_path).strip().lower()  # names are lowercase, as `reled scenario build` makes them
    built = built_dir(name) if is_valid_name(name) else None
    is_built = built is not None and (built / "scenario.json").is_file()
    if (p / "scenario.json").exists():
        if built is not None and is_built and p.resolve() != built.resolve():
            raise UserInputError(f"'{name_or_path}' is both a folder here ({p.resolve()}) and the built scenario "
                                 f"{built}; say which: --scenario ./{p} for the folder, or run from another "
                                 "folder (or give the built scenario's full path)")
        return load_scenario_dir(p)
    if built is None:
        raise UserInputError(f"{str(name_or_path)!r} is neither a scenario folder nor a valid scenario name")
    if is_built:
        return load_scenario_dir(built)
    hint = f"run: reled scenario build {name}" if name in bundled() else "build it first with: reled scenario build ..."
    raise ScenarioNotBuiltError(f"scenario '{name}' is not built ({hint})")


__all__ = ["AgentSpec", "Scenario", "load_scenario_dir", "resolve_scenario"]
