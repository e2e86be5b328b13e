"""PK picks a batch's P classes by successive sampling on their shares: class c is in a batch with
the successive-sampling inclusion probability pi_c, which is not P x p_c."""

from __future__ import annotations

import numpy as np
import torch

from balance_gui import PKBatchSampler
from balance_gui.core.expected import inclusion_probabilities

COUNTS = [40, 20, 10, 5, 5]


def test_pk_per_batch_class_frequency_is_the_inclusion_probability():
    targets = torch.repeat_interleave(torch.arange(len(COUNTS)), torch.tensor(COUNTS))
    P, K, B = 2, 2, 6000
    pk = PKBatchSampler(targets, P, K, class_weights=[1.0] * len(COUNTS), num_batches=B, seed=3)
    p = pk.shares.numpy()  # n_c / N here
    present = np.zeros(len(COUNTS))
    for batch in pk:
        present[np.unique(targets[batch].numpy())] += 1
    pi = inclusion_probabilities([1] * len(COUNTS), p, P)  # each class one item weighted by its share
    assert abs(pi.sum() - P) < 1e-9
    sd = np.sqrt(B * pi * (1 - pi))
    assert np.all(np.abs(present - B * pi) < 4.5 * sd), (present / B, pi)
    # and not P x p_c: the largest class (p = 0.5) would be in every batch, it is in about 80% (pi_0 = 0.805)
    assert abs(P * p[0] - 1.0) < 1e-12 and present[0] / B < 0.85
