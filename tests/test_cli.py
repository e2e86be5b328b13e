"""The headless CLI: inspect and export on real trees, one clear line for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from balance_gui.cli import main
from balance_gui.core.weights import class_weights


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_inspect_prints_the_class_table_and_figures(capsys, small_tree):
    code, out, err = run(capsys, "inspect", str(small_tree))
    assert code == 0
    lines = out.splitlines()
    assert any(line.split()[:3] == ["0", "ant", "40"] for line in lines)
    cat_row = next(line for line in lines if line.split()[1:2] == ["cat"])
    assert cat_row.split()[4] == "26" and cat_row.split()[5] == "0.3333"  # weight N/n_c = 52/2, share 1/3
    assert "images (N): 52" in out and "classes (C): 3" in out and "imbalance ratio (max/min): 20.00" in out


def test_inspect_json_matches_core_figures(capsys, small_tree):
    code, out, _ = run(capsys, "inspect", str(small_tree), "--json", "--scheme", "power:0.5")
    assert code == 0
    report = json.loads(out)
    counts = np.array([40, 10, 2])
    w = class_weights(counts, "power:0.5")
    assert [c["name"] for c in report["classes"]] == ["ant", "bee", "cat"]
    assert [c["weight"] for c in report["classes"]] == pytest.approx(w.tolist())
    p = np.sqrt(counts) / np.sqrt(counts).sum()
    assert [c["expected_share"] for c in report["classes"]] == pytest.approx(p.tolist())
    assert report["dataset"]["num_samples"] == 52 and report["dataset"]["imbalance_ratio"] == 20
    assert report["scheme"] == "power:0.5"


def test_inspect_reports_warnings(capsys, odd_tree):
    code, out, _ = run(capsys, "inspect", str(odd_tree), "--json")
    report = json.loads(out)
    assert code == 0
    assert any(".ipynb_checkpoints" in w for w in report["warnings"])
    assert report["dataset"]["skipped_files"] >= 3
    assert report["dataset"]["skipped_extensions"][".txt"] == 1


@pytest.mark.parametrize("ext", [".pt", ".csv", ".json", ".npy"])
def test_export_every_format(capsys, small_tree, tmp_path, ext):
    out_file = tmp_path / f"w{ext}"
    code, _, err = run(capsys, "export", str(small_tree), "-o", str(out_file), "--scheme", "balanced")
    assert code == 0 and "wrote" in err
    from balance_gui.core.weightsfile import load_weights

    loaded = load_weights(out_file, str(small_tree))
    expected = class_weights([40, 10, 2], "balanced")
    if ext != ".json":
        assert loaded.shape == (52,) and loaded[0].item() == pytest.approx(expected[0])
    else:
        assert loaded[-1].item() == pytest.approx(expected[2])


def test_export_from_manifest(capsys, small_tree, tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "path,label\n" + "".join(f"data/ant/img_{i:03d}.jpg,ant\n" for i in range(3)) + "data/bee/img_000.jpg,bee\n"
    )
    code, _, _ = run(capsys, "export", "--manifest", str(manifest), "-o", str(tmp_path / "m.pt"))
    assert code == 0
    record = torch.load(tmp_path / "m.pt", weights_only=True)
    assert record["classes"] == ["ant", "bee"] and record["weights"].tolist() == [4 / 3] * 3 + [4.0]


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "dataset folder not found"),
        ("file", "not a folder"),
        ("no_classes", "no class folders"),
        ("bad_scheme", "unknown scheme"),
        ("bad_output", "does not exist"),
    ],
)
def test_bad_input_gives_one_line_and_nonzero_exit(capsys, tmp_path, small_tree, case, message):
    target = tmp_path / "x"
    args = ["inspect", str(target)]
    if case == "file":
        target.write_text("hello")
    elif case == "no_classes":
        target.mkdir()
    elif case == "bad_scheme":
        args = ["inspect", str(small_tree), "--scheme", "bogus"]
    elif case == "bad_output":
        args = ["export", str(small_tree), "-o", str(tmp_path / "no" / "w.pt")]
    code, out, err = run(capsys, *args)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err
    assert "Traceback" not in err and out == ""


def test_module_entry_point_runs_in_a_fresh_process(small_tree):
    proc = subprocess.run(
        [sys.executable, "-m", "balance_gui", "inspect", str(small_tree), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["dataset"]["num_classes"] == 3
    proc = subprocess.run(
        [sys.executable, "-m", "balance_gui", "inspect", "/definitely/missing"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "not found" in proc.stderr


def test_gui_launch_without_display_explains_what_to_do(capsys, monkeypatch):
    from balance_gui import qt_platform

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    code, _, err = run(capsys)
    assert code == 3 and "xvfb" in err
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(
        qt_platform.ctypes.util, "find_library", lambda name: None if name == "xcb-cursor" else f"lib{name}.so"
    )
    assert "apt-get install libxcb-cursor0" in qt_platform.explain_missing_platform()


def test_verify_accepts_the_right_dataset_and_names_the_difference(capsys, small_tree, tmp_path):
    out_file = tmp_path / "w.pt"
    assert run(capsys, "export", str(small_tree), "-o", str(out_file))[0] == 0
    code, out, _ = run(capsys, "verify", str(out_file), str(small_tree))
    assert code == 0 and "matches" in out and "52 samples in 3 classes" in out
    os.remove(small_tree / "ant" / "img_007.jpg")
    code, out, err = run(capsys, "verify", str(out_file), str(small_tree))
    assert code == 2 and "1 file(s) missing from the dataset: 'ant/img_007.jpg'" in err and out == ""


@pytest.mark.parametrize(
    "args, message",
    [
        (["--device", "foo"], "unknown device 'foo'"),
        (["--device", "mps"], "device 'mps' is not available"),
        (["--epochs", "0"], "epochs must be a positive int"),
        (["--no-replacement", "--num-samples", "60"], "exceeds the 52 samples with non-zero weight"),
    ],
)
def test_simulate_bad_settings_give_one_line(capsys, small_tree, args, message):
    code, out, err = run(capsys, "simulate", str(small_tree), *args)
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err


def test_simulate_without_cuda_says_so(capsys, small_tree):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the GPU path is tested in test_sampler")
    code, _, err = run(capsys, "simulate", str(small_tree), "--device", "cuda")
    assert code == 2 and "device 'cuda' is not available: no CUDA GPU or driver" in err


def test_simulate_prints_observed_against_expected(capsys, small_tree):
    code, out, _ = run(
        capsys, "simulate", str(small_tree), "--num-samples", "30000", "--seed", "3", "--mode", "class-aware"
    )
    assert code == 0
    rows = {
        line.split()[0]: line.split() for line in out.splitlines() if line.split()[:1] in (["ant"], ["bee"], ["cat"])
    }
    for name, n in (("ant", 40), ("bee", 10), ("cat", 2)):
        assert rows[name][1] == str(n)
        draws = int(rows[name][2].replace(",", ""))
        assert abs(draws - 10000) < 5 * (30000 * (1 / 3) * (2 / 3)) ** 0.5  # inverse weights: 1/3 each
        assert rows[name][3] == "33.333%"
        assert rows[name][-1] == str(n)  # 10,000 draws per class see every image
    assert "p-value" in out and "draws/s" in out
