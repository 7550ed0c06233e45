"""Mean and Student-t confidence interval across seeds or runs.

For n finite values x_1..x_n (NaN / inf are dropped first):

    mean = sum(x) / n,   s = sqrt(sum((x - mean)^2) / (n - 1)),
    half_width = t_{(1 + c) / 2, n - 1} * s / sqrt(n)

With n = 1 the sample standard deviation and hence the interval are undefined:
``half_width`` is NaN and :meth:`Estimate.format` says "CI undefined (n=1)".
With n = 0 the mean is NaN as well.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np
from scipy import stats as _st

from reled_sumo.errors import ConfigError


@dataclass(frozen=True)
class Estimate:
    mean: float
    half_width: float  # NaN when n < 2
    n: int
    std: float  # sample standard deviation (ddof=1); NaN when n < 2
    confidence: float = 0.95

    @property
    def defined(self) -> bool:
        """True when the confidence interval exists (n >= 2)."""
        return self.n >= 2 and math.isfinite(self.half_width)

    @property
    def low(self) -> float:
        return self.mean - self.half_width if self.defined else math.nan

    @property
    def high(self) -> float:
        return self.mean + self.half_width if self.defined else math.nan

    def format(self, digits: int = 1, ci: bool = True) -> str:
        """``"123.4 ± 5.6"``; ``"123.4 (CI undefined, n=1)"``; ``"n/a"`` without data."""
        if self.n == 0 or not math.isfinite(self.mean):
            return "n/a"
        m = f"{self.mean:.{digits}f}"
        if not ci:
            return m
        if not self.defined:
            return f"{m} (CI undefined, n={self.n})"
        return f"{m} ± {self.half_width:.{digits}f}"


def mean_ci(values: Iterable[float], confidence: float = 0.95) -> Estimate:
    """Mean and two-sided Student-t CI (``confidence`` in (0, 1)) of the finite ``values``."""
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence must lie in (0, 1), got {confidence}")
    x = np.asarray(list(values), dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return Estimate(math.nan, math.nan, 0, math.nan, confidence)
    mean = float(x.mean())
    if n == 1:
        return Estimate(mean, math.nan, 1, math.nan, confidence)
    std = float(x.std(ddof=1))
    t = float(_st.t.ppf(0.5 + confidence / 2.0, n - 1))
    return Estimate(mean, t * std / math.sqrt(n), n, std, confidence)
