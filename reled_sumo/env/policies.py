"""Reference policies working on the env's batched ``obs`` / ``infos`` dicts.

A policy is called as ``policy(obs, infos) -> {agent: action}`` and acts only for the
agents with ``infos[agent]["needs_decision"]`` (the env ignores actions of the
others). ``reset(seed)`` re-seeds stochastic policies.

* ``random``: uniform over the valid actions (``infos[agent]["action_mask"]``), seeded.
* ``shortest``: static shortest path by free-flow time: the valid candidate with the
  lowest free-flow time to the destination via it (observation feature
  ``via_time``). Ties go to the lowest slot, like the env's invalid-action fallback.
* ``live``: dynamic shortest path: the valid candidate with the lowest time to the
  destination on the *live* (measured) edge times (feature ``live_via_time``, refreshed
  every ``live_period_s``). It is the greedy policy of the shortest-path prior
  (``hpo.prior_tau``) before any learning: the start every learner improves on.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from reled_sumo.env.observation import C_LIVE_VIA_TIME, C_VIA_TIME, N_CAND, N_OWN
from reled_sumo.errors import ConfigError


def deciding_agents(infos: Mapping[str, Mapping[str, Any]], obs: Mapping[str, Any]) -> list[str]:
    return [a for a in obs if infos.get(a, {}).get("needs_decision", True)]


class Policy:
    name = "base"

    def reset(self, seed: int | None = None) -> None:  # noqa: B027 - optional hook
        pass

    def __call__(self, obs: Mapping[str, np.ndarray], infos: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
        raise NotImplementedError


class RandomPolicy(Policy):
    """Uniform over valid actions; deterministic given the seed and the call sequence."""

    name = "random"

    def __init__(self, seed: int | None = 0):
        self.reset(seed)

    def reset(self, seed: int | None = None) -> None:
        self._rng = np.random.default_rng(seed)

    def __call__(self, obs, infos):
        agents = deciding_agents(infos, obs)
        if not agents:
            return {}
        mask = np.stack([infos[a]["action_mask"] for a in agents]).astype(bool)
        # a random score per slot; invalid slots lose; rows without any valid slot pick 0
        score = np.where(mask, self._rng.random(mask.shape), -1.0)
        acts = score.argmax(axis=1)
        return dict(zip(agents, acts.tolist()))


class ShortestPathPolicy(Policy):
    """Free-flow shortest path: argmin of the via-candidate free-flow time over valid slots."""

    name = "shortest"
    column = C_VIA_TIME

    def __call__(self, obs, infos):
        agents = deciding_agents(infos, obs)
        if not agents:
            return {}
        o = np.stack([obs[a] for a in agents])
        mask = np.stack([infos[a]["action_mask"] for a in agents]).astype(bool)
        return dict(zip(agents, shortest_actions(o, mask, self.column).tolist()))


class LiveShortestPolicy(ShortestPathPolicy):
    """Dynamic shortest path: argmin of the via-candidate time on live edge times over valid slots."""

    name = "live"
    column = C_LIVE_VIA_TIME


def shortest_actions(obs: np.ndarray, mask: np.ndarray | None, column: int = C_VIA_TIME) -> np.ndarray:
    """Batched shortest path: ``argmin`` of each valid candidate's via time (candidate feature
    ``column``: free-flow ``C_VIA_TIME`` or live ``C_LIVE_VIA_TIME``).

    ``obs[B, D]`` in the env's layout, ``mask[B, K]`` (None: every slot valid) -> ``actions[B]``.
    """
    o = np.asarray(obs)
    k = (o.shape[1] - N_OWN) // N_CAND
    via = np.asarray(o[:, N_OWN + column :: N_CAND][:, :k], dtype=np.float64)
    valid = np.ones_like(via, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    return np.where(valid, via, np.inf).argmin(axis=1)


_POLICIES: dict[str, Callable[..., Policy]] = {
    "random": RandomPolicy,
    "shortest": ShortestPathPolicy,
    "live": LiveShortestPolicy,
}


def register_policy(name: str, factory: Callable[..., Policy]) -> None:
    _POLICIES[name] = factory


def policy_names() -> list[str]:
    return sorted(_POLICIES)


def get_policy(name: str, **kwargs: Any) -> Policy:
    """A new policy instance by name (``random`` accepts ``seed``)."""
    try:
        factory = _POLICIES[name]
    except KeyError:
        raise ConfigError(f"unknown policy {name!r}; choose one of {', '.join(policy_names())}") from None
    return factory(**kwargs)
