"""Expert demonstration samples in the form the HPO update consumes."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch as th

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExpertBatch:
    """M expert decisions: ``obs[M, D]``, ``actions[M]``, ``masks[M, K]``, ``agent_index[M]``.

    ``agent_index[m]`` is the position in ``possible_agents`` of the agent whose
    demonstration sample ``m`` is. Arrays are converted to float32 / int64 / bool.
    Construction raises ``ValueError`` on inconsistent shapes or on an expert action
    forbidden by its own mask; use :meth:`without_masked_actions` to drop those instead.
    """

    obs: np.ndarray
    actions: np.ndarray
    masks: np.ndarray
    agent_index: np.ndarray

    def __post_init__(self) -> None:
        obs = np.asarray(self.obs, dtype=np.float32)
        actions = np.asarray(self.actions, dtype=np.int64).reshape(-1)
        masks = np.asarray(self.masks).astype(bool)
        agent_index = np.asarray(self.agent_index, dtype=np.int64).reshape(-1)
        for name, value in (("obs", obs), ("actions", actions), ("masks", masks), ("agent_index", agent_index)):
            object.__setattr__(self, name, value)
        m = obs.shape[0]
        if obs.ndim != 2 or masks.ndim != 2:
            raise ValueError(f"obs and masks must be 2-D, got {obs.shape} and {masks.shape}")
        if not actions.shape[0] == masks.shape[0] == agent_index.shape[0] == m:
            raise ValueError(f"inconsistent sample counts: obs {m}, actions {actions.shape[0]}, "
                             f"masks {masks.shape[0]}, agent_index {agent_index.shape[0]}")
        if m and (actions.min() < 0 or actions.max() >= masks.shape[1]):
            raise ValueError(f"expert actions must lie in [0, {masks.shape[1]})")
        if m and agent_index.min() < 0:
            raise ValueError("agent_index must be >= 0")
        forbidden = np.flatnonzero(~self.allowed())
        if forbidden.size:
            raise ValueError(f"{forbidden.size} expert actions are forbidden by their mask "
                             f"(first samples {forbidden[:10].tolist()})")

    def __len__(self) -> int:
        return int(self.obs.shape[0])

    @property
    def obs_dim(self) -> int:
        return int(self.obs.shape[1])

    @property
    def n_actions(self) -> int:
        return int(self.masks.shape[1])

    def allowed(self) -> np.ndarray:
        """``bool[M]``: whether each expert action is allowed by its mask."""
        return self.masks[np.arange(len(self.actions)), self.actions]

    @classmethod
    def without_masked_actions(
        cls, obs: np.ndarray, actions: np.ndarray, masks: np.ndarray, agent_index: np.ndarray
    ) -> ExpertBatch:
        """Build a batch, dropping (with a warning) samples whose action is masked."""
        actions = np.asarray(actions, dtype=np.int64).reshape(-1)
        masks = np.asarray(masks).astype(bool)
        keep = masks[np.arange(len(actions)), actions]
        if not keep.all():
            log.warning("dropping %d of %d expert samples whose action is masked", (~keep).sum(), keep.size)
        return cls(np.asarray(obs)[keep], actions[keep], masks[keep], np.asarray(agent_index)[keep])

    @classmethod
    def concatenate(cls, batches: Sequence[ExpertBatch]) -> ExpertBatch:
        if not batches:
            raise ValueError("need at least one batch")
        return cls(*(np.concatenate([getattr(b, f) for b in batches])
                     for f in ("obs", "actions", "masks", "agent_index")))

    def to_torch(self, device: th.device | str = "cpu") -> tuple[th.Tensor, th.Tensor, th.Tensor, th.Tensor]:
        """``(obs, actions, masks, agent_index)`` as tensors on ``device``."""
        return (th.as_tensor(self.obs, device=device), th.as_tensor(self.actions, device=device),
                th.as_tensor(self.masks, device=device), th.as_tensor(self.agent_index, device=device))
