"""`reled export`: a trained run's actor as a deployable ONNX file."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from reled_sumo.cli.common import console, guarded
from reled_sumo.deploy.onnx_policy import OnnxPolicy
from reled_sumo.errors import UserInputError


@guarded
def export_cmd(
    run: Path = typer.Option(..., "--run", "-r", help="Training run folder (or its checkpoint.pt)."),
    fmt: str = typer.Option("onnx", "--format", help="Export format: onnx."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output file (default: <run>/policy.onnx)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file that reled did not write."),
) -> None:
    """Export the trained actor: (obs, agent_index, mask) -> (action, logits); see docs/deploy.md."""
    if fmt.lower() != "onnx":
        raise UserInputError(f"unknown export format {fmt!r}; supported: onnx")
    from reled_sumo.training.onnx_export import export_onnx  # lazy: torch

    path = export_onnx(run, out, force=force)
    pol = OnnxPolicy(path)
    rec = pol.record()
    console.print(f"wrote [bold]{path}[/bold] ({path.stat().st_size / 1024:.0f} KiB): {rec.policy_kind} policy, "
                  f"{len(rec.agents)} agents on {rec.scenario}, obs {pol.obs_dim}, actions {pol.n_actions}")
