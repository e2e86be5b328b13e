"""Where an epoch's randomness comes from: the epoch key of a sampler.

Without a seed, as ``WeightedRandomSampler``: one draw from the sampler's ``generator`` (advancing
it) or from torch's global generator, taken when the epoch starts (its first ``next()``).  With
``seed=S``: the key is ``(S, epoch)``, the epoch advancing by one per iteration unless
``set_epoch`` fixes it, so any process recomputes any epoch.

Resuming (``state_dict``/``load_state_dict``) works per *iteration*: each ``iter()`` of a sampler
opens a :class:`Cursor`, whose epoch starts at its first ``next()``.  The state describes the
newest iteration: mid-epoch, its key and position; one that handed out its whole epoch, "ended";
one opened but not started, the next epoch at position 0.  A loaded state is continued by the
first ``iter()`` after ``load_state_dict`` (an ended one hands out nothing); any later ``iter()``
starts the next epoch.  That is what torchdata's ``StatefulDataLoader`` needs at the epoch
boundaries: cut after an epoch's loop ended, the restored loader makes a fresh iterator (the next
epoch); cut after the last batch but before the loop saw the end, it continues the restored one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

import numpy as np
import torch

from .draws import EpochKey
from .sampler_inputs import check_generator, check_int
from .sampler_state import (
    STATE_VERSION,
    SamplerStateError,
    check_config,
    check_generator_state,
    check_state,
    state_bool,
    state_int,
)

_SEED_LIMIT = 1 << 63


def check_seed(seed: object, name: str = "seed") -> int:
    """A seed: an int in the signed 64-bit range (never a float, which would be truncated)."""
    return check_int(seed, name, -_SEED_LIMIT, _SEED_LIMIT - 1)


_BASE_LIMIT = 1 << 62  # a generator-drawn epoch key is (base, 0) with base in [0, 2**62)

#: The fields of a sampler state (``STATE_VERSION``).
STATE_FIELDS = frozenset(
    {"version", "config", "seed", "epoch", "fixed_epoch", "auto_epoch", "live", "ended", "generator"}
)


class Resume(NamedTuple):
    """A loaded position, continued by the first iteration after ``load_state_dict``."""

    key: EpochKey | None  # None when ended
    position: int
    ended: bool


class Cursor:
    """One iteration of a sampler (one ``iter()``).  ``key`` is set when its epoch starts (the
    first ``next()``); ``position`` counts what it handed out (from ``start`` for a resumed one),
    up to ``length``; ``finished`` once it ran to its end."""

    __slots__ = ("resume", "key", "start", "length", "finished")

    def __init__(self) -> None:
        self.resume: Resume | None = None
        self.key: EpochKey | None = None
        self.start = 0
        self.length = 0
        self.finished = False

    def position(self) -> int:
        return self.start


C = TypeVar("C", bound=Cursor)

#: The length of an epoch: one number, or a function of the epoch's key for samplers whose epochs
#: differ in length (the repeat-factor sampler's stochastic rounding).
Length = int | Callable[[EpochKey], int]


def _length_of(length: Length, key: EpochKey) -> int:
    return length if isinstance(length, int) else length(key)


class EpochKeys:
    """Mixin: ``generator``, ``seed``, ``epoch`` and :meth:`set_epoch`, and the next epoch's key.

    Example:
        >>> from balance_gui.sampling.epochs import EpochKeys
        >>> k = EpochKeys()
        >>> k._init_keys(None, seed=5)
        >>> k._next_key(), k._next_key()
        ((5, 0), (5, 1))
        >>> k.set_epoch(9)
        >>> k._next_key(), k._next_key()
        ((5, 9), (5, 9))
    """

    generator: torch.Generator | None
    seed: int | None
    epoch: int
    _fixed_epoch: bool
    _auto_epoch: int
    _epoch_given: bool
    _cursor: Cursor | None
    _pending: Resume | None

    def _init_keys(self, generator: torch.Generator | None, seed: int | None) -> None:
        self.generator = generator
        self.seed = seed
        self.epoch = 0
        self._fixed_epoch = False
        self._auto_epoch = 0
        self._epoch_given = False  # set_epoch called since construction or the last load
        self._cursor = None  # the newest iteration
        self._pending = None  # a loaded state, for the next iteration
        self._digests: dict[str, Any] = {}  # fingerprints of the inputs, by tensor and version

    def set_epoch(self, epoch: int) -> None:
        """Fix the epoch for ``seed=`` mode: same seed and epoch, same draws.  (Without a seed each
        epoch's randomness comes from the generator, and the epoch number is only recorded.)"""
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)):
            raise TypeError(f"epoch must be an int, got {epoch!r}")
        self.epoch = int(epoch)
        self._fixed_epoch = True
        self._epoch_given = True

    def _next_key(self) -> EpochKey:
        """The key of the epoch that starts now (draws from the generator without a seed)."""
        if self.seed is not None:
            if not self._fixed_epoch:
                self.epoch = self._auto_epoch
                self._auto_epoch += 1
            return (self.seed, self.epoch)
        g = check_generator(self.generator)  # it may have been assigned since construction
        base = torch.randint(0, 1 << 62, (), generator=g, device=g.device if g is not None else "cpu")
        return (int(base), 0)

    # ------------------------------------------------------------------ iterations

    def _open(self, cursor: C) -> C:
        """A new iteration (at ``iter()``): it continues a loaded state, if one waits."""
        cursor.resume, self._pending = self._pending, None
        self._cursor = cursor
        return cursor

    def _start(self, cursor: Cursor, length: Length) -> bool:
        """Start the cursor's epoch of ``length`` (at its first ``next()``): False if it has
        nothing to hand out (it continues an ended state)."""
        r = cursor.resume
        if r is None:
            cursor.key, cursor.start = self._next_key(), 0
        elif r.ended or r.key is None:
            cursor.finished = True
            return False
        else:
            cursor.key, cursor.start = r.key, r.position
        cursor.length = _length_of(length, cursor.key)
        return True

    def _progress(self) -> tuple[dict[str, Any] | None, bool]:
        """``(live, ended)`` of the state: the newest iteration's epoch and position."""
        c = self._cursor
        if c is not None and (c.key is not None or c.finished):  # started
            if c.finished or c.position() >= c.length:
                return None, True
            assert c.key is not None
            return {"key": list(c.key), "position": c.position()}, False
        r = self._pending if c is None else c.resume  # opened, not started: what it would do
        if r is None:
            return None, False  # the next epoch, at position 0
        if r.ended or r.key is None:
            return None, True
        return {"key": list(r.key), "position": r.position}, False

    # ------------------------------------------------------------------ state

    def _keys_state(self, config: dict[str, Any]) -> dict[str, Any]:
        live, ended = self._progress()
        return {
            "version": STATE_VERSION,
            "config": config,
            "seed": self.seed,
            "epoch": self.epoch,
            "fixed_epoch": self._fixed_epoch,
            "auto_epoch": self._auto_epoch,
            "live": live,
            "ended": ended,
            "generator": None if self.generator is None else self.generator.get_state(),
        }

    def _load_keys_state(self, state: object, config: dict[str, Any], length: Length, step: int = 1) -> None:
        """Check ``state`` against this sampler (``config``: what it is made with; ``length``: the
        draws of its epoch, or of the epoch of a key; positions are multiples of ``step`` or of the
        length), then restore it.  Nothing changes when it is refused."""
        kind = config["kind"]
        s = check_state(state, kind, STATE_FIELDS)
        check_config(s["config"], config)
        seed = s["seed"]
        if seed is not None:
            seed = state_int(seed, "seed")
        if seed != self.seed:
            raise SamplerStateError(f"the state was saved with seed={seed}, this sampler has seed={self.seed}")
        g = check_generator_state(s["generator"], self.generator, kind)
        epoch = state_int(s["epoch"], "epoch")
        fixed = state_bool(s["fixed_epoch"], "fixed_epoch")
        auto = state_int(s["auto_epoch"], "auto_epoch")
        ended = state_bool(s["ended"], "ended")
        live = s["live"]
        resume: Resume | None = Resume(None, 0, True) if ended else None
        if live is not None:
            if ended:
                raise SamplerStateError("the state is both ended and mid-epoch ('live' must be None when 'ended')")
            if not isinstance(live, dict) or set(live) != {"key", "position"}:
                raise SamplerStateError(f"live in the state must be a dict of key and position, got {live!r:.80}")
            key = live["key"]
            if not isinstance(key, (list, tuple)) or len(key) != 2:
                raise SamplerStateError(f"the epoch key in the state must be two ints, got {key!r:.80}")
            if self.seed is not None:  # (seed, epoch)
                k0 = state_int(key[0], "the epoch key's seed", self.seed, self.seed)
                k1 = state_int(key[1], "the epoch key's epoch")
            else:  # (one draw from the generator, 0)
                k0 = state_int(key[0], "the epoch key's base", 0, _BASE_LIMIT - 1)
                k1 = state_int(key[1], "the epoch key's epoch (0 without a seed)", 0, 0)
            n = _length_of(length, (k0, k1))
            pos = state_int(live["position"], "position", 0, n)
            if pos % step and pos != n:
                raise SamplerStateError(f"position {pos} in the state is not at a batch boundary (batches of {step})")
            resume = Resume((k0, k1), pos, False)
        if g is not None:
            assert self.generator is not None
            try:
                self.generator.set_state(g.clone())
            except RuntimeError as e:
                raise SamplerStateError(f"the generator state cannot be restored: {e}") from None
        if not self._epoch_given:
            # An epoch given by set_epoch before the load is kept: StatefulDataLoader loads the
            # sampler's state at iter(), after the training loop's set_epoch for that epoch (for
            # an ended state, the next one).  A resumed epoch's key is in the state anyway.
            self.epoch, self._fixed_epoch = epoch, fixed
        self._auto_epoch, self._epoch_given = auto, False
        self._pending, self._cursor = resume, None
