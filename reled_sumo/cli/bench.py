"""`reled bench ...`: throughput benchmarks that print ratios against a reference measured in the same run."""
from __future__ import annotations

import json
from dataclasses import asdict
from typing import Optional

import typer
from rich.table import Table

from reled_sumo.cli.common import agents_option, console, guarded, json_option, scenario_option, seed_option, show_table
from reled_sumo.errors import UserInputError

app = typer.Typer(help="Benchmarks (ratios against a reference measured in the same run).", no_args_is_help=True)

ENV_COLUMNS = ("agents", "backend", "sim_s", "raw_sim_s_per_wall_s", "env_sim_s_per_wall_s", "ratio_env_to_raw",
               "decisions", "decisions_per_s", "us_per_decision", "overhead_us_per_decision", "arrival_rate",
               "cpu_ratio_env_to_raw", "sumo_in_env_to_raw", "env_outside_sumo_share")


def _ints(text: str, option: str = "", minimum: int | None = None) -> list[int]:
    """A comma-separated list of integers, each at least ``minimum``; UserInputError otherwise."""
    what = f"{option} " if option else ""
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserInputError(f"{what}expected a comma-separated list of integers, got {text!r}") from None
    if minimum is not None and (not values or min(values) < minimum):
        raise UserInputError(f"{what}must be a comma-separated list of integers >= {minimum}, got {text!r}")
    return values


def _at_least(option: str, value: int | None, minimum: int = 1) -> None:
    if value is not None and value < minimum:
        raise UserInputError(f"{option} must be an integer >= {minimum}, got {value}")


def fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"
    return str(v)


# short headers (the --json rows keep the full names)
LABELS = {"raw_sim_s_per_wall_s": "raw sim/wall", "env_sim_s_per_wall_s": "env sim/wall", "ratio_env_to_raw": "env/raw",
          "decisions_per_s": "dec/s", "us_per_decision": "us/dec", "overhead_us_per_decision": "+us/dec",
          "arrival_rate": "arrived", "sim_s_per_wall_s": "sim/wall", "n_workers": "workers",
          "ratio_to_process": "vs process", "cpu_ratio_env_to_raw": "env/raw CPU",
          "sumo_in_env_to_raw": "SUMO in env/raw", "env_outside_sumo_share": "outside SUMO"}
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
    scenario: str = scenario_option(),
    agents: str = typer.Option("10,50,100,200", "--agents", help="Comma-separated agent counts."),
    backends: str = typer.Option("libsumo,traci", "--backends", help="libsumo and/or traci."),
    horizon: Optional[float] = typer.Option(None, "--horizon", help="Simulated seconds (default: scenario)."),
    repeats: int = typer.Option(1, "--repeats", help="Keep the fastest of R runs."),
    seed: int = seed_option(),
    as_json: bool = json_option(),
    wide: bool = typer.Option(False, "--wide", help="Every column (wider than 80 characters)."),
) -> None:
    """Raw SUMO vs the env driven by `shortest`, with libsumo and TraCI, for several agent counts."""
    from reled_sumo.bench.env import bench_env  # lazy: sumo

    _at_least("--repeats", repeats)
    rows = bench_env(scenario, _ints(agents, "--agents", 1), tuple(b.strip() for b in backends.split(",")), horizon,
                     seed, repeats)
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
    scenario: str = scenario_option(),
    workers: str = typer.Option("1,2,4", "--workers", help="Comma-separated pool sizes."),
    episodes: int = typer.Option(8, "--episodes", help="Episodes per pool size (same seeds)."),
    agents: Optional[int] = agents_option(),
    backend: str = typer.Option("process", "--backend", help="Comma-separated: process (worker processes) "
                                "and/or ray (Ray actors; needs pip install -e '.[ray]')."),
    ray_address: str = typer.Option("local", "--ray-address", help="With --backend ray: local (start Ray "
                                    "here), auto or a cluster address."),
    as_json: bool = json_option(),
    wide: bool = typer.Option(False, "--wide", help="Every column (wider than 80 characters)."),
) -> None:
    """Parallel SUMO rollout workers (one libsumo env per process or Ray actor): decisions/s vs one
    worker of the same backend, and vs the process pool with as many workers."""

    from reled_sumo.bench.workers import bench_workers  # lazy: sumo
    from reled_sumo.scenario import resolve_scenario  # lazy: startup

    counts = _ints(workers, "--workers", 1)
    _at_least("--episodes", episodes)
    _at_least("--agents", agents)
    sc = resolve_scenario(scenario)  # workers get the folder, not a name relative to this process
    options = {"max_agents": agents} if agents is not None else None
    backends = tuple(b.strip() for b in backend.split(",") if b.strip())
    rows = [asdict(r) for r in bench_workers(str(sc.path), counts, episodes, options, backends=backends,
                                             ray_address=ray_address)]
    show_table(rows_table("rollout workers (shortest policy, same seeds)", rows,
                          columns_for(WORKER_COLUMNS, WORKER_NARROW, wide), LABELS))
    if as_json:
        for r in rows:
            print(json.dumps(r))
