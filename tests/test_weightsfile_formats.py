"""The weights-file formats' registry (core/weightsfile_formats/): one file per format, listed once,
and read by everything that writes, reads, lists or describes weights files; torch loads only for a
.pt or a tensor."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from balance_gui.cli import main
from balance_gui.core import weightsfile_formats as registry
from balance_gui.core.dataset import scan_image_folder
from balance_gui.core.errors import WeightsFileError
from balance_gui.core.weights import class_weights
from balance_gui.core.weightsfile import export_weights, read_weights_file, verify_weights_file
from balance_gui.core.weightsfile_formats import WEIGHTS_FORMATS, Export, ImageExport, WeightsFormat, format_of
from balance_gui.core.weightsfile_formats.base import write_buffer

from .conftest import make_tree

DOCS = Path(__file__).resolve().parent.parent / "docs"
FORMAT_FILES = Path(registry.__file__).parent


def test_each_format_is_one_file_listed_once():
    extensions = [f.extension for f in WEIGHTS_FORMATS]
    assert len(set(extensions)) == len(extensions) and all(re.fullmatch(r"\.[a-z0-9]+", e) for e in extensions)
    modules = {sys.modules[f.write.__module__] for f in WEIGHTS_FORMATS}
    assert len(modules) == len(WEIGHTS_FORMATS)  # no two formats share a file
    for fmt in WEIGHTS_FORMATS:
        module = sys.modules[fmt.write.__module__]
        assert module.FORMAT is fmt and Path(module.__file__).parent == FORMAT_FILES
        # its writers and readers live in its own file
        assert {fn.__module__ for fn in (fmt.read, fmt.write_image, fmt.read_image)} == {module.__name__}
        assert fmt.label and fmt.tooltip and fmt.file_filter == f"{fmt.label} (*{fmt.extension})"
    files = {p.stem for p in FORMAT_FILES.glob("*.py")} - {"__init__", "base"}
    assert files == {sys.modules[f.write.__module__].__name__.rsplit(".", 1)[1] for f in WEIGHTS_FORMATS}


def test_the_extension_picks_the_format_in_any_case():
    for fmt in WEIGHTS_FORMATS:
        assert format_of(f"dir.x/w{fmt.extension.upper()}") is fmt
    with pytest.raises(WeightsFileError, match=r"unknown weights file type '\.unknown'.*use one of \.pt, \.csv"):
        format_of("w.unknown")


def test_the_cli_help_and_the_export_dialog_list_the_registry(capsys):
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"output file: {registry.listed(WEIGHTS_FORMATS)}" in help_text
    assert registry.listed(WEIGHTS_FORMATS) == ", ".join(f.extension for f in WEIGHTS_FORMATS[:-1]) + (
        f" or {WEIGHTS_FORMATS[-1].extension}"
    )


def test_the_cli_refuses_an_unknown_extension_before_reading_the_dataset(tmp_path, capsys):
    missing = tmp_path / "not-there"  # never read: the -o check comes first
    assert main(["export", str(missing), "-o", str(tmp_path / "w.unknown")]) == 2
    err = capsys.readouterr().err
    assert "unknown weights file type '.unknown'" in err and "not-there" not in err
    assert not (tmp_path / "w.unknown").exists()


def test_the_weights_files_page_describes_every_format():
    page = (DOCS / "weights-files.md").read_text()
    rows = re.findall(r"^\| `(\.[a-z0-9]+)` \|", page, flags=re.M)
    assert rows[: len(WEIGHTS_FORMATS)] == [f.extension for f in WEIGHTS_FORMATS]
    architecture = (DOCS / "architecture.md").read_text()
    assert "weightsfile_formats/" in architecture


# ---------------------------------------------------------------- torch only for a .pt

_NO_TORCH = """
import sys
from balance_gui.core.dataset import scan_image_folder
from balance_gui.core.weights import class_weights
from balance_gui.core.weightsfile import export_weights, read_weights_file, verify_weights_file
from balance_gui.cli import main

root, out = sys.argv[1], sys.argv[2]
index = scan_image_folder(root)
for ext in (".json", ".csv", ".npy"):
    export_weights(out + ext, index, class_weights(index.counts, "sqrt"), "sqrt")
    info = verify_weights_file(out + ext, root)
    assert info["format"] == ext and len(info["sample_weights"]) == len(index), ext
    read_weights_file(out + ext)
assert main(["export", root, "-o", out + "-cli.json"]) == 0
assert main(["verify", out + "-cli.json", root]) == 0
print("torch" in sys.modules)
"""


def test_json_csv_and_npy_files_are_written_and_verified_without_torch(tmp_path):
    root = make_tree(tmp_path / "data", {"ant": 5, "bee": 2})
    done = subprocess.run(
        [sys.executable, "-c", _NO_TORCH, str(root), str(tmp_path / "w")],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False", done.stdout


# ---------------------------------------------------------------- a new format is one file


def _write_lines(path: str | os.PathLike[str], data: Export) -> None:
    write_buffer(path, "".join(f"{w!r}\n" for w in data.per_sample.tolist()).encode())


def _read_lines(path: str) -> dict[str, Any]:
    with open(path, encoding="ascii") as fh:
        return {"weights": np.array([float(line) for line in fh], dtype=np.float64)}


def _write_image_lines(path: str | os.PathLike[str], data: ImageExport) -> None:
    write_buffer(path, "".join(f"{w!r}\n" for w in data.weights.tolist()).encode())


def _read_image_lines(path: str) -> dict[str, Any] | None:
    return {**_read_lines(path), "files": None, "image_ids": None, "bare": True}


LINES = WeightsFormat(
    extension=".lines",
    label="Text, one weight a line",
    tooltip="the per-sample weights as text",
    identified=False,
    per_sample=True,
    newest_version=0,
    write=_write_lines,
    read=_read_lines,
    write_image=_write_image_lines,
    read_image=_read_image_lines,
)


def test_a_format_added_to_the_registry_is_written_read_and_verified(tmp_path, monkeypatch, capsys):
    """Everything dispatches through the registry: a format it lists works with nothing else changed."""
    monkeypatch.setitem(registry._BY_EXTENSION, ".lines", LINES)
    root = make_tree(tmp_path / "data", {"ant": 6, "bee": 3})
    index = scan_image_folder(root)
    out, npy = tmp_path / "w.lines", tmp_path / "w.npy"
    for path in (out, npy):
        export_weights(path, index, class_weights(index.counts, "inverse"), "inverse")
    assert read_weights_file(out)["format"] == ".lines"
    weights = verify_weights_file(out, index)["sample_weights"]
    np.testing.assert_array_equal(weights, read_weights_file(npy)["weights"])
    assert weights[0] * 6 == weights[-1] * 3  # inverse frequency: each class the same total
    capsys.readouterr()
    assert main(["verify", str(out), str(root)]) == 1  # identified=False: only its length could be checked
    assert "only its length could be checked" in capsys.readouterr().out


def test_a_format_added_to_the_registry_holds_per_image_weights(tmp_path, monkeypatch):
    from balance_gui.core.annotation_weights import export_image_weights, verify_image_weights
    from balance_gui.core.annotations import open_annotations

    monkeypatch.setitem(registry._BY_EXTENSION, ".lines", LINES)
    make_tree(tmp_path, {"img": ["a.jpg", "b.jpg"]})
    (tmp_path / "multi.csv").write_text("path,labels\nimg/a.jpg,x|y\nimg/b.jpg,y\n")
    index = open_annotations(tmp_path / "multi.csv")
    export_image_weights(tmp_path / "w.lines", index, [0.25, 2.0], "rfs:0.5")
    info = verify_image_weights(tmp_path / "w.lines", index)
    assert info["format"] == ".lines" and not info["identified"]
    assert info["sample_weights"].tolist() == [0.25, 2.0]
