"""Fuzz the four weights-file readers: every corrupted file is read identically or refused
with WeightsFileError, never another exception, a hang, or an allocation the file cannot back."""

from __future__ import annotations

import numpy as np
import pytest

from balance_gui.core.dataset import scan_image_folder
from balance_gui.core.errors import WeightsFileError
from balance_gui.core.weights import class_weights
from balance_gui.core.weightsfile import export_weights, read_weights_file
from balance_gui.core.weightsfile_formats import WEIGHTS_FORMATS

FORMATS = tuple(f.extension for f in WEIGHTS_FORMATS)
IDENTIFIED_FORMATS = tuple(f.extension for f in WEIGHTS_FORMATS if f.identified)

FLIPS_PER_FORMAT = 120


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    from .conftest import make_tree

    root = make_tree(tmp_path_factory.mktemp("fuzz") / "data", {"ant": 12, "bee": 5, "cat": 2})
    index = scan_image_folder(root)
    w = class_weights(index.counts, "sqrt")
    out = {}
    for ext in FORMATS:
        path = root.parent / f"w{ext}"
        export_weights(path, index, w, "sqrt")
        out[ext] = (path.read_bytes(), read_weights_file(path))
    # The same files with samples excluded (a corrupt file, duplicate copies): the new keys are fuzzed too.
    excluded = np.zeros(len(index), dtype=bool)
    excluded[[2, 12, 17]] = True
    for ext in IDENTIFIED_FORMATS:
        path = root.parent / f"excluded{ext}"
        export_weights(path, index, w, "sqrt", excluded=excluded)
        out[f"excluded{ext}"] = (path.read_bytes(), read_weights_file(path))
    return out


def _read_or_refuse(path):
    """The reader's answer: its info, or None when it refused the file as it should."""
    try:
        return read_weights_file(path)
    except WeightsFileError:
        return None


def _same(a, b) -> bool:
    """Same numbers and names: what a sampler or a dataset check would see."""
    if set(a) != set(b):
        return False
    return all(np.array_equal(a[k], b[k]) if isinstance(a[k], np.ndarray) else a[k] == b[k] for k in a)


@pytest.mark.parametrize("ext", [*FORMATS, *(f"excluded{ext}" for ext in IDENTIFIED_FORMATS)])
def test_random_byte_flips_are_refused_or_harmless(originals, tmp_path, ext):
    data, info = originals[ext]
    rng = np.random.default_rng(1234)
    path = tmp_path / f"f{ext}"
    accepted_changed = 0
    for _ in range(FLIPS_PER_FORMAT):
        mutant = bytearray(data)
        for pos in rng.integers(0, len(data), size=int(rng.integers(1, 4))):
            mutant[pos] ^= 1 << int(rng.integers(0, 8))
        path.write_bytes(bytes(mutant))
        got = _read_or_refuse(path)
        if got is not None and not _same(got, info):
            accepted_changed += 1
    # Only a .npy holds no fingerprint: a flipped value can pass there, and verify says so.
    if ext.removeprefix("excluded") in IDENTIFIED_FORMATS:
        assert accepted_changed == 0


def test_truncations_are_refused(originals, tmp_path):
    for ext, (data, info) in originals.items():
        path = tmp_path / f"t{ext}"
        for cut in sorted({*range(0, len(data), max(1, len(data) // 40)), len(data) - 1}):
            path.write_bytes(data[:cut])
            got = _read_or_refuse(path)
            # Losing only the final line ending (.csv, .json) loses no data.
            assert got is None or (data[cut:] == b"\n" and _same(got, info)), (ext, cut)


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,  # deep nesting
        '{"format_version": 2, "classes": ["a"], "counts": [' + "9" * 5000 + '], "class_weights": [1]}',
        '{"format_version": ' + "9" * 100 + ', "classes": [], "counts": [], "class_weights": []}',
        '{"format_version": 2, "classes": ["a"], "counts": [1e400], "class_weights": [1]}',
        '{"format_version": 2, "classes": [' + '"a",' * 200_000 + '"a"], "counts": [], "class_weights": []}',
        '{"format_version": 2, "classes": {"a": 1}, "counts": 1, "class_weights": null}',
        '{"format_version": 3, "classes": ["a"], "counts": [1], "class_weights": [1], "usable_counts": [1e400], '
        '"excluded": [' + "9" * 5000 + "]}",
    ],
)
def test_hostile_json_is_refused(tmp_path, text):
    path = tmp_path / "h.json"
    path.write_text(text)
    assert _read_or_refuse(path) is None


@pytest.mark.parametrize(
    "text",
    [
        "path,class,class_index,weight,fingerprint\n" + "a" * 1_000_000 + ",a,0,1,\n",  # one long line
        "path,class,class_index,weight,fingerprint\na,a," + "9" * 5000 + ",1,format_version=2 sha256=" + "0" * 64,
        "path,class,class_index,weight,fingerprint\na,a,0,1,format_version=99999999999999 sha256=" + "0" * 64 + "\n",
        "path,class,class_index,weight,fingerprint\n" + "a,a,0,1,\n" * 50_000,  # no trailer
        '"' * 100_000,
        "",
    ],
)
def test_hostile_csv_is_refused(tmp_path, text):
    path = tmp_path / "h.csv"
    path.write_text(text)
    assert _read_or_refuse(path) is None


def test_hostile_npy_headers_are_refused(originals, tmp_path):
    data, _ = originals[".npy"]
    header_end = data.index(b"\n") + 1
    header = data[:header_end].decode("latin1")
    path = tmp_path / "h.npy"
    for shape in ("(99999999999999,)", "(-1,)", "(3, 2)", "()", "(" + "9" * 5000 + ",)"):
        text = header.replace(f"({len(data[header_end:]) // 8},)", shape)
        body = text[10:].rstrip("\n").ljust(len(header) - 11) + "\n" if len(text) <= len(header) else text[10:]
        path.write_bytes(data[:8] + len(body).to_bytes(2, "little") + body.encode("latin1") + data[header_end:])
        assert _read_or_refuse(path) is None, shape
    path.write_bytes(data[:6] + b"\x09\x00" + data[8:])  # unknown format version
    assert _read_or_refuse(path) is None
    path.write_bytes(data.replace(b"'<f8'", b"'|O'"))
    assert _read_or_refuse(path) is None


def test_hostile_pt_records_are_refused(originals, tmp_path):
    import torch

    path = tmp_path / "h.pt"
    nested: list = []
    for _ in range(200):
        nested = [nested]
    for record in (
        [1, 2, 3],
        {"weights": nested},
        {"weights": torch.ones(3), "targets": torch.zeros(3), "classes": "abc"},
        {"format_version": 10**30},
    ):
        torch.save(record, path)
        assert _read_or_refuse(path) is None, record if not isinstance(record, dict) else list(record)
