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
from balance_gui.core.errors import SettingsError
from balance_gui.core.weights import class_weights

from .conftest import make_tree


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
        (["--epochs", "0"], "--epochs must be a whole number from 1"),
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


# ------------------------------------------------------------ hardening (issue 10)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["inspect", "{root}", "--manifest", "{manifest}"], "give a dataset folder (ROOT) or --manifest CSV, not both"),
        (["inspect", "{root}", "--draws", "-5"], "--draws must be a whole number from 1"),
        (["simulate", "{root}", "--num-samples", str(2**63)], "--num-samples must be a whole number from 1 to"),
        (["simulate", "{root}", "--seed", str(10**26)], "--seed must be a whole number from"),
        (["simulate", "{root}", "--batch-size", "0"], "--batch-size must be a whole number from 1"),
        (["simulate", "{root}", "--mode", "class_aware", "--no-replacement"], "drop --no-replacement"),
        (["simulate", "{root}", "--device", "tpu"], "--device: "),
    ],
)
def test_bad_arguments_are_refused_in_one_line_naming_the_option(capsys, small_tree, tmp_path, argv, message):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\n")
    argv = [a.format(root=small_tree, manifest=manifest) for a in argv]
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and message in err, err


def test_num_samples_at_the_draw_limit_is_accepted_by_the_check():
    import argparse

    from balance_gui.cli import check_arguments
    from balance_gui.core.sampler_inputs import MAX_DRAWS

    ok = argparse.Namespace(
        command="simulate",
        root="r",
        manifest=None,
        num_samples=MAX_DRAWS,
        epochs=1,
        batch_size=None,
        seed=2**64 - 1,
        mode="weighted",
        no_replacement=False,
    )
    check_arguments(ok)  # the largest values pass; one more is refused
    ok.seed = -(2**63)
    check_arguments(ok)
    ok.num_samples = MAX_DRAWS + 1
    with pytest.raises(SettingsError, match="--num-samples must be a whole number from 1 to 281,474,976,710,656"):
        check_arguments(ok)
    ok.num_samples, ok.epochs = MAX_DRAWS // 2, 3
    with pytest.raises(SettingsError, match="--num-samples x --epochs is 422,212,465,065,984 draws"):
        check_arguments(ok)


def test_malformed_command_line_exits_2(capsys, small_tree):
    with pytest.raises(SystemExit) as info:
        main(["inspect", str(small_tree), "--draws", "many"])
    assert info.value.code == 2 and "argument --draws" in capsys.readouterr().err


def test_a_bug_is_shown_with_its_traceback_and_exit_3(capsys, small_tree, monkeypatch):
    import balance_gui.cli as cli

    def broken(*args, **kwargs):
        raise ValueError("an internal bug, not the user's input")

    monkeypatch.setattr(cli, "inspect_report", broken)
    code, out, err = run(capsys, "inspect", str(small_tree))
    assert code == 3 and "Traceback" in err and "ValueError: an internal bug" in err and "internal error" in err
    monkeypatch.setattr(cli, "inspect_report", lambda *a: {}["missing"])
    assert run(capsys, "inspect", str(small_tree))[0] == 3


def test_verify_of_a_npy_says_only_the_length_was_checked_and_exits_1(capsys, small_tree, tmp_path):
    out_file = tmp_path / "w.npy"
    assert run(capsys, "export", str(small_tree), "-o", str(out_file))[0] == 0
    other = make_tree(tmp_path / "other", {"x": 26, "y": 26})  # another dataset, the same length
    for root in (small_tree, other):
        code, out, _ = run(capsys, "verify", str(out_file), str(root))
        assert code == 1 and "only its length could be checked" in out and "matches" not in out


def test_verify_of_a_json_checks_classes_and_counts(capsys, small_tree, tmp_path):
    out_file = tmp_path / "w.json"
    assert run(capsys, "export", str(small_tree), "-o", str(out_file))[0] == 0
    code, out, _ = run(capsys, "verify", str(out_file), str(small_tree))
    assert code == 0 and "the same 3 classes with the same counts (a .json holds no file names)" in out


def _non_utf8_tree(tmp_path):
    root = tmp_path / "data"
    for cls in (b"caf\xe9", b"plain"):
        folder = os.path.join(os.fsencode(str(root)), cls)
        os.makedirs(folder)
        for name in (b"a\xff.jpg", b"b.jpg", b"new\nline.jpg"):
            with open(os.path.join(folder, name), "wb"):
                pass
    return root


def test_non_utf8_names_print_under_a_utf8_locale(tmp_path):
    root = _non_utf8_tree(tmp_path)
    env = {**os.environ, "LC_ALL": "C.UTF-8", "PYTHONPATH": os.getcwd()}
    env.pop("PYTHONIOENCODING", None)
    proc = subprocess.run([sys.executable, "-m", "balance_gui", "inspect", str(root)], capture_output=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert any(line.split()[1:2] == ["caf\\351"] for line in proc.stdout.decode("utf-8").splitlines())


def test_non_utf8_names_are_printed_with_backslash_escapes(tmp_path, monkeypatch):
    import io

    root = _non_utf8_tree(tmp_path)

    def cli(*argv):
        # What a UTF-8 terminal does: encode strictly. A lone surrogate used to raise here.
        out, err = io.BytesIO(), io.BytesIO()
        monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(out, encoding="utf-8", errors="strict"))
        monkeypatch.setattr(sys, "stderr", io.TextIOWrapper(err, encoding="utf-8", errors="strict"))
        code = main(list(argv))
        sys.stdout.flush()
        sys.stderr.flush()
        return code, out.getvalue().decode("utf-8"), err.getvalue().decode("utf-8")

    code, out, err = cli("inspect", str(root), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert [c["name"] for c in report["classes"]] == ["caf\\351", "plain"]
    json.dumps(report, ensure_ascii=False).encode("utf-8")  # no lone surrogate anywhere
    code, out, err = cli("simulate", str(root), "--num-samples", "100")
    assert code == 0 and "caf\\351" in out, err
    weights = tmp_path / "w.csv"
    code, _, err = cli("export", str(root), "-o", str(weights))
    assert code == 0, err
    code, out, err = cli("verify", str(weights), str(root))
    assert code == 0 and "matches" in out, err
    os.remove(os.path.join(os.fsencode(str(root)), b"caf\xe9", b"new\nline.jpg"))
    code, out, err = cli("verify", str(weights), str(root))
    assert code == 2 and len(err.splitlines()) == 1 and "'caf\\351/new\\nline.jpg'" in err, err
    code, _, err = cli("inspect", os.fsdecode(os.path.join(os.fsencode(str(tmp_path)), b"missing\xe9")))
    assert code == 2 and "missing\\351" in err


# ---------------------------------------------------------------- --usable: counts without corrupt files and copies


@pytest.fixture
def usable_tree(tmp_path, monkeypatch):
    """Real images: ant 10 (one empty file, one copy inside ant), bee 5 (one copy of an ant image: a
    label conflict, both copies excluded), cat 4 (one truncated PNG). Usable: 7, 4, 3."""
    import shutil

    from .test_images import good_tree, image_bytes, write

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # never the user's real cache
    root = good_tree(tmp_path / "data", {"ant": 8, "bee": 4, "cat": 3})
    write(root, "ant/zero.jpg", b"")
    shutil.copy(root / "ant" / "img_002.jpg", root / "ant" / "img_002_copy.jpg")
    shutil.copy(root / "ant" / "img_001.png", root / "bee" / "zz_copy.png")
    write(root, "cat/cut.png", image_bytes(77, "PNG", (64, 48))[:300])
    return root


UNUSABLE = ["ant/img_001.png", "ant/img_002_copy.jpg", "ant/zero.jpg", "bee/zz_copy.png", "cat/cut.png"]
EXCLUDED_LINE = "5 samples excluded (weight 0: corrupt or duplicate copies)"


@pytest.mark.parametrize("ext", [".pt", ".csv", ".json", ".npy"])
def test_export_usable_round_trips_in_every_format(capsys, usable_tree, tmp_path, ext):
    from balance_gui.core.dataset import scan_image_folder
    from balance_gui.core.weightsfile import load_weights

    out_file = tmp_path / f"w{ext}"
    code, _, err = run(capsys, "export", str(usable_tree), "-o", str(out_file), "--usable", "--scheme", "sqrt")
    assert code == 0, err
    assert f"19 samples in 3 classes, scheme sqrt; {EXCLUDED_LINE}" in err
    index = scan_image_folder(usable_tree)
    w = class_weights([7, 4, 3], "sqrt")
    if ext == ".json":
        record = json.loads(out_file.read_text())
        assert record["counts"] == [10, 5, 4] and record["usable_counts"] == [7, 4, 3]
        assert record["excluded"] == [3, 1, 1] and record["class_weights"] == pytest.approx(w.tolist())
        return
    rel = index.relative_paths()
    expected = [0.0 if p in UNUSABLE else w[t] for p, t in zip(rel, index.targets.tolist(), strict=True)]
    # ImageFolder order, the excluded samples at weight 0.
    assert load_weights(out_file, str(usable_tree)).tolist() == pytest.approx(expected)
    if ext == ".pt":
        excluded = torch.load(out_file, weights_only=True)["excluded"].tolist()
        assert [rel[i] for i in excluded] == UNUSABLE


def test_verify_says_how_many_samples_a_file_excludes(capsys, usable_tree, tmp_path):
    for ext in (".pt", ".csv", ".json"):
        path = tmp_path / f"w{ext}"
        assert run(capsys, "export", str(usable_tree), "-o", str(path), "--usable")[0] == 0
        code, out, err = run(capsys, "verify", str(path), str(usable_tree))
        assert code == 0, err
        assert out.strip().endswith(f"14 can be drawn; {EXCLUDED_LINE}"), out
    run(capsys, "export", str(usable_tree), "-o", str(tmp_path / "all.pt"))
    code, out, _ = run(capsys, "verify", str(tmp_path / "all.pt"), str(usable_tree))
    assert code == 0 and out.strip().endswith("19 can be drawn")  # identity checked as before, nothing excluded
    (usable_tree / "bee" / "zz_copy.png").unlink()  # the dataset changed: identity still refuses
    code, _, err = run(capsys, "verify", str(tmp_path / "w.pt"), str(usable_tree))
    assert code == 2 and "1 file(s) missing from the dataset" in err


@pytest.mark.parametrize("scheme", ["inverse", "sqrt", "effective:0.9"])
def test_inspect_usable_shows_the_figures_of_the_usable_counts(capsys, usable_tree, scheme):
    from balance_gui.core.expected import class_figures
    from balance_gui.core.weights import dataset_figures

    code, out, err = run(capsys, "inspect", str(usable_tree), "--usable", "--json", "--scheme", scheme)
    assert code == 0, err
    report = json.loads(out)
    usable = np.array([7, 4, 3])
    fig = class_figures(usable, class_weights(usable, scheme), None)
    assert report["usable"] is True and report["excluded"] == 5 and report["draws"] == 14
    rows = report["classes"]
    assert [c["count"] for c in rows] == usable.tolist()
    for key, values in (
        ("share", fig.shares),
        ("weight", fig.weights),
        ("expected_share", fig.expected_shares),
        ("expected_draws", fig.expected_draws),
        ("expected_uses_per_image", fig.expected_uses_per_image),
        ("expected_distinct", fig.expected_distinct),
    ):
        assert [c[key] for c in rows] == pytest.approx(values.tolist()), key
    assert report["dataset"] == {**report["dataset"], **dataset_figures(usable).as_dict()}
    code, table, _ = run(capsys, "inspect", str(usable_tree), "--usable", "--scheme", scheme)
    assert code == 0 and f"counts are usable images: {EXCLUDED_LINE}" in table
    assert any(line.split()[:3] == ["0", "ant", "7"] for line in table.splitlines())
    plain = json.loads(run(capsys, "inspect", str(usable_tree), "--json")[1])
    assert "usable" not in plain and [c["count"] for c in plain["classes"]] == [10, 5, 4]


def test_workers_without_usable_is_refused(capsys, usable_tree, tmp_path):
    code, _, err = run(capsys, "export", str(usable_tree), "-o", str(tmp_path / "w.pt"), "--workers", "2")
    assert code == 2 and "--workers sets the image check's processes: it needs --usable" in err
    assert not (tmp_path / "w.pt").exists()


def test_sampling_from_a_usable_file_never_draws_an_excluded_sample(capsys, usable_tree, tmp_path):
    from balance_gui.core.dataset import scan_image_folder
    from balance_gui.core.expected import expected_shares
    from balance_gui.core.sampler import BalancedSampler
    from balance_gui.core.weightsfile import load_weights

    path = tmp_path / "w.pt"
    assert run(capsys, "export", str(usable_tree), "-o", str(path), "--usable", "--scheme", "sqrt")[0] == 0
    weights = load_weights(path, str(usable_tree))
    index = scan_image_folder(usable_tree)
    excluded = torch.load(path, weights_only=True)["excluded"]
    draws = 40_000
    drawn = torch.tensor(list(BalancedSampler(weights, draws, generator=torch.Generator().manual_seed(7))))
    assert not torch.isin(drawn, excluded).any()
    # The rest follows the law of the usable counts: 4 sigma of a binomial share at 40,000 draws is < 0.01.
    shares = np.bincount(index.targets[drawn.numpy()], minlength=3) / draws
    expected = expected_shares([7, 4, 3], class_weights([7, 4, 3], "sqrt"))
    assert shares == pytest.approx(expected, abs=0.01)
    torch_drawn = torch.multinomial(weights, draws, replacement=True, generator=torch.Generator().manual_seed(7))
    assert not torch.isin(torch_drawn, excluded).any()


def test_export_usable_in_worker_processes(capsys, usable_tree, tmp_path):
    from .test_images import image_bytes, write

    for i in range(40):  # enough files to start the worker processes
        write(usable_tree, f"dog/dog_{i:03d}.png", image_bytes(1000 + i))
    out = tmp_path / "w.pt"
    code, _, err = run(capsys, "export", str(usable_tree), "-o", str(out), "--usable", "--workers", "2")
    assert code == 0, err
    assert err.strip().splitlines()[-1] == f"wrote {out}: 59 samples in 4 classes, scheme inverse; {EXCLUDED_LINE}"
    record = torch.load(out, weights_only=True)
    assert [record["samples"][i] for i in record["excluded"].tolist()] == UNUSABLE
    # Weights on the usable counts (7, 4, 3, 40): each class gets a quarter of the mass.
    mass = torch.zeros(4, dtype=torch.float64).index_add_(0, record["targets"], record["weights"])
    assert mass.tolist() == pytest.approx([mass[0].item()] * 4)
    code, _, err = run(capsys, "export", str(usable_tree), "-o", str(out), "--usable", "--workers", "0")
    assert code == 2 and err.count("\n") == 1 and "workers" in err


def test_export_usable_from_a_manifest(capsys, usable_tree, tmp_path):
    manifest = tmp_path / "list.csv"
    manifest.write_text(
        "path,label\n"
        + "".join(
            f"{usable_tree}/{p},{p.split('/')[0]}\n" for p in ("ant/img_000.jpg", "ant/zero.jpg", "bee/img_001.png")
        )
    )
    out = tmp_path / "w.pt"
    code, _, err = run(capsys, "export", "--manifest", str(manifest), "-o", str(out), "--usable")
    assert code == 0, err
    record = torch.load(out, weights_only=True)
    assert [record["samples"][i] for i in record["excluded"].tolist()] == [f"{usable_tree}/ant/zero.jpg"]
    code, out_text, _ = run(capsys, "verify", str(out), "--manifest", str(manifest))
    assert code == 0 and "; 1 sample excluded (weight 0: corrupt or duplicate copies)" in out_text
