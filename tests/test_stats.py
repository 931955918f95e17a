"""Significance tests against hand-worked cases."""

from __future__ import annotations

import math

import pytest

from tagger.stats import mcnemar, mean_std, paired_bootstrap, pearson, ranks, spearman


def test_mcnemar_exact_small_case():
    # 1 token only A gets right, 5 only B: two-sided binomial p = 2 * (C(6,0) + C(6,1)) / 2^6 = 14/64
    a = [True, False, False, False, False, False, True, True]
    b = [False, True, True, True, True, True, True, False]
    # the last pair: A right, B wrong; so only_a = 2, only_b = 5: p = 2 * (1 + 7 + 21) / 128
    r = mcnemar(a, b)
    assert (r["only_a"], r["only_b"]) == (2, 5)
    assert r["p"] == pytest.approx(2 * (1 + 7 + 21) / 128)
    assert mcnemar(a[:7], b[:7])["p"] == pytest.approx(14 / 64)


def test_mcnemar_chi_squared_large_case():
    # 40 tokens only A right, 20 only B right, 100 both: chi2 = (|40 - 20| - 1)^2 / 60 = 6.0167,
    # p = P(chi2_1 > 6.0167) = erfc(sqrt(6.0167 / 2)) = 0.01417
    a = [True] * 40 + [False] * 20 + [True] * 100
    b = [False] * 40 + [True] * 20 + [True] * 100
    r = mcnemar(a, b)
    assert r["p"] == pytest.approx(0.01417, abs=1e-4)
    assert r["p"] == pytest.approx(math.erfc(math.sqrt(361 / 60 / 2)))


def test_mcnemar_identical_models():
    assert mcnemar([True, False], [True, False]) == {"only_a": 0, "only_b": 0, "p": 1.0}


def test_paired_bootstrap():
    # A is right wherever they differ (sentences 0 and 2): a resample shows no gain only when it draws
    # neither of those two of the 4 sentences, (1/2)^4 of the time; two-sided p = 2/16
    groups = [0, 0, 1, 1, 2, 2, 3, 3]
    a = [True] * 8
    b = [True, False, True, True, False, True, True, True]
    r = paired_bootstrap(a, b, groups, n=20000, seed=3)
    assert r["delta"] == pytest.approx(2 / 8) and r["p"] == pytest.approx(2 / 16, abs=0.01)
    same = paired_bootstrap(a, a, groups, n=200)
    assert same == {"delta": 0.0, "p": 1.0}
    # one sentence each way: half the resamples favour either model, so p is near 1
    mixed = paired_bootstrap([True, False, True, True], [False, True, True, True], [0, 1, 2, 3], n=2000, seed=1)
    assert mixed["delta"] == 0.0 and mixed["p"] == 1.0
    # A better on 3 of 4 sentences by one token, worse on one: p is the share of resamples with B >= A
    a2 = [True, True, True, False]
    b2 = [False, False, False, True]
    r2 = paired_bootstrap(a2, b2, [0, 1, 2, 3], n=20000, seed=2)
    # resampling 4 sentences: delta <= 0 needs the B-sentence at least as often as the 3 A-sentences together
    # P = sum over counts c of the B-sentence with c >= 4 - c, i.e. c >= 2: 1 - P(c=0) - P(c=1)
    expected = 2 * (1 - (3 / 4) ** 4 - 4 * (1 / 4) * (3 / 4) ** 3)
    assert r2["p"] == pytest.approx(min(1.0, expected), abs=0.02)


def test_mean_std():
    assert mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert mean_std([5.0]) == (5.0, 0.0)


def test_pearson_and_its_interval():
    x = [1.0, 2.0, 3.0, 4.0, 5.0]
    y = [2.0, 1.0, 4.0, 3.0, 5.0]
    # hand-worked: centred x -2..2, y -1,-2,1,0,2; sum xy = 2+2+0+0+4 = 8, sum x^2 = sum y^2 = 10: r = 0.8
    r, lo, hi = pearson(x, y)
    assert r == pytest.approx(0.8)
    half = 1.959964 / math.sqrt(2)  # Fisher's z: standard error 1 / sqrt(n - 3)
    assert (lo, hi) == (
        pytest.approx(math.tanh(math.atanh(0.8) - half)),
        pytest.approx(math.tanh(math.atanh(0.8) + half)),
    )
    assert lo < 0 < r < hi < 1  # five pairs cannot tell 0.8 from no correlation
    assert pearson(x, [-v for v in y])[0] == pytest.approx(-0.8)
    with pytest.raises(AssertionError):
        pearson(x[:3], y[:3])


def test_ranks_and_spearman():
    assert ranks([10.0, 30.0, 20.0, 20.0]).tolist() == [1.0, 4.0, 2.5, 2.5]
    # monotone but not linear: ranks agree completely, the values do not
    x = [1.0, 2.0, 3.0, 4.0, 5.0]
    y = [1.0, 10.0, 100.0, 1000.0, 10000.0]
    assert spearman(x, y) == pytest.approx(1.0) and pearson(x, y)[0] < 0.9
    # ties: the ranks of y are 1, 2.5, 2.5, 4; centred, x's are -1.5, -0.5, 0.5, 1.5 and y's -1.5, 0, 0, 1.5:
    # r = 4.5 / sqrt(5 * 4.5) = sqrt(0.9)
    assert spearman([1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 6.0, 7.0]) == pytest.approx(math.sqrt(0.9))
