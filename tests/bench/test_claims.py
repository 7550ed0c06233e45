"""Claim checks (bench/claims.py): Welch intervals against scipy, verdicts, censoring."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from reled_sumo.bench import claims as C


def test_welch_difference_matches_scipy():
    a, b = [200.0, 210.0, 190.0, 205.0], [250.0, 300.0, 240.0, 280.0, 260.0]
    d = C.welch_diff(a, b, 0.95)
    ci = stats.ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    assert d.mean == pytest.approx(np.mean(b) - np.mean(a))
    assert (d.low, d.high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert d.n == 4


def test_verdicts():
    assert C.verdict(C.welch_diff([1.0, 2.0, 3.0], [10.0, 11.0, 12.0])) == "held"  # other worse: RELED better
    assert C.verdict(C.welch_diff([10.0, 11.0, 12.0], [1.0, 2.0, 3.0])) == "refuted"
    assert C.verdict(C.welch_diff([1.0, 5.0, 9.0], [2.0, 6.0, 8.0])) == "inconclusive"
    assert C.verdict(C.welch_diff([1.0], [2.0, 3.0])) == "no data"
    assert C.verdict(C.welch_diff([], [])) == "no data"
    nan_dropped = C.welch_diff([1.0, math.nan, 2.0], [5.0, 6.0])
    assert nan_dropped.n == 2 and nan_dropped.mean == pytest.approx(4.0)


def test_threshold_time_is_censored_at_the_run_end():
    x, wall = np.array([10.0, 20.0, 30.0]), np.array([1.0, 2.0, 3.0])
    assert C.to_threshold(x, wall, np.array([np.nan, 5.0, 3.0]), 5.0) == (20.0, 2.0)
    assert C.to_threshold(x, wall, np.array([9.0, 8.0, 7.0]), 5.0) == (30.0, 3.0)  # never reached


def test_check_claims_covers_each_claim_with_the_suite_methods():
    final = {("a", 10, "reled"): [100.0, 102.0, 98.0], ("a", 10, "ippo"): [150.0, 160.0, 155.0],
             ("a", 10, "reled-no-sed"): [99.0, 101.0, 100.0]}
    eff = {("a", 10, "reled"): [(50.0, 5.0), (60.0, 5.1), (55.0, 5.2)],
           ("a", 10, "ippo"): [(90.0, 4.0), (95.0, 4.1), (92.0, 4.2)]}
    gen = {("b", "reled"): [120.0, 121.0], ("b", "ippo"): [119.0, 122.0]}
    checks = C.check_claims(["a"], [10], ["reled", "ippo", "mappo", "reled-no-sed"], final, eff, gen)
    got = {(c.claim, c.other): c.verdict for c in checks}
    assert got == {("sample efficiency", "ippo"): "held", ("time efficiency", "ippo"): "refuted",
                   ("scalability", "ippo"): "held", ("generalization", "ippo"): "inconclusive",
                   ("ablation: SED", "reled-no-sed"): "inconclusive"}
    assert C.summary(checks)["scalability"] == {"held": 1}  # mappo is in the suite but has no runs yet: no row
    assert C.check_claims(["a"], [10], ["ippo"], final, eff, gen) == []  # no RELED, nothing to check


def test_reled_is_checked_against_the_learning_free_references():
    final = {("a", 10, "reled"): [100.0, 102.0, 98.0]}
    refs = {("a", 10, "shortest"): [120.0, 121.0, 119.0], ("a", 10, "agents-eq"): [90.0, 91.0, 89.0],
            ("a", 10, "random"): [900.0, 950.0]}
    checks = C.check_claims(["a"], [10], ["reled"], final, {}, {}, references=refs)
    got = {(c.claim, c.other): c.verdict for c in checks}
    assert got == {("beats the references", "shortest"): "held", ("beats the references", "agents-eq"): "refuted"}
