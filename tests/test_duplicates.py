"""Duplicate groups and the copy policy (issue 15): one group per content, a label conflict (copies in
two classes) loses every copy by default, a same-class group keeps its first copy, and a person's
choice per group (keep copy k, or none) changes the usable mask, the counts and the class stats."""

from __future__ import annotations

import numpy as np
import pytest

from balance_gui.core.dataset import scan_image_folder
from balance_gui.core.duplicates import duplicate_groups, excluded_copies, group_of_sample, resolve
from balance_gui.core.errors import SettingsError
from balance_gui.core.images import check_images, usable_weights

from .test_images import image_bytes, write


def mixed_tree(root):
    """ant: a0 a1 a2 a3 (a2 = a0); bee: b0 b1 (b1 = a1); cat: c0 c1 c2 (c1 = a1, c2 = c0); dog: d_bad.

    Groups: {ant/a0, ant/a2} same class; {ant/a1, bee/b1, cat/c1} a label conflict; {cat/c0, cat/c2}."""
    for name, seed in (("ant/a0", 1), ("ant/a1", 2), ("ant/a2", 1), ("ant/a3", 3)):
        write(root, f"{name}.png", image_bytes(seed))
    write(root, "bee/b0.png", image_bytes(4))
    write(root, "bee/b1.png", image_bytes(2))
    write(root, "cat/c0.png", image_bytes(5))
    write(root, "cat/c1.png", image_bytes(2))
    write(root, "cat/c2.png", image_bytes(5))
    write(root, "dog/d_bad.png", b"not a picture")
    return root


@pytest.fixture
def mixed(tmp_path):
    index = scan_image_folder(mixed_tree(tmp_path / "data"))
    return index, check_images(index, workers=1, cache_path=None)


def usable_paths(index, result) -> list[str]:
    return [p for p, ok in zip(index.relative_paths(), result.usable_mask.tolist(), strict=True) if ok]


def test_groups_hold_the_representative_and_every_copy_with_their_classes(mixed):
    index, result = mixed
    groups = duplicate_groups(result)
    assert [g.paths for g in groups] == [
        ("ant/a0.png", "ant/a2.png"),
        ("ant/a1.png", "bee/b1.png", "cat/c1.png"),
        ("cat/c0.png", "cat/c2.png"),
    ]
    assert [g.cross_class for g in groups] == [False, True, False]
    for g in groups:
        assert [index.relative_path(s) for s in g.samples] == list(g.paths)
        assert list(g.targets) == [int(index.targets[s]) for s in g.samples]
    assert [index.classes[t] for t in groups[1].targets] == ["ant", "bee", "cat"]
    where = group_of_sample(groups, len(index))
    assert [where[index.relative_paths().index(p)] for p in ("ant/a3.png", "bee/b1.png", "cat/c2.png")] == [-1, 1, 2]


def test_a_label_conflict_loses_every_copy_a_same_class_group_keeps_its_first(mixed):
    index, result = mixed
    assert usable_paths(index, result) == ["ant/a0.png", "ant/a3.png", "bee/b0.png", "cat/c0.png"]
    assert result.usable_counts.tolist() == [2, 1, 1, 0]
    assert [s.usable for s in result.class_stats] == [2, 1, 1, 0]
    # the problems are unchanged: one per later copy, pointing at the first
    assert [(p.path, p.duplicate_of_path, p.cross_class) for p in result.duplicates] == [
        ("ant/a2.png", "ant/a0.png", False),
        ("bee/b1.png", "ant/a1.png", True),
        ("cat/c1.png", "ant/a1.png", True),
        ("cat/c2.png", "cat/c0.png", False),
    ]
    groups = duplicate_groups(result)
    assert [g.default_keep for g in groups] == [groups[0].samples[0], None, groups[2].samples[0]]
    assert [g.kept(result.usable_mask) for g in groups] == [g.default_keep for g in groups]
    _, per_sample = usable_weights(result, "inverse")  # the conflict's copies get weight 0
    assert [per_sample[s] for s in groups[1].samples] == [0.0, 0.0, 0.0]


def test_excluded_copies_on_plain_arrays():
    # samples 0..5: 2 copies 0 (same class), 3 copies 1 (other class), 5 copies 4 (same class)
    first = np.array([0, 1, 0, 1, 4, 4])
    targets = np.array([0, 0, 0, 1, 2, 2])
    assert excluded_copies(first, targets).tolist() == [False, True, True, True, False, True]
    assert excluded_copies(np.arange(3), np.zeros(3, dtype=np.int64)).tolist() == [False] * 3


def test_resolve_keeps_the_chosen_copy_or_none(mixed):
    index, result = mixed
    ant_a0, conflict, cat_c0 = duplicate_groups(result)
    bee_b1 = conflict.samples[1]
    kept_bee = resolve(result, {conflict.representative: bee_b1})
    assert usable_paths(index, kept_bee) == ["ant/a0.png", "ant/a3.png", "bee/b0.png", "bee/b1.png", "cat/c0.png"]
    assert kept_bee.usable_counts.tolist() == [2, 2, 1, 0]
    assert [s.usable for s in kept_bee.class_stats] == [2, 2, 1, 0]
    assert conflict.kept(kept_bee.usable_mask) == bee_b1
    assert result.usable_counts.tolist() == [2, 1, 1, 0]  # the original is untouched

    # choices compose: another group, then the conflict changes its mind
    none_of_ant = resolve(kept_bee, {ant_a0.representative: None})
    assert none_of_ant.usable_counts.tolist() == [1, 2, 1, 0]
    second = resolve(
        none_of_ant, {conflict.representative: conflict.samples[0], cat_c0.representative: cat_c0.samples[1]}
    )
    assert usable_paths(index, second) == ["ant/a1.png", "ant/a3.png", "bee/b0.png", "cat/c2.png"]
    # back to the policy's choice
    back = resolve(second, {g.representative: g.default_keep for g in (ant_a0, conflict, cat_c0)})
    np.testing.assert_array_equal(back.usable_mask, result.usable_mask)
    # a corrupt file is never made usable by a choice
    assert not back.usable_mask[index.relative_paths().index("dog/d_bad.png")]


def test_resolve_refuses_samples_outside_a_group(mixed):
    index, result = mixed
    ant_a0, conflict, _ = duplicate_groups(result)
    with pytest.raises(SettingsError, match="not the first copy of a duplicate group"):
        resolve(result, {conflict.samples[1]: None})
    with pytest.raises(SettingsError, match="not a copy in the group"):
        resolve(result, {conflict.representative: ant_a0.samples[1]})
