"""A reled ONNX actor (written by ``reled export``) run with onnxruntime; imports no torch.

The model (docs/deploy.md):

* inputs ``obs`` float32 ``[B, D]`` (the env's observation of each deciding agent),
  ``agent_index`` int64 ``[B]`` (the agent's position in ``possible_agents`` of the
  metadata: selects the member of a per-agent ensemble; a shared policy uses it only with
  an agent embedding), ``mask`` bool ``[B, K]`` (the env's ``action_mask``);
* outputs ``action`` int64 ``[B]`` (the greedy action: argmax of the masked logits, what
  ``reled eval --run`` uses) and ``logits`` float32 ``[B, K]`` (masked entries = -1e8);
* metadata property ``reled`` (JSON): format, algo, policy kind, agent list, dimensions,
  scenario name/hash/path and the env options of the run.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from reled_sumo.deploy.record import RunRecord
from reled_sumo.errors import ConfigError, UserInputError

FORMAT = "reled-onnx/1"
INPUTS = ("obs", "agent_index", "mask")
OUTPUTS = ("action", "logits")
META_KEY = "reled"


class OnnxPolicy:
    """``act(obs[B, D], agent_index[B], mask[B, K]) -> actions[B]`` with onnxruntime on the CPU."""

    def __init__(self, path: str | Path, threads: int = 1):
        # onnxruntime's telemetry writes ~/.cache/Microsoft/DeveloperTools/ on import; switch it off
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
        import onnxruntime as ort  # lazy: onnxruntime

        p = Path(path)
        if not p.is_file():
            raise UserInputError(f"policy file {p} does not exist (write one with: reled export --run RUN)")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors on bad files
            raise UserInputError(f"{p} is not a readable ONNX model: {str(exc).splitlines()[0][:200]}") from exc
        raw = self.session.get_modelmeta().custom_metadata_map.get(META_KEY)
        if raw is None:
            raise UserInputError(f"{p} is an ONNX model but not a reled policy (no '{META_KEY}' metadata); "
                                 "export one with: reled export --run RUN")
        self.meta: dict[str, Any] = json.loads(raw)
        if self.meta.get("format") != FORMAT:
            raise UserInputError(f"{p}: unsupported reled ONNX format {self.meta.get('format')!r} (need {FORMAT})")
        names = tuple(i.name for i in self.session.get_inputs())
        if names != INPUTS:
            raise UserInputError(f"{p}: inputs {names}, expected {INPUTS}")
        self.path = p
        self.possible_agents: list[str] = list(self.meta["possible_agents"])
        self.obs_dim, self.n_actions = int(self.meta["obs_dim"]), int(self.meta["n_actions"])
        self.kind: str = str(self.meta.get("kind") or "shared")

    def record(self, scenario: str | None = None) -> RunRecord:
        """The run this model was exported from (``scenario``: the name when older metadata names none)."""
        return RunRecord.from_meta(self.meta, scenario=scenario)

    def run(self, obs: np.ndarray, agent_index: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(actions[B], masked_logits[B, K])``."""
        obs = np.ascontiguousarray(obs, dtype=np.float32)
        if obs.ndim != 2 or obs.shape[1] != self.obs_dim:
            raise ConfigError(f"observations must be [B, {self.obs_dim}], got {obs.shape}")
        mask = np.ascontiguousarray(mask, dtype=bool)
        if mask.shape != (obs.shape[0], self.n_actions):
            raise ConfigError(f"mask must be [{obs.shape[0]}, {self.n_actions}], got {mask.shape}")
        idx = np.ascontiguousarray(agent_index, dtype=np.int64)
        if idx.shape != (obs.shape[0],) or (idx.size and (idx.min() < 0 or idx.max() >= len(self.possible_agents))):
            raise ConfigError(f"agent_index must be [B] in [0, {len(self.possible_agents)}), got {idx}")
        action, logits = self.session.run(list(OUTPUTS), {"obs": obs, "agent_index": idx, "mask": mask})
        return action, logits

    def act(self, obs: np.ndarray, agent_index: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self.run(obs, agent_index, mask)[0]
