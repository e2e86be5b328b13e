"""mode="stratified": exact class counts (floor or ceil of k * p_c, expectation k * p_c), images
used evenly inside a class, the epoch shuffled."""

from __future__ import annotations

import numpy as np
import pytest

from balance_gui.core.errors import SettingsError
from balance_gui.core.sampler import BalancedSampler, DistributedBalancedSampler
from balance_gui.core.simulate import chi_square_test

COUNTS = np.array([60, 25, 9, 0, 40, 3])
CW = np.array([1.0, 2.0, 5.0, 3.0, 0.5, 0.0])
TARGETS = np.repeat(np.arange(COUNTS.size), COUNTS)
MASS = COUNTS * CW
SHARES = MASS / MASS.sum()


@pytest.mark.parametrize("form", ["classes", "per_sample", "scattered"])
def test_class_counts_are_floor_or_ceil_and_unbiased(form):
    k = 101
    if form == "classes":
        kw = dict(targets=TARGETS, class_weights=CW)
        tg = TARGETS
    elif form == "scattered":
        perm = np.random.default_rng(0).permutation(TARGETS.size)
        tg = TARGETS[perm]
        kw = dict(targets=tg, class_weights=CW)
    else:
        tg = TARGETS
        kw = dict(weights=CW[TARGETS])
    s = BalancedSampler(num_samples=k, mode="stratified", seed=1, **kw)
    E = 400
    per_epoch = []
    for e in range(E):
        s.set_epoch(e)
        idx = np.array(list(s))
        assert idx.size == k
        m = np.bincount(tg[idx], minlength=COUNTS.size)
        x = k * SHARES
        assert ((m == np.floor(x)) | (m == np.ceil(x))).all(), (m, x)
        assert m[CW == 0].sum() == 0 and m[COUNTS == 0].sum() == 0
        uses = np.bincount(idx, minlength=tg.size)
        for c in np.flatnonzero(MASS):
            u = uses[tg == c]
            assert u.max() - u.min() <= 1  # images cycled inside the class
        per_epoch.append(m)
    mean = np.mean(per_epoch, axis=0)
    # each count is a Bernoulli offset from floor(x): sd <= 0.5, so the mean of E epochs is within 5 sd
    assert np.all(np.abs(mean - k * SHARES) <= 5 * 0.5 / np.sqrt(E)), (mean, k * SHARES)


def test_epoch_is_shuffled():
    s = BalancedSampler(targets=TARGETS, class_weights=CW, num_samples=50, mode="stratified", seed=2)
    first_class = []
    for e in range(600):
        s.set_epoch(e)
        first_class.append(TARGETS[next(iter(s))])
    # the class at position 0 follows the shares: the classes are not laid out in blocks
    chi2, p = chi_square_test(np.bincount(first_class, minlength=COUNTS.size), SHARES)
    assert p > 1e-4, (chi2, p)


def test_stratified_needs_replacement_and_distributes():
    with pytest.raises(SettingsError, match="stratified mode draws with replacement"):
        BalancedSampler(targets=TARGETS, class_weights=CW, mode="stratified", replacement=False)
    kw = dict(targets=TARGETS, class_weights=CW, mode="stratified", num_samples=91)
    ranks = [list(DistributedBalancedSampler(num_replicas=2, rank=r, seed=4, **kw)) for r in (0, 1)]
    s = BalancedSampler(seed=4, **kw)
    s.set_epoch(0)
    full = list(s)
    assert ranks[0] + ranks[1] == (full + full)[:92]  # one global epoch, padded by wrapping around
