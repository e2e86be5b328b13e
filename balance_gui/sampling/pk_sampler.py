"""P x K batches for metric learning: P distinct classes per batch, K images of each.

As catalyst's ``BatchBalanceClassSampler``: the P classes of a batch are drawn without
replacement by their shares (successive sampling: the P smallest keys ``E_c / p_c``); inside a
class the images come from a cycle of random permutations, so they do not repeat inside a batch
when the class has at least K of them, and per-image use counts stay even.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler

from ..core.errors import SettingsError, WeightsError
from ..core.labels import FromDataset
from .draws import EpochKey, mix_seed
from .epochs import Cursor, EpochKeys, check_seed
from .sampler_inputs import as_float64, check_generator, check_int, check_targets, check_weights, to_tensor
from .sampler_state import cached_digest

_TAG_PK = 5
# Class choices are drawn for this many batches at a time (a (batches, classes) float64 array).
_BATCH_BLOCK = 1024


class _Batches(Cursor):
    """One iteration: the batches handed out (from ``start`` for a resumed one)."""

    __slots__ = ("handed",)

    def __init__(self) -> None:
        super().__init__()
        self.handed = 0

    def position(self) -> int:
        return self.start + self.handed


class PKBatchSampler(FromDataset, EpochKeys, Sampler[list[int]]):
    r"""Batches of ``P * K`` indices: ``P`` distinct classes, ``K`` images of each, class by class.

    Args:
        targets (sequence, ndarray or Tensor): class index of every sample.
        classes_per_batch (int): ``P``, distinct classes in a batch.
        samples_per_class (int): ``K``, images of each class in a batch.
        class_weights (sequence, ndarray or Tensor, optional): the classes are picked by their
            shares ``p_c = n_c * w_c / sum_j n_j * w_j``; ``None`` picks every non-empty class
            equally often, as catalyst does. Default: ``None``.
        num_batches (int, optional): batches per epoch. Default: ``N // (P * K)``.
        generator (torch.Generator, optional): as :class:`BalancedSampler`. Default: ``None``.
        seed (int, optional): as :class:`BalancedSampler`. Default: ``None``.

    Example:
        >>> from balance_gui.sampling.sampler import PKBatchSampler
        >>> pk = PKBatchSampler([0, 0, 0, 1, 1, 1, 2, 2, 2, 2], classes_per_batch=2, samples_per_class=2, seed=0)
        >>> len(pk), [len(b) for b in pk]
        (2, [4, 4])
    """

    def __init__(
        self,
        targets: Sequence[int] | np.ndarray | torch.Tensor,
        classes_per_batch: int,
        samples_per_class: int,
        class_weights: Sequence[float] | np.ndarray | torch.Tensor | None = None,
        num_batches: int | None = None,
        generator: torch.Generator | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        P = check_int(classes_per_batch, "classes_per_batch", low=1)
        K = check_int(samples_per_class, "samples_per_class", low=1)
        if seed is not None and generator is not None:
            raise SettingsError("give generator= or seed=, not both")
        self._init_keys(check_generator(generator), None if seed is None else check_seed(seed))
        t = to_tensor(targets, "targets")
        if class_weights is None:
            # every class present alike; classes numbered by their rank, so huge labels cost nothing
            labels, tt = torch.unique(check_targets(t, 1 << 62), return_inverse=True)
            counts = torch.bincount(tt, minlength=labels.numel())
            cw = 1.0 / counts.to(torch.float64)
        else:
            cw = check_weights(as_float64(class_weights, "class_weights"), "class_weights", what="class")
            tt = check_targets(t, cw.numel())
            counts = torch.bincount(tt, minlength=cw.numel())
        mass = counts.to(torch.float64) * cw
        usable = int(torch.count_nonzero(mass))
        if usable < P:
            raise WeightsError(
                f"classes_per_batch={P} exceeds the {usable} classes that have images and a positive weight"
            )
        n = tt.numel()
        if num_batches is None:
            num_batches = n // (P * K)
            if num_batches == 0:
                raise SettingsError(f"{n} samples make no batch of {P} x {K}; pass num_batches")
        self.num_batches = check_int(num_batches, "num_batches", low=1)
        self.classes_per_batch, self.samples_per_class = P, K
        self.targets = tt
        self.shares = mass / mass.sum()
        order = torch.argsort(tt, stable=True)
        starts = (torch.cumsum(counts, 0) - counts).tolist()
        self._members = [order[a : a + c] for a, c in zip(starts, counts.tolist(), strict=True)]

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[list[int]]:
        # the iteration (and a loaded state it continues) is bound here; its epoch (and its
        # key) starts at the first next()
        return self._batches(self._open(_Batches()))

    def _batches(self, cur: _Batches) -> Iterator[list[int]]:
        if self._start(cur, len(self)):  # this rank's batches (a distributed subclass has fewer)
            assert cur.key is not None
            for i, batch in enumerate(self._epoch(cur.key)):
                if i >= cur.start:  # a resumed epoch replays the batches before its position, unseen
                    cur.handed += 1
                    yield batch
        cur.finished = True

    def _epoch(self, key: EpochKey) -> Iterator[list[int]]:
        g = torch.Generator()
        g.manual_seed(mix_seed(key[0], key[1], _TAG_PK))
        P, K = self.classes_per_batch, self.samples_per_class
        queues: dict[int, list[int]] = {}
        for b0 in range(0, self.num_batches, _BATCH_BLOCK):
            nb = min(_BATCH_BLOCK, self.num_batches - b0)
            keys = torch.empty(nb, self.shares.numel(), dtype=torch.float64).exponential_(generator=g)
            chosen = torch.topk(keys.div_(self.shares), P, dim=1, largest=False, sorted=True).indices.tolist()
            for classes in chosen:
                batch: list[int] = []
                for c in classes:
                    batch.extend(self._take(queues, c, K, g))
                yield batch

    def state_dict(self) -> dict[str, Any]:
        """Where the sampler is (the newest iteration's epoch key and batches handed out, or
        "ended", or the next epoch at batch 0), the epoch counter, the generator state, and what
        it was made with (fingerprints of the targets and class shares, P, K, ``num_batches``).
        As :meth:`BalancedSampler.state_dict`: exact resume mid-epoch and at the boundaries."""
        return self._keys_state(self._state_config())

    def _state_config(self) -> dict[str, Any]:
        d = self._digests
        return {
            "kind": type(self).__name__,
            "targets": cached_digest(d, "targets", self.targets, torch.int64),
            "shares": cached_digest(d, "shares", self.shares, torch.float64),
            "classes_per_batch": self.classes_per_batch,
            "samples_per_class": self.samples_per_class,
            "num_batches": self.num_batches,
            "batches_per_epoch": len(self),  # differs from num_batches for a distributed subclass
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`: the next ``iter()`` continues the saved iteration.  Refused,
        naming what differs, as :meth:`BalancedSampler.load_state_dict`."""
        self._load_keys_state(state, self._state_config(), len(self))

    def _take(self, queues: dict[int, list[int]], c: int, K: int, g: torch.Generator) -> list[int]:
        """K images of class ``c`` from its cycle of permutations: distinct when the class has K."""
        members = self._members[c]
        q = queues.setdefault(c, [])
        while len(q) < K + members.numel():  # the tail of a cycle and all of the next one
            q.extend(members.index_select(0, torch.randperm(members.numel(), generator=g)).tolist())
        if members.numel() < K:  # repeats are unavoidable: take the cycle as it comes
            out, queues[c] = q[:K], q[K:]
            return out
        out, seen, i = [], set(), 0
        while len(out) < K:  # the first K distinct; a skipped repeat waits for a later batch
            if q[i] not in seen:
                seen.add(q[i])
                out.append(q[i])
                q[i] = -1
            i += 1
        queues[c] = [x for x in q[:i] if x >= 0] + q[i:]
        return out
