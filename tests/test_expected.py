"""core.expected: each expected figure against its definition, brute force, or a large simulation."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch

from balance_gui.cli import main
from balance_gui.core.errors import BalanceError, SettingsError
from balance_gui.core.expected import (
    class_figures,
    distinct_cycled,
    distinct_stratified,
    distinct_with_replacement,
    fit_test,
    inclusion_probabilities,
)
from balance_gui.core.options import Mode
from balance_gui.core.sampler import BalancedSampler
from balance_gui.core.simulate import format_simulation_report, simulate


def _race_inclusion_brute(sizes, weights, k):
    """Inclusion probability per group by enumerating every ordered k-draw of successive sampling."""
    items = [g for g, n in enumerate(sizes) for _ in range(n)]
    w = np.array([weights[g] for g in items], dtype=np.float64)
    inc = np.zeros(len(items))
    for seq in itertools.permutations(range(len(items)), k):
        left, prob = w.sum(), 1.0
        for i in seq:
            prob *= w[i] / left
            left -= w[i]
        inc[list(seq)] += prob
    return np.array([inc[items.index(g)] for g in range(len(sizes))])


@pytest.mark.parametrize(
    "sizes, weights, k",
    [([1, 2, 3], [3.0, 1.0, 0.5], 2), ([2, 1, 3], [1.0, 7.0, 0.2], 4), ([1, 4], [10.0, 1.0], 3)],
)
def test_inclusion_is_exact_on_small_cases(sizes, weights, k):
    exact = inclusion_probabilities(sizes, weights, k)
    np.testing.assert_allclose(exact, _race_inclusion_brute(sizes, weights, k), rtol=0, atol=1e-10)
    assert float(np.dot(sizes, exact)) == pytest.approx(k, abs=1e-10)  # k images are drawn


def test_inclusion_matches_torch_multinomial_without_replacement():
    sizes = np.array([120, 30, 8, 2])
    weights = np.array([1.0, 3.0, 12.0, 40.0])
    k = 60
    w = torch.from_numpy(np.repeat(weights, sizes))
    cls = np.repeat(np.arange(4), sizes)
    g = torch.Generator().manual_seed(0)
    reps = 4000
    hits = np.zeros(4)
    for _ in range(reps):
        d = torch.multinomial(w, k, replacement=False, generator=g).numpy()
        hits += np.bincount(cls[d], minlength=4)
    observed = hits / (reps * sizes)
    pi = inclusion_probabilities(sizes, weights, k)
    sd = np.sqrt(pi * (1 - pi) / (reps * sizes)) + 1e-9
    assert np.all(np.abs(observed - pi) < 4.5 * sd), (observed, pi)


def test_inclusion_edges():
    np.testing.assert_array_equal(inclusion_probabilities([3, 2, 4], [1.0, 0.0, 2.0], 7), [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(inclusion_probabilities([3, 2], [1.0, 2.0], 0), [0.0, 0.0])
    with pytest.raises(SettingsError, match="only 3 images have a weight above zero"):
        inclusion_probabilities([3, 2], [1.0, 0.0], 4)


def test_without_replacement_figures_a_one_image_class_is_used_at_most_once():
    counts = np.array([1, 99])
    f = class_figures(counts, [99.0, 1.0], draws=100, replacement=False)
    # every image with a weight is drawn exactly once when k equals their number
    np.testing.assert_allclose(f.expected_uses_per_image, [1.0, 1.0])
    np.testing.assert_allclose(f.expected_shares, [0.01, 0.99])
    np.testing.assert_allclose(f.expected_distinct, [1.0, 99.0])
    with_r = class_figures(counts, [99.0, 1.0], draws=100)
    assert with_r.expected_uses_per_image[0] == pytest.approx(50.0)  # the with-replacement figure differs


def test_distinct_with_replacement_is_exact():
    # one image, one draw: always seen (the approximation said 0.63)
    assert distinct_with_replacement([1], [1.0], 1)[0] == 1.0
    counts = np.array([1, 3, 20])
    p = np.array([0.2, 0.3, 0.5])
    k = 12
    g = torch.Generator().manual_seed(1)
    w = torch.from_numpy(np.repeat(p / counts, counts))
    cls = np.repeat(np.arange(3), counts)
    reps = 6000
    d = torch.multinomial(w, k * reps, replacement=True, generator=g).numpy().reshape(reps, k)
    seen = np.zeros(3)
    for row in d:
        u = np.unique(row)
        seen += np.bincount(cls[u], minlength=3)
    np.testing.assert_allclose(seen / reps, distinct_with_replacement(counts, p, k), rtol=0.02)


def _epoch_distinct(steps, K):
    """Mean distinct images per class of the epochs' last steps."""
    ends = [s for s in steps if s.epoch_draws == s.draws_done // (s.epoch + 1)]
    return np.mean([s.distinct_seen for s in ends], axis=0)[:K]


def test_class_aware_distinct_is_expected_min_of_size_and_draws():
    counts = np.array([3, 10, 40])
    cw = np.array([1 / 3, 1 / 10, 1 / 40])
    t = np.repeat(np.arange(3), counts)
    k = 30
    sampler = BalancedSampler(
        targets=t, class_weights=cw, num_samples=k, mode="class_aware", generator=torch.Generator().manual_seed(2)
    )
    seen = np.zeros(3)
    epochs = 400
    for e in range(epochs):
        sampler.set_epoch(e)
        seen += np.bincount(t[np.unique(np.fromiter(sampler, dtype=np.int64))], minlength=3)
    observed = seen / epochs
    p = counts * cw / (counts * cw).sum()
    expected = distinct_cycled(counts, p, k)
    # by definition: sum over d of min(n, d) P(d)
    d = np.arange(k + 1)
    pmf = np.array([[math.comb(k, j) * pc**j * (1 - pc) ** (k - j) for j in d] for pc in p])
    np.testing.assert_allclose(expected, (np.minimum(counts[:, None], d[None, :]) * pmf).sum(1), rtol=1e-9)
    np.testing.assert_allclose(observed, expected, rtol=0.02)
    # the weighted mode's formula would be visibly wrong here
    assert np.abs(distinct_with_replacement(counts, p, k) - expected).max() > 2.0
    f = class_figures(counts, cw, draws=k, mode=Mode.CLASS_AWARE)
    np.testing.assert_allclose(f.expected_distinct, expected)


def test_distinct_cycled_large_draws_is_fast_and_bounded():
    counts = np.array([5, 2_000_000, 1])
    p = np.array([0.3, 0.4, 0.3])
    e = distinct_cycled(counts, p, 5_000_000)
    assert e[0] == pytest.approx(5.0) and e[2] == pytest.approx(1.0)
    # n - E[(n - d)^+] with d ~ N(n, 1095^2): 1095 * 0.3989 below n
    assert e[1] == pytest.approx(2_000_000 - 1095.445 * 0.398942, abs=1.0)


def test_stratified_distinct_by_randomised_rounding():
    counts = np.array([4, 10, 1])
    p = np.array([0.45, 0.5, 0.05])
    k = 9  # k p = 4.05, 4.5, 0.45
    rng = np.random.default_rng(3)
    reps = 40_000
    kp = k * p
    d = np.floor(kp) + (rng.random((reps, 3)) < kp - np.floor(kp))
    observed = np.minimum(counts, d).mean(axis=0)
    np.testing.assert_allclose(distinct_stratified(counts, p, k), observed, rtol=0.01)
    np.testing.assert_allclose(distinct_stratified(counts, p, k), [4.0, 4.5, 0.45])


def test_stratified_figures_match_the_stratified_sampler():
    """The table's stratified figures are the sampler's: draws floor/ceil of k p_c, distinct E[min(n_c, d_c)]."""
    counts = np.array([4, 10, 1, 25])
    cw = np.array([1.0, 0.5, 3.0, 0.1])
    t = np.repeat(np.arange(4), counts)
    k = 13
    f = class_figures(counts, cw, draws=k, mode=Mode.STRATIFIED)
    sampler = BalancedSampler(targets=t, class_weights=cw, num_samples=k, mode="stratified", seed=5)
    epochs = 3000
    draws = np.zeros((epochs, 4))
    distinct = np.zeros(4)
    for e in range(epochs):
        sampler.set_epoch(e)
        idx = np.fromiter(sampler, dtype=np.int64)
        draws[e] = np.bincount(t[idx], minlength=4)
        distinct += np.bincount(t[np.unique(idx)], minlength=4)
    assert np.all(np.abs(draws - f.expected_draws) < 1.0)  # never further than the rounding step
    np.testing.assert_allclose(draws.mean(axis=0), f.expected_draws, atol=0.05)
    np.testing.assert_allclose(distinct / epochs, f.expected_distinct, atol=0.05)
    # the independent-draws formula would be visibly wrong for the 4-image class
    assert abs(distinct_with_replacement(counts, f.expected_shares, k)[0] - f.expected_distinct[0]) > 0.3


def test_figures_refuse_modes_without_replacement():
    with pytest.raises(SettingsError, match="class_aware mode draws with replacement"):
        class_figures([2, 3], [1.0, 1.0], mode="class_aware", replacement=False)
    with pytest.raises(SettingsError, match="mode must be one of"):
        class_figures([2, 3], [1.0, 1.0], mode="bogus")


def test_fit_test_flags_low_expected_counts():
    ok = fit_test([480, 520], [0.5, 0.5])
    assert ok.valid and ok.note() == "" and ok.dof == 1
    low = fit_test([3, 997], [0.002, 0.998])
    assert not low.valid and low.low_expected == 1 and "fewer than 5" in low.note()


def test_simulate_without_replacement_compares_with_the_race_law():
    counts = np.array([200, 20, 4, 1])
    t = np.repeat(np.arange(4), counts)
    cw = 1.0 / counts
    steps = list(simulate(t, cw, num_samples=200, epochs=50, replacement=False, seed=5))
    last = steps[-1]
    shares = class_figures(counts, cw, draws=200, replacement=False).expected_shares
    np.testing.assert_allclose(last.expected_shares, shares, rtol=1e-9)
    # a correct sampler: no false alarm (the with-replacement law gave p = 0 here)
    assert last.p_value > 1e-3 and last.tv_distance < 0.02
    wr = counts * cw / (counts * cw).sum()
    assert fit_test(last.class_counts, wr).p_value < 1e-10
    report = format_simulation_report(last, ["a", "b", "c", "d"], counts)
    assert "without replacement" in report and "p-value" in report
    # the 1-image class's expected distinct per epoch is its inclusion probability, at most 1
    assert "1.0" in report.splitlines()[-5].split()[-2]


def test_simulate_without_replacement_does_not_flag_a_correct_sampler_on_1900_plus_19():
    """The reported run (inverse weights, 20 draws, 2,000 epochs, seed 2) read p = 8.7e-08 against
    the old figures; against the exact inclusion probabilities a correct sampler reads p ~ 0.46."""
    counts = np.array([1900, 19])
    t = np.repeat(np.arange(2), counts)
    cw = 1.0 / counts
    last = None
    for step in simulate(t, cw, num_samples=20, epochs=2000, replacement=False, seed=2, track_images=False):
        last = step
    assert last is not None
    figures = class_figures(counts, cw, draws=20, replacement=False)
    np.testing.assert_allclose(last.expected_shares, figures.expected_shares, rtol=1e-12)
    assert figures.expected_draws[0] == pytest.approx(11.3646, abs=1e-4)
    assert last.p_value > 0.05


def test_cli_simulate_json(capsys, small_tree):
    assert main(["simulate", str(small_tree), "--json", "--num-samples", "40", "--no-replacement"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert {"p_value", "chi_square", "tv_distance", "classes"} <= set(rec)
    first = rec["classes"][0]
    for key in ("class", "expected_share", "observed_share", "expected_distinct", "observed_distinct", "draws"):
        assert key in first
    assert sum(c["draws"] for c in rec["classes"]) == 40
    assert rec["replacement"] is False
    assert all(c["observed_distinct"] == c["draws"] for c in rec["classes"])  # no repeats without replacement


def test_cli_simulate_json_names_invalid_chi_square(capsys, small_tree):
    assert main(["simulate", str(small_tree), "--json", "--num-samples", "6", "--mode", "class-aware"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["chi_square_valid"] is False and "fewer than 5" in rec["chi_square_note"]
    assert rec["mode"] == "class_aware"


def test_simulate_reports_unusable_settings_as_settings_errors():
    t = np.repeat(np.arange(2), [3, 2])
    with pytest.raises(BalanceError):
        next(simulate(t, [1.0, 1.0], num_samples=10, replacement=False))  # more draws than images
    with pytest.raises(SettingsError, match="mode"):  # the sampler's plain ValueError, as a setting
        next(simulate(t, [1.0, 1.0], mode="no_such_mode"))


@pytest.mark.parametrize(
    "mode, replacement, even",
    [("weighted", True, False), ("class_aware", True, False), ("stratified", True, True), ("weighted", False, True)],
)
def test_chi_square_says_when_it_is_conservative_by_design(mode, replacement, even):
    """Stratified and without-replacement counts are less variable than multinomial ones: a correct run
    reads p near 1 there, and the line says so instead of leaving a user to wonder."""
    counts = np.array([60, 30, 20])
    t = np.repeat(np.arange(3), counts)
    steps = list(simulate(t, 1.0 / counts, num_samples=90, epochs=3, mode=mode, replacement=replacement, seed=0))
    fit = steps[-1].fit
    assert fit.valid and fit.even_by_design == even
    line = format_simulation_report(steps[-1], ["a", "b", "c"], counts)
    assert ("spread more evenly" in line) == even
    if even:  # what the note promises: a correct sampler reads p near 1
        assert fit.p_value > 0.9
