"""MAPPO pieces: a centralized critic on ``[own obs, global state]`` with decentralized actors.

The rollout buffer stores, for MAPPO, the *augmented* observation ``concat(own obs [D],
global state [G])``. :class:`CentralCriticPolicy` reads only the first ``D`` features for
its actor (a shared or per-agent actor, as ``PolicyConfig.kind`` says) and the whole
vector for its critic (one MLP shared by all agents). Given a plain ``[B, D]``
observation (decentralized execution: eval, watch) the actor works unchanged and the
critic sees a zero global state.

The global state comes from ``env.state()`` when the env declares a ``state_space``;
otherwise it is built here (:class:`GlobalStateEnv`) as the mean of the observations of all
live agents in that env step (each live agent's latest observation), so ``G = D``.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch as th

from reled_sumo.optim.policy import ACTIVATIONS, MultiAgentPolicy, PolicyConfig, build_policy, mlp



class CentralCriticPolicy(MultiAgentPolicy):
    """Actor on own obs (shared or per-agent) + centralized critic ``V([own obs, global state])``."""

    def __init__(self, cfg: PolicyConfig, n_agents: int, obs_dim: int, n_actions: int, state_dim: int):
        super().__init__(cfg, n_agents, obs_dim + state_dim, n_actions)
        self.own_dim, self.state_dim = obs_dim, state_dim
        # the actor's own (decentralized) value head is unused: keep it minimal
        self.actor = build_policy(replace(cfg, vf_hidden=(1,)), n_agents, obs_dim, n_actions)
        self.critic = mlp([obs_dim + state_dim, *cfg.vf_hidden, 1], ACTIVATIONS[cfg.activation], cfg.ortho_init, 1.0)

    def _full(self, obs: th.Tensor) -> th.Tensor:
        obs = obs.float()
        if obs.shape[1] == self.own_dim:
            return th.cat([obs, obs.new_zeros(obs.shape[0], self.state_dim)], dim=1)
        return obs

    def predict_values(self, obs: th.Tensor, agent_index: th.Tensor) -> th.Tensor:
        return self.critic(self._full(obs)).squeeze(-1)

    def action_logits(self, obs: th.Tensor, agent_index: th.Tensor) -> th.Tensor:
        return self.actor.action_logits(obs[:, : self.own_dim].float(), agent_index)


def env_has_state(env) -> bool:
    return getattr(env, "state_space", None) is not None


def global_state_dim(env) -> int:
    """``G``: ``env.state_space`` size, else the observation size (mean-pooled observations)."""
    return int(np.prod(env.state_space.shape)) if env_has_state(env) else int(env.obs_dim)


class GlobalStateEnv:
    """Env proxy whose observations are ``concat(own obs, global state)`` (MAPPO rollouts).

    The state of a step is ``env.state()`` when the env declares a ``state_space``, else
    the mean of the observations of every agent in that step's observation dict (every
    live agent's latest observation), zeros when there is none.
    """

    def __init__(self, env):
        self._env, self.native, self.dim = env, env_has_state(env), global_state_dim(env)

    def __getattr__(self, name: str):
        return getattr(self._env, name)

    def reset(self, seed: int | None = None, options=None):
        obs, infos = self._env.reset(seed=seed, options=options)
        return self._augment(obs), infos

    def step(self, actions):
        obs, rewards, terms, truncs, infos = self._env.step(actions)
        return self._augment(obs), rewards, terms, truncs, infos

    def state(self, obs) -> np.ndarray:
        if self.native:
            return np.asarray(self._env.state(), dtype=np.float32).reshape(self.dim)
        if not obs:
            return np.zeros(self.dim, dtype=np.float32)
        return np.mean(np.stack(list(obs.values())), axis=0).astype(np.float32)

    def _augment(self, obs):
        s = self.state(obs)
        return {a: np.concatenate([np.asarray(o, dtype=np.float32), s]) for a, o in obs.items()}
