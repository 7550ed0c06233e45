"""Masked actor-critic policies for N routing agents, built on sb3-contrib.

Two kinds, both with the API ``forward(obs[B, D], agent_index[B], mask[B, K]) ->
(actions, values, log_probs)``, ``evaluate_actions(obs, agent_index, actions, mask) ->
(values, log_prob, entropy)`` and ``predict_values(obs, agent_index)`` (values are ``[B]``):

* :class:`SharedPolicy` (``kind="shared"``): one actor and one critic for all agents, applied
  to ``concat(obs, embedding[agent_index])`` (SB3's orthogonal init); the learned agent
  embedding is optional (``agent_embedding_dim = 0``: pure parameter sharing).
* :class:`PerAgentPolicy` (``kind="per-agent"``): an independent actor and critic MLP per
  agent, evaluated as ONE batched ensemble: each layer stores stacked parameters
  ``W[N, in, out]``, ``b[N, out]`` and computes ``y_b = x_b @ W[agent_index_b] + b[agent_index_b]``
  with a gather + ``torch.bmm``, so 100 agents cost about one MLP forward over the batch
  (no Python loop over agents; memory ``B * in * out`` per layer for the gathered
  weights). Initialisation follows SB3 (orthogonal; gains sqrt(2) hidden, 0.01 policy
  head, 1 value head; zero bias), member by member.

Both turn logits into actions with sb3-contrib's ``MaskableCategoricalDistribution``
after :func:`reled_sumo.optim.losses.premask_logits` (masked logits -> -1e8 *before*
the distribution normalises them, so masked logits cannot even cost precision).

Why not SB3's policy and rollout buffer as they are: SB3 policies map an observation to
an action with no notion of *which* agent acts, so they cannot hold per-agent parameters
or agent embeddings; and SB3's ``RolloutBuffer`` assumes ``n_envs`` streams that all step
in lock-step, whereas here only the agents awaiting a decision act at each env step and
each agent's decisions form its own trajectory (see :mod:`reled_sumo.optim.buffer`).
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch as th
from sb3_contrib.common.maskable.distributions import MaskableCategoricalDistribution
from torch import nn

from reled_sumo.errors import ConfigError
from reled_sumo.optim.fast_act import NumpyForward, cache_key, plain_mlp_activation
from reled_sumo.optim.losses import premask_logits
from reled_sumo.validation import check_field_types
from reled_sumo.optim.sampling import masked_evaluate, masked_sample

PolicyKind = Literal["shared", "per-agent"]
ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU}


@dataclass(frozen=True)
class PolicyConfig:
    kind: PolicyKind = "shared"
    pi_hidden: tuple[int, ...] = (64, 64)   # actor hidden layer sizes
    vf_hidden: tuple[int, ...] = (64, 64)   # critic hidden layer sizes
    activation: Literal["tanh", "relu"] = "tanh"
    agent_embedding_dim: int = 0            # shared policy only; 0 = no agent embedding
    ortho_init: bool = True
    # (n_own, n_cand): observations are [own | cand_0 | ... | cand_{K-1}] and the actor scores
    # each candidate with one MLP shared across candidates (see CandidateActor). None: plain MLP actor.
    candidate_layout: tuple[int, int] | None = None
    # (candidate feature index, coefficient): the candidate actor adds ``-coef * cand[:, k, feature]``
    # to its logits, a prior the network learns a residual on (e.g. the extra time of candidate k
    # over the best one, divided by a temperature). None: no prior.
    prior: tuple[int, float] | None = None
    # how the network's output enters the logits beside the prior: ``logit_k = residual_gain * mlp_k
    # - coef * feature_k``. 1.0: the residual is in logit units (the start of 2026; its reach then
    # shrinks as the prior's temperature falls). ``residual_s / tau`` (HPOConfig.residual_s > 0):
    # the residual is in seconds, ``logit_k = (residual_s * mlp_k - seconds_k) / tau``, so the greedy
    # action does not depend on the sampling temperature tau, which only sets exploration.
    residual_gain: float = 1.0

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.prior is not None:
            feat, coef = self.prior
            if not (isinstance(feat, int) and feat >= 0 and isinstance(coef, (int, float)) and math.isfinite(coef)
                    and coef >= 0):
                raise ConfigError(f"prior must be (feature index >= 0, finite coef >= 0), got {self.prior!r}")
            object.__setattr__(self, "prior", (int(feat), float(coef)))
        if not (math.isfinite(self.residual_gain) and self.residual_gain > 0):
            raise ConfigError(f"residual_gain must be a finite number > 0, got {self.residual_gain!r}")
        if self.candidate_layout is not None:
            layout = tuple(int(v) for v in self.candidate_layout)
            if len(layout) != 2 or min(layout) < 1:
                raise ConfigError(f"candidate_layout must be (n_own >= 1, n_cand >= 1), got {self.candidate_layout}")
            object.__setattr__(self, "candidate_layout", layout)
        if self.kind not in ("shared", "per-agent"):
            raise ConfigError(f"policy must be 'shared' or 'per-agent', got {self.kind!r}")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        if any(h < 1 for h in (*self.pi_hidden, *self.vf_hidden)):
            raise ConfigError("hidden layer sizes must be >= 1")
        if self.agent_embedding_dim < 0:
            raise ConfigError("agent_embedding_dim must be >= 0")
        object.__setattr__(self, "pi_hidden", tuple(int(h) for h in self.pi_hidden))
        object.__setattr__(self, "vf_hidden", tuple(int(h) for h in self.vf_hidden))


class MultiAgentPolicy(nn.Module, ABC):
    """Common interface and save/load of the multi-agent policies."""

    def __init__(self, cfg: PolicyConfig, n_agents: int, obs_dim: int, n_actions: int):
        super().__init__()
        if n_agents < 1 or obs_dim < 1 or n_actions < 1:
            raise ConfigError(f"need n_agents, obs_dim, n_actions >= 1, got {n_agents}, {obs_dim}, {n_actions}")
        self.cfg, self.n_agents, self.obs_dim, self.n_actions = cfg, n_agents, obs_dim, n_actions
        self.action_dist = MaskableCategoricalDistribution(n_actions)
        #: act() through the numpy copy where the policy has one (False: always torch)
        self.numpy_forward = True
        self._fast: NumpyForward | None = None
        self._fast_supported: bool | None = None
        self._fast_params: list[nn.Parameter] = []

    def forward(self, obs: th.Tensor, agent_index: th.Tensor, mask: th.Tensor | None,
                deterministic: bool = False) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """Sample (or take the mode of) masked actions: ``(actions, values, log_probs)``."""
        actions, log_probs = masked_sample(self.action_logits(obs, agent_index), mask, deterministic)
        return actions, self.predict_values(obs, agent_index), log_probs

    def evaluate_actions(self, obs: th.Tensor, agent_index: th.Tensor, actions: th.Tensor,
                         mask: th.Tensor | None) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """``(values, log_prob, entropy)`` of given actions under the current policy."""
        logits = self.action_logits(obs, agent_index)  # the distribution's order of operations
        values = self.predict_values(obs, agent_index)
        return (values, *masked_evaluate(logits, mask, actions))

    def distribution(self, obs: th.Tensor, agent_index: th.Tensor,
                     mask: th.Tensor | None) -> MaskableCategoricalDistribution:
        """sb3-contrib's masked categorical over the (pre-masked, see losses.premask_logits) logits."""
        dist = self.action_dist.proba_distribution(premask_logits(self.action_logits(obs, agent_index), mask))
        if mask is not None:
            dist.apply_masking(mask)
        return dist

    @abstractmethod
    def predict_values(self, obs: th.Tensor, agent_index: th.Tensor) -> th.Tensor:
        """State values ``[B]``."""

    @abstractmethod
    def action_logits(self, obs: th.Tensor, agent_index: th.Tensor) -> th.Tensor:
        """Unmasked action logits ``[B, K]``."""

    def set_logit_scale(self, scale: float) -> None:
        """Multiply the candidate actor's logits by ``scale`` (> 0) when sampling and scoring
        actions: the prior's temperature schedule (``scale = tau_start / tau_now``)."""
        if not (math.isfinite(scale) and scale > 0):
            raise ConfigError(f"logit scale must be a finite number > 0, got {scale!r}")
        for m in self.modules():
            if isinstance(m, CandidateActor):
                m.logit_scale = float(scale)

    @property
    def device(self) -> th.device:
        return next(self.parameters()).device

    def act(self, obs: np.ndarray, agent_index: np.ndarray, mask: np.ndarray | None,
            deterministic: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Numpy convenience for rollout collection: ``(actions, values, log_probs)``. The shared
        candidate policy on the CPU runs a numpy copy of its weights (:mod:`reled_sumo.optim.fast_act`:
        the same actions from the same torch random stream, values and log-probs to float32
        rounding) unless ``numpy_forward`` is False; everything else runs :meth:`torch_act`."""
        fast = self._numpy_forward() if self.numpy_forward else None
        if fast is None:
            return self.torch_act(obs, agent_index, mask, deterministic)
        return fast.act(obs, agent_index, mask, deterministic)

    def _numpy_forward(self) -> NumpyForward | None:
        """The numpy copy of the weights (rebuilt after any change), or None where there is none."""
        return None

    def __getstate__(self) -> dict:
        """Pickles (a worker's copy of the policy) leave the numpy copy behind: it is rebuilt there."""
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__
        return {**state, "_fast": None, "_fast_params": [], "_fast_supported": None}

    @th.inference_mode()
    def torch_act(self, obs: np.ndarray, agent_index: np.ndarray, mask: np.ndarray | None,
                  deterministic: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`act` in torch, under ``inference_mode`` (no autograd bookkeeping at all; the same
        kernels as ``no_grad``, so the same numbers): 247 against 323 us CPU per call with 2
        deciders (the embedding policy, one thread, 2026-12-05)."""
        dev = self.device
        out = self(th.as_tensor(np.asarray(obs, dtype=np.float32), device=dev),
                   th.as_tensor(np.asarray(agent_index, dtype=np.int64), device=dev),
                   None if mask is None else th.as_tensor(np.asarray(mask, dtype=bool), device=dev),
                   deterministic)
        return tuple(t.cpu().numpy() for t in out)

    def save(self, path: str | Path) -> None:
        """Write config, sizes and ``state_dict`` to ``path`` (torch.save)."""
        th.save({"config": asdict(self.cfg), "n_agents": self.n_agents, "obs_dim": self.obs_dim,
                 "n_actions": self.n_actions, "state_dict": self.state_dict()}, Path(path))

    @staticmethod
    def load(path: str | Path, device: th.device | str = "cpu") -> MultiAgentPolicy:
        """Rebuild a policy written by :meth:`save`."""
        data = th.load(Path(path), map_location=device, weights_only=True)
        cfg = PolicyConfig(**data["config"])
        policy = build_policy(cfg, data["n_agents"], data["obs_dim"], data["n_actions"]).to(device)
        policy.load_state_dict(data["state_dict"])
        return policy


class CandidateActor(nn.Module):
    """Permutation-equivariant actor: ``logit_k = MLP([own, cand_k])``, one MLP for all K candidates.

    A routing decision compares candidates by the same features (travel time, remaining time via
    the candidate, occupancy...); scoring each with shared weights learns "prefer the fastest"
    once instead of K times, which is far more sample-efficient than a flat MLP over all slots.
    With ``n_members`` > 0 the MLP is a per-agent ensemble (:class:`EnsembleMLP`).
    """

    def __init__(self, layout: tuple[int, int], n_actions: int, hidden: tuple[int, ...],
                 activation: type[nn.Module], ortho: bool, n_members: int = 0, extra: int = 0,
                 prior: tuple[int, float] | None = None, residual_gain: float = 1.0):
        super().__init__()
        self.n_own, self.n_cand, self.k, self.extra = layout[0], layout[1], n_actions, extra
        self.residual_gain = float(residual_gain)
        # sampling sharpness on top of the logits (the trainer's temperature schedule sets it; argmax,
        # and so the greedy policy, ONNX exports and evaluation, do not depend on it; not saved)
        self.logit_scale = 1.0
        if prior is not None and not 0 <= prior[0] < self.n_cand:
            raise ConfigError(f"prior feature {prior[0]} is not a candidate feature (0..{self.n_cand - 1})")
        self.prior = prior
        sizes = [self.n_own + extra + self.n_cand, *hidden, 1]
        self.ensemble = n_members > 0
        if self.ensemble:
            self.mlp: nn.Module = EnsembleMLP(n_members, sizes, activation)
            if ortho:
                self.mlp.orthogonal_init(math.sqrt(2), 0.01)
        else:
            self.mlp = mlp(sizes, activation, ortho, out_gain=0.01)

    def forward(self, obs: th.Tensor, member: th.Tensor, extra: th.Tensor | None = None) -> th.Tensor:
        b, k = obs.shape[0], self.k
        own = obs[:, : self.n_own]
        if extra is not None:
            own = th.cat([own, extra], dim=1)
        cand = obs[:, self.n_own: self.n_own + k * self.n_cand].reshape(b, k, self.n_cand)
        x = th.cat([own.unsqueeze(1).expand(b, k, own.shape[1]), cand], dim=2).reshape(b * k, -1)
        out = self.mlp(x, member.long().repeat_interleave(k)) if self.ensemble else self.mlp(x)
        logits = out.reshape(b, k)
        if self.residual_gain != 1.0:
            logits = self.residual_gain * logits
        if self.prior is not None:
            logits = logits - self.prior[1] * cand[:, :, self.prior[0]]
        return logits if self.logit_scale == 1.0 else self.logit_scale * logits


class SharedPolicy(MultiAgentPolicy):
    """One actor and one critic for every agent (+ optional learned agent embedding).

    Critic: MLP ``concat(obs, embedding) -> vf_hidden -> 1``. Actor: the
    :class:`CandidateActor` (with ``candidate_layout``) or an MLP ``-> pi_hidden -> K``.
    SB3's initialisation: orthogonal, gain sqrt(2) on hidden layers, 0.01 on the policy
    head, 1 on the value head, zero biases.
    """

    def __init__(self, cfg: PolicyConfig, n_agents: int, obs_dim: int, n_actions: int):
        super().__init__(cfg, n_agents, obs_dim, n_actions)
        emb = cfg.agent_embedding_dim
        act = ACTIVATIONS[cfg.activation]
        self.embedding = nn.Embedding(n_agents, emb) if emb > 0 else None
        self.critic = mlp([obs_dim + emb, *cfg.vf_hidden, 1], act, cfg.ortho_init, out_gain=1.0)
        if cfg.candidate_layout:
            self.actor: nn.Module = CandidateActor(cfg.candidate_layout, n_actions, cfg.pi_hidden, act,
                                                   cfg.ortho_init, extra=emb, prior=cfg.prior,
                                                   residual_gain=cfg.residual_gain)
        else:
            self.actor = mlp([obs_dim + emb, *cfg.pi_hidden, n_actions], act, cfg.ortho_init, out_gain=0.01)

    def _numpy_forward(self) -> NumpyForward | None:
        actor = self.actor
        if self._fast_supported is None:  # the structure is fixed at construction
            self._fast_supported = (type(self) is SharedPolicy and isinstance(actor, CandidateActor)
                                    and not actor.ensemble and plain_mlp_activation(actor.mlp) is not None
                                    and plain_mlp_activation(self.critic) is not None)
            self._fast_params = list(self.parameters())
        if not self._fast_supported or self._fast_params[0].device.type != "cpu":
            return None
        assert isinstance(actor, CandidateActor)
        key = cache_key(self._fast_params, actor.logit_scale)
        if self._fast is None or self._fast.key != key:
            self._fast = NumpyForward(actor, self.critic, self.embedding, key)
        return self._fast

    def _inputs(self, obs: th.Tensor, agent_index: th.Tensor) -> th.Tensor:
        if self.embedding is None:
            return obs.float()
        return th.cat([obs.float(), self.embedding(agent_index.long())], dim=1)

    def predict_values(self, obs: th.Tensor, agent_index: th.Tensor) -> th.Tensor:
        return self.critic(self._inputs(obs, agent_index)).flatten()

    def action_logits(self, obs: th.Tensor, agent_index: th.Tensor) -> th.Tensor:
        if isinstance(self.actor, CandidateActor):
            extra = self.embedding(agent_index.long()) if self.embedding is not None else None
            return self.actor(obs.float(), agent_index, extra)
        return self.actor(self._inputs(obs, agent_index))


def mlp(sizes: list[int], activation: type[nn.Module], ortho: bool, out_gain: float) -> nn.Sequential:
    """Linear layers with ``activation`` between them (none after the last); SB3's init when ``ortho``."""
    layers: list[nn.Module] = []
    last = len(sizes) - 2
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(a, b)
        if ortho:
            nn.init.orthogonal_(lin.weight, gain=out_gain if i == last else math.sqrt(2))
            nn.init.zeros_(lin.bias)
        layers += [lin] if i == last else [lin, activation()]
    return nn.Sequential(*layers)


class EnsembleLinear(nn.Module):
    """N independent linear layers; sample ``b`` goes through member ``member[b]``."""

    def __init__(self, n_members: int, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(th.empty(n_members, in_features, out_features))
        self.bias = nn.Parameter(th.empty(n_members, out_features))
        bound = 1.0 / math.sqrt(in_features)  # nn.Linear's default init, member by member
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def orthogonal_init(self, gain: float) -> None:
        """SB3's init per member: orthogonal ``[out, in]`` weight with ``gain``, zero bias."""
        with th.no_grad():
            for member in self.weight:  # one-off, at construction only
                member.copy_(nn.init.orthogonal_(th.empty(member.shape[1], member.shape[0]), gain=gain).T)
            self.bias.zero_()

    def forward(self, x: th.Tensor, member: th.Tensor) -> th.Tensor:
        return th.bmm(x.unsqueeze(1), self.weight[member]).squeeze(1) + self.bias[member]


class EnsembleMLP(nn.Module):
    """Stack of :class:`EnsembleLinear` layers with an activation between them (none after the last)."""

    def __init__(self, n_members: int, sizes: list[int], activation: type[nn.Module]):
        super().__init__()
        self.layers = nn.ModuleList(EnsembleLinear(n_members, i, o) for i, o in zip(sizes[:-1], sizes[1:]))
        self.activation = activation()

    def orthogonal_init(self, hidden_gain: float, output_gain: float) -> None:
        for k, layer in enumerate(self.layers):
            layer.orthogonal_init(output_gain if k == len(self.layers) - 1 else hidden_gain)  # type: ignore[operator]

    def forward(self, x: th.Tensor, member: th.Tensor) -> th.Tensor:
        for k, layer in enumerate(self.layers):
            x = layer(x, member)
            if k < len(self.layers) - 1:
                x = self.activation(x)
        return x


class PerAgentPolicy(MultiAgentPolicy):
    """A separate actor and critic per agent, computed as one batched ensemble."""

    def __init__(self, cfg: PolicyConfig, n_agents: int, obs_dim: int, n_actions: int):
        super().__init__(cfg, n_agents, obs_dim, n_actions)
        act = ACTIVATIONS[cfg.activation]
        self.critic = EnsembleMLP(n_agents, [obs_dim, *cfg.vf_hidden, 1], act)
        if cfg.candidate_layout:
            self.actor: nn.Module = CandidateActor(cfg.candidate_layout, n_actions, cfg.pi_hidden, act,
                                                   cfg.ortho_init, n_members=n_agents, prior=cfg.prior,
                                                   residual_gain=cfg.residual_gain)
        else:
            self.actor = EnsembleMLP(n_agents, [obs_dim, *cfg.pi_hidden, n_actions], act)
            if cfg.ortho_init:
                self.actor.orthogonal_init(math.sqrt(2), 0.01)
        if cfg.ortho_init:
            self.critic.orthogonal_init(math.sqrt(2), 1.0)

    def predict_values(self, obs: th.Tensor, agent_index: th.Tensor) -> th.Tensor:
        return self.critic(obs.float(), agent_index.long()).squeeze(-1)

    def action_logits(self, obs: th.Tensor, agent_index: th.Tensor) -> th.Tensor:
        return self.actor(obs.float(), agent_index.long())


def build_policy(cfg: PolicyConfig, n_agents: int, obs_dim: int, n_actions: int) -> MultiAgentPolicy:
    """The policy of kind ``cfg.kind``."""
    cls = SharedPolicy if cfg.kind == "shared" else PerAgentPolicy
    return cls(cfg, n_agents, obs_dim, n_actions)
