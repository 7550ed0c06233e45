"""`reled eval --policy-file policy.onnx`: an exported policy driven by onnxruntime (no torch import)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from rich import box
from rich.table import Table

from reled_sumo.cli.common import console, show_table


def eval_onnx(policy_file: Path, scenario: Optional[str], seeds: int) -> None:
    from reled_sumo.deploy.onnx_eval import evaluate_onnx

    with console.status(f"evaluating {policy_file} on {seeds} seed(s) with onnxruntime..."):
        res = evaluate_onnx(policy_file, seeds, scenario)
    t = Table(title=f"{Path(res.policy_file).name} on {res.scenario} (onnxruntime)", box=box.SIMPLE_HEAD,
              pad_edge=False)
    for i, h in enumerate(("seed", "travel s", "P95 s", "arrival", "telep.", "decisions")):
        t.add_column(h, justify="right")
    for e in res.episodes:
        t.add_row(str(e.seed), f"{e.mean_travel_time:.1f}", f"{e.p95_travel_time:.1f}", f"{e.arrival_rate:.2f}",
                  str(e.teleported), str(e.decisions))
    show_table(t)
