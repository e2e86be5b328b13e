"""The image health check on real images made with PIL: corrupt kinds, exact duplicates in
ImageFolder order, class stats, the per-file cache, cancel, and the usable-count weights."""

from __future__ import annotations

import io
import json
import os
import shutil
import threading

import numpy as np
import pytest
from PIL import Image
from torchvision.datasets import ImageFolder

from balance_gui.core import images
from balance_gui.core.dataset import scan_image_folder, scan_manifest
from balance_gui.core.errors import Cancelled, SettingsError
from balance_gui.core.image_cache import default_cache_path
from balance_gui.core.images import DEFAULT_CACHE, check_images, usable_weights
from balance_gui.core.weights import class_weights


def image_bytes(seed: int, fmt: str = "PNG", size: tuple[int, int] = (24, 16), mode: str = "RGB") -> bytes:
    """A real, distinct image (noise from ``seed``) encoded as ``fmt``."""
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(buffer, fmt)
    return buffer.getvalue()


def write(root, rel: str, data: bytes) -> None:
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)


def good_tree(root, per_class: dict[str, int]):
    seed = 0
    for cls, n in per_class.items():
        for i in range(n):
            seed += 1
            write(root, f"{cls}/img_{i:03d}.png" if i % 2 else f"{cls}/img_{i:03d}.jpg", image_bytes(seed))
    return root


def check(root, **kwargs):
    kwargs.setdefault("cache_path", None)
    kwargs.setdefault("workers", 1)
    return check_images(scan_image_folder(root), **kwargs)


def test_each_corrupt_kind_is_found_with_its_reason(tmp_path):
    root = good_tree(tmp_path / "data", {"a": 3, "b": 3})
    png, jpeg = image_bytes(100, "PNG", (64, 48)), image_bytes(101, "JPEG", (64, 48))
    write(root, "a/zero.jpg", b"")
    write(root, "a/cut.png", png[: len(png) // 2])
    write(root, "b/cut.jpg", jpeg[: len(jpeg) // 2])
    write(root, "b/notes.jpg", b"this is a text file, not a picture\n")
    write(root, "b/header_only.png", png[:40])
    # Each really fails to decode fully, though some open: a header check would miss them.
    with Image.open(os.path.join(root, "b/cut.jpg")) as im:
        assert im.size == (64, 48)
    result = check(root)
    reasons = {p.path: p.reason for p in result.corrupt}
    assert set(reasons) == {"a/zero.jpg", "a/cut.png", "b/cut.jpg", "b/notes.jpg", "b/header_only.png"}
    assert reasons["a/zero.jpg"] == "empty file (0 bytes)"
    assert reasons["a/cut.png"].startswith("truncated")
    assert reasons["b/cut.jpg"].startswith("truncated")
    assert reasons["b/notes.jpg"] == "not an image (no format recognised)"
    assert reasons["b/header_only.png"] == "a PNG file cut short or damaged: no image can be read from it"
    assert result.duplicates == []
    assert [s.corrupt for s in result.class_stats] == [2, 3]
    assert result.usable_counts.tolist() == [3, 3]


def test_duplicates_point_at_the_first_copy_in_imagefolder_order(tmp_path):
    root = tmp_path / "data"
    same, other = image_bytes(1), image_bytes(2, "JPEG")
    # Names chosen so that file order, folder order and class order all matter.
    write(root, "cat/z.png", same)
    write(root, "cat/sub/a.png", same)  # after cat/z.png: torchvision sorts folders by path, files in each
    write(root, "ant/b.png", same)  # first of all: class "ant" comes first
    write(root, "ant/a.jpg", other)
    write(root, "cat/a.jpg", other)
    write(root, "bee/only.png", image_bytes(3))
    result = check(root)

    reference = ImageFolder(str(root))
    content = [open(p, "rb").read() for p, _ in reference.samples]
    expected = {}
    for i, data in enumerate(content):
        first = content.index(data)
        if first != i:
            expected[os.path.relpath(reference.samples[i][0], root)] = (
                os.path.relpath(reference.samples[first][0], root),
                reference.samples[first][1] != reference.samples[i][1],
            )
    found = {p.path: (p.duplicate_of_path, p.cross_class) for p in result.duplicates}
    assert found == expected
    assert found == {
        "cat/z.png": ("ant/b.png", True),
        "cat/sub/a.png": ("ant/b.png", True),
        "cat/a.jpg": ("ant/a.jpg", True),
    }
    index = scan_image_folder(root)
    for p in result.duplicates:
        assert index.relative_path(p.sample) == p.path and index.relative_path(p.duplicate_of) == p.duplicate_of_path
    assert result.corrupt == []


def test_duplicates_inside_one_class_are_not_cross_class(tmp_path):
    root = good_tree(tmp_path / "data", {"a": 2, "b": 2})
    shutil.copy(root / "b" / "img_000.jpg", root / "b" / "img_009.jpg")
    result = check(root)
    [dup] = result.duplicates
    assert (dup.path, dup.duplicate_of_path, dup.cross_class) == ("b/img_009.jpg", "b/img_000.jpg", False)
    assert result.usable_mask.tolist() == [True, True, True, True, False]
    assert [s.duplicates for s in result.class_stats] == [0, 1]


def test_two_empty_files_are_corrupt_not_duplicates(tmp_path):
    root = good_tree(tmp_path / "data", {"a": 1})
    write(root, "a/e1.jpg", b"")
    write(root, "a/e2.jpg", b"")
    result = check(root)
    assert [p.kind for p in result.problems] == ["corrupt", "corrupt"]


def test_class_sizes_and_modes(tmp_path):
    root = tmp_path / "data"
    for i, (w, h) in enumerate([(10, 20), (30, 5), (50, 40)]):
        write(root, f"colour/{i}.png", image_bytes(i, "PNG", (w, h)))
    write(root, "mixed/g.png", image_bytes(7, "PNG", (8, 8), mode="L"))
    write(root, "mixed/c.jpg", image_bytes(8, "JPEG", (16, 12)))
    write(root, "mixed/bad.png", b"nope")
    result = check(root, timing=True)
    colour, mixed = result.class_stats
    assert (colour.width, colour.height) == ((10, 30, 50), (5, 20, 40))
    assert (colour.grayscale, colour.colour, colour.modes) == (0, 3, {"RGB": 3})
    assert (mixed.images, mixed.corrupt, mixed.grayscale, mixed.colour) == (3, 1, 1, 1)
    assert mixed.modes == {"L": 1, "RGB": 1}
    assert mixed.width == (8, 12, 16)  # the corrupt file is left out of the sizes
    assert result.decode_seconds is not None and np.isnan(result.decode_seconds).sum() == 1
    assert colour.decode_ms_median is not None and colour.decode_ms_median > 0
    assert check(root).decode_seconds is None and check(root).class_stats[0].decode_ms_median is None


def test_the_cache_skips_unchanged_files_and_rechecks_changed_ones(tmp_path, monkeypatch):
    root = good_tree(tmp_path / "data", {"a": 4, "b": 3})
    cache_file = tmp_path / "cache" / "check.json"
    first = check(root, cache_path=cache_file)
    assert first.files_decoded == 7 and first.clean
    assert json.loads(cache_file.read_text())["root"] == os.path.abspath(root)  # JSON, never a pickle

    decoded: list[str] = []
    real = images.inspect_file
    monkeypatch.setattr(images, "inspect_file", lambda p, *rest: decoded.append(p) or real(p, *rest))
    warm = check(root, cache_path=cache_file)
    assert warm.files_decoded == 0 and decoded == [] and warm.clean
    assert [s.width for s in warm.class_stats] == [s.width for s in first.class_stats]

    victim = root / "b" / "img_001.png"
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])  # a new size
    stamp = os.stat(root / "a" / "img_000.jpg")
    (root / "a" / "img_000.jpg").write_bytes(image_bytes(999))  # same-sized noise image: only mtime tells
    os.utime(root / "a" / "img_000.jpg", ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000))
    third = check(root, cache_path=cache_file)
    assert sorted(os.path.relpath(p, root) for p in decoded) == ["a/img_000.jpg", "b/img_001.png"]
    assert third.files_decoded == 2
    assert [p.path for p in third.corrupt] == ["b/img_001.png"]


def test_a_damaged_cache_file_is_ignored_and_rewritten(tmp_path):
    root = good_tree(tmp_path / "data", {"a": 2})
    cache_file = tmp_path / "check.json"
    cache_file.write_text("{not json")
    assert check(root, cache_path=cache_file).files_decoded == 2
    assert check(root, cache_path=cache_file).files_decoded == 0


def test_the_default_cache_lives_in_the_user_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    root = good_tree(tmp_path / "data", {"a": 2})
    result = check(root, cache_path=DEFAULT_CACHE)
    assert result.cache_path == default_cache_path(str(root))
    assert result.cache_path.startswith(str(tmp_path / "xdg" / "balance-gui"))
    assert os.path.isfile(result.cache_path)


def test_an_unwritable_cache_is_a_warning_not_a_failure(tmp_path):
    root = good_tree(tmp_path / "data", {"a": 2})
    (tmp_path / "blocker").write_text("a file where the cache folder should be")
    result = check(root, cache_path=tmp_path / "blocker" / "check.json")
    assert result.clean and len(result.warnings) == 1 and "could not be written" in result.warnings[0]


def test_worker_processes_find_what_one_process_finds(tmp_path, monkeypatch):
    root = good_tree(tmp_path / "data", {"a": 40, "b": 30})
    write(root, "b/zz_cut.jpg", image_bytes(5, "JPEG", (64, 64))[:300])
    shutil.copy(root / "a" / "img_003.png", root / "b" / "zz_copy.png")
    serial = check(root, workers=1)
    here: list[str] = []  # files this process decoded itself while the workers started
    real = images.inspect_file  # (the worker processes have their own, unpatched copy)
    monkeypatch.setattr(images, "inspect_file", lambda path, *rest: here.append(path) or real(path, *rest))
    ready = threading.Event()
    ready.set()  # so few files would all be decoded here before the fork server is up: do not wait for it
    monkeypatch.setattr(images, "_start_in_background", lambda ctx: ready)
    parallel = check(root, workers=2)
    assert parallel.files_decoded == 72 > len(here)  # the worker processes decoded the rest
    assert parallel.problems == serial.problems and len(serial.problems) == 2
    assert parallel.class_stats == serial.class_stats


@pytest.mark.parametrize("workers", [1, 2])
def test_cancel_stops_between_chunks_and_keeps_what_was_checked(tmp_path, workers):
    root = good_tree(tmp_path / "data", {"a": 60, "b": 20})
    cache_file = tmp_path / "check.json"
    cancel = threading.Event()
    seen = []

    def progress(p):
        seen.append(p.files_done)
        if p.files_done > 0:
            cancel.set()

    with pytest.raises(Cancelled):
        check(root, workers=workers, cache_path=cache_file, progress=progress, cancel=cancel)
    assert 0 < seen[-1] < 80
    rest = check(root, workers=1, cache_path=cache_file)
    assert rest.files_decoded == 80 - seen[-1]  # the chunks done before the cancel were cached


def test_progress_counts_up_to_the_total(tmp_path):
    root = good_tree(tmp_path / "data", {"a": 20})
    reports = []
    check(root, progress=reports.append)
    assert reports[0].files_done == 0 and reports[-1].files_done == reports[-1].files_total == 20
    assert [r.files_done for r in reports] == sorted(r.files_done for r in reports)


def test_bad_worker_count_is_a_settings_error(tmp_path):
    root = good_tree(tmp_path / "data", {"a": 1})
    with pytest.raises(SettingsError, match="workers"):
        check(root, workers=0)


def test_manifests_work_and_missing_files_are_corrupt(tmp_path):
    root = good_tree(tmp_path / "data", {"a": 2, "b": 2})
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes((root / "a" / "img_001.png").read_bytes())  # a copy, listed by absolute path
    manifest = root / "list.csv"
    manifest.write_text(f"path,label\nb/img_000.jpg,b\na/img_001.png,a\n{outside},b\ngone.jpg,a\n")
    result = check_images(scan_manifest(manifest, check_files=False), workers=1, cache_path=None)
    assert [(p.path, p.kind) for p in result.problems] == [(str(outside), "duplicate"), ("gone.jpg", "corrupt")]
    assert result.duplicates[0].duplicate_of_path == "a/img_001.png" and result.duplicates[0].cross_class
    assert result.corrupt[0].reason.startswith("cannot read")


def test_usable_weights_zero_the_unusable_and_weigh_on_usable_counts(tmp_path):
    root = good_tree(tmp_path / "data", {"a": 6, "b": 4})
    shutil.copy(root / "a" / "img_000.jpg", root / "a" / "img_100.jpg")
    shutil.copy(root / "a" / "img_001.png", root / "b" / "img_100.png")  # a cross-class copy
    write(root, "b/zero.jpg", b"")
    index = scan_image_folder(root)
    result = check_images(index, workers=1, cache_path=None)
    assert index.counts.tolist() == [7, 6]
    assert result.usable_counts.tolist() == [5, 4]  # a label conflict: both copies of a/img_001.png go

    class_w, per_sample = usable_weights(result, "inverse")
    assert class_w == pytest.approx(class_weights([5, 4], "inverse"))
    unusable = {"a/img_001.png", "a/img_100.jpg", "b/img_100.png", "b/zero.jpg"}
    rel = index.relative_paths()
    assert [rel[i] for i in np.flatnonzero(per_sample == 0)] == sorted(unusable)
    # Everything else keeps its class's weight, in ImageFolder order.
    expected = [0.0 if p in unusable else class_w[t] for p, t in zip(rel, index.targets, strict=True)]
    assert per_sample.tolist() == pytest.approx(expected)
    # Balanced on what can really be drawn: each class gets half of the mass.
    mass = np.bincount(index.targets, weights=per_sample)
    assert mass[0] == pytest.approx(mass[1])


def test_the_check_is_importable_from_the_package():
    import balance_gui

    assert balance_gui.check_images is check_images and balance_gui.usable_weights is usable_weights
    assert balance_gui.CheckResult is images.CheckResult
    assert {"check_images", "CheckResult", "usable_weights"} <= set(balance_gui.__all__)
