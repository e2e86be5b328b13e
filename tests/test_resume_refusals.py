"""A resume state loads only into the sampler it was made by; anything else is refused, named.

The state records what it was made with (kind, sha256 of the weights/targets, num_samples, mode,
replacement, batch form, device type, world size; P, K and num_batches for PK) and
``load_state_dict`` refuses a difference with a :class:`SamplerStateError` (a ``BalanceError``)
that names it, as it refuses malformed fields.  A refused state changes nothing.
"""

from __future__ import annotations

import copy
import io
import itertools
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset
from torchdata.stateful_dataloader import StatefulDataLoader

from balance_gui.core.errors import BalanceError, SettingsError
from balance_gui.core.sampler import (
    BalancedBatchSampler,
    BalancedSampler,
    DistributedBalancedSampler,
    PKBatchSampler,
)
from balance_gui.core.sampler_state import SamplerStateError

pytestmark = pytest.mark.filterwarnings("ignore:'set_vital' is deprecated:UserWarning")

W = np.arange(1.0, 101.0)
TARGETS = np.repeat(np.arange(4), [40, 30, 20, 10])
CW = np.array([1.0, 2.0, 3.0, 4.0])


class Indices(Dataset[int]):
    def __len__(self) -> int:
        return 100

    def __getitem__(self, i: int) -> int:
        return i


def mid_epoch_state(s: Any, n: int = 5) -> dict[str, Any]:
    it = iter(s)
    for _ in range(n):
        next(it)
    return s.state_dict()


def test_a_loader_state_with_num_samples_64_is_refused_by_a_sampler_with_32():
    first = StatefulDataLoader(Indices(), sampler=BalancedSampler(W, num_samples=64, seed=1), batch_size=8)
    list(itertools.islice(iter(first), 3))
    state = first.state_dict()
    second = StatefulDataLoader(Indices(), sampler=BalancedSampler(W, num_samples=32, seed=1), batch_size=8)
    second.load_state_dict(state)  # the loader keeps it until iter()
    with pytest.raises(SamplerStateError, match=r"num_samples=64 in the state, 32 here") as e:
        iter(second)
    assert isinstance(e.value, BalanceError) and isinstance(e.value, SettingsError)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("changed", "named"),
    [
        (
            {"weights": W[::-1].copy()},
            r"weights differ \(sha256 [0-9a-f]{12}\.\.\. in the state, sha256 [0-9a-f]{12}\.\.\. here\)",
        ),
        ({"weights": W * 2}, "weights differ"),  # same law, other numbers: other inputs all the same
        ({"replacement": False, "num_samples": 50}, "replacement=True in the state, False here"),
        ({"mode": "class_aware"}, "mode='weighted' in the state, 'class_aware' here"),
        ({"num_samples": 99}, "num_samples=50 in the state, 99 here"),
        ({"batch_size": 5}, "batch_size=None in the state, 5 here"),
    ],
)
def test_another_sampler_is_refused_naming_what_differs(changed, named):
    args: dict[str, Any] = {"weights": W, "num_samples": 50, "seed": 3}
    state = mid_epoch_state(BalancedSampler(**args))
    with pytest.raises(SamplerStateError, match=named):
        BalancedSampler(**{**args, **changed}).load_state_dict(state)


def test_several_differences_are_all_named():
    state = mid_epoch_state(BalancedSampler(W, num_samples=50, seed=3))
    with pytest.raises(SamplerStateError) as e:
        BalancedSampler(W[:60], num_samples=40, mode="stratified", seed=3).load_state_dict(state)
    msg = str(e.value)
    for part in ("weights differ", "num_samples=50 in the state, 40 here", "mode='weighted' in the state"):
        assert part in msg, msg


def test_class_form_fingerprints_targets_and_class_weights():
    state = mid_epoch_state(BalancedSampler(targets=TARGETS, class_weights=CW, seed=3))
    with pytest.raises(SamplerStateError, match="class_weights differ"):
        BalancedSampler(targets=TARGETS, class_weights=CW + 1, seed=3).load_state_dict(state)
    with pytest.raises(SamplerStateError, match="targets differ"):
        BalancedSampler(targets=TARGETS[::-1].copy(), class_weights=CW, seed=3).load_state_dict(state)
    # the same law as per-sample weights is another form of sampler: its stream is another one
    with pytest.raises(SamplerStateError, match=r"weights differ \(none in the state, sha256 "):
        BalancedSampler(CW[TARGETS], seed=3).load_state_dict(state)
    # targets given as int32 or a list are the same targets
    BalancedSampler(targets=list(TARGETS), class_weights=CW.astype(np.float32), seed=3).load_state_dict(state)


def test_weights_edited_in_place_after_saving_are_seen():
    w = torch.tensor(W)
    s = BalancedSampler(w, num_samples=50, seed=3)
    state = mid_epoch_state(s)
    w[7] = 0.0  # the same tensor object, a new version: the fingerprint is computed again
    with pytest.raises(SamplerStateError, match="weights differ"):
        s.load_state_dict(state)


def test_kinds_are_not_interchangeable():
    pk = PKBatchSampler(TARGETS, 2, 3, seed=3)
    items = BalancedSampler(targets=TARGETS, class_weights=CW, seed=3)
    batches = BalancedBatchSampler(targets=TARGETS, class_weights=CW, batch_size=6, seed=3)
    with pytest.raises(SamplerStateError, match="a 'PKBatchSampler' state cannot be loaded into a BalancedSampler"):
        items.load_state_dict(mid_epoch_state(pk, 2))
    with pytest.raises(SamplerStateError, match="a 'BalancedSampler' state cannot be loaded into a PKBatchSampler"):
        pk.load_state_dict(mid_epoch_state(items))
    with pytest.raises(SamplerStateError, match="a 'BalancedBatchSampler' state cannot be loaded into a Balanced"):
        items.load_state_dict(mid_epoch_state(batches, 2))
    dist = DistributedBalancedSampler(targets=TARGETS, class_weights=CW, num_replicas=1, rank=0, seed=3)
    with pytest.raises(SamplerStateError, match="'DistributedBalancedSampler' state cannot be loaded"):
        items.load_state_dict(mid_epoch_state(dist))


@pytest.mark.parametrize(
    ("changed", "named"),
    [
        ({"classes_per_batch": 3}, "classes_per_batch=2 in the state, 3 here"),
        ({"samples_per_class": 4}, "samples_per_class=3 in the state, 4 here"),
        ({"num_batches": 9}, "num_batches=16 in the state, 9 here"),
        ({"class_weights": CW}, "shares differ"),
        ({"targets": np.roll(TARGETS, 1)}, "targets differ"),
    ],
)
def test_pk_refuses_another_pk_sampler(changed, named):
    args: dict[str, Any] = {"targets": TARGETS, "classes_per_batch": 2, "samples_per_class": 3, "seed": 3}
    state = mid_epoch_state(PKBatchSampler(**args), 2)
    with pytest.raises(SamplerStateError, match=named):
        PKBatchSampler(**{**args, **changed}).load_state_dict(state)


def test_distributed_refuses_another_world_but_serves_every_rank():
    def make(rank: int, world: int = 2) -> DistributedBalancedSampler:
        return DistributedBalancedSampler(W, num_replicas=world, rank=rank, seed=3, batch_size=4)

    state = mid_epoch_state(make(0), 3)
    with pytest.raises(SamplerStateError, match="num_replicas=2 in the state, 4 here"):
        make(1, 4).load_state_dict(state)
    # Lightning saves rank 0's loader state and every rank loads it: same epoch, same position
    r1 = make(1)
    r1.load_state_dict(state)
    assert list(r1) == list(make(1))[3:]


def test_a_state_with_a_generator_needs_a_sampler_with_one_and_vice_versa():
    with_g = mid_epoch_state(BalancedSampler(W, generator=torch.Generator().manual_seed(1)))
    without = mid_epoch_state(BalancedSampler(W))  # torch's global generator
    with pytest.raises(SamplerStateError, match="holds a generator's state, but this sampler has no generator"):
        BalancedSampler(W).load_state_dict(with_g)
    with pytest.raises(SamplerStateError, match="saved by a sampler without a generator"):
        BalancedSampler(W, generator=torch.Generator()).load_state_dict(without)
    with pytest.raises(SettingsError, match="seed=None, this sampler has seed=4"):
        BalancedSampler(W, seed=4).load_state_dict(without)
    pk_g = mid_epoch_state(PKBatchSampler(TARGETS, 2, 3, generator=torch.Generator().manual_seed(1)), 2)
    with pytest.raises(SamplerStateError, match="no generator"):
        PKBatchSampler(TARGETS, 2, 3).load_state_dict(pk_g)


def _edit(state: dict[str, Any], path: tuple[str, ...], value: object) -> dict[str, Any]:
    bad = copy.deepcopy(state)
    d = bad
    for p in path[:-1]:
        d = d[p]
    d[path[-1]] = value
    return bad


@pytest.mark.parametrize("value", ["8", 8.9, True, None, -1, 51, 2**70])
def test_positions_of_the_wrong_type_or_out_of_range_are_refused(value):
    s = BalancedSampler(W, num_samples=50, seed=3)
    state = mid_epoch_state(s, 8)
    assert state["live"]["position"] == 8
    with pytest.raises(SamplerStateError, match="position in the state"):
        BalancedSampler(W, num_samples=50, seed=3).load_state_dict(_edit(state, ("live", "position"), value))


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        (("epoch",), "3", "epoch in the state must be an int, got '3'"),
        (("epoch",), 3.0, "epoch in the state must be an int"),
        (("auto_epoch",), True, "auto_epoch in the state must be an int"),
        (("fixed_epoch",), 1, "fixed_epoch in the state must be True or False"),
        (("ended",), "no", "ended in the state must be True or False"),
        (("ended",), True, "both ended and mid-epoch"),
        (("live",), [1, 2], "live in the state must be a dict"),
        (("live", "key"), [3], "epoch key in the state must be two ints"),
        (("live", "key"), [4, 0], r"the epoch key's seed in the state is out of range: 4 is not in \[3, 3\]"),
        (("live", "key"), [3, "1"], "epoch key's epoch in the state must be an int"),
        (("seed",), "3", "seed in the state must be an int"),
        (("version",), 3, "has version 3; this balance-gui reads version 2"),
        (("config",), "x", "config must be a dict"),
        (("config", "kind"), "PKBatchSampler", "a 'PKBatchSampler' state cannot be loaded into a BalancedBatchSampler"),
        (("generator",), torch.zeros(3, dtype=torch.uint8), "holds a generator's state, but this sampler has no"),
    ],
)
def test_malformed_fields_are_refused_naming_them(path, value, named):
    s = BalancedBatchSampler(W, num_samples=50, batch_size=5, seed=3)
    state = mid_epoch_state(s, 2)
    with pytest.raises(SamplerStateError, match=named):
        BalancedBatchSampler(W, num_samples=50, batch_size=5, seed=3).load_state_dict(_edit(state, path, value))


def test_batch_positions_off_a_batch_boundary_and_bad_generator_states_are_refused():
    s = BalancedBatchSampler(W, num_samples=50, batch_size=5, generator=torch.Generator().manual_seed(1))
    state = mid_epoch_state(s, 2)
    fresh = BalancedBatchSampler(W, num_samples=50, batch_size=5, generator=torch.Generator())
    with pytest.raises(SamplerStateError, match="position 7 in the state is not at a batch boundary"):
        fresh.load_state_dict(_edit(state, ("live", "position"), 7))
    with pytest.raises(SamplerStateError, match=r"the epoch key's epoch \(0 without a seed\)"):
        fresh.load_state_dict(_edit(state, ("live", "key"), [5, 1]))
    with pytest.raises(SamplerStateError, match="generator state must be a 1-D uint8 tensor"):
        fresh.load_state_dict(_edit(state, ("generator",), [1, 2, 3]))
    with pytest.raises(SamplerStateError, match="does not fit this sampler's generator"):
        fresh.load_state_dict(_edit(state, ("generator",), torch.zeros(7, dtype=torch.uint8)))


def test_unknown_and_missing_fields_and_non_dicts_are_refused():
    s = BalancedSampler(W, seed=3)
    state = s.state_dict()
    with pytest.raises(SamplerStateError, match="unknown: \\['extra'\\]"):
        s.load_state_dict({**state, "extra": 1})
    with pytest.raises(SamplerStateError, match="missing: \\['ended'\\]"):
        s.load_state_dict({k: v for k, v in state.items() if k != "ended"})
    with pytest.raises(SamplerStateError, match="must be a dict, got list"):
        s.load_state_dict([1, 2])  # type: ignore[arg-type]


def test_states_of_the_previous_version_are_refused_as_predating_fingerprints():
    # what balance-gui wrote before fingerprints (state version 1; PK states had no version)
    v1 = {"version": 1, "seed": 3, "epoch": 0, "fixed_epoch": False, "auto_epoch": 1, "generator": None}
    v1["live"] = {"key": [3, 0], "position": 5}
    with pytest.raises(SamplerStateError, match="predates fingerprints"):
        BalancedSampler(W, seed=3).load_state_dict(v1)
    old_pk = {k: v for k, v in v1.items() if k != "version"}
    with pytest.raises(SamplerStateError, match="this PKBatchSampler state predates fingerprints"):
        PKBatchSampler(TARGETS, 2, 3, seed=3).load_state_dict(old_pk)


def test_a_refused_state_changes_nothing():
    g = torch.Generator().manual_seed(5)
    s = BalancedSampler(W, num_samples=20, generator=g)
    before = g.get_state().clone()
    other = mid_epoch_state(BalancedSampler(W, num_samples=20, generator=torch.Generator().manual_seed(9)))
    with pytest.raises(SamplerStateError):
        s.load_state_dict(_edit(other, ("live", "position"), 21))  # after the generator field
    assert torch.equal(g.get_state(), before)
    assert list(s) == list(BalancedSampler(W, num_samples=20, generator=torch.Generator().manual_seed(5)))


def test_a_state_survives_torch_save_and_a_weights_only_load():
    a = BalancedSampler(targets=TARGETS, class_weights=CW, generator=torch.Generator().manual_seed(2))
    state = mid_epoch_state(a, 17)
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)
    b = BalancedSampler(targets=TARGETS, class_weights=CW, generator=torch.Generator().manual_seed(8))
    b.load_state_dict(loaded)
    ref = list(BalancedSampler(targets=TARGETS, class_weights=CW, generator=torch.Generator().manual_seed(2)))
    assert list(b) == ref[17:]
