"""`reled watch`: agents driving in sumo-gui (a reference policy or a trained run)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from reled_sumo.cli.common import console, guarded
from reled_sumo.errors import UserInputError


@guarded
def watch_cmd(
    scenario: Optional[str] = typer.Option(None, "--scenario", "-s", help="Built scenario (with --policy)."),
    policy: str = typer.Option("shortest", "--policy", help="Reference policy: shortest or random."),
    run: Optional[Path] = typer.Option(None, "--run", help="A training run folder: watch its trained policy."),
    seed: int = typer.Option(0, "--seed"),
    delay: float = typer.Option(100.0, "--delay", help="GUI delay per simulation step in ms."),
    agents: Optional[int] = typer.Option(None, "--agents", help="Control only the first N agents."),
) -> None:
    """Open sumo-gui and watch the agent vehicles (red) route themselves."""
    from reled_sumo.watch.gui import reference_policy, run_policy, watch

    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        raise UserInputError("no display: sumo-gui needs a screen (set DISPLAY, or run under `xvfb-run`)")
    options = {}
    if run is not None:
        factory, meta = run_policy(run)
        scenario = scenario or meta.get("scenario_path") or meta.get("scenario")
        options = {k: v for k, v in (meta.get("env") or {}).items() if k in ("max_agents", "horizon")}
        label = f"run {run}"
    else:
        if scenario is None:
            raise UserInputError("give --scenario NAME (with --policy) or --run RUN_DIR")
        factory, label = reference_policy(policy, seed), f"policy {policy}"
    if agents is not None:
        options["max_agents"] = agents
    console.print(f"opening sumo-gui on {scenario} with {label} ...")
    res = watch(scenario, factory, seed=seed, delay_ms=delay, **options)
    how = "GUI closed by the user" if res.closed_by_user else "episode finished"
    console.print(f"{how} at t={res.sim_seconds:.0f} s: {res.arrived}/{res.agents} agents arrived, "
                  f"mean travel time {res.mean_travel_time:.1f} s")
