"""`reled watch`: agents driving in sumo-gui (a reference policy or a trained run)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import typer

from reled_sumo.cli.common import agents_option, console, guarded, scenario_option, seed_option
from reled_sumo.errors import UserInputError


@guarded
def watch_cmd(
    scenario: Optional[str] = scenario_option(False, "Built scenario name or folder (with --policy)."),
    policy: str = typer.Option("shortest", "--policy", help="Reference policy: shortest or random."),
    run: Optional[Path] = typer.Option(None, "--run", help="A training run folder: watch its trained policy."),
    policy_file: Optional[Path] = typer.Option(None, "--policy-file", help="An exported ONNX policy (onnxruntime)."),
    seed: int = seed_option(),
    delay: float = typer.Option(100.0, "--delay", help="GUI delay per simulation step in ms."),
    agents: Optional[int] = agents_option(),
    window_size: str = typer.Option("1280x900", "--window-size", help="GUI window WxH in pixels."),
    track: Optional[str] = typer.Option(None, "--track", help="Follow one agent, e.g. agent_7."),
    quit_on_end: bool = typer.Option(False, "--quit-on-end", help="Close the GUI when the episode ends."),
    record: Optional[Path] = typer.Option(None, "--record", help="Write the episode as out.gif or out.mp4."),
    record_every: float = typer.Option(5.0, "--record-every", help="Simulated seconds between frames."),
    fps: float = typer.Option(10.0, "--fps", help="Frames per second of the recording."),
) -> None:
    """Open sumo-gui and watch the agent vehicles (red, ringed) route themselves."""
    from reled_sumo.watch.gui import (  # lazy: sumo
        WatchOptions, onnx_policy, reference_policy, replay_settings, run_policy, watch)

    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        raise UserInputError("no display: sumo-gui needs a screen (set DISPLAY, or run under `xvfb-run`)")
    options: dict[str, Any] = {}
    if run is not None and policy_file is not None:
        raise UserInputError("give --run or --policy-file, not both")
    if run is not None or policy_file is not None:
        factory, run_record = run_policy(run) if run is not None else onnx_policy(policy_file)  # type: ignore[arg-type]
        scenario, options = replay_settings(run_record, scenario, agents)  # the run's own env settings, as eval
        label = f"run {run}" if run is not None else f"ONNX policy {policy_file}"
    else:
        if scenario is None:
            raise UserInputError("give --scenario NAME (with --policy) or --run RUN_DIR")
        factory, label = reference_policy(policy, seed), f"policy {policy}"
        if agents is not None:
            options["max_agents"] = agents
    wopts = WatchOptions(window_size=_size(window_size), track=track, quit_on_end=quit_on_end, record=record,
                         record_every=record_every, fps=fps)
    console.print(f"opening sumo-gui on {scenario} with {label} ...")
    res = watch(scenario, factory, seed=seed, delay_ms=delay, options=wopts, **options)
    how = "GUI closed by the user" if res.closed_by_user else "episode finished"
    console.print(f"{how} at t={res.sim_seconds:.0f} s: {res.arrived}/{res.agents} agents arrived, "
                  f"mean travel time {res.mean_travel_time:.1f} s")
    if res.recording is not None:
        r = res.recording
        console.print(f"wrote [bold]{r.path}[/bold]: {r.frames} frames of {r.width}x{r.height}, "
                      f"{r.size_bytes / 1024:.0f} KiB")


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().replace(",", "x").split("x"))
    except ValueError:
        raise UserInputError(f"--window-size must be WxH, e.g. 1280x900; got {text!r}") from None
    return (w, h)
