"""`reled bench train` and `reled bench learn` (docs/benchmarks.md).

They are registered on the `bench` sub-app in :mod:`reled_sumo.cli.app`.

``python -m reled_sumo.cli.bench_learn train|learn ...`` runs them standalone.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from reled_sumo.cli.bench import _ints, fmt, rows_table
from reled_sumo.cli.common import (
    agents_option, console, guarded, json_option, scenario_option, seed_option, setup_logging,
)


def _print_rows(title: str, rows: list[dict], columns, as_json: bool) -> None:
    if as_json:
        for r in rows:
            print(json.dumps(r))  # noqa: T201 - JSON lines on stdout are the command's output
    else:
        need = sum(max(len(c), *(len(fmt(r.get(c, ""))) for r in rows)) + 3 for c in columns) + 1
        out = console if console.width >= need else Console(width=need, highlight=False)
        out.print(rows_table(title, rows, columns))  # full column names even in a narrow / piped console


@guarded
def train_bench_cmd(
    scenario: str = scenario_option(),
    agents: Optional[int] = agents_option(20),
    steps: int = typer.Option(5000, "--steps", help="Training budget per algo, in agent decisions."),
    algos: str = typer.Option("ippo,reled", "--algo", help="Comma-separated algos to train."),
    env_episodes: int = typer.Option(2, "--env-episodes", help="Timed env-only episodes (+1 warm-up)."),
    ensemble: str = typer.Option("10,50,100", "--ensemble-agents", help="N for shared vs per-agent ('' skips)."),
    batch: Optional[int] = typer.Option(None, "--batch", help="Decisions per policy call (default B = N)."),
    config: Optional[Path] = typer.Option(None, "--config", help="TrainConfig YAML for the training runs."),
    seed: int = seed_option(),
    out: Optional[Path] = typer.Option(None, "--out", help="Keep the training runs here (default: temp)."),
    as_json: bool = json_option("Print JSON lines instead of tables."),
    workers: str = typer.Option("0", "--workers", help="Comma-separated rollout worker counts to train with "
                                "(0 = in-process), e.g. 0,2."),
    overlap: str = typer.Option("0", "--overlap", help="Comma-separated overlap_rollouts settings to train with "
                                "(0 = off, 1 = next episodes on a worker during learning), e.g. 0,1."),
) -> None:
    """Training vs env-only decisions/s (same env options, same run) and shared vs per-agent policy cost."""
    from reled_sumo.bench.train import (  # lazy: torch
        ENSEMBLE_COLUMNS, GOAL_RATIO, THROUGHPUT_COLUMNS, TrainBench, bench_ensemble, bench_train_throughput,
    )

    b = TrainBench(scenario, agents, steps, tuple(a.strip() for a in algos.split(",") if a.strip()), env_episodes,
                   seed, str(config) if config else None, workers=tuple(_ints(workers)),
                   overlap=tuple(bool(v) for v in _ints(overlap)))
    rows = bench_train_throughput(b, out)
    _print_rows(f"training vs env-only decisions/s ({scenario}, goal: train-rollout ratio >= {GOAL_RATIO})",
                rows, THROUGHPUT_COLUMNS, as_json)
    ns = _ints(ensemble)
    if ns:
        ens = bench_ensemble(ns, batch)
        _print_rows("µs per policy call (1 torch thread): per-agent ensemble vs shared; the rollout act, "
                    "numpy copy vs torch", ens, ENSEMBLE_COLUMNS, as_json)


@guarded
def learn_cmd(
    suite: str = typer.Option("small", "--suite", help="small | ablation | budget | focus | quick | paper | ci, or a suite YAML file."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default bench/learn-<suite>)."),
    jobs: Optional[int] = typer.Option(None, "--jobs", help="Tasks at a time: processes here (default 1), or "
                                       "Ray tasks with --ray-address (default: the cluster's CPUs)."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Run the tasks as Ray tasks: local "
                                              "(start Ray here), auto (the cluster this machine is in) or a "
                                              "cluster address; --out and $RELED_HOME must be on a filesystem "
                                              "every node shares. Needs pip install -e '.[ray]'."),
    ray_task_cpus: float = typer.Option(1.0, "--ray-task-cpus", help="CPUs Ray reserves per task."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the tasks and whether they are done; run nothing."),
    report_only: bool = typer.Option(False, "--report-only", help="Rewrite report.md from the finished tasks."),
    force: bool = typer.Option(False, "--force", help="Overwrite a report.md in --out that reled did not write."),
) -> None:
    """Run a learning suite (methods x cities x agents x seeds + references + generalization); resumable."""
    from reled_sumo.bench.suite import load_suite, pending  # lazy: torch
    from reled_sumo.bench.suite_report import run_and_report, write_suite_report  # lazy: torch

    spec = load_suite(suite)
    folder = out or Path("bench") / f"learn-{spec.name}"
    todo, done = pending(spec, folder)
    if dry_run:
        for t in done + todo:
            console.print(f"{'done ' if t in done else 'to do'}  {t.key}", highlight=False)
        console.print(f"{len(done)} done, {len(todo)} to do in {folder}")
        return
    if report_only:
        console.print(f"wrote {write_suite_report(spec, folder, force)}")
        return
    console.print(f"suite {spec.name}: {len(done)} task(s) done, {len(todo)} to run in {folder}")
    count, t0 = iter(range(1, len(todo) + 1)), time.monotonic()

    def done_line(task) -> None:
        minutes = (time.monotonic() - t0) / 60
        console.print(f"[{next(count)}/{len(todo)}] {task.key}  ({minutes:.1f} min)", highlight=False)

    res, report = run_and_report(spec, folder, jobs, on_done=done_line, force=force, ray_address=ray_address,
                                 ray_task_cpus=ray_task_cpus)
    console.print(f"ran {len(res.ran)}, skipped {len(res.skipped)} finished in {res.seconds:.0f} s; "
                  f"report: {report}")


def _verbosity(verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="-v info, -vv debug.")) -> None:
    setup_logging(verbose)


def _app() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)
    app.callback()(_verbosity)
    app.command("train")(train_bench_cmd)
    app.command("learn")(learn_cmd)
    return app


if __name__ == "__main__":
    _app()()
