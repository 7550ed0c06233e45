"""Masked categorical sampling for rollouts, without building distribution objects.

:meth:`MultiAgentPolicy.forward <reled_sumo.optim.policy.MultiAgentPolicy.forward>` samples
one action per decider at every env step. sb3-contrib's ``MaskableCategoricalDistribution``
builds three ``torch.distributions.Categorical`` objects per call (argument validation
included), about 0.3 ms of the 0.4 ms of a rollout forward with a handful of deciders.
:func:`masked_sample` performs the same tensor operations in the same order — normalise the
(pre-masked) logits, mask them again with -1e8, normalise, softmax, ``torch.multinomial`` —
so it draws the same actions from the same torch RNG state and returns bit-identical
log-probabilities (tests/optim/test_optim_sampling.py). :func:`masked_evaluate` does the same
for the training forward (log-probabilities and entropies of given actions, ``evaluate_actions``):
the same values and the same gradients, without the objects.
"""
from __future__ import annotations

import torch as th
import torch.nn.functional as F

from reled_sumo.optim.losses import MASKED_LOGIT


def _normalised(logits: th.Tensor, mask: th.Tensor | None) -> tuple[th.Tensor, th.Tensor | None]:
    """The masked log-probabilities ``[B, K]`` as ``MultiAgentPolicy.distribution`` computes them
    (pre-mask, normalise, mask again, normalise), and the mask as a bool tensor."""
    logits = logits.reshape(logits.shape[0], -1)
    if mask is not None:
        mask = th.as_tensor(mask, dtype=th.bool, device=logits.device).reshape(logits.shape)
        neg = th.tensor(MASKED_LOGIT, dtype=logits.dtype, device=logits.device)
        logits = th.where(mask, logits, neg)  # losses.premask_logits
    logits = logits - logits.logsumexp(dim=-1, keepdim=True)  # Categorical(logits=...)
    if mask is not None:
        logits = th.where(mask, logits, neg)  # MaskableCategorical.apply_masking
    return logits - logits.logsumexp(dim=-1, keepdim=True), mask


def masked_sample(logits: th.Tensor, mask: th.Tensor | None = None,
                  deterministic: bool = False) -> tuple[th.Tensor, th.Tensor]:
    """``(actions[B], log_probs[B])`` from ``logits[B, K]`` and an optional ``mask[B, K]``
    (True = allowed): a sample, or the most probable action when ``deterministic``."""
    logits, _ = _normalised(logits, mask)
    probs = F.softmax(logits, dim=-1)
    if deterministic:
        actions = th.argmax(probs, dim=1)
    else:
        actions = th.multinomial(probs, 1, True).T.reshape(-1)
    return actions, logits.gather(-1, actions.unsqueeze(-1)).squeeze(-1)


def masked_evaluate(logits: th.Tensor, mask: th.Tensor | None,
                    actions: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
    """``(log_prob[B], entropy[B])`` of ``actions`` under the masked categorical of ``logits``, with
    the same operations in the same order as sb3-contrib's ``MaskableCategorical.log_prob`` and
    ``entropy`` (masked entries contribute 0 to the entropy): values and gradients bit-identical."""
    logits, mask = _normalised(logits, mask)
    log_prob = logits.gather(-1, actions.long().reshape(-1, 1)).squeeze(-1)
    probs = F.softmax(logits, dim=-1)
    if mask is None:
        p_log_p = th.clamp(logits, min=th.finfo(logits.dtype).min) * probs
    else:
        p_log_p = th.where(mask, logits * probs, th.tensor(0.0, device=logits.device))
    return log_prob, -p_log_p.sum(-1)


__all__ = ["masked_evaluate", "masked_sample"]
