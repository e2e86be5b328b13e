"""The real window's run, with weights on usable images, and its "Use in Training" lines run in a
subprocess: the lines draw exactly the samples the app's run drew, and never an excluded file."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from ..test_images import image_bytes, write
from .conftest import open_and_wait
from .test_run import run_to_end, set_params
from .test_wiring import run_check

RUNNER = r"""
import json, sys
ns = {}
exec(compile(open(sys.argv[1]).read(), "<snippet>", "exec"), ns)
batches = [list(b) for b in ns["sampler"]]
for i in sorted({i for b in batches for i in b}):
    ns["dataset"][i]  # every drawn file opens: no corrupt one
print(json.dumps({"batches": batches, "classes": list(ns["dataset"].classes)}))
"""


@pytest.fixture
def broken_tree(tmp_path):
    """ant's last file is corrupt and bee holds a copy of an ant image (a label conflict: both copies
    excluded), cat a copy of a cat image: 4 excluded files."""
    root = tmp_path / "broken"
    for i in range(3):
        write(root, f"ant/a{i}.png", image_bytes(100 + i))
    write(root, "ant/z_broken.jpg", b"this is not a JPEG")
    write(root, "bee/b0.png", image_bytes(200))
    write(root, "bee/b1_copy.png", image_bytes(100))  # a copy of ant/a0.png, in another class
    for i in range(4):
        write(root, f"cat/c{i}.png", image_bytes(300 + i))
    write(root, "cat/d_copy.png", image_bytes(301))
    return root


@pytest.mark.timeout(240)
@pytest.mark.parametrize("mode", ["class_aware", "stratified"])
def test_use_in_training_draws_what_the_run_drew_on_usable_images(qtbot, window, broken_tree, tmp_path, mode):
    assert open_and_wait(qtbot, window, broken_tree) == "ok"
    assert run_check(qtbot, window) == "ok"
    window.usable_check.setChecked(True)
    s = window.session
    excluded = s.excluded
    assert s.use_usable and excluded is not None and excluded.sum() == 4
    set_params(window, num_samples=36, seed=5, batch_size=4, mode=mode)
    step = run_to_end(qtbot, window)
    assert step.draws_done == 36 and not step.image_uses[excluded].any()
    path = str(tmp_path / "w.pt")
    with qtbot.waitSignal(window.weightsExported, timeout=60_000):
        window.export_weights_to(path)
    dialog = window.show_training_dialog()
    qtbot.addWidget(dialog)
    snippet = dialog.text.toPlainText()
    assert not dialog.warning.isVisible() and "load_sampler(" in snippet and "scatter_" not in snippet
    script = tmp_path / "snippet.py"
    script.write_text(snippet)
    runner = tmp_path / "run_snippet.py"
    runner.write_text(RUNNER)
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    done = subprocess.run([sys.executable, str(runner), str(script)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    assert out["classes"] == ["ant", "bee", "cat"]
    assert [len(b) for b in out["batches"]] == [4] * 9
    drawn = [i for b in out["batches"] for i in b]
    # the app's run drew these very samples, each as often; none of them excluded
    np.testing.assert_array_equal(np.bincount(drawn, minlength=len(excluded)), step.image_uses)
    assert not excluded[drawn].any()
    # ant (whose last file is excluded) keeps its share: drawn, from its usable files only
    ant = np.flatnonzero((np.asarray(window.index.targets) == 0) & ~excluded)
    assert set(drawn) & set(ant.tolist())
    dialog.close()
