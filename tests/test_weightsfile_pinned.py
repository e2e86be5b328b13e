"""Every weights-file format writes the same bytes as the release that pinned them: a folder, a
``.csv`` manifest, a Parquet table (with a row left out for a null label) and COCO / ``path,labels``
annotation files, each with and without excluded samples, and a class name a spreadsheet would run
(a format-4 .csv). The sha256 below were taken from the writers before each format moved to a file
of its own (core/weightsfile_formats/); a change to any of them changes what a reader sees."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from balance_gui.core.annotation_weights import export_image_weights
from balance_gui.core.annotations import open_annotations
from balance_gui.core.dataset import open_dataset
from balance_gui.core.weights import class_weights
from balance_gui.core.weightsfile import export_weights, verify_weights_file

from .conftest import make_tree

ROOT = "/pinned/root"  # every file records its dataset's absolute root: the same one wherever the test runs
EXTENSIONS = (".pt", ".csv", ".json", ".npy")


def _pinned_root(index: Any) -> Any:
    object.__setattr__(index, "root", ROOT)  # the indexes are frozen dataclasses
    return index


def _folder(tmp_path: Path) -> Any:
    return open_dataset(make_tree(tmp_path / "data", {"ant": 7, "=bee": 3, "cat": 2, "empty": 0}))


def _manifest(tmp_path: Path) -> Any:
    rows = [f"img/{i}.jpg,{'dog' if i % 3 else 'emu'}" for i in range(9)]
    make_tree(tmp_path / "img", {".": [f"{i}.jpg" for i in range(9)]})
    path = tmp_path / "labels.csv"
    path.write_text("path,label\n" + "\n".join(rows) + "\n")
    return open_dataset(path)


def _table(tmp_path: Path) -> Any:
    labels = ["cat", "dog", None, "cat", "emu", "dog", "cat", "cat"]
    table = pa.table({"path": [f"nowhere/{i}.jpg" for i in range(len(labels))], "label": labels})
    pq.write_table(table, tmp_path / "t.parquet")
    return open_dataset(tmp_path / "t.parquet", drop_null=True)


SOURCES = {"folder": _folder, "manifest": _manifest, "table": _table}

PINNED = {
    "folder.pt": "ab6be6caa4fe413abc96b02a789670735c007a776be8ad1a6f6227e2281513cb",
    "folder-usable.pt": "7dcccb85367b238e06c4fec38544af999792a138603b9e8efeecf6220cc4c8e5",
    "folder.csv": "331996e05a9a344a418e85f44df641b663278111f23aa99f1e11eb0c34d8cecf",
    "folder-usable.csv": "927c4b63118183644716463cc32b4d12a8832e87b1edb0b9e8bf79ef0f93c4f3",
    "folder.json": "d43437c6b9a869d53748605c9ef36a8892d9a8fc80eb7048b2fbbbe837be6127",
    "folder-usable.json": "d6a7a478da524547d21edf020109617ddef775e169acbadd2032e9515fdb6d87",
    "folder.npy": "667c13a6e0d2895879ac1208c147d3167f0c62b423c07dc4373717007f4d7799",
    "folder-usable.npy": "ed6c8f9498f7257d84af36363a51a41d5200aa2ae43afb1acee772258df46d60",
    "manifest.pt": "f31f8556405581ef930f0588ec764655af49f886a50fe87e1dd4515496670373",
    "manifest-usable.pt": "4bb5ccaa72f6e35671cd70377b2d39d8c1a7abea6cdede542dd84ab018599a5d",
    "manifest.csv": "76b51aa1ba04b841a12a4a686aac77733d511eab70f01d7ee8c1b46b58a218d1",
    "manifest-usable.csv": "253b4d648c46544a6453ea5534c51cbce5bc398c457d7a2783b2c3c0817a1ecf",
    "manifest.json": "8dde60d71bac7a69941b227c76f092c969f04c71441792db2c99de8dbb6ed54e",
    "manifest-usable.json": "514da8ab97d4a2ed54d4ce523240aac8ebe3752d6ab3be43bea9f5612d45b6f2",
    "manifest.npy": "56b4b433ec39bd625ad97f1ebacc996588e7828f9c03412c423245a09af7ad91",
    "manifest-usable.npy": "d98589e96f1dab41051fd6b0ef6f2980ac271d76ba624ed5697fec18ba759f46",
    "table.pt": "154308337a6206a8734501a8444c4ecb3dffdc110dfc1343f2d2cee8fab86672",
    "table-usable.pt": "13a3aa3d312944025005d8924e47a7f5e04d11adafead12856429be48108d414",
    "table.csv": "e7cf03b08d26ed57045b122d4ed6d27bf8cf5dd3e79d9d447523a991ecdd1767",
    "table-usable.csv": "15e43f4dc050265df99789f00b77f3b59ce7ef97a4937fe219992acfe50a9ad3",
    "table.json": "cd57acca77521a4170de8918a5cbf3cbd57863785a78233a78f5b93f69f19347",
    "table-usable.json": "3a9a438a6e2aa3722080bbe33e46c2c8dc4dc934cb2efbb68312f2b790feba2c",
    "table.npy": "1ee4ddc58ca3b149675fbbabe19e931505065884ec2ed0a69ab2d833661cd74d",
    "table-usable.npy": "1c08f0ee87f6cf849873c089179fa0435b454140d72a5c2ac74a2f4d067e91a7",
    "instances.json-image.pt": "9be6356b1a6ad18749e54285131fbeb18875c52aa149c6ab933ea4465abdb809",
    "instances.json-image.csv": "636bf81e97881c70f10299b3f192770afdbf4927207df406fdd2b0cf58b2e30e",
    "instances.json-image.json": "f80ed8dcd1d7f085519f02f21e8871953b2dc617dd0058188dcf7666e8a1a380",
    "instances.json-image.npy": "2e61f2386b558aba30337f8867b9a3c8fb4c7031b2fb09427e73362d306510b8",
    "multi.csv-image.pt": "2db74b436bac214137f6adf481659f24ec29afe20c41182936b1fac9ac13cd11",
    "multi.csv-image.csv": "886fca0f47a5edbbdd3f7b2a99a464ad2cdca0bc48657cd0926958e58cf43160",
    "multi.csv-image.json": "8c530e0af9301a2fc353cf259a31d421409f16709715a790e5908ce137d79807",
    "multi.csv-image.npy": "8c1bcdcf1b0ab914a2bb4463ba5d180dd335c26774d0454009b4def9bdca8a37",
}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _export_all(tmp_path: Path) -> dict[str, str]:
    got = {}
    for name, opener in SOURCES.items():
        index = _pinned_root(opener(tmp_path))
        w = class_weights(index.counts, "sqrt")
        excluded = np.zeros(len(index), dtype=bool)
        excluded[1] = True
        usable = np.bincount(index.targets[~excluded], minlength=index.num_classes)
        for ext in EXTENSIONS:
            out = tmp_path / f"{name}{ext}"
            export_weights(out, index, w, "sqrt")
            got[f"{name}{ext}"] = _sha(out)
            out = tmp_path / f"{name}-usable{ext}"
            export_weights(out, index, class_weights(usable, "sqrt"), "sqrt", excluded=excluded)
            got[f"{name}-usable{ext}"] = _sha(out)
    coco = {
        "images": [{"id": i, "file_name": f"img/{i}.jpg"} for i in (40, 7, 19, 3)],
        "annotations": [
            {"id": 1, "image_id": 40, "category_id": 9},
            {"id": 2, "image_id": 7, "category_id": 2},
            {"id": 3, "image_id": 3, "category_id": 2},
        ],
        "categories": [{"id": 9, "name": "=cmd"}, {"id": 2, "name": "a"}],
    }
    (tmp_path / "instances.json").write_text(json.dumps(coco))
    make_tree(tmp_path, {".": ["-x.jpg", "y.jpg", "z.jpg"]})
    (tmp_path / "multi.csv").write_text("path,labels\n-x.jpg,a|b\ny.jpg,b\nz.jpg,\n")
    for name in ("instances.json", "multi.csv"):
        index = _pinned_root(open_annotations(tmp_path / name))
        weights = np.linspace(0.5, 2.0, len(index))
        for ext in EXTENSIONS:
            out = tmp_path / f"{name}-image{ext}"
            export_image_weights(out, index, weights, "rfs:0.5")
            got[f"{name}-image{ext}"] = _sha(out)
    return got


def test_every_format_writes_the_pinned_bytes(tmp_path):
    got = _export_all(tmp_path)
    assert sorted(got) == sorted(PINNED)
    changed = [name for name in PINNED if got[name] != PINNED[name]]
    assert not changed, f"these files are no longer written byte for byte as before: {changed}"


def test_the_pinned_files_are_read_back(tmp_path):
    """The pins are of files that verify: a broken writer cannot have been pinned."""
    _export_all(tmp_path)
    index = _pinned_root(_folder(tmp_path / "again"))
    for ext in EXTENSIONS:
        info = verify_weights_file(tmp_path / f"folder-usable{ext}", index)
        assert info["format"] == ext and info["num_excluded"] == (0 if ext == ".npy" else 1)
    # The folder's class "=bee" makes its .csv a format-4 file: that writer's branch is pinned too.
    assert "format_version=4 " in (tmp_path / "folder.csv").read_text()
