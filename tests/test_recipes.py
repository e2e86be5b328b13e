"""Recipes: catalyst's down- and up-sampling, and the raw-to-balanced schedule, checked by law."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from balance_gui import (
    BalancedSampler,
    BalanceSchedule,
    DistributedBalancedSampler,
    downsampling_sampler,
    upsampling_sampler,
)
from balance_gui.core.errors import SettingsError, WeightsError
from balance_gui.core.expected import fit_test

COUNTS = [30, 8, 15, 0, 4]  # an empty class 3: never drawn, not counted in C
TARGETS = torch.repeat_interleave(torch.arange(len(COUNTS)), torch.tensor(COUNTS))


def class_counts(draws: list[int]) -> list[int]:
    return np.bincount(TARGETS[draws].numpy(), minlength=len(COUNTS)).tolist()


def test_downsampling_gives_every_class_min_count_distinct_images_each_epoch():
    s = downsampling_sampler(TARGETS, seed=1)
    assert len(s) == 4 * 4  # C = 4 non-empty classes x min count 4
    uses = np.zeros(len(TARGETS), dtype=np.int64)
    epochs = 150
    for _ in range(epochs):
        draws = list(s)
        assert class_counts(draws) == [4, 4, 4, 0, 4]
        assert len(set(draws)) == len(draws)  # no image twice in an epoch
        np.add.at(uses, draws, 1)
    # inside a class the subset is uniform: each image of class 0 used 150 * 4/30 times on average
    start = 0
    for n in COUNTS:
        if n:
            block = uses[start : start + n]
            assert block.sum() == epochs * 4
            assert fit_test(block, np.full(n, 1.0 / n)).p_value > 1e-3
        start += n


def test_upsampling_gives_every_class_max_count_images_cycled_evenly():
    s = upsampling_sampler(TARGETS, seed=2, batch_size=8)
    assert s.num_samples == 4 * 30 and s.mode == "stratified"
    draws = [i for b in s for i in b]
    assert class_counts(draws) == [30, 30, 30, 0, 30]
    per_image = Counter(draws)
    assert all(per_image[i] == 1 for i in range(30))  # the largest class once each
    for lo, n in ((30, 8), (38, 15), (53, 4)):
        uses = [per_image[i] for i in range(lo, lo + n)]
        assert set(uses) <= {30 // n, -(-30 // n)} and sum(uses) == 30


def test_recipes_read_a_dataset_and_refuse_arguments_they_set():
    class Folder:
        targets = TARGETS.tolist()

        def __len__(self) -> int:
            return len(self.targets)

    assert downsampling_sampler(Folder(), seed=0).num_samples == 16
    with pytest.raises(SettingsError, match="sets num_samples= itself"):
        downsampling_sampler(TARGETS, num_samples=10)


def test_schedule_q_moves_linearly_and_holds():
    sch = BalanceSchedule(TARGETS, start_q=1.0, end_q=0.0, epochs=5)
    assert [sch.q(e) for e in range(7)] == [1.0, 0.75, 0.5, 0.25, 0.0, 0.0, 0.0]
    up = BalanceSchedule(TARGETS, start_q=0.0, end_q=0.5, epochs=3)
    assert [up.q(e) for e in range(3)] == [0.0, 0.25, 0.5]
    with pytest.raises(SettingsError, match="epochs must be >= 2"):
        BalanceSchedule(TARGETS, epochs=1)
    with pytest.raises(SettingsError, match="start_q must be a finite number"):
        BalanceSchedule(TARGETS, start_q=float("nan"), epochs=3)


@pytest.mark.parametrize("epoch", range(5))
def test_schedule_shares_are_n_to_the_q_and_the_sampler_draws_them(epoch):
    sch = BalanceSchedule(TARGETS, epochs=5)
    s = sch.sampler(num_samples=20_000, seed=11)
    sch.set_epoch(epoch)
    q = 1.0 - epoch / 4
    n = np.array(COUNTS, dtype=np.float64)
    closed = np.where(n > 0, n**q, 0.0) / np.where(n > 0, n**q, 0.0).sum()
    np.testing.assert_allclose(sch.shares(epoch), closed, rtol=1e-12)
    assert s.epoch == epoch
    observed = class_counts(list(s))
    assert observed[3] == 0
    assert fit_test(observed, closed).p_value > 1e-3


def test_schedule_updates_attached_samplers_each_epoch():
    sch = BalanceSchedule(TARGETS, epochs=3)
    ranks = [
        DistributedBalancedSampler(
            targets=TARGETS, class_weights=sch.class_weights(0), num_replicas=2, rank=r, seed=4, num_samples=4000
        )
        for r in (0, 1)
    ]
    for r in ranks:
        sch.attach(r)
    sch.set_epoch(2)  # balanced
    assert all(r.epoch == 2 for r in ranks)
    draws = list(ranks[0]) + list(ranks[1])
    assert fit_test(class_counts(draws), sch.shares(2)).p_value > 1e-3
    with pytest.raises(WeightsError, match="targets= and class_weights="):
        sch.attach(BalancedSampler([1.0] * len(TARGETS)))
