"""``reled export --format onnx``: a run's actor as one ONNX model (see docs/deploy.md).

Shared and per-agent policies alike become one model ``(obs, agent_index, mask) ->
(action, logits)``: a per-agent ensemble selects its member by ``agent_index``. The
exporter is torch's TorchScript-based one (``dynamo=False``: no onnxscript needed);
``onnx.checker`` validates the file and the run's metadata goes into a ``reled``
metadata property.
"""
from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import torch as th
from torch import nn

from reled_sumo.deploy.onnx_policy import FORMAT, INPUTS, META_KEY, OUTPUTS
from reled_sumo.deploy.record import RunRecord
from reled_sumo.errors import ConfigError
from reled_sumo.optim.losses import MASKED_LOGIT
from reled_sumo.safe_write import check_output, output_file
from reled_sumo.training.checkpoint import load_policy

log = logging.getLogger(__name__)

OPSET = 17


class GreedyActor(nn.Module):
    """The deterministic actor of a policy: masked logits and their argmax."""

    def __init__(self, policy: nn.Module):
        super().__init__()
        self.policy = policy

    def forward(self, obs: th.Tensor, agent_index: th.Tensor, mask: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        logits = self.policy.action_logits(obs, agent_index)  # type: ignore[operator]  # nn.Module attribute
        # keep agent_index an input of the graph even when the policy ignores it (shared, no embedding)
        logits = logits + (agent_index.unsqueeze(1) * 0).to(logits.dtype)
        masked = th.where(mask, logits, th.full_like(logits, MASKED_LOGIT))
        return th.argmax(masked, dim=1), masked


def export_meta(meta: dict[str, Any]) -> dict[str, Any]:
    cfg = meta.get("policy_config", {})
    return {"format": FORMAT, "algo": meta.get("algo"), "kind": cfg.get("kind"), "seed": meta.get("seed"),
            "possible_agents": list(meta["possible_agents"]), "n_agents": int(meta["n_agents"]),
            "obs_dim": int(meta["obs_dim"]), "n_actions": int(meta["n_actions"]),
            "masked_logit": MASKED_LOGIT, "scenario": meta.get("scenario"),
            "scenario_hash": meta.get("scenario_hash"), "scenario_path": meta.get("scenario_path"),
            "env": dict(meta.get("env") or {}), "updates": meta.get("updates"), "decisions": meta.get("decisions"),
            "record": RunRecord.from_meta(meta).to_dict()}


def export_onnx(run: str | Path, out: str | Path | None = None, force: bool = False) -> Path:
    """Write the actor of ``run`` as ONNX (default ``<run>/policy.onnx``); return the path.

    A file at the destination that this tool did not write is only replaced with ``force``
    (:func:`reled_sumo.safe_write.output_file`)."""
    import onnx  # lazy: onnx

    run = Path(run)
    if not run.exists():
        raise ConfigError(f"run folder {run} does not exist")
    dest = Path(out) if out is not None else (run if run.is_dir() else run.parent) / "policy.onnx"
    check_output(dest, force)
    policy, meta = load_policy(run)
    dest.parent.mkdir(parents=True, exist_ok=True)
    actor = GreedyActor(policy).eval()
    b, d, k = 2, int(meta["obs_dim"]), int(meta["n_actions"])
    example = (th.zeros(b, d), th.zeros(b, dtype=th.long), th.ones(b, k, dtype=th.bool))
    axes = {"obs": {0: "batch"}, "agent_index": {0: "batch"}, "mask": {0: "batch"},
            "action": {0: "batch"}, "logits": {0: "batch"}}
    with output_file(dest, force) as tmp, th.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter is deprecated, not removed
        th.onnx.export(actor, example, str(tmp), input_names=list(INPUTS), output_names=list(OUTPUTS),
                       dynamic_axes=axes, opset_version=OPSET, dynamo=False)
        model = onnx.load(str(tmp))
        entry = model.metadata_props.add()
        entry.key, entry.value = META_KEY, json.dumps(export_meta(meta))
        model.doc_string = "reled-sumo actor: (obs[B,D], agent_index[B], mask[B,K]) -> (action[B], logits[B,K])"
        onnx.checker.check_model(model)
        onnx.save(model, str(tmp))
    log.info("exported %s (%s policy, %d agents) to %s", run, meta.get("policy_config", {}).get("kind"),
             meta["n_agents"], dest)
    return dest
