"""RepeatFactorSampler: detectron2's repeat-factor law, epochs, resume, and the distributed form."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from balance_gui.core.draws import keyed_generator
from balance_gui.core.errors import SettingsError, WeightsError
from balance_gui.core.repeat_factor_sampler import (
    _TAG_REPEAT,
    DistributedRepeatFactorSampler,
    RepeatFactorSampler,
    repeat_factor_epoch,
)


def d2_epoch(repeat_factors: torch.Tensor, g: torch.Generator, shuffle: bool = True) -> list[int]:
    """detectron2's RepeatFactorTrainingSampler, one epoch, as documented: the integer part plus
    stochastic rounding of the fractional part (``rands < frac``), each index repeated, then a
    ``randperm`` shuffle, all from the one generator."""
    int_part = torch.trunc(repeat_factors)
    frac_part = repeat_factors - int_part
    rands = torch.rand(len(frac_part), generator=g)
    rep_factors = int_part + (rands < frac_part).float()
    indices = []
    for dataset_index, rep_factor in enumerate(rep_factors):
        indices.extend([dataset_index] * int(rep_factor.item()))
    t = torch.tensor(indices, dtype=torch.int64)
    if shuffle:
        t = t[torch.randperm(len(t), generator=g)]
    return t.tolist()


FACTORS = torch.tensor([1.0, 2.5, 1.0, 3.25, 1.7, 0.4, 1.0, 7.9], dtype=torch.float32)  # detectron2's dtype


@pytest.mark.parametrize("shuffle", [True, False])
def test_epochs_equal_detectron2s_given_the_same_generator(shuffle):
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    r = FACTORS.to(torch.float64)
    for _ in range(4):  # successive epochs from one generator, as detectron2's infinite stream
        ours = repeat_factor_epoch(torch.trunc(r), r - torch.trunc(r), g1, shuffle).tolist()
        assert ours == d2_epoch(FACTORS, g2, shuffle)


def test_sampler_epoch_is_the_reference_epoch_of_its_key():
    s = RepeatFactorSampler(FACTORS, seed=9)
    s.set_epoch(3)
    assert list(s) == d2_epoch(FACTORS, keyed_generator(torch.device("cpu"), (9, 3), _TAG_REPEAT))


def test_each_image_appears_floor_or_ceil_times_with_mean_r():
    r = np.array([1.0, 2.5, 0.1, 3.25, 1.7, 0.0, 4.0, 1.99])
    s = RepeatFactorSampler(r, seed=1)
    epochs = 2000
    counts = np.stack([np.bincount(list(s), minlength=r.size) for _ in range(epochs)])
    assert np.all((counts == np.floor(r)) | (counts == np.floor(r) + 1))
    frac = r - np.floor(r)
    extra = (counts - np.floor(r)).sum(0)  # Binomial(epochs, frac) per image
    sd = np.sqrt(np.maximum(epochs * frac * (1 - frac), 1e-12))
    assert np.all(np.abs(extra - epochs * frac) / sd < 4.5)
    assert counts[:, 5].sum() == 0 and np.all(counts[:, 6] == 4)


def test_set_epoch_changes_the_rounding_and_the_order_and_is_reproducible():
    r = np.full(200, 1.5)
    s = RepeatFactorSampler(r, seed=0)
    s.set_epoch(0)
    a = list(s)
    s.set_epoch(1)
    b = list(s)
    assert sorted(a) != sorted(b)  # another rounding
    s.set_epoch(0)
    assert list(s) == a and len(s) == len(a)
    auto = RepeatFactorSampler(r, seed=0)
    assert list(auto) == a and list(auto) == b  # epochs advance by one per iteration


def test_len_is_the_coming_epochs_length_with_a_seed():
    s = RepeatFactorSampler(np.full(300, 1.5), seed=4)
    for _ in range(3):
        n = len(s)
        assert len(list(s)) == n
    unseeded = RepeatFactorSampler(np.full(300, 1.5))
    assert len(unseeded) == 450


def test_without_seed_the_epoch_draws_from_the_generator_at_its_first_next():
    g = torch.Generator().manual_seed(3)
    s = RepeatFactorSampler(FACTORS, generator=g)
    it = iter(s)
    assert g.get_state().equal(torch.Generator().manual_seed(3).get_state())  # nothing drawn yet
    first = list(it)
    again = RepeatFactorSampler(FACTORS, generator=torch.Generator().manual_seed(3))
    assert list(again) == first
    assert sorted(first) != list(range(0)) and not g.get_state().equal(torch.Generator().manual_seed(3).get_state())


@pytest.mark.parametrize("seeded", [True, False])
def test_state_dict_resumes_mid_epoch(seeded):
    r = np.linspace(0.5, 3.0, 500)

    def make():
        return (
            RepeatFactorSampler(r, seed=7)
            if seeded
            else RepeatFactorSampler(r, generator=torch.Generator().manual_seed(2))
        )

    ref = make()
    whole = [list(ref), list(ref)]
    s = make()
    list(s)  # epoch 0 done
    it = iter(s)
    head = [next(it) for _ in range(123)]
    state = s.state_dict()
    assert state["live"]["position"] == 123
    t = make()
    t.load_state_dict(state)
    assert head + list(t) == whole[1]
    done = make()
    list(done)
    fresh = make()
    ended = done.state_dict()
    assert ended["ended"] and ended["live"] is None
    fresh.load_state_dict(ended)
    # as the item samplers (core.epochs): the iteration that was cut ended, so the first iter()
    # continues it (nothing more), the next one starts the next epoch, as StatefulDataLoader needs
    assert list(fresh) == [] and list(fresh) == whole[1]


def test_bad_arguments():
    with pytest.raises(WeightsError, match="repeat_factors\\[1\\] = -1.0 is negative"):
        RepeatFactorSampler([1.0, -1.0])
    with pytest.raises(WeightsError, match="all 2 repeat factors are zero"):
        RepeatFactorSampler([0.0, 0.0])
    with pytest.raises(SettingsError, match="not both"):
        RepeatFactorSampler([1.0], seed=1, generator=torch.Generator())
    with pytest.raises(SettingsError, match="saved with seed=1"):
        RepeatFactorSampler([1.0], seed=2).load_state_dict(RepeatFactorSampler([1.0], seed=1).state_dict())


# ------------------------------------------------------------------------- distributed


@pytest.mark.parametrize("drop_last", [False, True])
def test_ranks_split_one_global_epoch(drop_last):
    r = np.linspace(0.3, 2.9, 101)
    world = 3
    ranks = [DistributedRepeatFactorSampler(r, world, k, seed=5, drop_last=drop_last) for k in range(world)]
    for epoch in (0, 1):
        for s in ranks:
            s.set_epoch(epoch)
        parts = [list(s) for s in ranks]
        full = RepeatFactorSampler(r, seed=5)
        full.set_epoch(epoch)
        whole = list(full)
        m = len(whole) // world if drop_last else -(-len(whole) // world)
        assert [len(p) for p in parts] == [m] * world == [len(s) for s in ranks]
        assert ranks[0].num_samples == m and ranks[0].total_size == m * world
        joined = sum(parts, [])
        assert joined == (whole + whole)[: m * world]


def test_one_replica_equals_the_seeded_sampler():
    r = np.linspace(0.5, 2.5, 50)
    d = DistributedRepeatFactorSampler(r, num_replicas=1, rank=0, seed=3)
    s = RepeatFactorSampler(r, seed=3)
    s.set_epoch(0)
    assert list(d) == list(s) and list(d) == list(s)  # the epoch stays 0 until set_epoch


def test_frameworks_see_it_as_already_distributed():
    # Lightning re-shards a DataLoader only when `not isinstance(dataloader.sampler, DistributedSampler)`
    # (DataConnector._requires_distributed_sampler), and then calls sampler.set_epoch each epoch
    s = DistributedRepeatFactorSampler(np.linspace(0.5, 2.5, 40), num_replicas=2, rank=1, seed=0)
    dl = DataLoader(list(range(40)), sampler=s, batch_size=4)
    assert isinstance(dl.sampler, DistributedSampler)
    dl.sampler.set_epoch(6)
    assert s.epoch == 6 and len(dl) == -(-len(s) // 4)
    assert sorted(x for batch in dl for x in batch.tolist()) == sorted(list(s))
    with pytest.raises(AttributeError, match="num_samples follows"):
        s.num_samples = 3


def test_distributed_checks_its_arguments():
    with pytest.raises(SettingsError, match="rank"):
        DistributedRepeatFactorSampler([1.0, 2.0], num_replicas=2, rank=2)
    with pytest.raises(RuntimeError, match="not initialised"):
        DistributedRepeatFactorSampler([1.0, 2.0])


def test_docstring_examples_run():
    import doctest

    import balance_gui.core.repeat_factor_sampler as module

    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5 and result.failed == 0
