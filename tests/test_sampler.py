"""BalancedSampler: law (against closed forms), reproducibility, batching, validation, size."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch
import torch.utils._pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode

import balance_gui.core.draws as dmod
import balance_gui.core.sampler as smod
from balance_gui.core.draws import build_alias as _build_alias
from balance_gui.core.draws import mix64 as _mix64
from balance_gui.core.errors import SettingsError, WeightsError
from balance_gui.core.sampler import BalancedBatchSampler, BalancedSampler, DistributedBalancedSampler
from balance_gui.core.simulate import chi_square_test

P_MIN = 1e-4  # every goodness-of-fit test runs at a fixed seed; this threshold holds with margin


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def draw_path(sampler) -> str:
    """The draw strategy a sampler composes, by the old path names."""
    d = sampler._built.draw
    names = {"ItemsDraw": "items", "ClassAwareDraw": "class_aware", "RaceDraw": "race"}
    if type(d).__name__ == "SegmentsDraw":
        return "segments" if d.order is None else "segments+order"
    return names.get(type(d).__name__, type(d).__name__)


def draws(sampler) -> np.ndarray:
    return np.fromiter(iter(sampler), dtype=np.int64)


def assert_law(idx: np.ndarray, weights, label=""):
    """Per-item Pearson chi-square of the draws against weights / sum(weights)."""
    w = np.asarray(weights, dtype=np.float64)
    counts = np.bincount(idx, minlength=w.size)
    assert counts.size == w.size, "an index outside the items was drawn"
    assert counts[w == 0].sum() == 0, f"{label}: a zero-weight item was drawn"
    chi2, p = chi_square_test(counts, w / w.sum())
    assert p > P_MIN, f"{label}: chi2={chi2:.1f}, p={p:.2e}"


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 97 draws (prime: no batch size divides it), to exercise chunk boundaries."""
    monkeypatch.setattr(smod, "CHUNK_SIZE", 97)


# ------------------------------------------------------------------ building blocks


def test_mix64_matches_python_splitmix():
    def ref(z):
        z %= 1 << 64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % (1 << 64)
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % (1 << 64)
        z ^= z >> 31
        return z - (1 << 64) if z >= 1 << 63 else z

    x = torch.randint(-(1 << 63), (1 << 63) - 1, (5000,), generator=gen(1))
    x[:3] = torch.tensor([0, -1, (1 << 63) - 1])
    assert _mix64(x).tolist() == [ref(int(v)) for v in x]


@pytest.mark.parametrize("case", ["random", "zeros", "equal", "one", "single", "huge_ratio", "subnormal"])
def test_alias_table_is_exact(case):
    g = gen(2)
    if case == "random":
        m = torch.rand(1001, dtype=torch.float64, generator=g) ** 4
    elif case == "zeros":
        m = torch.rand(500, dtype=torch.float64, generator=g) * (torch.rand(500, generator=g) < 0.3)
    elif case == "equal":
        m = torch.full((64,), 3.0, dtype=torch.float64)
    elif case == "one":
        m = torch.zeros(50, dtype=torch.float64)
        m[17] = 2.0
    elif case == "single":
        m = torch.ones(1, dtype=torch.float64)
    elif case == "huge_ratio":
        m = torch.tensor([1e-300, 1.0, 1e12, 0.0, 5.0], dtype=torch.float64)
    else:
        m = torch.tensor([1e-320, 0.0, 3e-320, 2e-320], dtype=torch.float64)
    prob, alias = _build_alias(m)
    S = m.numel()
    assert ((prob >= 0) & (prob <= 1)).all()
    implied = prob.clone().index_add_(0, alias, 1.0 - prob) / S
    tol = 1e-3 if case == "subnormal" else 1e-10  # subnormals carry few significant bits
    assert torch.allclose(implied, m / m.sum(), rtol=tol, atol=1e-15)
    assert (implied[m == 0] == 0).all()
    # no bucket can hand out a zero-mass item
    assert (m[alias][prob < 1] > 0).all()


# ------------------------------------------------------------------ CPU draws off torch's thread pool

# torch runs an op in one thread below this many elements (at::internal::GRAIN_SIZE); above it the
# intra-op threads share the work, and they stall when the machine's other cores are busy
TORCH_GRAIN = 32768


class _BigOps(TorchDispatchMode):
    """Records the aten ops that compute on more than TORCH_GRAIN elements (views, allocation and
    random generation aside: the CPU generators are serial)."""

    def __init__(self):
        super().__init__()
        self.big: list[tuple[str, int]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func.name()
        if not func.is_view and not any(r in name for r in ("empty", "rand", "uniform", "exponential")):
            sizes = [t.numel() for t in pytree.tree_leaves((args, kwargs, out)) if isinstance(t, torch.Tensor)]
            if sizes and max(sizes) > TORCH_GRAIN:
                self.big.append((name, max(sizes)))
        return out


def _cpu_draw_kinds():
    n = 200_000
    rng = np.random.default_rng(11)
    counts = np.array([90_000, 60_000, 30_000, 15_000, 5_000])
    t = np.repeat(np.arange(5), counts)
    return {
        "items": dict(weights=rng.random(n)),
        "segments": dict(targets=t, class_weights=[1.0, 2.0, 3.0, 0.0, 5.0]),
        "segments+order": dict(targets=rng.permutation(t), class_weights=[1.0, 2.0, 3.0, 0.0, 5.0]),
        "class_aware": dict(targets=t, class_weights=[1.0, 2.0, 3.0, 0.0, 5.0], mode="class_aware"),
        "class_aware+order": dict(
            targets=rng.permutation(t), class_weights=[1.0, 2.0, 3.0, 0.0, 5.0], mode="class_aware"
        ),
        # classes of 1 to 195,000 images, drawn equally: the small ones cycle many times per chunk
        "class_aware+tiny": dict(
            targets=rng.permutation(np.repeat(np.arange(6), tiny := [1, 2, 3, 50, 4_944, 195_000])),
            class_weights=1.0 / np.array(tiny),
            mode="class_aware",
        ),
        "race": dict(weights=rng.random(n), replacement=False, num_samples=150_001),  # a whole sort
        "race+topk": dict(weights=rng.random(n), replacement=False, num_samples=20_000),  # the smallest keys
    }


_CPU_KINDS = list(_cpu_draw_kinds())
_PATHS = {"class_aware+order": "class_aware", "class_aware+tiny": "class_aware", "race+topk": "race"}


@pytest.mark.parametrize("kind", _CPU_KINDS)
def test_cpu_epochs_leave_torchs_thread_pool_alone(kind):
    """An epoch on the CPU (draws and Python ints) never gives torch an op above its grain size,
    so torch's threads cannot stall it on a busy machine (numpy does the per-draw work)."""
    kw = {"num_samples": 300_000, **_cpu_draw_kinds()[kind]}
    s = BalancedSampler(**kw, seed=1)
    assert draw_path(s) == _PATHS.get(kind, kind)
    with _BigOps() as mode:
        got = list(s)
    assert len(got) == kw["num_samples"]
    assert mode.big == []
    # the batch form: batches straddle the pieces, the carried part is joined without torch.cat
    b = BalancedBatchSampler(**kw, batch_size=100, seed=1)
    with _BigOps() as mode:
        batches = list(b)
    full, rest = divmod(kw["num_samples"], 100)
    assert [len(x) for x in batches] == [100] * full + [rest] * (rest > 0)
    assert mode.big == []
    # the last rank of a padded distributed epoch (whole-epoch draws wrap around)
    d = DistributedBalancedSampler(**kw, num_replicas=2, rank=1, seed=1)
    with _BigOps() as mode:
        got = list(d)
    assert len(got) == -(-kw["num_samples"] // 2)
    assert mode.big == []
    with _BigOps() as mode:  # the tables: only the total, torch's sum (the table's exact figures)
        dmod.ItemsDraw(torch.rand(100_000, dtype=torch.float64, generator=gen(1)), dmod.Where(torch.device("cpu")))
    assert {name for name, _ in mode.big} == {"aten::sum"}


@pytest.mark.parametrize("kind", ["continuous", "few values", "near ties", "all inf", "subnormal"])
def test_order_by_key_is_a_stable_argsort(kind):
    """Without replacement the epoch is the keys' order, ties by index: the packed int64 sort
    equals a stable argsort, also where keys share their leading bits or are equal."""
    r = np.random.default_rng(len(kind))
    for n in (0, 1, 2, 3, 17, 1000, 5000):
        if kind == "continuous":
            k = r.exponential(size=n) / r.random(n)
        elif kind == "few values":
            k = r.choice([0.0, 1.0, 1.0 + 2**-52, 2.0, np.inf], size=n)
        elif kind == "near ties":  # distinct keys sharing their leading bits
            k = np.nextafter(1.0, 2.0) ** r.integers(0, 4000, n)
        elif kind == "all inf":
            k = np.full(n, np.inf)
        else:
            k = r.choice([0.0, 5e-324, 1e-310, 2.2e-308], size=n)
        assert np.array_equal(dmod.order_by_key(k), np.argsort(k, kind="stable"))


def test_cpu_targets_check_and_order_leave_torchs_thread_pool_alone():
    """Building from scattered targets: the targets' range check and the stable argsort into
    class order run in numpy, not as one torch op over every target."""
    t = torch.from_numpy(np.random.default_rng(3).integers(0, 5, 100_000))
    with _BigOps() as mode:
        assert smod.check_targets(t, 5) is not None
    assert mode.big == []
    for m in ("weighted", "class_aware"):
        with _BigOps() as mode:
            s = BalancedSampler(targets=t, class_weights=[1.0, 2.0, 3.0, 4.0, 5.0], mode=m, seed=0)
        assert draw_path(s) == {"weighted": "segments+order", "class_aware": "class_aware"}[m]
        assert s._built.draw.order is not None
        assert torch.equal(s._built.draw.order, torch.argsort(t, stable=True))
        assert not [name for name, _ in mode.big if "sort" in name or "aminmax" in name]


@pytest.mark.parametrize("kind", _CPU_KINDS)
@pytest.mark.parametrize("second_uniform", [False, True])
def test_cpu_numpy_draws_are_the_torch_kernels_numbers(kind, second_uniform, monkeypatch):
    """The numpy path on the CPU gives exactly what torch's kernels (the GPU path) give there."""
    if second_uniform:  # tables above this size draw the acceptance test's uniform separately
        monkeypatch.setattr(dmod, "_FRAC_LIMIT", 3)
    monkeypatch.setattr(dmod, "_CPU_BLOCK", 29)
    monkeypatch.setattr(dmod, "_PERM_LOOP_MIN", 4000)  # class-aware: randperm and hash-key permutations
    kw = {"num_samples": 3000, **_cpu_draw_kinds()[kind]}
    streams = []
    for numpy_path in (True, False):
        where = dmod.Where(torch.device("cpu"), 97, numpy=numpy_path)  # chunks of 97, blocks of 29
        monkeypatch.setattr(smod, "Where", lambda device, chunk, w=where: w)
        s = BalancedSampler(**kw, seed=2)
        assert draw_path(s) == _PATHS.get(kind, kind)
        if hasattr(s._built.draw, "table"):
            assert s._built.draw.table.cpu is numpy_path
        s.set_epoch(3)
        streams.append(list(s))
        # a later rank's slice: the chunks before it are skipped (class-aware: counted)
        d = DistributedBalancedSampler(**kw, num_replicas=3, rank=2, seed=2)
        d.set_epoch(1)
        streams.append(list(d))
    assert streams[0] == streams[2]
    assert streams[1] == streams[3]


# ------------------------------------------------------------------ the law with replacement


def test_law_per_sample_distinct_weights_item_path():
    w = torch.rand(300, dtype=torch.float64, generator=gen(3)) ** 2
    w[::7] = 0
    s = BalancedSampler(w, num_samples=400_000, generator=gen(4))
    assert draw_path(s) == "items"
    assert_law(draws(s), w, "items")


def test_law_per_sample_runs_segment_path():
    # class weights expanded per sample in ImageFolder order: few runs
    counts = [700, 300, 5, 0, 1000, 60]
    cw = [1.0, 2.5, 40.0, 9.0, 0.0, 3.0]
    w = np.repeat(cw, counts)
    s = BalancedSampler(w, num_samples=300_000, generator=gen(5))
    assert draw_path(s) == "segments"
    assert_law(draws(s), w, "runs")


def test_law_class_form_sorted_and_scattered():
    rng = np.random.default_rng(6)
    counts = np.array([400, 3, 0, 250, 90, 1])
    cw = np.array([0.5, 30.0, 7.0, 0.0, 1.0, 100.0])
    t_sorted = np.repeat(np.arange(6), counts)
    t_scattered = rng.permutation(t_sorted)
    for t, path in [(t_sorted, "segments"), (t_scattered, "segments+order")]:
        s = BalancedSampler(targets=t, class_weights=cw, num_samples=300_000, generator=gen(7))
        assert draw_path(s) == path
        assert_law(draws(s), cw[t], path)


def test_law_in_small_blocks_and_chunks(small_chunks, monkeypatch):
    monkeypatch.setattr(dmod, "_CPU_BLOCK", 13)
    w = np.repeat([1.0, 4.0, 0.0, 2.0], [40, 10, 30, 20]).astype(float)
    s = BalancedSampler(w, num_samples=100_000, generator=gen(8))
    assert_law(draws(s), w, "blocks")


def test_zero_weights_never_drawn_any_path():
    w = np.zeros(2000)
    w[[5, 1999]] = [1.0, 3.0]
    for kw in [dict(weights=w), dict(weights=np.r_[w[:1000], np.arange(1000) % 3])]:
        d = draws(BalancedSampler(num_samples=50_000, generator=gen(9), **kw))
        assert set(np.unique(d)) <= set(np.flatnonzero(kw["weights"]))
    t = np.repeat([0, 1, 2], [10, 10, 10])
    d = draws(BalancedSampler(targets=t, class_weights=[0, 1, 0], num_samples=20_000, generator=gen(9)))
    assert d.min() >= 10 and d.max() <= 19


def test_default_num_samples_len_and_chunks():
    w = np.arange(10.0)
    s = BalancedSampler(w, generator=gen(0))
    assert len(s) == s.num_samples == 10
    chunks = list(s.iter_chunks())
    assert all(c.dtype == torch.int64 and c.device.type == "cpu" for c in chunks)
    assert sum(c.numel() for c in chunks) == 10


def test_iter_chunks_match_iteration(small_chunks):
    s = BalancedSampler(np.arange(1.0, 21.0), num_samples=1000, seed=1)
    s.set_epoch(2)
    chunks = list(s.iter_chunks())
    assert [c.numel() for c in chunks] == [97] * 10 + [30]
    assert torch.cat(chunks).tolist() == list(s)


def test_works_as_dataloader_sampler():
    data = torch.arange(100).float()
    s = BalancedSampler(np.r_[np.zeros(50), np.ones(50)], num_samples=64, generator=gen(2))
    batches = list(torch.utils.data.DataLoader(data, sampler=s, batch_size=16))
    got = torch.cat(batches)
    assert got.numel() == 64 and (got >= 50).all()
    bs = BalancedBatchSampler(np.r_[np.zeros(50), np.ones(50)], num_samples=64, generator=gen(2), batch_size=16)
    batches = list(torch.utils.data.DataLoader(data, batch_sampler=bs))
    assert [b.numel() for b in batches] == [16] * 4 and all((b >= 50).all() for b in batches)


# ------------------------------------------------------------------ without replacement


def successive_pair_probs(w):
    w = np.asarray(w, dtype=float)
    W = w.sum()
    P = np.zeros((w.size, w.size))
    for i, j in itertools.permutations(range(w.size), 2):
        P[i, j] = w[i] / W * w[j] / (W - w[i])
    return P


@pytest.mark.parametrize("form", ["weights", "classes"])
def test_without_replacement_ordered_pairs_exact(form):
    """k=2 of 5 (one zero): ordered-pair frequencies against the successive-sampling law."""
    if form == "weights":
        w = np.array([1.0, 2.0, 3.0, 4.0, 0.0])
        s = BalancedSampler(w, num_samples=2, replacement=False, generator=gen(10))
    else:
        t = np.array([0, 1, 1, 2, 3])
        cw = np.array([1.0, 2.5, 4.0, 0.0])
        w = cw[t]
        s = BalancedSampler(targets=t, class_weights=cw, num_samples=2, replacement=False, generator=gen(10))
    P = successive_pair_probs(w)
    counts = np.zeros_like(P)
    E = 6000
    for e in range(E):
        s.set_epoch(e)
        i, j = list(s)
        counts[i, j] += 1
    chi2, p = chi_square_test(counts.ravel(), P.ravel())
    assert p > P_MIN, (chi2, p)
    # and torch.multinomial agrees with the same closed form (sanity of the reference)
    g = gen(11)
    mc = np.zeros_like(P)
    for _ in range(3000):
        i, j = torch.multinomial(torch.as_tensor(w), 2, replacement=False, generator=g).tolist()
        mc[i, j] += 1
    assert chi_square_test(mc.ravel(), P.ravel())[1] > P_MIN


def test_without_replacement_topk_path_first_position_and_inclusion():
    w = np.r_[np.linspace(0.5, 8.0, 39), 0.0]
    s = BalancedSampler(w, num_samples=3, replacement=False, generator=gen(12))  # 8*3 < 40: topk
    first = np.zeros(40)
    seen = np.zeros(40)
    for e in range(4000):
        s.set_epoch(e)
        d = list(s)
        assert len(set(d)) == 3 and 39 not in d
        first[d[0]] += 1
        seen[d] += 1
    assert chi_square_test(first, w / w.sum())[1] > P_MIN
    # inclusion: compare to torch.multinomial's empirical inclusion frequencies (two-sample, loose)
    g = gen(13)
    ref = np.zeros(40)
    for _ in range(4000):
        ref[torch.multinomial(torch.as_tensor(w), 3, replacement=False, generator=g).numpy()] += 1
    sd = np.sqrt(ref + seen + 1)
    assert np.all(np.abs(seen - ref) < 5 * sd)


def test_without_replacement_full_draw_is_a_permutation_of_nonzero():
    w = np.array([0.0, 1.0, 5.0, 0.0, 2.0, 2.0, 9.0])
    s = BalancedSampler(w, num_samples=5, replacement=False, generator=gen(14))
    for e in range(5):
        s.set_epoch(e)
        assert sorted(s) == [1, 2, 4, 5, 6]


# ------------------------------------------------------------------ class-aware


def class_streams(d, t):
    return {c: d[t[d] == c] for c in np.unique(t)}


@pytest.mark.parametrize("layout", ["sorted", "scattered", "per_sample"])
def test_class_aware_law_and_permutation_cycles(layout, small_chunks, monkeypatch):
    monkeypatch.setattr(dmod, "_PERM_LOOP_MIN", 16)  # both permutation generators in play
    counts = np.array([40, 3, 17, 1, 0, 25])
    cw = np.array([1.0, 20.0, 2.0, 30.0, 5.0, 0.0])
    t = np.repeat(np.arange(6), counts)
    if layout == "scattered":
        t = np.random.default_rng(15).permutation(t)
    kw = dict(weights=cw[t]) if layout == "per_sample" else dict(targets=t, class_weights=cw)
    N = 3000
    s = BalancedSampler(num_samples=N, generator=gen(16), mode="class_aware", **kw)
    d = draws(s)
    assert d.size == N
    mass = counts * cw
    shares = mass / mass.sum()
    cc = np.bincount(t[d], minlength=6)
    assert cc[5] == 0 and cc[4] == 0
    assert chi_square_test(cc, shares)[1] > P_MIN
    members = {c: np.flatnonzero(t == c) for c in range(6)}
    for c, stream in class_streams(d, t).items():
        n_c = counts[c]
        uses = np.bincount(stream, minlength=t.size)[members[c]]
        assert uses.max() - uses.min() <= 1, f"class {c}: use counts {uses.min()}..{uses.max()}"
        cycles = [tuple(stream[a : a + n_c]) for a in range(0, stream.size - n_c + 1, n_c)]
        for cyc in cycles:  # every full cycle is a permutation of the class
            assert sorted(cyc) == sorted(members[c])
        if n_c >= 3 and len(cycles) >= 10:  # a fresh permutation each cycle
            assert len(set(cycles)) > 1
            assert any(list(cyc) != sorted(cyc) for cyc in cycles)


def test_class_aware_use_counts_across_full_chunks():
    """Default chunk size, one big class: spread <= 1 and class shares as drawn."""
    t = np.repeat([0, 1, 2], [5000, 50, 7])
    s = BalancedSampler(
        targets=t, class_weights=[1.0, 100.0, 1000.0], num_samples=40_000, generator=gen(17), mode="class_aware"
    )
    d = draws(s)
    uses = np.bincount(d, minlength=t.size)
    for c in range(3):
        u = uses[t == c]
        assert u.max() - u.min() <= 1
    mass = np.array([5000, 5000, 7000.0])
    assert chi_square_test(np.bincount(t[d]), mass / mass.sum())[1] > P_MIN


def test_class_aware_needs_replacement():
    with pytest.raises(ValueError, match="class_aware"):
        BalancedSampler(targets=[0, 1], class_weights=[1, 1], replacement=False, mode="class_aware")


# ------------------------------------------------------------------ reproducibility


@pytest.mark.parametrize(
    "mode_kw", [dict(), dict(mode="class_aware"), dict(mode="stratified"), dict(replacement=False)]
)
def test_seed_mode_epochs_are_a_function_of_seed_and_epoch(mode_kw, small_chunks):
    t = np.repeat(np.arange(4), [30, 10, 5, 55])
    kw = dict(targets=t, class_weights=[1.0, 2.0, 3.0, 0.5], num_samples=90, **mode_kw)
    a = BalancedSampler(seed=21, **kw)
    b = BalancedSampler(seed=21, **kw)
    a.set_epoch(3)
    b.set_epoch(3)
    torch.manual_seed(0)
    first = list(a)
    torch.manual_seed(1)  # the global RNG plays no part
    assert first == list(a) == list(b)  # same epoch: same draws, every time
    b.set_epoch(4)
    assert list(b) != first
    c = BalancedSampler(seed=22, **kw)
    c.set_epoch(3)
    assert list(c) != first


def test_seed_mode_without_set_epoch_each_iteration_is_the_next_epoch():
    w = np.arange(1.0, 50.0)
    a = BalancedSampler(w, seed=23)
    runs = [list(a) for _ in range(3)]
    assert runs[0] != runs[1] != runs[2]
    b = BalancedSampler(w, seed=23)
    for e in range(3):
        b.set_epoch(e)
        assert list(b) == runs[e]


def test_default_generator_follows_torch_manual_seed():
    w = np.arange(1.0, 50.0)
    torch.manual_seed(5)
    a = list(BalancedSampler(w))
    torch.manual_seed(5)
    assert list(BalancedSampler(w)) == a
    assert list(BalancedSampler(w)) != a


def test_global_seed_is_read_at_first_next_not_at_construction_or_iter():
    w = np.arange(1.0, 50.0)
    torch.manual_seed(5)
    ref = list(BalancedSampler(w))
    before = torch.get_rng_state()
    s = BalancedSampler(w)
    it = iter(s)
    assert torch.equal(torch.get_rng_state(), before)  # construction and iter() consume nothing
    torch.manual_seed(5)
    assert list(it) == ref


def test_generator_is_advanced_once_per_epoch_and_set_state_replays():
    g = gen(24)
    s = BalancedSampler(np.arange(1.0, 30.0), generator=g)
    state = g.get_state().clone()
    e0 = list(s)
    assert not torch.equal(g.get_state(), state)  # advanced, as WRS advances it
    e1 = list(s)
    assert e1 != e0
    g.set_state(state)
    assert list(s) == e0 and list(s) == e1


def test_two_samplers_on_one_generator_draw_differently():
    g = gen(3)
    a = BalancedSampler(np.ones(100), generator=g)
    b = BalancedSampler(np.ones(100), generator=g)
    assert list(a) != list(b)


def test_assignment_and_in_place_edits_take_effect_next_epoch():
    w = torch.ones(20, dtype=torch.float64)
    s = BalancedSampler(w, seed=1)
    assert s.weights is w  # float64 tensors are kept, as WRS keeps them
    it = iter(s)
    first = next(it)
    w[:10] = 0.0  # in place, mid-epoch: the running epoch is not affected ...
    rest = list(it)
    assert len(rest) == 19 and min([first] + rest) < 10
    assert min(s) >= 10  # ... the next one is
    s.weights = torch.zeros(20).index_fill_(0, torch.tensor([3]), 1.0)
    assert set(s) == {3} and s.weights.dtype == torch.float64
    s.num_samples = 7
    assert len(s) == 7 and len(list(s)) == 7
    s.replacement = False
    with pytest.raises(WeightsError, match="num_samples=7 exceeds the 1 samples"):
        list(s)
    c = BalancedSampler(
        targets=torch.tensor([0, 0, 1, 1]), class_weights=torch.tensor([1.0, 1.0], dtype=torch.float64), num_samples=200
    )
    c.class_weights[0] = 0.0
    assert set(c) == {2, 3}
    c.targets = torch.tensor([1, 1, 0, 0])
    assert set(c) == {0, 1}


def test_errors_do_not_depend_on_the_global_rng():
    for seed in (0, 1):
        torch.manual_seed(seed)
        with pytest.raises(WeightsError, match="negative"):
            BalancedSampler([1.0, -1.0])


def test_wrong_generator_type_meta_weights_and_seed_checks():
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        BalancedSampler([1.0], generator=123)
    with pytest.raises(WeightsError, match="meta device"):
        BalancedSampler(torch.ones(3, device="meta"))
    with pytest.raises(SettingsError, match="seed must be an int"):
        BalancedSampler([1.0], seed=1.7)
    with pytest.raises(SettingsError, match="not both"):
        BalancedSampler([1.0], seed=1, generator=gen())
    s = BalancedSampler([1.0])
    s.generator = "abc"  # assigned later: refused when the next epoch starts
    with pytest.raises(TypeError, match="generator must be a torch.Generator or None, got str"):
        list(s)


# ------------------------------------------------------------------ batches


@pytest.mark.parametrize("bs,drop_last", [(7, False), (7, True), (97, False), (200, True), (1, False)])
@pytest.mark.parametrize("mode_kw", [dict(), dict(mode="class_aware"), dict(replacement=False)])
def test_batch_form_is_the_stream_cut_into_lists(bs, drop_last, mode_kw, small_chunks):
    t = np.repeat(np.arange(3), [100, 50, 150])
    kw = dict(targets=t, class_weights=[1.0, 3.0, 0.5], num_samples=290, **mode_kw)
    flat = BalancedSampler(generator=gen(25), **kw)
    flat.set_epoch(1)
    stream = list(flat)
    bsamp = BalancedSampler(generator=gen(25), batch_size=bs, drop_last=drop_last, **kw)
    bsamp.set_epoch(1)
    batches = list(bsamp)
    expect = [stream[i : i + bs] for i in range(0, len(stream), bs)]
    if drop_last and len(expect[-1]) < bs:
        expect = expect[:-1]
    assert batches == expect
    assert len(bsamp) == len(expect)
    assert all(type(b) is list and type(b[0]) is int for b in batches)
    other = BalancedBatchSampler(generator=gen(25), batch_size=bs, drop_last=drop_last, **kw)
    other.set_epoch(1)
    assert list(other) == batches


def test_batch_sampler_needs_batch_size():
    with pytest.raises(ValueError, match="batch_size"):
        BalancedBatchSampler(np.ones(4))


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    "kwargs,pattern",
    [
        (dict(weights=[1.0, 2.0, -0.5]), r"weights\[2\] = -0\.5 is negative"),
        (dict(weights=[1.0, float("nan"), 1.0]), r"weights\[1\] is NaN"),
        (dict(weights=[1.0, 1.0, float("inf")]), r"weights\[2\] is infinite"),
        (dict(weights=[0.0, 0.0, 0.0]), r"all 3 weights are zero"),
        (dict(weights=[[1.0, 2.0], [3.0, 4.0]]), r"weights must be 1-D, but has shape \(2, 2\)"),
        (dict(weights=[]), r"weights is empty"),
        (dict(weights=[1e308, 1e308]), r"overflows"),
        (
            dict(weights=[1.0, 0.0, 2.0], num_samples=3, replacement=False),
            r"num_samples=3 exceeds the 2 samples with non-zero weight",
        ),
        (
            dict(targets=[0, 1, 2, 5], class_weights=[1.0, 1.0, 1.0]),
            r"targets\[3\] = 5 is out of range: class_weights has 3 entries",
        ),
        (dict(targets=[0, -1], class_weights=[1.0, 1.0]), r"targets\[1\] = -1 is a negative class index"),
        (dict(targets=[0, 1.5], class_weights=[1.0, 1.0]), r"targets\[1\] = 1\.5 is not an integer"),
        (dict(targets=[[0, 1]], class_weights=[1.0, 1.0]), r"targets must be 1-D"),
        (dict(targets=[0, 1], class_weights=[1.0, -2.0]), r"class_weights\[1\] \(class 1\) = -2\.0 is negative"),
        (dict(targets=[0, 1], class_weights=[1.0, float("nan")]), r"class_weights\[1\] \(class 1\) is NaN"),
        (dict(targets=[0, 0, 1], class_weights=[0.0, 0.0, 5.0]), r"every class that has samples has class weight 0"),
        (dict(targets=[0, 1], class_weights=[[1.0, 1.0]]), r"class_weights must be 1-D"),
        (dict(targets=[0, 1]), r"both targets and class_weights"),
        (dict(weights=[1.0], targets=[0], class_weights=[1.0]), r"not both"),
        (
            dict(targets=[0, 1, 1], class_weights=[1.0, 0.0], num_samples=2, replacement=False),
            r"num_samples=2 exceeds the 1 samples",
        ),
    ],
)
def test_validation_errors(kwargs, pattern):
    with pytest.raises(WeightsError, match=pattern) as info:
        BalancedSampler(**kwargs)
    assert isinstance(info.value, ValueError)  # WeightsError is a ValueError too


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(weights=[1.0], num_samples=0),
        dict(weights=[1.0], num_samples=-3),
        dict(weights=[1.0], num_samples=2.5),
        dict(weights=[1.0], mode="balanced"),
        dict(weights=[1.0], batch_size=0),
        dict(weights=[1.0], replacement="yes"),
    ],
)
def test_argument_errors(kwargs):
    with pytest.raises(ValueError):
        BalancedSampler(**kwargs)


def test_inputs_of_every_kind_without_warnings():
    t_ro = np.repeat(np.arange(3), 4)
    t_ro.setflags(write=False)  # as DatasetIndex.targets
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = BalancedSampler(targets=t_ro, class_weights=(1, 2, 3), num_samples=50, generator=gen(1))
        b = BalancedSampler(
            targets=torch.as_tensor(t_ro.copy(), dtype=torch.int32),
            class_weights=np.array([1, 2, 3], dtype=np.float32),
            num_samples=50,
            generator=gen(1),
        )
        c = BalancedSampler(weights=[1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3], num_samples=50, generator=gen(1))
    assert list(a) == list(b)
    assert max(c) < 12


# ------------------------------------------------------------------ size


def test_more_than_2_pow_24_items():
    n = (1 << 24) + 10
    w = torch.ones(n, dtype=torch.float32)
    w[-10:] = 1e6  # the last 10 items (beyond 2**24) carry ~37% of the mass
    s = BalancedSampler(w, num_samples=20_000, generator=gen(30))
    assert draw_path(s) == "segments"
    d = draws(s)
    tail = d >= n - 10
    p_tail = 1e7 / (1e7 + n - 10)
    assert abs(tail.mean() - p_tail) < 5 * np.sqrt(p_tail * (1 - p_tail) / d.size)
    assert d.max() < n
    del w
    t = torch.zeros(n, dtype=torch.int64)
    t[-3:] = 1
    s = BalancedSampler(targets=t, class_weights=[0.0, 1.0], num_samples=1000, generator=gen(31))
    assert set(draws(s)) == {n - 3, n - 2, n - 1}


# ------------------------------------------------------------------ GPU

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@cuda
@pytest.mark.parametrize(
    "mode_kw", [dict(), dict(mode="class_aware"), dict(mode="stratified"), dict(replacement=False)]
)
def test_cuda_draws_same_law_and_cpu_ints(mode_kw):
    counts = np.array([300, 20, 0, 80])
    cw = np.array([1.0, 10.0, 3.0, 0.0])
    t = np.repeat(np.arange(4), counts)
    N = 100_000 if mode_kw.get("replacement", True) else 300
    s = BalancedSampler(targets=t, class_weights=cw, num_samples=N, generator=gen(40), device="cuda", **mode_kw)
    chunks = list(s.iter_chunks())
    assert all(c.device.type == "cuda" and c.dtype == torch.int64 for c in chunks)
    d = draws(s)
    assert d.size == N and isinstance(list(s)[0], int)
    if mode_kw.get("replacement", True):
        mass = counts * cw
        assert chi_square_test(np.bincount(t[d], minlength=4), mass / mass.sum())[1] > P_MIN
    else:
        assert len(set(d.tolist())) == N and set(t[d]) <= {0, 1}
    w = cw[t]
    s2 = BalancedSampler(w, num_samples=N, seed=41, device="cuda", **mode_kw)
    s2.set_epoch(1)
    a = list(s2)
    s2.set_epoch(1)
    assert a == list(s2)


@cuda
def test_cuda_distinct_weights_law():
    w = torch.rand(500, dtype=torch.float64, generator=gen(42))
    w[::5] = 0
    s = BalancedSampler(w, num_samples=500_000, generator=gen(43), device="cuda")
    assert_law(draws(s), w, "cuda items")
