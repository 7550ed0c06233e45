"""A numpy forward for rollout collection: the shared candidate policy's act without torch's
per-operator cost.

At every env step :meth:`MultiAgentPolicy.act <reled_sumo.optim.policy.MultiAgentPolicy.act>`
runs the policy on the handful of agents that decide now (two on average at 100 agents). On
tensors that small almost all of torch's time is its per-operator dispatch (about 40 operators,
250 us per call with 2 deciders on the project's 2-core machine); the same arithmetic in numpy
takes a fraction of that. :class:`NumpyForward` is a read-only copy of the policy's weights that
computes, in the same order, what :class:`~reled_sumo.optim.policy.SharedPolicy` with a
:class:`~reled_sumo.optim.policy.CandidateActor` computes (the embedding lookup, the candidate
MLP, the residual gain, the prior, the logit scale, the critic), then normalises the masked
logits as :func:`reled_sumo.optim.sampling.masked_sample` does and draws the actions with the
same ``torch.multinomial`` call on the same torch random stream.

What is and is not the same: the actions are drawn from the same random numbers, so they are
the same unless two candidates' cumulative probabilities straddle a draw within float32 rounding;
values and log-probabilities agree with torch's to rounding (numpy's matrix product sums in
another order than torch's, so the last bits may differ; tests/optim/test_fast_act.py measures
both). The update itself always runs in torch.

Only the common case has a numpy forward: the shared policy with the candidate actor, on the
CPU. Everything else (the per-agent ensemble, MAPPO's central critic, a GPU) keeps torch's.
The copy is rebuilt whenever a parameter changed (torch bumps a tensor's version counter on
every in-place write: optimiser steps, ``load_state_dict``) or the logit scale did.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from torch import nn

from reled_sumo.optim.losses import MASKED_LOGIT

_NEG = np.float32(MASKED_LOGIT)
Layers = list[tuple[np.ndarray, np.ndarray]]


_ACTIVATIONS: dict[type[nn.Module], str] = {nn.Tanh: "tanh", nn.ReLU: "relu"}


def plain_mlp_activation(seq: nn.Module) -> str | None:
    """The activation's name of an ``nn.Sequential`` ``Linear, act, Linear, ..., act, Linear`` (every
    Linear with a bias, one kind of activation: Tanh or ReLU; ``"tanh"`` for a single Linear), as
    :func:`reled_sumo.optim.policy.mlp` builds it; None for anything else."""
    if not isinstance(seq, nn.Sequential) or len(seq) % 2 == 0:
        return None
    names = set()
    for i, m in enumerate(seq):
        if i % 2 == 0:
            if type(m) is not nn.Linear or m.bias is None:
                return None
        elif type(m) in _ACTIVATIONS:
            names.add(_ACTIVATIONS[type(m)])
        else:
            return None
    if len(names) > 1:
        return None
    return names.pop() if names else "tanh"


def _layers(seq: nn.Sequential) -> Layers:
    """``[(W[in, out], b[out])]`` of its Linear layers, copied."""
    return [(m.weight.detach().cpu().numpy().T.copy(), m.bias.detach().cpu().numpy().copy())
            for m in seq if isinstance(m, nn.Linear)]


def _mlp(x: np.ndarray, layers: Layers, activation: str | None) -> np.ndarray:
    last = len(layers) - 1
    for i, (w, b) in enumerate(layers):
        x = x @ w + b
        if i < last:
            x = np.tanh(x) if activation == "tanh" else np.maximum(x, np.float32(0.0))
    return x


def _log_normalise(x: np.ndarray) -> np.ndarray:
    """``x - logsumexp(x)`` over the last axis, as torch computes it (max-shifted)."""
    m = x.max(axis=-1, keepdims=True)
    return x - (np.log(np.exp(x - m).sum(axis=-1, keepdims=True)) + m)


class NumpyForward:
    """A numpy copy of a shared candidate policy's weights that acts like ``policy.act``: built from
    its ``actor`` (a ``CandidateActor`` over a plain MLP), ``critic`` (a plain MLP) and ``embedding``
    (``nn.Embedding`` or None), which ``SharedPolicy._numpy_forward`` checked with
    :func:`plain_mlp_activation`; ``key`` is what the copy was made from (:func:`cache_key`)."""

    def __init__(self, actor: Any, critic: nn.Sequential, embedding: nn.Embedding | None,
                 key: tuple[Any, ...]):
        self.key = key
        self.critic, self.critic_act = _layers(critic), plain_mlp_activation(critic)
        self.actor, self.actor_act = _layers(actor.mlp), plain_mlp_activation(actor.mlp)
        emb = embedding
        self.embedding = None if emb is None else emb.weight.detach().cpu().numpy().copy()
        self.n_own, self.n_cand, self.k = actor.n_own, actor.n_cand, actor.k
        self.gain = np.float32(actor.residual_gain)
        self.prior = None if actor.prior is None else (actor.prior[0], np.float32(actor.prior[1]))
        self.scale = np.float32(actor.logit_scale)

    def act(self, obs: np.ndarray, agent_index: np.ndarray, mask: np.ndarray | None,
            deterministic: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        obs = np.asarray(obs, dtype=np.float32)
        b, k = obs.shape[0], self.k
        own, inputs = obs[:, : self.n_own], obs
        if self.embedding is not None:
            e = self.embedding[np.asarray(agent_index, dtype=np.int64)]
            own, inputs = np.concatenate([own, e], axis=1), np.concatenate([obs, e], axis=1)
        cand = obs[:, self.n_own: self.n_own + k * self.n_cand].reshape(b, k, self.n_cand)
        x = np.concatenate([np.broadcast_to(own[:, None, :], (b, k, own.shape[1])), cand], axis=2)
        logits = _mlp(x.reshape(b * k, -1), self.actor, self.actor_act).reshape(b, k)
        if self.gain != 1.0:
            logits = self.gain * logits
        if self.prior is not None:
            logits = logits - self.prior[1] * cand[:, :, self.prior[0]]
        if self.scale != 1.0:
            logits = self.scale * logits
        values = _mlp(inputs, self.critic, self.critic_act)[:, 0]
        actions, log_probs = _sample(logits, mask, deterministic)
        return actions, values, log_probs


def _sample(logits: np.ndarray, mask: np.ndarray | None,
            deterministic: bool) -> tuple[np.ndarray, np.ndarray]:
    """``masked_sample`` in numpy: the same normalisations, and torch's multinomial for the draw."""
    if mask is not None:
        mask = np.asarray(mask, dtype=bool).reshape(logits.shape)
        logits = np.where(mask, logits, _NEG)
    logits = _log_normalise(logits)
    if mask is not None:
        logits = np.where(mask, logits, _NEG)
    logits = _log_normalise(logits)
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    if deterministic:
        actions = probs.argmax(axis=1)
    else:
        actions = th.multinomial(th.from_numpy(probs), 1, True).numpy()[:, 0]
    actions = actions.astype(np.int64)
    return actions, logits[np.arange(len(actions)), actions]


def cache_key(params: list[nn.Parameter], logit_scale: float) -> tuple[Any, ...]:
    """What the copy depends on: every parameter's identity and version (torch bumps the version on
    every in-place write), and the actor's logit scale."""
    return (tuple([(id(p), p._version) for p in params]), logit_scale)


__all__ = ["NumpyForward", "cache_key", "plain_mlp_activation"]
