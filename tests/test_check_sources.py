"""The image check on images held inside a dataset's files (core.record_check): a Hugging Face folder's
image column (bytes, or paths) and WebDataset tar members give the verdicts, problems (in the same
order) and class statistics that the file check gives on the same images written as files."""

from __future__ import annotations

import io
import json
import os
import tarfile
import threading

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from balance_gui.cli import main
from balance_gui.core import images, record_check
from balance_gui.core.dataset import open_dataset
from balance_gui.core.errors import DatasetError, SettingsError
from balance_gui.core.images import check_images

from .test_images import image_bytes

CLASSES = ["cat", "dog", "emu", "fox"]  # fox has no image: an empty ClassLabel class is kept


def _samples(n_good: int = 9) -> tuple[list[bytes], list[int]]:
    """Images with every kind of problem, in an order where positions matter: good PNG and JPEG
    images, a truncated PNG, a cut JPEG, text, an empty image, copies in and across classes."""
    good = [image_bytes(seed, "PNG" if seed % 2 else "JPEG", (20 + seed % 5, 12 + seed % 3)) for seed in range(n_good)]
    png, jpeg = image_bytes(100, "PNG", (64, 48)), image_bytes(101, "JPEG", (64, 48))
    data = [
        *good,
        png[: len(png) // 2],
        jpeg[: len(jpeg) // 2],
        b"this is a text file, not a picture\n",
        b"",
        good[0],  # a copy in another class
        good[1],  # a copy in its own class
        image_bytes(7, "PNG", (9, 9), "L"),  # grayscale
    ]
    labels = [k % 3 for k in range(n_good)] + [0, 1, 2, 1, 1, 1, 2]
    return data, labels


def _file_check(tmp_path, data: list[bytes], labels: list[int], **kw):
    """The file check of the same images: one file each, listed by a Parquet manifest in this order."""
    folder = tmp_path / "files"
    folder.mkdir()
    paths = []
    for k, blob in enumerate(data):
        name = f"img_{k:04d}.bin"  # no telling extension: the check goes by content, as for bytes
        (folder / name).write_bytes(blob)
        paths.append(name)
    names = [CLASSES[y] for y in labels]
    pq.write_table(pa.table({"path": paths, "label": names}), folder / "m.parquet")
    index = open_dataset(str(folder / "m.parquet"))
    return check_images(index, cache_path=None, **kw)


def _hf_folder(tmp_path, data, labels, name="hf", image=None):
    features = datasets.Features({"image": image or datasets.Image(), "label": datasets.ClassLabel(names=CLASSES)})
    column = [{"bytes": b, "path": None} for b in data] if image is None else data
    ds = datasets.Dataset.from_dict({"image": column, "label": labels}, features=features)
    ds.save_to_disk(str(tmp_path / name))
    return str(tmp_path / name)


def _shards(tmp_path, data, labels, per_shard: int = 5) -> str:
    folder = tmp_path / "shards"
    folder.mkdir()
    n_shards = (len(data) + per_shard - 1) // per_shard
    for s in range(n_shards):
        with tarfile.open(folder / f"{s:04d}.tar", "w") as tar:
            for k in range(s * per_shard, min(len(data), (s + 1) * per_shard)):
                for ext, blob in (("cls", str(labels[k]).encode()), ("jpg", data[k]), ("json", b"{}")):
                    info = tarfile.TarInfo(f"sample{k:04d}.{ext}")
                    info.size = len(blob)
                    tar.addfile(info, io.BytesIO(blob))
    return str(folder / f"{{0000..{n_shards - 1:04d}}}.tar")


def _verdicts(result):
    """Everything a check found, in order, without the sample names (which differ by source). Only
    the classes with images: a manifest's classes are those that occur, a ClassLabel keeps its empty ones."""
    problems = [(p.sample, p.kind, p.reason, p.duplicate_of, p.cross_class) for p in result.problems]
    stats = [{k: v for k, v in s.as_dict().items() if k != "name"} for s in result.class_stats if s.images]
    return problems, stats, result.usable_mask.tolist()


def test_hf_image_bytes_get_the_file_checks_verdicts(tmp_path):
    data, labels = _samples()
    folder = _hf_folder(tmp_path, data, labels)
    index = open_dataset(folder)
    assert index.source == "hf-dataset" and index.classes == tuple(CLASSES)
    result = check_images(index, cache_path=None, workers=1)
    expected = _file_check(tmp_path, data, labels, workers=1)
    assert _verdicts(result) == _verdicts(expected)
    kinds = [(p.path, p.kind) for p in result.problems]
    assert kinds[0] == ("data-00000-of-00001.arrow#9", "corrupt")  # the truncated PNG: named by file and row
    assert sum(k == "corrupt" for _, k in kinds) == 4 and sum(k == "duplicate" for _, k in kinds) == 2
    assert result.class_stats[3].images == 0  # the ClassLabel's empty class is there
    assert result.files_decoded == len(data)


def test_webdataset_members_get_the_file_checks_verdicts(tmp_path):
    data, labels = _samples()
    pattern = _shards(tmp_path, data, labels)
    index = open_dataset(pattern)
    result = check_images(index, cache_path=None, workers=1)
    expected = _file_check(tmp_path, data, labels, workers=1)
    assert _verdicts(result) == _verdicts(expected)
    assert result.problems[0].path == "0001.tar#sample0009"


def test_worker_processes_and_windows_give_the_same_verdicts(tmp_path, monkeypatch):
    data, labels = _samples(n_good=60)  # enough images for the worker processes
    folder = _hf_folder(tmp_path, data, labels)
    one = check_images(open_dataset(folder), cache_path=None, workers=1)
    submitted = []

    class CountingPool(images.cf.ProcessPoolExecutor):
        def submit(self, fn, *args, **kwargs):
            submitted.append(len(args[0]))
            return super().submit(fn, *args, **kwargs)

    def server_ready_now(ctx):
        # The check decodes here while the workers' server starts, and on a loaded machine this
        # process could take every window before it is up: start it first, so the pool's turn comes
        # before this process's (the check hands the pool work before it decodes anything itself).
        if ctx.get_start_method() == "forkserver":
            from multiprocessing import forkserver

            forkserver.ensure_running()
        ready = threading.Event()
        ready.set()
        return ready

    monkeypatch.setattr(images.cf, "ProcessPoolExecutor", CountingPool)
    monkeypatch.setattr(images, "_start_in_background", server_ready_now)
    monkeypatch.setattr(images, "_IN_PROCESS_MAX", 1)  # a pool for every window, however small
    monkeypatch.setattr(record_check, "WINDOW_ITEMS", 7)  # many windows
    pooled = check_images(open_dataset(folder), cache_path=None, workers=2)
    assert _verdicts(pooled) == _verdicts(one)
    assert len(one.problems) == 6 and sum(submitted) > 0  # images went to the workers as bytes


def test_a_recheck_reads_the_cache_and_a_changed_folder_decodes_again(tmp_path):
    data, labels = _samples()
    folder = _hf_folder(tmp_path, data, labels)
    cache = tmp_path / "cache.json"
    first = check_images(open_dataset(folder), cache_path=cache, workers=1)
    again = check_images(open_dataset(folder), cache_path=cache, workers=1)
    assert first.files_decoded == len(data) and again.files_decoded == 0
    assert _verdicts(again) == _verdicts(first)
    _hf_folder(tmp_path, data[::-1], labels[::-1], name="hf-rewritten")
    os.replace(tmp_path / "hf-rewritten" / "data-00000-of-00001.arrow", tmp_path / "hf" / "data-00000-of-00001.arrow")
    moved = check_images(open_dataset(folder), cache_path=cache, workers=1)
    assert moved.files_decoded == len(data)  # a rewritten Arrow file: every verdict is made again


def test_rows_left_out_for_no_label_are_skipped_in_step(tmp_path):
    data, labels = _samples()
    with_unlabelled = [data[0], image_bytes(500), *data[1:]]
    folder = _hf_folder(tmp_path, with_unlabelled, [labels[0], -1, *labels[1:]])
    with pytest.raises(DatasetError, match="no label"):
        open_dataset(folder)
    index = open_dataset(folder, drop_null=True)
    result = check_images(index, cache_path=None, workers=1)
    expected = _file_check(tmp_path, data, labels, workers=1)
    assert _verdicts(result) == _verdicts(expected)
    assert result.problems[0].path == "data-00000-of-00001.arrow#10"  # the row, counted in the file


def test_image_paths_in_the_column_are_checked_as_files(tmp_path):
    data, labels = _samples()
    (tmp_path / "img").mkdir()
    paths = []
    for k, blob in enumerate(data):
        (tmp_path / "img" / f"{k}.png").write_bytes(blob)
        paths.append(os.path.join("..", "img", f"{k}.png") if k % 2 else str(tmp_path / "img" / f"{k}.png"))
    ds = datasets.Dataset.from_dict(
        {"file": paths, "label": labels},
        features=datasets.Features({"file": datasets.Value("string"), "label": datasets.ClassLabel(names=CLASSES)}),
    )
    ds.save_to_disk(str(tmp_path / "hf"))
    index = open_dataset(str(tmp_path / "hf"))
    with pytest.raises(DatasetError, match="no image column to check.*--image-column"):
        check_images(index, cache_path=None, workers=1)
    result = check_images(index, cache_path=None, workers=1, image_column="file")
    assert _verdicts(result) == _verdicts(_file_check(tmp_path, data, labels, workers=1))


def test_hf_image_feature_with_paths_only(tmp_path):
    data, labels = _samples()
    (tmp_path / "img").mkdir()
    column = []
    for k, blob in enumerate(data):
        (tmp_path / "img" / f"{k}.png").write_bytes(blob)
        column.append({"bytes": None, "path": str(tmp_path / "img" / f"{k}.png")})
    column[3] = None  # a row without an image
    folder = _hf_folder(tmp_path, column, labels, image=datasets.Image(decode=False))
    result = check_images(open_dataset(folder), cache_path=None, workers=1)
    reasons = {p.sample: p.reason for p in result.corrupt}
    assert reasons[3] == "no image: column 'image' is null in this row"
    assert set(reasons) == {3, 9, 10, 11, 12}


def test_webdataset_without_an_image_member_and_a_named_member(tmp_path):
    (tmp_path / "s").mkdir()
    with tarfile.open(tmp_path / "s" / "0.tar", "w") as tar:
        for key, members in (
            ("a", {"cls": b"0", "png": image_bytes(1), "seg.png": b"junk"}),
            ("b", {"cls": b"1", "txt": b"no image here"}),
            ("c", {"cls": b"1", "png": image_bytes(2), "seg.png": image_bytes(3)}),
        ):
            for ext, blob in members.items():
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(blob)
                tar.addfile(info, io.BytesIO(blob))
    index = open_dataset(str(tmp_path / "s" / "0.tar"))
    result = check_images(index, cache_path=None, workers=1)
    assert [(p.path, p.reason) for p in result.problems] == [
        ("0.tar#b", "no image: the sample has no image member (bmp, jpeg, jpg, pgm, png, ppm, tif, tiff, webp)")
    ]
    named = check_images(index, cache_path=None, workers=1, image_column="seg.png")
    assert [(p.path, p.kind) for p in named.problems] == [("0.tar#a", "corrupt"), ("0.tar#b", "corrupt")]
    assert named.problems[1].reason == "no image: the sample has no .seg.png member"
    small = check_images(index, cache_path=None, workers=1, max_file_bytes=100)
    assert all(p.reason.startswith("too large") for p in small.problems if p.path != "0.tar#b")


def test_image_column_is_refused_for_a_folder(tmp_path):
    (tmp_path / "d" / "a").mkdir(parents=True)
    (tmp_path / "d" / "a" / "x.png").write_bytes(image_bytes(1))
    with pytest.raises(SettingsError, match="--image-column is for Hugging Face"):
        check_images(open_dataset(str(tmp_path / "d")), cache_path=None, workers=1, image_column="image")


def test_cli_check_on_an_hf_folder_and_shards(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    data, labels = _samples()
    folder = _hf_folder(tmp_path, data, labels)
    assert main(["check", folder, "--json", "--workers", "1"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["source"] == "hf-dataset" and report["images"] == len(data)
    assert report["summary"]["corrupt"] == 4 and report["files_decoded"] == len(data)
    assert [c["name"] for c in report["classes"]] == CLASSES
    pattern = _shards(tmp_path, data, labels)
    assert main(["check", pattern, "--json", "--workers", "1"]) == 1
    shards = json.loads(capsys.readouterr().out)
    assert [p["kind"] for p in shards["problems"]] == [p["kind"] for p in report["problems"]]
    assert main(["check", folder, "--image-column", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no column 'nope'" in err[0] and "--image-column" in err[0]


def test_a_folder_of_several_arrow_files_is_read_in_order(tmp_path):
    data, labels = _samples()
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=CLASSES)})
    column = [{"bytes": b, "path": None} for b in data]
    ds = datasets.Dataset.from_dict({"image": column, "label": labels}, features=features)
    ds.save_to_disk(str(tmp_path / "hf"), num_shards=3)
    index = open_dataset(str(tmp_path / "hf"))
    result = check_images(index, cache_path=None, workers=1)
    assert _verdicts(result) == _verdicts(_file_check(tmp_path, data, labels, workers=1))
    files = {p.path.split("#")[0] for p in result.problems}
    assert len(files) >= 2  # the problems sit in several of the Arrow files, each named by its own row
