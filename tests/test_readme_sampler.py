"""The README's sampler sections hold code that runs: each section's python blocks, in order."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def section_code(title: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    body = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, flags=re.S)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_integration_section_runs():
    blocks = section_code("Use with Lightning / Accelerate / StatefulDataLoader")
    assert len(blocks) == 3
    ns: dict = {}
    for code in blocks:
        exec(compile(code, str(README), "exec"), ns)
    assert len(ns["head"]) == 3 and ns["rest"]
    assert sum(len(b[0]) for b in ns["batches"]) == 100


def test_progressive_schedule_recipe_runs(capsys):
    (code,) = section_code("Recipe: a progressive schedule, raw to balanced over E epochs")
    exec(compile(code, str(README), "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and "Q=1.00" in lines[0] and "Q=0.00" in lines[-1]
    last = [float(x) for x in lines[-1].split("shares [")[1].rstrip("]").split(", ")]
    assert all(abs(x - 0.25) < 0.1 for x in last)  # balanced at the end
