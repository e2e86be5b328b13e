"""The repeat-factor scheme of LVIS/detectron2: r_c = max(1, sqrt(T / f_c)), f_c = n_c / N."""

from __future__ import annotations

import numpy as np
import pytest

from balance_gui.core.errors import SettingsError
from balance_gui.core.weights import SCHEME_NAMES, class_weights, parse_scheme


def test_rfs_weights_are_the_repeat_factors():
    counts = np.array([900, 90, 9, 1, 0])
    w = class_weights(counts, "rfs:0.01")
    f = counts[:4] / counts.sum()
    np.testing.assert_allclose(w[:4], np.maximum(1.0, np.sqrt(0.01 / f)))
    assert w[0] == 1.0 and w[4] == 0.0  # frequent classes are not repeated; empty ones never drawn
    assert str(parse_scheme("rfs:0.001")) == "rfs:0.001" and "rfs" in SCHEME_NAMES


@pytest.mark.parametrize("text", ["rfs", "rfs:x", "rfs:0", "rfs:-1", "rfs:inf"])
def test_rfs_needs_a_positive_threshold(text):
    with pytest.raises(SettingsError, match="rfs"):
        parse_scheme(text)
