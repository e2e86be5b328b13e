"""DistributedPKBatchSampler: every rank its own P x K batches of one global draw."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from balance_gui import DistributedPKBatchSampler, PKBatchSampler
from balance_gui.core.errors import SettingsError

TARGETS = [0] * 13 + [1] * 7 + [2] * 9 + [3] * 4 + [4] * 11  # 44 samples, 5 classes
P, K = 2, 3


def ranks(world: int, **kw) -> list[DistributedPKBatchSampler]:
    return [DistributedPKBatchSampler(TARGETS, P, K, num_replicas=world, rank=r, seed=7, **kw) for r in range(world)]


def global_draw(num_batches: int, epoch: int) -> list[list[int]]:
    pk = PKBatchSampler(TARGETS, P, K, num_batches=num_batches, seed=7)
    pk.set_epoch(epoch)
    return list(pk)


@pytest.mark.parametrize("world", [2, 3])
def test_ranks_are_disjoint_and_together_the_single_process_global_draw(world):
    samplers = ranks(world, num_batches=7)
    m = -(-7 // world)
    assert [len(s) for s in samplers] == [m] * world
    got = [list(s) for s in samplers]
    expect = global_draw(m * world, 0)
    # rank r holds global batches r, r + world, ...
    for r in range(world):
        assert got[r] == expect[r::world]
    # disjoint, and their union is the global draw (as positions of the global sequence)
    positions = sorted(r + world * i for r in range(world) for i in range(len(got[r])))
    assert positions == list(range(m * world))
    assert sorted(map(tuple, sum(got, []))) == sorted(map(tuple, expect))
    assert all(len(b) == P * K for b in sum(got, []))


def test_drop_last_floors_the_batches_per_rank():
    samplers = ranks(2, num_batches=7, drop_last=True)
    assert [len(s) for s in samplers] == [3, 3]
    expect = global_draw(6, 0)
    assert [list(s) for s in samplers] == [expect[0::2], expect[1::2]]
    with pytest.raises(SettingsError, match="no batch to each of 4 ranks"):
        DistributedPKBatchSampler(TARGETS, P, K, num_batches=3, num_replicas=4, rank=0, drop_last=True)


def test_epoch_is_fixed_until_set_epoch_and_set_epoch_changes_the_draw():
    (s0, s1) = ranks(2)
    first = list(s0)
    assert list(s0) == first  # epoch 0 until set_epoch, as DistributedSampler
    s0.set_epoch(1)
    s1.set_epoch(1)
    second = [list(s0), list(s1)]
    assert second[0] != first
    m = len(s0)
    expect = global_draw(2 * m, 1)
    assert second == [expect[0::2], expect[1::2]]


def test_default_num_batches_and_one_rank_equals_pk():
    (only,) = ranks(1)
    assert len(only) == len(TARGETS) // (P * K)
    assert list(only) == list(PKBatchSampler(TARGETS, P, K, seed=7))


def test_rank_and_world_checks():
    with pytest.raises(SettingsError, match="rank must be in"):
        DistributedPKBatchSampler(TARGETS, P, K, num_replicas=2, rank=2)
    with pytest.raises(RuntimeError, match="pass num_replicas and rank"):
        DistributedPKBatchSampler(TARGETS, P, K)


def test_lightning_sets_the_epoch_through_batch_sampler_sampler():
    from lightning.fabric.utilities.data import _set_sampler_epoch

    s = ranks(2)[1]
    loader = DataLoader(torch.arange(float(len(TARGETS))), batch_sampler=s)
    _set_sampler_epoch(loader, 4)
    assert s.epoch == 4
    assert list(s) == global_draw(2 * len(s), 4)[1::2]


def test_state_dict_resumes_mid_epoch():
    s = ranks(2, num_batches=8)[1]
    it = iter(s)
    head = [next(it), next(it)]
    state = s.state_dict()
    rest = list(it)
    fresh = ranks(2, num_batches=8)[1]
    fresh.load_state_dict(state)
    assert list(fresh) == rest and head + rest == global_draw(8, 0)[1::2]
