"""95% confidence intervals of a mean (Student t), for repeated runs.

Experiments' ``--repeats`` (:mod:`cofferos.sim.isolation.repeats`) and sweep figures
over ``[repeat] seeds`` (:mod:`cofferos.results.figures`) show each mean with the
half-width of its 95% interval, ``t(0.975, n-1) * s / sqrt(n)``. scipy is not a
dependency: the quantiles are the published table.

    >>> round(ci95([1.0, 2.0, 3.0]), 4)
    2.4843
    >>> ci95([5.0, 5.0])
    0.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: Student t's two-sided 95% quantile (t_{0.975}) by degrees of freedom, 1..30
#: (any statistics table, e.g. NIST/SEMATECH e-Handbook, table 1.3.6.7.2).
T975: tuple[float, ...] = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
#: Beyond the table: (degrees of freedom, quantile), interpolated in 1/df (same source).
T975_TAIL: tuple[tuple[float, float], ...] = (
    (30, 2.042), (40, 2.021), (60, 2.000), (120, 1.980), (math.inf, 1.960))


def t975(df: int) -> float:
    """Student t's 97.5% quantile for ``df`` >= 1 degrees of freedom."""
    if df <= len(T975):
        return T975[df - 1]
    for (low, q_low), (high, q_high) in zip(T975_TAIL, T975_TAIL[1:], strict=False):
        if df <= high:
            x, x_low, x_high = 1 / df, 1 / low, (0.0 if math.isinf(high) else 1 / high)
            return q_high + (q_low - q_high) * (x - x_high) / (x_low - x_high)
    return T975_TAIL[-1][1]


def ci95(values: Sequence[float]) -> float:
    """Half-width of the 95% confidence interval of the mean of ``values`` (0 for one)."""
    n = len(values)
    if n < 2:
        return 0.0
    mean = math.fsum(values) / n
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    return t975(n - 1) * sd / math.sqrt(n)


