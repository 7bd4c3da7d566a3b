"""The Mann-Whitney U test against a brute-force permutation test of the same statistic."""

import itertools
import math

import numpy as np
import pytest

from kvsim_post.stats import mann_whitney_greater, smallest_p


def permutation_p(x, y):
    """P(U >= observed) over every split of the pooled values: the exact null, by enumeration."""
    pooled = np.concatenate([x, y])

    def u(ys, xs):
        return sum((yv > xv) + 0.5 * (yv == xv) for yv in ys for xv in xs)

    observed = u(y, x)
    n = len(y)
    hits = total = 0
    for chosen in itertools.combinations(range(len(pooled)), n):
        rest = [pooled[i] for i in range(len(pooled)) if i not in chosen]
        hits += u([pooled[i] for i in chosen], rest) >= observed - 1e-9
        total += 1
    return hits / total


def test_fully_separated_samples_give_the_smallest_p():
    assert mann_whitney_greater([1, 2, 3], [4, 5, 6]) == pytest.approx(0.05) == smallest_p(3, 3)
    assert mann_whitney_greater([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx(1 / 252)
    assert mann_whitney_greater([6, 7, 8], [1, 2, 3]) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(4))
def test_exact_p_equals_enumeration_without_ties(seed):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=5), rng.normal(size=6) + 0.7
    assert mann_whitney_greater(x, y) == pytest.approx(permutation_p(x, y))


def test_tied_samples_use_the_normal_approximation_close_to_enumeration():
    x = np.array([1, 1, 2, 3, 3, 4])
    y = np.array([3, 4, 4, 5, 5, 6])
    assert mann_whitney_greater(x, y) == pytest.approx(permutation_p(x, y), abs=0.01)


def test_all_equal_is_no_evidence():
    assert mann_whitney_greater([2.0] * 4, [2.0] * 4) == 1.0
    assert smallest_p(2, 2) == pytest.approx(1 / math.comb(4, 2))


def test_benjamini_hochberg_keeps_a_lone_chance_p_out_and_a_real_shift_in():
    from kvsim_post.stats import benjamini_hochberg
    # One of 22 tests at p = 0.04 is what noise gives; it is no discovery at q = 0.05.
    assert benjamini_hochberg([0.04] + [0.5] * 21, 0.05) == 0.0
    # Every test of a real slowdown small: all are discoveries.
    assert benjamini_hochberg([0.001, 0.006, 0.003] * 6, 0.05) == 0.006
    # Step-up: the k-th smallest p against k/m q (0.02 <= 2/4 * 0.05 carries 0.01 with it).
    assert benjamini_hochberg([0.01, 0.02, 0.9, float("nan")], 0.05) == 0.02
    assert benjamini_hochberg([], 0.05) == 0.0
