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
