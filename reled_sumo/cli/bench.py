"""`reled bench ...`: throughput benchmarks that print ratios against a reference measured in the same run."""
from __future__ import annotations

import json
from typing import Optional

import typer
from rich.table import Table

from reled_sumo.cli.common import console, guarded, show_table

app = typer.Typer(help="Benchmarks (ratios against a reference measured in the same run).", no_args_is_help=True)

ENV_COLUMNS = ("agents", "backend", "sim_s", "raw_sim_s_per_wall_s", "env_sim_s_per_wall_s", "ratio_env_to_raw",
               "decisions", "decisions_per_s", "us_per_decision", "overhead_us_per_decision", "arrival_rate")


def _ints(text: str) -> list[int]:
    from reled_sumo.errors import UserInputError

    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserInputError(f"expected a comma-separated list of integers, got {text!r}") from None


def fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"
    return str(v)


# short headers (the --json rows keep the full names)
LABELS = {"raw_sim_s_per_wall_s": "raw sim/wall", "env_sim_s_per_wall_s": "env sim/wall", "ratio_env_to_raw": "env/raw",
          "decisions_per_s": "dec/s", "us_per_decision": "us/dec", "overhead_us_per_decision": "+us/dec",
          "arrival_rate": "arrived", "sim_s_per_wall_s": "sim/wall", "n_workers": "workers",
          "ratio_to_process": "vs process"}
# the columns shown on a terminal without --wide (80 columns)
ENV_NARROW = ("agents", "backend", "raw_sim_s_per_wall_s", "env_sim_s_per_wall_s", "ratio_env_to_raw",
              "decisions_per_s", "us_per_decision", "arrival_rate")
WORKER_NARROW = ("backend", "n_workers", "decisions", "wall_s", "decisions_per_s", "sim_s_per_wall_s", "speedup",
                 "ratio_to_process")


def columns_for(full: tuple[str, ...], narrow: tuple[str, ...], wide: bool) -> tuple[str, ...]:
    """Every column with --wide or when stdout is not a terminal; else the narrow set."""
    return full if wide or not console.is_terminal else narrow


def rows_table(title: str, rows: list[dict], columns, labels: dict | None = None) -> Table:
    t = Table(title=title)
    for c in columns:
        t.add_column((labels or {}).get(c, c), justify="right")
    for r in rows:
        t.add_row(*(fmt(r.get(c, "")) for c in columns))
    return t


@app.command("env")
@guarded
def env_cmd(
    scenario: str = typer.Option(..., "--scenario", "-s", help="Built scenario name or folder."),
    agents: str = typer.Option("10,50,100,200", "--agents", help="Comma-separated agent counts."),
    backends: str = typer.Option("libsumo,traci", "--backends", help="libsumo and/or traci."),
    horizon: Optional[float] = typer.Option(None, "--horizon", help="Simulated seconds (default: scenario)."),
    repeats: int = typer.Option(1, "--repeats", help="Keep the fastest of R runs."),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = typer.Option(False, "--json", help="Also print one JSON line per row."),
    wide: bool = typer.Option(False, "--wide", help="Every column (wider than 80 characters)."),
) -> None:
    """Raw SUMO vs the env driven by `shortest`, with libsumo and TraCI, for several agent counts."""
    from reled_sumo.bench.env import bench_env

    rows = bench_env(scenario, _ints(agents), tuple(b.strip() for b in backends.split(",")), horizon, seed, repeats)
    show_table(rows_table("env vs raw SUMO (same scenario, horizon, seed)", rows,
                          columns_for(ENV_COLUMNS, ENV_NARROW, wide), LABELS))
    if as_json:
        for r in rows:
            print(json.dumps(r))



WORKER_COLUMNS = ("backend", "n_workers", "episodes", "decisions", "wall_s", "decisions_per_s", "sim_s_per_wall_s",
                  "speedup", "ratio_to_process")


@app.command("workers")
@guarded
def workers_cmd(
    scenario: str = typer.Option(..., "--scenario", "-s", help="Built scenario name or folder."),
    workers: str = typer.Option("1,2,4", "--workers", help="Comma-separated pool sizes."),
    episodes: int = typer.Option(8, "--episodes", help="Episodes per pool size (same seeds)."),
    agents: Optional[int] = typer.Option(None, "--agents", help="Control only the first N agents."),
    backend: str = typer.Option("process", "--backend", help="Comma-separated: process (worker processes) "
                                "and/or ray (Ray actors; needs pip install -e '.[ray]')."),
    ray_address: str = typer.Option("local", "--ray-address", help="With --backend ray: local (start Ray "
                                    "here), auto or a cluster address."),
    as_json: bool = typer.Option(False, "--json", help="Also print one JSON line per row."),
    wide: bool = typer.Option(False, "--wide", help="Every column (wider than 80 characters)."),
) -> None:
    """Parallel SUMO rollout workers (one libsumo env per process or Ray actor): decisions/s vs one
    worker of the same backend, and vs the process pool with as many workers."""
    from dataclasses import asdict

    from reled_sumo.scenario import resolve_scenario
    from reled_sumo.bench.workers import bench_workers

    sc = resolve_scenario(scenario)  # workers get the folder, not a name relative to this process
    options = {"max_agents": agents} if agents else None
    backends = tuple(b.strip() for b in backend.split(",") if b.strip())
    rows = [asdict(r) for r in bench_workers(str(sc.path), _ints(workers), episodes, options, backends=backends,
                                             ray_address=ray_address)]
    show_table(rows_table("rollout workers (shortest policy, same seeds)", rows,
                          columns_for(WORKER_COLUMNS, WORKER_NARROW, wide), LABELS))
    if as_json:
        for r in rows:
            print(json.dumps(r))
