"""`reled demo ...`: generate and inspect expert demonstrations (SED loop)."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Optional

import typer
from rich import box
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from reled_sumo.cli.common import agents_option, console, guarded, scenario_option, seed_option, show_table
from reled_sumo.demos.stationarity import BoundConfig
from reled_sumo.demos.trajectory import DemoSet

app = typer.Typer(help="Expert demonstrations: generate with the SED loop, show.", no_args_is_help=True)

# (metric key, column header, format)
ROUND_COLUMNS = (("round", "round", "{}"), ("mean_travel_time", "travel_s", "{:.1f}"),
                 ("arrival_rate", "arrival", "{:.2f}"), ("mean_bound", "mean_B", "{:.3f}"),
                 ("accepted", "acc", "{}"), ("revised", "rev", "{}"), ("llm_calls", "llm", "{}"),
                 ("repairs", "repair", "{}"), ("fallbacks", "fallbk", "{}"), ("cache_hits", "cache", "{}"),
                 ("seconds", "wall_s", "{:.1f}"))


def rounds_table(metrics: list[dict]) -> Table:
    t = Table(title="SED rounds", box=box.SIMPLE_HEAD, pad_edge=False)
    for _, header, _ in ROUND_COLUMNS:
        t.add_column(header, justify="right")
    for m in metrics:
        t.add_row(*(fmt.format(m[key]) for key, _, fmt in ROUND_COLUMNS))
    return t


@app.command("generate")
@guarded
def generate_cmd(
    scenario: str = scenario_option(),
    expert: str = typer.Option("routing", "--expert", help="routing (no LLM), agents-eq (the agents-only "
                               "equilibrium, no LLM) or ollama."),
    model: Optional[str] = typer.Option(None, "--model", help="Ollama model (default qwen2.5:7b-instruct)."),
    host: Optional[str] = typer.Option(None, "--host", help="Ollama host (default $OLLAMA_HOST or 127.0.0.1:11434)."),
    llm_mode: str = typer.Option("path", "--llm-mode", help="path | routes: the LLM writes junction paths, "
                                 "or picks one of a few named routes per agent."),
    rounds: int = typer.Option(3, "--rounds", help="SED refinement rounds."),
    divergence: str = typer.Option("jaccard", "--divergence", help="Subset divergence in the SED bound: "
                                   "jaccard (route edge sets) or js (junction-choice distributions)."),
    agents: Optional[int] = agents_option(),
    seed: int = seed_option(),
    fallback: bool = typer.Option(False, "--fallback/--no-fallback", help="Route with the routing expert if Ollama is down."),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="Seconds for one whole LLM answer "
                                            "(default 120; the health check has its own 5 s)."),
    retries: Optional[int] = typer.Option(None, "--retries", help="Extra attempts per LLM request (default 2)."),
    round_timeout: Optional[float] = typer.Option(None, "--round-timeout", help="Seconds for all LLM answers "
                                                  "of one SED round (default 600)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default runs/demos/<scenario>-<expert>-s<seed>)."),
) -> None:
    """Generate demonstrations with the SED loop and save them."""

    from reled_sumo.env import make_env  # lazy: sumo
    from reled_sumo.experts.factory import ExpertOptions, make_expert  # lazy: scipy
    from reled_sumo.experts.sed import SEDConfig, refine  # lazy: sumo

    cfg = SEDConfig(rounds=rounds, seed=seed, bound=BoundConfig(divergence=divergence))
    limits = {k: v for k, v in (("timeout_s", timeout), ("retries", retries), ("round_timeout_s", round_timeout))
              if v is not None}
    opts = ExpertOptions(kind=expert, model=model, host=host,  # type: ignore[arg-type]  # validated
                         fallback_on_unavailable=fallback, mode=llm_mode, **limits)  # type: ignore[arg-type]
    env = make_env(scenario, seed=seed, max_agents=agents)
    try:
        exp = make_expert(opts, env=env)
        with Progress(TextColumn("SED"), BarColumn(), TextColumn("round {task.completed}/{task.total}"),
                      TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task("sed", total=rounds)
            demos, history = refine(env, exp, cfg, on_round=lambda m: bar.advance(task))
    finally:
        env.close()
    dest = out or Path("runs") / "demos" / f"{env.scenario.name}-{expert}-s{seed}"
    written = demos.meta.get("written_by", {})
    llm_wrote = written.get("llm", 0) + written.get("repaired", 0) > 0
    ollama = getattr(getattr(exp, "config", None), "ollama", None)
    model = ollama and ollama.model
    demos = demos.with_meta(scenario=env.scenario.name, scenario_hash=env.scenario.scenario_hash,
                            llm_mode=llm_mode if expert == "ollama" else None,
                            model=model if llm_wrote else None, requested_model=model)
    demos.save(dest)
    show_table(rounds_table([asdict(m) for m in history]))
    console.print(f"saved {len(demos)} demonstrations to {dest} (written by: "
                  f"{', '.join(f'{k} {v}' for k, v in written.items()) or 'none'})")


@app.command("show")
@guarded
def show_cmd(path: Path = typer.Argument(..., help="A demonstration folder.")) -> None:
    """Show a demonstration set: provenance, per-round metrics, per-agent summary."""

    ds = DemoSet.load(path)
    meta = dict(ds.meta)
    console.print(f"expert: {meta.get('expert')}  scenario: {meta.get('scenario')} "
                  f"({meta.get('scenario_hash')})  rounds: {meta.get('rounds')}  model: {meta.get('model')}")
    written = meta.get("written_by") or {}
    if not written and meta.get("sources"):  # sets saved before written_by was recorded
        values = list(meta["sources"].values())
        written = {s: values.count(s) for s in sorted(set(values))}
    if written:
        console.print("written by: " + ", ".join(f"{k} {v}" for k, v in written.items()))
    if meta.get("metrics"):
        show_table(rounds_table(meta["metrics"]))
    t = Table(title=f"{len(ds)} trajectories")
    for c in ("agent", "written by", "decisions", "edges", "travel time (s)", "arrived", "return", "bound"):
        t.add_column(c, justify="right")
    bound, sources = meta.get("bound", {}), meta.get("sources", {})
    for tr in list(ds.trajectories.values())[:30]:
        t.add_row(tr.agent_id, sources.get(tr.agent_id, "?"), str(tr.length), str(len(tr.edges)), f"{tr.travel_time:.1f}", str(tr.arrived),
                  f"{tr.ret:.3f}", f"{bound.get(tr.agent_id, float('nan')):.3f}")
    show_table(t)
