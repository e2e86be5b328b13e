"""Mid-epoch resume: state_dict/load_state_dict, alone and through torchdata's StatefulDataLoader.

A run cut after any batch and restored into a NEW loader with a NEW sampler must hand out exactly
the batches of the uninterrupted run, for the rest of that epoch and the next one.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset
from torchdata.stateful_dataloader import StatefulDataLoader

from balance_gui.core.errors import SettingsError
from balance_gui.core.sampler import BalancedBatchSampler, BalancedSampler, DistributedBalancedSampler

# torchdata 0.11 calls a deprecated torch function on every loader
pytestmark = pytest.mark.filterwarnings("ignore:'set_vital' is deprecated:UserWarning")

N = 37
TARGETS = np.repeat(np.arange(3), [20, 12, 5])
CW = np.array([1.0, 2.0, 6.0])
BATCH = 4
EPOCH_BATCHES = -(-N // BATCH)  # 10


class Indices(Dataset):
    def __len__(self) -> int:
        return N

    def __getitem__(self, i: int) -> int:
        return i


def make_sampler(kind: str, fresh: bool):
    """The same sampler arguments; a 'fresh' generator is seeded differently, so only a restored
    state can make it draw as the original."""
    if kind == "generator":
        return BalancedSampler(
            targets=TARGETS, class_weights=CW, generator=torch.Generator().manual_seed(99 if fresh else 7)
        )
    if kind == "seed":
        return BalancedSampler(targets=TARGETS, class_weights=CW, seed=7)
    if kind == "class_aware":
        return BalancedSampler(targets=TARGETS, class_weights=CW, mode="class_aware", seed=7)
    if kind == "stratified":
        return BalancedSampler(targets=TARGETS, class_weights=CW, mode="stratified", seed=7)
    if kind == "no_replacement":
        return BalancedSampler(targets=TARGETS, class_weights=CW, replacement=False, num_samples=30, seed=7)
    if kind == "distributed":
        return DistributedBalancedSampler(targets=TARGETS, class_weights=CW, num_replicas=2, rank=1, seed=7)
    raise AssertionError(kind)


def loader(sampler, workers: int, batch_sampler: bool = False):
    if batch_sampler:
        return StatefulDataLoader(Indices(), batch_sampler=sampler, num_workers=workers)
    return StatefulDataLoader(Indices(), sampler=sampler, batch_size=BATCH, num_workers=workers)


def as_lists(batches) -> list[list[int]]:
    return [b.tolist() for b in batches]


def run_with_cut(make, workers: int, cut: int, batch_sampler: bool = False):
    """Uninterrupted two epochs, and the same run cut after batch ``cut`` of epoch 0 and resumed."""
    ref_loader = loader(make(False), workers, batch_sampler)
    reference = [as_lists(ref_loader), as_lists(ref_loader)]
    first = loader(make(False), workers, batch_sampler)
    head = as_lists(itertools.islice(iter(first), cut))
    state = first.state_dict()
    del first
    second = loader(make(True), workers, batch_sampler)
    second.load_state_dict(state)
    rest = as_lists(second)
    nxt = as_lists(second)
    return reference, head + rest, nxt


@pytest.mark.parametrize("kind", ["generator", "seed"])
@pytest.mark.parametrize("cut", range(1, EPOCH_BATCHES + 1))
def test_stateful_dataloader_resume_after_any_batch(kind, cut):
    reference, epoch0, epoch1 = run_with_cut(lambda fresh: make_sampler(kind, fresh), 0, cut)
    assert reference[0] != reference[1]
    assert epoch0 == reference[0]
    assert epoch1 == reference[1]


@pytest.mark.parametrize("kind", ["class_aware", "stratified", "no_replacement", "distributed"])
def test_stateful_dataloader_resume_other_modes(kind):
    for cut in (1, 4):
        reference, epoch0, epoch1 = run_with_cut(lambda fresh: make_sampler(kind, fresh), 0, cut)
        assert (epoch0, epoch1) == (reference[0], reference[1])


@pytest.mark.parametrize("kind", ["generator", "seed"])
def test_stateful_dataloader_resume_batch_sampler(kind):
    def make(fresh):
        g = None if kind == "seed" else torch.Generator().manual_seed(99 if fresh else 7)
        return BalancedBatchSampler(
            targets=TARGETS, class_weights=CW, batch_size=BATCH, generator=g, seed=7 if kind == "seed" else None
        )

    for cut in (3, EPOCH_BATCHES):
        reference, epoch0, epoch1 = run_with_cut(make, 0, cut, batch_sampler=True)
        assert (epoch0, epoch1) == (reference[0], reference[1])


@pytest.mark.parametrize("kind", ["generator", "seed"])
def test_stateful_dataloader_resume_with_two_workers(kind):
    reference, epoch0, epoch1 = run_with_cut(lambda fresh: make_sampler(kind, fresh), 2, 6)
    assert epoch0 == reference[0]
    assert epoch1 == reference[1]


def test_state_dict_round_trip_without_a_loader():
    a = BalancedSampler(np.arange(1.0, 50.0), seed=3, num_samples=100)
    it = iter(a)
    head = [next(it) for _ in range(33)]
    state = a.state_dict()
    tail = list(it)
    b = BalancedSampler(np.arange(1.0, 50.0), seed=3, num_samples=100)
    b.load_state_dict(state)
    assert list(b) == tail and len(head) + len(tail) == 100
    assert list(b) == list(a)  # both now at the next epoch


def test_load_state_dict_refuses_another_seed():
    a = BalancedSampler(np.ones(5), seed=3)
    with pytest.raises(SettingsError, match="seed=3"):
        BalancedSampler(np.ones(5), seed=4).load_state_dict(a.state_dict())


@pytest.mark.parametrize("kind", ["generator", "seed"])
def test_stateful_dataloader_resume_pk_batch_sampler(kind):
    from balance_gui.core.sampler import PKBatchSampler

    def make(fresh):
        if kind == "seed":
            return PKBatchSampler(TARGETS, 2, 2, seed=7)
        return PKBatchSampler(TARGETS, 2, 2, generator=torch.Generator().manual_seed(99 if fresh else 7))

    for cut in (2, 9):
        reference, epoch0, epoch1 = run_with_cut(make, 0, cut, batch_sampler=True)
        assert (epoch0, epoch1) == (reference[0], reference[1])


def test_state_after_an_epoch_ended_and_after_iter_before_next():
    """Ended: the first iteration after loading hands out nothing (a loader that had not seen the
    end yet finishes the epoch) and the next one is the next epoch.  Opened but not started: the
    next epoch at position 0."""

    def make(seed: int) -> BalancedSampler:
        return BalancedSampler(np.arange(1.0, 30.0), num_samples=12, generator=torch.Generator().manual_seed(seed))

    ref = make(5)
    epochs = [list(ref) for _ in range(3)]
    a = make(5)
    assert list(a) == epochs[0]
    ended = a.state_dict()
    assert ended["ended"] and ended["live"] is None
    it = iter(a)  # epoch 1 opened: its key is drawn only at the first next()
    opened = a.state_dict()
    assert not opened["ended"] and opened["live"] is None
    assert list(it) == epochs[1]
    b = make(77)
    b.load_state_dict(ended)
    assert b.state_dict()["ended"]  # a loaded state is described as loaded until it is used
    assert list(b) == [] and list(b) == epochs[1] and list(b) == epochs[2]
    c = make(77)
    c.load_state_dict(opened)
    assert list(c) == epochs[1] and list(c) == epochs[2]


def _epoch(seed: int, epoch: int) -> list[int]:
    s = BalancedSampler(np.ones(20), seed=seed, num_samples=10)
    s.set_epoch(epoch)
    return list(s)


def test_a_later_iter_supersedes_a_loaded_state():
    """The loaded position belongs to the first iter() after loading; an iteration opened after
    it (the loader's fresh iterator once the restored one is finished) starts the next epoch."""
    a = BalancedSampler(np.ones(20), seed=3, num_samples=10)
    it = iter(a)
    head = [next(it) for _ in range(4)]
    state = a.state_dict()
    b = BalancedSampler(np.ones(20), seed=3, num_samples=10)
    b.load_state_dict(state)
    restored = iter(b)
    later = iter(b)
    assert list(later) == _epoch(3, 1) != _epoch(3, 0)  # started first, still not the restored one
    assert head + list(restored) == _epoch(3, 0)


def test_set_epoch_before_the_loader_applies_the_state_is_kept():
    """StatefulDataLoader loads the sampler's state at iter(), after a DDP loop's set_epoch: for an
    ended epoch that set_epoch names the next epoch, and it must not be overwritten."""

    def make() -> DistributedBalancedSampler:
        return DistributedBalancedSampler(np.arange(1.0, 21.0), num_replicas=2, rank=0, seed=3)

    a = make()
    a.set_epoch(4)
    list(a)
    state = a.state_dict()
    b = make()
    b.set_epoch(5)
    b.load_state_dict(state)
    expected = make()
    expected.set_epoch(5)
    assert list(b) == [] and list(b) == list(expected)
    c = make()  # no set_epoch: the state's epoch (4) stays fixed, as DistributedSampler's
    c.load_state_dict(state)
    assert list(c) == [] and list(c) == list(a)
