"""Detection and multi-label datasets: COCO/LVIS instances JSON and ``path,labels`` manifests.

Both are read into a :class:`MultiLabelIndex`: images (in file order), classes, and the
annotations as two compact integer arrays (image index and class index per annotation).  An
image may carry several classes, each several times (instances), or none.

COCO instances JSON (LVIS files are the same format):

* classes are the categories ordered by ascending category id, mapped to ``0..C-1`` (ids are
  often non-contiguous and listed unsorted: the mapping detectron2's ``load_coco_json`` makes);
* images keep the order of the file's ``images`` list (detectron2 sorts them by id; the weights
  files of balance-gui follow the file's order); an image's path is its ``file_name``, or for
  LVIS (which has none) the last two parts of its ``coco_url`` (``train2017/000000000139.jpg``,
  as detectron2's LVIS loader does), relative to ``image_root`` or the JSON's folder;
* ``iscrowd`` annotations count as instances unless ``skip_crowd=True``;
* the file is read in one streaming pass: each annotation is decoded, its ids kept in arrays and
  the rest (polygons, boxes) dropped, so the peak memory stays far below ``json.load``'s.

Multi-label CSV manifests: a header ``path,labels``, labels separated by ``;`` (an empty field is
an image without labels); classes sorted by name, as ImageFolder sorts folders.

A missing image file is not an error here; :meth:`MultiLabelIndex.missing_files` lists them.
"""

from __future__ import annotations

import csv
import json
import os
import threading
import time
from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import IO, Any

import numpy as np

from .dataset import PackedPaths, _pack_paths
from .errors import Cancelled, DatasetError, DatasetNotFoundError
from .names import quoted

_READ = 1 << 22  # bytes of JSON text read at a time (4 MiB)
_WS = " \t\n\r"


@dataclass(frozen=True)
class AnnotationProgress:
    """Where a read stands: bytes of the file read, and what was found so far."""

    bytes_read: int
    bytes_total: int
    images: int
    annotations: int
    elapsed_s: float


AnnotationProgressCallback = Callable[[AnnotationProgress], None]


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class MultiLabelIndex(PackedPaths):
    """Images, classes, and which classes each image carries (how many times).

    ``ann_image[j]`` and ``ann_class[j]`` are annotation ``j``'s image and class indices.  The
    distinct (image, class) pairs are kept sorted by image as ``pair_starts`` (``len + 1``
    offsets), ``pair_class`` and ``pair_count`` (instances of the class in the image).
    """

    root: str
    source: str  # "coco" or "manifest"
    classes: tuple[str, ...]
    class_to_idx: Mapping[str, int]
    ann_image: np.ndarray  # int32 per annotation (a manifest: one per image label)
    ann_class: np.ndarray  # int32 per annotation
    counts: np.ndarray  # int64 per class: images that contain it
    instances: np.ndarray  # int64 per class: its annotations
    pair_starts: np.ndarray  # int64, len(self) + 1
    pair_class: np.ndarray  # int32 per distinct (image, class)
    pair_count: np.ndarray  # int32 per distinct (image, class): instances of the class there
    _paths_blob: bytes = field(repr=False)
    _path_starts: np.ndarray = field(repr=False)
    category_ids: np.ndarray | None = None  # int64 per class (COCO)
    image_ids: np.ndarray | None = None  # int64 per image, in file order (COCO)
    crowd: int = 0  # crowd annotations counted (or, with skip_crowd, skipped)
    skip_crowd: bool = False
    file: str = ""  # the JSON or CSV file read
    duplicate_rows: tuple[tuple[int, int], ...] = ()

    def __len__(self) -> int:
        return int(self.pair_starts.shape[0] - 1)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def num_annotations(self) -> int:
        return int(self.ann_class.shape[0])

    @property
    def pair_image(self) -> np.ndarray:
        """The image index of every distinct (image, class) pair."""
        return np.repeat(np.arange(len(self), dtype=np.int64), np.diff(self.pair_starts))

    @property
    def labels_per_image(self) -> np.ndarray:
        """How many distinct classes each image carries."""
        return np.diff(self.pair_starts)

    @property
    def unlabeled_images(self) -> int:
        return int((self.labels_per_image == 0).sum())

    @property
    def empty_classes(self) -> tuple[str, ...]:
        return tuple(c for c, n in zip(self.classes, self.counts, strict=True) if n == 0)

    def labels(self, i: int) -> list[int]:
        """The classes of image ``i``, ascending."""
        return self.pair_class[self.pair_starts[i] : self.pair_starts[i + 1]].tolist()

    def images_of(self, c: int) -> np.ndarray:
        """The images that carry class ``c``, ascending."""
        return self.pair_image[self.pair_class == c]

    def missing_files(self) -> list[int]:
        """The images whose file does not exist (indices)."""
        return [i for i, p in enumerate(self.relative_paths()) if not os.path.isfile(os.path.join(self.root, p))]

    def warnings(self) -> list[str]:
        out = []
        if self.empty_classes:
            names = ", ".join(quoted(c) for c in self.empty_classes[:10])
            more = "" if len(self.empty_classes) <= 10 else f" and {len(self.empty_classes) - 10} more"
            out.append(f"{len(self.empty_classes)} class(es) with no image: {names}{more}; they are never drawn")
        if self.unlabeled_images:
            out.append(
                f"{self.unlabeled_images} image(s) carry no label; they count in the class frequencies "
                "and get repeat factor 1"
            )
        if self.crowd:
            verb = "were skipped (skip_crowd)" if self.skip_crowd else "count as instances"
            out.append(f"{self.crowd} crowd annotation(s) (iscrowd=1) {verb}")
        if self.duplicate_rows:
            pairs = ", ".join(f"line {a} repeats line {b}" for a, b in self.duplicate_rows[:5])
            out.append(f"{len(self.duplicate_rows)} manifest row(s) list a file already listed: {pairs}")
        return out


def _build(
    root: str,
    source: str,
    classes: list[str],
    ann_image: np.ndarray,
    ann_class: np.ndarray,
    paths: list[str],
    **extra: Any,
) -> MultiLabelIndex:
    n, k = len(paths), len(classes)
    ann_image = ann_image.astype(np.int32, copy=False)
    ann_class = ann_class.astype(np.int32, copy=False)
    key = ann_image.astype(np.int64) * max(k, 1) + ann_class
    pairs, pair_count = np.unique(key, return_counts=True)  # sorted by image, then class
    pair_img = pairs // max(k, 1)
    pair_starts = np.searchsorted(pair_img, np.arange(n + 1, dtype=np.int64)).astype(np.int64)
    pair_class = (pairs % max(k, 1)).astype(np.int32)
    counts = np.bincount(pair_class, minlength=k).astype(np.int64)
    instances = np.bincount(ann_class, minlength=k).astype(np.int64)
    blob, starts = _pack_paths(paths)
    if len(starts) - 1 != n:
        raise DatasetError("an image file name contains a NUL byte; it cannot be indexed")
    return MultiLabelIndex(
        root=root,
        source=source,
        classes=tuple(classes),
        class_to_idx=MappingProxyType({c: i for i, c in enumerate(classes)}),
        ann_image=_readonly(ann_image),
        ann_class=_readonly(ann_class),
        counts=_readonly(counts),
        instances=_readonly(instances),
        pair_starts=_readonly(pair_starts),
        pair_class=_readonly(pair_class),
        pair_count=_readonly(pair_count.astype(np.int32)),
        _paths_blob=blob,
        _path_starts=_readonly(starts),
        **extra,
    )


# ------------------------------------------------------------------------ COCO streaming


class _Stream:
    """JSON text read a piece at a time; values decoded with the C scanner one by one."""

    def __init__(self, fh: IO[str], name: str, progress: Callable[[], None] | None) -> None:
        self.fh = fh
        self.name = name
        self.buf = ""
        self.pos = 0
        self.offset = 0  # characters dropped from the front of buf
        self.eof = False
        self.bytes_read = 0
        self.decoder = json.JSONDecoder()
        self.progress = progress

    def _more(self, at_least: int = 0) -> bool:
        if self.eof:
            return False
        piece = self.fh.read(max(at_least, _READ))
        if not piece:
            self.eof = True
            return False
        self.offset += self.pos
        self.buf = self.buf[self.pos :] + piece
        self.pos = 0
        self.bytes_read += len(piece)
        if self.progress is not None:
            self.progress()
        return True

    def peek(self) -> str:
        """The next non-blank character ('' at the end of the file), not consumed."""
        while True:
            buf, p = self.buf, self.pos
            n = len(buf)
            while p < n and buf[p] in _WS:
                p += 1
            self.pos = p
            if p < n:
                return buf[p]
            if not self._more():
                return ""

    def expect(self, chars: str, what: str) -> str:
        c = self.peek()
        if not c or c not in chars:
            raise self.error(f"expected {what}, found {c!r}" if c else f"expected {what}, found the end of the file")
        self.pos += 1
        return c

    def value(self) -> Any:
        """Decode the next JSON value.  A value that ends at the end of the text read so far may be
        cut (a number, or an unfinished string or object): more is read and it is decoded again."""
        if not self.peek():
            raise self.error("expected a value, found the end of the file (is it cut short?)")
        while True:
            try:
                v, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as e:
                # cut at the end of the text read so far, or a string not closed yet: read more (growing
                # geometrically, so a huge value is read in O(size)); any other error is in the text itself
                cut = e.pos >= len(self.buf) - 2 or e.msg.startswith("Unterminated string")
                if cut and self._more(len(self.buf) - self.pos):
                    continue
                raise self.error(f"not valid JSON ({e.msg} at character {self.offset + e.pos})") from None
            if end >= len(self.buf) and self._more():
                continue
            self.pos = end
            return v

    def error(self, msg: str) -> DatasetError:
        return DatasetError(f"{self.name}: {msg}")


def _coco_path(img: dict[str, Any]) -> str | None:
    name = img.get("file_name")
    if isinstance(name, str) and name:
        return name
    url = img.get("coco_url")
    if isinstance(url, str) and url:
        return "/".join(url.split("/")[-2:])  # LVIS: train2017/000000000139.jpg
    return None


def _int_id(v: object) -> bool:
    return type(v) is int or (isinstance(v, int) and not isinstance(v, bool))


def read_coco(
    path: str | os.PathLike[str],
    *,
    image_root: str | os.PathLike[str] | None = None,
    skip_crowd: bool = False,
    progress: AnnotationProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> MultiLabelIndex:
    """Index a COCO (or LVIS) instances JSON file, reading it once as a stream.

    ``image_root`` is the folder image file names are relative to (default: the JSON's folder).
    Raises :class:`DatasetError` with one line for a file that is not COCO instances, duplicate or
    non-integer ids, or annotations naming an unknown image or category.
    """
    start = time.perf_counter()
    name = os.path.expanduser(os.fspath(path))
    if not os.path.isfile(name):
        raise DatasetNotFoundError(f"annotation file not found: {name}")
    root = os.path.abspath(os.path.expanduser(os.fspath(image_root))) if image_root is not None else None
    if root is None:
        root = os.path.dirname(os.path.abspath(name))
    total = os.path.getsize(name)

    images: list[tuple[Any, Any]] = []  # (id, path), in file order
    categories: list[tuple[Any, Any]] = []  # (id, name)
    a_img = array("q")
    a_cat = array("q")
    a_ids = array("q")
    crowd = 0
    seen: set[str] = set()

    def report() -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled("reading cancelled")
        if progress is not None:
            progress(AnnotationProgress(st.bytes_read, total, len(images), len(a_img), time.perf_counter() - start))

    try:
        with open(name, encoding="utf-8-sig", errors="strict") as fh:
            st = _Stream(fh, name, report)
            if st.peek() == "":
                raise st.error("the file is empty")
            if st.peek() != "{":
                raise st.error("not a COCO instances file (the top level is not a JSON object)")
            st.pos += 1
            first = True
            while True:
                c = st.peek()
                if c == "}":
                    st.pos += 1
                    break
                if not first:
                    st.expect(",", "',' or '}'")
                first = False
                key = st.value()
                if not isinstance(key, str):
                    raise st.error("not valid JSON (an object key is not a string)")
                st.expect(":", "':'")
                if key not in ("images", "annotations", "categories"):
                    st.value()  # info, licenses, ...: read and dropped
                    continue
                if key in seen:
                    raise st.error(f"the key {key!r} appears twice at the top level")
                seen.add(key)
                if st.peek() != "[":
                    raise st.error(f"not a COCO instances file ({key!r} is not a list)")
                st.pos += 1
                j = 0
                while True:
                    if st.peek() == "]":
                        st.pos += 1
                        break
                    if j:
                        st.expect(",", "',' or ']'")
                    item = st.value()
                    if not isinstance(item, dict):
                        raise st.error(f"{key}[{j}] is not a JSON object")
                    if key == "annotations":
                        iid, cid = item.get("image_id"), item.get("category_id")
                        if not (_int_id(iid) and _int_id(cid)):
                            for field_name, v in (("image_id", iid), ("category_id", cid)):
                                if v is None:
                                    raise st.error(f"annotations[{j}] has no {field_name!r}")
                                if not _int_id(v):
                                    raise st.error(f"annotations[{j}] has a non-integer {field_name} {v!r}")
                        if item.get("iscrowd", 0):
                            crowd += 1
                            if skip_crowd:
                                j += 1
                                continue
                        aid = item.get("id", -1)
                        if not _int_id(aid):
                            raise st.error(f"annotations[{j}] has a non-integer id {aid!r}")
                        try:
                            a_img.append(item["image_id"])
                            a_cat.append(item["category_id"])
                            a_ids.append(aid)
                        except OverflowError:
                            raise st.error(f"annotations[{j}] has an id out of the 64-bit range") from None
                    elif key == "images":
                        iid = item.get("id")
                        if not _int_id(iid):
                            what = "no 'id'" if iid is None else f"a non-integer id {iid!r}"
                            raise st.error(f"images[{j}] has {what}")
                        p = _coco_path(item)
                        if p is None:
                            raise st.error(f"images[{j}] (id {iid}) has no 'file_name'")
                        images.append((iid, p))
                    else:
                        cid = item.get("id")
                        if not _int_id(cid):
                            what = "no 'id'" if cid is None else f"a non-integer id {cid!r}"
                            raise st.error(f"categories[{j}] has {what}")
                        cname = item.get("name")
                        if not isinstance(cname, str):
                            raise st.error(f"categories[{j}] (id {cid}) has no 'name'")
                        categories.append((cid, cname))
                    j += 1
            if st.peek() != "":
                raise st.error("not valid JSON (text after the top-level object)")
    except UnicodeDecodeError as e:
        raise DatasetError(f"{name}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    except RecursionError:
        raise DatasetError(f"{name}: not a COCO instances file (JSON nested too deeply to read)") from None
    except OSError as e:
        raise DatasetError(f"cannot read annotation file {name}: {e.strerror or e}") from e
    missing = [k for k in ("images", "annotations", "categories") if k not in seen]
    if missing:
        raise DatasetError(
            f"{name}: not a COCO instances file (no {', '.join(repr(k) for k in missing)} list; "
            "it needs 'images', 'annotations' and 'categories')"
        )
    if not images:
        raise DatasetNotFoundError(f"{name}: the 'images' list is empty")
    if not categories:
        raise DatasetError(f"{name}: the 'categories' list is empty")
    report()
    return _index_coco(name, root, images, categories, a_img, a_cat, a_ids, crowd, skip_crowd)


def _ids(values: list[Any], what: str, name: str) -> np.ndarray:
    try:
        return np.array(values, dtype=np.int64)
    except OverflowError:
        raise DatasetError(f"{name}: a {what} id is out of the 64-bit range") from None


def _first_duplicate(ids: np.ndarray) -> int | None:
    s = np.sort(ids)
    d = np.flatnonzero(s[1:] == s[:-1])
    return None if d.size == 0 else int(s[d[0]])


def _lookup(sorted_ids: np.ndarray, order: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, int | None]:
    """Positions (in the original order) of ``wanted`` ids, and the first position of ``wanted``
    whose id is unknown (None when all are known)."""
    if sorted_ids.size == 0:
        return np.zeros(0, np.int64), (0 if wanted.size else None)
    at = np.searchsorted(sorted_ids, wanted)
    at_c = np.minimum(at, sorted_ids.size - 1)
    bad = np.flatnonzero(sorted_ids[at_c] != wanted)
    return order[at_c], (None if bad.size == 0 else int(bad[0]))


def _index_coco(
    name: str,
    root: str,
    images: list[tuple[Any, Any]],
    categories: list[tuple[Any, Any]],
    a_img: array,
    a_cat: array,
    a_ids: array,
    crowd: int,
    skip_crowd: bool,
) -> MultiLabelIndex:
    image_ids = _ids([i for i, _ in images], "image", name)
    cat_ids = _ids([c for c, _ in categories], "category", name)
    for ids, what in ((image_ids, "image"), (cat_ids, "category")):
        dup = _first_duplicate(ids)
        if dup is not None:
            raise DatasetError(f"{name}: {what} id {dup} is listed twice")
    ann_ids = np.frombuffer(a_ids, dtype=np.int64)
    with_id = ann_ids[ann_ids != -1] if ann_ids.size else ann_ids
    dup = _first_duplicate(with_id)
    if dup is not None:
        raise DatasetError(f"{name}: annotation id {dup} is listed twice")
    cat_order = np.argsort(cat_ids, kind="stable")
    cat_sorted = cat_ids[cat_order]
    img_order = np.argsort(image_ids, kind="stable")
    img_sorted = image_ids[img_order]
    ann_img_ids = np.frombuffer(a_img, dtype=np.int64)
    ann_cat_ids = np.frombuffer(a_cat, dtype=np.int64)
    ann_image, bad = _lookup(img_sorted, img_order, ann_img_ids)
    if bad is not None:
        raise DatasetError(
            f"{name}: annotation {_ann_name(ann_ids, bad)} points at image id {int(ann_img_ids[bad])}, "
            "which the 'images' list lacks"
        )
    # classes by ascending category id: class c is cat_sorted[c], so the rank in cat_sorted is the class
    ann_class, bad = _lookup(cat_sorted, np.arange(cat_sorted.size), ann_cat_ids)
    if bad is not None:
        raise DatasetError(
            f"{name}: annotation {_ann_name(ann_ids, bad)} points at category id {int(ann_cat_ids[bad])}, "
            "which the 'categories' list lacks"
        )
    names = [categories[int(i)][1] for i in cat_order]
    first: dict[str, int] = {}
    for cid, cname in zip(cat_sorted.tolist(), names, strict=True):
        if cname in first:
            raise DatasetError(f"{name}: category name {quoted(cname)} is used by ids {first[cname]} and {cid}")
        first[cname] = cid
    return _build(
        root,
        "coco",
        names,
        ann_image,
        ann_class,
        [p for _, p in images],
        category_ids=_readonly(cat_sorted.copy()),
        image_ids=_readonly(image_ids),
        crowd=crowd,
        skip_crowd=skip_crowd,
        file=name,
    )


def _ann_name(ann_ids: np.ndarray, j: int) -> str:
    aid = int(ann_ids[j])
    return f"id {aid}" if aid != -1 else f"#{j}"


# --------------------------------------------------------------------- multi-label CSV


def is_multilabel_manifest(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a CSV whose header is ``path,labels``."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh), None)
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    return header is not None and [h.strip().lower() for h in header] == ["path", "labels"]


def read_multilabel_manifest(
    manifest: str | os.PathLike[str],
    *,
    progress: AnnotationProgressCallback | None = None,
    cancel: threading.Event | None = None,
    check_files: bool = True,
) -> MultiLabelIndex:
    """Index a CSV manifest with a ``path,labels`` header, labels separated by ``;``.

    Paths are relative to the manifest's folder, or absolute; rows keep their order; classes are
    the sorted label names.  A label given twice in a row counts once.  A file listed twice with
    the same labels is counted once (reported); with different labels it is an error.  With
    ``check_files`` every listed file must exist, as for ``path,label`` manifests.
    """
    start = time.perf_counter()
    name = os.path.expanduser(os.fspath(manifest))
    if not os.path.isfile(name):
        raise DatasetNotFoundError(f"manifest not found: {name}")
    root = os.path.dirname(os.path.abspath(name))
    paths: list[str] = []
    rows: list[list[str]] = []
    first_line: dict[str, tuple[int, tuple[str, ...]]] = {}
    duplicates: list[tuple[int, int]] = []
    conflicts: list[str] = []
    try:
        with open(name, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None or [h.strip().lower() for h in header] != ["path", "labels"]:
                raise DatasetError(
                    f"{name}: the first line must be the header 'path,labels', found {','.join(header or [])!r}"
                )
            for row in reader:
                line_no = reader.line_num
                if not row:
                    continue
                if len(row) != 2 or not row[0].strip():
                    raise DatasetError(f"{name}, line {line_no}: expected 'path,labels', got {row!r}")
                p = row[0].strip()
                labels = sorted({lab.strip() for lab in row[1].split(";") if lab.strip()})
                key = os.path.normpath(os.path.join(root, p))
                seen = first_line.setdefault(key, (line_no, tuple(labels)))
                if seen[0] != line_no:
                    if list(seen[1]) == labels:
                        duplicates.append((line_no, seen[0]))
                    else:
                        conflicts.append(f"{quoted(p)} has other labels on line {seen[0]} and line {line_no}")
                    continue
                paths.append(p)
                rows.append(labels)
                if cancel is not None and line_no % 65536 == 0 and cancel.is_set():
                    raise Cancelled("reading cancelled")
    except UnicodeDecodeError as e:
        raise DatasetError(f"{name}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    except csv.Error as e:
        raise DatasetError(f"{name}: not a valid CSV file ({e})") from e
    except OSError as e:
        raise DatasetError(f"cannot read manifest {name}: {e.strerror or e}") from e
    if conflicts:
        more = "" if len(conflicts) <= 3 else f" and {len(conflicts) - 3} more"
        raise DatasetError(f"{name}: {len(conflicts)} file(s) listed twice: {'; '.join(conflicts[:3])}{more}")
    if not paths:
        raise DatasetNotFoundError(f"{name}: the manifest lists no files")
    if check_files:
        missing = [p for p in paths if not os.path.isfile(os.path.join(root, p))]
        if missing:
            shown = ", ".join(quoted(p) for p in missing[:5])
            raise DatasetError(f"{name}: {len(missing)} listed file(s) do not exist, e.g. {shown}")
    classes = sorted({lab for labels in rows for lab in labels})
    to_idx = {c: i for i, c in enumerate(classes)}
    sizes = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    ann_image = np.repeat(np.arange(len(rows), dtype=np.int64), sizes)
    ann_class = np.fromiter((to_idx[lab] for r in rows for lab in r), dtype=np.int64, count=int(sizes.sum()))
    if progress is not None:
        size = os.path.getsize(name)
        progress(AnnotationProgress(size, size, len(paths), int(sizes.sum()), time.perf_counter() - start))
    return _build(root, "manifest", classes, ann_image, ann_class, paths, file=name, duplicate_rows=tuple(duplicates))


def open_annotations(path: str | os.PathLike[str], **kwargs: Any) -> MultiLabelIndex:
    """A ``.json`` file is read as COCO instances, a ``.csv`` as a ``path,labels`` manifest."""
    p = os.fspath(path)
    if p.lower().endswith(".json"):
        return read_coco(p, **kwargs)
    if p.lower().endswith(".csv"):
        return read_multilabel_manifest(p, **kwargs)
    raise DatasetError(f"{p}: not an annotation file (give a COCO .json or a 'path,labels' .csv)")


__all__ = [
    "AnnotationProgress",
    "MultiLabelIndex",
    "is_multilabel_manifest",
    "open_annotations",
    "read_coco",
    "read_multilabel_manifest",
]
