"""``balance-gui check`` run as a user runs it: a subprocess, its output and its exit status."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from .test_images import good_tree, image_bytes, write


def run_check(tmp_path, *argv):
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "xdg-cache"))  # never the user's real cache
    return subprocess.run(
        [sys.executable, "-m", "balance_gui", "check", *argv], capture_output=True, text=True, timeout=120, env=env
    )


def test_check_json_lists_problems_and_class_summaries(tmp_path):
    root = good_tree(tmp_path / "data", {"ant": 40, "bee": 20})  # enough files for the worker processes
    write(root, "bee/zero.jpg", b"")
    write(root, "bee/cut.jpg", image_bytes(500, "JPEG", (64, 64))[:400])
    shutil.copy(root / "ant" / "img_002.jpg", root / "bee" / "zz_copy.jpg")
    proc = run_check(tmp_path, str(root), "--json", "--workers", "2")
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    problems = {p["path"]: p for p in report["problems"]}
    assert set(problems) == {"bee/zero.jpg", "bee/cut.jpg", "bee/zz_copy.jpg"}
    assert (
        problems["bee/zero.jpg"]["kind"] == "corrupt" and problems["bee/zero.jpg"]["reason"] == "empty file (0 bytes)"
    )
    assert problems["bee/cut.jpg"]["reason"].startswith("truncated")
    copy = problems["bee/zz_copy.jpg"]
    assert (copy["kind"], copy["duplicate_of"], copy["cross_class"]) == ("duplicate", "ant/img_002.jpg", True)
    assert [(c["name"], c["images"], c["usable"]) for c in report["classes"]] == [("ant", 40, 40), ("bee", 23, 20)]
    assert report["classes"][0]["width"] == {"min": 24, "median": 24, "max": 24}
    assert report["summary"] == {"corrupt": 2, "duplicates": 1, "cross_class_duplicates": 1}
    assert report["files_decoded"] == 63 and report["cache"].startswith(str(tmp_path / "xdg-cache"))

    again = run_check(tmp_path, str(root), "--json")
    assert json.loads(again.stdout)["files_decoded"] == 0  # the second run reads the cache


def test_check_table_and_exit_zero_when_clean(tmp_path):
    root = good_tree(tmp_path / "data", {"ant": 3, "bee": 2})
    proc = run_check(tmp_path, str(root))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.split()[:3] == ["ant", "3", "3"] for line in lines)
    assert "images: 5   usable: 5   corrupt: 0   duplicate copies: 0" in proc.stdout
    assert "kind" not in proc.stdout  # no problem table


def test_check_table_names_each_problem(tmp_path):
    root = good_tree(tmp_path / "data", {"ant": 3})
    write(root, "ant/notes.jpg", b"plain text\n")
    proc = run_check(tmp_path, str(root))
    assert proc.returncode == 1
    row = next(line for line in proc.stdout.splitlines() if "notes.jpg" in line)
    assert row.split()[:2] == ["corrupt", "ant/notes.jpg"] and "not an image" in row


def test_check_a_manifest(tmp_path):
    root = good_tree(tmp_path / "data", {"ant": 2, "bee": 2})
    shutil.copy(root / "ant" / "img_000.jpg", root / "bee" / "copy.jpg")
    (root / "list.csv").write_text("path,label\nant/img_000.jpg,ant\nbee/img_001.png,bee\nbee/copy.jpg,bee\n")
    proc = run_check(tmp_path, "--manifest", str(root / "list.csv"), "--json")
    assert proc.returncode == 1, proc.stderr
    [dup] = json.loads(proc.stdout)["problems"]
    assert (dup["path"], dup["duplicate_of"], dup["cross_class"]) == ("bee/copy.jpg", "ant/img_000.jpg", True)


def test_check_bad_input_exits_2_with_one_line(tmp_path):
    proc = run_check(tmp_path, str(tmp_path / "missing"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "not found" in proc.stderr
    root = good_tree(tmp_path / "data", {"ant": 1})
    proc = run_check(tmp_path, str(root), "--workers", "0")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "workers" in proc.stderr
