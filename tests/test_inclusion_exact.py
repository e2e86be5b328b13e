"""Inclusion probabilities of successive sampling (torch.multinomial without replacement), exact.

Three independent references: enumeration of every ordered draw, an exact recursion over the
drawn counts per group (a Markov chain), and large torch.multinomial simulations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from balance_gui.core.expected import class_figures, inclusion_probabilities


def _ordered_draws(sizes, weights, k):
    """Inclusion probability per group: the sum over every ordered k-draw of its probability."""
    items = [g for g, n in enumerate(sizes) for _ in range(n)]
    w = [float(weights[g]) for g in items]
    inc = [0.0] * len(items)

    def walk(left: frozenset, prob: float, depth: int) -> None:
        if depth == k:
            return
        total = math.fsum(w[i] for i in left)  # summed afresh: no cancellation between 1e6 and 1e-6
        for i in left:
            p = prob * w[i] / total
            inc[i] += p
            walk(left - {i}, p, depth + 1)

    walk(frozenset(range(len(items))), 1.0, 0)
    return np.array([inc[items.index(g)] for g in range(len(sizes))])


def _markov(sizes, weights, k):
    """Exact recursion over d = drawn images per group: from d, the next draw is from group h
    with probability (n_h - d_h) w_h / sum_j (n_j - d_j) w_j; pi_g = E[d_g after k draws] / n_g."""
    n = np.asarray(sizes, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    G = n.size
    shape = tuple(int(min(m, k)) + 1 for m in n)
    d = np.meshgrid(*[np.arange(s, dtype=np.float64) for s in shape], indexing="ij")
    left = [np.maximum(n[h] - d[h], 0.0) * w[h] for h in range(G)]
    total = sum(left)
    p = np.zeros(shape)
    p[(0,) * G] = 1.0
    for _ in range(k):
        q = np.zeros(shape)
        for h in range(G):
            move = np.divide(p * left[h], total, out=np.zeros(shape), where=total > 0)
            src = tuple(slice(0, s - 1) if i == h else slice(None) for i, s in enumerate(shape))
            dst = tuple(slice(1, s) if i == h else slice(None) for i, s in enumerate(shape))
            q[dst] += move[src]
        p = q
    return np.array([(p * d[h]).sum() / n[h] for h in range(G)])


def test_the_references_agree():
    """Enumeration and the recursion are independent; they agree before either judges the code."""
    sizes, weights = [2, 1, 3], [5.0, 0.3, 1.0]
    for k in range(1, 7):
        np.testing.assert_allclose(_ordered_draws(sizes, weights, k), _markov(sizes, weights, k), atol=1e-14)


def test_matches_enumeration_on_random_small_cases():
    rng = np.random.default_rng(14)
    worst = 0.0
    for _ in range(20):
        G = int(rng.integers(1, 5))
        sizes = rng.integers(1, 5, G)
        while sizes.sum() > 6:
            sizes = rng.integers(1, 5, G)
        weights = 10.0 ** rng.uniform(-6, 6, G)  # twelve decades
        k = int(rng.integers(1, sizes.sum() + 1))
        pi = inclusion_probabilities(sizes, weights, k)
        worst = max(worst, float(np.abs(pi - _ordered_draws(list(sizes), list(weights), k)).max()))
        assert float(np.dot(sizes, pi)) == pytest.approx(k, rel=1e-12)
    assert worst < 1e-12


def test_matches_the_exact_recursion_on_random_cases():
    rng = np.random.default_rng(7)
    worst = 0.0
    for _ in range(20):
        G = int(rng.integers(1, 4))
        sizes = rng.integers(1, 15, G)
        while sizes.sum() > 30:
            sizes = rng.integers(1, 15, G)
        weights = 10.0 ** rng.uniform(-6, 6, G)
        k = int(rng.integers(1, sizes.sum() + 1))
        pi = inclusion_probabilities(sizes, weights, k)
        worst = max(worst, float(np.abs(pi - _markov(sizes, weights, k)).max()))
    assert worst < 1e-12


@pytest.mark.parametrize(
    "sizes, weights, k",
    [
        ([1500, 490], [1.0, 1000.0], 199),  # the light class's draws were 0.1353 (truth 0.7764)
        ([1900, 19], [1 / 1900, 1 / 19], 20),  # the big class's draws were 10.847 (truth 11.365)
        ([1990, 10], [1.0, 1000.0], 20),  # Rosén's form gave 0.99371 (truth 0.98967)
        ([4, 1], [1.0, 1e6], 1),  # the light images came out 0 (truth 1e-6)
    ],
)
def test_the_reported_cases_match_the_recursion(sizes, weights, k):
    pi = inclusion_probabilities(sizes, weights, k)
    np.testing.assert_allclose(pi, _markov(sizes, weights, k), rtol=0, atol=1e-12)
    assert float(np.dot(sizes, pi)) == pytest.approx(k, rel=1e-12)


def test_one_draw_is_the_weight_share():
    """k = 1: an image is drawn with probability w_i / sum_j w_j, however small."""
    pi = inclusion_probabilities([1] * 5, [1e6, 1, 1, 1, 1], 1)
    np.testing.assert_allclose(pi, np.array([1e6, 1, 1, 1, 1]) / (1e6 + 4), rtol=1e-10, atol=0)
    rng = np.random.default_rng(3)
    sizes = rng.integers(1, 10_000, 300)
    weights = 10.0 ** rng.uniform(-6, 6, 300)
    np.testing.assert_allclose(
        inclusion_probabilities(sizes, weights, 1), weights / np.dot(sizes, weights), rtol=1e-9, atol=0
    )


def test_the_last_draws_leave_out_the_lightest():
    """k = N - 1: one image is left out; the recursion gives the exact law on 3 groups."""
    sizes, weights = [5, 2, 6], [1e-4, 1.0, 30.0]
    np.testing.assert_allclose(inclusion_probabilities(sizes, weights, 12), _markov(sizes, weights, 12), atol=1e-12)


def test_images_of_one_weight_may_come_in_several_groups():
    a = inclusion_probabilities([3, 2, 4], [2.0, 2.0, 0.5], 4)
    b = inclusion_probabilities([5, 4], [2.0, 0.5], 4)
    np.testing.assert_allclose(a, [b[0], b[0], b[1]], atol=1e-15)


def test_many_groups_sum_to_k_and_rise_with_weight():
    """2,000 groups, 2M images: the draws add up to k, each pi is a probability, heavier is likelier."""
    rng = np.random.default_rng(5)
    G = 2_000
    sizes = np.maximum(1, (rng.pareto(1.2, G) * 200).astype(np.int64))
    weights = 10.0 ** rng.uniform(-3, 3, G)
    for k in (1, 37, 5_000, int(sizes.sum()) // 2, int(sizes.sum()) - 3):
        pi = inclusion_probabilities(sizes, weights, k)
        assert float(np.dot(sizes, pi)) == pytest.approx(k, rel=1e-9)
        assert pi.min() >= 0.0 and pi.max() <= 1.0
        order = np.argsort(weights)
        assert np.all(np.diff(pi[order]) >= -1e-12)


def _simulated_inclusion(sizes, weights, k, reps, seed):
    sizes = np.asarray(sizes)
    w = torch.from_numpy(np.repeat(np.asarray(weights, dtype=np.float64), sizes))
    group = torch.from_numpy(np.repeat(np.arange(len(sizes)), sizes))
    g = torch.Generator().manual_seed(seed)
    hits = torch.zeros(len(sizes), dtype=torch.float64)
    rows = 2_000
    for _ in range(reps // rows):
        d = torch.multinomial(w.expand(rows, -1), k, replacement=False, generator=g)
        hits += torch.bincount(group[d].ravel(), minlength=len(sizes)).double()
    return hits.numpy() / (reps * sizes)


@pytest.mark.parametrize(
    "sizes, weights, k",
    [
        ([1500, 490], [1.0, 1000.0], 199),
        ([1900, 19], [1 / 1900, 1 / 19], 20),
        ([1990, 10], [1.0, 1000.0], 20),
        ([300, 60, 12, 3], [1.0, 4.0, 30.0, 200.0], 90),
    ],
)
def test_matches_torch_multinomial(sizes, weights, k):
    reps = 8_000
    observed = _simulated_inclusion(sizes, weights, k, reps, seed=11)
    pi = inclusion_probabilities(sizes, weights, k)
    # draws of one epoch are negatively correlated: the binomial standard error is conservative
    sd = np.sqrt(pi * (1 - pi) / (reps * np.asarray(sizes))) + 1e-12
    assert np.all(np.abs(observed - pi) < 4.5 * sd), (observed, pi)


def test_class_figures_without_replacement_add_up():
    f = class_figures([1500, 490], [1.0, 1000.0], 199, replacement=False)
    truth = np.array([1500, 490]) * _markov([1500, 490], [1.0, 1000.0], 199)
    np.testing.assert_allclose(f.expected_draws, truth, atol=1e-9)
    assert f.expected_draws.sum() == pytest.approx(199, rel=1e-12)
    np.testing.assert_allclose(f.expected_distinct, f.expected_draws)
    assert np.all(f.expected_uses_per_image <= 1.0)
    np.testing.assert_allclose(f.expected_shares, f.expected_draws / 199)
