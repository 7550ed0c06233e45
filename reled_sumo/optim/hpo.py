"""Hybrid Expert-Agent Policy Optimization: PPO on agent rollouts + weighted imitation of experts.

One call of :meth:`HybridPPO.train` runs ``n_epochs`` passes over the rollout buffer in
shuffled minibatches. Each minibatch is paired with a minibatch of expert samples (the
expert set is reshuffled every epoch and split into as many chunks as there are rollout
minibatches, cycling if it is smaller), and minimises::

    L = L_clip + ent_coef * L_entropy + vf_coef * L_value + L_expert(w)

where ``L_expert`` is the weighted expert NLL (``expert_loss="nll"``) or the clipped
expert surrogate (``"clipped"``), see :mod:`reled_sumo.optim.losses`, and ``w[N]`` comes
from :func:`reled_sumo.optim.weights.expert_weights`. Adam, gradient-norm clipping and
the ``target_kl`` early stop follow SB3's PPO. The full derivation is in docs/method_hpo.md.
"""
from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch as th
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.utils import FloatSchedule, LinearSchedule, explained_variance, update_learning_rate

from reled_sumo.errors import ConfigError
from reled_sumo.validation import check_field_types
from reled_sumo.optim import losses
from reled_sumo.optim.buffer import MultiAgentRolloutBuffer, RolloutSamples
from reled_sumo.optim.expert import ExpertBatch
from reled_sumo.optim.policy import MultiAgentPolicy, PolicyConfig, PolicyKind, build_policy
from reled_sumo.optim.weights import WeightConfig, expert_weights

log = logging.getLogger(__name__)

#: Adam's and the gradient clipping's multi-tensor path (a module constant, so that a test can hold it
#: against torch's one-tensor-at-a-time path, which must give the same weights bit for bit)
FOREACH = True


@dataclass(frozen=True)
class HPOConfig:
    learning_rate: float = 3e-4
    lr_schedule: Literal["constant", "linear"] = "constant"  # linear: to 0 at progress_remaining = 0
    n_epochs: int = 10
    batch_size: int = 64
    clip_range: float = 0.2
    clip_range_vf: float | None = None
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    pg_coef: float = 1.0  # weight of the PPO clipped surrogate; 0 with vf_coef 0 = behaviour cloning
    max_grad_norm: float = 0.5
    gamma: float = 0.99
    gae_lambda: float = 0.95
    target_kl: float | None = None
    normalize_advantage: bool = True
    expert_loss: Literal["nll", "clipped"] = "nll"
    expert_reduction: losses.ExpertReduction = "agent"
    expert_batch_size: int | None = None  # None: expert set split evenly over the rollout minibatches
    weight: WeightConfig = field(default_factory=WeightConfig)
    policy: PolicyKind = "shared"
    pi_hidden: tuple[int, ...] = (64, 64)
    vf_hidden: tuple[int, ...] = (64, 64)
    activation: Literal["tanh", "relu"] = "tanh"
    agent_embedding_dim: int = 0
    ortho_init: bool = True
    actor: Literal["candidate", "mlp"] = "candidate"  # candidate: shared per-candidate scorer (CandidateActor)
    prior_tau: float = 0.0  # seconds; > 0: candidate logits start at -extra_time/tau (residual prior), 0: off
    # > 0: the network's residual is in seconds (residual_s per unit of its output), added to the
    # candidates' live extra time before the temperature divides it, so prior_tau sets only how widely
    # the rollouts explore and the network can flip a decision whatever the temperature. 0: the
    # residual is in logit units (its reach then shrinks with prior_tau; the behaviour before 2026-12).
    residual_s: float = 0.0
    prior_tau_final: float | None = None  # seconds: anneal the temperature linearly to this (None: constant)
    seed: int | None = None   # seeds torch (network init) and the minibatch shuffling
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_field_types(self)
        positive = ("learning_rate", "n_epochs", "batch_size", "clip_range", "max_grad_norm")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("ent_coef", "vf_coef", "pg_coef"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not (0 <= self.gamma <= 1 and 0 <= self.gae_lambda <= 1):
            raise ConfigError(f"gamma and gae_lambda must lie in [0, 1], got {self.gamma}, {self.gae_lambda}")
        for name in ("clip_range_vf", "target_kl", "expert_batch_size"):
            if getattr(self, name) is not None and not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0 or None, got {getattr(self, name)}")
        if self.lr_schedule not in ("constant", "linear"):
            raise ConfigError(f"lr_schedule must be 'constant' or 'linear', got {self.lr_schedule!r}")
        if not (isinstance(self.prior_tau, (int, float)) and not isinstance(self.prior_tau, bool)
                and np.isfinite(self.prior_tau) and self.prior_tau >= 0):
            raise ConfigError(f"prior_tau must be a finite number >= 0 (seconds), got {self.prior_tau!r}")
        for name in ("residual_s", "prior_tau_final"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)
                                      and v >= 0):
                raise ConfigError(f"{name} must be a finite number >= 0 (seconds), got {v!r}")
        if (self.residual_s > 0 or self.prior_tau_final is not None) and not self.prior_tau > 0:
            raise ConfigError("residual_s and prior_tau_final need the prior (prior_tau > 0)")
        if self.prior_tau_final is not None and not self.prior_tau_final > 0:
            raise ConfigError(f"prior_tau_final must be > 0 seconds, got {self.prior_tau_final!r}")
        if self.prior_tau > 0 and self.actor != "candidate":
            raise ConfigError("prior_tau needs the candidate actor (actor: candidate)")
        if self.actor not in ("candidate", "mlp"):
            raise ConfigError(f"actor must be 'candidate' or 'mlp', got {self.actor!r}")
        if self.expert_loss not in ("nll", "clipped"):
            raise ConfigError(f"expert_loss must be 'nll' or 'clipped', got {self.expert_loss!r}")
        if self.expert_reduction not in ("agent", "sample"):
            raise ConfigError(f"expert_reduction must be 'agent' or 'sample', got {self.expert_reduction!r}")
        if not isinstance(self.weight, WeightConfig):
            raise ConfigError("weight must be a WeightConfig")
        object.__setattr__(self, "pi_hidden", tuple(self.pi_hidden))
        object.__setattr__(self, "vf_hidden", tuple(self.vf_hidden))
        self.policy_config()  # validates the policy fields

    def policy_config(self, candidate_layout: tuple[int, int] | None = None,
                      prior_feature: tuple[int, float] | None = None) -> PolicyConfig:
        """The policy's config; ``candidate_layout`` (from the env) is used when ``actor == "candidate"``.
        ``prior_feature``: (candidate feature index, its normaliser in seconds) of the extra-time
        feature the prior reads; the prior is on when ``prior_tau > 0`` and one is given."""
        layout = candidate_layout if self.actor == "candidate" else None
        prior, gain = None, 1.0
        if layout is not None and prior_feature is not None and self.prior_tau > 0:
            prior = (int(prior_feature[0]), float(prior_feature[1]) / self.prior_tau)
            if self.residual_s > 0:
                gain = self.residual_s / self.prior_tau
        return PolicyConfig(self.policy, tuple(self.pi_hidden), tuple(self.vf_hidden), self.activation,
                            self.agent_embedding_dim, self.ortho_init, layout, prior, gain)

    def logit_scale(self, progress_remaining: float) -> float:
        """``prior_tau / tau_now`` of the temperature schedule (1.0 when it is constant):
        ``tau_now`` goes linearly from ``prior_tau`` (progress_remaining 1) to ``prior_tau_final`` (0)."""
        if self.prior_tau_final is None or not self.prior_tau > 0:
            return 1.0
        p = min(max(float(progress_remaining), 0.0), 1.0)
        return self.prior_tau / (self.prior_tau_final + (self.prior_tau - self.prior_tau_final) * p)


class HybridPPO:
    """Owns the multi-agent policy and its optimizer; :meth:`train` performs one HPO update."""

    def __init__(self, cfg: HPOConfig, n_agents: int, obs_dim: int, n_actions: int,
                 logger: Logger | None = None, policy: MultiAgentPolicy | None = None,
                 candidate_layout: tuple[int, int] | None = None,
                 prior_feature: tuple[int, float] | None = None):
        """``policy``: use this multi-agent policy (e.g. a centralized-critic one) instead of
        ``build_policy(cfg.policy_config(), ...)``; it is built after ``cfg.seed`` seeds torch
        only if it is None, so seed torch yourself before building one. ``candidate_layout``:
        the env's ``(n_own, n_cand)`` observation layout for the candidate actor."""
        self.cfg, self.n_agents = cfg, n_agents
        if cfg.seed is not None:
            th.manual_seed(cfg.seed)
        if policy is None:
            policy = build_policy(cfg.policy_config(candidate_layout, prior_feature), n_agents, obs_dim, n_actions)
        self.policy: MultiAgentPolicy = policy.to(cfg.device)
        self.lr_schedule = (FloatSchedule(cfg.learning_rate) if cfg.lr_schedule == "constant"
                            else FloatSchedule(LinearSchedule(cfg.learning_rate, 0.0, 1.0)))
        # foreach: Adam and the gradient clipping handle all parameters per operation instead of one tensor
        # at a time (torch's default on CPU); the same weights bit for bit (tests/optim/test_optim_hpo.py)
        self.optimizer = th.optim.Adam(self.policy.parameters(), lr=cfg.learning_rate, eps=1e-5, foreach=FOREACH)
        seed = cfg.seed if cfg.seed is not None else int(th.randint(0, 2**31 - 1, (1,)).item())
        self.rng = np.random.default_rng(seed)
        self.logger = logger if logger is not None else Logger(folder=None, output_formats=[])
        self.n_updates = 0

    def weights(self, dtw: np.ndarray, agent_return: np.ndarray, expert_return: np.ndarray,
                has_demo: np.ndarray | None = None, d_scale: float | None = None) -> np.ndarray:
        """:func:`expert_weights` with this trainer's :class:`WeightConfig`."""
        return expert_weights(dtw, agent_return, expert_return, self.cfg.weight, has_demo, d_scale)

    # ----------------------------------------------------------------------------------
    def train(self, buffer: MultiAgentRolloutBuffer, demos: ExpertBatch | None = None,
              weights: np.ndarray | None = None, progress_remaining: float = 1.0) -> dict[str, float]:
        """One HPO update from a buffer whose advantages are computed. Returns mean statistics."""
        cfg, dev = self.cfg, self.policy.device
        if len(buffer) == 0 or not buffer.ready:
            raise ValueError("train() needs a non-empty buffer with advantages computed")
        w = th.as_tensor(np.zeros(self.n_agents) if weights is None else weights, dtype=th.float32, device=dev)
        if w.shape != (self.n_agents,) or bool((w < 0).any()) or not bool(th.isfinite(w).all()):
            raise ValueError(f"weights must be a finite, non-negative [{self.n_agents}] array")
        expert = self._expert_tensors(demos)
        lr = self.lr_schedule(progress_remaining)
        update_learning_rate(self.optimizer, lr)
        self.policy.train()

        stats: dict[str, list[float]] = defaultdict(list)
        n_mb = buffer.n_minibatches(cfg.batch_size)
        continue_training = True
        for epoch in range(cfg.n_epochs):
            expert_chunks = self._expert_chunks(expert, n_mb)
            for mb, expert_idx in zip(buffer.minibatches(cfg.batch_size, self.rng), expert_chunks):
                mb = RolloutSamples(*(t.to(dev) for t in mb))
                loss, approx_kl = self._minibatch_loss(mb, expert, expert_idx, w, stats)
                if cfg.target_kl is not None and approx_kl > 1.5 * cfg.target_kl:
                    log.debug("early stop at epoch %d: approx_kl %.4f > 1.5 * target_kl", epoch, approx_kl)
                    continue_training = False
                    break
                self.optimizer.zero_grad()
                loss.backward()
                th.nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm, foreach=FOREACH)
                self.optimizer.step()
                self.n_updates += 1
            if not continue_training:
                break

        out = {k: float(np.mean(v)) for k, v in stats.items()}
        out.update(mean_weight=float(w.mean()), learning_rate=lr, epochs=float(epoch + 1),
                   n_updates=float(self.n_updates),
                   explained_variance=float(explained_variance(buffer.values[: len(buffer)],
                                                               buffer.returns[: len(buffer)])))
        for key, value in out.items():
            self.logger.record(f"train/{key}", value)
        log.debug("HPO update: %s", out)
        return out

    # ----------------------------------------------------------------------------------
    def _minibatch_loss(self, mb: RolloutSamples, expert: tuple[th.Tensor, ...] | None,
                        expert_idx: th.Tensor | None, w: th.Tensor,
                        stats: dict[str, list[float]]) -> tuple[th.Tensor, float]:
        cfg = self.cfg
        # 1. Agent samples: PPO clipped surrogate, value loss, entropy bonus.
        values, log_prob, entropy = self.policy.evaluate_actions(mb.obs, mb.agent_index, mb.actions, mb.masks)
        advantages = mb.advantages
        if cfg.normalize_advantage and len(advantages) > 1:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        policy_loss, clip_fraction = losses.ppo_clip_loss(log_prob, mb.old_log_probs, advantages, cfg.clip_range)
        v_loss = losses.value_loss(values, mb.returns, mb.old_values, cfg.clip_range_vf)
        ent_loss = losses.entropy_loss(entropy)

        # 2. Expert samples: weighted imitation term.
        expert_loss = th.zeros((), device=values.device)
        if expert is not None and expert_idx is not None:
            obs, actions, masks, agent_index, old_log_prob = (t[expert_idx] for t in expert)
            _, expert_log_prob, _ = self.policy.evaluate_actions(obs, agent_index, actions, masks)
            if cfg.expert_loss == "nll":
                expert_loss = losses.expert_nll_loss(expert_log_prob, agent_index, w, cfg.expert_reduction)
            else:
                expert_loss = losses.expert_clipped_loss(expert_log_prob, old_log_prob, agent_index, w,
                                                         cfg.clip_range, cfg.expert_reduction)
            stats["expert_nll"].append(float(-expert_log_prob.detach().mean()))

        # 3. Total.
        loss = cfg.pg_coef * policy_loss + cfg.ent_coef * ent_loss + cfg.vf_coef * v_loss + expert_loss
        with th.no_grad():
            kl = float(losses.approx_kl(log_prob, mb.old_log_probs))
        for key, value in (("policy_loss", policy_loss), ("value_loss", v_loss), ("entropy", -ent_loss),
                           ("expert_loss", expert_loss), ("clip_fraction", clip_fraction), ("loss", loss)):
            stats[key].append(float(value.detach()))
        stats["approx_kl"].append(kl)
        return loss, kl

    def _expert_tensors(self, demos: ExpertBatch | None) -> tuple[th.Tensor, ...] | None:
        """Expert tensors plus their log-probs under the pre-update policy (for the clipped loss)."""
        if demos is None or len(demos) == 0:
            return None
        if demos.obs_dim != self.policy.obs_dim or demos.n_actions != self.policy.n_actions:
            raise ValueError(f"demos have obs_dim {demos.obs_dim}, n_actions {demos.n_actions}; policy "
                             f"expects {self.policy.obs_dim}, {self.policy.n_actions}")
        if demos.agent_index.max() >= self.n_agents:
            raise ValueError(f"demo agent_index must be < {self.n_agents}")
        obs, actions, masks, agent_index = demos.to_torch(self.policy.device)
        losses.check_expert_actions(actions, masks)
        with th.no_grad():
            _, old_log_prob, _ = self.policy.evaluate_actions(obs, agent_index, actions, masks)
        return obs, actions, masks, agent_index, old_log_prob

    def _expert_chunks(self, expert: tuple[th.Tensor, ...] | None, n_mb: int) -> list[th.Tensor | None]:
        """Expert sample indices for each of the ``n_mb`` rollout minibatches of one epoch."""
        if expert is None:
            return [None] * n_mb
        m = expert[0].shape[0]
        size = self.cfg.expert_batch_size or math.ceil(m / n_mb)
        perm = self.rng.permutation(m)
        return [th.as_tensor(perm[(k * size + np.arange(size)) % m], device=self.policy.device)
                for k in range(n_mb)]

    # ----------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"policy": self.policy.state_dict(), "optimizer": self.optimizer.state_dict(),
                "n_updates": self.n_updates}

    def load_state_dict(self, state: dict) -> None:
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.n_updates = int(state["n_updates"])
