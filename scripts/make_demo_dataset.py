"""Regenerate the bundled demo dataset: a long-tailed ImageFolder of small real images.

12 classes of 32x32 JPEG drawings (a shape per class, random colour, size and
position), from 400 images down to 8: imbalance ratio 50. Deterministic: the
same seed gives the same files, byte for byte.

    python scripts/make_demo_dataset.py resources/demo
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
from pathlib import Path

from PIL import Image, ImageDraw

CLASSES = [
    "circle",
    "square",
    "triangle",
    "cross",
    "ring",
    "diamond",
    "hstripes",
    "vstripes",
    "checker",
    "dots",
    "star",
    "plus",
]
LARGEST, RATIO, SIZE = 400, 50, 32


def class_counts() -> list[int]:
    r = (1 / RATIO) ** (1 / (len(CLASSES) - 1))
    return [round(LARGEST * r**i) for i in range(len(CLASSES))]


def draw(kind: str, rng: random.Random) -> Image.Image:
    bg = tuple(rng.randrange(0, 90) for _ in range(3))
    fg = tuple(rng.randrange(140, 256) for _ in range(3))
    img = Image.new("RGB", (SIZE, SIZE), bg)
    d = ImageDraw.Draw(img)
    s = rng.randrange(14, 26)
    x0, y0 = rng.randrange(0, SIZE - s + 1), rng.randrange(0, SIZE - s + 1)
    x1, y1, cx, cy = x0 + s, y0 + s, x0 + s / 2, y0 + s / 2
    if kind == "circle":
        d.ellipse([x0, y0, x1, y1], fill=fg)
    elif kind == "square":
        d.rectangle([x0, y0, x1, y1], fill=fg)
    elif kind == "triangle":
        d.polygon([(cx, y0), (x1, y1), (x0, y1)], fill=fg)
    elif kind == "cross":
        d.line([x0, y0, x1, y1], fill=fg, width=3)
        d.line([x0, y1, x1, y0], fill=fg, width=3)
    elif kind == "ring":
        d.ellipse([x0, y0, x1, y1], outline=fg, width=3)
    elif kind == "diamond":
        d.polygon([(cx, y0), (x1, cy), (cx, y1), (x0, cy)], fill=fg)
    elif kind == "hstripes":
        for y in range(rng.randrange(0, 4), SIZE, 6):
            d.rectangle([0, y, SIZE, y + 2], fill=fg)
    elif kind == "vstripes":
        for x in range(rng.randrange(0, 4), SIZE, 6):
            d.rectangle([x, 0, x + 2, SIZE], fill=fg)
    elif kind == "checker":
        step = rng.choice([4, 8])
        for y in range(0, SIZE, step):
            for x in range((y // step) % 2 * step, SIZE, 2 * step):
                d.rectangle([x, y, x + step - 1, y + step - 1], fill=fg)
    elif kind == "dots":
        for _ in range(rng.randrange(5, 10)):
            px, py = rng.randrange(2, SIZE - 2), rng.randrange(2, SIZE - 2)
            d.ellipse([px - 2, py - 2, px + 2, py + 2], fill=fg)
    elif kind == "star":
        pts = [
            (
                cx + (s / 2 if i % 2 == 0 else s / 5) * math.cos(math.pi * i / 5 - math.pi / 2),
                cy + (s / 2 if i % 2 == 0 else s / 5) * math.sin(math.pi * i / 5 - math.pi / 2),
            )
            for i in range(10)
        ]
        d.polygon(pts, fill=fg)
    elif kind == "plus":
        d.rectangle([cx - 2, y0, cx + 2, y1], fill=fg)
        d.rectangle([x0, cy - 2, x1, cy + 2], fill=fg)
    return img


def make(out: Path, seed: int = 0) -> list[int]:
    if out.exists():
        shutil.rmtree(out)
    rng = random.Random(seed)
    counts = class_counts()
    for name, n in zip(CLASSES, counts, strict=False):
        folder = out / name
        folder.mkdir(parents=True)
        for i in range(n):
            draw(name, rng).save(folder / f"{name}_{i:04d}.jpg", quality=80, optimize=True)
    return counts


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", default="resources/demo", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    counts = make(args.out, args.seed)
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(
        f"{args.out}: {sum(counts)} images in {len(counts)} classes {counts}, "
        f"imbalance {max(counts) / min(counts):.0f}, {size / 1e6:.2f} MB"
    )
