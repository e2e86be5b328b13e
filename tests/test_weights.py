"""Weighting schemes, their figures, and the seed recipe, against closed forms."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from balance_gui.core.errors import SettingsError, WeightsError
from balance_gui.core.expected import class_figures, expected_shares
from balance_gui.core.weights import (
    class_weights,
    dataset_figures,
    make_weights_for_balanced_classes,
    parse_scheme,
    sample_weights,
)

COUNTS = np.array([100, 30, 7, 1])
N, C = COUNTS.sum(), COUNTS.size


@pytest.mark.parametrize(
    "scheme, expected",
    [
        ("inverse", N / COUNTS),
        ("balanced", N / (C * COUNTS)),
        ("sqrt", 1 / np.sqrt(COUNTS)),
        ("power:0.3", COUNTS ** (0.3 - 1)),
        ("power:1", np.ones(C)),
        ("none", np.ones(C)),
    ],
)
def test_scheme_formulas(scheme, expected):
    np.testing.assert_allclose(class_weights(COUNTS, scheme), expected, rtol=1e-12)


def test_effective_number_is_normalised_to_sum_to_c():
    beta = 0.99
    raw = (1 - beta) / (1 - beta ** COUNTS.astype(float))
    w = class_weights(COUNTS, f"effective:{beta}")
    np.testing.assert_allclose(w, raw * C / raw.sum(), rtol=1e-12)
    assert w.sum() == pytest.approx(C)


def test_inverse_and_balanced_give_the_same_shares_and_power_q_gives_n_to_the_q():
    p_inv = expected_shares(COUNTS, class_weights(COUNTS, "inverse"))
    p_bal = expected_shares(COUNTS, class_weights(COUNTS, "balanced"))
    np.testing.assert_allclose(p_inv, np.full(C, 1 / C))
    np.testing.assert_allclose(p_bal, p_inv)
    q = 0.5
    p_pow = expected_shares(COUNTS, class_weights(COUNTS, f"power:{q}"))
    np.testing.assert_allclose(p_pow, COUNTS**q / (COUNTS**q).sum())
    np.testing.assert_allclose(expected_shares(COUNTS, class_weights(COUNTS, "sqrt")), p_pow)


def test_empty_class_gets_weight_zero_in_every_scheme():
    counts = np.array([5, 0, 2])
    for scheme in ["inverse", "balanced", "sqrt", "power:0", "power:2", "effective:0.9", "none"]:
        w = class_weights(counts, scheme)
        assert w[1] == 0 and np.all(w[[0, 2]] > 0), scheme
        assert np.all(np.isfinite(w))


def test_custom_weights_from_json(tmp_path):
    path = tmp_path / "w.json"
    path.write_text(json.dumps({"a": 2.0, "b": 0, "c": 0.5}))
    w = class_weights([1, 2, 3], f"custom:{path}", ["a", "b", "c"])
    assert w.tolist() == [2.0, 0.0, 0.5]
    assert class_weights([1, 2, 3], str(path), ["a", "b", "c"]).tolist() == [2.0, 0.0, 0.5]


@pytest.mark.parametrize(
    "mapping, message",
    [
        ({"a": 1, "b": 1, "c": 1, "zebra": 2}, "lacks: 'zebra'"),
        ({"a": 1, "b": 1}, "no weight for class(es): 'c'"),
        ({"a": 1, "b": -2, "c": 1}, "class 'b' has weight -2.0"),
        ({"a": 1, "b": "x", "c": 1}, "class 'b' has weight 'x'"),
        ({"a": 0, "b": 0, "c": 0}, "all weights are zero"),
    ],
)
def test_custom_weights_errors_name_class_and_value(tmp_path, mapping, message):
    path = tmp_path / "w.json"
    path.write_text(json.dumps(mapping))
    with pytest.raises(WeightsError) as info:
        class_weights([1, 2, 3], f"custom:{path}", ["a", "b", "c"])
    assert message in str(info.value)


def test_nan_and_inf_custom_weights_are_refused(tmp_path):
    for bad in ("NaN", "Infinity"):
        path = tmp_path / "w.json"
        path.write_text(f'{{"a": 1, "b": {bad}}}')
        with pytest.raises(WeightsError, match="class 'b' has weight (nan|inf)"):
            class_weights([1, 2], f"custom:{path}", ["a", "b"])


@pytest.mark.parametrize(
    "text, message",
    [
        ("bogus", "unknown scheme"),
        ("power", "needs a number"),
        ("power:x", "needs a number"),
        ("effective:1", "BETA must be in [0, 1)"),
        ("effective:-0.1", "BETA must be in [0, 1)"),
        ("power:nan", "must be finite"),
        ("sqrt:2", "takes no parameter"),
    ],
)
def test_bad_scheme_text(text, message):
    with pytest.raises(SettingsError) as info:  # a bad setting, not bad weights
        parse_scheme(text)
    assert message in str(info.value)


def test_missing_custom_weights_file():
    with pytest.raises(WeightsError, match="custom weights file not found: /no/such.json"):
        parse_scheme("custom:/no/such.json")


def test_wrong_length_custom_vector_is_refused():
    from balance_gui.core.weights import validate_class_weights

    with pytest.raises(WeightsError, match="expected 3 class weights, got 2"):
        validate_class_weights([1.0, 2.0], ["a", "b", "c"])


def test_class_figures_closed_form():
    w = class_weights(COUNTS, "sqrt")
    k = 1000
    f = class_figures(COUNTS, w, draws=k)
    p = COUNTS * w / (COUNTS * w).sum()
    np.testing.assert_allclose(f.expected_shares, p)
    np.testing.assert_allclose(f.shares, COUNTS / N)
    np.testing.assert_allclose(f.expected_draws, k * p)
    np.testing.assert_allclose(f.expected_uses_per_image, k * p / COUNTS)
    np.testing.assert_allclose(f.expected_distinct, COUNTS * (1 - (1 - p / COUNTS) ** k))
    assert class_figures(COUNTS, w).draws == N


def test_expected_distinct_matches_monte_carlo():
    counts = np.array([100, 9900])
    w = class_weights(counts, "inverse")
    f = class_figures(counts, w)
    # the design note's example: the minority class repeats each image about 50 times per epoch
    assert f.expected_uses_per_image[0] == pytest.approx(50.0)
    g = torch.Generator().manual_seed(0)
    draws = torch.multinomial(
        torch.from_numpy(sample_weights(np.repeat([0, 1], counts), w)), int(counts.sum()), replacement=True, generator=g
    )
    distinct_majority = int(torch.unique(draws[draws >= 100]).numel())
    assert distinct_majority == pytest.approx(f.expected_distinct[1], rel=0.03)


def test_dataset_figures():
    d = dataset_figures([10, 0, 40, 50])
    assert (d.num_samples, d.num_classes, d.empty_classes) == (100, 4, 1)
    assert d.imbalance_ratio == 5.0
    p = np.array([0.1, 0.4, 0.5])
    assert d.normalized_entropy == pytest.approx(-(p * np.log(p)).sum() / math.log(4))
    x = np.array([10, 0, 40, 50.0])
    gini = np.abs(x[:, None] - x[None, :]).sum() / (2 * len(x) ** 2 * x.mean())
    assert d.gini == pytest.approx(gini)
    balanced = dataset_figures([7, 7, 7])
    assert balanced.gini == pytest.approx(0) and balanced.normalized_entropy == pytest.approx(1)
    assert balanced.imbalance_ratio == 1


def seed_recipe(images, nclasses):
    """The seed note's function, verbatim but for the comment."""
    count = [0] * nclasses
    for item in images:
        count[item[1]] += 1
    weight_per_class = [0.0] * nclasses
    N = float(sum(count))
    for i in range(nclasses):
        weight_per_class[i] = N / float(count[i])
    weight = [0] * len(images)
    for idx, val in enumerate(images):
        weight[idx] = weight_per_class[val[1]]
    return weight


def test_make_weights_for_balanced_classes_matches_the_seed(small_tree):
    from torchvision.datasets import ImageFolder

    ds = ImageFolder(str(small_tree))
    assert make_weights_for_balanced_classes(ds.imgs, len(ds.classes)) == seed_recipe(ds.imgs, len(ds.classes))


def test_make_weights_for_balanced_classes_survives_an_empty_class():
    images = [("a", 0), ("b", 0), ("c", 2)]
    with pytest.raises(ZeroDivisionError):
        seed_recipe(images, 3)
    assert make_weights_for_balanced_classes(images, 3) == [1.5, 1.5, 3.0]


# ------------------------------------------------------------ hardening (issue 10)


def _run_cli(*argv, cwd=None):
    import subprocess
    import sys

    # -W error: a numpy RuntimeWarning (overflow) must never reach the terminal.
    return subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-m", "balance_gui", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_huge_custom_weights_are_normalised_before_expanding(tmp_path, small_tree, capsys):
    import json
    import warnings

    import torch

    from balance_gui.cli import main
    from balance_gui.core.weightsfile import load_weights

    custom = tmp_path / "huge.json"
    custom.write_text(json.dumps({"ant": 1e308, "bee": 1e308, "cat": 1e307}))
    w = class_weights([40, 10, 2], f"custom:{custom}", ["ant", "bee", "cat"])
    assert np.isfinite((np.array([40, 10, 2]) * w).sum())
    np.testing.assert_allclose(w / w[0], [1.0, 1.0, 0.1])  # the law is unchanged: only the scale moved
    for ext in (".pt", ".csv", ".npy"):
        out = tmp_path / f"w{ext}"
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # a numpy overflow warning must not reach the terminal
            assert main(["export", str(small_tree), "-o", str(out), "--scheme", f"custom:{custom}"]) == 0
        assert "Warning" not in capsys.readouterr().err
        weights = load_weights(out)
        assert torch.isfinite(weights.sum())
        draws = torch.multinomial(weights, 5000, replacement=True, generator=torch.Generator().manual_seed(0))
        targets = np.repeat([0, 1, 2], [40, 10, 2])[draws.numpy()]
        shares = np.bincount(targets, minlength=3) / 5000
        expected = np.array([40, 10, 0.2]) / 50.2
        assert np.all(np.abs(shares - expected) < 0.03), (ext, shares)


@pytest.mark.parametrize("scheme", ["power:2000", "power:-2000"])
def test_extreme_power_schemes_stay_finite_and_keep_the_law(scheme):
    w = class_weights(COUNTS, scheme)
    q = float(scheme.split(":")[1])
    assert np.all(np.isfinite(w)) and w.max() == 1.0
    top = int(np.argmax(COUNTS ** np.sign(q)))  # with q > 1 the largest class dominates, with q < 0 the smallest
    assert expected_shares(COUNTS, w)[top] == pytest.approx(1.0)


def test_non_finite_custom_weights_are_refused_in_one_line(tmp_path, small_tree):
    custom = tmp_path / "inf.json"
    custom.write_text('{"ant": 1e999, "bee": 1, "cat": 1}')  # json reads 1e999 as inf
    result = _run_cli("inspect", str(small_tree), "--scheme", f"custom:{custom}")
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "balance-gui inspect: error: class 'ant' has weight inf: weights must be finite and >= 0"
    )
