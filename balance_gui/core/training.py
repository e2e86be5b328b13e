"""The sampler the app runs, built in one place, and the training code that loads it.

Three callers draw with the same sampler:

* the GUI's run: :func:`run_weights` turns the session's class weights and its excluded files
  (``Weights on usable images``) into the weights keyword of ``core.simulate.simulate``;
* ``core.simulate.simulate`` (the GUI's run and ``balance-gui simulate``) builds its sampler with
  :func:`build_sampler`;
* training code: :func:`load_sampler` reads an exported weights file, checks it against the
  dataset, recovers the same weights keyword (:func:`file_weights`) and builds the sampler with
  :func:`build_sampler`. The "Use in Training" lines (``core.training_code``) call it.

Annotation files (COCO/LVIS ``.json``, ``path,labels`` ``.csv``) have one weight per image, drawn
image by image as ``core.image_sampling`` draws them: weighted (``BalancedSampler`` on the image
weights) or, for a file exported with ``--scheme rfs:T``, in repeat-factor epochs
(``mode="repeat"``: ``RepeatFactorSampler`` on the repeat factors).

So a file exported with the app's settings and loaded with the app's seed draws exactly what the
app drew: class weights give the class form (``targets`` and ``class_weights``); files excluded
from the weights (corrupt files, duplicate copies) give per-sample weights of 0. Those are drawn
by the per-sample weights in weighted mode; in class-aware and stratified mode the classes are
drawn by their shares and each class cycles through its usable images only, the excluded ones
sitting in a group of weight 0 of their own (:func:`class_groups`).

Nothing here imports Qt.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from ..sampling.repeat_factor_sampler import RepeatFactorSampler
from ..sampling.sampler import MODES, BalancedBatchSampler, BalancedSampler
from ..sampling.sampler_inputs import as_float64, check_weights
from .errors import SettingsError, WeightsError, WeightsFileError
from .modes import sampler_mode

__all__ = [
    "REPEAT",
    "run_weights",
    "file_weights",
    "class_form_weights",
    "class_groups",
    "build_sampler",
    "load_sampler",
]

#: ``load_sampler``'s mode for repeat-factor epochs (per-image weights exported with ``rfs:T``).
REPEAT = "repeat"


# ------------------------------------------------------------------ the weights keyword


def run_weights(targets: Any, class_weights: Any, excluded: Any = None) -> dict[str, np.ndarray]:
    """The weights keyword a run draws with: ``{"class_weights": w}`` (one per class), or
    ``{"sample_weights": w}`` (one per sample, 0 for each excluded sample) when samples of a class
    with weight are excluded.

    ``excluded``: None, or one bool per sample (True: left out). A class with no usable sample
    gets weight 0 (its samples are then not exclusions but a class that is never drawn), so the
    keyword depends only on what is drawn: the app's settings and the file they were exported to
    give the same one."""
    t = np.asarray(targets, dtype=np.int64).reshape(-1)
    cw = np.array(class_weights, dtype=np.float64).reshape(-1)  # a copy: zeroed below
    if t.size and (t.min() < 0 or t.max() >= cw.size):
        raise WeightsError(f"targets must be class indices in [0, {cw.size}) (one class weight per class)")
    mask = None
    if excluded is not None:
        mask = np.asarray(excluded)
        if mask.dtype != np.bool_ or mask.shape != t.shape:
            raise SettingsError(
                f"excluded must be a bool array with one entry per sample ({t.size}), "
                f"got {mask.dtype} of shape {mask.shape}"
            )
    usable = np.bincount(t if mask is None else t[~mask], minlength=cw.size)
    cw[usable == 0] = 0.0
    if mask is not None:
        mask = mask & (cw[t] > 0)
        if mask.any():
            w = cw[t]
            w[mask] = 0.0
            return {"sample_weights": w}
    return {"class_weights": cw}


def file_weights(sample_weights: Any, targets: Any, num_classes: int) -> dict[str, np.ndarray]:
    """:func:`run_weights` recovered from the per-sample weights of an exported file.

    When every class's non-zero weights are one value, that value is the class weight and the
    class's weight-0 samples are its exclusions; otherwise the file holds weights of its own (not
    one per class) and they are returned as they are."""
    w = np.asarray(sample_weights, dtype=np.float64).reshape(-1)  # no copy when it is float64 already
    t = np.asarray(targets).reshape(-1)
    if w.shape != t.shape:
        raise WeightsError(f"{w.size} weights for {t.size} samples: one weight per sample is needed")
    K = max(int(num_classes), int(t.max()) + 1 if t.size else 0)
    if t.size and int(t.min()) < 0:
        raise WeightsError(f"targets must be class indices in [0, {K}) (one class weight per class)")
    pos = w > 0
    tp, wp = t[pos], w[pos]
    cw = np.zeros(K, dtype=np.float64)
    cw[tp] = wp
    if not np.array_equal(cw.take(tp), wp):  # a class holds several weights
        return {"sample_weights": w}
    del tp, wp
    # as run_weights(t, cw, ~pos): a class with no usable sample has weight 0 already; weight-0
    # samples of a class that has weight are exclusions, drawn by per-sample weights (0 for them)
    excluded = np.bincount(t[~pos], minlength=K) if not pos.all() else None
    if excluded is not None and bool((cw[excluded > 0] > 0).any()):
        return {"sample_weights": np.where(pos, w, 0.0)}
    return {"class_weights": cw}


def class_form_weights(class_weights: Any, counts: np.ndarray) -> np.ndarray:
    """:func:`file_weights` of a class-form file (no exclusions) without its per-sample weights:
    ``class_weights[c]`` for each class with samples and a positive weight, else 0 (``counts``:
    the samples of each class)."""
    cw = np.asarray(class_weights, dtype=np.float64).reshape(-1)
    return np.where((counts > 0) & (cw > 0), cw, 0.0)


def class_groups(labels: Any, weights: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample weights as the class form the class-aware and stratified draws take: ``targets``
    (a group per sample) and ``class_weights`` (a weight per group).

    A group is a class and a weight: a class whose samples share one non-zero weight is one
    group, numbered as the class; the samples of weight 0 of a class that has weight are a group
    of weight 0 (never drawn), numbered after the classes. A class with several non-zero
    weights keeps its smallest as its own number and gets one more group per other weight (each
    drawn by its share, so every sample keeps its probability). Weights are validated as the
    sampler validates them."""
    w = check_weights(as_float64(weights, "weights"), "weights").numpy()
    t = np.asarray(labels.detach().cpu() if isinstance(labels, torch.Tensor) else labels, dtype=np.int64).reshape(-1)
    if t.shape != w.shape:
        raise WeightsError(f"{w.size} weights for {t.size} labels: one class label per weight is needed")
    if t.size and int(t.min()) < 0:
        raise WeightsError(f"labels[{int(np.flatnonzero(t < 0)[0])}] is a negative class index")
    K = int(t.max()) + 1 if t.size else 0
    pos = w > 0
    tp, wp = t[pos], w[pos]
    groups = t.copy()
    cw = np.zeros(K, dtype=np.float64)
    cw[tp] = wp
    if np.array_equal(cw[tp], wp):  # one weight per class: the groups are the classes
        extra = np.zeros(0, dtype=np.float64)
    else:
        pairs, inverse = np.unique(np.stack([tp.astype(np.float64), wp]), axis=1, return_inverse=True)
        pc = pairs[0].astype(np.int64)
        first = np.ones(pc.size, dtype=bool)
        first[1:] = pc[1:] != pc[:-1]
        ids = np.where(first, pc, K + np.cumsum(~first) - 1)
        cw[pc[first]] = pairs[1][first]
        extra = pairs[1][~first]
        groups[pos] = ids[inverse.reshape(-1)]
    cw = np.concatenate([cw, extra])
    dropped = ~pos & (cw[t] > 0)  # weight 0 in a class that has weight: never drawn, never cycled through
    if dropped.any():
        groups[dropped] = cw.size
        cw = np.concatenate([cw, [0.0]])
    return torch.from_numpy(groups), torch.from_numpy(cw)


# ------------------------------------------------------------------ the sampler


def build_sampler(
    weights: Any = None,
    num_samples: int | None = None,
    replacement: bool = True,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
    *,
    targets: Any = None,
    class_weights: Any = None,
    labels: Any = None,
    mode: str = "weighted",
    batch_size: int | None = None,
    drop_last: bool = False,
    seed: int | None = None,
    batch_sampler: bool = False,
) -> BalancedSampler:
    """The sampler of a run: ``BalancedSampler`` (``BalancedBatchSampler`` with ``batch_sampler=True``)
    with these arguments, except that per-sample ``weights`` with the samples' class ``labels``
    draw, in class-aware and stratified mode, by class (:func:`class_groups`): each class by its
    share, cycling through its samples of non-zero weight only. Without ``labels`` (or in weighted
    mode, or without replacement) the weights go to the sampler as they are."""
    make = BalancedBatchSampler if batch_sampler else BalancedSampler
    if weights is not None and labels is not None and targets is None and class_weights is None:
        # A mode with no per-sample draw (class-aware, stratified: core.modes) draws by class groups.
        if mode in MODES and sampler_mode(mode).sample_draw is None and replacement is True:
            targets, class_weights = class_groups(labels, weights)
            weights = None
    return make(
        weights,
        num_samples,
        replacement,
        generator,
        device,
        targets=targets,
        class_weights=class_weights,
        mode=mode,
        batch_size=batch_size,
        drop_last=drop_last,
        seed=seed,
    )


def _labels_of(dataset: Any, path: str | os.PathLike[str]) -> tuple[Any, np.ndarray, list[str]]:
    """The dataset (a root path opened), its targets and its classes' names, read once."""
    from .dataset import DatasetIndex
    from .labels import read_labels
    from .weightsfile import open_as_exported

    dataset = open_as_exported(path, dataset)  # a table: with the columns the file was exported from
    if isinstance(dataset, DatasetIndex):
        return dataset, np.array(dataset.targets, dtype=np.int64), list(dataset.classes)
    labels = read_labels(dataset)
    return dataset, np.array(labels.targets, dtype=np.int64), list(labels.classes)


def _verified_weights(
    path: str | os.PathLike[str], dataset: Any, targets: np.ndarray, dataset_classes: list[str]
) -> dict[str, np.ndarray]:
    """The file's weights as :func:`file_weights` gives them, after checking the file belongs to
    ``dataset``: by its file list, classes and targets for an ImageFolder or DatasetIndex; by its
    classes (when the dataset names them) and targets for any other dataset with labels. A
    class-form file without exclusions never becomes per-sample weights (at 100M rows those are
    800 MB, and recovering the class form from them most of the build)."""
    from .dataset import DatasetIndex
    from .labels import _hf_class_label_columns
    from .weights import sample_weights
    from .weightsfile import _dataset_view, check_matches, read_weights_file

    info = read_weights_file(path)
    num_classes = len(dataset_classes)
    if isinstance(dataset, DatasetIndex) or (hasattr(dataset, "classes") and hasattr(dataset, "samples")):
        view = _dataset_view(dataset)
        counts = np.asarray(view["counts"])
    else:
        names = getattr(dataset, "classes", None)
        if names is not None or _hf_class_label_columns(dataset):  # a Hugging Face ClassLabel names them too
            classes = dataset_classes
        elif "classes" in info:  # the dataset names no classes: only their indices are compared
            classes = list(info["classes"])
            if len(classes) < num_classes:
                classes += [str(i) for i in range(len(classes), num_classes)]
        else:
            seen = info.get("classes_seen", {})
            classes = [seen.get(i, str(i)) for i in range(num_classes)]
        counts = np.bincount(targets, minlength=len(classes))
        file_samples = info.get("samples")
        view = {
            "classes": classes,
            "targets": targets,
            "samples": lambda: file_samples,  # no file names to compare: the targets are
            "counts": counts,
        }
    check_matches(info, view, path)
    if "weights" in info:  # a per-sample file; a per-class one (.json) gives them for the targets
        return file_weights(info["weights"], targets, num_classes)
    if info["num_excluded"]:
        from .weightsfile_formats import WEIGHTS_FORMATS, listed

        per_sample = listed(f for f in WEIGHTS_FORMATS if f.per_sample)
        raise WeightsFileError(
            f"{os.fspath(path)} excludes {info['num_excluded']:,} samples (corrupt or duplicate copies), but a "
            f"{info['format']} names no files, so it cannot give per-sample weights: export {per_sample} for those"
        )
    cw = np.asarray(info["class_weights"], dtype=np.float64).reshape(-1)
    K = max(num_classes, int(targets.max()) + 1 if targets.size else 0)
    if cw.size != K or counts.size != K:  # not one weight per class: as the per-sample weights give it
        return file_weights(sample_weights(targets, cw), targets, num_classes)
    return {"class_weights": class_form_weights(cw, counts)}


def _load_image_sampler(
    path: str | os.PathLike[str],
    index: Any,
    *,
    mode: str,
    num_samples: int | None,
    replacement: bool,
    batch_size: int | None,
    generator: torch.Generator | None,
    seed: int | None,
    device: str | torch.device,
    drop_last: bool,
) -> BalancedSampler | RepeatFactorSampler:
    """:func:`load_sampler` for an annotation file's per-image weights (``index``: its
    ``MultiLabelIndex``), checked by image ids and files first."""
    from .annotation_weights import verify_image_weights

    rec = verify_image_weights(path, index)
    w = torch.from_numpy(rec["sample_weights"])
    if mode == REPEAT:
        scheme = rec.get("scheme")  # None in a .csv or .npy: not recorded there
        if scheme is not None and str(scheme).split(":")[0] != "rfs":
            raise SettingsError(
                f"{os.fspath(path)} holds {scheme} weights, not repeat factors: mode='repeat' needs a file "
                "exported with --scheme rfs:T (or draw these weights with mode='weighted')"
            )
        given = [
            name
            for name, on in (
                ("num_samples", num_samples is not None),
                ("replacement=False", replacement is False),
                ("batch_size", batch_size is not None),
                ("drop_last", drop_last is True),
                (f"device={str(device)!r}", torch.device(device).type != "cpu"),
            )
            if on
        ]
        if given:
            raise SettingsError(
                f"mode='repeat' hands out repeat-factor epochs (image i floor(r_i) or floor(r_i)+1 times, on the "
                f"CPU): {', '.join(given)} {'does' if len(given) == 1 else 'do'} not apply; batch them with "
                "DataLoader(batch_size=...)"
            )
        return RepeatFactorSampler(w, seed=seed, generator=generator)
    if mode != "weighted":
        raise SettingsError(
            f"{index.file} is multi-label: its images are drawn by their own weights (mode='weighted') or "
            f"repeat factors (mode='repeat'), not {mode!r}"
        )
    return build_sampler(
        w,
        num_samples,
        replacement,
        generator,
        device,
        batch_size=batch_size,
        drop_last=drop_last,
        seed=seed,
        batch_sampler=batch_size is not None,
    )


def load_sampler(
    path: str | os.PathLike[str],
    dataset: Any,
    *,
    mode: str = "weighted",
    num_samples: int | None = None,
    replacement: bool = True,
    batch_size: int | None = None,
    generator: torch.Generator | None = None,
    seed: int | None = None,
    device: str | torch.device = "cpu",
    drop_last: bool = False,
) -> BalancedSampler | RepeatFactorSampler:
    """The sampler the app runs, from an exported weights file (``.pt``, ``.csv``, ``.json`` or ``.npy``).

    ``dataset`` is a torchvision ``ImageFolder``, a :class:`~balance_gui.core.dataset.DatasetIndex`
    (``balance_gui.open_dataset(folder or manifest)``), a dataset root path, or any dataset whose
    labels :func:`~balance_gui.core.labels.read_labels` finds (``targets``, ``samples``, a Hugging
    Face ClassLabel column). The file is checked against it first (a
    :class:`~balance_gui.core.errors.WeightsFileError` says what differs).

    Files the app left out (weight 0) are never drawn, in every ``mode``: ``"weighted"``,
    ``"class_aware"`` and ``"stratified"`` draw classes by their shares and cycle through the usable
    images only. With ``batch_size`` the sampler is a ``BalancedBatchSampler`` (for
    ``DataLoader(batch_sampler=...)``), else a ``BalancedSampler`` (for ``DataLoader(sampler=...)``).
    ``num_samples`` (draws per epoch, default: the dataset's size), ``replacement``, ``generator``,
    ``seed``, ``device`` and ``drop_last`` are the sampler's. The app's run with seed ``S`` is
    ``generator=torch.Generator().manual_seed(S)``: the same draws, epoch after epoch.

    An annotation file's weights (``balance-gui export ANNOT.json -o w.pt --scheme S``) load with
    ``dataset`` the annotation file (COCO ``.json`` or ``path,labels`` ``.csv``) or its
    ``MultiLabelIndex`` (``core.annotations.open_annotations``), checked by image ids and files:
    ``mode="weighted"`` gives a ``BalancedSampler`` on the image weights (the repeat factors of an
    ``rfs:T`` file, drawn by weight); ``mode="repeat"`` (``rfs:T`` files) a
    :class:`~balance_gui.sampling.repeat_factor_sampler.RepeatFactorSampler`, epochs where image ``i``
    appears ``floor(r_i)`` or ``floor(r_i) + 1`` times.  The app's image-level run with seed ``S``
    is ``seed=S`` (epochs advance by one per iteration).
    """
    from .annotation_weights import annotation_index

    index = annotation_index(dataset)
    if index is not None:
        return _load_image_sampler(
            path,
            index,
            mode=mode,
            num_samples=num_samples,
            replacement=replacement,
            batch_size=batch_size,
            generator=generator,
            seed=seed,
            device=device,
            drop_last=drop_last,
        )
    if mode == REPEAT:
        raise SettingsError(
            "mode='repeat' draws repeat-factor epochs from the per-image weights of a COCO or path,labels file "
            "(balance-gui export ANNOT.json -o w.pt --scheme rfs:T); a single-label dataset's weights are drawn "
            "with mode 'weighted', 'class_aware' or 'stratified'"
        )
    dataset, targets, classes = _labels_of(dataset, path)
    kw = _verified_weights(path, dataset, targets, classes)
    t = torch.from_numpy(targets)
    if "class_weights" in kw:
        form: dict[str, Any] = {"targets": t, "class_weights": torch.from_numpy(kw["class_weights"])}
    else:
        form = {"weights": torch.from_numpy(kw["sample_weights"]), "labels": t}
    return build_sampler(
        num_samples=num_samples,
        replacement=replacement,
        generator=generator,
        device=device,
        mode=mode,
        batch_size=batch_size,
        drop_last=drop_last,
        seed=seed,
        batch_sampler=batch_size is not None,
        **form,
    )
