"""Non-stationarity measures of SED (see docs/method.md, "SED metrics").

All functions are pure and vectorised over agents where it matters:

* reward volatility  v_i  = population std of agent i's per-decision rewards in its trajectory
  (``volatility="per_decision"``), or the std of its returns over the last rounds
  (``volatility="across_rounds"``);
* subset divergence  d_S  = mean over members j of S of the Jaccard distance between j's
  route in this round and in the previous round (1 - |A ∩ B| / |A ∪ B| on edge sets);
* bound              B_i  = alpha * v_i + beta * d_{S(i)}.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from reled_sumo.errors import ConfigError


@dataclass(frozen=True)
class BoundConfig:
    alpha: float = 1.0  # weight of reward volatility
    beta: float = 1.0  # weight of intra-subset divergence
    volatility: str = "per_decision"  # or "across_rounds"

    def __post_init__(self) -> None:
        if self.alpha < 0 or self.beta < 0:
            raise ConfigError("SED bound weights alpha and beta must be >= 0")
        if self.volatility not in ("per_decision", "across_rounds"):
            raise ConfigError(f"unknown volatility measure {self.volatility!r}")


def jaccard_distance(a: Sequence[str], b: Sequence[str]) -> float:
    sa, sb = set(a), set(b)
    if not sa and not sb:
        return 0.0
    return 1.0 - len(sa & sb) / len(sa | sb)


def reward_volatility(rewards: Sequence[float]) -> float:
    r = np.asarray(rewards, dtype=np.float64)
    return float(r.std()) if r.size > 1 else 0.0


def subset_divergence(
    subsets: Sequence[Sequence[str]],
    routes_now: Mapping[str, Sequence[str]],
    routes_before: Mapping[str, Sequence[str]],
) -> dict[str, float]:
    """Per agent: the mean Jaccard route change of the members of its subset."""
    out: dict[str, float] = {}
    for members in subsets:
        d = [jaccard_distance(routes_now.get(m, ()), routes_before.get(m, ())) for m in members]
        mean = float(np.mean(d)) if d else 0.0
        for m in members:
            out[m] = mean
    return out


def bounds(
    volatility: Mapping[str, float], divergence: Mapping[str, float], cfg: BoundConfig
) -> dict[str, float]:
    return {a: cfg.alpha * v + cfg.beta * divergence.get(a, 0.0) for a, v in volatility.items()}


def volatility_of(
    per_decision_rewards: Mapping[str, Sequence[float]],
    return_history: Mapping[str, Sequence[float]],
    cfg: BoundConfig,
) -> dict[str, float]:
    if cfg.volatility == "per_decision":
        return {a: reward_volatility(r) for a, r in per_decision_rewards.items()}
    return {a: reward_volatility(return_history.get(a, ())) for a in per_decision_rewards}
