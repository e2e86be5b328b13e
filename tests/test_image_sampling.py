"""Image-level simulation: sampled images and instances per class against their expectations."""

from __future__ import annotations

import numpy as np
import pytest

from balance_gui.core.annotations import read_coco
from balance_gui.core.errors import SettingsError, WeightsError
from balance_gui.core.image_sampling import image_level_steps, simulate_image_level
from balance_gui.core.repeat_factors import repeat_factors, sampled_per_class, scheme_image_weights
from balance_gui.sampling.sampler import CHUNK_SIZE

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


def _steps(idx, scheme, **kw):
    return list(image_level_steps(idx, scheme, interval_s=0.0, **kw))


@pytest.mark.parametrize(
    "scheme, kw",
    [("rfs:0.1", {"epochs": 5, "seed": 2}), ("inverse", {"epochs": 4, "num_samples": 70, "replacement": False})],
)
def test_streamed_steps_end_in_the_one_shot_run(idx, scheme, kw):
    steps = _steps(idx, scheme, **kw)
    one_shot = simulate_image_level(idx, scheme, **kw)
    epochs = kw["epochs"]
    assert [st.epochs_done for st in steps] == list(range(1, epochs + 1))  # a step per epoch (one chunk each)
    assert [st.done for st in steps] == [False] * (epochs - 1) + [True]
    last = steps[-1]
    np.testing.assert_array_equal(last.image_uses, one_shot.image_uses)
    for a, b in ((last.sampled, one_shot.sampled), (last.expected, one_shot.expected)):
        np.testing.assert_array_equal(a.images, b.images)
        np.testing.assert_array_equal(a.instances, b.instances)
        assert a.draws == b.draws
    # the figures are those of the draws themselves, as a list of drawn images gives them
    drawn = sampled_per_class(idx, np.repeat(np.arange(len(idx)), one_shot.image_uses))
    np.testing.assert_allclose(one_shot.sampled.images, drawn.images / epochs, rtol=1e-15)
    np.testing.assert_allclose(one_shot.sampled.instances, drawn.instances / epochs, rtol=1e-15)
    # each step holds its own copy, counts only grow, and the means are over the epochs drawn so far
    uses = np.stack([st.image_uses for st in steps])
    assert np.all(np.diff(uses, axis=0) >= 0) and len({id(st.image_uses) for st in steps}) == epochs
    for st in steps:
        assert st.sampled.draws == pytest.approx(st.image_uses.sum() / st.epochs_done, rel=1e-15)


def test_an_epoch_longer_than_a_chunk_reports_its_parts(idx):
    k = CHUNK_SIZE + 1000
    steps = _steps(idx, "inverse", epochs=2, num_samples=k, seed=5)
    assert [st.epochs_done for st in steps] == [CHUNK_SIZE / k, 1, 1 + CHUNK_SIZE / k, 2]
    first = steps[0]
    assert first.image_uses.sum() == CHUNK_SIZE and first.sampled.draws == pytest.approx(k)
    np.testing.assert_array_equal(
        steps[-1].image_uses, simulate_image_level(idx, "inverse", epochs=2, num_samples=k, seed=5).image_uses
    )


def test_steps_are_throttled_and_the_last_always_comes(idx):
    steps = list(image_level_steps(idx, "rfs:0.1", epochs=50, seed=1, interval_s=3600.0))
    assert len(steps) == 1 and steps[0].epochs_done == 50  # only the last within an hour
    gen = image_level_steps(idx, "rfs:0.1", epochs=50, seed=1)
    first = next(gen)
    gen.close()  # a consumer that stops: nothing more is drawn
    assert first.epochs_done == 1 and first.image_uses.sum() > 0
