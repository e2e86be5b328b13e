"""Checks for the samplers' resume states: what a state was made with, and what it may hold.

A sampler's ``state_dict`` records, beside where it is, what it was made with (its ``config``):
its kind, a sha256 of its weights/targets, ``num_samples``, mode, replacement, batch form,
device type...  ``load_state_dict`` refuses a state whose config differs from the sampler's,
naming each difference, and any field of the wrong type or out of range.  Nothing here imports
Qt or draws randomness.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch

from ..core.errors import SettingsError

#: The version of the samplers' state dicts.  Version 1 (balance-gui before fingerprints) recorded
#: no config, so it cannot be checked against a sampler: it is refused.
STATE_VERSION = 2

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1

#: The config entries that are fingerprints of tensors.
DIGESTS = frozenset({"weights", "targets", "class_weights", "shares", "repeat_factors"})


class SamplerStateError(SettingsError):
    """A resume state that cannot be loaded into this sampler: another sampler's (other weights,
    settings or kind), another version's, or malformed."""


def tensor_digest(t: torch.Tensor, dtype: torch.dtype) -> str:
    """sha256 of the tensor's values as ``dtype`` (shape included), read on the CPU without a copy
    when the tensor already is contiguous ``dtype`` there."""
    a = t.detach().to(device="cpu", dtype=dtype).contiguous()
    h = hashlib.sha256(f"{dtype}{tuple(a.shape)}".encode())
    h.update(a.numpy().data)
    return h.hexdigest()


def cached_digest(
    cache: dict[str, tuple[torch.Tensor, int, str]], name: str, t: torch.Tensor | None, dtype: torch.dtype
) -> str | None:
    """:func:`tensor_digest`, computed again only when the tensor or its version counter changed."""
    if t is None:
        return None
    hit = cache.get(name)
    if hit is not None and hit[0] is t and hit[1] == t._version:
        return hit[2]
    d = tensor_digest(t, dtype)
    cache[name] = (t, t._version, d)
    return d


def _short(v: object, limit: int = 80) -> str:
    r = repr(v)
    return r if len(r) <= limit else r[: limit - 3] + "..."


def _equal(a: object, b: object) -> bool:
    """Equal plain values of the same type (a crafted tensor or array is never equal)."""
    if isinstance(a, (torch.Tensor, np.ndarray)) or isinstance(b, (torch.Tensor, np.ndarray)):
        return False
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # noqa: BLE001 - a crafted value whose == misbehaves is simply not equal
        return False


def state_int(value: object, name: str, low: int = INT64_MIN, high: int = INT64_MAX) -> int:
    """An int field of a state (never a bool, float or string) in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise SamplerStateError(f"{name} in the state must be an int, got {_short(value)}")
    v = int(value)
    if not low <= v <= high:
        raise SamplerStateError(f"{name} in the state is out of range: {v} is not in [{low}, {high}]")
    return v


def state_bool(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise SamplerStateError(f"{name} in the state must be True or False, got {_short(value)}")
    return value


def check_state(state: object, kind: str, fields: frozenset[str]) -> dict[str, Any]:
    """The state as a dict of this version holding exactly ``fields``, or why not."""
    if not isinstance(state, dict):
        raise SamplerStateError(f"a {kind} state must be a dict, got {type(state).__name__}")
    version = state.get("version")
    if "config" not in state:
        if version == 1 or ("version" not in state and "live" in state):
            raise SamplerStateError(
                f"this {kind} state predates fingerprints (saved by an older balance-gui): it does not "
                "record the weights and settings it was made with, so it cannot be checked against this "
                "sampler and is refused rather than risk resuming a different epoch; start without it"
            )
        raise SamplerStateError(f"not a sampler state: no 'config' (keys: {_short(sorted(map(str, state)))})")
    config = state["config"]
    if not isinstance(config, dict):
        raise SamplerStateError(f"the state's config must be a dict, got {type(config).__name__}")
    saved_kind = config.get("kind")
    if saved_kind != kind:
        raise SamplerStateError(f"a {_short(saved_kind)} state cannot be loaded into a {kind}")
    if isinstance(version, bool) or version != STATE_VERSION:
        raise SamplerStateError(
            f"the {kind} state has version {_short(version)}; this balance-gui reads version {STATE_VERSION}"
        )
    keys = set(state)
    if keys != fields:
        extra, missing = sorted(map(str, keys - fields)), sorted(fields - keys)
        raise SamplerStateError(
            f"the {kind} state's fields do not match this version's"
            + (f"; unknown: {_short(extra)}" if extra else "")
            + (f"; missing: {missing}" if missing else "")
        )
    return state


def _digest_head(v: object) -> str:
    if v is None:
        return "none"
    return f"sha256 {v[:12]}..." if isinstance(v, str) else _short(v)


def check_config(saved: dict[str, Any], current: dict[str, Any]) -> None:
    """Refuse a state made with other inputs or settings, naming every difference."""
    diffs = []
    for name in sorted(set(saved) | set(current), key=str):
        a, b = saved.get(name, "<absent>"), current.get(name, "<absent>")
        if _equal(a, b):
            continue
        if name in DIGESTS:  # fingerprints: their heads
            diffs.append(f"{name} differ ({_digest_head(a)} in the state, {_digest_head(b)} here)")
        else:
            diffs.append(f"{name}={_short(a)} in the state, {_short(b)} here")
    if diffs:
        raise SamplerStateError(
            f"the {current['kind']} state was made by a different sampler: "
            + "; ".join(diffs)
            + ". Load it into a sampler built with the same data and arguments"
        )


def check_generator_state(value: object, generator: torch.Generator | None, kind: str) -> torch.Tensor | None:
    """The saved generator state, or why it cannot be restored into ``generator``."""
    if value is None:
        if generator is not None:
            raise SamplerStateError(
                f"the {kind} state was saved by a sampler without a generator (seed= or torch's global "
                "generator); this one has a generator, which the state cannot restore"
            )
        return None
    if generator is None:
        raise SamplerStateError(
            f"the {kind} state holds a generator's state, but this sampler has no generator to restore it "
            "into; pass generator=torch.Generator() as when it was saved"
        )
    if not isinstance(value, torch.Tensor) or value.dtype != torch.uint8 or value.dim() != 1:
        raise SamplerStateError(f"the generator state must be a 1-D uint8 tensor, got {_short(value)}")
    if value.numel() != generator.get_state().numel():
        raise SamplerStateError(
            f"the generator state ({value.numel()} bytes) does not fit this sampler's generator on "
            f"{generator.device} ({generator.get_state().numel()} bytes)"
        )
    return value
