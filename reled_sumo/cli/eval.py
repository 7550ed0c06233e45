"""`reled eval`: evaluate trained runs and/or references; print a table, write report.md + plots.

Wire into the root app with ``app.command("eval")(eval_cmd)``.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import numpy as np
import typer
from rich import box
from rich.table import Table

from reled_sumo.cli.common import console, guarded, show_table
from reled_sumo.cli.eval_onnx import eval_onnx
from reled_sumo.errors import UserInputError


@guarded
def eval_cmd(
    run: Optional[List[Path]] = typer.Option(None, "--run", "-r", help="Run folder (repeatable)."),
    scenario: Optional[str] = typer.Option(
        None, "--scenario", "-s", help="Scenario for references (default: the first run's scenario)."),
    seeds: int = typer.Option(20, "--seeds", min=1, help="Evaluation episodes (seeds) per method, shared by "
                              "all methods (paired comparisons need >= 10; 20 by default)."),
    references: Optional[str] = typer.Option(
        None, "--references", help="Comma list of random,shortest,live,routing,agents-eq,sumo-rerouting,due "
        "(default with --scenario alone: all; with --run: none)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default: first run, "
                                       "or ./eval/<scenario>)."),
    due_iterations: int = typer.Option(5, "--due-iterations", min=1, help="duaIterate.py iterations for 'due'."),
    rerouting_period: float = typer.Option(30.0, "--rerouting-period", help="Rerouting period (s) for "
                                           "'sumo-rerouting'."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Recompute the cached DUE routes."),
    policy_file: Optional[Path] = typer.Option(None, "--policy-file", help="An exported ONNX policy: evaluate it "
                                               "with onnxruntime (no torch)."),
    force: bool = typer.Option(False, "--force", help="Overwrite report.md, plots or results in --out that "
                               "reled did not write."),
) -> None:
    """Evaluate trained runs and non-learning references on the same agents and seeds."""
    if policy_file is not None:
        if run or references:
            raise UserInputError("--policy-file is evaluated alone (no --run or --references)")
        return eval_onnx(policy_file, scenario, seeds)
    from reled_sumo.evaluation.evaluate import evaluate_run  # lazy: torch

    # lazy: sumo
    from reled_sumo.evaluation.references import REFERENCES, ReferenceConfig, evaluate_reference, parse_references
    from reled_sumo.evaluation.paired import learned_vs_references  # lazy: scipy
    from reled_sumo.evaluation.report import find_progress, write_report  # lazy: scipy
    from reled_sumo.metrics.results import RESULTS_FILE, save_results  # lazy: scipy

    runs = list(run or [])
    if not runs and not scenario:
        raise UserInputError("give at least one --run folder or a --scenario for references")
    refs = parse_references(references) if references is not None else (() if runs else REFERENCES)
    cfg = ReferenceConfig(due_iterations=due_iterations, rerouting_period=rerouting_period, use_cache=not no_cache)
    if out or runs:  # refuse before the evaluation, not after it
        _check_outputs(out or runs[0], force)
    results, logs = [], {}
    with console.status("evaluating...") as status:
        for rd in runs:
            status.update(f"evaluating run {rd} on {seeds} seed(s)...")
            res = evaluate_run(rd, seeds)
            results.append(res)
            if (p := find_progress(rd)) is not None:
                logs[res.method] = p
        ref_scenario, env_opts = _reference_target(scenario, results)
        for name in refs:
            status.update(f"evaluating reference {name} on {seeds} seed(s)...")
            results.append(evaluate_reference(name, ref_scenario, seeds, env_opts, cfg))
    out_dir = out or (runs[0] if runs else Path("eval") / results[0].scenario)
    _check_outputs(out_dir, force)
    files = write_report(results, out_dir, logs, force=force)
    save_results(results, Path(out_dir) / RESULTS_FILE, force=force)
    show_table(results_table(results))
    for c in learned_vs_references(results):
        console.print(f"{c.method} {c.sentence()}")
    console.print(f"wrote [bold]{files.markdown}[/bold] and {len(files.plots)} plot(s) in {Path(out_dir)}")


def _check_outputs(out_dir: Path, force: bool) -> None:
    """Refuse (before any work) to overwrite files in ``out_dir`` that reled did not write."""
    from reled_sumo.evaluation.report import report_files  # lazy: scipy
    from reled_sumo.metrics.results import RESULTS_FILE  # lazy: scipy
    from reled_sumo.safe_write import check_output  # lazy: hashlib, only when writing

    for f in (*report_files(out_dir), Path(out_dir) / RESULTS_FILE):
        check_output(f, force)


def _reference_target(scenario, results):
    """The scenario and env options the references use: --scenario, else the first run's."""
    if scenario:
        env = results[0].meta.get("env", {}) if results else {}
        return scenario, env
    first = results[0]
    return first.meta.get("scenario_path") or first.scenario, first.meta.get("env", {})


def _cell(est, digits: int, ci: bool = True) -> str:
    """``"312.4±5.1"``: no spaces, so that a cell never wraps (report.md has the long form)."""
    if est.n == 0 or est.mean != est.mean:
        return "n/a"
    m = f"{est.mean:.{digits}f}"
    return f"{m}±{est.half_width:.{digits}f}" if ci and est.defined else m


def results_table(results) -> Table:
    """Readable at 80 columns: one line per method; the P95, the waiting time, the return and the long form are
    in report.md.
    Travel time counts every departed agent (those that did not arrive with their time in the network)."""
    header = ("method", "travel s", "median s", "arrival", "telep.", "n")
    t = Table(title="Evaluation (mean±95% CI; travel incl. non-arrived; more in report.md)",
              box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    for i, h in enumerate(header):
        t.add_column(h, justify="left" if i == 0 else "right", no_wrap=True,
                     max_width=22 if i == 0 else None, overflow="ellipsis")
    for r in results:
        s = r.summary()
        tt = r.values("censored_travel_time")
        tt = tt[tt == tt]
        t.add_row(r.method, _cell(r.estimate("censored_travel_time"), 1),
                  f"{float(np.median(tt)):.1f}" if tt.size else "n/a",
                  _cell(s["arrival_rate"], 2), _cell(s["teleports"], 1, ci=False), str(len(r.per_seed)))
    return t
