"""Weights files: the contract between a dataset and the training code that samples it.

Each format, chosen by the file's extension, is a file of :mod:`.weightsfile_formats` that says
what it holds and writes and reads it. This module holds what they share: the per-sample weights
every writer is given, the checks on what every reader returns, and the matching of a file against
a dataset.

Excluded samples (``export_weights(..., excluded=mask)``: corrupt files and duplicate copies
found by the image health check) get weight 0 in every per-sample format. A ``.pt`` also lists
their indices (``excluded``, int64, ImageFolder order) and a ``.json`` its ``usable_counts`` and
per-class ``excluded`` counts; both keys exist only when something is excluded.

Samples are in ImageFolder order. Writes are atomic; reads never unpickle code, and
every size a file declares is checked against the file's own size before anything
is allocated. A file without its fingerprint, or one that does not match it, is refused.
torch is imported only to write or read a ``.pt`` and to return tensors (:func:`load_weights`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .dataset import DatasetIndex, open_dataset
from .errors import BalanceError, SettingsError, WeightsError, WeightsFileError
from .labels import FolderDataset, as_dataset_index
from .names import quoted
from .table_identity import has_columns, open_options, table_identity, table_problems
from .weights import Scheme, fit_class_weights, sample_weights, validate_class_weights
from .weightsfile_formats import WEIGHTS_FORMATS, Export, format_of, listed
from .weightsfile_formats.base import EXCLUDED_VERSION, FORMAT_VERSION

if TYPE_CHECKING:
    import torch


def export_weights(
    path: str | os.PathLike,
    index: DatasetIndex | FolderDataset,
    class_w: Sequence[float] | np.ndarray,
    scheme: str | Scheme,
    *,
    excluded: np.ndarray | None = None,
) -> str:
    """Write ``index``'s weights under ``class_w`` to ``path``; the extension picks the format.

    ``excluded``: None, or one bool per sample (True: left out, as a corrupt file or a duplicate
    copy). Excluded samples get weight 0 whatever ``class_w`` says, and the file records them.
    ``class_w`` is then meant for the usable counts (see ``core.images.usable_weights``).

    A table-like source (a Parquet/Arrow table, a Hugging Face folder, WebDataset shards) is named
    by its rows and a hash of its labels instead of its paths (``core.table_identity``): its paths
    are never read.
    """
    index = as_dataset_index(index)  # a torchvision ImageFolder is read as the index it describes
    fmt = format_of(path)
    source = getattr(index, "source_file", "")
    if source and os.path.exists(path) and os.path.exists(source) and os.path.samefile(path, source):
        raise WeightsFileError(
            f"cannot write {os.fspath(path)}: it is the manifest this dataset was read from, and the weights "
            "would replace it; choose another output file"
        )
    mask = _excluded_mask(excluded, len(index))
    usable = index.counts if mask is None else np.bincount(index.targets[~mask], minlength=index.num_classes)
    class_w = fit_class_weights(validate_class_weights(class_w, index.classes, counts=usable), usable)
    per_sample = sample_weights(index.targets, class_w)
    if mask is not None:
        per_sample[mask] = 0.0
    data = Export(
        index=index,
        class_weights=class_w,
        per_sample=per_sample,
        excluded=mask,
        usable=usable,
        scheme=str(scheme),
        root=os.path.abspath(index.root),
        version=FORMAT_VERSION if mask is None else EXCLUDED_VERSION,
        identity=table_identity(index) if fmt.identified else None,
    )
    fmt.write(path, data)
    return os.fspath(path)


def _excluded_mask(excluded: np.ndarray | None, num_samples: int) -> np.ndarray | None:
    """The exclusion mask as a bool array, or None when nothing is excluded (the file stays version 2)."""
    if excluded is None:
        return None
    mask = np.asarray(excluded)
    if mask.dtype != np.bool_ or mask.shape != (num_samples,):
        raise SettingsError(
            f"excluded must be a bool array with one entry per sample ({num_samples}), "
            f"got {mask.dtype} of shape {mask.shape}"
        )
    if mask.all():
        raise SettingsError("excluded leaves out every sample: nothing could ever be drawn")
    return mask.copy() if mask.any() else None


# ---------------------------------------------------------------- reading


def load_weights(path: str | os.PathLike, dataset: Any = None) -> torch.Tensor:
    """Read a weights file as a float64 tensor, one weight per sample.

    With ``dataset`` (an ImageFolder, a DatasetIndex, or a dataset root path),
    first check that the file belongs to it, and raise :class:`WeightsFileError`
    saying what differs. A ``.json`` file holds per-class weights: it returns
    those, or per-sample weights when ``dataset`` is given.
    """
    import torch

    from .annotation_weights import image_weights_hook  # per-image weights of COCO / path,labels data

    hooked = image_weights_hook(path, dataset)
    if hooked is not None:
        return torch.from_numpy(hooked["weights"])
    if dataset is None:
        info = read_weights_file(path)
        return torch.from_numpy(info["weights"] if "weights" in info else info["class_weights"])
    info = verify_weights_file(path, dataset)
    if info["sample_weights"] is None:
        per_sample = listed(f for f in WEIGHTS_FORMATS if f.per_sample)
        raise WeightsFileError(
            f"{os.fspath(path)} excludes {info['num_excluded']:,} samples (corrupt or duplicate copies), but a "
            f"{info['format']} names no files, so it cannot give per-sample weights: export {per_sample} for those"
        )
    return torch.from_numpy(info["sample_weights"])


def verify_weights_file(path: str | os.PathLike[str], dataset: Any) -> dict[str, Any]:
    """Read ``path`` and check it against ``dataset`` as :func:`load_weights` does; return
    what :func:`read_weights_file` returns plus ``sample_weights`` (one per sample of
    ``dataset``; None for a ``.json`` that excludes samples, as it names none). Only the
    ``identified`` formats (see :mod:`.weightsfile_formats`) can show they belong to the dataset:
    for a ``.npy`` only the length is checked. ``num_excluded`` says how many samples the file leaves out. A COCO or
    ``path,labels`` dataset is checked by ``annotation_weights.verify_image_weights``."""
    from .annotation_weights import image_weights_hook

    if dataset is not None and (hooked := image_weights_hook(path, dataset)) is not None:
        return hooked
    info = read_weights_file(path)
    view = _dataset_view(_open_as_exported(info, dataset))
    check_matches(info, view, path)
    if "weights" in info:
        info["sample_weights"] = info["weights"]
    elif not info["num_excluded"]:
        info["sample_weights"] = sample_weights(view["targets"], info["class_weights"])
    else:  # a per-class file names no files, so it cannot say which samples get weight 0
        info["sample_weights"] = None
    return info


def open_as_exported(path: str | os.PathLike[str], dataset: Any) -> Any:
    """``dataset``, opened when it is a path: a table (or Hugging Face folder) with the label and
    path columns the weights file ``path`` was exported from, anything else as ``open_dataset`` does."""
    if not isinstance(dataset, (str, os.PathLike)):
        return dataset
    return _open_as_exported(read_weights_file(path) if has_columns(dataset) else {}, dataset)


def _open_as_exported(info: dict[str, Any], dataset: Any) -> Any:
    if not isinstance(dataset, (str, os.PathLike)):
        return dataset
    options: dict[str, Any] = {}
    if has_columns(dataset) and "table" in info:
        options = open_options(info["table"])
    elif has_columns(dataset) and "rows" in info and len(info["rows"]) and info["rows"][-1] >= len(info["rows"]):
        options = {"drop_null": True}  # a table's .csv that skips rows: those without a label were left out
    return open_dataset(dataset, **options)


def read_weights_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read and sanity-check a weights file into a plain dict (``format`` plus what it holds)."""
    fmt = format_of(path)
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise WeightsFileError(f"weights file not found: {path}")
    try:
        info = fmt.read(path)
    except BalanceError:
        raise
    except Exception as e:  # any parse failure of a truncated or corrupted file
        reason = str(e).splitlines()[0] if str(e) else ""
        raise WeightsFileError(
            f"{path} is not a readable {fmt.extension} weights file (truncated or corrupted?): "
            f"{type(e).__name__}: {reason}"
        ) from e
    info["format"] = fmt.extension
    info.setdefault("num_excluded", _num_excluded(info))
    try:
        if "weights" in info:
            _validate_sample_weights(info["weights"])
        if "class_weights" in info:
            validate_class_weights(info["class_weights"], info.get("classes"))
    except WeightsError as e:
        raise WeightsFileError(f"{path}: invalid weights: {e}") from e
    return info


def _num_excluded(info: dict[str, Any]) -> int:
    """Samples the file leaves out, when its reader did not count them itself (a .csv marks them by
    weight 0 only, and counts them so). A file that names nothing (a .npy) counts none."""
    if "excluded" in info:
        return len(info["excluded"])
    if "usable_counts" in info:
        return int((info["counts"] - info["usable_counts"]).sum())
    return 0


def _validate_sample_weights(w: np.ndarray) -> None:
    if w.ndim != 1:
        raise WeightsError(f"per-sample weights must be 1-D, got shape {w.shape}")
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        raise WeightsError(f"sample {bad[0]} has weight {float(w[bad[0]])!r}: weights must be finite and >= 0")
    if not np.any(w > 0):
        raise WeightsError("all weights are zero: nothing could ever be drawn")
    with np.errstate(over="ignore"):
        if not np.isfinite(w.sum()):
            raise WeightsError("the weights sum to more than float64 holds: scale them down")


# ---------------------------------------------------------------- matching


def _dataset_view(dataset: Any) -> dict[str, Any]:
    """classes, relative sample paths and targets of a DatasetIndex, ImageFolder or root path."""
    if isinstance(dataset, (str, os.PathLike)):
        dataset = open_dataset(dataset)
    if isinstance(dataset, DatasetIndex):
        return {
            "classes": list(dataset.classes),
            "targets": dataset.targets,
            "samples": dataset.relative_paths,
            "counts": dataset.counts,
            "index": dataset,  # a table-like source is checked by its rows and labels (core.table_identity)
        }
    if hasattr(dataset, "classes") and hasattr(dataset, "samples"):  # torchvision ImageFolder / DatasetFolder
        root = os.fspath(dataset.root)
        prefix = root if root.endswith(os.sep) else root + os.sep
        pairs = dataset.samples
        targets = np.asarray([t for _, t in pairs], dtype=np.int64)
        return {
            "classes": list(dataset.classes),
            "targets": targets,
            "samples": lambda: [
                p[len(prefix) :] if p.startswith(prefix) else os.path.relpath(p, root) for p, _ in pairs
            ],
            "counts": np.bincount(targets, minlength=len(dataset.classes)),
            "index": None,  # a folder: a table's weights file does not belong to it
        }
    raise SettingsError(f"dataset must be an ImageFolder, a DatasetIndex or a path, not {type(dataset).__name__}")


def _shown(items: Iterable[object], limit: int = 5) -> str:
    items = list(items)
    text = ", ".join(quoted(str(x)) for x in items[:limit])
    return text + (f" and {len(items) - limit} more" if len(items) > limit else "")


def check_matches(info: dict[str, Any], view: dict[str, Any], path: str | os.PathLike) -> None:
    """Raise :class:`WeightsFileError` listing every way the file and the dataset differ."""
    problems = []
    if "classes" in info and info["classes"] != view["classes"]:
        problems.append(_class_difference(info["classes"], view["classes"]))
    elif "classes_seen" in info:
        seen = info["classes_seen"]
        present = {i: c for i, (c, n) in enumerate(zip(view["classes"], view["counts"], strict=True)) if n}
        if seen != present:
            problems.append(_class_difference(list(seen.values()), list(present.values())))
    if ("table" in info or "rows" in info) and "index" in view:  # rows by position, labels by hash
        problems = table_problems(info, view["index"], problems)
    elif "samples" in info:
        problems.extend(_sample_difference(info["samples"], view["samples"]()))
    elif "counts" in info:
        if not problems and not np.array_equal(info["counts"], view["counts"]):
            pairs = zip(view["classes"], info["counts"], view["counts"], strict=False)
            diff = [(c, int(a), int(b)) for c, a, b in pairs if a != b]
            problems.append(
                "class counts differ: "
                + ", ".join(f"{quoted(c)} has {a} in the file, {b} in the dataset" for c, a, b in diff[:5])
            )
    elif len(info["weights"]) != len(view["targets"]):
        problems.append(
            f"the file holds {len(info['weights'])} weights but the dataset has {len(view['targets'])} samples"
        )
    if "targets" in info and not problems and not np.array_equal(info["targets"], view["targets"]):
        first = int(np.flatnonzero(info["targets"] != view["targets"])[0])
        problems.append(
            f"sample {first} has class index {info['targets'][first]} in the file, "
            f"{view['targets'][first]} in the dataset"
        )
    if problems:
        raise WeightsFileError(f"{os.fspath(path)} does not match the dataset: " + "; ".join(problems))


def _class_difference(file_classes: list[str], data_classes: list[str]) -> str:
    only_file = [c for c in file_classes if c not in set(data_classes)]
    only_data = [c for c in data_classes if c not in set(file_classes)]
    if len(only_file) == len(only_data) and only_file:
        return "classes renamed: " + ", ".join(
            f"{quoted(a)} -> {quoted(b)}" for a, b in zip(only_file, only_data, strict=False)
        )
    parts = []
    if only_file:
        parts.append(f"classes only in the file: {_shown(only_file)}")
    if only_data:
        parts.append(f"classes only in the dataset: {_shown(only_data)}")
    if not parts:
        parts.append("classes are in a different order")
    return "; ".join(parts)


def _sample_difference(file_samples: list[str], data_samples: list[str]) -> list[str]:
    if file_samples == data_samples:
        return []
    file_set, data_set = set(file_samples), set(data_samples)
    problems = []
    missing = [s for s in file_samples if s not in data_set]
    extra = [s for s in data_samples if s not in file_set]
    if missing:
        problems.append(f"{len(missing)} file(s) missing from the dataset: {_shown(missing)}")
    if extra:
        problems.append(f"{len(extra)} extra file(s) in the dataset, not in the weights file: {_shown(extra)}")
    if not missing and not extra:
        first = next(i for i, (a, b) in enumerate(zip(file_samples, data_samples, strict=False)) if a != b)
        problems.append(
            f"files reordered: sample {first} is {quoted(file_samples[first])} in the file, "
            f"{quoted(data_samples[first])} in the dataset"
        )
    return problems
