"""The significance test compare uses, in numpy (no scipy): one-sided Mann-Whitney U.

Exact for small samples without ties (the null distribution of U counted by recursion), the
normal approximation with tie and continuity correction otherwise. Rank tests suit repetition
times: they ignore how far an outlier lies (a fill of 11.1 s among 0.7 s ones), only the order.
"""

import math

import numpy as np

EXACT_MAX_PAIRS = 2500  # m * n up to this: exact counts (at most 50 x 50)


def _ranks(values):
    """Average ranks (1-based), ties sharing the mean of their positions."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_values[j + 1] == sorted_values[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _u_counts(m, n):
    """counts[u] = arrangements of m x's and n y's with U_y = u (pairs x < y)."""
    # f[i][j] is the count array for i x's and j y's; the largest element is either a y
    # (it beats all i x's: shift by i) or an x (adds nothing).
    f = [[None] * (n + 1) for _ in range(m + 1)]
    for i in range(m + 1):
        for j in range(n + 1):
            if i == 0 or j == 0:
                f[i][j] = np.ones(1, dtype=object)
                continue
            with_y, with_x = f[i][j - 1], f[i - 1][j]
            out = np.zeros(i * j + 1, dtype=object)
            out[i:i + len(with_y)] += with_y
            out[:len(with_x)] += with_x
            f[i][j] = out
    return f[m][n]


def smallest_p(m, n):
    """The smallest one-sided p any m vs n samples can give (all of y above all of x)."""
    return 1 / math.comb(m + n, m) if m and n else 1.0


def mann_whitney_greater(x, y):
    """One-sided p-value of H1: values of y tend to be larger than those of x."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    m, n = len(x), len(y)
    if m == 0 or n == 0:
        return 1.0
    both = np.concatenate([x, y])
    ranks = _ranks(both)
    u = ranks[m:].sum() - n * (n + 1) / 2  # pairs with y above x, ties counting half
    tied = len(np.unique(both)) < len(both)
    if not tied and m * n <= EXACT_MAX_PAIRS:
        counts = _u_counts(m, n)
        return float(sum(counts[int(round(u)):]) / math.comb(m + n, m))
    _, t = np.unique(both, return_counts=True)
    big_n = m + n
    variance = m * n / 12 * ((big_n + 1) - float((t ** 3 - t).sum()) / (big_n * (big_n - 1)))
    if variance <= 0:
        return 1.0  # every value equal: no evidence either way
    z = (u - m * n / 2 - 0.5) / math.sqrt(variance)
    return 0.5 * math.erfc(z / math.sqrt(2))


def benjamini_hochberg(p_values, q):
    """The largest p that is a discovery at false-discovery rate q over all of `p_values`
    (Benjamini-Hochberg step-up; NaN entries, tests not run, count as p = 1). 0.0 when none is.
    A comparison tests every (point, timed metric) pair at once: without this, 22 tests at
    alpha = 0.05 each call about one noise change a regression in every run compared with itself."""
    ps = sorted(1.0 if p != p else float(p) for p in p_values)
    m = len(ps)
    cut = 0.0
    for k, p in enumerate(ps, start=1):
        if p <= q * k / m:
            cut = p
    return cut
