"""Expected figures of one epoch of ``k`` draws, for every (mode, replacement) pair.

Notation: n_c images in class c, class weight w_c, p_c = n_c w_c / sum_j n_j w_j the
class's share of the total weight (its probability for one independent draw).

* weighted, with replacement: draws d_c ~ Multinomial(k, p); per-image probability
  q_c = p_c / n_c; distinct images n_c (1 - (1 - q_c)^k), exact.
* weighted, without replacement (torch.multinomial's successive sampling, an
  exponential race): image i is drawn iff its key E_i / w_i is among the k smallest.
  Its inclusion probability pi_c is computed numerically from that law (below);
  draws = distinct = n_c pi_c, uses per image = pi_c, share = n_c pi_c / k.
* class_aware (with replacement): d_c ~ Binomial(k, p_c) and images cycle inside the
  class, so distinct images are min(n_c, d_c); the figure is E[min(n_c, d_c)].
* stratified: d_c is floor(k p_c) or ceil(k p_c) by randomised rounding (ceil with
  probability frac(k p_c)), images cycled: E[min(n_c, d_c)] over those two values.

The GUI's table, plots and stats line and the CLI's reports all read these figures.
Nothing here imports Qt, and torch only inside ``fit_test``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import SettingsError
from .options import Mode

ArrayLike = Sequence[float] | Sequence[int] | np.ndarray

# The exact inclusion probabilities cost about groups * (images + groups) FFT rows per
# quadrature node (~0.3 s at this limit); above it the asymptotic (Rosén) form is used:
# measured within 1e-4 of the exact value from 500 images up, below any run's sampling noise.
EXACT_INCLUSION_LIMIT = 4_000
# Gauss-Legendre quadrature of the inclusion integral: panels x nodes per panel.
_PANELS = 48
_NODES = 12
# Chi-square is trusted when every class with a positive share expects at least this many draws.
MIN_EXPECTED_COUNT = 5.0

_lgamma = np.frompyfunc(math.lgamma, 1, 1)


def _lg(x: np.ndarray) -> np.ndarray:
    return np.asarray(_lgamma(np.asarray(x, dtype=np.float64)), dtype=np.float64)


def expected_shares(counts: ArrayLike, class_w: ArrayLike) -> np.ndarray:
    """p_c = n_c * w_c / sum_j n_j * w_j: each class's probability for one independent draw."""
    mass = np.asarray(counts, dtype=np.float64) * np.asarray(class_w, dtype=np.float64)
    return mass / mass.sum()


# ---------------------------------------------------------------- distinct images


def distinct_with_replacement(counts: ArrayLike, shares: ArrayLike, draws: float) -> np.ndarray:
    """Exact expected distinct images per class after ``draws`` independent draws, uniform
    inside a class: n_c (1 - (1 - q_c)^k), q_c = p_c / n_c; 0 for empty classes."""
    n = np.asarray(counts, dtype=np.float64)
    p = np.asarray(shares, dtype=np.float64)
    k = float(draws)
    if k <= 0:
        return np.zeros_like(n)
    q = np.divide(p, n, out=np.zeros_like(n), where=n > 0)
    with np.errstate(divide="ignore"):
        log_miss = np.log1p(-np.clip(q, 0.0, 1.0))  # -inf when q = 1: every draw hits the one image
    return -n * np.expm1(k * log_miss)


def _binomial_pmf(k: float, j: np.ndarray, p: np.ndarray) -> np.ndarray:
    """P(Binomial(k, p) = j), elementwise (j and p of one shape, 0 < p < 1)."""
    log_c = math.lgamma(k + 1.0) - _lg(j + 1.0) - _lg(k - j + 1.0)
    return np.exp(log_c + j * np.log(p) + (k - j) * np.log1p(-p))


def distinct_cycled(counts: ArrayLike, shares: ArrayLike, draws: int) -> np.ndarray:
    """E[min(n_c, d_c)] with d_c ~ Binomial(k, p_c): distinct images of a class whose images
    cycle (class-aware mode). E[min(n, d)] = n - sum_{j<n} (n - j) P(d = j); the sum runs over
    the window where P(d = j) is above 1e-30 (12 standard deviations around k p)."""
    n = np.asarray(counts, dtype=np.float64)
    p = np.asarray(shares, dtype=np.float64)
    k = int(draws)
    out = np.zeros_like(n)
    for c in np.flatnonzero((n > 0) & (p > 0)):
        nc, pc = n[c], min(float(p[c]), 1.0)
        mean = k * pc
        if pc >= 1.0:
            out[c] = min(nc, k)
            continue
        sd = math.sqrt(k * pc * (1.0 - pc))
        if nc >= mean + 12.0 * sd + 10.0:  # d_c almost never reaches n_c
            out[c] = mean
            continue
        lo = max(0, int(mean - 12.0 * sd - 10.0))
        hi = int(min(nc, k + 1))
        j = np.arange(lo, hi, dtype=np.float64)
        pmf = _binomial_pmf(float(k), j, np.full_like(j, pc))
        out[c] = nc - float(((nc - j) * pmf).sum()) if nc <= k else mean
    return out


def distinct_stratified(counts: ArrayLike, shares: ArrayLike, draws: int) -> np.ndarray:
    """E[min(n_c, d_c)] with d_c = floor(k p_c) or ceil(k p_c), ceil with probability frac(k p_c)."""
    n = np.asarray(counts, dtype=np.float64)
    kp = int(draws) * np.asarray(shares, dtype=np.float64)
    lo = np.floor(kp)
    frac = kp - lo
    return (1.0 - frac) * np.minimum(n, lo) + frac * np.minimum(n, lo + 1.0)


# ---------------------------------------------------------------- without replacement


def inclusion_probabilities(sizes: ArrayLike, weights: ArrayLike, draws: int, exact: bool | None = None) -> np.ndarray:
    """Probability that one image of each group is among ``draws`` draws without replacement.

    A group holds ``sizes[g]`` images of weight ``weights[g]``; the draw is torch.multinomial's
    successive sampling (the ``draws`` smallest keys E_i / w_i, E_i ~ Exp(1)). For an image of
    group g with key t, the others' keys below t number N_g(t) = Bin(n_g - 1, F_g(t)) +
    sum_{h != g} Bin(n_h, F_h(t)), F_h(t) = 1 - exp(-w_h t), and

        pi_g = integral over u in (0, 1) of P(N_g(t(u)) <= draws - 1),  u = F_g(t).

    ``exact`` (default: when the work is small) evaluates that integral by Gauss-Legendre
    quadrature with the count distribution convolved by FFT; otherwise Rosén's asymptotic
    form pi_g = 1 - exp(-w_g tau), with sum_g n_g pi_g = draws, is used (error O(1/N)).
    """
    n = np.asarray(sizes, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    k = int(draws)
    out = np.zeros_like(n)
    live = (n > 0) & (w > 0)
    n_live = int(n[live].sum())
    if k > n_live:
        raise SettingsError(
            f"cannot draw {k:,} times without replacement: only {n_live:,} images have a weight above zero"
        )
    if k <= 0:
        return out
    if k == n_live:
        out[live] = 1.0
        return out
    idx = np.flatnonzero(live)
    wl = w[idx] / w[idx].max()
    nl = n[idx]
    if exact is None:
        exact = idx.size * (n_live + idx.size) <= EXACT_INCLUSION_LIMIT
    out[idx] = _inclusion_exact(nl, wl, k) if exact else _inclusion_rosen(nl, wl, k)
    return out


def _inclusion_rosen(n: np.ndarray, w: np.ndarray, k: int) -> np.ndarray:
    def total(tau: float) -> float:
        return float((n * -np.expm1(-w * tau)).sum())

    lo, hi = 0.0, 1.0
    while total(hi) < k:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if total(mid) < k:
            lo = mid
        else:
            hi = mid
    return -np.expm1(-w * 0.5 * (lo + hi))


def _binomial_rows(size: int, f: np.ndarray, length: int) -> np.ndarray:
    """pmf of Binomial(size, f) for each f (rows), over 0 .. min(size, length - 1)."""
    top = min(size, length - 1)
    j = np.arange(top + 1, dtype=np.float64)
    f = np.clip(f, 0.0, 1.0)[:, None]
    log_c = math.lgamma(size + 1.0) - _lg(j + 1.0) - _lg(size - j + 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_f = np.where(j > 0, j * np.log(f), 0.0)
        log_g = np.where(size - j > 0, (size - j) * np.log1p(-f), 0.0)
    return np.exp(log_c + log_f + log_g)


def _inclusion_exact(n: np.ndarray, w: np.ndarray, k: int) -> np.ndarray:
    nodes, wts = np.polynomial.legendre.leggauss(_NODES)
    edges = np.linspace(0.0, 1.0, _PANELS + 1)
    half = 0.5 * np.diff(edges)
    s = (edges[:-1, None] + half[:, None] * (nodes[None, :] + 1.0)).ravel()
    ds = (half[:, None] * wts[None, :]).ravel()
    # u = 1 - (1 - s)^3 grades the nodes toward u = 1, where (1 - u)^(w_h / w_g) is not smooth.
    u = 1.0 - (1.0 - s) ** 3
    du = 3.0 * (1.0 - s) ** 2 * ds
    sizes = n.astype(np.int64)
    lengths = [min(int(m), k - 1) + 1 for m in sizes]
    fft_len = 1 << int(math.ceil(math.log2(max(sum(lengths), 2))))
    out = np.empty(n.size)
    for g in range(n.size):
        t = -np.log1p(-u) / w[g]
        spectrum = np.ones((u.size, fft_len // 2 + 1), dtype=np.complex128)
        for h in range(n.size):
            m = int(sizes[h]) - (1 if h == g else 0)
            if m <= 0:
                continue
            f = -np.expm1(-w[h] * t)
            spectrum *= np.fft.rfft(_binomial_rows(m, f, k), n=fft_len, axis=1)
        dist = np.fft.irfft(spectrum, n=fft_len, axis=1)[:, :k]
        below = np.clip(dist.sum(axis=1), 0.0, 1.0)  # P(N_g(t) <= k - 1)
        out[g] = float((below * du).sum())
    return np.clip(out, 0.0, 1.0)


# ---------------------------------------------------------------- all figures


@dataclass(frozen=True)
class ClassFigures:
    """Per-class expected figures of one epoch of ``draws`` draws in ``mode``; one value per class."""

    counts: np.ndarray
    shares: np.ndarray  # n_c / N: the dataset's own shares
    weights: np.ndarray
    expected_shares: np.ndarray  # expected share of the epoch's draws
    expected_draws: np.ndarray
    expected_uses_per_image: np.ndarray
    expected_distinct: np.ndarray
    draws: int
    mode: str = Mode.WEIGHTED
    replacement: bool = True


def _check_mode(mode: str, replacement: bool) -> Mode:
    try:
        m = Mode(str(mode))
    except ValueError:
        raise SettingsError(f"mode must be one of {', '.join(Mode)} (got {mode!r})") from None
    if m is not Mode.WEIGHTED and not replacement:
        raise SettingsError(f"{m} mode draws with replacement; use replacement=True")
    return m


def mode_shares(
    counts: ArrayLike, class_w: ArrayLike, draws: int, mode: str = Mode.WEIGHTED, replacement: bool = True
) -> np.ndarray:
    """Expected share of an epoch's ``draws`` draws per class in ``mode``."""
    m = _check_mode(mode, replacement)
    p = expected_shares(counts, class_w)
    if replacement or m is not Mode.WEIGHTED or draws <= 0:
        return p
    n = np.asarray(counts, dtype=np.float64)
    return n * inclusion_probabilities(n, class_w, draws) / int(draws)


def class_figures(
    counts: ArrayLike,
    class_w: ArrayLike,
    draws: int | None = None,
    *,
    mode: str = Mode.WEIGHTED,
    replacement: bool = True,
) -> ClassFigures:
    """Every expected figure of one epoch of ``draws`` draws (default N) per class."""
    m = _check_mode(mode, replacement)
    c = np.asarray(counts, dtype=np.int64)
    n = c.astype(np.float64)
    k = int(n.sum()) if draws is None else int(draws)
    p = expected_shares(n, class_w)
    if not replacement:
        pi = inclusion_probabilities(n, class_w, k)
        expected = n * pi
        shares = expected / k if k > 0 else p
        distinct = expected
    else:
        expected = k * p
        shares = p
        if m is Mode.WEIGHTED:
            distinct = distinct_with_replacement(n, p, k)
        elif m is Mode.CLASS_AWARE:
            distinct = distinct_cycled(n, p, k)
        else:
            distinct = distinct_stratified(n, p, k)
    uses = np.divide(expected, n, out=np.zeros_like(expected), where=n > 0)
    return ClassFigures(
        counts=c,
        shares=n / n.sum(),
        weights=np.asarray(class_w, dtype=np.float64),
        expected_shares=shares,
        expected_draws=expected,
        expected_uses_per_image=uses,
        expected_distinct=distinct,
        draws=k,
        mode=m,
        replacement=bool(replacement),
    )


# ---------------------------------------------------------------- goodness of fit


@dataclass(frozen=True)
class FitTest:
    """Pearson's chi-square of observed counts against expected shares, and the TV distance."""

    chi_square: float
    p_value: float
    dof: int
    tv_distance: float
    min_expected: float  # smallest expected count among classes with a positive share
    low_expected: int  # classes expecting fewer than MIN_EXPECTED_COUNT draws
    # Stratified and without-replacement runs spread draws more evenly than independent draws,
    # so the chi-square (built for multinomial counts) is conservative there.
    even_by_design: bool = False

    @property
    def valid(self) -> bool:
        """The chi-square approximation holds: every expected count is at least 5."""
        return self.low_expected == 0

    def note(self) -> str:
        """Empty when the p-value reads as usual; else why it is not to be read, or how."""
        if not self.valid:
            return (
                f"chi-square not valid: {self.low_expected:,} class(es) expect fewer than "
                f"{MIN_EXPECTED_COUNT:g} draws; read the TV distance"
            )
        if self.even_by_design:
            return "draws are spread more evenly than independent draws: a correct run reads p near 1, a small p warns"
        return ""


def fit_test(observed_counts: ArrayLike, expected_shares: ArrayLike, *, even_by_design: bool = False) -> FitTest:
    """Chi-square (p-value by the upper regularised incomplete gamma, no scipy) and TV distance.

    Classes with share 0 are left out; a draw in one gives chi-square inf, p 0. ``even_by_design``
    marks counts less variable than multinomial ones (stratified, without replacement)."""
    import torch

    o = np.asarray(observed_counts, dtype=np.float64).ravel()
    p = np.asarray(expected_shares, dtype=np.float64).ravel()
    if o.shape != p.shape:
        raise SettingsError(f"observed_counts has {o.size} entries but expected_shares has {p.size}")
    if not (np.isfinite(p).all() and (p >= 0).all()) or p.sum() <= 0:
        raise SettingsError("expected_shares must be finite, >= 0, and not all zero")
    p = p / p.sum()
    total = o.sum()
    pos = p > 0
    dof = max(int(pos.sum()) - 1, 0)
    if total <= 0:
        return FitTest(0.0, 1.0, dof, 0.0, 0.0, int(pos.sum()), even_by_design)
    tv = 0.5 * float(np.abs(o / total - p).sum())
    e = total * p[pos]
    min_e = float(e.min())
    low = int((e < MIN_EXPECTED_COUNT).sum())
    if (o[~pos] > 0).any():
        return FitTest(math.inf, 0.0, dof, tv, min_e, low, even_by_design)
    chi2 = float(((o[pos] - e) ** 2 / e).sum())
    if dof <= 0:
        return FitTest(chi2, 1.0, dof, tv, min_e, low, even_by_design)
    pv = torch.special.gammaincc(
        torch.tensor(dof / 2.0, dtype=torch.float64), torch.tensor(chi2 / 2.0, dtype=torch.float64)
    )
    return FitTest(chi2, float(pv), dof, tv, min_e, low, even_by_design)


def fit_line(fit: FitTest) -> str:
    """One line: chi-square, its degrees of freedom and p-value, or why the p-value is not to be read."""
    chi = "inf" if not math.isfinite(fit.chi_square) else f"{fit.chi_square:.4g}"
    head = f"chi-square {chi} on {fit.dof} degrees of freedom"
    if not fit.valid:
        return f"{head} ({fit.note()})"
    note = fit.note()
    return f"{head}, p-value {fit.p_value:.4g}" + (f" ({note})" if note else "")


def step_figures(step: Any, counts: ArrayLike) -> np.ndarray | None:
    """Expected distinct images per class in a ``SimulationStep``'s current epoch, for its mode;
    None when the draws of the current epoch are not known."""
    k_epoch = step.epoch_draws
    if k_epoch is None and step.epoch == 0:
        k_epoch = step.draws_done
    if k_epoch is None or step.weight_shares is None:
        return None
    n = np.asarray(counts, dtype=np.float64)
    K = step.weight_shares.size
    n = np.concatenate([n, np.zeros(max(K - n.size, 0))])[:K]
    class_w = np.divide(step.weight_shares, n, out=np.zeros(K), where=n > 0)
    return class_figures(n, class_w, k_epoch, mode=step.mode, replacement=step.replacement).expected_distinct
