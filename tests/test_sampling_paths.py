"""The sampler library is its own package, ``balance_gui.sampling``; the old paths that exported
snippets import (``balance_gui.core.sampler`` and the like) are the same modules: one class object
per name, so ``isinstance``, pickles and settings patched on either path hold for both."""

from __future__ import annotations

import importlib
import pickle
import subprocess
import sys

import numpy as np
import pytest

import balance_gui
import balance_gui.sampling

MOVED = (
    "sampler",
    "draws",
    "epochs",
    "sampler_inputs",
    "sampler_state",
    "pk_sampler",
    "distributed_pk",
    "repeat_factor_sampler",
    "recipes",
)


@pytest.mark.parametrize("name", MOVED)
def test_the_old_path_is_the_same_module(name):
    new = importlib.import_module(f"balance_gui.sampling.{name}")
    old = importlib.import_module(f"balance_gui.core.{name}")
    assert old is new and old.__name__ == f"balance_gui.sampling.{name}"
    assert getattr(balance_gui.core, name) is new  # `import balance_gui.core.X as m` binds the same module
    public = [n for n in vars(new) if not n.startswith("__")]
    assert public and all(getattr(old, n) is getattr(new, n) for n in public)


def test_each_old_path_imported_first():
    """An exported snippet imports an old path before anything else of the package: each one, in a
    fresh interpreter (the package's modules forgotten between them, torch kept), gives the new module."""
    code = (
        "import importlib, sys\n"
        f"for name in {MOVED!r}:\n"
        "    for m in [m for m in sys.modules if m.startswith('balance_gui')]:\n"
        "        del sys.modules[m]\n"
        "    old = importlib.import_module('balance_gui.core.' + name)\n"
        "    new = importlib.import_module('balance_gui.sampling.' + name)\n"
        "    assert old is new and sys.modules['balance_gui.core.' + name] is new, name\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def test_package_exports_are_the_module_classes():
    from balance_gui.core.repeat_factor_sampler import RepeatFactorSampler as OldRFS
    from balance_gui.core.sampler import BalancedSampler as OldSampler
    from balance_gui.sampling.repeat_factor_sampler import RepeatFactorSampler
    from balance_gui.sampling.sampler import BalancedSampler

    assert balance_gui.sampling.BalancedSampler is BalancedSampler is OldSampler is balance_gui.BalancedSampler
    assert balance_gui.sampling.RepeatFactorSampler is RepeatFactorSampler is OldRFS
    for name in balance_gui.sampling.__all__:
        assert getattr(balance_gui.sampling, name) is not None, name
    with pytest.raises(AttributeError):
        _ = balance_gui.sampling.NoSuchSampler


def test_a_sampler_made_on_the_old_path_is_one_of_the_new_and_pickles_to_it():
    from balance_gui.core.sampler import BalancedSampler as Old
    from balance_gui.sampling.sampler import BalancedSampler

    s = Old(np.array([1.0, 2.0, 3.0, 4.0]), num_samples=8, seed=3)
    assert isinstance(s, BalancedSampler) and type(s).__module__ == "balance_gui.sampling.sampler"
    back = pickle.loads(pickle.dumps(s))
    assert type(back) is BalancedSampler and list(back) == list(s)


def test_a_setting_patched_on_the_old_path_is_seen_by_the_new(monkeypatch):
    import balance_gui.core.draws as old
    import balance_gui.sampling.draws as new

    monkeypatch.setattr(old, "CHUNK_SIZE", 7)
    assert new.CHUNK_SIZE == 7


def test_the_package_imports_neither_torch_nor_numpy():
    code = "import sys, balance_gui.sampling; print([m for m in ('torch', 'numpy') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"
