"""simulate(): cumulative counts, agreement with the sampler, early stop, statistics, report."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import balance_gui.core.sampler as smod
from balance_gui.core.errors import WeightsError
from balance_gui.core.sampler import BalancedSampler
from balance_gui.core.simulate import (
    SimulationStep,
    chi_square_test,
    expected_distinct,
    format_simulation_report,
    simulate,
)

COUNTS = np.array([50, 20, 7, 3, 0])
CW = np.array([1.0, 2.0, 5.0, 10.0, 4.0])
T = np.repeat(np.arange(5), COUNTS)
SHARES = COUNTS * CW / (COUNTS * CW).sum()


def test_counts_are_cumulative_and_end_at_total():
    steps = list(simulate(T, CW, num_samples=1000, epochs=3, chunk_size=300, seed=1))
    assert all(isinstance(s, SimulationStep) for s in steps)
    assert [s.draws_done for s in steps] == [300, 600, 900, 1000, 1300, 1600, 1900, 2000, 2300, 2600, 2900, 3000]
    assert [s.epoch for s in steps] == [0] * 4 + [1] * 4 + [2] * 4
    assert all(s.total_draws == 3000 for s in steps)
    assert all(s.class_counts.sum() == s.draws_done for s in steps)
    for a, b in zip(steps, steps[1:], strict=False):
        assert (b.class_counts >= a.class_counts).all()
    last = steps[-1]
    assert last.done and last.class_counts.dtype == np.int64 and last.class_counts.size == 5
    assert last.class_counts[4] == 0  # empty class
    np.testing.assert_allclose(last.expected_shares, SHARES)
    assert last.elapsed_s > 0 and last.draws_per_s > 0
    assert last.p_value > 1e-4
    assert math.isclose(last.tv_distance, 0.5 * np.abs(last.class_counts / 3000 - SHARES).sum())


@pytest.mark.parametrize("kw", [dict(), dict(mode="class_aware"), dict(replacement=False, num_samples=60)])
def test_counts_equal_the_samplers_own_draws(kw, monkeypatch):
    monkeypatch.setattr(smod, "CHUNK_SIZE", 64)
    kw = dict(dict(num_samples=500), **kw)
    steps = list(simulate(T, CW, epochs=2, seed=11, **kw))
    s = BalancedSampler(targets=T, class_weights=CW, generator=torch.Generator().manual_seed(11), **kw)
    expect = np.zeros(5, dtype=np.int64)
    for e in range(2):
        s.set_epoch(e)
        d = np.array(list(s))
        expect += np.bincount(T[d], minlength=5)
        last_of_epoch = [st for st in steps if st.epoch == e][-1]
        np.testing.assert_array_equal(last_of_epoch.class_counts, expect)
        np.testing.assert_array_equal(last_of_epoch.image_uses, np.bincount(d, minlength=T.size))
    # one step per sampler chunk by default
    assert len(steps) == 2 * -(-kw["num_samples"] // 64)


def test_sample_weights_form_and_batch_size():
    w = CW[T]
    a = list(simulate(T, sample_weights=w, num_samples=700, seed=3, batch_size=32))[-1]
    s = BalancedSampler(w, num_samples=700, generator=torch.Generator().manual_seed(3))
    s.set_epoch(0)
    # with per-sample weights the classes are 0..max(targets): the empty last class is not there
    np.testing.assert_array_equal(a.class_counts, np.bincount(T[list(s)], minlength=4))
    np.testing.assert_allclose(a.expected_shares, SHARES[:4])


def test_early_stop_and_close():
    g = simulate(T, CW, num_samples=100_000, epochs=5, chunk_size=1000)
    first = next(g)
    assert first.draws_done == 1000
    g.close()
    with pytest.raises(StopIteration):
        next(g)
    n = 0
    for step in simulate(T, CW, num_samples=100_000, chunk_size=1000):
        n += 1
        if step.draws_done >= 3000:
            break
    assert n == 3


def test_track_images_distinct_counts_tiny():
    t = np.array([0, 0, 0, 1, 1, 2])
    steps = list(simulate(t, [1.0, 1.0, 1.0], num_samples=4, epochs=3, chunk_size=1, seed=5))
    s = BalancedSampler(
        targets=t, class_weights=[1.0, 1.0, 1.0], num_samples=4, generator=torch.Generator().manual_seed(5)
    )
    for e in range(3):
        s.set_epoch(e)
        d = list(s)
        for j, st in enumerate(x for x in steps if x.epoch == e):
            seen = set(d[: j + 1])
            np.testing.assert_array_equal(st.image_uses, np.bincount(d[: j + 1], minlength=6))
            np.testing.assert_array_equal(st.distinct_seen, [len({i for i in seen if t[i] == c}) for c in range(3)])
    untracked = list(simulate(t, [1.0, 1.0, 1.0], num_samples=4, track_images=False))
    assert untracked[-1].image_uses is None and untracked[-1].distinct_seen is None


def test_torch_implementation_for_comparison():
    steps = list(simulate(T, CW, num_samples=20_000, epochs=2, chunk_size=7000, implementation="torch", seed=2))
    assert [s.draws_done for s in steps] == [7000, 14000, 20000, 27000, 34000, 40000]
    assert steps[-1].class_counts.sum() == 40_000 and steps[-1].class_counts[4] == 0
    assert steps[-1].p_value > 1e-4
    with pytest.raises(ValueError, match="class-aware"):
        simulate(T, CW, mode="class_aware", implementation="torch")


def test_arguments_checked_before_first_step():
    with pytest.raises(WeightsError, match=r"class_weights\[1\] \(class 1\) = -1.0 is negative"):
        simulate(T, [1.0, -1.0, 1.0, 1.0, 1.0])
    with pytest.raises(WeightsError, match="not both"):
        simulate(T, CW, sample_weights=CW[T])
    with pytest.raises(ValueError, match="epochs"):
        simulate(T, CW, epochs=0)
    with pytest.raises(ValueError, match="implementation"):
        simulate(T, CW, implementation="numpy")


def test_chi_square_closed_form():
    # shares 1/3 each, counts 10/20/30: chi2 = (100 + 0 + 100) / 20 = 10 on 2 dof, p = exp(-5)
    chi2, p = chi_square_test([10, 20, 30], [1, 1, 1])
    assert chi2 == pytest.approx(10.0) and p == pytest.approx(math.exp(-5), rel=1e-9)
    # 1 dof: p = erfc(sqrt(chi2/2)); a share-0 class is left out
    chi2, p = chi_square_test([30, 70, 0], [0.5, 0.5, 0.0])
    assert chi2 == pytest.approx(16.0) and p == pytest.approx(math.erfc(math.sqrt(8.0)), rel=1e-9)
    assert chi_square_test([1, 2, 1], [0.5, 0.5, 0.0]) == (math.inf, 0.0)
    assert chi_square_test([0, 0], [0.5, 0.5]) == (0.0, 1.0)
    # exact fit
    assert chi_square_test([25, 75], [1, 3]) == (0.0, 1.0)


def test_expected_distinct_formula():
    e = expected_distinct([10, 0, 1], [0.5, 0.2, 0.3], 20)
    # exact: n (1 - (1 - p/n)^k), not the approximation n (1 - exp(-k p / n))
    np.testing.assert_allclose(e, [10 * (1 - 0.95**20), 0.0, 1 - 0.7**20])


def test_report_rows_aligned_for_many_classes():
    K = 1000
    rng = np.random.default_rng(0)
    counts = rng.integers(1, 50, K)
    t = np.repeat(np.arange(K), counts)
    names = [f"n{i:05d}_" + "x" * (i % 60) for i in range(K)]
    last = list(simulate(t, np.ones(K), num_samples=5000, seed=0))[-1]
    text = format_simulation_report(last, names, counts)
    lines = text.splitlines()
    rows = lines[3 : 3 + K]
    assert len({len(r) for r in rows}) == 1  # aligned columns
    assert rows[0].startswith("n00000_") and rows[-1].startswith("n00999_")
    assert f"{last.class_counts[7]:,}" in rows[7].split()
    # 5 expected draws per class on average: some classes expect fewer than 5, so no p-value is shown
    assert "chi-square not valid" in text and "p-value" not in text
    assert "total variation distance" in text and "draws/s" in text
    assert lines[1].split()[:3] == ["class", "images", "draws"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_simulate_on_cuda_matches_sampler():
    steps = list(simulate(T, CW, num_samples=5000, epochs=2, device="cuda", seed=4))
    s = BalancedSampler(
        targets=T, class_weights=CW, num_samples=5000, device="cuda", generator=torch.Generator().manual_seed(4)
    )
    expect = np.zeros(5, dtype=np.int64)
    for e in range(2):
        s.set_epoch(e)
        expect += np.bincount(T[list(s)], minlength=5)
    np.testing.assert_array_equal(steps[-1].class_counts, expect)
    assert steps[-1].draws_done == 10_000 and steps[-1].p_value > 1e-4
