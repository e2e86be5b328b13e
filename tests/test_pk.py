"""PKBatchSampler: P distinct classes by their shares, K images each, no repeats inside a batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from balance_gui.core.errors import SettingsError, WeightsError
from balance_gui.core.sampler import PKBatchSampler
from balance_gui.core.simulate import chi_square_test

COUNTS = np.array([60, 25, 9, 40, 12, 3])
TARGETS = np.repeat(np.arange(COUNTS.size), COUNTS)


def test_batches_hold_p_distinct_classes_of_k_distinct_images():
    P, K = 3, 4
    pk = PKBatchSampler(TARGETS, classes_per_batch=P, samples_per_class=K, num_batches=300, seed=1)
    batches = list(pk)
    assert len(batches) == len(pk) == 300
    for b in batches:
        assert len(b) == P * K
        cls = TARGETS[b].reshape(P, K)
        assert (cls == cls[:, :1]).all()  # class by class
        assert len(set(cls[:, 0])) == P  # P distinct classes
        for row, c in zip(np.asarray(b).reshape(P, K), cls[:, 0], strict=True):
            if COUNTS[c] >= K:
                assert len(set(row)) == K  # no image twice inside a batch


def test_default_length_and_uniform_classes_without_weights():
    pk = PKBatchSampler(TARGETS, classes_per_batch=2, samples_per_class=3, seed=0)
    assert len(pk) == TARGETS.size // 6
    pk.num_batches = 3000
    picks = np.concatenate([TARGETS[b][::3] for b in pk])
    chi2, p = chi_square_test(np.bincount(picks, minlength=COUNTS.size), np.full(COUNTS.size, 1 / COUNTS.size))
    assert p > 1e-4, (chi2, p)


def test_one_class_per_batch_is_drawn_by_its_share():
    cw = np.array([1.0, 2.0, 5.0, 0.5, 1.0, 8.0])
    pk = PKBatchSampler(TARGETS, 1, 2, class_weights=cw, num_batches=20000, seed=2)
    picks = np.array([TARGETS[b[0]] for b in pk])
    mass = COUNTS * cw
    chi2, p = chi_square_test(np.bincount(picks, minlength=COUNTS.size), mass / mass.sum())
    assert p > 1e-4, (chi2, p)


def test_images_of_a_class_are_used_evenly():
    pk = PKBatchSampler(TARGETS, 2, 4, num_batches=2000, seed=3)
    uses = np.bincount(np.concatenate(list(pk)), minlength=TARGETS.size)
    for c in range(COUNTS.size):
        u = uses[TARGETS == c]
        assert u.max() - u.min() <= 2, (c, u.min(), u.max())


def test_zero_weight_classes_never_picked_and_seed_generator_modes():
    cw = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0]
    pk = PKBatchSampler(TARGETS, 2, 2, class_weights=cw, num_batches=500, seed=4)
    assert not np.isin(TARGETS[np.concatenate(list(pk))], [1, 4]).any()
    a = PKBatchSampler(TARGETS, 2, 2, seed=5)
    a.set_epoch(3)
    b = PKBatchSampler(TARGETS, 2, 2, seed=5)
    b.set_epoch(3)
    assert list(a) == list(b)
    g = torch.Generator().manual_seed(6)
    c = PKBatchSampler(TARGETS, 2, 2, generator=g)
    state = g.get_state()
    first = list(c)
    assert list(c) != first
    g.set_state(state)
    assert list(c) == first


def test_pk_argument_errors():
    with pytest.raises(WeightsError, match="classes_per_batch=7 exceeds the 6 classes"):
        PKBatchSampler(TARGETS, 7, 2)
    with pytest.raises(SettingsError, match="samples_per_class must be >= 1"):
        PKBatchSampler(TARGETS, 2, 0)
    with pytest.raises(SettingsError, match="make no batch"):
        PKBatchSampler([0, 1], 2, 2)
    with pytest.raises(TypeError, match="generator"):
        PKBatchSampler(TARGETS, 2, 2, generator=3)


@pytest.mark.parametrize("mode", ["seed", "generator"])
def test_pk_state_dict_resumes_mid_epoch(mode):
    def make(seed):
        if mode == "seed":
            return PKBatchSampler(TARGETS, 2, 3, seed=5)
        return PKBatchSampler(TARGETS, 2, 3, generator=torch.Generator().manual_seed(seed))

    ref = make(7)
    epochs = [list(ref), list(ref)]
    a = make(7)
    it = iter(a)
    head = [next(it) for _ in range(4)]
    b = make(99)  # a restarted job: its own generator, restored from the state
    b.load_state_dict(a.state_dict())
    assert head + list(b) == epochs[0]
    assert list(b) == epochs[1]
