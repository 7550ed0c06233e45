"""The RELED paper's claims, checked on a suite's results (docs/benchmarks.md, "Claims").

Every check is a two-sample comparison between RELED and another method on one cell (city,
agent count, or generalization target), across training seeds:

    d = mean(other) - mean(reled)          (lower is better for every metric here,
                                             so d > 0 means RELED is better)
    CI(d) = d ± t_{(1+c)/2, nu} * sqrt(s_a^2/n_a + s_b^2/n_b)   (Welch; nu by Welch-Satterthwaite)

verdict: ``held`` when the whole CI is > 0, ``refuted`` when it is < 0, ``inconclusive``
otherwise, ``no data`` with fewer than 2 runs on a side. Claims and metrics:

* sample efficiency -- env decisions until the run's rolling-mean rollout travel time first
  reaches the final IPPO level (suite ``threshold_method``), vs ``ippo``;
* time efficiency -- wall-clock seconds (``time/elapsed_s``) until the same point, vs ``ippo``;
  a run that never reaches the threshold counts with its whole run (censored: this favours it);
* scalability -- final greedy travel time at each agent count, vs ``ippo`` and ``mappo``;
* generalization -- greedy travel time on each generalization target, vs ``ippo``;
* ablations -- final greedy travel time vs ``reled-no-sed`` (SED), ``reled-fixed-w`` (DTW
  weights) and ``bc`` (the PPO term of HPO: expert loss alone). The expert term itself is
  RELED vs IPPO, i.e. the scalability rows against ``ippo``;
* beats the references -- final greedy travel time vs the learning-free references
  ``shortest``, ``live`` (dynamic shortest path: the learners' prior before learning),
  ``routing`` (the routing expert), ``sumo-rerouting`` and ``agents-eq`` (the agents-only
  equilibrium). A reference's sample is its eval seeds (the same seeds every
  run is evaluated on), RELED's its training seeds.

Greedy travel times are ``censored_travel_time``: every departed agent, those that did not
arrive with their time in the network up to the horizon (the arrived-only mean would reward a
policy that strands its slow agents). The rollout travel time of the learning curves counts
non-arrivals the same way. A check whose cell has no run on one side is left out.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from scipy import stats as _st

from reled_sumo.metrics.results import rolling_mean
from reled_sumo.metrics.stats import Estimate

RELED = "reled"
TT = "travel time incl. non-arrived (s)"


@dataclass(frozen=True)
class Check:
    claim: str
    scope: str
    other: str
    metric: str
    reled: float
    other_mean: float
    diff: Estimate  # other - reled: > 0 means RELED is better
    verdict: str


def welch_diff(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> Estimate:
    """``mean(b) - mean(a)`` with a Welch t interval; ``n`` is the smaller sample size."""
    x, y = (np.asarray([v for v in s if math.isfinite(v)], dtype=np.float64) for s in (a, b))
    n = int(min(x.size, y.size))
    if n == 0:
        return Estimate(math.nan, math.nan, 0, math.nan, confidence)
    d = float(y.mean() - x.mean())
    if n < 2:
        return Estimate(d, math.nan, n, math.nan, confidence)
    va, vb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = math.sqrt(va + vb)
    if se == 0.0:
        return Estimate(d, 0.0, n, 0.0, confidence)
    nu = (va + vb) ** 2 / (va**2 / (x.size - 1) + vb**2 / (y.size - 1))
    return Estimate(d, float(_st.t.ppf(0.5 + confidence / 2.0, nu)) * se, n, se, confidence)


def verdict(diff: Estimate) -> str:
    if not diff.defined:
        return "no data"
    if diff.low > 0:
        return "held"
    if diff.high < 0:
        return "refuted"
    return "inconclusive"


def _check(claim: str, scope: str, other: str, metric: str, reled: Sequence[float], others: Sequence[float],
           confidence: float) -> Check | None:
    """One comparison; None when a side has no finite value at all (the cell did not run)."""
    if not any(math.isfinite(v) for v in reled) or not any(math.isfinite(v) for v in others):
        return None
    d = welch_diff(reled, others, confidence)
    mean = lambda v: float(np.nanmean(v)) if len(v) and np.isfinite(v).any() else math.nan  # noqa: E731
    return Check(claim, scope, other, metric, mean(np.asarray(reled, float)), mean(np.asarray(others, float)),
                 d, verdict(d))


def to_threshold(x: np.ndarray, wall: np.ndarray, smoothed: np.ndarray, threshold: float) -> tuple[float, float]:
    """(env decisions, wall s) at the first row with ``smoothed <= threshold``; the run's end if never."""
    hit = np.nonzero(smoothed <= threshold)[0]
    i = int(hit[0]) if hit.size else len(x) - 1
    return float(x[i]), float(wall[i])


def efficiency_samples(curves: Mapping[tuple, Mapping[str, np.ndarray]], levels: Mapping[tuple, float],
                       window: int, cols: tuple[str, str, str]) -> dict[tuple, list[tuple[float, float]]]:
    """(city, agents, method) -> per seed (decisions, wall s) to the (city, agents) threshold."""

    cx, cw, cy = cols
    out: dict[tuple, list[tuple[float, float]]] = {}
    for (city, n, method, _), lg in curves.items():
        thr = levels.get((city, n), math.nan)
        if math.isfinite(thr) and cw in lg:
            out.setdefault((city, n, method), []).append(
                to_threshold(lg[cx], lg[cw], rolling_mean(lg[cy], window), thr))
    return out


REFERENCE_CHECKS = ("shortest", "live", "routing", "sumo-rerouting", "agents-eq")


def check_claims(cities: Sequence[str], agents: Sequence[int], methods: Sequence[str],
                 final: Mapping[tuple, Sequence[float]], efficiency: Mapping[tuple, Sequence[tuple[float, float]]],
                 generalization: Mapping[tuple, Sequence[float]], confidence: float = 0.95,
                 references: Mapping[tuple, Sequence[float]] | None = None) -> list[Check]:
    """All checks whose methods are in the suite. ``final``: (city, n, method) -> per-seed travel
    time; ``generalization``: (target, method) -> per-seed travel time on that target;
    ``references``: (city, n, reference) -> per-eval-seed travel time."""
    checks: list[Check] = []
    if RELED not in methods:
        return checks
    def add(claim: str, scope: str, other: str, metric: str, reled: Sequence[float], others: Sequence[float]) -> None:
        if (c := _check(claim, scope, other, metric, reled, others, confidence)) is not None:
            checks.append(c)

    cells = [(c, n) for c in cities for n in agents]
    if "ippo" in methods:
        for c, n in cells:
            eff_r, eff_i = efficiency.get((c, n, RELED), []), efficiency.get((c, n, "ippo"), [])
            add("sample efficiency", f"{c}, {n}", "ippo", "decisions to IPPO's final level",
                [e[0] for e in eff_r], [e[0] for e in eff_i])
            add("time efficiency", f"{c}, {n}", "ippo", "wall s to IPPO's final level",
                [e[1] for e in eff_r], [e[1] for e in eff_i])
    for other in ("ippo", "mappo"):
        if other in methods:
            for c, n in cells:
                add("scalability", f"{c}, {n}", other, TT, final.get((c, n, RELED), []),
                    final.get((c, n, other), []))
    for (target, method), values in sorted(generalization.items()):
        if method != RELED and (target, RELED) in generalization:
            add("generalization", target, method, TT, generalization[(target, RELED)], values)
    for other, claim in (("reled-no-sed", "ablation: SED"), ("reled-fixed-w", "ablation: DTW weights"),
                         ("bc", "ablation: PPO term (vs BC)")):
        if other in methods:
            for c, n in cells:
                add(claim, f"{c}, {n}", other, TT, final.get((c, n, RELED), []),
                    final.get((c, n, other), []))
    refs = references or {}
    for other in REFERENCE_CHECKS:
        for c, n in cells:
            if (c, n, other) in refs:
                add("beats the references", f"{c}, {n}", other, TT, final.get((c, n, RELED), []), refs[(c, n, other)])
    return checks


def summary(checks: Sequence[Check]) -> dict[str, dict[str, int]]:
    """claim -> verdict -> count."""
    out: dict[str, dict[str, int]] = {}
    for c in checks:
        out.setdefault(c.claim, {}).setdefault(c.verdict, 0)
        out[c.claim][c.verdict] += 1
    return out
