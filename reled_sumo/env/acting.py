"""The policy protocols of the project and the adapters between them, in one place.

A policy acts on a *batch* of deciding agents:

* :data:`ActionsFn` ``(obs[B, D], agent_index[B], mask[B, K]) -> actions[B]``: what every
  greedy policy is (the reference policies, an ONNX policy, a trained policy's greedy actions).
* :data:`ActFn` ``(obs, agent_index, mask) -> (actions, values,
  log_probs)``: what the episode recorder calls; a learner's policy gives values and
  log-probs (:func:`learner_act`), every other policy is an ActionsFn under :func:`with_zero_stats`
  (a learner's greedy actions alone: :func:`greedy_actions`).
* :class:`~reled_sumo.env.episode.BatchPolicy` (``act_batch(StepBatch)``): a policy that
  needs more of the step than the observations (a route follower reads the deciders' edges).

The env's own dict API (``policy(obs dict, infos dict) -> {agent: action}``, PettingZoo's,
used by :mod:`reled_sumo.env.policies` and the GUI) is a :data:`DictPolicy`;
:func:`dict_policy` and :func:`batch_policy` convert between the two shapes.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Protocol, Sequence

import numpy as np

#: act(obs[B, D], agent_index[B], mask[B, K]) -> actions[B]
ActionsFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
#: act(obs[B, D], agent_index[B], mask[B, K]) -> (actions[B], values[B], log_probs[B])
ActFn = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]
DictPolicy = Callable[[Mapping[str, np.ndarray], Mapping[str, Mapping[str, Any]]], dict[str, int]]


def zero_stats(actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(actions, 0 values, 0 log-probs)``: an ActFn's answer for a policy that has neither."""
    zeros = np.zeros(len(actions), dtype=np.float32)
    return actions, zeros, zeros


def with_zero_stats(act: ActionsFn) -> ActFn:
    """An :data:`ActFn` from an :data:`ActionsFn` (values and log-probs 0)."""

    def act_fn(obs: np.ndarray, agent_index: np.ndarray, mask: np.ndarray):
        return zero_stats(np.asarray(act(obs, agent_index, mask), dtype=np.int64))

    return act_fn


class LearnerPolicy(Protocol):
    """A learner's policy (``optim.MultiAgentPolicy``): ``act(obs, agent_index, mask, deterministic)
    -> (actions, values, log_probs)`` (the protocol only; no torch here)."""

    def act(self, obs: np.ndarray, agent_index: np.ndarray, mask: np.ndarray | None,
            deterministic: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


def learner_act(policy: LearnerPolicy, deterministic: bool = True) -> ActFn:
    """An :data:`ActFn` from a learner's policy (greedy actions by default)."""

    def act(obs: np.ndarray, agent_index: np.ndarray, mask: np.ndarray):
        return policy.act(obs, agent_index, mask, deterministic)

    return act


def greedy_actions(policy: LearnerPolicy) -> ActionsFn:
    """A learner's deterministic actions as an :data:`ActionsFn` (values and log-probs dropped)."""

    def act(obs: np.ndarray, agent_index: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return policy.act(obs, agent_index, mask, True)[0]

    return act


def dict_policy(possible_agents: Sequence[str], act: ActionsFn) -> DictPolicy:
    """The env's dict API over a batched :data:`ActionsFn`, called once per step for the agents
    that need a decision (agent indices: positions in ``possible_agents``)."""
    index = {a: i for i, a in enumerate(possible_agents)}

    def policy(obs: Mapping[str, np.ndarray], infos: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
        deciders = [a for a in obs if infos[a].get("needs_decision")]
        if not deciders:
            return {}
        o = np.stack([obs[a] for a in deciders])
        m = np.stack([infos[a]["action_mask"] for a in deciders]).astype(bool)
        actions = act(o, np.array([index[a] for a in deciders]), m)
        return {a: int(k) for a, k in zip(deciders, actions)}

    return policy


def batch_policy(policy: DictPolicy) -> ActionsFn:
    """A batched :data:`ActionsFn` over a dict-API policy (every row is a decider)."""

    def act(obs: np.ndarray, agent_index: np.ndarray, mask: np.ndarray) -> np.ndarray:
        keys = [str(j) for j in range(len(obs))]
        acts = policy(dict(zip(keys, obs)), {k: {"needs_decision": True, "action_mask": m} for k, m in zip(keys, mask)})
        return np.array([int(acts[k]) for k in keys], dtype=np.int64)

    return act
