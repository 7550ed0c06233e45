"""Named reward functions of the routing env (a registry, like sumo-rl's ``reward_fn``).

A reward function gets a :class:`RewardInputs` batch (one entry per agent whose
reward is delivered now: at its decision, arrival, teleport or the horizon) and the
:class:`~reled_sumo.env.config.EnvConfig`, and returns a float array.

Rewards *accrue* between an agent's decisions and are delivered in one piece at its
next decision or when it terminates / is truncated; in between the env reports 0.

Built-in:

* ``travel_time`` (default): ``-dt / reward_scale`` with ``dt`` the seconds since the
  agent's previous delivery (its departure for the first one), ``+ arrival_bonus`` on
  arrival, ``- invalid_action_penalty`` per invalid action, ``- teleport_penalty`` on a
  teleport. Summed over an episode it is ``-travel_time / scale`` plus bonuses/penalties.
* ``time_loss``: like ``travel_time`` but only the time lost against free flow:
  ``-(dt - progress) / reward_scale`` where ``progress`` is the drop of the agent's
  remaining free-flow time to its destination since the previous delivery.

Add one with ``@register_reward("name")``.
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Protocol

import numpy as np

from reled_sumo.errors import ConfigError


class RewardParams(Protocol):
    """The reward settings a reward function reads (:class:`~reled_sumo.env.config.EnvConfig` has them)."""

    @property
    def reward_scale(self) -> float: ...

    @property
    def arrival_bonus(self) -> float: ...

    @property
    def invalid_action_penalty(self) -> float: ...

    @property
    def teleport_penalty(self) -> float: ...


class RewardInputs(NamedTuple):
    dt: np.ndarray  # [n] seconds since the previous delivery
    remaining_before: np.ndarray  # [n] free-flow seconds to the destination at the previous delivery
    remaining_now: np.ndarray  # [n] ... now (0 on arrival; last known estimate otherwise)
    arrived: np.ndarray  # [n] bool
    teleported: np.ndarray  # [n] bool
    invalid_actions: np.ndarray  # [n] invalid actions since the previous delivery


RewardFn = Callable[[RewardInputs, RewardParams], np.ndarray]
_REWARDS: dict[str, RewardFn] = {}


def register_reward(name: str) -> Callable[[RewardFn], RewardFn]:
    def deco(fn: RewardFn) -> RewardFn:
        _REWARDS[name] = fn
        return fn

    return deco


def get_reward(name: str) -> RewardFn:
    try:
        return _REWARDS[name]
    except KeyError:
        raise ConfigError(f"unknown reward {name!r}; choose one of {', '.join(sorted(_REWARDS))}") from None


def reward_names() -> list[str]:
    return sorted(_REWARDS)


def bonuses_and_penalties(inp: RewardInputs, cfg: RewardParams) -> np.ndarray:
    """The terms shared by the built-in rewards: arrival bonus, invalid-action and teleport penalties."""
    return (
        cfg.arrival_bonus * inp.arrived
        - cfg.invalid_action_penalty * inp.invalid_actions
        - cfg.teleport_penalty * inp.teleported
    )


@register_reward("travel_time")
def travel_time_reward(inp: RewardInputs, cfg: RewardParams) -> np.ndarray:
    return -inp.dt / cfg.reward_scale + bonuses_and_penalties(inp, cfg)


@register_reward("time_loss")
def time_loss_reward(inp: RewardInputs, cfg: RewardParams) -> np.ndarray:
    progress = inp.remaining_before - inp.remaining_now
    return -(inp.dt - progress) / cfg.reward_scale + bonuses_and_penalties(inp, cfg)
