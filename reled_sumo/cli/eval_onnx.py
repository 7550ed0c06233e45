"""`reled eval --policy-file policy.onnx`: an exported policy driven by onnxruntime (no torch import)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from rich import box
from rich.table import Table

from reled_sumo.cli.common import console, show_table


def eval_onnx(policy_file: Path, scenario: Optional[str], seeds: int) -> None:
    from reled_sumo.deploy.onnx_eval import evaluate_onnx  # lazy: sumo

    with console.status(f"evaluating {policy_file} on {seeds} seed(s) with onnxruntime..."):
        res = evaluate_onnx(policy_file, seeds, scenario)
    t = Table(title=f"{res.method} on {res.scenario} (onnxruntime)", box=box.SIMPLE_HEAD, pad_edge=False)
    for h in ("seed", "travel s", "P95 s", "incl. non-arrived s", "arrival", "telep."):
        t.add_column(h, justify="right")
    for m in res.per_seed:
        t.add_row(str(m.seed), f"{m.mean_travel_time:.1f}", f"{m.p95_travel_time:.1f}", f"{m.censored_travel_time:.1f}",
                  f"{m.arrival_rate:.2f}", str(m.teleports))
    show_table(t)
