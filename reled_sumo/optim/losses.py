"""Loss terms of Hybrid Expert-Agent Policy Optimization (torch, differentiable).

Agent (PPO) terms, with ratio ``rho = exp(log_prob - old_log_prob)``::

    L_clip    = -mean( min(rho * A, clip(rho, 1 - eps, 1 + eps) * A) )
    L_value   = mean( (R - V)^2 )            or, with clip_range_vf, SB3's clipped V
    L_entropy = -mean( H[pi(.|s)] )

Expert terms over M expert samples ``(s_m, a_m, i_m)`` with per-agent weights ``w``::

    nll_m          = -log pi(a_m | s_m, mask_m)
    clipped_m      = -min(rho_m, clip(rho_m, 1 - eps, 1 + eps))       (advantage A_E = 1)
    L_expert       = sum_m c_m * term_m

with coefficients ``c_m`` set by ``reduction``:

* ``"agent"`` (default): ``c_m = w[i_m] / (n_i * N_d)``, i.e. ``mean_i w_i * mean_{m of i} term_m``
  over the ``N_d`` agents that have samples in the batch (each agent counts equally);
* ``"sample"``: ``c_m = w[i_m] / M``, i.e. ``mean_m w[i_m] * term_m`` (agents with more
  demonstration samples count more).

Masking: log-probabilities come from sb3-contrib's ``MaskableCategorical``, after
:func:`premask_logits` has replaced masked logits by -1e8 with ``torch.where``. (On its own,
``MaskableCategorical`` first normalises the *raw* logits, masked ones included, so a huge
masked logit costs float32 precision on the allowed ones; pre-masking removes that.)
Masked-out logits therefore never affect the value or the gradient of any loss.

An expert action that its own mask forbids has probability ~0 and would make the NLL
~1e8, so :func:`check_expert_actions` raises ``ValueError`` on it;
:class:`reled_sumo.optim.expert.ExpertBatch` refuses such samples at construction (or
drops them with ``ExpertBatch.without_masked_actions``).
"""
from __future__ import annotations

from typing import Literal

import torch as th
import torch.nn.functional as F
from sb3_contrib.common.maskable.distributions import MaskableCategorical

ExpertReduction = Literal["agent", "sample"]


MASKED_LOGIT = -1e8  # the value sb3-contrib's MaskableCategorical gives masked logits


def premask_logits(logits: th.Tensor, masks: th.Tensor | None) -> th.Tensor:
    """Logits with masked entries replaced by a constant -1e8 (no value or gradient flows from them)."""
    if masks is None:
        return logits
    masks = th.as_tensor(masks, dtype=th.bool, device=logits.device).reshape(logits.shape)
    return th.where(masks, logits, th.tensor(MASKED_LOGIT, dtype=logits.dtype, device=logits.device))


def masked_log_prob_entropy(logits: th.Tensor, masks: th.Tensor, actions: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
    """``(log pi(a|s), H[pi(.|s)])`` of a masked categorical, ``logits[B, K]``, ``masks[B, K]``."""
    dist = MaskableCategorical(logits=premask_logits(logits, masks), masks=masks)
    return dist.log_prob(actions), dist.entropy()


def check_expert_actions(actions: th.Tensor, masks: th.Tensor) -> None:
    """Raise ``ValueError`` if any expert action is forbidden by its own mask."""
    allowed = masks.bool().gather(1, actions.long().view(-1, 1)).squeeze(1)
    if not bool(allowed.all()):
        bad = th.nonzero(~allowed).flatten()[:10].tolist()
        raise ValueError(f"expert actions forbidden by their action mask at samples {bad}")


def ppo_clip_loss(
    log_prob: th.Tensor, old_log_prob: th.Tensor, advantages: th.Tensor, clip_range: float
) -> tuple[th.Tensor, th.Tensor]:
    """PPO clipped surrogate loss and the fraction of samples whose ratio was clipped."""
    ratio = th.exp(log_prob - old_log_prob)
    surrogate = ratio * advantages
    surrogate_clipped = th.clamp(ratio, 1.0 - clip_range, 1.0 + clip_range) * advantages
    loss = -th.min(surrogate, surrogate_clipped).mean()
    clip_fraction = ((ratio - 1.0).abs() > clip_range).float().mean()
    return loss, clip_fraction


def approx_kl(log_prob: th.Tensor, old_log_prob: th.Tensor) -> th.Tensor:
    """KL(old || new) estimator ``mean((rho - 1) - log rho)`` (Schulman; as in SB3 PPO)."""
    log_ratio = log_prob - old_log_prob
    return ((th.exp(log_ratio) - 1.0) - log_ratio).mean()


def value_loss(
    values: th.Tensor, returns: th.Tensor, old_values: th.Tensor | None = None, clip_range_vf: float | None = None
) -> th.Tensor:
    """MSE to the GAE returns; with ``clip_range_vf``, V is first clipped around ``old_values`` (SB3)."""
    if clip_range_vf is not None:
        if old_values is None:
            raise ValueError("clip_range_vf needs old_values")
        values = old_values + th.clamp(values - old_values, -clip_range_vf, clip_range_vf)
    return F.mse_loss(values, returns)


def entropy_loss(entropy: th.Tensor) -> th.Tensor:
    """Negative mean entropy (minimising it maximises exploration)."""
    return -entropy.mean()


def expert_coefficients(agent_index: th.Tensor, weights: th.Tensor, reduction: ExpertReduction) -> th.Tensor:
    """Per-sample coefficients ``c_m`` of the expert loss (see module docstring)."""
    agent_index = agent_index.long()
    w = weights.to(th.float32)[agent_index]
    if reduction == "sample":
        return w / max(agent_index.numel(), 1)
    if reduction != "agent":
        raise ValueError(f"unknown expert reduction {reduction!r}")
    counts = th.bincount(agent_index, minlength=weights.numel()).to(th.float32)
    n_agents_present = (counts > 0).sum().clamp(min=1)
    return w / (counts[agent_index] * n_agents_present)


def expert_nll_loss(
    log_prob: th.Tensor, agent_index: th.Tensor, weights: th.Tensor, reduction: ExpertReduction = "agent"
) -> th.Tensor:
    """Weighted negative log-likelihood of the expert actions."""
    return (expert_coefficients(agent_index, weights, reduction) * -log_prob).sum()


def expert_clipped_loss(
    log_prob: th.Tensor,
    old_log_prob: th.Tensor,
    agent_index: th.Tensor,
    weights: th.Tensor,
    clip_range: float,
    reduction: ExpertReduction = "agent",
) -> th.Tensor:
    """PPO-style clipped surrogate on expert samples with advantage 1.

    Raises the expert action's probability by at most a factor ``1 + clip_range`` per
    update relative to the policy at the start of the update (a trust-region imitation).
    """
    ratio = th.exp(log_prob - old_log_prob)
    surrogate = th.min(ratio, th.clamp(ratio, 1.0 - clip_range, 1.0 + clip_range))
    return (expert_coefficients(agent_index, weights, reduction) * -surrogate).sum()
