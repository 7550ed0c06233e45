"""Multi-agent rollout buffer: a flat, interleaved log of per-agent decisions.

This follows the idea of SB3's ``RolloutBuffer`` / sb3-contrib's ``MaskableRolloutBuffer``
(pre-allocated numpy storage, GAE after collection, shuffled minibatches as torch
tensors, a ``NamedTuple`` of samples), but it is written anew rather than subclassed:
SB3's buffer has shape ``[buffer_size, n_envs]`` and assumes every env emits one
transition per step in lock-step, with ``episode_starts`` marking resets. Here each env
step yields transitions only for the agents that were awaiting a decision, so the buffer
is a flat ``[capacity]`` log with an ``agent_index`` column, and GAE follows each agent's
own trajectory (:func:`reled_sumo.optim.gae.compute_gae`).

A transition is added once it is complete, i.e. when its reward and done flags are
known (at the agent's next decision, or when it terminates / is truncated). For a
truncated transition pass ``final_values = V(final_obs)``: it is bootstrapped as
``r + gamma * V(final_obs)`` (SB3's timeout handling). ``episode_start`` marks an agent's
first decision of an episode; the buffer checks that the previous transition of that
agent was flagged terminated or truncated.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import torch as th

from reled_sumo.optim.gae import compute_gae, successor_index


class RolloutSamples(NamedTuple):
    obs: th.Tensor            # [B, D] float32
    actions: th.Tensor        # [B] int64
    masks: th.Tensor          # [B, K] bool
    old_values: th.Tensor     # [B] float32
    old_log_probs: th.Tensor  # [B] float32
    advantages: th.Tensor     # [B] float32
    returns: th.Tensor        # [B] float32
    agent_index: th.Tensor    # [B] int64


class MultiAgentRolloutBuffer:
    """Pre-allocated storage for up to ``capacity`` agent decisions."""

    def __init__(self, capacity: int, obs_dim: int, n_actions: int, n_agents: int,
                 device: th.device | str = "cpu"):
        if min(capacity, obs_dim, n_actions, n_agents) < 1:
            raise ValueError("capacity, obs_dim, n_actions and n_agents must be >= 1")
        self.capacity, self.obs_dim, self.n_actions, self.n_agents = capacity, obs_dim, n_actions, n_agents
        self.device = th.device(device)
        self.reset()

    def reset(self) -> None:
        c = self.capacity
        self.obs = np.zeros((c, self.obs_dim), dtype=np.float32)
        self.actions = np.zeros(c, dtype=np.int64)
        self.masks = np.ones((c, self.n_actions), dtype=bool)
        self.rewards = np.zeros(c, dtype=np.float32)
        self.values = np.zeros(c, dtype=np.float32)
        self.log_probs = np.zeros(c, dtype=np.float32)
        self.agent_index = np.zeros(c, dtype=np.int64)
        self.episode_start = np.zeros(c, dtype=bool)
        self.terminated = np.zeros(c, dtype=bool)
        self.truncated = np.zeros(c, dtype=bool)
        self.final_values = np.zeros(c, dtype=np.float32)
        self.positions = np.full((c, 2), np.nan, dtype=np.float32)
        self.advantages = np.zeros(c, dtype=np.float32)
        self.returns = np.zeros(c, dtype=np.float32)
        self.pos = 0
        self.ready = False  # advantages computed

    def __len__(self) -> int:
        return self.pos

    @property
    def free(self) -> int:
        return self.capacity - self.pos

    @property
    def full(self) -> bool:
        return self.pos == self.capacity

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        masks: np.ndarray,
        rewards: np.ndarray,
        values: np.ndarray,
        log_probs: np.ndarray,
        agent_index: np.ndarray,
        episode_start: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
        final_values: np.ndarray | None = None,
        positions: np.ndarray | None = None,
    ) -> None:
        """Append ``b`` complete transitions (leading dimension ``b`` on every array)."""
        agent_index = np.asarray(agent_index, dtype=np.int64).reshape(-1)
        b = agent_index.shape[0]
        if b > self.free:
            raise ValueError(f"buffer full: {b} transitions given, {self.free} free")
        if b and (agent_index.min() < 0 or agent_index.max() >= self.n_agents):
            raise ValueError(f"agent_index must lie in [0, {self.n_agents})")
        s = slice(self.pos, self.pos + b)
        self.obs[s] = np.asarray(obs, dtype=np.float32).reshape(b, self.obs_dim)
        self.masks[s] = np.asarray(masks).astype(bool).reshape(b, self.n_actions)
        self.agent_index[s] = agent_index
        for name, value in (("actions", actions), ("rewards", rewards), ("values", values),
                            ("log_probs", log_probs), ("episode_start", episode_start),
                            ("terminated", terminated), ("truncated", truncated)):
            getattr(self, name)[s] = np.asarray(value).reshape(b)
        self.final_values[s] = 0.0 if final_values is None else np.asarray(final_values).reshape(b)
        self.positions[s] = np.nan if positions is None else np.asarray(positions).reshape(b, 2)
        self.pos += b
        self.ready = False

    def _view(self, name: str) -> np.ndarray:
        return getattr(self, name)[: self.pos]

    def open_agents(self) -> np.ndarray:
        """``bool[N]``: agents whose last stored transition is not done (need a last value)."""
        done = self._view("terminated") | self._view("truncated")
        last = successor_index(self._view("agent_index"), self.n_agents) < 0
        out = np.zeros(self.n_agents, dtype=bool)
        out[self._view("agent_index")[last & ~done]] = True
        return out

    def _check_episode_starts(self) -> None:
        idx = self._view("agent_index")
        nxt = successor_index(idx, self.n_agents)
        done = self._view("terminated") | self._view("truncated")
        has_next = nxt >= 0
        bad = has_next & ~done & self._view("episode_start")[np.where(has_next, nxt, 0)]
        if bad.any():
            raise ValueError(f"agents {np.unique(idx[bad]).tolist()} start a new episode although their "
                             "previous transition was neither terminated nor truncated")

    def compute_returns_and_advantage(self, last_values: np.ndarray, gamma: float, gae_lambda: float) -> None:
        """Per-agent GAE; ``last_values[N]`` bootstraps open trajectories (NaN elsewhere is fine)."""
        self._check_episode_starts()
        self.advantages[: self.pos], self.returns[: self.pos] = compute_gae(
            self._view("rewards"), self._view("values"), self._view("agent_index"),
            self._view("terminated"), self._view("truncated"), self._view("final_values"),
            np.asarray(last_values, dtype=np.float64).reshape(self.n_agents), gamma, gae_lambda)
        self.ready = True

    def minibatches(self, batch_size: int, rng: np.random.Generator) -> Iterator[RolloutSamples]:
        """One pass over the buffer in shuffled minibatches (the last one may be smaller)."""
        if not self.ready:
            raise RuntimeError("call compute_returns_and_advantage() before sampling")
        perm = rng.permutation(self.pos)
        for start in range(0, self.pos, batch_size):
            yield self.samples(perm[start: start + batch_size])

    def samples(self, idx: np.ndarray) -> RolloutSamples:
        """The transitions ``idx`` as torch tensors on the buffer's device."""
        def t(name: str) -> th.Tensor:
            return th.as_tensor(getattr(self, name)[idx], device=self.device)
        return RolloutSamples(t("obs"), t("actions"), t("masks"), t("values"), t("log_probs"),
                              t("advantages"), t("returns"), t("agent_index"))

    def n_minibatches(self, batch_size: int) -> int:
        return -(-self.pos // batch_size)

    def agent_paths(self) -> list[np.ndarray]:
        """Per agent, the ``[T_i, 2]`` positions of its latest episode in the buffer (may be empty)."""
        idx, pos, start = self._view("agent_index"), self._view("positions"), self._view("episode_start")
        paths = []
        for agent in range(self.n_agents):  # bookkeeping only, not on the update path
            rows = np.flatnonzero(idx == agent)
            starts = rows[start[rows]]
            rows = rows[rows >= starts[-1]] if starts.size else rows
            paths.append(pos[rows][np.isfinite(pos[rows]).all(axis=1)])
        return paths

    def agent_episode_returns(self) -> np.ndarray:
        """``[N]`` mean undiscounted return of each agent's episodes that start and end in
        the buffer (NaN for agents with none)."""
        idx, rew = self._view("agent_index"), self._view("rewards")
        done = self._view("terminated") | self._view("truncated")
        start = self._view("episode_start")
        out = np.full(self.n_agents, np.nan)
        for agent in range(self.n_agents):
            rows = np.flatnonzero(idx == agent)
            episode_id = np.cumsum(start[rows])
            complete = [e for e in np.unique(episode_id[done[rows]]) if e > 0]
            if complete:
                out[agent] = np.mean([rew[rows][episode_id == e].sum() for e in complete])
        return out
