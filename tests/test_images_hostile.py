"""The image check against hostile input: files that are not regular files, files too large to read
whole, decompression bombs, files that would run an external program, decoders that crash or hang,
and a cache file written by someone else. One rule per class of input, each with a test."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import tracemalloc

import pytest
from PIL import Image, ImageFile

from balance_gui.core import images
from balance_gui.core.dataset import IMG_EXTENSIONS, scan_image_folder, scan_manifest
from balance_gui.core.errors import Cancelled, SettingsError
from balance_gui.core.image_cache import CheckCache
from balance_gui.core.images import (
    ACCEPTED_FORMATS,
    DEFAULT_MAX_PIXELS,
    UnusableFile,
    check_images,
    inspect_file,
    open_image_file,
)

from . import hostile_helpers as hh
from .test_images import good_tree, image_bytes, write

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def check(root, **kwargs):
    kwargs.setdefault("cache_path", None)
    kwargs.setdefault("workers", 1)
    return check_images(scan_image_folder(root), **kwargs)


def within(seconds: float, fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` on a thread; fails the test (instead of hanging it) if it takes longer."""
    out: dict[str, object] = {}

    def run() -> None:
        try:
            out["value"] = fn(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001 - handed to the test
            out["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{getattr(fn, '__name__', fn)} still running after {seconds} s"
    if "error" in out:
        raise out["error"]  # type: ignore[misc]
    return out["value"]


def reasons(result) -> dict[str, str]:
    return {p.path: p.reason for p in result.corrupt}


@pytest.fixture
def ready_server(monkeypatch):
    """The pool takes the first chunks: no decoding in this process while the fork server starts."""
    ready = threading.Event()
    ready.set()
    monkeypatch.setattr(images, "_start_in_background", lambda ctx: ready)


@pytest.fixture
def pid_dir(tmp_path):
    """Where the stand-ins of ``hostile_helpers`` note the processes they run in (beside the data)."""
    folder = tmp_path / "pids"
    folder.mkdir()
    return folder


# ---------------------------------------------------------------- files that are not regular files


def test_a_fifo_named_jpg_is_a_problem_and_never_opened(tmp_path):
    root = good_tree(tmp_path / "data", {"a": 3})
    os.mkfifo(root / "a" / "x.jpg")  # open() for reading would wait for a writer for ever
    result = within(20, check, root)
    assert reasons(result) == {"a/x.jpg": "not a regular file: fifo"}
    assert result.usable_counts.tolist() == [3]
    assert within(5, inspect_file, str(root / "a" / "x.jpg")).reason == "not a regular file: fifo"


def test_devices_sockets_and_folders_are_problems(tmp_path):
    root = good_tree(tmp_path / "data", {"a": 2})
    os.symlink("/dev/null", root / "a" / "null.jpg")  # followed: what it points at must be a regular file
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(root / "a" / "sock.png"))
        os.mkdir(root / "folder.jpg")
        manifest = root / "list.csv"
        manifest.write_text("path,label\na/img_000.jpg,a\na/null.jpg,a\na/sock.png,b\nfolder.jpg,b\n")
        result = within(20, check_images, scan_manifest(manifest, check_files=False), workers=1, cache_path=None)
    finally:
        server.close()
    assert reasons(result) == {
        "a/null.jpg": "not a regular file: character device",
        "a/sock.png": "not a regular file: socket",
        "folder.jpg": "not a regular file: folder",
    }


def test_a_link_to_dev_zero_is_never_read(tmp_path):
    # Read, /dev/zero grows memory without end: in a child with 2 GB of address space, so that the
    # old code fails with MemoryError rather than taking the machine's memory.
    os.symlink("/dev/zero", tmp_path / "zero.jpg")
    code = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)); "
        "from balance_gui.core.images import inspect_file; print(inspect_file(sys.argv[1]).reason)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "zero.jpg")], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "not a regular file: character device"


def test_a_file_swapped_for_a_fifo_after_the_stat_is_caught(tmp_path, monkeypatch):
    regular = tmp_path / "real.jpg"
    regular.write_bytes(image_bytes(1, "JPEG"))
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    real_stat = os.stat
    # The stat sees a regular file; then the path turns out to be a FIFO: the open must not wait.
    monkeypatch.setattr(
        images.os, "stat", lambda p, *a, **k: real_stat(regular) if str(p) == str(fifo) else real_stat(p)
    )
    with pytest.raises(UnusableFile, match="not a regular file: fifo"):
        within(5, open_image_file, str(fifo))


def test_the_gallery_and_the_check_open_files_by_one_rule():
    import inspect as source

    from balance_gui.gui import gallery

    assert "open_image_file" in source.getsource(gallery.decode_thumbnail)
    assert "open_image_file" in source.getsource(images.inspect_file)
    assert "open(" not in source.getsource(images.inspect_file).replace("open_image_file(", "").replace(
        "Image.open(", ""
    )


# ---------------------------------------------------------------- files too large to read whole


def test_hashing_reads_in_pieces_never_the_whole_file(tmp_path):
    big = tmp_path / "sparse.png"
    with open(big, "wb") as fh:
        fh.truncate(64 * 1024 * 1024)  # sparse: no disk used
    expected = hashlib.sha256()
    zeros = bytes(1024 * 1024)
    for _ in range(64):
        expected.update(zeros)
    tracemalloc.start()
    try:
        info = inspect_file(str(big), images.DecodeSettings(max_file_bytes=128 * 1024 * 1024))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.sha256 == expected.hexdigest() and info.reason == "not an image (no format recognised)"
    assert peak < 8 * 1024 * 1024, f"{peak:,} bytes held at once to hash a 64 MiB file"


def test_an_image_larger_than_one_piece_hashes_and_decodes(tmp_path):
    data = image_bytes(5, "PNG", (700, 700))
    assert len(data) > 1024 * 1024  # noise does not compress: more than one piece
    write(tmp_path, "a/big.png", data)
    info = inspect_file(str(tmp_path / "a" / "big.png"))
    assert (info.reason, info.width, info.height) == (None, 700, 700)
    assert info.sha256 == hashlib.sha256(data).hexdigest()


def test_files_above_the_size_limit_are_problems_never_read(tmp_path, monkeypatch):
    root = good_tree(tmp_path / "data", {"a": 3})
    with open(root / "a" / "huge.jpg", "wb") as fh:
        fh.truncate(600 * 1024**2)  # 600 MiB, sparse: no disk used (the CLI test tries 6 GiB)
    opened: list[str] = []
    real_open = images.os.open
    monkeypatch.setattr(images.os, "open", lambda p, *a, **k: opened.append(str(p)) or real_open(p, *a, **k))
    result = within(20, check, root)
    assert reasons(result) == {"a/huge.jpg": "too large: 629,145,600 bytes > 536,870,912 (the file size limit)"}
    assert not [p for p in opened if p.endswith("huge.jpg")]
    # The limit is a parameter: a smaller one makes ordinary images too large.
    small = check(root, max_file_bytes=100)
    assert len(small.corrupt) == 4 and all(r.startswith("too large") for r in reasons(small).values())
    with pytest.raises(SettingsError, match="max_file_bytes"):
        check(root, max_file_bytes=0)


# ---------------------------------------------------------------- decompression bombs


def test_a_decompression_bomb_is_reported_not_decoded(tmp_path, monkeypatch):
    root = good_tree(tmp_path / "data", {"a": 2})
    write(root, "a/bomb.png", hh.png_header_only(12000, 12000))  # 144 million pixels in a few kB
    loaded: list[tuple[int, int]] = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda im: loaded.append(im.size) or real_load(im))
    result = check(root)
    assert reasons(result) == {
        "a/bomb.png": f"too many pixels to decode safely: 12,000 x 12,000 = 144,000,000 > {DEFAULT_MAX_PIXELS:,} "
        "(the pixel limit)"
    }
    assert (12000, 12000) not in loaded  # judged from the header: 144 MB never allocated
    assert result.usable_counts.tolist() == [2]
    # The bound is a parameter too.
    assert set(reasons(check(root, max_pixels=24 * 16 - 1))) == {"a/img_000.jpg", "a/img_001.png", "a/bomb.png"}


# ---------------------------------------------------------------- decoders that would run a program


def test_a_postscript_file_named_jpg_runs_no_program(tmp_path, monkeypatch):
    from PIL import EpsImagePlugin

    root = good_tree(tmp_path / "data", {"a": 2})
    write(root, "a/loop.jpg", hh.POSTSCRIPT)
    used: list[str] = []

    def refuse(*args, **kwargs):
        used.append("program")
        raise AssertionError("an external program was started")

    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", refuse)
    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", lambda self: used.append("eps") or refuse())
    monkeypatch.setattr(subprocess, "Popen", refuse)
    result = within(20, check, root)
    assert reasons(result) == {
        "a/loop.jpg": f"a PostScript file: not a format the check decodes ({', '.join(ACCEPTED_FORMATS)})"
    }
    assert used == []


def test_only_the_decoders_of_the_scanned_extensions_are_tried(tmp_path):
    Image.init()
    pil = Image.registered_extensions()
    assert set(ACCEPTED_FORMATS) == {pil[ext] for ext in IMG_EXTENSIONS}
    assert "EPS" not in ACCEPTED_FORMATS
    write(tmp_path, "a/anim.jpg", image_bytes(3, "GIF"))  # a GIF: PIL reads it, the scan does not list .gif
    reason = inspect_file(str(tmp_path / "a" / "anim.jpg")).reason
    assert reason == f"a GIF file: not a format the check decodes ({', '.join(ACCEPTED_FORMATS)})"
    write(tmp_path, "a/png_named.jpg", image_bytes(4, "PNG"))  # another accepted format: decoded
    assert inspect_file(str(tmp_path / "a" / "png_named.jpg")).reason is None


# ---------------------------------------------------------------- decoders that crash or hang


def many_files(root, n: int = 60):
    return good_tree(root, {"a": n // 2, "b": n - n // 2})


def test_a_file_that_kills_its_worker_is_a_problem_and_the_rest_is_checked(tmp_path, monkeypatch, ready_server):
    root = many_files(tmp_path / "data")
    write(root, "a/000_CRASH.png", image_bytes(999))  # first of all: in the first chunk a worker gets
    serial = check(root)
    monkeypatch.setattr(images, "_inspect_chunk", hh.crash_on_marked)
    result = within(120, check, root, workers=2)
    assert reasons(result) == {"a/000_CRASH.png": "crashed the decoder: the worker process decoding it died"}
    assert result.files_decoded == 61
    assert [s.usable for s in result.class_stats] == [30, 30]
    assert [s.width for s in result.class_stats] == [s.width for s in serial.class_stats]


def test_a_worker_killed_once_costs_nothing(tmp_path, monkeypatch, ready_server, pid_dir):
    # BrokenProcessPool, exit 3, naming no file: what a worker killed from outside (the OOM killer) did.
    root = many_files(tmp_path / "data")
    write(root, "a/000_ONCE.png", image_bytes(998))
    monkeypatch.setattr(images, "_inspect_chunk", hh.die_once)
    result = within(120, check, root, workers=2)
    assert (pid_dir / "died").exists()  # a worker did die
    assert result.clean and result.files_decoded == 61


@pytest.mark.parametrize("workers", [1, 2])
def test_cancel_ends_a_check_whatever_a_worker_is_doing(tmp_path, monkeypatch, pid_dir, workers):
    root = many_files(tmp_path / "data")
    cancel = threading.Event()
    monkeypatch.setattr(images, "_inspect_chunk", hh.hang)
    found: dict[str, object] = {}

    def run() -> None:
        try:
            check(root, workers=workers, cancel=cancel)
        except BaseException as e:  # noqa: BLE001 - handed to the test, which raises it
            found["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        if workers == 1:
            deadline = time.monotonic() + 30
            while not list(pid_dir.glob("*.pid")) and time.monotonic() < deadline:
                time.sleep(0.02)
            pids: list[int] = []
        else:
            pids = hh.worker_pids(pid_dir)  # a worker process is stuck in its decoder
        cancel.set()
        thread.join(1.0)
        assert not thread.is_alive(), "the check did not end within a second of its cancel"
        assert isinstance(found.get("error"), Cancelled)
        assert hh.all_gone(pids, 5) == []  # its workers were killed
    finally:
        hh.release.set()
        thread.join(5)
        hh.release.clear()


# ---------------------------------------------------------------- the cache, written by someone else


def cache_entries(path) -> dict:
    return json.loads(path.read_text())["entries"]


def test_odd_cache_entries_are_ignored_and_rebuilt(tmp_path):
    root = good_tree(tmp_path / "data", {"a": 4})
    cache_file = tmp_path / "check.json"
    first = check(root, cache_path=cache_file)
    record = json.loads(cache_file.read_text())
    entries = record["entries"]
    entries["a/img_000.jpg"][2] = ["not", "a", "hash"]  # sha256 as a list
    entries["a/img_001.png"][3] = "24px"  # a width that is no number
    entries["a/img_002.jpg"][2] = None  # two null hashes would be two copies of one file
    entries["a/img_003.png"][2] = None
    cache_file.write_text(json.dumps(record))
    again = check(root, cache_path=cache_file)
    assert again.files_decoded == 4 and again.clean
    assert again.class_stats == first.class_stats


def test_a_cache_nested_too_deep_is_ignored(tmp_path):
    root = good_tree(tmp_path / "data", {"a": 2})
    cache_file = tmp_path / "check.json"
    cache_file.write_text("[" * 200_000 + "]" * 200_000)
    result = check(root, cache_path=cache_file)
    assert result.clean and result.files_decoded == 2
    assert check(root, cache_path=cache_file).files_decoded == 0  # rebuilt


def test_a_link_planted_at_the_cache_path_is_never_written_through(tmp_path):
    root = good_tree(tmp_path / "data", {"a": 2})
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    cache_file = tmp_path / "check.json"
    os.symlink(victim, cache_file)
    result = check(root, cache_path=cache_file)
    assert result.clean and victim.read_text() == "keep me" and os.path.islink(cache_file)
    assert len(result.warnings) == 1 and "symbolic link" in result.warnings[0]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_verdicts_count_only_under_the_decoder_settings_they_were_made_with(tmp_path, monkeypatch):
    root = good_tree(tmp_path / "data", {"a": 3})
    jpeg = image_bytes(50, "JPEG", (64, 64))
    write(root, "a/cut.jpg", jpeg[: len(jpeg) * 2 // 3])
    cache_file = tmp_path / "check.json"
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)  # another program's choice
    lenient = check(root, cache_path=cache_file)
    assert lenient.clean  # truncated images load, grey at the end
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", False)
    strict = check(root, cache_path=cache_file)
    assert strict.files_decoded == 4 and list(reasons(strict)) == ["a/cut.jpg"]
    # The pixel limit is a decoder setting as well.
    assert check(root, cache_path=cache_file, max_pixels=10_000).files_decoded == 4


def test_the_cache_keeps_only_the_files_of_the_last_check(tmp_path):
    root = good_tree(tmp_path / "data", {"a": 6, "b": 4})
    cache_file = tmp_path / "check.json"
    check(root, cache_path=cache_file)
    assert len(cache_entries(cache_file)) == 10
    for name in ("img_000.jpg", "img_001.png", "img_002.jpg"):
        os.remove(root / "a" / name)
    warm = check(root, cache_path=cache_file)  # nothing to decode: the cache is written to prune it
    assert warm.files_decoded == 0
    assert sorted(cache_entries(cache_file)) == sorted(scan_image_folder(root).relative_paths())


def test_cache_entries_are_checked_one_by_one(tmp_path):
    root = str(tmp_path)
    good = [10, 20, "ab" * 32, 4, 3, "RGB", None, 0.01]
    cases = {
        "ok": good,
        "bool size": [True, *good[1:]],
        "float width": [*good[:3], 4.0, *good[4:]],
        "short hash": [*good[:2], "abc", *good[3:]],
        "usable without size": [*good[:3], 0, 0, "", None, 0.0],
        "nan time": [*good[:7], float("nan")],
        "too long": [*good, 1],
        "a dict": dict(enumerate(good)),
    }
    path = tmp_path / "c.json"
    cache = CheckCache(str(path), root, {"k": 1})
    cache.entries = {}
    cache.dirty = True
    cache.save()
    record = json.loads(path.read_text())
    record["entries"] = {k: v for k, v in cases.items() if k != "nan time"}
    text = json.dumps(record)[:-2] + ', "nan time": [10, 20, "' + "ab" * 32 + '", 4, 3, "RGB", null, NaN]}}'
    path.write_text(text)
    assert list(CheckCache(str(path), root, {"k": 1}).entries) == ["ok"]
    assert CheckCache(str(path), root, {"k": 2}).entries == {}  # other decoder settings: nothing counts
