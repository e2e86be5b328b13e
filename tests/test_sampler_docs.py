"""The examples in the sampler modules' docstrings run (as ``pytest --doctest-modules`` would)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "balance_gui.core.sampler",
    "balance_gui.core.pk_sampler",
    "balance_gui.core.draws",
    "balance_gui.core.epochs",
    "balance_gui.core.sampler_inputs",
    "balance_gui.core.labels",
    "balance_gui.core.distributed_pk",
    "balance_gui.core.recipes",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_every_public_sampler_has_an_example():
    from balance_gui.core import sampler

    for name in ("BalancedSampler", "BalancedBatchSampler", "DistributedBalancedSampler", "PKBatchSampler"):
        assert ">>>" in (getattr(sampler, name).__doc__ or ""), name
