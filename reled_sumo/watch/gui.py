"""Watch agents drive in sumo-gui: a reference policy or a trained run.

The env runs with ``render_mode="human"`` (sumo-gui through TraCI, ``--start``), in a
window of ``--window-size`` fitted to the network, agents ringed in red and optionally
followed (``--track``). At the end of the episode the GUI stays open until the user
closes it (unless ``quit_on_end``); closing it earlier ends the episode cleanly.
``record`` assembles SUMO's screenshots into a GIF/MP4 (:mod:`reled_sumo.watch.record`).
"""
from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from reled_sumo.deploy.onnx_eval import check_agents
from reled_sumo.deploy.onnx_policy import OnnxPolicy
from reled_sumo.env import make_env
from reled_sumo.env.acting import DictPolicy, dict_policy, greedy_actions
from reled_sumo.env.make import load_scenario
from reled_sumo.env.policies import get_policy
from reled_sumo.deploy.record import RunRecord
from reled_sumo.errors import SimulationDiedError, UserInputError
from reled_sumo.scenario.sumo_files import net_boundary, read_sumocfg
from reled_sumo.sim import gui
from reled_sumo.watch.record import Recording, assemble, check_output

log = logging.getLogger(__name__)

# env -> DictPolicy (env/acting.py) (a policy may need the env's agent order)
PolicyFactory = Callable[[object], DictPolicy]


@dataclass(frozen=True)
class WatchResult:
    sim_seconds: float
    arrived: int
    agents: int
    mean_travel_time: float
    closed_by_user: bool
    recording: Recording | None = None


def reference_policy(name: str, seed: int = 0) -> PolicyFactory:
    pol = get_policy(name, seed=seed) if name == "random" else get_policy(name)
    return lambda env: pol


def onnx_policy(policy_file: str | Path) -> tuple[PolicyFactory, RunRecord]:
    """An exported ONNX policy (greedy actions, onnxruntime, no torch) and the run it came from."""

    policy = OnnxPolicy(policy_file)

    def factory(env) -> DictPolicy:
        check_agents(policy, env)
        return dict_policy(env.possible_agents, policy.act)

    return factory, policy.record()


def run_policy(run_dir: str | Path) -> tuple[PolicyFactory, RunRecord]:
    """A trained run's policy (deterministic actions) as a policy factory, and the run's record."""
    from reled_sumo.training.checkpoint import load_policy  # lazy: torch

    policy, meta = load_policy(Path(run_dir))

    return (lambda env: dict_policy(env.possible_agents, greedy_actions(policy))), RunRecord.from_meta(meta)


def replay_settings(record: RunRecord, scenario=None, agents: int | None = None) -> tuple[Any, dict[str, Any]]:
    """The scenario and the env settings that replay ``record``: the run's own (agent selection,
    observation settings, horizon, ...), as ``reled eval`` uses them; ``agents`` caps the count."""
    options = record.env_options()
    if agents is not None:
        options["max_agents"] = agents
    return record.target(scenario), options


@dataclass(frozen=True)
class WatchOptions:
    """The GUI window, the followed agent, what happens at the end, and the recording.

    ``record``: a .gif or .mp4 assembled from sumo-gui screenshots taken every
    ``record_every`` simulated seconds (played at ``fps``).
    """

    window_size: tuple[int, int] = (1280, 900)
    track: str | None = None
    quit_on_end: bool = False
    record: Path | None = None
    record_every: float = 5.0
    fps: float = 10.0
    vehicle_scale: float = 6.0


def _begin(scenario) -> float:
    return float(read_sumocfg(Path(scenario.sumocfg)).begin or 0.0)


def watch(scenario, factory: PolicyFactory, seed: int = 0, delay_ms: float = 100.0,
          options: WatchOptions | None = None, headless: bool = False, **env_options) -> WatchResult:
    """Drive one episode in sumo-gui with the policy ``factory(env)`` builds.

    ``headless``: the same episode without sumo-gui (no window, no recording): what the GUI shows,
    for checks on a machine without a display."""


    opts = options or WatchOptions()
    sc = load_scenario(scenario)
    if headless:
        env = make_env(sc, **{**env_options, "render_mode": None, "seed": seed})
        _check_track(env, opts)
        return WatchResult(*_drive(env, factory(env), seed, opts, None))
    record = check_output(opts.record) if opts.record is not None else None
    view = gui.GuiView(net_boundary(sc.net_file), opts.window_size, opts.vehicle_scale, delay_ms)
    horizon = float(env_options.get("horizon") or sc.duration)
    with tempfile.TemporaryDirectory(prefix="reled-watch-") as tmp:
        frames = Path(tmp) / "frames"
        frames.mkdir()
        times = gui.snapshot_times(_begin(sc), horizon, opts.record_every) if record else []
        args = gui.gui_args(view, Path(tmp) / "gui.xml", frames, times)
        sumo_args = tuple(env_options.get("sumo_args") or ()) + tuple(args)
        env = make_env(sc, **{**env_options, "render_mode": "human", "gui_delay_ms": delay_ms, "seed": seed,
                              "sumo_args": sumo_args})
        _check_track(env, opts)
        result = _drive(env, factory(env), seed, opts, view)
        recording = assemble(frames, record, opts.fps) if record else None
    return WatchResult(*result, recording=recording)


def _check_track(env, opts: WatchOptions) -> None:
    if opts.track is not None and opts.track not in env.possible_agents:
        env.close()
        raise UserInputError(f"--track {opts.track}: not one of the {len(env.possible_agents)} agents "
                             f"({', '.join(env.possible_agents[:3])}, ...)")


def _drive(env, policy: DictPolicy, seed: int, opts: WatchOptions, view) -> tuple[float, int, int, float, bool]:
    """One episode; ``view`` None: headless (no GUI calls)."""
    from reled_sumo.sim import gui  # lazy: sumo-gui's helpers

    arrived, closed, tracking = 0, False, False
    times: list[float] = []
    seen: set[str] = set()
    try:
        obs, infos = env.reset(seed=seed)
        if view is not None:
            gui.fit_view(env.session, view)
        while env.agents:
            new = set(env.agents) - seen if view is not None else set()  # headless: no GUI calls
            for a in new:
                gui.highlight(env.session, a, gui.ring_size(view))
                seen.add(a)
                if a == opts.track and not tracking:
                    gui.track(env.session, a)
                    tracking = True
            obs, _, terms, truncs, infos = env.step(policy(obs, infos))
            for a, done in terms.items():
                if done:
                    arrived += 1
                    times.append(float(infos[a].get("travel_time", 0.0)))
        if view is not None and not opts.quit_on_end:
            log.warning("episode finished at t=%.0f s; close the sumo-gui window to exit", env.sim_time)
            gui.wait_until_closed(env.session)
    except SimulationDiedError:
        log.info("sumo-gui was closed")
        closed = True
    finally:
        sim_time = env.sim_time
        env.close()
    mean = sum(times) / len(times) if times else float("nan")
    return sim_time, arrived, len(env.possible_agents), mean, closed
