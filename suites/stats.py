"""Small-sample statistics for 40-item packs."""
from __future__ import annotations

import math


def wilson(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The 95% Wilson score interval for a proportion (sound at n = 40 and p near 0 or 1)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def paired_difference(both: int, first_only: int, second_only: int, neither: int,
                      z: float = 1.959963984540054) -> tuple[float, float, float]:
    """The difference p1 - p2 of two proportions measured on the same items, and its 95%
    interval (Newcombe 1998, method 10: the two Wilson intervals squared and added, with the
    continuity-corrected correlation of the pairs). `first_only` items count for p1 only,
    `second_only` for p2 only."""
    n = both + first_only + second_only + neither
    if n == 0:
        return (0.0, -1.0, 1.0)
    p1, p2 = (both + first_only) / n, (both + second_only) / n
    l1, u1 = wilson(both + first_only, n, z)
    l2, u2 = wilson(both + second_only, n, z)
    margins = (both + first_only) * (second_only + neither) * (both + second_only) * (first_only + neither)
    a = both * neither - first_only * second_only
    phi = 0.0 if not margins else (a - n / 2 if a > n / 2 else 0.0 if a >= 0 else a) / math.sqrt(margins)
    diff = p1 - p2
    below = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    above = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return (diff, max(-1.0, diff - below), min(1.0, diff + above))


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile, q in [0, 100]."""
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for paired outcomes: `b` items went right→wrong and `c`
    wrong→right; under no change each discordant pair is a fair coin."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)
