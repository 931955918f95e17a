"""Significance tests between two taggers on the same test tokens, and mean/spread over seeds."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.stats import pearsonr, rankdata, spearmanr


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    v = np.asarray(values, dtype=float)
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0


def mcnemar(a_correct: Sequence[bool], b_correct: Sequence[bool]) -> dict:
    """McNemar's test on paired token outcomes: only the tokens one model gets right and the other wrong
    count. Exact two-sided binomial p-value below 50 discordant tokens, else chi-squared with continuity
    correction (1 degree of freedom)."""
    a, b = np.asarray(a_correct, dtype=bool), np.asarray(b_correct, dtype=bool)
    assert a.shape == b.shape, "paired outcomes must align"
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    n = only_a + only_b
    if n == 0:
        p = 1.0
    elif n < 50:
        k = min(only_a, only_b)
        p = min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n)
    else:
        chi2 = (abs(only_a - only_b) - 1) ** 2 / n
        p = math.erfc(math.sqrt(chi2 / 2))  # survival function of chi-squared with 1 dof
    return {"only_a": only_a, "only_b": only_b, "p": p}


def paired_bootstrap(
    a_correct: Sequence[bool], b_correct: Sequence[bool], groups: Sequence[int], n: int = 1000, seed: int = 0
) -> dict:
    """Paired bootstrap over sentences (Koehn, 2004): resample the test sentences (`groups` gives each
    token's sentence) with replacement, n times; p is the two-sided share of resamples in which the
    accuracy difference has the other sign than on the full set (or is zero)."""
    a, b = np.asarray(a_correct, dtype=float), np.asarray(b_correct, dtype=float)
    g = np.asarray(groups)
    assert a.shape == b.shape == g.shape, "paired outcomes and groups must align"
    _, g = np.unique(g, return_inverse=True)
    k = g.max() + 1
    diff_per = np.bincount(g, weights=a - b, minlength=k)  # per sentence: (a right) - (b right)
    len_per = np.bincount(g, minlength=k).astype(float)
    delta = diff_per.sum() / len_per.sum()
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, k, size=(n, k))
    deltas = diff_per[picks].sum(1) / len_per[picks].sum(1)
    worse = (deltas <= 0).mean() if delta > 0 else (deltas >= 0).mean()
    return {"delta": float(delta), "p": float(min(1.0, 2 * worse))}


def pearson(x: Sequence[float], y: Sequence[float]) -> tuple[float, float, float]:
    """Pearson's r of paired values with its 95% interval from Fisher's z (needs at least 4 pairs)."""
    assert len(x) == len(y) >= 4, "Pearson's interval needs at least 4 pairs"
    result = pearsonr(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    interval = result.confidence_interval(0.95)  # Fisher's z transform
    return float(result.statistic), float(interval.low), float(interval.high)


def ranks(values: Sequence[float]) -> np.ndarray:
    """1-based ranks, ties sharing the mean of the ranks they span."""
    return rankdata(np.asarray(values, dtype=float))


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation: Pearson's r of the (tie-averaged) ranks."""
    return float(spearmanr(x, y).statistic)
