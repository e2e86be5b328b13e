"""Duplicate groups of an image check, which copy of each stays usable, and the user's choices.

A group is every byte-identical copy of one content: its representative is the first copy in
ImageFolder order (the sample each duplicate ``Problem`` points at), then the other copies in
sample order. A group whose copies sit in more than one class is a **label conflict**: one picture
carries two labels, at most one of them right, and the check cannot tell which. So the default is

- a same-class group keeps its first copy (the others would only inflate the class's count);
- a cross-class group keeps no copy: every copy gets weight 0 until someone looks at it.

:func:`resolve` then applies a person's choice per group (keep copy k, or none): it returns the
check result with another usable mask, and every reader of the mask (usable counts, weights,
exported files) follows it. Qt-free; the check's summary calls :func:`excluded_copies`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .errors import SettingsError

if TYPE_CHECKING:
    from .images import CheckResult, Problem


@dataclass(frozen=True)
class DuplicateGroup:
    """Byte-identical samples: ``samples[0]`` is the first copy in ImageFolder order (the
    representative), the rest follow in sample order; ``paths`` and ``targets`` go with them."""

    samples: tuple[int, ...]
    paths: tuple[str, ...]
    targets: tuple[int, ...]

    @property
    def representative(self) -> int:
        return self.samples[0]

    @property
    def cross_class(self) -> bool:
        """The copies carry more than one label: a label conflict."""
        return len(set(self.targets)) > 1

    @property
    def default_keep(self) -> int | None:
        """The sample the policy keeps usable: none of a label conflict, else the first copy."""
        return None if self.cross_class else self.samples[0]

    def kept(self, usable_mask: np.ndarray) -> int | None:
        """The copy ``usable_mask`` keeps (None: no copy is usable)."""
        return next((s for s in self.samples if usable_mask[s]), None)


def excluded_copies(first: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per sample, True where the default policy excludes it as a copy. ``first[i]`` is the first
    sample with sample i's content (i itself when it has no earlier copy; corrupt files never have
    one): every later copy is excluded, and so is the first copy of a cross-class group."""
    positions = np.arange(len(first))
    copy = first != positions
    excluded = copy.copy()
    excluded[first[copy & (targets[first] != targets)]] = True
    return excluded


# The groups of the last checks, by their problems tuple (kept here, so its id stays its own): the
# Problems tab, the gallery and each choice ask for the groups of the same check, and a resolved
# check shares its problems with the original. At 54,442 copies a grouping costs a noticeable pause.
_GROUPS_CACHE: list[tuple[tuple[Problem, ...], tuple[DuplicateGroup, ...]]] = []
_GROUPS_CACHE_SIZE = 2


def duplicate_groups(result: CheckResult) -> tuple[DuplicateGroup, ...]:
    """The duplicate groups of a check, ordered by their representative (sample order)."""
    for problems, groups in _GROUPS_CACHE:
        if problems is result.problems:
            return groups
    groups = _groups(result)
    _GROUPS_CACHE.insert(0, (result.problems, groups))
    del _GROUPS_CACHE[_GROUPS_CACHE_SIZE:]
    return groups


def _groups(result: CheckResult) -> tuple[DuplicateGroup, ...]:
    dups = result.duplicates
    if not dups:
        return ()
    targets = result.targets.tolist()
    firsts = np.fromiter((p.duplicate_of for p in dups), dtype=np.int64, count=len(dups))
    # Problems come in sample order, so a stable sort by representative keeps each group's copies in order.
    order = np.argsort(firsts, kind="stable")
    ranked = firsts[order]
    starts = np.flatnonzero(np.concatenate(([True], ranked[1:] != ranked[:-1]))).tolist()
    in_order = [dups[k] for k in order.tolist()]
    samples = [p.sample for p in in_order]
    paths = [p.path for p in in_order]
    groups = []
    for start, stop in zip(starts, [*starts[1:], len(in_order)], strict=True):
        head = in_order[start]
        members = (head.duplicate_of or 0, *samples[start:stop])
        groups.append(
            DuplicateGroup(
                members, (head.duplicate_of_path or "", *paths[start:stop]), tuple(map(targets.__getitem__, members))
            )
        )
    return tuple(groups)


def group_of_sample(groups: Sequence[DuplicateGroup], num_samples: int) -> np.ndarray:
    """Per sample, the position of its group in ``groups``, or -1 for a sample that has no copy."""
    out = np.full(num_samples, -1, dtype=np.int64)
    for g, group in enumerate(groups):
        out[list(group.samples)] = g
    return out


def resolve(
    result: CheckResult,
    choices: Mapping[int, int | None],
    groups: Sequence[DuplicateGroup] | None = None,
) -> CheckResult:
    """``result`` with the copies kept that ``choices`` say: ``{representative: sample to keep, or
    None to keep no copy}``. Groups not named keep what ``result`` keeps; the usable mask, the usable
    counts and each class's ``usable`` statistic follow. Raises SettingsError for a sample that is
    not a group's representative, or a kept sample outside its group."""
    if groups is None:
        groups = duplicate_groups(result)
    by_rep = {g.representative: g for g in groups}
    unusable = ~result.usable_mask
    for rep, keep in choices.items():
        group = by_rep.get(int(rep))
        if group is None:
            raise SettingsError(f"sample {rep} is not the first copy of a duplicate group")
        if keep is not None and int(keep) not in group.samples:
            raise SettingsError(f"sample {keep} is not a copy in the group of sample {rep}")
        unusable[list(group.samples)] = True
        if keep is not None:
            unusable[int(keep)] = False
    counts = np.bincount(result.targets[~unusable], minlength=len(result.classes))
    stats = tuple(
        dataclasses.replace(s, usable=int(n)) for s, n in zip(result.class_stats, counts.tolist(), strict=True)
    )
    return dataclasses.replace(result, class_stats=stats, _unusable=unusable)


__all__ = ["DuplicateGroup", "duplicate_groups", "excluded_copies", "group_of_sample", "resolve"]
