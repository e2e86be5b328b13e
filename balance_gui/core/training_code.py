"""The "Use in Training" code: a few lines that load an exported weights file with
``balance_gui.load_sampler`` (``core.training``), so they draw what the app drew and cannot drift
from it. Imports neither Qt nor torch (the GUI shows these lines without loading torch).

Sources: ``"folder"`` (an ImageFolder), ``"manifest"`` (a ``path,label`` CSV), and the annotation
files, drawn image by image: ``"coco"`` (a COCO/LVIS instances ``.json``) and ``"multilabel"`` (a
``path,labels`` CSV).
"""

from __future__ import annotations

import os

__all__ = ["ANNOTATION_SOURCES", "training_snippet"]

#: The sources whose weights are per image, drawn image by image (``core.image_sampling``).
ANNOTATION_SOURCES = ("coco", "multilabel")

_TRANSFORM = "transforms.Compose([transforms.Resize((224, 224)), transforms.ToTensor()])"


def training_snippet(
    weights_path: str,
    dataset_root: str,
    source: str = "folder",
    num_samples: int | None = None,
    replacement: bool = True,
    batch_size: int | None = None,
    seed: int = 0,
    mode: str = "weighted",
    loader_batch_size: int = 64,
    device: str = "cpu",
    image_root: str | None = None,
) -> str:
    """Python lines that load an exported weights file into a DataLoader with :func:`load_sampler`,
    with the run's settings and seed: they draw what the app drew.

    A folder is read by torchvision's ``ImageFolder(..., allow_empty=True)`` (the app keeps empty
    classes, so the class indices match); a manifest (``dataset_root`` is the manifest file) by
    ``balance_gui.open_dataset`` and a small ``Dataset`` over its rows that opens each image with
    PIL. ``batch_size`` (the sampler panel's) draws whole batches (``batch_sampler=``).

    For ``"coco"`` and ``"multilabel"``, ``dataset_root`` is the annotation file (``image_root``:
    where a COCO file's images are, written out when not beside it), opened with ``open_annotations`` and read
    by a small ``Dataset`` giving image ``i`` of the file and its classes as a multi-hot vector;
    ``mode`` is ``"repeat"`` (repeat-factor epochs, an ``rfs:T`` file) or ``"weighted"``, and the
    seed is passed as ``seed=`` as the app's image-level run does."""
    weights_path = os.path.abspath(weights_path)
    dataset_root = os.path.abspath(dataset_root)
    if source in ANNOTATION_SOURCES:
        return _annotation_snippet(
            weights_path,
            dataset_root,
            source,
            num_samples,
            replacement,
            batch_size,
            seed,
            mode,
            loader_batch_size,
            device,
            None if image_root is None else os.path.abspath(image_root),
        )
    args = [repr(weights_path), "index" if source == "manifest" else "dataset"]
    if mode != "weighted":
        args.append(f"mode={mode!r}")
    if num_samples is not None:
        args.append(f"num_samples={int(num_samples)}")
    if not replacement:
        args.append("replacement=False")
    if batch_size:
        args.append(f"batch_size={int(batch_size)}")
    if str(device) != "cpu":
        args.append(f"device={str(device)!r}")
    args.append(f"generator=torch.Generator().manual_seed({int(seed)})")
    transform = _TRANSFORM
    if source == "manifest":
        head = [
            "import torch",
            "from PIL import Image",
            "from torch.utils.data import DataLoader, Dataset",
            "from torchvision import transforms",
            "",
            "from balance_gui import load_sampler, open_dataset",
            "",
            f"index = open_dataset({dataset_root!r})  # the manifest's rows, in its order",
            "",
            "",
            "class ManifestDataset(Dataset):",
            "    def __init__(self, index, transform):",
            "        self.index, self.transform = index, transform",
            "        self.classes, self.targets = list(index.classes), index.targets.tolist()",
            "",
            "    def __len__(self):",
            "        return len(self.index)",
            "",
            "    def __getitem__(self, i):",
            "        with Image.open(self.index.path(i)) as image:",
            '            return self.transform(image.convert("RGB")), self.targets[i]',
            "",
            "",
            f"dataset = ManifestDataset(index, {transform})  # your transforms",
        ]
    else:
        head = [
            "import torch",
            "from torch.utils.data import DataLoader",
            "from torchvision import datasets, transforms",
            "",
            "from balance_gui import load_sampler",
            "",
            f"dataset = datasets.ImageFolder({dataset_root!r}, {transform}, allow_empty=True)  # your transforms",
        ]
    sampler = [
        "# checks that the file belongs to the dataset; the app's settings and seed: the draws the app made",
        f"sampler = load_sampler({', '.join(args)})",
    ]
    if batch_size:
        loader = "loader = DataLoader(dataset, batch_sampler=sampler, num_workers=4)"
    else:
        loader = f"loader = DataLoader(dataset, batch_size={int(loader_batch_size)}, sampler=sampler, num_workers=4)"
    return "\n".join([*head, *sampler, loader]) + "\n"


def _annotation_snippet(
    weights_path: str,
    annotations: str,
    source: str,
    num_samples: int | None,
    replacement: bool,
    batch_size: int | None,
    seed: int,
    mode: str,
    loader_batch_size: int,
    device: str,
    image_root: str | None,
) -> str:
    repeat = mode == "repeat"
    args = [repr(weights_path), "index"]
    if repeat:
        args.append("mode='repeat'")  # the rest are the epoch's own: floor(r) or floor(r)+1 times each image
    else:
        if num_samples is not None:
            args.append(f"num_samples={int(num_samples)}")
        if not replacement:
            args.append("replacement=False")
        if batch_size:
            args.append(f"batch_size={int(batch_size)}")
        if str(device) != "cpu":
            args.append(f"device={str(device)!r}")
    args.append(f"seed={int(seed)}")
    beside = image_root is None or image_root == os.path.dirname(annotations)  # open_annotations' default
    opened = repr(annotations) if beside else f"{annotations!r}, image_root={image_root!r}"
    what = "COCO file's" if source == "coco" else "manifest's"
    lines = [
        "import torch",
        "from PIL import Image",
        "from torch.utils.data import DataLoader, Dataset",
        "from torchvision import transforms",
        "",
        "from balance_gui import load_sampler",
        "from balance_gui.core.annotations import open_annotations",
        "",
        f"index = open_annotations({opened})  # the {what} images, in its order",
        "",
        "",
        "class AnnotatedImages(Dataset):",
        "    # item i must be image i of the file; to use torchvision's CocoDetection instead (it lists",
        "    # images by id), set its ids = index.image_ids.tolist()",
        "    def __init__(self, index, transform):",
        "        self.index, self.transform = index, transform",
        "        self.classes = list(index.classes)",
        "",
        "    def __len__(self):",
        "        return len(self.index)",
        "",
        "    def __getitem__(self, i):",
        "        target = torch.zeros(len(self.classes))",
        "        target[self.index.labels(i)] = 1.0  # its classes, multi-hot",
        "        with Image.open(self.index.path(i)) as image:",
        '            return self.transform(image.convert("RGB")), target',
        "",
        "",
        f"dataset = AnnotatedImages(index, {_TRANSFORM})  # your transforms",
        "# checks that the file belongs to the annotations (image ids, files); the app's seed: the draws the app made",
        f"sampler = load_sampler({', '.join(args)})",
    ]
    if batch_size and not repeat:
        lines.append("loader = DataLoader(dataset, batch_sampler=sampler, num_workers=4)")
    else:
        lines.append(
            f"loader = DataLoader(dataset, batch_size={int(loader_batch_size)}, sampler=sampler, num_workers=4)"
        )
    return "\n".join(lines) + "\n"
