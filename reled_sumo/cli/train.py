"""`reled train`: thin CLI over :class:`reled_sumo.training.trainer.Trainer`.

Wire it with ``app.command("train")(train_cmd)``.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Optional

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from reled_sumo.cli.common import err_console, guarded, scenario_option, show_table
from reled_sumo.errors import UserInputError


def _overrides(scenario, algo, agents, steps, seed, expert, model, no_sed, fixed_weight, policy,
               workers=None, episodes=None, timeout=None, retries=None, select=None,
               prior_tau=None, llm_mode=None, ray_address=None, round_timeout=None,
               updates=None, overlap=None, episode_workers=None) -> dict[str, Any]:
    out: dict[str, Any] = {"scenario": scenario, "algo": algo, "env.max_agents": agents, "total_decisions": steps,
                           "seed": seed, "expert.kind": expert, "expert.model": model, "hpo.policy": policy,
                           "rollout_workers": workers, "episodes_per_update": episodes,
                           "expert.timeout_s": timeout, "expert.retries": retries,
                           "expert.round_timeout_s": round_timeout, "env.agent_selection": select,
                           "hpo.prior_tau": prior_tau, "expert.mode": llm_mode,
                           "ray_address": ray_address, "total_updates": updates, "overlap_rollouts": overlap,
                           "episode_workers": episode_workers}
    if no_sed:
        out["no_sed"] = True
    if fixed_weight is not None:
        out.update({"hpo.weight.mode": "fixed", "hpo.weight.fixed_weight": fixed_weight})
    return out


def _workers_arg(value: str | None) -> int | str | None:
    """``--episode-workers``: a whole number >= 0 or ``auto``."""
    if value is None or value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise UserInputError(f"--episode-workers must be a whole number or 'auto', got {value!r}") from None


def _latest_run(root: Path, prefix: str) -> Path:
    runs = sorted(p for p in root.glob(prefix + "*") if (p / "checkpoint.pt").is_file())
    if not runs:
        raise UserInputError(f"--resume: no run {root / prefix}* with a checkpoint; name it with --out DIR")
    return runs[-1]


@guarded
def train_cmd(
    scenario: Optional[str] = scenario_option(False),
    algo: Optional[str] = typer.Option(None, "--algo", help="reled | ippo | mappo | bc (default reled)."),
    agents: Optional[str] = typer.Option(None, "--agents", help="Control the first N agents (env max_agents), "
                                         "or 'all': every agent vehicle of the scenario."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Budget in agent decisions."),
    updates: Optional[int] = typer.Option(None, "--updates", help="Budget in PPO updates instead of decisions "
                                          "(one update per --episodes-per-update episodes)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Run seed (network init, episodes, SED)."),
    expert: Optional[str] = typer.Option(None, "--expert", help="routing | ollama | agents-eq (who writes the demonstrations)."),
    model: Optional[str] = typer.Option(None, "--model", help="Ollama model for --expert ollama."),
    llm_mode: Optional[str] = typer.Option(None, "--llm-mode", help="path | routes: the LLM writes junction "
                                           "paths, or picks one of a few named routes per agent."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML config: a file, or a bundled name (default: `default`, the settings that learn; ci)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default runs/<id>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out (or the latest matching run)."),
    no_sed: bool = typer.Option(False, "--no-sed", help="Ablation: one expert pass, never refined or refreshed."),
    fixed_weight: Optional[float] = typer.Option(None, "--fixed-weight", help="Ablation: constant expert weight w."),
    policy: Optional[str] = typer.Option(None, "--policy", help="shared | per-agent."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Rollout worker processes, one SUMO each "
                                          "(0 = in this process). Use with --episodes-per-update >= N."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Run the --workers as Ray actors: "
                                              "local (start Ray here), auto (this machine's cluster) or a "
                                              "cluster address; needs pip install -e '.[ray]'. none: the "
                                              "process pool (e.g. to resume a Ray run without Ray)."),
    episodes: Optional[int] = typer.Option(None, "--episodes-per-update", help="Episodes collected per update."),
    select: Optional[str] = typer.Option(None, "--select", help="Which agents: first (by departure) or busy "
                                         "(departing once the network is loaded, env.busy_from_s)."),
    prior_tau: Optional[float] = typer.Option(None, "--prior-tau", help="Seconds; > 0 starts the policy at "
                                              "logits -extra_time/tau (shortest-path prior), 0 = off."),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="Seconds for one whole LLM answer "
                                            "(--expert ollama; default 120; the health check has its own 5 s)."),
    retries: Optional[int] = typer.Option(None, "--retries", help="Extra attempts per LLM request (default 2)."),
    round_timeout: Optional[float] = typer.Option(None, "--round-timeout", help="Seconds for all LLM answers "
                                                  "of one demo round (default 600)."),
    overlap: Optional[bool] = typer.Option(None, "--overlap/--no-overlap", help="Play the next update's episodes "
                                           "on a worker process while the learner updates (policy lag 1; "
                                           "overlap_rollouts, docs/performance.md)."),
    episode_workers: Optional[str] = typer.Option(None, "--episode-workers", help="Play an update's episodes "
                                                  "at once on the learner and N worker processes (needs "
                                                  "--episodes-per-update > N), or 'auto' (the default: one "
                                                  "per spare core; docs/performance.md)."),
) -> None:
    """Train routing agents (RELED, IPPO, MAPPO or behaviour cloning); writes runs/<id>/."""
    from reled_sumo.scenario.demand import parse_agents  # lazy: scipy
    from reled_sumo.training.config import default_config_path, load_config  # lazy: torch
    from reled_sumo.training.trainer import Trainer, default_run_id  # lazy: torch

    no_ray = ray_address is not None and ray_address.strip().lower() == "none"
    n_agents, every = parse_agents(agents)
    ov = _overrides(scenario, algo, n_agents, steps, seed, expert, model, no_sed, fixed_weight, policy,
                    workers, episodes, timeout, retries, select, prior_tau, llm_mode, None if no_ray else ray_address,
                    round_timeout, updates, overlap, _workers_arg(episode_workers))
    if resume:
        base = load_config(config or default_config_path(), ov)
        out = out or _latest_run(Path("runs"), default_run_id(base).rsplit("-", 2)[0] + "-")
        cfg = load_config(out / "config.yaml", ov)  # the run's own settings; flags may only extend --steps
    else:
        cfg = load_config(config or default_config_path(), ov)
    if no_ray and cfg.ray_address is not None:
        cfg = dataclasses.replace(cfg, ray_address=None)
    if every:  # no cap, no share, no window: every agent vehicle of the scenario is controlled
        cfg = dataclasses.replace(cfg, env=cfg.env.replace(max_agents=None, agent_share=None, depart_window=None))
    bar = RichProgress(cfg.total_updates or cfg.total_decisions, "updates" if cfg.total_updates else "decisions")
    trainer = Trainer(cfg, run_dir=out, callback=bar, resume=resume)  # type: ignore[arg-type]  # a duck-typed TrainCallback
    try:
        with bar:
            result = trainer.run()
    except KeyboardInterrupt:
        if trainer.checkpoint_path.is_file():
            err_console.print(f"[yellow]interrupted[/yellow]: checkpoint saved in {trainer.run_dir}; "
                              f"continue with `reled train --resume --out {trainer.run_dir}`")
        else:
            err_console.print("[yellow]interrupted[/yellow] before the first checkpoint; nothing to resume")
        raise typer.Exit(code=130) from None
    show_table(summary_table(result))


class RichProgress:
    """Training callback drawing a rich progress bar (steps, decisions/s, mean travel time, ETA)."""

    def __init__(self, total: int, unit: str = "decisions"):
        self.unit = unit
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(),
            TextColumn("{task.completed:,.0f}/{task.total:,.0f} " + unit),
            TextColumn("{task.fields[dps]} dec/s"), TextColumn("tt {task.fields[tt]}"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=err_console, transient=False)
        self.task = self.progress.add_task("setup", total=total, dps="-", tt="-")

    def __enter__(self) -> "RichProgress":
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def on_start(self, trainer) -> None:
        done = trainer.state.updates if self.unit == "updates" else trainer.state.decisions
        self.progress.update(self.task, description=trainer.cfg.algo, completed=done)

    def on_phase(self, text: str) -> None:
        self.progress.update(self.task, description=text)

    def on_sed_round(self, m) -> None:
        self.progress.update(self.task, description=f"SED round {m.round}: tt {m.mean_travel_time:.0f} s")

    def on_update(self, r) -> None:
        tt = "-" if math.isnan(r.mean_travel_time) else f"{r.mean_travel_time:.0f} s"
        done = r.update if self.unit == "updates" else min(r.decisions, r.total_decisions)
        self.progress.update(self.task, description=f"update {r.update}", completed=done,
                             dps=f"{r.decisions_per_s:,.0f}", tt=tt)

    def on_end(self, result) -> None:
        self.progress.update(self.task, description="done")


def summary_table(result) -> Table:
    t = Table(title=f"training run {result.run_dir}", show_header=False)
    r = result.last
    rows = [("updates", f"{result.updates}"), ("agent decisions", f"{result.decisions:,}"),
            ("episodes", f"{result.episodes}"), ("wall time", f"{result.wall_seconds:.1f} s"),
            ("decisions/s (end to end)", f"{result.decisions_per_s:,.0f}")]
    if r is not None:
        rows += [("last mean travel time", f"{r.mean_travel_time:.1f} s"),
                 ("last p95 travel time", f"{r.p95_travel_time:.1f} s"),
                 ("last arrival rate", f"{r.arrival_rate:.2f}"), ("last mean return", f"{r.mean_return:.3f}")]
        if r.w_max > 0 or not math.isnan(r.dtw_mean):
            rows += [("expert weight mean / max", f"{r.w_mean:.3f} / {r.w_max:.3f}"),
                     ("DTW mean", f"{r.dtw_mean:.1f} m")]
    rows.append(("checkpoint", str(result.checkpoint)))
    for k, v in rows:
        t.add_row(k, v)
    return t
