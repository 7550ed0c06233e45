"""Paired comparisons on shared seeds: the per-seed difference, ratio, median, jam rate, verdict."""
from __future__ import annotations

import math

import pytest

from reled_sumo.errors import ConfigError
from reled_sumo.evaluation.paired import compare_paired, learned_vs_references
from reled_sumo.evaluation.report import write_report
from reled_sumo.metrics.results import EvalResult, SeedMetrics


def _seed(seed: int, censored: float) -> SeedMetrics:
    return SeedMetrics(seed=seed, n_agents=2, mean_travel_time=censored - 5, p95_travel_time=censored,
                       arrival_rate=1.0, mean_waiting_time=1.0, teleports=0, mean_return=-1.0, unfinished=0,
                       not_departed=0, censored_travel_time=censored, wall_seconds=0.1)


def _result(method, values, seeds=None, reference=False) -> EvalResult:
    seeds = seeds or range(10_000, 10_000 + len(values))
    return EvalResult(method, "kotka", "h", tuple(_seed(s, v) for s, v in zip(seeds, values)),
                      {"kind": "reference"} if reference else {})


def test_pairing_removes_the_noise_both_share():
    """Seed noise of +-50 s that both methods share: unpaired the difference is lost in it, paired it is 5 s."""
    noise = [0, 50, -40, 30, -50, 20, 45, -35, 10, -25]
    base = _result("live", [200 + n for n in noise], reference=True)
    run = _result("ippo", [195 + n for n in noise])
    c = compare_paired(run, base)
    assert c.n == 10 and c.diff.mean == pytest.approx(-5.0) and c.diff.half_width == pytest.approx(0.0, abs=1e-9)
    assert c.verdict == "better" and "beats live" in c.sentence()
    assert c.median == pytest.approx(195 + 5) and c.baseline_median == pytest.approx(200 + 5)


def test_only_shared_finite_seeds_count_and_jams_are_counted_per_seed():
    base = _result("live", [100, 100, 100, 100, math.nan], seeds=[1, 2, 3, 4, 5], reference=True)
    run = _result("ippo", [90, 130, 125, 100, 80, 70], seeds=[1, 2, 3, 4, 5, 6])
    c = compare_paired(run, base)
    assert c.n == 4  # seed 5 has no finite baseline, seed 6 no baseline at all
    assert c.jam_rate == pytest.approx(0.5)  # 130 and 125 are above 1.2 x 100
    assert c.diff.mean == pytest.approx(11.25) and c.verdict == "no clear difference"
    assert c.ratio.mean == pytest.approx((0.9 + 1.3 + 1.25 + 1.0) / 4)


def test_worse_too_few_and_bad_factor():
    base = _result("live", [100, 101, 99], reference=True)
    assert compare_paired(_result("x", [120, 122, 119]), base).verdict == "worse"
    assert compare_paired(_result("x", [120]), base).verdict == "too few seeds"
    with pytest.raises(ConfigError):
        compare_paired(_result("x", [1, 2]), base, jam_factor=float("nan"))


def test_runs_against_references_in_the_report(tmp_path):
    results = [_result("reled:a", [90, 95, 92]), _result("live", [100, 101, 99], reference=True),
               _result("routing", [91, 94, 93], reference=True)]
    comps = learned_vs_references(results)
    assert [(c.method, c.baseline, c.verdict) for c in comps] == [
        ("reled:a", "live", "better"), ("reled:a", "routing", "no clear difference")]
    md = write_report(results, tmp_path).markdown.read_text()
    assert "## Paired against the references" in md
    assert "- reled:a beats live: -7.7 ±" in md and "does not clearly differ from routing" in md
