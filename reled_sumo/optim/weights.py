"""Per-agent expert-loss weights w_i for Hybrid Expert-Agent Policy Optimization.

Default ``mode="dtw"``::

    far_i  = 1 - exp(-d_i / d_scale)                                    in [0, 1)
    (d_scale "auto": the median DTW of the first update with demonstrations)
    gap_i  = clip((R_exp_i - R_agent_i) / (|R_exp_i| * gap_scale + eps), 0, 1)
    w_i    = w_max * far_i * gap_i

so an agent is pulled towards its expert more the further its path is from the
expert's (DTW distance ``d_i``, metres, see :mod:`reled_sumo.optim.dtw`) while the
expert still earns more than the agent; the weight is exactly 0 once the agent's
return matches or beats the expert's. ``R_agent_i`` is, by default (``gate="greedy"``),
the return of the agent's *greedy* policy on the teacher's SUMO seed (common random
numbers), so a teacher that is worse than what the agent already does (at the start:
the shortest-path prior) gets weight 0 for that agent from the first update on. Alternatives: ``mode="fixed"`` gives every agent
with a demonstration the constant ``fixed_weight``; ``mode="zero"`` gives 0 to all
(plain IPPO).

Missing data: an agent has a demonstration iff ``has_demo[i]`` (default:
``expert_return[i]`` is finite); agents without one always get 0. For an agent with a
demonstration, a NaN distance (no path yet) counts as far (``far_i = 1``) and a NaN
agent return (no finished episode yet) counts as a full gap (``gap_i = 1``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from reled_sumo.errors import ConfigError
from reled_sumo.validation import check_field_types

WeightMode = Literal["dtw", "fixed", "zero"]


@dataclass(frozen=True)
class WeightConfig:
    """Knobs of the expert-weight schedule (see module docstring for the formula)."""

    mode: WeightMode = "dtw"
    w_max: float = 1.0        # upper bound of w_i in "dtw" mode
    d_scale: float | str = "auto"  # metres (DTW distance at which far_i = 1 - 1/e), or "auto": the
    # median DTW of the first update with demonstrations (the trainer calibrates it once, from data)
    gap_scale: float = 0.1    # return gap, as a fraction of |R_exp|, at which gap_i saturates to 1
    fixed_weight: float = 0.5  # w_i in "fixed" mode
    eps: float = 1e-8
    # which return of the agent the gap compares with the expert's: "greedy", what the agent would do
    # (its deterministic policy on the teacher's SUMO seed, re-measured every gate_every updates), or
    # "sampled", the mean return of the update's exploring rollouts (before 2026-12: they are far worse
    # than the greedy policy, so the gate stayed open and pulled the agents towards a worse teacher)
    gate: Literal["greedy", "sampled"] = "greedy"
    gate_every: int = 5

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.mode not in ("dtw", "fixed", "zero"):
            raise ConfigError(f"weight mode must be 'dtw', 'fixed' or 'zero', got {self.mode!r}")
        for name in ("w_max", "fixed_weight", "eps"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"weight {name} must be >= 0, got {getattr(self, name)}")
        if self.d_scale != "auto" and not (_number(self.d_scale) and float(self.d_scale) > 0):
            raise ConfigError(f"weight d_scale must be > 0 metres or 'auto', got {self.d_scale!r}")
        if self.gate not in ("greedy", "sampled"):
            raise ConfigError(f"weight gate must be 'greedy' or 'sampled', got {self.gate!r}")
        if not (isinstance(self.gate_every, int) and not isinstance(self.gate_every, bool) and self.gate_every >= 1):
            raise ConfigError(f"weight gate_every must be an integer >= 1, got {self.gate_every!r}")
        if not (_number(self.gap_scale) and self.gap_scale > 0):
            raise ConfigError(f"weight gap_scale must be > 0, got {self.gap_scale!r}")


def expert_weights(
    dtw: np.ndarray,
    agent_return: np.ndarray,
    expert_return: np.ndarray,
    cfg: WeightConfig,
    has_demo: np.ndarray | None = None,
    d_scale: float | None = None,
) -> np.ndarray:
    """Weights ``w[N]`` (float32, >= 0) of each agent's expert loss. ``d_scale`` overrides
    ``cfg.d_scale`` (needed when it is ``"auto"``: see :func:`calibrate_d_scale`)."""
    dtw = np.asarray(dtw, dtype=np.float64)
    agent_return = np.asarray(agent_return, dtype=np.float64)
    expert_return = np.asarray(expert_return, dtype=np.float64)
    if not dtw.shape == agent_return.shape == expert_return.shape or dtw.ndim != 1:
        raise ValueError(f"expected three [N] arrays, got {dtw.shape}, {agent_return.shape}, {expert_return.shape}")
    demo = np.isfinite(expert_return) if has_demo is None else np.asarray(has_demo, dtype=bool)

    if cfg.mode == "zero":
        w = np.zeros_like(dtw)
    elif cfg.mode == "fixed":
        w = np.full_like(dtw, cfg.fixed_weight)
    else:
        scale = d_scale if d_scale is not None else cfg.d_scale
        if not (_number(scale) and float(scale) > 0):
            raise ValueError(f"d_scale must be a positive number of metres here, got {scale!r}")
        far = np.where(np.isfinite(dtw), 1.0 - np.exp(-np.maximum(dtw, 0.0) / scale), 1.0)
        gap = (expert_return - agent_return) / (np.abs(expert_return) * cfg.gap_scale + cfg.eps)
        gap = np.where(np.isfinite(agent_return), np.clip(gap, 0.0, 1.0), 1.0)
        w = cfg.w_max * far * gap
    w = np.where(demo, w, 0.0)
    return np.nan_to_num(w, nan=0.0).astype(np.float32)


def calibrate_d_scale(dtw: np.ndarray, fallback: float = 50.0) -> float:
    """The median of the finite, positive DTW distances (metres): with it, an agent at the
    typical distance from its expert gets ``far_i = 1 - 1/e``, and ``far`` spreads across
    agents instead of saturating at 1. ``fallback`` when there is no such distance."""
    d = np.asarray(dtw, dtype=np.float64)
    d = d[np.isfinite(d) & (d > 0)]
    return float(np.median(d)) if d.size else float(fallback)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)
