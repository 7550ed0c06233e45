"""Non-stationarity measures of SED (see docs/method.md, "SED metrics").

All functions are pure and vectorised over agents where it matters:

* volatility  v_i  = coefficient of variation (std / mean) of agent i's travel time over
  the SED rounds so far and the common-random-number seeds of this round
  (``volatility="travel_time"``, default: what changes between rounds, without the constant
  arrival bonus that dominates per-decision rewards); or the population std of its
  per-decision rewards in its trajectory (``"per_decision"``), or the std of its returns
  over the rounds (``"across_rounds"``);
* subset divergence  d_S  = mean over members j of S of the Jaccard distance between j's
  route in this round and in the previous round (1 - |A ∩ B| / |A ∪ B| on edge sets)
  (``divergence="jaccard"``), or the Jensen-Shannon divergence (base 2, in [0, 1]) between the
  subset's junction-choice distributions of the two rounds (``divergence="js"``): the
  frequencies of the (edge, next edge) turns its members take;
* bound              B_i  = alpha * v_i + beta * d_{S(i)}.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from reled_sumo.errors import ConfigError
from reled_sumo.validation import check_field_types


DIVERGENCES = ("jaccard", "js")
VOLATILITIES = ("travel_time", "per_decision", "across_rounds")


@dataclass(frozen=True)
class BoundConfig:
    alpha: float = 1.0  # weight of reward volatility
    beta: float = 1.0  # weight of intra-subset divergence
    volatility: str = "travel_time"  # or "per_decision", "across_rounds"
    divergence: str = "jaccard"  # or "js" (junction choices of the whole subset)

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.alpha < 0 or self.beta < 0:
            raise ConfigError("SED bound weights alpha and beta must be >= 0")
        if self.divergence not in DIVERGENCES:
            raise ConfigError(f"unknown divergence {self.divergence!r}; choose from {', '.join(DIVERGENCES)}")
        if self.volatility not in VOLATILITIES:
            raise ConfigError(f"unknown volatility measure {self.volatility!r}")


def jaccard_distance(a: Sequence[str], b: Sequence[str]) -> float:
    sa, sb = set(a), set(b)
    if not sa and not sb:
        return 0.0
    return 1.0 - len(sa & sb) / len(sa | sb)


def reward_volatility(rewards: Sequence[float]) -> float:
    r = np.asarray(rewards, dtype=np.float64)
    return float(r.std()) if r.size > 1 else 0.0


def js_divergence(p: Mapping, q: Mapping) -> float:
    """Jensen-Shannon divergence (base 2, in [0, 1]) of two count mappings; 0 if both are empty."""
    keys = sorted(set(p) | set(q), key=repr)
    a = np.array([p.get(k, 0.0) for k in keys], dtype=np.float64)
    b = np.array([q.get(k, 0.0) for k in keys], dtype=np.float64)
    if a.sum() <= 0 and b.sum() <= 0:
        return 0.0
    if a.sum() <= 0 or b.sum() <= 0:
        return 1.0
    a, b = a / a.sum(), b / b.sum()
    m = 0.5 * (a + b)

    def kl(x: np.ndarray) -> float:
        nz = x > 0
        return float(np.sum(x[nz] * np.log2(x[nz] / m[nz])))

    return float(np.clip(0.5 * kl(a) + 0.5 * kl(b), 0.0, 1.0))


def turn_counts(routes: Sequence[Sequence[str]]) -> dict[tuple[str, str], int]:
    """How often each (edge, next edge) junction choice occurs in ``routes``."""
    counts: dict[tuple[str, str], int] = {}
    for r in routes:
        for turn in zip(r[:-1], r[1:]):
            counts[turn] = counts.get(turn, 0) + 1
    return counts


def _subset_value(members: Sequence[str], now: Mapping[str, Sequence[str]],
                  before: Mapping[str, Sequence[str]], kind: str) -> float:
    if not members:
        return 0.0
    if kind == "js":
        return js_divergence(turn_counts([now.get(m, ()) for m in members]),
                             turn_counts([before.get(m, ()) for m in members]))
    return float(np.mean([jaccard_distance(now.get(m, ()), before.get(m, ())) for m in members]))


def subset_divergence(
    subsets: Sequence[Sequence[str]],
    routes_now: Mapping[str, Sequence[str]],
    routes_before: Mapping[str, Sequence[str]],
    kind: str = "jaccard",
) -> dict[str, float]:
    """Per agent: its subset's route change between the rounds (mean Jaccard, or JS of turns)."""
    if kind not in DIVERGENCES:
        raise ConfigError(f"unknown divergence {kind!r}; choose from {', '.join(DIVERGENCES)}")
    out: dict[str, float] = {}
    for members in subsets:
        value = _subset_value(members, routes_now, routes_before, kind)
        for m in members:
            out[m] = value
    return out


def bounds(
    volatility: Mapping[str, float], divergence: Mapping[str, float], cfg: BoundConfig
) -> dict[str, float]:
    return {a: cfg.alpha * v + cfg.beta * divergence.get(a, 0.0) for a, v in volatility.items()}


def volatility_of(
    per_decision_rewards: Mapping[str, Sequence[float]],
    return_history: Mapping[str, Sequence[float]],
    cfg: BoundConfig,
    travel_time_history: Mapping[str, Sequence[float]] | None = None,
) -> dict[str, float]:
    if cfg.volatility == "travel_time":
        hist = travel_time_history or {}
        return {a: _cv(hist.get(a, ())) for a in per_decision_rewards}
    if cfg.volatility == "per_decision":
        return {a: reward_volatility(r) for a, r in per_decision_rewards.items()}
    return {a: reward_volatility(return_history.get(a, ())) for a in per_decision_rewards}


def _cv(values: Sequence[float]) -> float:
    """std / mean of the finite values (0 for fewer than two)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size < 2 or v.mean() <= 0:
        return 0.0
    return float(v.std() / v.mean())
