"""The "Use in Training" code: a few lines that load an exported weights file with
``balance_gui.load_sampler`` (``core.training``), so they draw what the app drew and cannot drift
from it. Imports neither Qt nor torch (the GUI shows these lines without loading torch)."""

from __future__ import annotations

import os

__all__ = ["training_snippet"]


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
) -> str:
    """Python lines that load an exported weights file into a DataLoader with :func:`load_sampler`,
    with the run's settings and seed: they draw what the app drew.

    A folder is read by torchvision's ``ImageFolder(..., allow_empty=True)`` (the app keeps empty
    classes, so the class indices match); a manifest (``dataset_root`` is the manifest file) by
    ``balance_gui.open_dataset`` and a small ``Dataset`` over its rows that opens each image with
    PIL. ``batch_size`` (the sampler panel's) draws whole batches (``batch_sampler=``)."""
    weights_path = os.path.abspath(weights_path)
    dataset_root = os.path.abspath(dataset_root)
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
    transform = "transforms.Compose([transforms.Resize((224, 224)), transforms.ToTensor()])"
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
