"""The dataset index must agree exactly with torchvision's ImageFolder."""

from __future__ import annotations

import os
import re
import threading

import numpy as np
import pytest
import torchvision
from torchvision.datasets import ImageFolder

from balance_gui.core.dataset import IMG_EXTENSIONS, open_dataset, scan_image_folder, scan_manifest
from balance_gui.core.errors import Cancelled, DatasetError, DatasetNotFoundError

from .conftest import make_tree


def assert_same_as_imagefolder(root, **tv_kwargs):
    index = scan_image_folder(root)
    reference = ImageFolder(root, **tv_kwargs)
    assert list(index.classes) == reference.classes
    assert dict(index.class_to_idx) == reference.class_to_idx
    assert index.samples == reference.samples
    assert index.targets.tolist() == reference.targets
    assert [index.path(i) for i in range(len(index))] == [p for p, _ in reference.samples]
    return index, reference


def test_extensions_are_torchvisions():
    assert IMG_EXTENSIONS == torchvision.datasets.folder.IMG_EXTENSIONS


def test_small_tree_matches_imagefolder(small_tree):
    index, _ = assert_same_as_imagefolder(str(small_tree))
    assert index.counts.tolist() == [40, 10, 2]
    assert len(index) == 52


def test_odd_names_nesting_symlinks_hidden_match_imagefolder(odd_tree):
    index, reference = assert_same_as_imagefolder(str(odd_tree))
    assert ".ipynb_checkpoints" in index.classes and "linkedclass" in index.classes
    rel = index.relative_paths()
    assert os.path.join("a", "folder.jpg", "inside.png") in rel
    assert os.path.join("a", "linkedsub", "l1.jpg") in rel
    assert os.path.join("a", "broken.jpg") in rel
    assert os.path.join("b class", "sub", "deeper", "c.bmp") in rel
    assert len(index) == len(reference.samples) > 20


def test_non_utf8_file_name_round_trips(odd_tree):
    index = scan_image_folder(odd_tree)
    names = [p for p in index.relative_paths() if "bad" in p]
    if not names:
        pytest.skip("this filesystem refuses non-UTF-8 names")
    assert os.path.exists(os.path.join(odd_tree, names[0]))
    assert os.fsencode(names[0]).endswith(b"bad\xff\xfename.jpg")


def test_pathlib_root_and_trailing_separator(small_tree):
    assert_same_as_imagefolder(small_tree)
    assert_same_as_imagefolder(str(small_tree) + os.sep)


def test_random_trees_match_imagefolder(tmp_path):
    rng = np.random.default_rng(7)
    alphabet = list("aAbB_-. 0129zZéü")
    for t in range(4):
        layout = {}
        for c in range(rng.integers(2, 6)):
            cls = "".join(rng.choice(alphabet, size=rng.integers(1, 5))).strip() or "c"
            files = []
            for _ in range(rng.integers(1, 12)):
                depth = rng.integers(0, 3)
                parts = [
                    "".join(rng.choice(alphabet, size=rng.integers(1, 4))).strip(". ") or "d" for _ in range(depth)
                ]
                name = "".join(rng.choice(alphabet, size=rng.integers(1, 6))) + rng.choice(
                    [".jpg", ".JPEG", ".png", ".txt", ".webp", ""]
                )
                files.append(os.path.join(*parts, name) if parts else name)
            layout[f"{cls}{c}"] = files
        root = make_tree(tmp_path / f"t{t}", layout)
        try:
            reference = ImageFolder(str(root), allow_empty=True)
        except FileNotFoundError:
            continue
        index = scan_image_folder(root)
        assert index.samples == reference.samples
        assert list(index.classes) == reference.classes


def test_empty_class_is_kept_flagged_and_imagefolder_raises(tmp_path):
    root = make_tree(tmp_path / "d", {"full": 3, "empty": 0, "textonly": ["a.txt", "b.TXT", "c.csv"]})
    with pytest.raises(FileNotFoundError):
        ImageFolder(str(root))
    index, _ = assert_same_as_imagefolder(str(root), allow_empty=True)
    assert index.empty_classes == ("empty", "textonly")
    assert index.counts.tolist() == [0, 3, 0]
    assert index.skipped_extensions == {".txt": 2, ".csv": 1}
    assert index.skipped_files == 3
    text = " ".join(index.warnings())
    assert "2 empty class(es)" in text and "'empty'" in text
    assert "3 file(s) skipped" in text and ".txt x2" in text


def test_hidden_class_is_flagged(odd_tree):
    index = scan_image_folder(odd_tree)
    assert index.hidden_classes == (".ipynb_checkpoints",)
    assert any("'.ipynb_checkpoints' is taken as a class" in w for w in index.warnings())


def test_index_is_immutable(small_tree):
    index = scan_image_folder(small_tree)
    with pytest.raises(ValueError):
        index.targets[0] = 2
    with pytest.raises(TypeError):
        index.class_to_idx["new"] = 9
    with pytest.raises(AttributeError):
        index.classes = ("x",)


def test_progress_reports_every_class_folder(small_tree):
    seen = []
    index = scan_image_folder(small_tree, progress=seen.append)
    assert [p.classes_done for p in seen] == [1, 2, 3]
    assert [p.files_found for p in seen] == [40, 50, 52]
    assert all(p.classes_total == 3 for p in seen)
    assert len(index) == 52


def test_cancel_stops_between_folders(small_tree):
    cancel = threading.Event()
    seen = []

    def progress(p):
        seen.append(p)
        cancel.set()

    with pytest.raises(Cancelled):
        scan_image_folder(small_tree, progress=progress, cancel=cancel)
    assert len(seen) == 1


@pytest.mark.parametrize("bad", ["missing", "file", "no_classes"])
def test_bad_roots_raise_clear_errors(tmp_path, bad):
    target = tmp_path / "x"
    if bad == "file":
        target.write_text("hi")
    elif bad == "no_classes":
        target.mkdir()
        (target / "lonely.jpg").write_bytes(b"")
    with pytest.raises(DatasetError) as info:
        scan_image_folder(target)
    message = str(info.value)
    assert str(target) in message
    assert {"missing": "not found", "file": "not a folder", "no_classes": "no class folders"}[bad] in message


def test_tree_without_any_image_raises(tmp_path):
    root = make_tree(tmp_path / "d", {"a": ["x.txt"], "b": 0})
    with pytest.raises(DatasetNotFoundError, match="no image files"):
        scan_image_folder(root)


def test_unreadable_root_raises(tmp_path, monkeypatch):
    root = make_tree(tmp_path / "d", {"a": 1})
    real = os.scandir

    def deny(path="."):
        if os.fspath(path) == str(root):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", deny)
    with pytest.raises(DatasetError, match="permission denied"):
        scan_image_folder(root)


def test_unreadable_class_folder_is_reported(tmp_path, monkeypatch):
    root = make_tree(tmp_path / "d", {"a": 2, "b": 2})
    real = os.scandir

    def deny(path="."):
        if os.fspath(path) == os.path.join(str(root), "b"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", deny)
    index = scan_image_folder(root)
    assert index.counts.tolist() == [2, 0]
    assert index.unreadable_folders == ("b",)
    assert any("'b' could not be read" in w for w in index.warnings())


def test_manifest(tmp_path):
    make_tree(tmp_path / "imgs", {"x": 2, "y": 1})
    absolute = tmp_path / "imgs" / "y" / "img_000.jpg"
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path,label\nimgs/x/img_001.jpg,zebra\n{absolute},ant\nimgs/x/img_000.jpg,zebra\n")
    index = scan_manifest(manifest)
    assert index.classes == ("ant", "zebra")
    assert index.targets.tolist() == [1, 0, 1]
    assert index.relative_paths() == ["imgs/x/img_001.jpg", str(absolute), "imgs/x/img_000.jpg"]
    assert index.path(0) == os.path.join(str(tmp_path), "imgs/x/img_001.jpg")
    assert index.path(1) == str(absolute)
    assert open_dataset(manifest).targets.tolist() == [1, 0, 1]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("file,class\na.jpg,x\n", "header 'path,label'"),
        ("path,label\na.jpg\n", "line 2"),
        ("path,label\n", "lists no files"),
        ("path,label\nmissing.jpg,x\n", "1 listed file(s) do not exist"),
    ],
)
def test_bad_manifests(tmp_path, text, expected):
    manifest = tmp_path / "m.csv"
    manifest.write_text(text)
    with pytest.raises(DatasetError, match=re.escape(expected)):
        scan_manifest(manifest)


# ------------------------------------------------------------ hardening (issue 10)


def _scan_with_deadline(root, seconds=60.0):
    """Scan in a thread so that a scan that never ends fails the test instead of hanging it."""
    result: dict = {}
    cancel = threading.Event()

    def run():
        try:
            result["index"] = scan_image_folder(root, cancel=cancel)
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            result["error"] = e

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        cancel.set()
        worker.join(seconds)
        pytest.fail("the scan did not end: a symlink cycle was descended")
    if "error" in result:
        raise result["error"]
    return result["index"]


def test_simple_symlink_loop_is_reported_and_each_file_counted_once(tmp_path):
    root = make_tree(tmp_path / "data", {"a": ["x.jpg"], "b": 2})
    os.symlink(".", root / "a" / "self")  # a/self/self/... used to list x.jpg 41 times
    index = scan_image_folder(root)
    assert index.relative_paths() == ["a/x.jpg", "b/img_000.jpg", "b/img_001.jpg"]
    assert index.symlink_loops == ("a/self",)
    assert any("'a/self' leads back to a folder above it" in w for w in index.warnings())


def test_branching_symlink_loops_end(tmp_path):
    # a/parent -> .. plus b -> . made the scan grow past 8 GB; torchvision never ends either.
    root = make_tree(tmp_path / "data", {"a": ["x.jpg"], "c": ["y.png"]})
    os.symlink("..", root / "a" / "parent")
    os.symlink(".", root / "b")
    index = _scan_with_deadline(root)
    assert index.classes == ("a", "b", "c")
    assert index.relative_paths() == ["a/x.jpg", "c/y.png"]  # class b *is* the root: a loop, so empty
    assert set(index.symlink_loops) == {"a/parent", "b"}
    assert index.empty_classes == ("b",)


def test_symlink_to_a_sibling_is_not_a_loop(tmp_path):
    # Only folders on the current path count: two links to one folder are followed, as torchvision does.
    root = make_tree(tmp_path / "data", {"a": ["x.jpg"], "shared": ["s.jpg"]})
    os.symlink(root / "shared", root / "a" / "one")
    os.symlink(root / "shared", root / "a" / "two")
    assert_same_as_imagefolder(root)
    assert scan_image_folder(root).symlink_loops == ()


def test_extensions_may_be_one_string_as_in_torchvision(tmp_path):
    # A str used to be matched character by character: '.png' let .jpg ('g') and .bmp ('p') in.
    root = make_tree(tmp_path / "data", {"a": ["x.png", "y.jpg", "z.bmp", "w.PNG"]})
    index = scan_image_folder(root, extensions=".png")
    assert index.relative_paths() == ["a/w.PNG", "a/x.png"]
    reference = torchvision.datasets.folder.make_dataset(str(root), {"a": 0}, extensions=".png")
    assert [os.path.relpath(p, root) for p, _ in reference] == index.relative_paths()


def test_manifest_with_one_file_under_two_labels_is_refused_naming_the_rows(tmp_path):
    make_tree(tmp_path, {"img": ["1.jpg", "2.jpg"]})
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\nimg/1.jpg,cat\nimg/2.jpg,cat\n./img/1.jpg,dog\n")
    with pytest.raises(DatasetError, match="'./img/1.jpg' is 'cat' on line 2 and 'dog' on line 4"):
        scan_manifest(manifest)


def test_manifest_duplicate_row_is_counted_once_and_warned(tmp_path):
    make_tree(tmp_path, {"img": ["1.jpg", "2.jpg"]})
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\nimg/1.jpg,cat\nimg/2.jpg,dog\nimg/1.jpg,cat\n")
    index = scan_manifest(manifest)
    assert index.counts.tolist() == [1, 1] and index.relative_paths() == ["img/1.jpg", "img/2.jpg"]
    assert index.duplicate_rows == ((4, 2),)
    assert any("line 4 repeats line 2" in w and "counted once" in w for w in index.warnings())


def test_manifest_with_a_utf8_bom_is_accepted(tmp_path):
    make_tree(tmp_path, {"img": ["1.jpg"]})
    manifest = tmp_path / "m.csv"
    manifest.write_bytes(b"\xef\xbb\xbfpath,label\nimg/1.jpg,cat\n")  # Excel's "CSV UTF-8"
    index = scan_manifest(manifest)
    assert index.classes == ("cat",) and len(index) == 1
