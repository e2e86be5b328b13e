"""Resume through torchdata's StatefulDataLoader at every cut, epoch boundaries included.

A run is cut (``loader.state_dict()``), restored into a NEW loader over a NEW sampler (whose own
generator is seeded differently, so only the restored state can make it draw as the original),
and continued as a restarted training loop would: it calls ``iter(loader)`` for the epoch it is
in (or, cut after an epoch's loop ended, for the next one).  The epochs handed out, epoch by
epoch, must equal the uninterrupted run's.

Cuts: after every batch of every epoch (the last one included: the loader has not yet seen the
end), after an epoch's loop ended, and after ``iter(loader)`` of an epoch before its first
``next()``.  The loader starts an epoch's draw only at that first ``next()``, so the two
boundaries are where ``state_dict`` used to describe the finished epoch.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset
from torchdata.stateful_dataloader import StatefulDataLoader

from balance_gui.core.distributed_pk import DistributedPKBatchSampler
from balance_gui.core.repeat_factor_sampler import DistributedRepeatFactorSampler, RepeatFactorSampler
from balance_gui.core.sampler import (
    BalancedBatchSampler,
    BalancedSampler,
    DistributedBalancedSampler,
    PKBatchSampler,
)

pytestmark = pytest.mark.filterwarnings("ignore:'set_vital' is deprecated:UserWarning")

N = 10  # items; batches of 3 leave a partial last batch of 1
BATCH = 3
EPOCHS = 4
WEIGHTS = np.array([1.0, 2.0, 3.0, 1.0, 5.0, 1.0, 2.0, 0.5, 4.0, 1.0])
TARGETS = np.array([0, 0, 0, 1, 1, 1, 2, 2, 3, 3])
# repeat factors: epochs of about 14 indices whose length changes with the rounding
FACTORS = np.array([1.0, 2.5, 1.0, 0.5, 1.7, 1.0, 3.2, 0.4, 1.0, 1.5])


class Indices(Dataset[int]):
    def __len__(self) -> int:
        return N

    def __getitem__(self, i: int) -> int:
        return i


def _gen(fresh: bool) -> torch.Generator:
    return torch.Generator().manual_seed(99 if fresh else 7)


def make_loader(kind: str, mode: str, fresh: bool, workers: int | tuple[int, str]) -> StatefulDataLoader:
    """The loader of one configuration; ``fresh`` is a restarted job's (its own generator);
    ``workers`` may be ``(2, "persistent")``."""
    rng: dict[str, Any] = {"seed": 7} if mode == "seed" else {"generator": _gen(fresh)}
    ds = Indices()
    if isinstance(workers, tuple):
        loader = make_loader(kind, mode, fresh, workers[0])
        if loader.sampler is not None and not hasattr(loader.batch_sampler, "state_dict"):
            return StatefulDataLoader(
                ds, sampler=loader.sampler, batch_size=BATCH, num_workers=workers[0], persistent_workers=True
            )
        return StatefulDataLoader(
            ds, batch_sampler=loader.batch_sampler, num_workers=workers[0], persistent_workers=True
        )
    if kind == "items":  # the loader batches the items (torchdata's BatchSampler looks ahead)
        s: Any = BalancedSampler(WEIGHTS, num_samples=N, **rng)
        return StatefulDataLoader(ds, sampler=s, batch_size=BATCH, num_workers=workers)
    if kind == "batch":
        s = BalancedBatchSampler(WEIGHTS, num_samples=N, batch_size=BATCH, **rng)
    elif kind == "no_replacement_batch":
        s = BalancedBatchSampler(WEIGHTS, num_samples=8, replacement=False, batch_size=BATCH, drop_last=True, **rng)
    elif kind == "distributed":  # seed mode only: ranks share (seed, epoch)
        s = DistributedBalancedSampler(WEIGHTS, num_replicas=2, rank=1, seed=7)
        return StatefulDataLoader(ds, sampler=s, batch_size=BATCH, num_workers=workers)
    elif kind in ("rfs", "distributed_rfs"):  # epochs of their own length, batched by the loader
        if kind == "rfs":
            s = RepeatFactorSampler(FACTORS, **rng)
        else:  # seed mode only, as distributed
            s = DistributedRepeatFactorSampler(FACTORS, num_replicas=2, rank=1, seed=7)
        return StatefulDataLoader(ds, sampler=s, batch_size=BATCH, num_workers=workers)
    elif kind == "pk":
        s = PKBatchSampler(TARGETS, 2, 2, num_batches=3, **rng)
    elif kind == "distributed_pk":  # seed mode only, as distributed
        s = DistributedPKBatchSampler(TARGETS, 2, 2, num_batches=6, num_replicas=2, rank=1, seed=7)
    else:
        raise AssertionError(kind)
    return StatefulDataLoader(ds, batch_sampler=s, num_workers=workers)


def _start_epoch(loader: StatefulDataLoader, kind: str, epoch: int) -> None:
    if kind in ("distributed", "distributed_rfs"):  # as DDP training loops (and Lightning) do before each epoch
        loader.sampler.set_epoch(epoch)
    elif kind == "distributed_pk":
        loader.batch_sampler.set_epoch(epoch)


def _drain(it: Any) -> list[list[int]]:
    return [b.tolist() for b in it]


@functools.cache
def reference(kind: str, mode: str) -> tuple[tuple[tuple[int, ...], ...], ...]:
    loader = make_loader(kind, mode, False, 0)
    epochs = []
    for e in range(EPOCHS):
        _start_epoch(loader, kind, e)
        epochs.append(tuple(tuple(b) for b in _drain(loader)))
    return tuple(epochs)


Cut = tuple[str, int, int]  # ("batch", epoch, batches taken) | ("end", epoch, 0) | ("iter", epoch, 0)


def states_at(kind: str, mode: str, workers: Any, cuts: list[Cut]) -> dict[Cut, dict[str, Any]]:
    """The loader's state at each cut of one uninterrupted run (``state_dict`` changes nothing)."""
    states = {}
    loader = make_loader(kind, mode, False, workers)
    last = max(c[1] for c in cuts)
    for e in range(last + 1):
        _start_epoch(loader, kind, e)
        it = iter(loader)
        if ("iter", e, 0) in cuts:
            states["iter", e, 0] = loader.state_dict()
        for taken, _ in enumerate(it, 1):
            if ("batch", e, taken) in cuts:
                states["batch", e, taken] = loader.state_dict()
        if ("end", e, 0) in cuts:
            states["end", e, 0] = loader.state_dict()
    return states


def resume(kind: str, mode: str, workers: Any, cut: Cut, state: dict[str, Any], epochs: int) -> list[Any]:
    """The epochs a restarted job hands out after restoring ``state``: the uninterrupted run's
    head up to the cut, then a NEW loader over a NEW sampler, restored, and its training loop,
    which calls ``iter(loader)`` for the epoch it is in (after an ended epoch: the next one)."""
    what, cut_epoch, taken = cut
    ref = reference(kind, mode)
    if what == "end":
        out = [list(ep) for ep in ref[: cut_epoch + 1]]
    else:
        out = [list(ep) for ep in ref[:cut_epoch]] + [list(ref[cut_epoch][:taken])]
    restored = make_loader(kind, mode, True, workers)
    restored.load_state_dict(state)
    for e in range(cut_epoch + 1 if what == "end" else cut_epoch, epochs):
        if e != cut_epoch:  # the cut epoch's set_epoch was made before the cut
            _start_epoch(restored, kind, e)
        got = [tuple(b) for b in _drain(restored)]
        if e == cut_epoch:
            out[e].extend(got)
        else:
            out.append(got)
    return [tuple(ep) for ep in out]


def all_cuts(kind: str, mode: str) -> list[Cut]:
    ref = reference(kind, mode)
    cuts: list[Cut] = []
    for e in range(EPOCHS):
        cuts.append(("iter", e, 0))
        cuts += [("batch", e, j) for j in range(1, len(ref[e]) + 1)]
        if e < EPOCHS - 1:
            cuts.append(("end", e, 0))
    return cuts


CONFIGS = [
    ("items", "generator"),
    ("items", "seed"),
    ("batch", "generator"),
    ("batch", "seed"),
    ("no_replacement_batch", "generator"),
    ("distributed", "seed"),
    ("pk", "generator"),
    ("pk", "seed"),
    ("distributed_pk", "seed"),
    ("rfs", "generator"),
    ("rfs", "seed"),
    ("distributed_rfs", "seed"),
]


def _check(kind: str, mode: str, workers: Any, cuts: list[Cut], epochs: int = EPOCHS) -> None:
    ref = list(reference(kind, mode)[:epochs])
    assert len(set(reference(kind, mode))) == EPOCHS, "the epochs must differ for the test to see a skipped one"
    wrong = []
    for cut, state in states_at(kind, mode, workers, cuts).items():
        got = resume(kind, mode, workers, cut, state, epochs)
        if got != ref:
            wrong.append((cut, [len(ep) for ep in got]))
    assert not wrong, f"{len(wrong)} of {len(cuts)} cuts resume wrongly (cut, batches per epoch): {wrong}"


@pytest.mark.parametrize(("kind", "mode"), CONFIGS)
def test_resume_at_every_cut_without_workers(kind, mode):
    _check(kind, mode, 0, all_cuts(kind, mode))


# Two workers (the sampler runs in the main process, ahead of the batches by the prefetch):
# worker start-up is slow, so the boundaries of epochs 0-1 and the last batch, one config per
# sampler and per random source.
@pytest.mark.parametrize(
    ("kind", "mode"),
    [("items", "generator"), ("batch", "seed"), ("distributed", "seed"), ("pk", "generator"), ("rfs", "generator")],
)
def test_resume_at_boundaries_with_two_workers(kind, mode):
    last = len(reference(kind, mode)[0])
    _check(kind, mode, 2, [("batch", 0, last), ("end", 0, 0), ("iter", 1, 0)], epochs=2)


def test_resume_at_boundaries_with_two_persistent_workers():
    # the loader resets its iterator (one more iter() of the sampler) instead of making a new one
    last = len(reference("items", "generator")[0])
    _check("items", "generator", (2, "persistent"), [("batch", 0, last), ("end", 0, 0), ("iter", 1, 0)], epochs=2)
