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


# --- power: the smallest drop the gate would see ----------------------------------------------
#
# The model (what `min_detectable_drop` assumes). Each of the n paired items was right in the
# baseline with probability `rate`, independently. A drop d is realised as lost items with no
# gains: each item is lost (right in the baseline, wrong now) with probability d, so the
# expected rate falls from `rate` to `rate - d` (d at most `rate`: only right items can be
# lost). `flip_rate` adds noise unrelated to the drop: a further share f of the items flips,
# half each way (lost with probability f/2, gained with f/2: it leaves the expected rate as it
# is); 0 by default, deterministic runs at temperature 0 with a seed. Per item the outcome is
# lost with pl = d + f/2, gained with pg = f/2, unchanged otherwise, so (lost, gained) is
# trinomial. The gate fails a pack when (lost - gained)/n > max_drop and the exact McNemar
# p-value of (lost, gained) is below alpha (suites/gate.py, `judge`); the power is the
# trinomial probability of that event, summed exactly (terms below e^-28 left out). The
# detectable drop is the smallest d (to 0.1 point) whose power reaches `power`. Without noise
# it depends on n, alpha and max_drop, and on `rate` only as its ceiling: a drop larger than
# the share of items right in the baseline cannot happen.

POWER = 0.8


def _log_binom_pmf(k: int, n: int, p: float) -> float:
    if p <= 0.0:
        return 0.0 if k == 0 else -math.inf
    if p >= 1.0:
        return 0.0 if k == n else -math.inf
    return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
            + k * math.log(p) + (n - k) * math.log1p(-p))


def _binom_range(n: int, p: float) -> range:
    """The k of Binomial(n, p) that carry all but a negligible share of the mass."""
    mean, sd = n * p, math.sqrt(n * p * (1 - p))
    return range(max(0, math.floor(mean - 9 * sd - 2)), min(n, math.ceil(mean + 9 * sd + 2)) + 1)


def _fails(lost: int, gained: int, n: int, max_drop: float, alpha: float) -> bool:
    return (lost - gained) / n > max_drop and mcnemar_exact(lost, gained) < alpha


def gate_power(n: int, rate: float, drop: float, *, alpha: float = 0.05, max_drop: float = 0.05,
               flip_rate: float = 0.0) -> float:
    """The probability that the gate fails a pack of `n` paired items whose baseline rate is
    `rate` when the true drop is `drop` (the model above)."""
    if n <= 0 or rate <= 0 or drop <= 0:
        return 0.0
    pl = min(rate, drop) + flip_rate / 2
    pg = flip_rate / 2
    if pl + pg > 1:
        return 0.0
    total = 0.0
    for lost in _binom_range(n, pl):
        lp = _log_binom_pmf(lost, n, pl)
        if lp < -28:
            continue
        rest = n - lost
        pg_given = 0.0 if pl >= 1 else min(1.0, pg / (1 - pl))
        for gained in _binom_range(rest, pg_given):
            if _fails(lost, gained, n, max_drop, alpha):
                total += math.exp(lp + _log_binom_pmf(gained, rest, pg_given))
    return min(1.0, total)


def min_detectable_drop(n: int, rate: float, *, alpha: float = 0.05, max_drop: float = 0.05,
                        power: float = POWER, flip_rate: float = 0.0) -> float | None:
    """The smallest drop (a share, to 0.001) the gate detects with probability `power` on `n`
    paired items at baseline rate `rate` (the model above); None when no drop up to the whole
    rate would be (too few items, or too few right in the baseline)."""
    if n <= 0 or rate <= 0 or gate_power(n, rate, rate, alpha=alpha, max_drop=max_drop,
                                         flip_rate=flip_rate) < power:
        return None
    lo, hi = 0, round(rate * 1000)          # in thousandths: power(lo) < power <= power(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if gate_power(n, rate, mid / 1000, alpha=alpha, max_drop=max_drop, flip_rate=flip_rate) >= power:
            hi = mid
        else:
            lo = mid
    return hi / 1000


def items_needed(drop: float, rate: float, *, alpha: float = 0.05, max_drop: float = 0.05,
                 power: float = POWER, flip_rate: float = 0.0, limit: int = 20000) -> int | None:
    """The fewest paired items at which a true drop of `drop` is detected with probability
    `power` (what would settle an inconclusive verdict); None beyond `limit` or when `drop`
    is not above `max_drop`."""
    if drop <= max_drop or rate <= 0:
        return None

    def enough(n: int) -> bool:
        return gate_power(n, rate, min(drop, rate), alpha=alpha, max_drop=max_drop, flip_rate=flip_rate) >= power

    hi = 8
    while not enough(hi):
        if hi >= limit:
            return None
        hi = min(limit, hi * 2)
    lo = hi // 2 if hi > 8 else 0
    while hi - lo > 1:             # power rises with n, up to the McNemar test's steps
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if enough(mid) else (mid, hi)
    return hi
