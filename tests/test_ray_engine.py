"""The image check on Ray (core.ray_engine) against the local check, on real images with damage.

One local Ray instance (``ray.init(num_cpus=2)``, no dashboard, no network service) serves the module.
"""

from __future__ import annotations

import io
import json
import logging
import shutil
import sys
import threading
import time

import numpy as np
import pytest
import ray  # in the test extra: a missing Ray fails these tests, never skips them
from PIL import Image

from balance_gui import cli
from balance_gui.core import images
from balance_gui.core.dataset import scan_image_folder, scan_manifest
from balance_gui.core.errors import Cancelled
from balance_gui.core.images import check_images
from balance_gui.core.ray_engine import RayRunner, check_images_ray, ray_checks, uri_of

from .test_images import good_tree, image_bytes, write


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def damaged_tree(root):
    """Two classes of real images, with every kind of damage the check reports."""
    good_tree(root, {"ant": 14, "bee": 10})
    png, jpeg = image_bytes(100, "PNG", (64, 48)), image_bytes(101, "JPEG", (64, 48))
    write(root, "ant/zero.jpg", b"")
    write(root, "ant/cut.png", png[: len(png) // 2])
    write(root, "bee/cut.jpg", jpeg[: len(jpeg) // 2])
    write(root, "bee/notes.jpg", b"this is a text file, not a picture\n")
    shutil.copy(root / "ant" / "img_003.png", root / "bee" / "zz_cross.png")  # a copy in another class
    shutil.copy(root / "bee" / "img_002.jpg", root / "bee" / "zz_same.jpg")  # a copy in its own class
    return root


def test_ray_finds_the_local_problems_in_the_same_order_and_a_recheck_decodes_nothing(tmp_path, local_ray):
    root = damaged_tree(tmp_path / "data")
    index = scan_image_folder(root)
    local = check_images(index, workers=1, cache_path=None)
    cache = tmp_path / "check.json"
    runner = RayRunner(chunk_size=4)  # several tasks, finishing in any order
    on_ray = check_images_ray(index, runner=runner, cache_path=cache)
    assert on_ray.files_decoded == len(index) == 30
    assert on_ray.problems == local.problems
    assert [(p.path, p.kind) for p in on_ray.problems] == [
        ("ant/cut.png", "corrupt"),
        ("ant/zero.jpg", "corrupt"),
        ("bee/cut.jpg", "corrupt"),
        ("bee/notes.jpg", "corrupt"),
        ("bee/zz_cross.png", "duplicate"),
        ("bee/zz_same.jpg", "duplicate"),
    ]
    assert [p.cross_class for p in on_ray.duplicates] == [True, False]
    assert on_ray.class_stats == local.class_stats
    assert np.array_equal(on_ray.usable_mask, local.usable_mask)
    assert runner.started is False  # it used the Ray of this process, and leaves it running
    assert runner.result_bytes > 0
    # The Ray check's verdicts are in the local check's cache: a re-check only stats the files.
    again = check_images(index, workers=1, cache_path=cache)
    assert again.files_decoded == 0
    assert again.problems == local.problems and again.class_stats == local.class_stats


def test_file_uris_are_read_through_pyarrow_with_the_verdicts_of_local_paths(tmp_path, local_ray):
    root = damaged_tree(tmp_path / "data")
    rel = [f"ant/img_{i:03d}.{'png' if i % 2 else 'jpg'}" for i in range(4)]
    rel += ["ant/zero.jpg", "ant/cut.png", "bee/notes.jpg", "bee/zz_cross.png", "gone.jpg"]
    labels = ["ant"] * 6 + ["bee"] * 3
    plain = tmp_path / "plain.csv"
    plain.write_text("path,label\n" + "".join(f"{root / p},{lab}\n" for p, lab in zip(rel, labels, strict=True)))
    uris = tmp_path / "uris.csv"
    uris.write_text(
        "path,label\n" + "".join(f"{(root / p).as_uri()},{lab}\n" for p, lab in zip(rel, labels, strict=True))
    )
    local = check_images(scan_manifest(plain, check_files=False), workers=1, cache_path=None)
    index = scan_manifest(uris, check_files=False)
    assert uri_of(index.path(0)) == (root / rel[0]).as_uri()  # the manifest's folder is joined before it
    on_ray = check_images_ray(index, runner=RayRunner(chunk_size=2), cache_path=None)

    def verdicts(result):
        return [(p.sample, p.kind, p.reason, p.duplicate_of, p.cross_class) for p in result.problems]

    assert verdicts(on_ray) == verdicts(local)
    assert [p.kind for p in local.problems] == ["corrupt", "corrupt", "corrupt", "duplicate", "corrupt"]
    assert on_ray.problems[-1].reason == "cannot read: No such file or directory"
    assert on_ray.class_stats == local.class_stats


def test_cancel_stops_every_ray_task_and_keeps_what_finished(tmp_path, local_ray):
    root = tmp_path / "big"
    buffer = io.BytesIO()
    noise = np.random.default_rng(7).integers(0, 256, (900, 900, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buffer, "PNG")  # slow enough to decode that tasks are still running
    for i in range(48):
        write(root, f"c/img_{i:03d}.png", buffer.getvalue()[:-1] + bytes([i]))  # distinct bytes, same pixels
    index = scan_image_folder(root)
    cache = tmp_path / "check.json"
    cancel = threading.Event()
    seen = []

    def progress(p):
        seen.append(p.files_done)
        if p.files_done > 0:
            cancel.set()

    runner = RayRunner(chunk_size=2)
    with pytest.raises(Cancelled):
        check_images_ray(index, runner=runner, cache_path=cache, progress=progress, cancel=cancel)
    assert runner.cancelled_tasks >= 1  # tasks were queued or running when the cancel came: all cancelled
    assert runner.unended_tasks == 0  # and Ray saw every one of them end before the check returned
    # Nothing holds a CPU: two tasks of one CPU each run at the same time (each waits to see the other).
    meeting = tmp_path / "meeting"
    meeting.mkdir()

    @ray.remote(num_cpus=1, max_retries=0)
    def meet(name):
        (meeting / name).touch()
        deadline = time.monotonic() + 60
        while len(list(meeting.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        return len(list(meeting.iterdir()))

    assert ray.get([meet.remote("a"), meet.remote("b")], timeout=120) == [2, 2]
    rest = check_images(index, workers=1, cache_path=cache, cancel=threading.Event())
    assert rest.files_decoded == 48 - seen[-1]  # what finished before the cancel was cached


def test_the_cli_engine_ray_prints_the_local_report(tmp_path, local_ray, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))  # never the user's real cache
    root = damaged_tree(tmp_path / "data")
    assert cli.main(["check", str(root), "--json", "--engine", "ray"]) == 1
    on_ray = json.loads(capsys.readouterr().out)
    assert cli.main(["check", str(root), "--json"]) == 1
    local = json.loads(capsys.readouterr().out)
    assert on_ray["files_decoded"] == 30 and local["files_decoded"] == 0  # the local re-check used Ray's results
    assert on_ray["problems"] == local["problems"] and on_ray["classes"] == local["classes"]
    assert ray.is_initialized()  # the CLI used this process's Ray and left it as it was


def test_engine_ray_without_ray_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails as where it is not installed
    root = good_tree(tmp_path / "data", {"a": 2})
    assert cli.main(["check", str(root), "--engine", "ray"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "Ray, which is not installed" in err and "pip install 'balance-gui[ray]'" in err
    with pytest.raises(Exception, match="not installed"), ray_checks():
        pass


def test_address_without_engine_ray_is_refused(tmp_path, capsys):
    root = good_tree(tmp_path / "data", {"a": 2})
    assert cli.main(["check", str(root), "--address", "auto"]) == 2
    assert "--address names a Ray cluster: it needs --engine ray" in capsys.readouterr().err


def test_checks_outside_a_ray_block_stay_local(tmp_path, local_ray, monkeypatch):
    root = good_tree(tmp_path / "data", {"a": 3})
    with ray_checks():
        pass  # the dispatch is installed now
    called = []
    monkeypatch.setattr(RayRunner, "__call__", lambda self, *a: called.append(a))
    assert check_images(scan_image_folder(root), workers=1, cache_path=None).files_decoded == 3
    assert called == []
    assert getattr(images._run, "_ray_dispatch", False)


def _slow_tree(root, n: int = 48):
    """PNGs slow enough to decode (900 x 900 noise) that Ray tasks are still running when a test stops them."""
    buffer = io.BytesIO()
    noise = np.random.default_rng(7).integers(0, 256, (900, 900, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buffer, "PNG")
    for i in range(n):
        write(root, f"c/img_{i:03d}.png", buffer.getvalue()[:-1] + bytes([i]))  # distinct bytes, same pixels
    return root


@pytest.mark.slow
@pytest.mark.parametrize("to_group", [True, False], ids=["ctrl-c-to-the-group", "sigint-to-the-process"])
def test_ctrl_c_ends_check_engine_ray_with_130_and_leaves_no_ray_process(tmp_path, to_group):
    """``balance-gui check ROOT --engine ray`` stopped once progress has started by Ctrl-C (SIGINT to its
    process group, as a terminal sends it) or by SIGINT to it alone: exit status 130 once Ray is shut
    down (no crash at exit), and none of the processes it started (GCS, raylet, agents, workers)
    outlives it."""
    import os
    import re
    import signal

    from . import hostile_helpers as hh

    root = _slow_tree(tmp_path / "data")
    argv = ["check", str(root), "--engine", "ray", "--workers", "2"]
    proc, err, reader = hh.start_cli(argv, XDG_CACHE_HOME=str(tmp_path / "xdg-cache"))
    seen: set[int] = set()  # every process it started, looked for until it ends (Ray's reparent to init)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            seen.update(hh.descendants(proc.pid))
            done = [int(k) for k in re.findall(rb"\| *(\d+)/\d+ \[", bytes(err))]
            if done and done[-1] > 0:
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"the check never got there: {bytes(err)[-2000:]!r}")
        if to_group:
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGINT)
        while proc.poll() is None and time.monotonic() < deadline + 120:
            seen.update(hh.descendants(proc.pid))
            time.sleep(0.05)
        reader.join(10)
        assert proc.returncode == 130, (proc.stdout.read()[-2000:], bytes(err)[-3000:])
        assert b"interrupted" in err
        assert seen, "Ray started no process"
        assert hh.all_gone(sorted(seen), 30) == [], "processes of the Ray check outlived it"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in seen:  # only this test's own processes, by id
            if not hh.gone(pid):
                os.kill(pid, signal.SIGKILL)


def test_images_held_in_a_hugging_face_folder_get_the_local_verdicts_on_ray(tmp_path, local_ray):
    import datasets

    from balance_gui.core.dataset import open_dataset

    png = image_bytes(100, "PNG", (64, 48))
    data = [image_bytes(k) for k in range(12)] + [png[: len(png) // 2], b"text", image_bytes(3)]
    labels = [k % 2 for k in range(len(data))]
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b"])})
    column = [{"bytes": b, "path": None} for b in data]
    datasets.Dataset.from_dict({"image": column, "label": labels}, features=features).save_to_disk(str(tmp_path / "hf"))
    index = open_dataset(str(tmp_path / "hf"))
    local = check_images(index, workers=1, cache_path=None)
    on_ray = check_images_ray(index, runner=RayRunner(chunk_size=4), cache_path=None)  # bytes sent to Ray tasks

    def verdicts(result):
        return [(p.sample, p.kind, p.reason) for p in result.problems]

    assert verdicts(on_ray) == verdicts(local)
    assert [p.kind for p in local.problems] == ["corrupt", "corrupt", "duplicate"]
    assert on_ray.class_stats == local.class_stats and on_ray.files_decoded == len(data)
