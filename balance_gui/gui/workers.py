"""Thin wrappers that run core functions in superqt workers (Qt's global thread pool).

Nothing here computes anything the core does not: a scan is ``core.dataset.open_dataset``,
a run is ``core.simulate.simulate``, an export is ``core.weightsfile.export_weights``.
torch and the torch-backed core modules are imported inside the workers, never at
import time of the GUI, so the window shows before torch has loaded.
"""

from __future__ import annotations

import importlib
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from superqt.utils import FunctionWorker, GeneratorWorker

from balance_gui.core.annotations import AnnotationProgress, is_multilabel_manifest, open_annotations
from balance_gui.core.dataset import ScanProgress, open_dataset

# Longest gap between two steps a simulation worker hands to the GUI thread: the GUI
# redraws at ~30 Hz, so more frequent steps would only queue up signals.
STEP_INTERVAL_S = 1 / 60


class ClosingGeneratorWorker(GeneratorWorker):
    """A GeneratorWorker that closes its generator in the worker thread when it ends,
    however it ends (finished, stopped with ``quit()``, or failed), so the core's
    ``finally`` blocks run at once instead of whenever the generator is collected."""

    def work(self) -> Any:
        try:
            return super().work()
        finally:
            try:
                self._gen.close()
            except Exception:  # noqa: BLE001 - a generator that fails while closing must not kill the worker
                pass


Progress = TypeVar("Progress")


@dataclass(kw_only=True)
class ProgressJob(Generic[Progress]):
    """Long core work in a worker: the worker, its cancel flag and the latest progress report.

    The core calls ``progress`` from the worker thread after each unit of work (a class folder,
    a chunk of files); the report is only stored here, and the GUI reads it on its own timer,
    so a scan of 100,000 folders sends no flood of signals to the GUI thread.
    """

    worker: FunctionWorker
    cancel: threading.Event = field(default_factory=threading.Event)
    latest: Progress | None = None
    started: float = field(default_factory=time.perf_counter)

    def _progress(self, report: Progress) -> None:
        self.latest = report  # one reference assignment: atomic under the GIL


@dataclass(kw_only=True)
class ScanJob(ProgressJob[ScanProgress | AnnotationProgress]):
    """A running scan of ``path``."""

    path: str


def is_annotation_path(path: str) -> bool:
    """A COCO/LVIS instances ``.json`` or a ``path,labels`` CSV manifest (multi-label data)."""
    low = path.lower()
    return os.path.isfile(path) and (low.endswith(".json") or (low.endswith(".csv") and is_multilabel_manifest(path)))


def make_scan_job(path: str) -> ScanJob:
    """A scan of ``path`` (folder or .csv manifest; a COCO .json or ``path,labels`` .csv is read
    with ``core.annotations.open_annotations``, its progress an AnnotationProgress), not started yet."""
    job = ScanJob(path=path, worker=None)  # type: ignore[arg-type]
    read = open_annotations if is_annotation_path(path) else open_dataset
    job.worker = FunctionWorker(read, path, progress=job._progress, cancel=job.cancel)
    return job


def leave_a_core_to_the_gui() -> None:
    """Cap torch's intra-op threads at cores - 1: with every core busy in torch's thread pool,
    the GUI thread waits for a time slice and the window stutters (measured on 2 cores: the
    sampler is no slower, the longest event-loop stall halves)."""
    import torch

    cores = os.cpu_count() or 1
    if cores > 1 and torch.get_num_threads() >= cores:
        torch.set_num_threads(cores - 1)


def _simulation_steps(targets: Any, class_w: Any, params: dict[str, Any], interval_s: float) -> Any:
    """Yield the core simulation's steps, at most one per ``interval_s``, and always the last one."""
    from balance_gui.core.simulate import simulate  # imports torch: only ever in a worker

    leave_a_core_to_the_gui()

    steps = simulate(targets, class_w, **params)
    try:
        last_sent = 0.0
        pending = None
        for step in steps:
            now = time.perf_counter()
            if now - last_sent >= interval_s:
                pending = None
                last_sent = now
                yield step
            else:
                pending = step
        if pending is not None:
            yield pending
    finally:
        steps.close()


def make_simulation_worker(
    targets: Any, class_w: Any, params: dict[str, Any], interval_s: float = STEP_INTERVAL_S
) -> ClosingGeneratorWorker:
    """A worker that runs ``core.simulate.simulate(targets, class_w, **params)``; not started.

    ``yielded`` carries SimulationSteps; ``pause()``/``resume()`` stop and restart pulling
    from the generator; ``quit()`` stops the run and closes the generator.
    """
    return ClosingGeneratorWorker(_simulation_steps, targets, class_w, dict(params), interval_s)


def _image_level_steps(index: Any, scheme: Any, image_weights: Any, params: dict[str, Any], interval_s: float) -> Any:
    from balance_gui.core.image_sampling import image_level_steps  # imports torch: only in a worker

    leave_a_core_to_the_gui()
    steps = image_level_steps(index, scheme, image_weights=image_weights, interval_s=interval_s, **params)
    try:
        yield from steps
    finally:
        steps.close()


def make_image_level_worker(
    index: Any, scheme: Any, image_weights: Any, params: dict[str, Any], interval_s: float | None = None
) -> ClosingGeneratorWorker:
    """A worker that runs ``core.image_sampling.image_level_steps`` on a multi-label index
    (``params``: epochs, num_samples, replacement, seed, device); not started. ``yielded`` carries
    ImageLevelRun steps, the last one the whole run's: at most one per ``interval_s`` (default
    ``STEP_INTERVAL_S``), throttled in the core since a step costs a pass over the images.
    ``pause()``, ``resume()`` and ``quit()`` as for ``make_simulation_worker``."""
    every = STEP_INTERVAL_S if interval_s is None else interval_s
    return ClosingGeneratorWorker(_image_level_steps, index, scheme, image_weights, dict(params), every)


def _export(path: str, index: Any, scheme: Any, weights: dict[str, Any]) -> str:
    if "image_weights" in weights:  # multi-label data: one weight per image, in the file's order
        from balance_gui.core.annotation_weights import export_image_weights

        return export_image_weights(path, index, weights["image_weights"], scheme)
    from balance_gui.core.weightsfile import export_weights

    return export_weights(path, index, scheme=scheme, **weights)


def make_export_worker(path: str, index: Any, weights: dict[str, Any], scheme: Any) -> FunctionWorker:
    """A worker that writes a weights file with the core's ``export_weights``; not started.
    ``weights``: the session's ``export_kwargs()`` (``class_w``, and ``excluded`` with weights on
    usable images)."""
    return FunctionWorker(_export, path, index, scheme, dict(weights))


def probe_devices() -> dict[str, tuple[bool, str]]:
    """Import torch (and the simulation core, to warm it) and say which devices can run.

    Returns ``{"cpu": (True, ...), "cuda": (ok, reason), "mps": (ok, reason)}``; the reason
    explains an unavailable device in words fit for a tooltip.
    """
    try:
        import torch

        leave_a_core_to_the_gui()
    except Exception as e:  # noqa: BLE001 - torch missing or broken: only a reason to show
        reason = f"PyTorch could not be loaded: {type(e).__name__}: {e}"
        return {"cpu": (False, reason), "cuda": (False, reason), "mps": (False, reason)}
    try:
        importlib.import_module("balance_gui.core.simulate")  # warm the import for the first run
    except Exception:  # noqa: BLE001 - a failed warm-up import shows at the first run instead
        pass
    out = {"cpu": (True, "run on the CPU")}
    try:
        if torch.cuda.is_available():
            out["cuda"] = (True, f"run on {torch.cuda.get_device_name(0)}")
        elif torch.version.cuda is None:
            out["cuda"] = (False, "this PyTorch build has no CUDA support")
        else:
            out["cuda"] = (False, "no CUDA GPU or driver found (torch.cuda.is_available() is False)")
    except Exception as e:  # noqa: BLE001 - a broken CUDA set-up is only a reason to show
        out["cuda"] = (False, f"CUDA check failed: {e}")
    try:
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            out["mps"] = (True, "run on the Apple GPU (Metal)")
        elif mps is not None and mps.is_built():
            out["mps"] = (False, "no Apple GPU available (torch.backends.mps.is_available() is False)")
        else:
            out["mps"] = (False, "MPS needs an Apple-silicon Mac and a PyTorch built with MPS")
    except Exception as e:  # noqa: BLE001 - a broken MPS set-up is only a reason to show
        out["mps"] = (False, f"MPS check failed: {e}")
    return out


def make_device_probe_worker() -> FunctionWorker:
    return FunctionWorker(probe_devices)
