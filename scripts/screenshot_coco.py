"""Take the README's detection screenshot: the real app on a COCO instances file after a run.

    .venv/bin/python scripts/screenshot_coco.py [--out docs/screenshot-coco.png]

The COCO file is composed from resources/demo (each canvas a 2 x 2 grid of demo tiles, one box per
tile, the shapes kept long-tailed), written to the temp folder. The window uses rfs:0.1, runs 20
repeat-factor epochs, and shows the co-occurrence tab. Without a display it re-runs itself under
Xvfb (scripts/screenshot.py's reexec_under_xvfb).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from screenshot import HEIGHT, WIDTH, reexec_under_xvfb  # noqa: E402

TILE = 32


def compose_coco(out: str, canvases: int = 240, seed: int = 0) -> str:
    """A long-tailed detection set from the demo's shapes; returns the instances JSON's path."""
    import numpy as np
    from PIL import Image

    demo = os.path.join(REPO, "resources", "demo")
    shapes = sorted(d for d in os.listdir(demo) if os.path.isdir(os.path.join(demo, d)))
    files = {s: sorted(f for f in os.listdir(os.path.join(demo, s)) if f.endswith(".jpg")) for s in shapes}
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, len(shapes) + 1) ** 1.6
    p /= p.sum()
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    images, annotations = [], []
    for i in range(canvases):
        m = 0 if rng.random() < 0.05 else int(rng.integers(1, 5))
        canvas = Image.new("RGB", (2 * TILE, 2 * TILE), (0, 0, 0))
        for slot, k in enumerate(rng.choice(len(shapes), m, p=p)):
            s = shapes[int(k)]
            f = files[s][int(rng.integers(len(files[s])))]
            x, y = (slot % 2) * TILE, (slot // 2) * TILE
            with Image.open(os.path.join(demo, s, f)) as src:
                canvas.paste(src.convert("RGB").resize((TILE, TILE)), (x, y))
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": 1000 + i,
                    "category_id": 3 * int(k) + 2,
                    "bbox": [x, y, TILE, TILE],
                }
            )
        name = f"images/c{i:04d}.png"
        canvas.save(os.path.join(out, name))
        images.append({"id": 1000 + i, "file_name": name, "width": 2 * TILE, "height": 2 * TILE})
    categories = [{"id": 3 * k + 2, "name": s} for k, s in enumerate(shapes)]
    path = os.path.join(out, "instances.json")
    with open(path, "w") as fh:
        json.dump({"images": images, "annotations": annotations, "categories": categories[::-1]}, fh)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(REPO, "docs", "screenshot-coco.png"))
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args(argv)
    reexec_under_xvfb(os.path.abspath(__file__))

    from PySide6.QtCore import QEventLoop, QSettings, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv[:1])
    app.setApplicationName("balance-gui")
    from balance_gui.core.weights import Scheme
    from balance_gui.gui.app import create_window, wait_for_signal

    data = compose_coco(tempfile.mkdtemp(prefix="balance-gui-coco-"))
    settings = QSettings(os.path.join(tempfile.mkdtemp(), "screenshot.ini"), QSettings.Format.IniFormat)
    window = create_window(data, settings=settings)
    window.resize(WIDTH, HEIGHT)
    window.move(0, 0)
    if window.index is None and wait_for_signal(window.scanEnded)[0] != "ok":
        raise SystemExit(f"could not open {data}: {window.last_error}")
    if window.torch_label.text().endswith("loading…"):
        wait_for_signal(window.devicesProbed)
    window.set_scheme(Scheme("rfs", 0.1))
    window.sampler.epochs.setValue(args.epochs)
    window.start_run()
    if wait_for_signal(window.runEnded)[0] != "finished":
        raise SystemExit(f"the run did not finish: {window.last_error}")
    window.table.sortByColumn(2, Qt.SortOrder.DescendingOrder)
    window.tabs.setCurrentWidget(window.cooccurrence)
    loop = QEventLoop()
    QTimer.singleShot(400, loop.quit)
    loop.exec()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    pixmap = window.grab()
    if not pixmap.save(args.out, "PNG"):
        raise SystemExit(f"could not write {args.out}")
    print(f"wrote {args.out} ({pixmap.width()}x{pixmap.height()}) on platform {app.platformName()}")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
