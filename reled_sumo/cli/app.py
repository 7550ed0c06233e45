"""The `reled` command: thin Typer sub-apps over the library."""
from __future__ import annotations

from typing import Optional

import typer

from reled_sumo.cli import bench as bench_cli
from reled_sumo.cli import demo as demo_cli
from reled_sumo.cli import llm as llm_cli
from reled_sumo.cli import scenario as scenario_cli
from reled_sumo.cli.bench_learn import learn_cmd, train_bench_cmd
from reled_sumo.cli.bench_llm import llm_cmd
from reled_sumo.cli.common import console, guarded, scenario_option, setup_logging
from reled_sumo.cli.doctor import doctor_cmd
from reled_sumo.cli.eval import eval_cmd
from reled_sumo.cli.export import export_cmd
from reled_sumo.cli.train import train_cmd
from reled_sumo.cli.watch import watch_cmd

app = typer.Typer(help="reled-sumo: multi-agent RL with expert demonstrations on real-city SUMO traffic.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
app.add_typer(scenario_cli.app, name="scenario")
app.add_typer(demo_cli.app, name="demo")
app.add_typer(llm_cli.app, name="llm")
bench_cli.app.command("train")(train_bench_cmd)
bench_cli.app.command("learn")(learn_cmd)
bench_cli.app.command("llm")(llm_cmd)
app.add_typer(bench_cli.app, name="bench")
app.command("doctor")(doctor_cmd)
app.command("train")(train_cmd)
app.command("eval")(eval_cmd)
app.command("export")(export_cmd)
app.command("watch")(watch_cmd)


@app.callback()
def _root(verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="-v info, -vv debug logs.")) -> None:
    setup_logging(verbose)


@app.command("sumo")
@guarded
def sumo_cmd(
    scenario: str = scenario_option(),
    gui: bool = typer.Option(False, "--gui", help="Open sumo-gui instead of headless sumo."),
    end: Optional[float] = typer.Option(None, "--end", help="Simulated seconds (default: scenario duration)."),
) -> None:
    """Run the scenario plainly in SUMO with no control (the speed and travel-time baseline)."""
    from reled_sumo.scenario import resolve_scenario  # lazy: startup
    from reled_sumo.sim.plain import run_plain  # lazy: sumo

    r = run_plain(resolve_scenario(scenario), end=end, gui=gui)
    console.print(f"simulated {r.sim_seconds:g} s in {r.wall_seconds:.2f} s wall ({r.speedup:.0f}x real time); "
                  f"inserted {r.inserted}, arrived {r.arrived}, teleports {r.teleports}, "
                  f"mean travel time {r.mean_travel_time:.1f} s; agents arrived {r.agents_arrived}, "
                  f"agents' mean travel time {r.agents_mean_travel_time:.1f} s")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
