"""``.npy``: the per-sample (or per-image) float64 weights, nothing else, so nothing to check them
against but their number."""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np

from ..errors import WeightsFileError
from .base import Export, ImageExport, WeightsFormat, image_weights_bad, write_buffer


def _save(path: str | os.PathLike[str], weights: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, weights, allow_pickle=False)
    write_buffer(path, buffer.getbuffer())


def write(path: str | os.PathLike[str], data: Export) -> None:
    _save(path, data.per_sample)


def read(path: str) -> dict[str, Any]:
    fmt = np.lib.format
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        version = fmt.read_magic(fh)
        if version == (1, 0):
            shape, fortran_order, dtype = fmt.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran_order, dtype = fmt.read_array_header_2_0(fh)
        else:
            raise WeightsFileError(f"{path}: unsupported .npy format version {version[0]}.{version[1]}")
        if dtype.hasobject or dtype.kind not in "fiu":
            raise WeightsFileError(f"{path}: holds {dtype} values, not numbers")
        if len(shape) != 1:
            raise WeightsFileError(f"{path}: per-sample weights must be 1-D, got shape {shape}")
        # The header's size must be what the file holds, before anything is allocated.
        if shape[0] * dtype.itemsize != size - fh.tell():
            raise WeightsFileError(
                f"{path}: the header announces {shape[0]} values of {dtype.itemsize} bytes, "
                f"but {size - fh.tell()} bytes follow it (truncated or corrupted?)"
            )
        w = np.fromfile(fh, dtype=dtype, count=shape[0])
    return {"weights": w.astype(np.float64)}


def write_image(path: str | os.PathLike[str], data: ImageExport) -> None:
    _save(path, data.weights)


def read_image(path: str) -> dict[str, Any] | None:
    """Bare weights, read as any per-image file: no files or image ids to check."""
    try:
        w = np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001
        raise image_weights_bad(path, f"not a readable .npy file ({type(e).__name__})") from e
    if w.ndim != 1 or w.dtype != np.float64:
        raise image_weights_bad(path, f"expected a 1-D float64 array, got {w.dtype} of shape {w.shape}")
    return {"weights": w, "files": None, "image_ids": None, "bare": True}


FORMAT = WeightsFormat(
    extension=".npy",
    label="NumPy per-image weights",
    tooltip="the per-image weights only: no identity, only its length can be checked",
    identified=False,
    per_sample=True,
    newest_version=0,
    write=write,
    read=read,
    write_image=write_image,
    read_image=read_image,
)
