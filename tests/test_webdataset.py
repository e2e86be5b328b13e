"""WebDataset tar shards (core.webdataset): classes from each sample's .cls member, read as streams."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest

from balance_gui.cli import main
from balance_gui.core.dataset import open_dataset
from balance_gui.core.errors import DatasetError
from balance_gui.core.webdataset import expand_braces


def _shard(path, samples, member="cls"):
    """``samples``: (key, label or None) pairs; each sample gets a .jpg and, with a label, a label member."""
    with tarfile.open(path, "w") as tar:
        for key, label in samples:
            members = [(f"{key}.jpg", b"\xff\xd8 not really a jpeg")]
            if label is not None:
                members.append((f"{key}.{member}", str(label).encode()))
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return str(path)


def test_expand_braces():
    assert expand_braces("s/{000..002}.tar") == ["s/000.tar", "s/001.tar", "s/002.tar"]
    assert expand_braces("{a,b}-{1..2}.tar") == ["a-1.tar", "a-2.tar", "b-1.tar", "b-2.tar"]
    assert expand_braces("one.tar") == ["one.tar"]


def test_shards_by_brace_pattern(tmp_path):
    (tmp_path / "shards").mkdir()
    _shard(tmp_path / "shards" / "000000.tar", [("a/s0", "dog"), ("a/s1", "cat"), ("a/s2", "dog")])
    _shard(tmp_path / "shards" / "000001.tar", [("s3", "emu"), ("s4", "dog")])
    index = open_dataset(str(tmp_path / "shards" / "{000000..000001}.tar"))
    assert index.classes == ("cat", "dog", "emu")
    assert index.counts.tolist() == [1, 3, 1]
    assert index.targets.tolist() == [1, 0, 1, 2, 1]
    assert index.relative_paths() == [
        "000000.tar#a/s0",
        "000000.tar#a/s1",
        "000000.tar#a/s2",
        "000001.tar#s3",
        "000001.tar#s4",
    ]
    assert index.source == "webdataset"


def test_integer_labels_and_a_named_member(tmp_path):
    path = _shard(tmp_path / "s.tar", [("k0", 10), ("k1", 2), ("k2", 10)], member="label.txt")
    index = open_dataset(path, label_member="label.txt")
    assert index.classes == ("2", "10") and index.targets.tolist() == [1, 0, 1]
    with pytest.raises(DatasetError, match="3 sample"):
        open_dataset(path)  # no .cls member in any sample


def test_missing_labels_refused_or_dropped(tmp_path, capsys):
    path = _shard(tmp_path / "s.tar", [("k0", "x"), ("k1", None), ("k2", "y")])
    assert main(["inspect", path]) == 2
    err = capsys.readouterr().err
    assert "1 sample(s) have no .cls member" in err and "s.tar#k1" in err
    index = open_dataset(path, drop_null=True)
    assert np.array_equal(index.counts, [1, 1]) and index.relative_paths() == ["s.tar#k0", "s.tar#k2"]


def test_bad_shards_are_one_line_exit_2(tmp_path, capsys):
    mixed = _shard(tmp_path / "m.tar", [("k0", "3"), ("k1", "cat")])
    assert main(["inspect", mixed]) == 2
    assert "mixed label types" in capsys.readouterr().err
    fake = tmp_path / "f.tar"
    fake.write_bytes(b"this is not a tar archive at all" * 40)
    assert main(["inspect", str(fake)]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a readable tar shard" in err and len(err.splitlines()) == 1
    good = _shard(tmp_path / "g.tar", [(f"k{i}", "x") for i in range(20)])
    cut = tmp_path / "cut.tar"
    cut.write_bytes(open(good, "rb").read()[:1500])
    assert main(["inspect", str(cut)]) == 2
    assert "not a readable tar shard" in capsys.readouterr().err
    assert main(["inspect", str(tmp_path / "{0..1}.tar")]) == 2
    assert "shard not found" in capsys.readouterr().err
