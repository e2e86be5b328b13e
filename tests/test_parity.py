"""Drop-in parity with torch.utils.data.WeightedRandomSampler (WRS).

Every assertion of the first part runs twice, on WRS and on BalancedSampler, and must hold for
both.  The second part pins each deliberate difference (the README's table lists them)."""

from __future__ import annotations

import copy
import itertools
import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, WeightedRandomSampler

from balance_gui.core.errors import WeightsError
from balance_gui.core.sampler import BalancedSampler

IMPLS = {"wrs": WeightedRandomSampler, "balanced": BalancedSampler}
W = [0.0, 1.0, 2.0, 3.0, 0.5, 0.0, 4.0, 1.0]


@pytest.fixture(params=list(IMPLS))
def impl(request):
    return IMPLS[request.param]


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------- same behaviour


@pytest.mark.parametrize(
    "make_weights",
    [
        lambda: list(W),
        lambda: np.array(W, dtype=np.float32),
        lambda: np.array(W, dtype=np.float64),
        lambda: np.array([0, 1, 2, 3, 1, 0, 4, 1]),
        lambda: torch.tensor(W, dtype=torch.float32),
        lambda: torch.tensor([0, 1, 2, 3, 1, 0, 4, 1]),
        lambda: torch.tensor([False, True, True, True, True, False, True, True]),
        lambda: torch.tensor(W, dtype=torch.float64),
    ],
    ids=["list", "np_f32", "np_f64", "np_int", "t_f32", "t_int", "t_bool", "t_f64"],
)
def test_input_kinds(impl, make_weights):
    w = make_weights()
    s = impl(w, 200, generator=gen(1))
    assert s.weights.dtype == torch.float64 and s.weights.shape == (8,)
    if isinstance(w, torch.Tensor) and w.dtype == torch.float64:
        assert s.weights is w  # no copy
    idx = list(s)
    assert len(idx) == 200 and all(type(i) is int for i in idx)
    assert not set(idx) & {0, 5}  # zero weights are never drawn


def test_positional_and_keyword_calls(impl):
    a = impl(W, 50, True, gen(2))
    b = impl(weights=W, num_samples=50, replacement=True, generator=gen(2))
    assert list(a) == list(b)
    assert (a.num_samples, a.replacement) == (50, True)


def test_shared_generator_and_state_replay(impl):
    g = gen(3)
    a, b = impl(W, 100, generator=g), impl(W, 100, generator=g)
    assert list(a) != list(b)  # one generator, two streams
    state = g.get_state()
    e0, e1 = list(a), list(a)
    assert e0 != e1
    g.set_state(state)
    assert list(a) == e0 and list(a) == e1


def test_used_generator_is_not_a_fresh_one(impl):
    fresh = list(impl(W, 100, generator=gen(4)))
    g = gen(4)
    torch.randperm(10, generator=g)  # as random_split would
    assert list(impl(W, 100, generator=g)) != fresh


def test_manual_seed_reproducibility(impl):
    # as PyTorch's test_sampler_reproducibility: the same sampler, reseeded, repeats itself
    s = impl(W, 100)
    torch.manual_seed(0)
    first = list(s)
    torch.manual_seed(0)
    assert list(s) == first
    assert list(s) != first


def test_construction_consumes_no_randomness(impl):
    before = torch.get_rng_state()
    impl(W, 100)
    assert torch.equal(torch.get_rng_state(), before)


def test_lazy_iteration_and_len(impl):
    s = impl(W, 37)
    assert len(s) == 37
    torch.manual_seed(5)
    it = iter(s)
    torch.manual_seed(6)  # the epoch's randomness is taken at the first next(), not at iter()
    got = list(it)
    torch.manual_seed(6)
    assert got == list(s)


def test_pickle_and_deepcopy(impl):
    s = impl(torch.tensor(W, dtype=torch.float64), 60, generator=gen(7))
    c = copy.deepcopy(s)
    p = pickle.loads(pickle.dumps(s))
    assert list(c) == list(p) == list(s)
    assert torch.equal(c.weights, s.weights) and c.weights is not s.weights


def test_without_replacement_draws_distinct(impl):
    s = impl(W, 6, replacement=False, generator=gen(8))
    idx = list(s)
    assert len(idx) == len(set(idx)) == 6 and not set(idx) & {0, 5}


def test_attribute_assignment_and_in_place_edits(impl):
    w = torch.tensor(W, dtype=torch.float64)
    s = impl(w, 40, generator=gen(9))
    w[:] = 0.0
    w[3] = 1.0  # in place on the caller's tensor: the next epoch sees it
    assert set(s) == {3}
    s.weights = torch.tensor([0.0, 0.0, 5.0], dtype=torch.float64)
    assert set(s) == {2}
    s.num_samples = 7
    assert len(s) == 7 and len(list(s)) == 7
    s.replacement = False
    s.weights = torch.ones(7, dtype=torch.float64)
    assert sorted(s) == list(range(7))
    s.generator = gen(10)
    a = list(s)
    s.generator = gen(10)
    assert list(s) == a


def test_dataloader_with_persistent_workers(impl):
    ds = torch.arange(len(W))

    def two_epochs():
        dl = DataLoader(ds, sampler=impl(W, 24), batch_size=4, num_workers=2, persistent_workers=True)
        torch.manual_seed(11)
        return [[b.tolist() for b in dl] for _ in range(2)]

    run1, run2 = two_epochs(), two_epochs()
    assert run1 == run2 and run1[0] != run1[1]
    assert all(len(e) == 6 for e in run1)
    assert not {i for e in run1 for b in e for i in b} & {0, 5}


# ---------------------------------------------------------------- deliberate differences


def test_difference_bad_weights_refused_at_construction():
    WeightedRandomSampler([1.0, -1.0], 3)  # WRS accepts them, and fails at iteration
    with pytest.raises(WeightsError, match=r"weights\[1\] = -1.0 is negative"):
        BalancedSampler([1.0, -1.0], 3)


def test_difference_too_many_draws_without_replacement_refused():
    wrs = WeightedRandomSampler([1.0, 0.0, 1.0], 3, replacement=False)
    assert 1 in list(wrs)  # WRS silently hands out the zero-weight index
    with pytest.raises(WeightsError, match="num_samples=3 exceeds the 2 samples with non-zero weight"):
        BalancedSampler([1.0, 0.0, 1.0], 3, replacement=False)


def test_difference_num_samples_defaults_to_the_number_of_samples():
    with pytest.raises(TypeError):
        WeightedRandomSampler([1.0, 2.0])  # type: ignore[call-arg]
    assert len(BalancedSampler([1.0, 2.0])) == 2


def test_difference_assigned_sequences_are_converted():
    s = BalancedSampler([1.0, 2.0], 4, generator=gen(1))
    s.weights = [0.0, 1.0]  # WRS keeps the list and torch.multinomial then refuses it
    assert list(s) == [1, 1, 1, 1] and s.weights.dtype == torch.float64


def test_difference_edits_through_a_shared_numpy_array_are_not_seen():
    arr = np.array([1.0, 1.0, 1.0])
    wrs = WeightedRandomSampler(arr, 50, generator=gen(2))
    ours = BalancedSampler(arr, 50, generator=gen(2))
    arr[:2] = 0.0  # no tensor version counter moves: only WRS sees it
    assert set(wrs) == {2}
    assert set(ours) == {0, 1, 2}
    ours.weights[:2] = 0.0  # an edit through the tensor (or an assignment) is seen
    assert set(ours) == {2}


def test_difference_same_law_other_numbers():
    a = list(WeightedRandomSampler(W, 50, generator=gen(3)))
    b = list(BalancedSampler(W, 50, generator=gen(3)))
    assert a != b  # the law is the same (tests/test_sampler.py), the stream of numbers is not


def test_difference_errors_are_balance_errors_with_one_line():
    with pytest.raises(WeightsError, match="weights is empty"):
        BalancedSampler([], 3)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        BalancedSampler([1.0], 3, generator=1)


def test_difference_more_than_2_pow_24_categories_is_allowed():
    big = torch.ones((1 << 24) + 1, dtype=torch.float64)
    with pytest.raises(RuntimeError):
        list(WeightedRandomSampler(big, 3))
    assert len(list(BalancedSampler(big, 3, seed=0))) == 3


@pytest.mark.filterwarnings("ignore:'set_vital' is deprecated:UserWarning")
def test_difference_resume_does_not_depend_on_recreating_the_generator_state():
    import torchdata.stateful_dataloader as sdl

    ds = list(range(len(W)))

    def run(impl, seed_after_restart):
        def make(seed):
            return sdl.StatefulDataLoader(ds, sampler=impl(W, 40, generator=gen(seed)), batch_size=4)

        reference = [b.tolist() for b in make(7)]
        first = make(7)
        head = [b.tolist() for b in itertools.islice(iter(first), 3)]
        second = make(seed_after_restart)  # the restarted job's generator: not the saved one
        second.load_state_dict(first.state_dict())
        return head + [b.tolist() for b in second] == reference

    assert not run(WeightedRandomSampler, 99)  # WRS is re-drawn from the new generator
    assert run(BalancedSampler, 99)  # ours restores the generator's state from the loader's state
