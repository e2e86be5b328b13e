"""The class grouping a sampler build does over large tables (issue #17), against what it replaced.

``stable_argsort`` (the class-sorted layout of scattered targets) narrows the keys to the smallest
unsigned dtype numpy radix-sorts; ``file_weights`` and the class-form path of ``load_sampler``
skip per-sample copies. Each must give exactly what the plain code gave, or the draws for a seed
would change.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from balance_gui.core.training import class_form_weights, file_weights
from balance_gui.core.weights import sample_weights
from balance_gui.sampling.draws import _stable_argsort_small, stable_argsort

DTYPES = (np.int8, np.uint8, np.int16, np.int32, np.int64)


def _targets(rng: np.random.Generator, n: int, classes: list[int], dtype: type) -> np.ndarray:
    return rng.choice(np.asarray(classes), size=n).astype(dtype)


# Only the pairs whose dtype holds the classes: a pair that cannot exist is not a test to skip.
@pytest.mark.parametrize(
    ("dtype", "bound"),
    [
        (dtype, bound)
        for dtype in DTYPES
        for bound in (1, 2, 100, 256, 257, 300, 70_000)
        if bound <= np.iinfo(dtype).max + 1
    ],
)
def test_stable_argsort_is_the_plain_stable_argsort(dtype: type, bound: int) -> None:
    rng = np.random.default_rng(bound)
    # every other class empty, one class, and every class: the three shapes a table has
    for classes in (list(range(0, bound, 2)), [bound - 1], list(range(bound))):
        for n in (0, 1, 7, 5_000):
            t = _targets(rng, n, classes, dtype)
            want = np.argsort(t.astype(np.int64), kind="stable")
            got = stable_argsort(torch.from_numpy(t)).numpy()
            assert got.dtype == np.int64
            np.testing.assert_array_equal(got, want)
            for block in (64, 1_000):  # many blocks: each class's runs placed after the earlier blocks'
                np.testing.assert_array_equal(stable_argsort(torch.from_numpy(t), block=block).numpy(), want)
            np.testing.assert_array_equal(_stable_argsort_small(t.astype(np.int64), bound), want)
            if n:
                np.testing.assert_array_equal(torch.argsort(torch.from_numpy(t), stable=True).numpy(), want)


def test_stable_argsort_of_classes_past_16_bits() -> None:
    rng = np.random.default_rng(5)
    t = rng.choice(np.array([0, 3, 1 << 16, (1 << 20) + 7]), size=4_000)
    want = np.argsort(t, kind="stable")
    np.testing.assert_array_equal(stable_argsort(torch.from_numpy(t), block=100).numpy(), want)


def _old_run_weights(t: np.ndarray, class_weights: np.ndarray, excluded: np.ndarray) -> dict[str, np.ndarray]:
    """run_weights as file_weights called it before issue #17 (the reference)."""
    cw = np.array(class_weights, dtype=np.float64)
    mask = excluded
    usable = np.bincount(t[~mask], minlength=cw.size)
    cw[usable == 0] = 0.0
    mask = mask & (cw[t] > 0)
    if mask.any():
        w = cw[t]
        w[mask] = 0.0
        return {"sample_weights": w}
    return {"class_weights": cw}


def _old_file_weights(sample_w: Any, targets: Any, num_classes: int) -> dict[str, np.ndarray]:
    w = np.asarray(sample_w, dtype=np.float64).reshape(-1)
    t = np.asarray(targets, dtype=np.int64).reshape(-1)
    pos = w > 0
    cw = np.zeros(max(int(num_classes), int(t.max()) + 1 if t.size else 0), dtype=np.float64)
    cw[t[pos]] = w[pos]
    if not np.array_equal(cw[t[pos]], w[pos]):
        return {"sample_weights": w}
    return _old_run_weights(t, cw, ~pos)


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype == np.float64
        np.testing.assert_array_equal(a[key], b[key])
        assert np.array_equal(np.signbit(a[key]), np.signbit(b[key]))  # not a -0.0 where 0.0 was


@pytest.mark.parametrize("seed", range(12))
def test_file_weights_is_the_old_recovery(seed: int) -> None:
    rng = np.random.default_rng(seed)
    K = int(rng.integers(1, 40))
    n = int(rng.integers(1, 3_000))
    present = rng.choice(K, size=int(rng.integers(1, K + 1)), replace=False)  # empty classes too
    t = rng.choice(present, size=n)
    cw = rng.choice([0.0, 0.25, 1.0, 3.5, 1e-300], size=K)
    w = cw[t]
    case = seed % 4
    if case == 1:  # exclusions: weight 0 inside classes that have weight
        w[rng.random(n) < 0.1] = 0.0
    elif case == 2:  # weights of its own: several values in a class
        w = w * rng.choice([1.0, 2.0], size=n)
    elif case == 3:  # a whole class excluded
        w[t == t[0]] = 0.0
    for dtype in (np.int64, np.int32, np.int16):
        _same(file_weights(w, t.astype(dtype), K), _old_file_weights(w, t, K))
        _same(file_weights(w, t.astype(dtype), K + 3), _old_file_weights(w, t, K + 3))


@pytest.mark.parametrize("seed", range(8))
def test_the_class_form_path_is_the_per_sample_one(seed: int) -> None:
    """load_sampler's class-form file: class_form_weights from the counts, never per-sample weights."""
    rng = np.random.default_rng(100 + seed)
    K = int(rng.integers(1, 30))
    present = rng.choice(K, size=int(rng.integers(1, K + 1)), replace=False)
    t = rng.choice(present, size=int(rng.integers(1, 2_000)))
    cw = rng.choice([0.0, -0.0, 0.5, 2.0, 7.25], size=K)
    counts = np.bincount(t, minlength=K)
    _same({"class_weights": class_form_weights(cw, counts)}, _old_file_weights(sample_weights(t, cw), t, K))


@pytest.mark.parametrize("mode", ["weighted", "class_aware", "stratified"])
def test_load_sampler_draws_a_class_form_file_without_per_sample_weights(tmp_path, monkeypatch, mode: str) -> None:
    """A .json (class form, nothing excluded) loads as class weights: the same draws as the sampler
    on the targets and the file's class weights (0 for an empty class), and no per-sample weights."""
    import balance_gui.core.weights as weights_module
    import balance_gui.core.weightsfile as weightsfile_module
    from balance_gui.core.dataset import _make_index
    from balance_gui.core.training import load_sampler
    from balance_gui.core.weightsfile import export_weights
    from balance_gui.sampling import BalancedSampler

    rng = np.random.default_rng(3)
    classes = ["a", "b", "empty", "d"]
    targets = rng.choice([0, 1, 3], size=500, p=[0.7, 0.2, 0.1])
    index = _make_index(str(tmp_path), classes, targets, [f"f{i}.png" for i in range(targets.size)])
    cw = np.array([0.5, 2.0, 9.0, 7.0])
    path = tmp_path / "w.json"
    export_weights(path, index, cw, "inverse")

    def refuse(*args: Any) -> np.ndarray:
        raise AssertionError("a class-form file was expanded to per-sample weights")

    for module in (weights_module, weightsfile_module):  # the code before read them through these
        monkeypatch.setattr(module, "sample_weights", refuse)
    s = load_sampler(path, index, mode=mode, num_samples=300, seed=11)
    assert s.class_weights is not None
    np.testing.assert_array_equal(s.class_weights.numpy(), [0.5, 2.0, 0.0, 7.0])
    ref = BalancedSampler(
        targets=torch.from_numpy(targets.copy()),  # the index made its targets read-only
        class_weights=torch.tensor([0.5, 2.0, 0.0, 7.0], dtype=torch.float64),
        num_samples=300,
        mode=mode,
        seed=11,
    )
    for epoch in range(2):
        s.set_epoch(epoch)
        ref.set_epoch(epoch)
        assert list(s) == list(ref)
