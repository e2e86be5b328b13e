"""The reports live in the core (``core.reports``): the CLI prints exactly what they build, the old
import paths give the same functions, and importing the CLI loads neither numpy nor torch."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from balance_gui.cli import main
from balance_gui.core.dataset import open_dataset
from balance_gui.core.reports.check import check_report, format_check_report
from balance_gui.core.reports.inspect import format_inspect_report, inspect_report
from balance_gui.core.reports.simulate import format_simulation_report, simulation_record
from balance_gui.core.reports.text import excluded_note, text_table
from balance_gui.core.weights import class_weights, parse_scheme

from .conftest import make_tree


def test_old_import_paths_give_the_core_functions():
    import balance_gui.cli as cli
    import balance_gui.cli_annotations as cli_annotations
    import balance_gui.core.simulate as core_simulate
    from balance_gui.core.reports import annotation_files

    assert cli.inspect_report is inspect_report and cli.format_inspect_report is format_inspect_report
    assert cli.check_report is check_report and cli.format_check_report is format_check_report
    assert cli.excluded_note is excluded_note
    assert core_simulate.simulation_record is simulation_record
    assert core_simulate.format_simulation_report is format_simulation_report
    assert cli_annotations.annotation_report is annotation_files.annotation_report
    assert cli_annotations.format_annotation_report is annotation_files.format_annotation_report


def test_the_cli_prints_the_core_report(capsys, small_tree):
    """``inspect`` text and --json are the core report, byte for byte (the CLI adds only the newline)."""
    index = open_dataset(str(small_tree))
    scheme = parse_scheme("sqrt")
    report = inspect_report(index, scheme, class_weights(index.counts, scheme, index.classes), 20)
    assert main(["inspect", str(small_tree), "--scheme", "sqrt", "--draws", "20", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == report
    assert main(["inspect", str(small_tree), "--scheme", "sqrt", "--draws", "20"]) == 0
    assert capsys.readouterr().out == format_inspect_report(report) + "\n"
    assert [c["count"] for c in report["classes"]] == [40, 10, 2] and report["draws"] == 20


def test_text_table_aligns_names_left_and_figures_right():
    lines = text_table(("class", "count"), [("ant", "1,000"), ("bumblebee", "7")], left=(0,))
    assert lines == [
        "class      count",
        "---------  -----",
        "ant        1,000",
        "bumblebee      7",
    ]
    assert text_table(("a", "b"), [], left=(0, 1)) == ["a  b", "-  -"]  # no rows: the header's widths


def test_the_simulation_report_escapes_names(tmp_path):
    """A class name with a line break stays on its row, as ``ls -b`` shows it (the record escapes it)."""
    from balance_gui.core.simulate import simulate

    counts = np.array([30, 10])
    targets = np.repeat(np.arange(2), counts)
    last = list(simulate(targets, np.array([1.0, 3.0]), seed=0))[-1]
    names = ["two\nlines", "caf\udce9"]
    record = simulation_record(last, names, counts)
    assert [c["class"] for c in record["classes"]] == ["two\\nlines", "caf\\351"]
    text = format_simulation_report(last, names, counts)
    rows = text.splitlines()[3:5]
    assert rows[0].startswith("two\\nlines  ") and rows[1].startswith("caf\\351  ")
    assert sum(c["draws"] for c in record["classes"]) == 40


def test_a_check_report_round_trips_through_json(tmp_path):
    from balance_gui.core.images import check_images

    root = make_tree(tmp_path / "d", {"a": ["x.jpg", "y.jpg"], "b": ["z.jpg"]}, payload=b"not an image")
    index = open_dataset(str(root))
    report = check_report(index, check_images(index, workers=1))
    assert json.loads(json.dumps(report)) == report
    assert report["summary"]["corrupt"] == 3 and report["usable"] == 0
    text = format_check_report(report)
    assert "images: 3   usable: 0   corrupt: 3" in text


def test_importing_the_cli_loads_neither_numpy_nor_torch():
    code = "import sys, balance_gui.cli; print([m for m in ('numpy', 'torch') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"
