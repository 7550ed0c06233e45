"""Evaluation result types (no project imports but errors, stats and safe_write; no torch).

Metric definitions: :mod:`reled_sumo.evaluation.evaluate` and docs/evaluation.md.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from reled_sumo.errors import ConfigError
from reled_sumo.metrics.stats import Estimate, mean_ci
from reled_sumo.safe_write import write_output

EVAL_SEED_BASE = 10_000  # evaluation seeds 10000, 10001, ... stay clear of training seeds
METRICS = ("mean_travel_time", "p95_travel_time", "arrival_rate", "mean_waiting_time", "teleports", "mean_return")
RESULTS_FILE = "eval_results.json"


def eval_seeds(seeds: int | Iterable[int]) -> tuple[int, ...]:
    """``n`` -> (EVAL_SEED_BASE, ..., EVAL_SEED_BASE + n - 1); an iterable is used as given."""
    if isinstance(seeds, (int, np.integer)):
        if seeds < 1:
            raise ConfigError(f"need at least one evaluation seed, got {seeds}")
        return tuple(EVAL_SEED_BASE + i for i in range(int(seeds)))
    out = tuple(int(s) for s in seeds)
    if not out:
        raise ConfigError("need at least one evaluation seed")
    return out


# ------------------------------------------------------------------ data types
@dataclass(frozen=True, eq=False)
class EpisodeOutcome:
    """Per-agent outcome of one episode (index = position in the agent list)."""

    travel_time: np.ndarray  # [N] s; arrived: to arrival, others: to horizon / teleport; NaN: never departed
    arrived: np.ndarray  # [N] bool
    teleported: np.ndarray  # [N] bool
    departed: np.ndarray  # [N] bool
    waiting_time: np.ndarray  # [N] s; NaN: never departed
    returns: np.ndarray  # [N]
    wall_seconds: float = 0.0


@dataclass(frozen=True)
class SeedMetrics:
    """The metrics of one episode (one seed). See the module doc for the definitions."""

    seed: int
    n_agents: int
    mean_travel_time: float
    p95_travel_time: float
    arrival_rate: float
    mean_waiting_time: float
    teleports: int
    mean_return: float
    unfinished: int
    not_departed: int
    censored_travel_time: float
    wall_seconds: float = field(compare=False)
    travel_times: tuple[float, ...] = field(repr=False, default=())  # arrived agents' travel times

    @classmethod
    def from_outcome(cls, seed: int, o: EpisodeOutcome) -> "SeedMetrics":
        n = int(o.arrived.size)
        tt = o.travel_time[o.arrived]
        dep = o.departed
        return cls(
            seed=int(seed), n_agents=n,
            mean_travel_time=_mean(tt),
            p95_travel_time=float(np.percentile(tt, 95)) if tt.size else math.nan,
            arrival_rate=float(o.arrived.mean()) if n else math.nan,
            mean_waiting_time=_mean(o.waiting_time[dep & np.isfinite(o.waiting_time)]),
            teleports=int(o.teleported.sum()),
            mean_return=_mean(o.returns),
            unfinished=int((dep & ~o.arrived & ~o.teleported).sum()),
            not_departed=int((~dep).sum()),
            censored_travel_time=_mean(o.travel_time[dep & np.isfinite(o.travel_time)]),
            wall_seconds=float(o.wall_seconds),
            travel_times=tuple(float(x) for x in tt),
        )


def _mean(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    return float(x.mean()) if x.size else math.nan


@dataclass(frozen=True)
class EvalResult:
    """One method evaluated on one scenario over several seeds."""

    method: str
    scenario: str
    scenario_hash: str
    per_seed: tuple[SeedMetrics, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(s.seed for s in self.per_seed)

    def values(self, metric: str) -> np.ndarray:
        return np.array([getattr(s, metric) for s in self.per_seed], dtype=np.float64)

    def estimate(self, metric: str, confidence: float = 0.95) -> Estimate:
        """Mean and Student-t CI of a per-seed metric across the seeds."""
        return mean_ci(self.values(metric), confidence)

    def summary(self, confidence: float = 0.95) -> dict[str, Estimate]:
        return {m: self.estimate(m, confidence) for m in METRICS}

    def travel_times(self) -> np.ndarray:
        """All arrived agents' travel times, pooled over the seeds."""
        return np.array([t for s in self.per_seed for t in s.travel_times], dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["meta"] = _jsonable(dict(self.meta))
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "EvalResult":
        seeds = tuple(SeedMetrics(**{**s, "travel_times": tuple(s.get("travel_times", ()))}) for s in d["per_seed"])
        return cls(d["method"], d["scenario"], d["scenario_hash"], seeds, dict(d.get("meta", {})))


def _jsonable(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.integer, np.floating)):
        return x.item()
    if isinstance(x, Path):
        return str(x)
    if x is None or isinstance(x, (str, int, float, bool)):
        return x
    return repr(x)


def save_results(results: Sequence[EvalResult], path: str | Path, force: bool = False) -> Path:
    """Write the results as JSON; a file there that this tool did not write needs ``force``."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    return write_output(p, json.dumps([r.to_dict() for r in results], indent=1, allow_nan=True) + "\n", force)


def load_results(path: str | Path) -> list[EvalResult]:
    return [EvalResult.from_dict(d) for d in json.loads(Path(path).read_text())]


def rolling_mean(y: Sequence[float] | np.ndarray, window: int, min_periods: int | None = None) -> np.ndarray:
    """Trailing mean over ``window`` log rows; NaN for windows with a NaN. The first rows, with
    fewer than ``window`` rows behind them, get the mean of those rows once there are
    ``min_periods`` (default ``window``: NaN until a full window)."""
    y = np.asarray(y, dtype=np.float64)
    out = np.full(y.shape, np.nan)
    if window < 1:
        return out
    need = window if min_periods is None else max(1, min(int(min_periods), window))
    if y.size >= window:
        out[window - 1:] = np.lib.stride_tricks.sliding_window_view(y, window).mean(axis=1)
    for i in range(need - 1, min(window - 1, y.size)):  # the short head: at most window - 1 rows
        out[i] = y[: i + 1].mean()
    return out
