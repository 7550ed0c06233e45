"""Paired comparisons of two evaluated methods on their shared seeds (common random numbers).

Every method of one ``reled eval`` runs on the same SUMO seeds, so seed ``s`` gives both the same
demand noise and the same background traffic; the per-seed difference removes that noise. With
``a_s`` the method's and ``b_s`` the baseline's value on seed ``s`` (``censored_travel_time`` by
default: every departed agent, the non-arrived ones with their time in the network):

    diff  = mean_s (a_s - b_s) +- t * sd / sqrt(n)      (Student-t over the n shared seeds)
    ratio = mean_s (a_s / b_s) +- t * sd / sqrt(n)
    jam rate = share of shared seeds with a_s > JAM_FACTOR * b_s

and the verdict in words: ``better`` when the whole CI of ``diff`` lies below 0 (lower is better),
``worse`` when it lies above 0, ``no clear difference`` otherwise (``too few seeds`` below 2).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from reled_sumo.errors import ConfigError
from reled_sumo.metrics.results import EvalResult
from reled_sumo.metrics.stats import Estimate, mean_ci

JAM_FACTOR = 1.2
PAIRED_METRIC = "censored_travel_time"


@dataclass(frozen=True)
class PairedComparison:
    method: str
    baseline: str
    metric: str
    n: int  # shared seeds with a finite value on both sides
    diff: Estimate  # method - baseline (lower is better)
    ratio: Estimate  # method / baseline
    median: float  # the method's median over the shared seeds
    baseline_median: float
    jam_rate: float  # share of shared seeds on which the method is above JAM_FACTOR x the baseline
    verdict: str

    def sentence(self, digits: int = 1) -> str:
        """``"better than live: -5.2 ± 3.1 s per seed (0.97 ± 0.02 x), 20 paired seeds"``."""
        if self.n < 2:
            return f"{self.verdict} against {self.baseline} ({self.n} shared seed(s))"
        word = {"better": "beats", "worse": "loses to", "no clear difference": "does not clearly differ from"}
        return (f"{word.get(self.verdict, self.verdict)} {self.baseline}: {self.diff.format(digits)} s per seed "
                f"({self.ratio.format(3)} x), median {self.median:.{digits}f} vs {self.baseline_median:.{digits}f} s, "
                f"jam rate {self.jam_rate:.0%}, {self.n} paired seeds")


def compare_paired(result: EvalResult, baseline: EvalResult, metric: str = PAIRED_METRIC,
                   confidence: float = 0.95, jam_factor: float = JAM_FACTOR) -> PairedComparison:
    """``result`` against ``baseline`` on the seeds both were evaluated on (see the module doc)."""
    if not (math.isfinite(jam_factor) and jam_factor > 0):
        raise ConfigError(f"jam_factor must be a finite number > 0, got {jam_factor!r}")
    a = {s.seed: float(getattr(s, metric)) for s in result.per_seed}
    b = {s.seed: float(getattr(s, metric)) for s in baseline.per_seed}
    seeds = [s for s in a if s in b and math.isfinite(a[s]) and math.isfinite(b[s])]
    x = np.array([a[s] for s in seeds])
    y = np.array([b[s] for s in seeds])
    diff = mean_ci(x - y, confidence)
    ratio = mean_ci(x / np.where(y > 0, y, np.nan), confidence)
    n = len(seeds)
    return PairedComparison(
        result.method, baseline.method, metric, n, diff, ratio,
        float(np.median(x)) if n else math.nan, float(np.median(y)) if n else math.nan,
        float(np.mean(x > jam_factor * y)) if n else math.nan, _verdict(diff))


def _verdict(diff: Estimate) -> str:
    if not diff.defined:
        return "too few seeds"
    if diff.high < 0:
        return "better"
    if diff.low > 0:
        return "worse"
    return "no clear difference"


def learned_vs_references(results: Sequence[EvalResult], confidence: float = 0.95) -> list[PairedComparison]:
    """Every evaluated run (not a reference) against every reference of the same evaluation."""
    refs = [r for r in results if r.meta.get("kind") == "reference"]
    runs = [r for r in results if r.meta.get("kind") != "reference"]
    return [compare_paired(r, b, confidence=confidence) for r in runs for b in refs]


def paired_rows(comparisons: Sequence[PairedComparison]) -> list[tuple[str, ...]]:
    """Rows of the report's paired table."""
    return [(c.method, c.baseline, str(c.n), c.diff.format(1), c.ratio.format(3), f"{c.median:.1f}",
             f"{c.baseline_median:.1f}", f"{c.jam_rate:.0%}" if c.n else "n/a", c.verdict) for c in comparisons]


PAIRED_HEADER = ("method", "against", "seeds", "diff (s)", "ratio", "median (s)", "its median (s)", "jam rate",
                 "verdict")
