"""The repeat-factor samplers' resume states follow the item samplers' rules (core.epochs).

A state records its kind, a sha256 of the repeat factors, ``shuffle``, the seed or generator and,
for the distributed form, the world size and ``drop_last``; ``load_state_dict`` refuses any
difference with a :class:`SamplerStateError` that names it, refuses malformed fields, and changes
nothing when it refuses.  (The boundary cases run in tests/test_resume_boundaries.py.)
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
import torch

from balance_gui.core.errors import BalanceError
from balance_gui.core.repeat_factor_sampler import DistributedRepeatFactorSampler, RepeatFactorSampler
from balance_gui.core.sampler import BalancedSampler
from balance_gui.core.sampler_state import SamplerStateError
from tests.test_resume_refusals import _edit, mid_epoch_state

R = np.linspace(0.2, 3.4, 120)  # epochs of about 216 indices, each its own length


def test_a_state_resumes_exactly_mid_epoch_after_torch_save_and_a_weights_only_load():
    a = RepeatFactorSampler(R, generator=torch.Generator().manual_seed(2))
    list(a)  # epoch 0
    state = mid_epoch_state(a, 37)
    assert state["live"]["position"] == 37 and not state["ended"]
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    b = RepeatFactorSampler(R, generator=torch.Generator().manual_seed(8))  # another generator: the state decides
    b.load_state_dict(torch.load(buf, weights_only=True))
    ref = RepeatFactorSampler(R, generator=torch.Generator().manual_seed(2))
    epochs = [list(ref) for _ in range(3)]
    assert len(b) == len(epochs[1])  # the epoch in progress
    assert list(b) == epochs[1][37:] and list(b) == epochs[2]


@pytest.mark.parametrize(
    ("changed", "named"),
    [
        (
            {"repeat_factors": R[::-1].copy()},
            r"repeat_factors differ \(sha256 [0-9a-f]{12}\.\.\. in the state, sha256 [0-9a-f]{12}\.\.\. here\)",
        ),
        ({"repeat_factors": R * 2}, "repeat_factors differ"),
        ({"shuffle": False}, "shuffle=True in the state, False here"),
        ({"seed": 4}, "saved with seed=3, this sampler has seed=4"),
        ({"seed": None, "generator": torch.Generator()}, "saved with seed=3, this sampler has seed=None"),
    ],
)
def test_another_sampler_is_refused_naming_what_differs(changed, named):
    args: dict[str, Any] = {"repeat_factors": R, "seed": 3}
    state = mid_epoch_state(RepeatFactorSampler(**args))
    with pytest.raises(SamplerStateError, match=named) as e:
        RepeatFactorSampler(**{**args, **changed}).load_state_dict(state)
    assert isinstance(e.value, BalanceError) and "\n" not in str(e.value)


def test_several_differences_are_all_named():
    state = mid_epoch_state(RepeatFactorSampler(R, seed=3))
    with pytest.raises(SamplerStateError) as e:
        RepeatFactorSampler(R[:50], seed=3, shuffle=False).load_state_dict(state)
    assert "repeat_factors differ" in str(e.value) and "shuffle=True in the state, False here" in str(e.value)


def test_kinds_are_not_interchangeable():
    rfs = RepeatFactorSampler(R, seed=0)
    dist = DistributedRepeatFactorSampler(R, num_replicas=1, rank=0, seed=0)
    weighted = BalancedSampler(R, seed=0)  # the mmdet-style weighted draw by the same factors
    with pytest.raises(SamplerStateError, match="a 'RepeatFactorSampler' state cannot be loaded into a Distributed"):
        dist.load_state_dict(mid_epoch_state(rfs))
    with pytest.raises(SamplerStateError, match="a 'DistributedRepeatFactorSampler' state cannot be loaded into a Rep"):
        RepeatFactorSampler(R, seed=0).load_state_dict(mid_epoch_state(dist))
    with pytest.raises(SamplerStateError, match="a 'BalancedSampler' state cannot be loaded into a RepeatFactor"):
        RepeatFactorSampler(R, seed=0).load_state_dict(mid_epoch_state(weighted))
    with pytest.raises(SamplerStateError, match="a 'RepeatFactorSampler' state cannot be loaded into a Balanced"):
        BalancedSampler(R, seed=0).load_state_dict(mid_epoch_state(RepeatFactorSampler(R, seed=0)))


def test_distributed_refuses_another_world_or_drop_last_but_serves_every_rank():
    def make(rank: int, world: int = 2, drop_last: bool = False) -> DistributedRepeatFactorSampler:
        s = DistributedRepeatFactorSampler(R, num_replicas=world, rank=rank, seed=3, drop_last=drop_last)
        s.set_epoch(5)
        return s

    state = mid_epoch_state(make(0), 11)
    with pytest.raises(SamplerStateError, match="num_replicas=2 in the state, 4 here"):
        make(1, 4).load_state_dict(state)
    with pytest.raises(SamplerStateError, match="drop_last=False in the state, True here"):
        make(1, drop_last=True).load_state_dict(state)
    # Lightning saves rank 0's loader state and every rank loads it: same epoch, same position
    for rank in (0, 1):
        r = make(rank)
        r.load_state_dict(state)
        assert list(r) == list(make(rank))[11:]


def test_a_state_with_a_generator_needs_a_sampler_with_one_and_vice_versa():
    with_g = mid_epoch_state(RepeatFactorSampler(R, generator=torch.Generator().manual_seed(1)))
    without = mid_epoch_state(RepeatFactorSampler(R))  # torch's global generator
    with pytest.raises(SamplerStateError, match="holds a generator's state, but this sampler has no generator"):
        RepeatFactorSampler(R).load_state_dict(with_g)
    with pytest.raises(SamplerStateError, match="saved by a sampler without a generator"):
        RepeatFactorSampler(R, generator=torch.Generator()).load_state_dict(without)


def _epoch_length(seed: int, epoch: int) -> int:
    s = RepeatFactorSampler(R, seed=seed)
    s.set_epoch(epoch)
    return len(s)


@pytest.mark.parametrize("over", [1, 50])
def test_a_position_past_the_end_of_its_own_epoch_is_refused(over):
    # the epochs differ in length: the bound is the length of the state's own epoch
    s = RepeatFactorSampler(R, seed=3)
    s.set_epoch(2)
    state = mid_epoch_state(s)
    n = _epoch_length(3, 2)
    assert n != _epoch_length(3, 0)
    bad = _edit(state, ("live", "position"), n + over)
    with pytest.raises(
        SamplerStateError, match=rf"position in the state is out of range: {n + over} is not in \[0, {n}\]"
    ):
        RepeatFactorSampler(R, seed=3).load_state_dict(bad)
    at_end = RepeatFactorSampler(R, seed=3)
    at_end.load_state_dict(_edit(state, ("live", "position"), n))  # the whole epoch handed out: allowed
    assert list(at_end) == []


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        (("epoch",), "3", "epoch in the state must be an int, got '3'"),
        (("fixed_epoch",), 1, "fixed_epoch in the state must be True or False"),
        (("ended",), True, "both ended and mid-epoch"),
        (("live",), [1, 2], "live in the state must be a dict"),
        (("live", "key"), [4, 0], r"the epoch key's seed in the state is out of range: 4 is not in \[3, 3\]"),
        (("live", "position"), -1, "position in the state is out of range"),
        (("version",), 3, "has version 3; this balance-gui reads version 2"),
        (("config", "kind"), "PKBatchSampler", "a 'PKBatchSampler' state cannot be loaded into a RepeatFactorSampler"),
        (("generator",), torch.zeros(3, dtype=torch.uint8), "holds a generator's state, but this sampler has no"),
    ],
)
def test_malformed_fields_are_refused_naming_them(path, value, named):
    state = mid_epoch_state(RepeatFactorSampler(R, seed=3))
    with pytest.raises(SamplerStateError, match=named):
        RepeatFactorSampler(R, seed=3).load_state_dict(_edit(state, path, value))


def test_states_of_the_first_repeat_factor_sampler_are_refused_as_predating_fingerprints():
    # what RepeatFactorSampler.state_dict wrote before it shared the item samplers' state
    old = {"version": 1, "seed": 3, "epoch": 0, "fixed_epoch": False, "auto_epoch": 1, "generator": None}
    old["live"] = {"key": [3, 0], "position": 5}
    with pytest.raises(SamplerStateError, match="this RepeatFactorSampler state predates fingerprints"):
        RepeatFactorSampler(R, seed=3).load_state_dict(old)


def test_a_refused_state_changes_nothing():
    g = torch.Generator().manual_seed(5)
    s = RepeatFactorSampler(R, generator=g)
    before = g.get_state().clone()
    other = mid_epoch_state(RepeatFactorSampler(R, generator=torch.Generator().manual_seed(9)))
    with pytest.raises(SamplerStateError):
        s.load_state_dict(_edit(other, ("live", "position"), 10**6))  # checked after the generator field
    assert torch.equal(g.get_state(), before)
    assert list(s) == list(RepeatFactorSampler(R, generator=torch.Generator().manual_seed(5)))


def test_repeat_factors_edited_in_place_after_saving_are_seen():
    s = RepeatFactorSampler(R.copy(), seed=3)  # a copy: the sampler's tensor shares its memory
    state = mid_epoch_state(s)
    s.repeat_factors[7] = 9.0  # the same tensor, a new version: the fingerprint is computed again
    with pytest.raises(SamplerStateError, match="repeat_factors differ"):
        s.load_state_dict(state)
