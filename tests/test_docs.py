"""The README and docs/ hold code that runs, links that resolve, and no path of the machine they
were written on. Each file's python blocks run in order in one namespace, in a scratch folder
holding a copy of the demo dataset (and the damaged copy `docs/image-check.md` makes)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "resources" / "demo"
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """A working folder with resources/demo, and demo/ damaged as docs/image-check.md damages it."""
    shutil.copytree(DEMO, tmp_path / "resources" / "demo")
    demo = tmp_path / "demo"
    shutil.copytree(DEMO, demo)
    with open(demo / "star" / "star_0003.jpg", "r+b") as f:
        f.truncate(300)
    (demo / "dots" / "dots_0001.jpg").write_bytes(b"")
    (demo / "ring" / "notes.jpg").write_text("meeting notes\n")
    shutil.copy(demo / "circle" / "circle_0000.jpg", demo / "plus" / "plus_0100.jpg")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_page(page: Path) -> dict:
    ns: dict = {"__name__": "__main__"}
    for code in python_blocks(page):
        exec(compile(code, str(page), "exec"), ns)
    return ns


def test_no_page_names_a_path_of_the_machine_it_was_written_on():
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        found = re.findall(r"(?<![\w.~])/(?:work|tmp|root|home|Users)/[^\s`)]*", text)
        assert not found, f"{page.name}: {found}"


def test_relative_links_resolve():
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"


def test_readme_stays_a_front_page():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 170
    assert readme.split("\n", 3)[2].startswith("```sh") and "make run" in readme and "make test" in readme
    assert "## Differences from WeightedRandomSampler" in readme  # every deliberate difference, listed here


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p)], ids=lambda p: p.name)
def test_every_python_block_runs(page, scratch, capsys):
    ns = run_page(page)
    out = capsys.readouterr().out
    if page.name == "README.md":
        assert (scratch / "weights.pt").is_file() and len(ns["weights"]) == 1316
        assert tuple(ns["x"].shape) == (64, 3, 32, 32)
        assert len(ns["sampler"]) == 1316
    if page.name == "sampler.md":
        assert len(ns["head"]) == 3 and ns["rest"]
        assert sum(len(b[0]) for b in ns["batches"]) == 100
        lines = [line for line in out.splitlines() if line.startswith("epoch")]
        assert len(lines) == 5 and "Q=1.00" in lines[0] and "Q=0.00" in lines[-1]
        last = [float(x) for x in lines[-1].split("shares [")[1].rstrip("]").split(", ")]
        assert all(abs(x - 0.25) < 0.1 for x in last)  # balanced at the end
    if page.name == "image-check.md":
        assert "3 1 [ 23 399 138  68  15  47   8]" in out and "0.0 0.0 True" in out  # a label conflict: both copies
        assert "True None 399" in out and "400 8 1314" in out  # until the circle copy is kept
