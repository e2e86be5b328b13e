"""Type checkers see the real types of balance_gui's lazy exports; ``import balance_gui`` stays light."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import balance_gui

ROOT = Path(balance_gui.__file__).resolve().parents[1]


def test_import_balance_gui_does_not_import_torch():
    code = "import sys, balance_gui; print('torch' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "False"]


def test_type_checking_block_mirrors_the_lazy_exports():
    tree = ast.parse(Path(balance_gui.__file__).read_text())
    (block,) = [n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"]
    seen = {}
    for node in block.body:
        if isinstance(node, ast.AnnAssign) and ast.unparse(node.target) == "__version__":
            continue  # read from the installed metadata when first asked for
        assert isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(("core.", "sampling."))
        for alias in node.names:
            assert alias.asname == alias.name  # explicit re-export
            seen[alias.name] = node.module
    assert seen == balance_gui._EXPORTS


@pytest.mark.slow
def test_mypy_flags_a_bad_argument_to_a_lazy_export(tmp_path):
    import mypy  # noqa: F401  (in the test extra: a missing one fails, never skips)

    snippet = tmp_path / "snippet.py"
    snippet.write_text(
        textwrap.dedent(
            """
            from balance_gui import BalancedSampler, DistributedPKBatchSampler, read_labels

            BalancedSampler([1.0, 2.0], num_samples="ten")
            DistributedPKBatchSampler([0, 1], 1, 1, seed="x")
            reveal_type(BalancedSampler.from_dataset([], scheme="sqrt"))
            reveal_type(read_labels([]).classes)
            """
        )
    )
    # torch and numpy are not analysed (seconds, not minutes): the checks are on our signatures
    config = tmp_path / "mypy.ini"
    config.write_text(
        "[mypy]\nfollow_imports = silent\nignore_missing_imports = true\n"
        "[mypy-torch.*,numpy.*,PySide6.*,pyqtgraph.*,PIL.*,tqdm.*,lightning.*]\nfollow_imports = skip\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(config), "--no-incremental", str(snippet)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith(str(snippet))]
    text = "\n".join(lines)
    assert 'Argument "num_samples" to "BalancedSampler" has incompatible type "str"' in text
    assert 'Argument "seed" to "DistributedPKBatchSampler" has incompatible type "str"' in text
    assert 'Revealed type is "balance_gui.sampling.sampler.BalancedSampler"' in text
    assert 'Revealed type is "tuple[str, ...]"' in text or "builtins.tuple[builtins.str, ...]" in text
