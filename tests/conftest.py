"""Shared fixtures: small dataset trees built on disk for each test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def make_tree(root: Path, layout: dict[str, int | list[str]], payload: bytes = b"") -> Path:
    """Create class folders under ``root``: ``{"cls": 3}`` makes 3 .jpg files, a list names files
    (sub-paths allowed)."""
    root.mkdir(parents=True, exist_ok=True)
    for cls, files in layout.items():
        folder = root / cls
        folder.mkdir(parents=True, exist_ok=True)
        names = [f"img_{i:03d}.jpg" for i in range(files)] if isinstance(files, int) else files
        for name in names:
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(payload)
    return root


@pytest.fixture
def small_tree(tmp_path) -> Path:
    """Long-tailed: 3 classes of 40, 10 and 2 images."""
    return make_tree(tmp_path / "data", {"ant": 40, "bee": 10, "cat": 2})


@pytest.fixture
def odd_tree(tmp_path) -> Path:
    """Every surprise of ImageFolder's rules in one tree."""
    root = make_tree(
        tmp_path / "odd",
        {
            "b class": [
                "x.JPG",
                "y.Png",
                "z.txt",
                "noext",
                ".hidden.jpg",
                "sub dir/a.jpeg",
                "sub/b.webp",
                "sub/deeper/c.bmp",
                "sub-x/d.tif",
                "sub.x/e.tiff",
                "ünï çødé.jpg",
            ],
            "a": ["1.jpg", "10.jpg", "2.jpg", "Z.jpg", "a.jpg", "_.jpg", "notes.md"],
            ".ipynb_checkpoints": ["a-checkpoint.jpg"],
            "Émoji 🐱": ["🐱.jpg", "ß.PPM", "x.pgm"],
        },
    )
    (root / "a" / "folder.jpg").mkdir()  # a folder with an image extension is walked, not listed
    (root / "a" / "folder.jpg" / "inside.png").write_bytes(b"")
    (root / "README.txt").write_bytes(b"not a class")
    target = tmp_path / "outside"
    make_tree(target, {"linked": ["l1.jpg", "l2.jpg"]})
    os.symlink(target / "linked", root / "linkedclass")  # a symlinked class folder
    os.symlink(target / "linked", root / "a" / "linkedsub")  # a symlinked folder inside a class
    os.symlink(tmp_path / "does-not-exist.jpg", root / "a" / "broken.jpg")  # a dangling file symlink
    try:
        bad = os.fsencode(str(root / "b class")) + b"/bad\xff\xfename.jpg"
        with open(bad, "wb"):
            pass
    except OSError:  # filesystems that insist on UTF-8 names
        pass
    return root
