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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import SettingsError
from .options import Mode

if TYPE_CHECKING:
    from .modes import SamplerMode

ArrayLike = Sequence[float] | Sequence[int] | np.ndarray

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


def inclusion_probabilities(sizes: ArrayLike, weights: ArrayLike, draws: int) -> np.ndarray:
    """Probability that one image of each group is among ``draws`` draws without replacement.

    A group holds ``sizes[g]`` images of weight ``weights[g]``; the draw is torch.multinomial's
    successive sampling (the ``draws`` smallest keys T_i = E_i / w_i, E_i ~ Exp(1)). For an image
    of group g, the other images' keys below t number M_g(t) = Bin(n_g - 1, F_g(t)) +
    sum_{h != g} Bin(n_h, F_h(t)), F_h(t) = 1 - exp(-w_h t), and

        pi_g = integral over t > 0 of w_g exp(-w_g t) P(M_g(t) <= draws - 1) dt.

    The count's distribution is exact at every t (its characteristic function inverted on a
    window that holds all but 1e-17 of its mass, ``_below_k``), and the integral over log t is
    adaptive (Chebyshev panels, estimated error under 1e-11 per group and k 1e-11 summed over the
    images); the time range is cut where Chernoff and Bernstein bounds leave less than 1e-14
    outside. Tested within 1e-12 of enumeration and of an exact recursion; the work grows with the
    number of distinct weights (about 0.1-1 s for 10,000), not with the number of images.
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
    # images of one weight are exchangeable: one group per distinct weight
    uw, inv = np.unique(w[idx], return_inverse=True)
    un = np.bincount(inv, weights=n[idx])
    key = (un.tobytes(), uw.tobytes(), k)
    if key not in _INCLUSION_CACHE:  # a run asks for the same epoch at every step
        if len(_INCLUSION_CACHE) >= 32:
            _INCLUSION_CACHE.pop(next(iter(_INCLUSION_CACHE)))
        _INCLUSION_CACHE[key] = _race_inclusion(un, uw / uw[-1], k)
    out[idx] = _INCLUSION_CACHE[key][inv]
    return out


_INCLUSION_CACHE: dict[tuple[bytes, bytes, int], np.ndarray] = {}


# Probability left out at each end of the time range; mass of the count outside its window.
_LOG_TAIL = math.log(1e-14)
_WINDOW_LOG_TAIL = 40.0
# Error the adaptive quadrature allows, all panels together (per group, and over the images / k).
_QUAD_TOL = 1e-11
# Initial panel width of the quadrature, in log time.
_PANEL = 16.0
# A group's log(1 - F + F e^{i theta}) is summed as a power series when |F (e^{i theta} - 1)| is
# at most this (or |(1 - F) (e^{-i theta} - 1)| for F > 1/2); the others directly.
_SERIES_RATE = 0.2
_LOG_SERIES_EPS = math.log(1e-17)

# Each quadrature panel interpolates the integrand at the Chebyshev points cos(pi j / _CHEB),
# j = 0 .. _CHEB; the integral is that of the interpolant (Clenshaw-Curtis), and the last three
# Chebyshev coefficients estimate its error (they fall geometrically for the smooth integrand).
_CHEB = 32
_CHEB_X = np.cos(np.pi * np.arange(_CHEB + 1) / _CHEB)


def _chebyshev_rule() -> tuple[np.ndarray, np.ndarray]:
    m = np.arange(_CHEB + 1)
    half = np.where((m == 0) | (m == _CHEB), 0.5, 1.0)
    # coefficients c = to_coef @ values, f(x) = sum_m'' c_m T_m(x) (first and last halved)
    to_coef = (2.0 / _CHEB) * np.cos(np.pi * np.outer(m, m) / _CHEB) * half[None, :]
    even = m % 2 == 0
    moments = np.divide(2.0, 1.0 - m.astype(np.float64) ** 2, out=np.zeros(m.size), where=even) * half  # int T_m
    return moments @ to_coef, to_coef[-3:]


_CHEB_W, _CHEB_TAIL = _chebyshev_rule()


def _log_tail_above(mean: float, var: float, m: float) -> float:
    """log of an upper bound on P(X >= m) for X a sum of independent Bernoullis of this mean and
    variance: the smaller of Bernstein's and the Chernoff (Poisson) bound; 0 when m <= mean."""
    if m <= mean:
        return 0.0
    if mean <= 0.0:
        return -math.inf
    x = m - mean
    bernstein = -x * x / (2.0 * (var + x / 3.0))
    chernoff = -mean + m * (1.0 + math.log(mean) - math.log(m))
    return min(bernstein, chernoff)


def _powers(x: np.ndarray, R: int) -> np.ndarray:
    """x^r for r = 1 .. R, one row per power."""
    out = np.empty((R, x.size), dtype=x.dtype)
    if R:
        out[0] = x
    for i in range(1, R):
        np.multiply(out[i - 1], x, out=out[i])
    return out


def _below_k(n: np.ndarray, F: np.ndarray, E: np.ndarray, k: int) -> np.ndarray:
    """P(M_g(t) <= k - 1) for every group g, exact to about 1e-15; F = F_g(t) ascending, E = 1 - F.

    M(t), the number of keys below t, has characteristic function phi = prod_h beta_h^{n_h},
    beta_h(theta) = 1 - F_h + F_h e^{i theta}; M_g(t) leaves one image of g out: phi / beta_g.
    Its cumulative probability at k - 1 is a finite Fourier sum over a window [a, a + L) that
    holds all but 1e-17 of the count's mass (Bernstein), over the frequencies where |phi| is
    above 1e-17. Groups with F small (large) enter through the power series of log beta_h in
    F_h (1 - F_h), summed once over all of them, so the work is groups x terms + window."""
    G = n.size
    mu = float(n @ F)
    var = float(n @ (F * E))
    total = float(n.sum())
    c = _WINDOW_LOG_TAIL
    x = c / 3.0 + math.sqrt((c / 3.0) ** 2 + 2.0 * c * var)
    a = max(0, math.floor(mu - x) - 1)  # M_g is M or M - 1
    top = min(int(total), math.ceil(mu + x))
    if k - 1 < a:
        return np.zeros(G)
    if k - 1 >= top:
        return np.ones(G)
    L = top - a + 1
    if L % 2 == 0:  # an odd window keeps theta = pi (where beta_h can vanish) off the grid
        if a > 0:
            a -= 1
        else:
            top += 1
        L += 1
    half = (L - 1) // 2
    # |phi_g(theta)| <= exp(-(var - 1/4)(1 - cos theta)): the frequencies beyond J add < 1e-17
    v = var - 0.25
    c2 = c + math.log(2.0 + math.log(L))
    J = half
    if v > c2 / 2.0:
        J = min(half, math.ceil(math.acos(1.0 - c2 / v) * L / (2.0 * math.pi)))
    j = np.arange(-J, J + 1)
    theta = 2.0 * math.pi * j / L
    sin_half = np.sin(theta / 2.0)
    wz = -2.0 * sin_half**2 + 1j * np.sin(theta)  # e^{i theta} - 1
    rmax = 2.0 * abs(math.sin(math.pi * J / L))
    # F ascends: light series groups [0, i1), direct [i1, i2), heavy series [i2, G)
    bound = _SERIES_RATE / rmax
    i1 = int(np.searchsorted(F, min(0.5, bound), side="right"))
    i2 = max(int(np.searchsorted(F, 0.5, side="right")), int(np.searchsorted(-E, -bound, side="left")))
    ls, direct, hs = slice(0, i1), slice(i1, i2), slice(i2, G)
    Fl, nl, Eh, nh = F[ls], n[ls], E[hs], n[hs]
    rate = max(float(Fl.max(initial=0.0)), float(Eh.max(initial=0.0))) * rmax
    scale = max(1.0, float(nl @ Fl + nh @ Eh) * rmax, 2.0 + math.log(L))
    R = 1 if rate <= 0.0 else max(1, min(80, math.ceil((_LOG_SERIES_EPS - math.log(scale)) / math.log(rate)) + 1))
    r = np.arange(1, R + 1)
    sign = np.where(r % 2 == 1, 1.0, -1.0)  # (-1)^(r+1)
    PL = _powers(Fl, R)  # F_h^r, r = 1 .. R (rows)
    PH = _powers(Eh, R)
    Wp = _powers(wz, R).T  # (e^{i theta} - 1)^r
    Wb = np.conj(Wp)  # (e^{-i theta} - 1)^r
    log_psi = Wp @ (sign / r * (PL @ nl)) + Wb @ (sign / r * (PH @ nh))
    eit = np.exp(1j * theta)
    if i2 > i1:
        beta = E[direct][None, :] + F[direct][None, :] * eit[:, None]
        log_psi = log_psi + np.log(beta) @ n[direct]
    psi = np.exp(log_psi)  # phi / e^{i H theta}, H the images of the heavy series groups
    H = int(round(float(nh.sum())))
    # D(theta) = sum_{m = a}^{k - 1} e^{-i (m - H) theta}, phases reduced exactly mod L
    lo = a - H
    K = k - a
    ph_lo = 2.0 * math.pi * ((lo * j) % L) / L
    ph_K = 2.0 * math.pi * ((K * j) % L) / L
    num = 2.0 * np.sin(ph_K / 2.0) ** 2 + 1j * np.sin(ph_K)  # 1 - e^{-i K theta}
    den = 2.0 * sin_half**2 + 1j * np.sin(theta)  # 1 - e^{-i theta}
    zero = j == 0
    D = np.exp(-1j * ph_lo) * np.divide(num, den, out=np.full(j.size, complex(K)), where=~zero)
    C = psi * D / L
    out = np.empty(G)
    alt = -sign  # (-1)^r
    if i1 > 0:  # 1 / beta_g = sum_r (-F_g (e^{i theta} - 1))^r
        out[ls] = C.sum().real + (alt * (C @ Wp).real) @ PL
    if i2 < G:  # 1 / beta_g = e^{-i theta} sum_r (-(1 - F_g)(e^{-i theta} - 1))^r
        Cb = C / eit
        out[hs] = Cb.sum().real + (alt * (Cb @ Wb).real) @ PH
    if i2 > i1:
        out[direct] = (C[:, None] / beta).sum(axis=0).real
    return np.clip(out, 0.0, 1.0)


def _race_inclusion(n: np.ndarray, w: np.ndarray, k: int) -> np.ndarray:
    """Inclusion probabilities of groups of ``n`` images of distinct weights ``w`` (max 1), 0 < k < N."""
    total = float(n.sum())
    w_min = float(w.min())

    def moments(s: float) -> tuple[float, float, float]:
        t = math.exp(s)
        F = -np.expm1(-w * t)
        E = np.exp(-w * t)
        return float(n @ F), float(n @ E), float(n @ (F * E))

    # Cut where F_g(t) P(M(t) >= k) (left) and (1 - F_g(t)) P(M(t) <= k) (right) bound what is
    # left out: below the tail for every g, and below k times the tail summed over the images.
    def left_ok(s: float) -> bool:
        mu, _, var = moments(s)
        tail = _log_tail_above(mu, var, k)
        return tail == -math.inf or max(math.log(-math.expm1(-math.exp(s))), math.log(mu / k)) + tail <= _LOG_TAIL

    def right_ok(s: float) -> bool:
        _, nu, var = moments(s)
        tail = _log_tail_above(nu, var, total - k)
        return tail == -math.inf or max(-w_min * math.exp(s), math.log(nu / k)) + tail <= _LOG_TAIL

    def bisect(ok: Callable[[float], bool], ok_low: bool) -> float:
        lo, hi = -700.0, 700.0
        for _ in range(48):
            mid = 0.5 * (lo + hi)
            if ok(mid) == ok_low:
                lo = mid
            else:
                hi = mid
        return lo if ok_low else hi

    s_a = bisect(left_ok, True)
    s_b = max(bisect(right_ok, False), s_a)
    # pi_g = F_g(t_a) + integral over (t_a, t_b) of w_g t e^{-w_g t} P(M_g(t) <= k - 1) d(log t)
    result = -np.expm1(-w * math.exp(s_a))
    span = s_b - s_a
    if span <= 0.0:
        return np.clip(result, 0.0, 1.0)

    def integrand(s: float) -> np.ndarray:
        wt = w * math.exp(s)
        E = np.exp(-wt)
        return wt * E * _below_k(n, -np.expm1(-wt), E, k)

    cache: dict[float, np.ndarray] = {}  # neighbouring panels share their end points

    def values(s: float) -> np.ndarray:
        if s not in cache:
            cache[s] = integrand(s)
        return cache[s]

    panels = max(2, math.ceil(span / _PANEL))
    edges = [s_a + span * i / panels for i in range(panels)] + [s_b]
    stack = list(zip(edges[:-1], edges[1:], strict=True))
    density = _QUAD_TOL / span
    while stack:
        lo, hi = stack.pop()
        mid, rad = 0.5 * (lo + hi), 0.5 * (hi - lo)
        vals = np.array([values(hi if j == 0 else lo if j == _CHEB else mid + rad * x) for j, x in enumerate(_CHEB_X)])
        err = rad * np.abs(_CHEB_TAIL @ vals).sum(axis=0)
        # within the bound for every group, and for the expected draws summed over the images
        allowed = density * (hi - lo)
        if (float(err.max()) <= allowed and float(n @ err) <= k * allowed) or rad < 1e-9 * span or len(cache) > 20_000:
            result += rad * (_CHEB_W @ vals)
        else:
            stack += [(lo, mid), (mid, hi)]
    return np.clip(result, 0.0, 1.0)


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


def _mode(mode: str, replacement: bool) -> SamplerMode:
    # imported here: the mode files build their figures from this module's functions
    from .modes import checked_mode

    return checked_mode(mode, replacement)


def mode_shares(
    counts: ArrayLike, class_w: ArrayLike, draws: int, mode: str = Mode.WEIGHTED, replacement: bool = True
) -> np.ndarray:
    """Expected share of an epoch's ``draws`` draws per class in ``mode``."""
    n = np.asarray(counts, dtype=np.float64)
    return _mode(mode, replacement).figures(n, np.asarray(class_w, dtype=np.float64), int(draws), replacement).shares


def class_figures(
    counts: ArrayLike,
    class_w: ArrayLike,
    draws: int | None = None,
    *,
    mode: str = Mode.WEIGHTED,
    replacement: bool = True,
) -> ClassFigures:
    """Every expected figure of one epoch of ``draws`` draws (default N) per class, as ``mode``
    (one of ``core.modes.MODES``) draws them."""
    spec = _mode(mode, replacement)
    c = np.asarray(counts, dtype=np.int64)
    n = c.astype(np.float64)
    w = np.asarray(class_w, dtype=np.float64)
    k = int(n.sum()) if draws is None else int(draws)
    f = spec.figures(n, w, k, bool(replacement))
    return ClassFigures(
        counts=c,
        shares=n / n.sum(),
        weights=w,
        expected_shares=f.shares,
        expected_draws=f.draws,
        expected_uses_per_image=np.divide(f.draws, n, out=np.zeros_like(f.draws), where=n > 0),
        expected_distinct=f.distinct,
        draws=k,
        mode=spec.key,
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
