"""One home per weighting scheme and per sampler mode: the registries (core.schemes, core.modes)
are what the weights, the expected figures, the sampler, the CLI and the GUI read."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from balance_gui.cli import _parser, check_arguments
from balance_gui.core import schemes
from balance_gui.core.errors import SettingsError
from balance_gui.core.expected import class_figures, mode_shares
from balance_gui.core.modes import MODES, checked_mode, sampler_mode
from balance_gui.core.options import Implementation, Mode
from balance_gui.core.sampler import MODES as SAMPLER_MODE_NAMES
from balance_gui.core.sampler import BalancedSampler
from balance_gui.core.schemes import SCHEMES, Scheme, parse_scheme, scheme_kind
from balance_gui.core.simulate import simulate
from balance_gui.core.weights import SCHEME_NAMES, class_weights

ROOT = Path(__file__).resolve().parent.parent
COUNTS = np.array([50, 20, 5, 0, 1])


# ---------------------------------------------------------------- schemes


def test_scheme_keys_and_labels_are_each_schemes_own():
    keys = [k.key for k in SCHEMES]
    assert len(set(keys)) == len(keys) and SCHEME_NAMES == tuple(keys)
    labels = [k.label for k in SCHEMES]
    assert len(set(labels)) == len(labels)
    # "balanced" is a scheme and a sampler: each list keeps its own text (the scheme list once
    # showed "balance-gui sampler")
    assert scheme_kind("balanced").label.startswith("Balanced") and "N / (C" in scheme_kind("balanced").label
    assert Implementation.BALANCED.label == "balance-gui sampler"
    assert all(k.label != Implementation.BALANCED.label for k in SCHEMES)


@pytest.mark.parametrize("kind", SCHEMES, ids=lambda k: k.key)
def test_every_scheme_with_a_number_parses_its_example_and_offers_a_valid_default(kind):
    p = kind.parameter
    if p is None:
        return
    s = parse_scheme(f"{kind.key}:{p.example}")
    assert s == Scheme(kind.key, float(p.example)) and str(s) == f"{kind.key}:{float(p.example):g}"
    assert p.low <= p.default <= p.high and p.check(p.default, str(p.default)) is None
    assert kind.syntax == f"{kind.key}:{p.syntax}"
    with pytest.raises(SettingsError, match=f"scheme '{kind.key}' needs {p.noun}"):
        parse_scheme(f"{kind.key}:")


@pytest.mark.parametrize(
    "text, stored",
    [
        ("inverse", "inverse"),
        (" Balanced ", "balanced"),
        ("SQRT", "sqrt"),
        ("power:0.5", "power:0.5"),
        ("effective:0.999", "effective:0.999"),
        ("rfs:0.001", "rfs:0.001"),
        ("none", "none"),
    ],
)
def test_every_spelling_weights_files_store_still_parses_to_itself(text, stored):
    """A weights file stores ``str(scheme)``; reading it back gives the same scheme and weights."""
    s = parse_scheme(text)
    assert str(s) == stored and parse_scheme(str(s)) == s
    np.testing.assert_array_equal(class_weights(COUNTS, s), class_weights(COUNTS, stored))


def test_a_bare_json_path_is_the_custom_scheme(tmp_path):
    path = tmp_path / "w.json"
    path.write_text('{"a": 2, "b": 0.5}')
    s = parse_scheme(str(path))
    assert s.name == "custom" and s.source == str(path) and dict(s.custom or {}) == {"a": 2.0, "b": 0.5}
    np.testing.assert_array_equal(class_weights([3, 4], s, ["a", "b"]), [2.0, 0.5])


def test_unknown_scheme_names_every_spelling():
    with pytest.raises(SettingsError) as info:
        parse_scheme("bogus")
    for kind in SCHEMES:
        assert kind.syntax in str(info.value)


def test_cli_scheme_help_is_the_registry():
    sub = _parser()._subparsers._group_actions[0].choices["inspect"]  # type: ignore[union-attr]
    (action,) = [a for a in sub._actions if "--scheme" in a.option_strings]
    assert action.default == schemes.DEFAULT_SCHEME
    assert action.help == ", ".join(k.syntax + (" (default)" if k.key == "inverse" else "") for k in SCHEMES)


# ---------------------------------------------------------------- modes


def test_mode_keys_are_unique_and_the_samplers():
    keys = [m.key for m in MODES]
    assert len(set(keys)) == len(keys) and SAMPLER_MODE_NAMES == tuple(keys)
    assert {str(m) for m in Mode} <= set(keys)  # the named constants are registered modes
    assert Mode.STRATIFIED.label == sampler_mode("stratified").label


def test_an_unknown_mode_is_an_error_not_a_default_formula():
    for call in (
        lambda: class_figures([3, 4], [1.0, 1.0], mode="round_robin"),
        lambda: mode_shares([3, 4], [1.0, 1.0], 5, mode="round_robin"),
        lambda: BalancedSampler([1.0, 2.0], num_samples=3, mode="round_robin"),
    ):
        with pytest.raises(SettingsError, match="mode must be one of " + ", ".join(m.key for m in MODES)):
            call()


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.key)
def test_a_replacement_only_mode_is_refused_without_replacement_everywhere(mode, tmp_path):
    """Figures, sampler and CLI read one flag: no mode is refused in one place and drawn in another."""
    cw = [1.0, 2.0, 3.0]
    if not mode.replacement_only:
        assert class_figures([3, 4, 5], cw, 6, mode=mode.key, replacement=False).draws == 6
        assert len(list(BalancedSampler([1.0, 2.0, 3.0], num_samples=2, replacement=False, mode=mode.key))) == 2
        return
    with pytest.raises(SettingsError, match="draws with replacement"):
        checked_mode(mode.key, False)
    with pytest.raises(SettingsError, match="draws with replacement"):
        class_figures([3, 4, 5], cw, 6, mode=mode.key, replacement=False)
    with pytest.raises(ValueError, match="draws with replacement"):
        list(BalancedSampler(targets=[0, 1, 2], class_weights=cw, replacement=False, mode=mode.key))
    args = _parser().parse_args(["simulate", str(tmp_path), "--mode", mode.key, "--no-replacement"])
    with pytest.raises(SettingsError, match="drop --no-replacement"):
        check_arguments(args)


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.key)
def test_torch_sampler_runs_exactly_the_modes_that_say_so(mode):
    t, cw = np.array([0, 0, 1, 1, 1, 2]), np.array([1.0, 2.0, 3.0])
    run = lambda: list(simulate(t, cw, num_samples=12, mode=mode.key, implementation="torch", seed=0))  # noqa: E731
    if mode.torch_sampler:
        assert run()[-1].draws_done == 12
    else:
        with pytest.raises(SettingsError, match="WeightedRandomSampler only draws by weight"):
            run()


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.key)
def test_each_modes_figures_are_what_class_figures_reports(mode):
    cw = class_weights(COUNTS, "sqrt")
    f = class_figures(COUNTS, cw, 40, mode=mode.key)
    own = mode.figures(COUNTS.astype(np.float64), cw, 40, True)
    np.testing.assert_array_equal(f.expected_distinct, own.distinct)
    np.testing.assert_allclose(f.expected_draws.sum(), 40)
    assert f.mode == mode.key and isinstance(f.mode, str)


# ---------------------------------------------------------------- packaging and imports


def test_the_registries_load_without_torch():
    """The GUI lists schemes and modes before torch loads: neither registry may import it."""
    code = "import sys, balance_gui.core.modes, balance_gui.core.schemes; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


def test_every_package_ships_in_the_wheel():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "balance_gui").rglob("__init__.py")}
    assert found <= listed, f"not in pyproject.toml's packages: {sorted(found - listed)}"
