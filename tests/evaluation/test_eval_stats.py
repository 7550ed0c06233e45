"""Mean and Student-t confidence intervals against known samples."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from reled_sumo.errors import ConfigError
from reled_sumo.metrics.stats import mean_ci


def test_hand_computed_case():
    # x = 1..5: mean 3, s^2 = 10/4 = 2.5, se = sqrt(2.5/5) = sqrt(0.5), t_{0.975,4} = 2.776445
    e = mean_ci([1, 2, 3, 4, 5])
    assert e.n == 5 and e.mean == pytest.approx(3.0)
    assert e.std == pytest.approx(math.sqrt(2.5))
    assert e.half_width == pytest.approx(2.776445 * math.sqrt(0.5), rel=1e-6)
    assert (e.low, e.high) == pytest.approx((3 - 1.963243, 3 + 1.963243), rel=1e-6)
    assert e.format(2) == "3.00 ± 1.96"


@pytest.mark.parametrize("values,conf", [
    ([123.4, 130.1, 118.9], 0.95),
    ([0.91, 0.97, 1.0, 0.88, 0.95, 0.93], 0.95),
    ([10.0, 12.0], 0.90),
    ([-1.5, -1.2, -1.9, -1.1], 0.99),
])
def test_matches_scipy_t_interval(values, conf):
    x = np.asarray(values)
    lo, hi = st.t.interval(conf, len(x) - 1, loc=x.mean(), scale=st.sem(x))
    e = mean_ci(values, conf)
    assert (e.low, e.high) == pytest.approx((lo, hi), rel=1e-9)
    assert e.confidence == conf


def test_single_value_has_undefined_ci():
    e = mean_ci([42.0])
    assert e.n == 1 and e.mean == 42.0
    assert not e.defined and math.isnan(e.half_width) and math.isnan(e.low)
    assert e.format(1) == "42.0 (CI undefined, n=1)"


def test_empty_and_nonfinite_values():
    assert mean_ci([]).format() == "n/a"
    assert mean_ci([math.nan, math.inf]).n == 0
    e = mean_ci([1.0, math.nan, 3.0])
    assert e.n == 2 and e.mean == 2.0


def test_zero_variance_gives_zero_width():
    e = mean_ci([1.0, 1.0, 1.0])
    assert e.half_width == 0.0 and e.defined


def test_bad_confidence():
    with pytest.raises(ConfigError):
        mean_ci([1, 2], confidence=1.0)
