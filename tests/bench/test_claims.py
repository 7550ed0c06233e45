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


def _budget_like_spec(**roles):
    from reled_sumo.bench import suite as S

    raw = S.load_suite("budget")
    d = {k: getattr(raw, k) for k in raw.__dataclass_fields__}
    d["methods"] = [m.__dict__ for m in raw.methods]
    d["cities"] = [c.__dict__ for c in raw.cities]
    d["claims_roles"] = roles
    return S.suite_from_dict(d)


def test_claims_roles_let_a_suite_name_which_methods_play_reled_and_ippo():
    """The budget suite's methods are reled-20k / ippo-20k: without roles it has no claim table."""
    from reled_sumo.bench.suite_report import Sample, claims_section

    spec = _budget_like_spec(reled="reled-20k", ippo="ippo-20k")
    tt = {"reled-20k": [180.0, 182.0, 181.0], "ippo-20k": [200.0, 204.0, 202.0]}
    samples = [Sample("train", "kotka", 100, m, s, None, {"censored_travel_time": v})
               for m, vals in tt.items() for s, v in enumerate(vals)]
    samples += [Sample("ref", "kotka", 100, "shortest", None, None, {"censored_travel_time": v})
                for v in (230.0, 228.0, 232.0)]
    md = "\n".join(claims_section(spec, samples, {}))
    assert "| scalability | kotka, 100 | ippo |" in md and "| beats the references | kotka, 100 | shortest |" in md
    assert "reled = `reled-20k`" in md and "ippo = `ippo-20k`" in md
    assert claims_section(_budget_like_spec(), samples, {}) == []  # no method plays reled: no claims


@pytest.mark.parametrize("roles, message", [
    ({"reled": "nope"}, "are not methods of the suite"),
    ({"reled": "reled-20k", "ippo": "reled-20k"}, "one role only"),
    ({"reled-20k": "ippo-20k"}, "also method names"),
    ({"reled": 3}, "must map role names to method names"),
])
def test_bad_claims_roles_are_refused(roles, message):
    from reled_sumo.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        _budget_like_spec(**roles)
