"""What the training loop reports and keeps: the progress hooks (:class:`TrainCallback`), one update's
report, the run's result, and :class:`RunState`, the one declared type for the loop's mutable state
(saved in checkpoints and restored on ``--resume``)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from reled_sumo.experts.sed import RoundMetrics


class TrainCallback:
    """Progress hooks (all optional). The CLI's rich progress bar is one."""

    def on_start(self, trainer: Any) -> None: ...  # the Trainer (training/trainer.py) that starts

    def on_phase(self, text: str) -> None: ...

    def on_sed_round(self, metrics: RoundMetrics) -> None: ...

    def on_update(self, report: "UpdateReport") -> None: ...

    def on_end(self, result: "TrainResult") -> None: ...


@dataclass(frozen=True)
class UpdateReport:
    update: int
    decisions: int  # agent decisions so far (the budget's unit)
    total_decisions: int
    episodes: int
    decisions_per_s: float  # end to end (rollouts + SED + training), over the run
    rollout_decisions_per_s: float  # this update's rollouts only
    mean_travel_time: float
    p95_travel_time: float
    arrival_rate: float
    mean_return: float
    w_mean: float
    w_max: float
    w_std: float  # spread of w_i across agents
    w_min: float
    dtw_mean: float
    losses: Mapping[str, float]
    elapsed_s: float


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    checkpoint: Path
    updates: int
    decisions: int
    episodes: int
    wall_seconds: float
    decisions_per_s: float
    last: UpdateReport | None


@dataclass
class RunState:
    updates: int = 0
    decisions: int = 0
    episodes: int = 0
    wall_seconds: float = 0.0
    measured_tt: np.ndarray | None = None  # edge travel times measured in the latest rollouts
    d_scale: float | None = None  # DTW scale of the expert weights (metres), set at the first update
    greedy_returns: np.ndarray | None = None  # per agent, the greedy policy on the teacher's seed (the gate)


__all__ = ["RunState", "TrainCallback", "TrainResult", "UpdateReport"]
