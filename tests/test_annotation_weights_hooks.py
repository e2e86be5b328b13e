"""The hooks that route per-image weights files through the CLI and weightsfile: ``export ANNOT.json
-o w.pt --scheme rfs:T``, ``verify FILE ANNOT.json``, ``load_weights(FILE, ANNOT.json)`` and
``verify_weights_file`` check image ids and files like every weights file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from balance_gui.cli import main
from balance_gui.core.annotations import read_coco
from balance_gui.core.errors import WeightsFileError
from balance_gui.core.repeat_factors import repeat_factors
from balance_gui.core.weightsfile import load_weights, verify_weights_file

from .test_annotation_weights import COCO


@pytest.fixture
def coco(tmp_path):
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(COCO))
    return path


@pytest.mark.parametrize("ext", [".pt", ".csv", ".json", ".npy"])
def test_cli_export_and_verify(tmp_path, coco, ext, capsys):
    out = tmp_path / f"w{ext}"
    assert main(["export", str(coco), "-o", str(out), "--scheme", "rfs:0.5"]) == 0
    got = load_weights(out, coco).numpy()
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, repeat_factors(read_coco(coco), 0.5))
    if ext != ".npy":
        np.testing.assert_array_equal(load_weights(out).numpy(), got)  # no dataset: the file's weights
        assert main(["verify", str(out), str(coco)]) == 0
        assert "matches" in capsys.readouterr().out
    else:
        assert main(["verify", str(out), str(coco)]) == 1


def test_verify_and_load_refuse_another_files_images(tmp_path, coco, capsys):
    out = tmp_path / "w.pt"
    assert main(["export", str(coco), "-o", str(out), "--scheme", "sqrt"]) == 0
    other = dict(COCO, images=[dict(im, file_name="x" + im["file_name"]) for im in COCO["images"]])
    path = tmp_path / "other.json"
    path.write_text(json.dumps(other))
    with pytest.raises(WeightsFileError, match="image 0 is 'img/40.jpg' in the weights file"):
        load_weights(out, path)
    with pytest.raises(WeightsFileError, match="image 0 is 'img/40.jpg'"):
        verify_weights_file(out, read_coco(path))
    assert main(["verify", str(out), str(path)]) == 2
    assert "image 0 is 'img/40.jpg'" in capsys.readouterr().err


def test_export_usable_gives_unusable_images_weight_0(tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    data = json.loads(json.dumps(COCO))
    (tmp_path / "img").mkdir()
    for k, im in enumerate(data["images"]):
        if im["id"] != 19:  # img/19.jpg is missing
            Image.new("RGB", (8, 8), (40 * k, 0, 0)).save(tmp_path / im["file_name"], "JPEG")
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(data))
    out = tmp_path / "w.pt"
    assert main(["export", str(path), "-o", str(out), "--scheme", "none", "--usable", "--workers", "1"]) == 0
    w = load_weights(out, path).numpy()
    assert w[2] == 0.0 and np.all(w[[0, 1, 3, 4]] == 1.0)  # images 40, 7, [19 missing], 3, 25


def test_app_accepts_a_coco_json(tmp_path, coco, monkeypatch, capsys):
    """``balance-gui ANNOT.json`` opens the app on the file (it was refused as not a dataset)."""
    import balance_gui.gui.app as app
    import balance_gui.qt_platform as qt_platform

    opened = []
    monkeypatch.setattr(qt_platform, "explain_missing_platform", lambda: "")
    monkeypatch.setattr(app, "run_app", lambda path: opened.append(path) or 0)
    assert main([str(coco)]) == 0 and opened == [str(coco)]
    other = tmp_path / "notes.txt"
    other.write_text("x")
    assert main([str(other)]) == 2
    assert "not a dataset folder, a .csv manifest or a COCO .json" in capsys.readouterr().err
