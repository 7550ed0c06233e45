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
    if (p / "scenario.json").exists():
        return load_scenario_dir(p)
    name = str(name_or_path).strip().lower()  # names are lowercase, as `reled scenario build` makes them
    if not is_valid_name(name):
        raise UserInputError(f"{str(name_or_path)!r} is neither a scenario folder nor a valid scenario name")
    if (built_dir(name) / "scenario.json").exists():
        return load_scenario_dir(built_dir(name))
    hint = f"run: reled scenario build {name}" if name in bundled() else "build it first with: reled scenario build ..."
    raise ScenarioNotBuiltError(f"scenario '{name}' is not built ({hint})")


__all__ = ["AgentSpec", "Scenario", "load_scenario_dir", "resolve_scenario"]
