"""What each ``--algo`` changes, demos -> ExpertBatch, and a growable rollout buffer.

* ``reled``: HPO with the configured expert weights (DTW by default) and SED demos,
  refreshed every ``sed_every`` updates.
* ``ippo``: the same optimizer with ``w = 0`` and no demos.
* ``mappo``: ``w = 0``, no demos, centralized critic (:mod:`reled_sumo.training.mappo`).
* ``bc``: expert loss only (``pg_coef = vf_coef = ent_coef = 0``, ``w = fixed_weight``,
  1 unless a fixed weight is configured); rollouts are still collected, for the metrics.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np

from reled_sumo.demos.trajectory import DemoSet
from reled_sumo.errors import ConfigError
from reled_sumo.experts.sed import SEDConfig
from reled_sumo.optim.buffer import MultiAgentRolloutBuffer
from reled_sumo.optim.expert import ExpertBatch
from reled_sumo.optim.hpo import HPOConfig
from reled_sumo.optim.weights import WeightConfig
from reled_sumo.training.config import TrainConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlgoSpec:
    name: str
    uses_demos: bool
    refresh_every: int  # updates between SED refreshes; 0 = never
    central_critic: bool
    hpo: HPOConfig
    sed: SEDConfig


def algo_spec(cfg: TrainConfig) -> AlgoSpec:
    """The effective optimizer / SED settings of ``cfg.algo`` (seed and device from ``cfg``)."""
    hpo = replace(cfg.hpo, seed=cfg.seed, device=cfg.device)
    fixed = cfg.hpo.weight.mode == "fixed"
    if cfg.algo in ("ippo", "mappo"):
        if fixed:
            raise ConfigError(f"a fixed expert weight has no effect with algo {cfg.algo} (no demonstrations)")
        hpo = replace(hpo, weight=replace(hpo.weight, mode="zero"))
    elif cfg.algo == "bc":
        w = cfg.hpo.weight.fixed_weight if fixed else 1.0
        hpo = replace(hpo, pg_coef=0.0, vf_coef=0.0, ent_coef=0.0, weight=WeightConfig(mode="fixed", fixed_weight=w))
    sed = replace(cfg.sed, seed=cfg.seed, rounds=1 if cfg.no_sed else cfg.sed.rounds)
    refresh = cfg.sed_every if cfg.algo == "reled" and not cfg.no_sed else 0
    return AlgoSpec(cfg.algo, cfg.uses_demos, refresh, cfg.algo == "mappo", hpo, sed)


# --------------------------------------------------------------------- demonstrations
@dataclass(frozen=True)
class ExpertData:
    """Demonstrations in the optimizer's form plus what the weights need, per agent index."""

    batch: ExpertBatch | None
    paths: list[np.ndarray | None]  # [N] expert positions (finite rows only), None: no demo
    returns: np.ndarray  # [N] expert return, NaN: no demo
    bound: float  # SED mean bound of the kept demos (NaN if unknown)
    version: int  # 0 = first SED run, k = k-th refresh


def demos_to_expert(demos: DemoSet, possible_agents: list[str], version: int, bound: float) -> ExpertData:
    """``DemoSet`` -> :class:`ExpertData`; ``agent_index`` = position in ``possible_agents``."""
    index = {a: i for i, a in enumerate(possible_agents)}
    n = len(possible_agents)
    paths: list[np.ndarray | None] = [None] * n
    returns = np.full(n, np.nan)
    parts = []
    for agent, tr in demos.trajectories.items():
        i = index.get(agent)
        if i is None:
            continue
        pos = np.asarray(tr.positions, dtype=np.float64)
        paths[i] = pos[np.isfinite(pos).all(axis=1)]
        returns[i] = tr.ret
        if tr.length:
            parts.append((tr.obs, tr.actions, tr.masks, np.full(tr.length, i)))
    if not parts:
        return ExpertData(None, paths, returns, bound, version)
    batch = ExpertBatch.without_masked_actions(*(np.concatenate(p) for p in zip(*parts)))
    return ExpertData(batch, paths, returns, bound, version)


# --------------------------------------------------------------------------- buffer
class GrowingRolloutBuffer(MultiAgentRolloutBuffer):
    """A :class:`MultiAgentRolloutBuffer` that doubles its capacity instead of overflowing
    (an update's decision count is not known in advance)."""

    def add(self, obs, actions, masks, rewards, values, log_probs, agent_index,
            *args, **kwargs) -> None:
        b = int(np.asarray(agent_index).reshape(-1).shape[0])
        if b > self.free:
            self._grow(max(2 * self.capacity, self.pos + b))
        super().add(obs, actions, masks, rewards, values, log_probs, agent_index, *args, **kwargs)

    def _grow(self, capacity: int) -> None:
        old_cap, pos = self.capacity, self.pos
        kept = {k: v[:pos].copy() for k, v in vars(self).items()
                if isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == old_cap}
        self.capacity = capacity
        self.reset()
        for k, v in kept.items():
            getattr(self, k)[:pos] = v
        self.pos = pos


def episode_seed(base_seed: int, episode: int) -> int:
    """SUMO seed of training episode ``episode`` (0-based) of a run seeded ``base_seed``."""
    return int(np.random.SeedSequence([base_seed, episode]).generate_state(1)[0] % (2**31 - 1))


def eval_seed(base_seed: int) -> int:
    """Fixed SUMO seed of the evaluation episodes (distinct from the training seeds)."""
    return int(np.random.SeedSequence([base_seed, 2**31]).generate_state(1)[0] % (2**31 - 1))
