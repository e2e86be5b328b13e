"""Long work as task objects: scan, check, run and export, each a small class around one
``JobRunner``, all showing their progress in one ``TaskProgress`` (a bar and a Cancel button in
the status bar).

A task starts its job, tells the shared widget, reads the job's latest progress when the widget's
timer asks (``poll``, ~30 times a second: a worker only stores its progress, it sends no signal per
file) and ends with ``ended(outcome)`` once its job is over (the runner is no longer busy then, so a
listener may start the next job at once). Results go to the session; messages go to the host (the
window) through ``show_status`` and ``report_exception``.

superqt and the workers module are imported when a task first starts, not when the window opens.
"""

from __future__ import annotations

import gc
import os
import time
from typing import Any, Protocol

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QPushButton, QWidget

from balance_gui.core.errors import BalanceError, Cancelled

from .jobs import JobRunner
from .session import RunState, Session

REDRAW_MS = 33  # ~30 progress reads and redraws per second while a task is going
EPOCH_STEPS = 100  # an image-level run's progress bar: steps per epoch

# settings keys of the check engine (offered when Ray is importable)
ENGINE_KEY = "check/engine"  # "local" or "ray"
RAY_ADDRESS_KEY = "check/ray_address"  # empty: a local Ray cluster started for the check


class Host(Protocol):
    """What a task needs of the window."""

    session: Session

    def show_status(self, text: str) -> None: ...

    def show_error(self, title: str, text: str, details: str = "") -> None: ...

    def report_exception(self, title: str, exc: BaseException) -> None: ...


def freeze_long_lived_objects() -> None:
    """Move every object alive now (Qt wrappers, torch, the dataset index) out of the garbage
    collector's reach before a long job. A worker thread that allocates many objects (the image
    check's per-file records) triggers full collections, and each one walked this whole heap
    holding the GIL: a 109 ms GUI stall measured in the middle of a 20,000-image check. Frozen
    objects are still freed by reference counting; only cycles among them wait for ``gc.unfreeze``."""
    gc.freeze()


class Task(QObject):
    """One kind of long job. ``ended(outcome)`` once it is over; ``cancel()`` asks it to stop
    (its outcome then says so); ``abort()`` cuts it off with no outcome (a new dataset, shutdown)."""

    ended = Signal(str)
    cancel_tip = "Stop it"

    def __init__(self, host: Host, progress: TaskProgress, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.host = host
        self.progress = progress
        self.runner = JobRunner(self)

    @property
    def busy(self) -> bool:
        return self.runner.busy

    def cancel(self) -> None:
        if self.runner.busy:
            self.runner.quit()

    def abort(self) -> None:
        self.runner.cancel()
        self.progress.untrack(self)

    def poll(self) -> tuple[int, int, str | None] | None:
        """``(done, total, status text or None)`` of the job now; None while nothing is known."""
        return None


class TaskProgress(QWidget):
    """The status bar's progress bar and Cancel button, shared by every task: it shows the task
    started last among those going, and its button cancels that one."""

    def __init__(self, host: Host, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.host = host
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.bar = QProgressBar()
        self.bar.setObjectName("task_progress")
        self.bar.setMaximumWidth(220)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancel_task")
        self.cancel_button.clicked.connect(self.cancel_shown)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        self._tasks: list[Task] = []
        self.timer = QTimer(self)
        self.timer.setInterval(REDRAW_MS)
        self.timer.timeout.connect(self.refresh)
        self.setVisible(False)

    @property
    def shown(self) -> Task | None:
        return self._tasks[-1] if self._tasks else None

    def track(self, task: Task) -> None:
        if task in self._tasks:
            self._tasks.remove(task)
        self._tasks.append(task)
        self.bar.setRange(0, 0)  # busy until the job reports
        self.cancel_button.setEnabled(True)
        self.cancel_button.setToolTip(task.cancel_tip)
        self.setVisible(True)
        self.timer.start()

    def untrack(self, task: Task) -> None:
        if task in self._tasks:
            self._tasks.remove(task)
        shown = self.shown
        if shown is None:
            self.timer.stop()
            self.setVisible(False)
        else:
            self.cancel_button.setToolTip(shown.cancel_tip)
            self.cancel_button.setEnabled(True)

    def cancel_shown(self) -> None:
        task = self.shown
        if task is not None:
            self.cancel_button.setEnabled(False)
            task.cancel()

    def refresh(self) -> None:
        """Read every going task's progress; the shown one's goes to the bar and the status line."""
        shown = self.shown
        for task in list(self._tasks):
            report = task.poll()
            if task is shown and report is not None:
                done, total, text = report
                if total > 0:
                    self.bar.setRange(0, total)
                    self.bar.setValue(min(done, total))
                if text:
                    self.host.show_status(text)

    def stop(self) -> None:
        self.timer.stop()
        self._tasks.clear()


# ---------------------------------------------------------------- scan


class ScanTask(Task):
    """Open a folder, manifest, table or annotation file in a worker (``workers.make_scan_job``)."""

    loaded = Signal(object, str)  # the index, the path opened
    cancel_tip = "Stop the scan; the dataset shown so far stays open"

    def __init__(self, host: Host, progress: TaskProgress, parent: QObject | None = None) -> None:
        super().__init__(host, progress, parent)
        self._job: Any = None

    def start(self, path: str) -> None:
        from . import workers

        job = workers.make_scan_job(path)
        self._job = job
        self.runner.start(
            job.worker,
            on_done=lambda index: self._done(job, index),
            on_exception=self._failed,
            on_finished=self._finished,
            cancel=job.cancel.set,
        )
        self.progress.track(self)
        self.host.show_status(f"Scanning {path} …")

    def cancel(self) -> None:
        if self.runner.busy:
            super().cancel()
            self.host.show_status("Cancelling the scan…")

    def _finished(self) -> None:
        self._job = None
        self.progress.untrack(self)

    def _done(self, job: Any, index: Any) -> None:
        self._finished()
        elapsed = time.perf_counter() - job.started
        self.loaded.emit(index, job.path)
        self.host.show_status(
            f"Opened {index.root}: {len(index):,} images in {index.num_classes:,} classes ({elapsed:.2f} s)"
        )
        self.ended.emit("ok")

    def _failed(self, exc: BaseException) -> None:
        self._finished()
        if isinstance(exc, Cancelled):
            kept = "; the previous dataset stays open" if self.host.session.index is not None else ""
            self.host.show_status("Scan cancelled" + kept)
            self.ended.emit("cancelled")
            return
        self.host.report_exception("Cannot open dataset", exc)
        self.ended.emit("failed")

    def poll(self) -> tuple[int, int, str | None] | None:
        from balance_gui.core.annotations import AnnotationProgress

        job = self._job
        if job is None or job.latest is None:
            return None
        p = job.latest
        if isinstance(p, AnnotationProgress):  # a COCO .json or path,labels manifest
            text = f"Reading annotations: {p.images:,} images, {p.annotations:,} annotations, {p.elapsed_s:.1f} s"
            return p.bytes_read // 1024, max(p.bytes_total, 1) // 1024, text
        text = (
            f"Scanning: {p.files_found:,} images in {p.classes_done:,} of {p.classes_total:,} "
            f"classes, {p.elapsed_s:.1f} s — {p.current}"
        )
        return p.classes_done, p.classes_total, text


# ---------------------------------------------------------------- image check


def ray_available() -> bool:
    """Whether Ray can be imported, asked as ``core.ray_engine.ray_available`` does, without importing
    that module (and the image check's) while the window is built."""
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def _check_on_ray(index: Any, *, address: str | None, **kwargs: Any) -> Any:
    """The core's check with its decode+hash on Ray (``core.ray_engine.check_images_ray``);
    an empty address starts a local cluster for the check and stops it after."""
    from balance_gui.core import ray_engine

    return ray_engine.check_images_ray(index, address=address or None, **kwargs)


def make_engine_check_job(index: Any, engine: str, address: str) -> Any:
    """The image check of ``index`` as a CheckJob, on the local processes or on Ray."""
    from .image_check import make_check_job

    job = make_check_job(index)
    if engine == "ray":
        from superqt.utils import FunctionWorker

        job.worker = FunctionWorker(_check_on_ray, index, address=address, progress=job._progress, cancel=job.cancel)
    return job


class CheckTask(Task):
    """Decode and hash every image (``core.images.check_images``); the result goes to the session.
    A COCO or ``path,labels`` file is checked file by file (``core.annotation_check.as_check_index``)."""

    cancel_tip = "Stop the image check; nothing of it is applied"

    def __init__(self, host: Host, progress: TaskProgress, parent: QObject | None = None) -> None:
        super().__init__(host, progress, parent)
        self._job: Any = None
        self._outcome = "failed"
        self.engine = "local"
        self.ray_address = ""

    def start(self) -> None:
        s = self.host.session
        index = s.index
        if s.multilabel:
            from balance_gui.core.annotation_check import as_check_index

            index = as_check_index(index)
        freeze_long_lived_objects()
        job = make_engine_check_job(index, self.engine, self.ray_address)
        self._job = job
        self._outcome = "failed"  # until the job says otherwise
        self.runner.start(
            job.worker,
            on_done=self._done,
            on_exception=self._failed,
            on_finished=self._finished,
            cancel=job.cancel.set,
        )
        self.progress.track(self)
        on = " on Ray" if self.engine == "ray" else ""
        self.host.show_status(f"Checking {len(index):,} images{on}…")

    def cancel(self) -> None:
        if self.runner.busy:
            super().cancel()
            self.host.show_status("Cancelling the image check…")

    def abort(self) -> None:
        """A check of the previous dataset must not attach to the next one: it ends as cancelled."""
        if self.runner.busy:
            super().abort()
            self._outcome = "cancelled"
            self._finished()

    def poll(self) -> tuple[int, int, str | None] | None:
        job = self._job
        if job is None or job.latest is None:
            return None
        p = job.latest
        text = (
            f"Checking images: {p.files_done:,} of {p.files_total:,} ({p.from_cache:,} from the cache), "
            f"{p.elapsed_s:.1f} s"
        )
        return p.files_done, max(p.files_total, 1), text

    def _stop_polling(self) -> None:
        """The outcome is known: no later progress poll may overwrite the status it writes (the
        shared widget's timer can fire between the outcome and ``_finished``, both queued)."""
        self._job = None
        self.progress.untrack(self)

    def _done(self, result: Any) -> None:
        self._stop_polling()
        try:
            self.host.session.set_check(result)
        except BalanceError as e:
            self.host.show_error("Check not applied", str(e))
            self._outcome = "failed"
            return
        n = len(result.problems)
        self.host.show_status(
            f"Image check: {len(result.corrupt):,} corrupt, {len(result.duplicates):,} duplicate copies "
            f"({result.elapsed_s:.2f} s)"
            if n
            else f"Image check: all {len(result.targets):,} images usable ({result.elapsed_s:.2f} s)"
        )
        self._outcome = "ok"

    def _failed(self, exc: BaseException) -> None:
        self._stop_polling()
        if isinstance(exc, Cancelled):
            self.host.show_status("Image check cancelled")
            self._outcome = "cancelled"
            return
        self.host.report_exception("Image check failed", exc)
        self._outcome = "failed"

    def _finished(self) -> None:
        self._stop_polling()
        self.ended.emit(self._outcome)


# ---------------------------------------------------------------- sampler run


class RunTask(Task):
    """Run the sampler (``core.simulate.simulate``; on multi-label data the core's image-level run,
    ``core.image_sampling.image_level_steps``). Steps are kept as they come and handed to the session
    at the shared widget's ~30 Hz; both runs pause, resume and stop alike."""

    finished = Signal(object)  # the final step of a run that completed
    cancel_tip = "Stop the run"

    def __init__(self, host: Host, progress: TaskProgress, parent: QObject | None = None) -> None:
        super().__init__(host, progress, parent)
        self.pending_step: Any = None
        self._stop_requested = False
        self._error: BaseException | None = None

    def start(self, settings: Any) -> None:
        from . import workers

        worker: Any
        s = self.host.session
        self._stop_requested = False
        self._error = None
        self.pending_step = None
        s.clear_step()
        freeze_long_lived_objects()
        if s.multilabel:
            rfs = s.scheme.name == "rfs"
            params = {
                "epochs": settings.epochs,
                "num_samples": None if rfs else settings.num_samples,
                "replacement": True if rfs else settings.replacement,
                "seed": settings.seed,
                "device": settings.device,
            }
            worker = workers.make_image_level_worker(s.index, s.scheme, s.image_weights, params)
            self.host.show_status(f"Sampling images of {s.index.num_classes:,} classes, {settings.epochs} epoch(s)…")
        else:
            from balance_gui.core.training import run_weights  # imports torch: only when a run starts

            # The core's one reading of the weights (excluded files weigh 0), as load_sampler reads the file
            weights = run_weights(s.index.targets, s.class_weights, s.excluded)
            params = settings.simulate_kwargs()
            if "sample_weights" in weights:
                params["sample_weights"] = weights["sample_weights"]
            worker = workers.make_simulation_worker(s.index.targets, weights.get("class_weights"), params)
            self.host.show_status(
                f"Sampling {settings.total_draws:,} draws "
                f"({settings.mode}, {settings.implementation}, {settings.device})…"
            )
        self.runner.start(
            worker,
            on_partial=self._on_step,
            on_exception=self._failed,
            on_finished=self._finished_job,
            on_paused=lambda: s.set_state(RunState.PAUSED),
            on_resumed=lambda: s.set_state(RunState.RUNNING),
        )
        self.progress.track(self)
        s.set_state(RunState.RUNNING)

    def toggle_pause(self) -> None:
        if not self.runner.busy:
            return
        if self.host.session.state is RunState.PAUSED:
            self.runner.resume()
        else:
            self.runner.pause()

    def cancel(self) -> None:
        if self.runner.busy:
            self._stop_requested = True
            self.runner.quit()
            self.host.show_status("Stopping the run…")

    def abort(self) -> None:
        super().abort()
        self.pending_step = None

    def _on_step(self, step: Any) -> None:
        self.pending_step = step  # drawn at the shared widget's ~30 Hz

    def poll(self) -> tuple[int, int, str | None] | None:
        self.draw_pending()
        step = self.host.session.step
        if step is None:
            return None
        if hasattr(step, "epochs_done"):  # an image-level run: an epoch's length may be its own (rfs:T)
            return round(step.epochs_done * EPOCH_STEPS), step.epochs * EPOCH_STEPS, None
        return step.draws_done, step.total_draws, None

    def draw_pending(self) -> None:
        step, self.pending_step = self.pending_step, None
        if step is not None and self.host.session.index is not None:
            self.host.session.set_step(step)

    def _failed(self, exc: BaseException) -> None:
        self._error = exc
        self.host.report_exception("Sampler failed", exc)

    def _finished_job(self) -> None:
        self.draw_pending()
        self.progress.untrack(self)
        s = self.host.session
        s.set_state(RunState.IDLE)
        step = s.step
        if self._error is not None:
            self.ended.emit("failed")
        elif s.multilabel:
            if step is not None and self._stop_requested:
                self.host.show_status(f"Run stopped after {step.epochs_done:,.2f} of {step.epochs:,} epoch(s)")
            elif step is not None:
                self.host.show_status(
                    f"Run finished: {step.epochs} epoch(s), {step.sampled.draws:,.1f} images per epoch "
                    f"(expected {step.expected.draws:,.1f})"
                )
            self.ended.emit("stopped" if self._stop_requested else "finished")
            if not self._stop_requested:
                self.finished.emit(step)
        elif self._stop_requested:
            done = step.draws_done if step is not None else 0
            self.host.show_status(f"Run stopped after {done:,} draws")
            self.ended.emit("stopped")
        else:
            if step is not None:
                self.host.show_status(
                    f"Run finished: {step.draws_done:,} draws in {step.elapsed_s:.2f} s "
                    f"({step.draws_per_s:,.0f} draws/s)"
                )
            self.ended.emit("finished")
            self.finished.emit(step)


# ---------------------------------------------------------------- export


class ExportTask(Task):
    """Write the current weights (``core.weightsfile.export_weights``; per image on multi-label data)."""

    written = Signal(str)
    cancel_tip = "Stop the export; no file is written"

    def start(self, path: str) -> None:
        from . import workers

        s = self.host.session
        weights, scheme = s.class_weights, s.scheme  # read-only: the session replaces, never edits, them
        kwargs = s.export_kwargs()
        excluded = kwargs.get("excluded")
        self.runner.start(
            workers.make_export_worker(path, s.index, kwargs, scheme),
            on_done=lambda written: self._done(written, weights, scheme, excluded),
            on_exception=lambda exc: self._failed(exc),
            on_finished=lambda: self.progress.untrack(self),
        )
        self.progress.track(self)
        self.host.show_status(f"Exporting weights to {path} …")

    def _done(self, path: str, weights: Any, scheme: Any, excluded: Any) -> None:
        self.progress.untrack(self)
        self.host.session.mark_exported(path, weights, scheme, excluded)
        self.host.show_status(f"Exported weights to {path}")
        self.written.emit(path)
        self.ended.emit("ok")

    def _failed(self, exc: BaseException) -> None:
        self.progress.untrack(self)
        if isinstance(exc, Cancelled):
            self.host.show_status("Export cancelled")
            self.ended.emit("cancelled")
            return
        self.host.report_exception("Export failed", exc)
        self.ended.emit("failed")


def base_name(session: Session) -> str:
    """The stem of an exported file: dataset and scheme."""
    if session.index is None:
        return "weights"
    name = os.path.basename(os.path.normpath(session.index.root)) or "dataset"
    scheme = session.scheme
    return f"{name}-{str(scheme).replace(':', '-')}-weights" if scheme.name != "custom" else f"{name}-custom-weights"


__all__ = [
    "CheckTask",
    "ENGINE_KEY",
    "ExportTask",
    "Host",
    "RAY_ADDRESS_KEY",
    "RunTask",
    "ScanTask",
    "Task",
    "TaskProgress",
    "base_name",
    "freeze_long_lived_objects",
    "make_engine_check_job",
    "ray_available",
]
