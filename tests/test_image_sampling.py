"""Image-level simulation: sampled images and instances per class against their expectations."""

from __future__ import annotations

import numpy as np
import pytest

from balance_gui.core.annotations import read_coco
from balance_gui.core.errors import SettingsError, WeightsError
from balance_gui.core.image_sampling import simulate_image_level
from balance_gui.core.repeat_factors import repeat_factors, scheme_image_weights

from .annotation_data import coco_dict, write_coco


@pytest.fixture(scope="module")
def idx(tmp_path_factory):
    p = tmp_path_factory.mktemp("sim") / "gen.json"
    write_coco(p, coco_dict(150, 600, 15, seed=8, polygon_points=0))
    return read_coco(p)


def test_repeat_factor_run_meets_its_expectation(idx):
    run = simulate_image_level(idx, "rfs:0.1", epochs=300, seed=3)
    r = repeat_factors(idx, 0.1)
    frac = r - np.floor(r)
    # per epoch, image i is drawn floor(r_i) + Bernoulli(frac_i) times: instances of c vary by sum frac(1-frac) n_ic^2
    var = np.zeros(idx.num_classes)
    np.add.at(var, idx.pair_class, (frac * (1 - frac))[idx.pair_image] * idx.pair_count.astype(float) ** 2)
    live = var > 0
    z = (run.sampled.instances - run.expected.instances)[live] / np.sqrt(var[live] / run.epochs)
    assert run.sampler == "repeat_factor" and np.abs(z).max() < 4.5
    assert run.image_uses.sum() / run.epochs == pytest.approx(r.sum(), rel=0.02)


@pytest.mark.parametrize("replacement", [True, False])
def test_weighted_runs_meet_their_expectation(idx, replacement):
    k = 60
    run = simulate_image_level(idx, "inverse", epochs=400, num_samples=k, replacement=replacement, seed=1)
    assert run.sampled.draws == k
    w = scheme_image_weights(idx, "inverse")
    if replacement:
        p = w / w.sum()
        x = np.zeros((idx.num_classes, len(idx)))
        np.add.at(x, (idx.pair_class, idx.pair_image), idx.pair_count)
        sd = np.sqrt(k * (x**2 @ p - (x @ p) ** 2) / run.epochs)
    else:  # a loose bound: the with-replacement spread is larger than without
        sd = np.sqrt(np.maximum(run.expected.instances, 1.0) * 2 / run.epochs)
    z = (run.sampled.instances - run.expected.instances) / np.maximum(sd, 1e-9)
    assert np.abs(z).max() < 4.5
    if not replacement:
        assert run.image_uses.max() <= run.epochs  # each image at most once per epoch


def test_rfs_refuses_weighted_options(idx):
    with pytest.raises(SettingsError, match="repeat-factor epochs"):
        simulate_image_level(idx, "rfs:0.1", num_samples=10)
    with pytest.raises(SettingsError, match="epochs must be"):
        simulate_image_level(idx, "inverse", epochs=0)


def test_given_image_weights_replace_the_schemes(idx):
    """The GUI's custom class weights reach the run as per-image weights: the draws follow them."""
    w = np.zeros(len(idx))
    w[idx.images_of(3)] = 1.0  # only images of class 3 can be drawn
    run = simulate_image_level(idx, "inverse", epochs=2, seed=1, image_weights=w)
    assert run.image_uses[w == 0].sum() == 0
    assert run.sampled.images[3] == run.sampled.draws  # every image drawn carries class 3
    same = simulate_image_level(idx, "inverse", epochs=2, seed=1, image_weights=scheme_image_weights(idx, "inverse"))
    np.testing.assert_array_equal(same.image_uses, simulate_image_level(idx, "inverse", epochs=2, seed=1).image_uses)
    with pytest.raises(WeightsError, match="image_weights must be 150 finite values"):
        simulate_image_level(idx, "inverse", image_weights=np.ones(3))
