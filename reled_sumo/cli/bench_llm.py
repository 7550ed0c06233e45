"""`reled bench llm`: answer quality, latency, tokens and demonstration quality of LLM experts.

Wire it with ``bench_app.command("llm")(llm_cmd)``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from reled_sumo.cli.bench import _ints, rows_table
from reled_sumo.cli.common import agents_option, guarded, scenario_option, show_table


def _names(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


@guarded
def llm_cmd(
    scenario: str = scenario_option(),
    models: str = typer.Option("smollm2:135m", "--models", help="Comma-separated model names on the server."),
    modes: str = typer.Option("path,routes", "--modes", help="Comma-separated LLM modes: path, routes."),
    seeds: str = typer.Option("0", "--seeds", help="Comma-separated seeds (the routing expert runs on each)."),
    agents: int = agents_option(20),
    rounds: int = typer.Option(1, "--rounds", help="SED rounds per run."),
    host: Optional[str] = typer.Option(None, "--host", help="Ollama (or local server) URL; default $OLLAMA_HOST."),
    timeout: float = typer.Option(600.0, "--timeout", help="Seconds to wait for one answer."),
    max_edges: int = typer.Option(200, "--max-edges", help="Path mode: corridor edges per prompt (fit the context)."),
    max_subset: int = typer.Option(6, "--max-subset", help="Agents per prompt."),
    out: Optional[Path] = typer.Option(None, "--out", help="Also append the JSON lines to this file."),
) -> None:
    """Ask the model(s) in each mode on the same seeds as the routing expert; JSON lines, then a table."""
    from reled_sumo.bench.llm import LLMBenchConfig, jsonable, run_llm_bench, summary_columns  # lazy: scipy

    cfg = LLMBenchConfig(scenario=scenario, models=_names(models), modes=_names(modes), seeds=tuple(_ints(seeds)),
                         agents=agents, rounds=rounds, host=host, timeout_s=timeout, max_edges=max_edges,
                         max_subset=max_subset)
    sink = out.open("a", encoding="utf-8") if out else None

    def on_row(row: dict) -> None:
        line = json.dumps(jsonable(row))
        print(line, flush=True)
        if sink is not None:
            sink.write(line + "\n")
            sink.flush()

    try:
        rows = run_llm_bench(cfg, on_row)
    finally:
        if sink is not None:
            sink.close()
    show_table(rows_table(f"LLM experts on {scenario} ({agents} agents, {rounds} SED round(s))",
                             [r for r in rows if r["expert"] == "llm"], summary_columns()))
