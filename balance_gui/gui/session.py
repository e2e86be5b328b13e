"""The session model: the one place the GUI's state lives (napari's ViewerModel pattern).

It holds the dataset index, the scheme and its class weights, the run settings (a
frozen dataclass), the run state (an Enum) and the last simulation step, and emits a
signal for every change. Views read it when told and keep no copy of the weights.

Mid-run edits are refused: while a run is going, ``set_scheme``, ``set_class_weight``
and ``set_settings`` raise ``SettingsError`` (the window disables those controls, so this
is the last line of defence), because a plot of the old sampler beside the new weights
would show numbers that belong to neither. Attaching an image check's result or switching
"Weights on usable images" is refused mid-run for the same reason.

With a check attached and ``use_usable`` on, the class weights and every expected figure are
computed on the usable counts (``core.images.usable_weights``): corrupt files and duplicate
copies get weight 0, in the run and in the exported file. On multi-label data the check runs on
the file's images (``core.annotation_check``): an unusable image gets image weight 0 and the class
counts (and N under ``rfs:T``) are those of the usable images.

The index is a single-label ``DatasetIndex`` (a folder or ``path,label`` manifest) or a
``MultiLabelIndex`` (a COCO/LVIS instances JSON or a ``path,labels`` manifest). For the latter a
sampler picks images, not classes: the session also holds the per-image weights (the max of the
image's class weights; the repeat factors under ``rfs:T``) and ``image_figures``, the core's
expected images and instances per class and epoch; ``figures`` (single-label draws) is None.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from balance_gui.core.annotations import MultiLabelIndex
from balance_gui.core.duplicates import resolve
from balance_gui.core.errors import BalanceError, SettingsError
from balance_gui.core.expected import ClassFigures, class_figures
from balance_gui.core.options import Device, Implementation, Mode
from balance_gui.core.repeat_factors import (
    ClassLevel,
    class_repeat_factors,
    expected_repeat_factor_epoch,
    expected_with_replacement,
    expected_without_replacement,
    image_weights,
)
from balance_gui.core.weights import Scheme, class_weights

if TYPE_CHECKING:  # the image check's modules load when a check runs, not with the window
    from balance_gui.core.images import CheckResult


class RunState(enum.Enum):
    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """What a run draws: the keyword arguments of ``core.simulate.simulate``."""

    num_samples: int = 1
    epochs: int = 1
    replacement: bool = True
    batch_size: int | None = None
    seed: int = 0
    device: str = Device.CPU
    mode: str = Mode.WEIGHTED
    implementation: str = Implementation.BALANCED

    def simulate_kwargs(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def total_draws(self) -> int:
        return self.num_samples * self.epochs


class Session(QObject):
    datasetChanged = Signal(object)  # DatasetIndex or None
    weightsChanged = Signal()  # scheme, class weights or the expected figures changed
    settingsChanged = Signal(object)  # RunSettings
    stateChanged = Signal(object)  # RunState
    stepChanged = Signal(object)  # SimulationStep, or None when the run views reset
    exportChanged = Signal()  # a weights file was written, or became stale
    checkChanged = Signal()  # an image check's result was attached or cleared, or use_usable switched

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._index: Any = None
        self._scheme = Scheme("inverse")
        self._weights: np.ndarray | None = None
        self._figures: ClassFigures | None = None
        self._image_weights: np.ndarray | None = None
        self._image_figures: ClassLevel | None = None
        self._figures_note = ""
        self._settings = RunSettings()
        self._state = RunState.IDLE
        self._step: Any = None
        self._export_path: str | None = None
        self._export_weights: np.ndarray | None = None
        self._export_scheme = ""
        self._export_excluded: np.ndarray | None = None
        self._check: CheckResult | None = None
        self._use_usable = False

    # ------------------------------------------------------------------ read
    @property
    def index(self) -> Any:
        return self._index

    @property
    def scheme(self) -> Scheme:
        return self._scheme

    @property
    def class_weights(self) -> np.ndarray | None:
        """The class weights, read-only: change them with set_scheme or set_class_weight."""
        return self._weights

    @property
    def figures(self) -> ClassFigures | None:
        """The core's expected figures for the weights and the run settings."""
        return self._figures

    @property
    def multilabel(self) -> bool:
        """The dataset is a COCO/LVIS file or a ``path,labels`` manifest: images carry several classes."""
        return isinstance(self._index, MultiLabelIndex)

    @property
    def image_weights(self) -> np.ndarray | None:
        """Per image (multi-label data only): the weight the image-level sampler draws it by."""
        return self._image_weights

    @property
    def image_figures(self) -> ClassLevel | None:
        """Multi-label data: the core's expected images and instances per class in one epoch."""
        return self._image_figures

    @property
    def figures_note(self) -> str:
        """Why the figures are not those of the settings (empty when they are)."""
        return self._figures_note

    @property
    def settings(self) -> RunSettings:
        return self._settings

    @property
    def state(self) -> RunState:
        return self._state

    @property
    def step(self) -> Any:
        return self._step

    @property
    def export_path(self) -> str | None:
        return self._export_path

    @property
    def export_stale(self) -> bool:
        """The last exported file no longer holds the current weights."""
        if self._export_path is None or self._export_weights is None or self._weights is None:
            return False
        if self._export_weights.shape != self._weights.shape or not np.array_equal(self._export_weights, self._weights):
            return True
        # the same class weights, but other files excluded ("Weights on usable images" switched)
        now, then = self.excluded, self._export_excluded
        if now is None or then is None:
            return (now is not None and bool(now.any())) or (then is not None and bool(then.any()))
        return not np.array_equal(now, then)

    @property
    def export_scheme(self) -> str:
        return self._export_scheme

    @property
    def check(self) -> CheckResult | None:
        """The image check of the current dataset, or None before one has run."""
        return self._check

    @property
    def use_usable(self) -> bool:
        """The weights are computed on the usable counts (needs a check)."""
        return self._use_usable and self._check is not None

    @property
    def counts(self) -> np.ndarray | None:
        """The counts the weights and figures are computed on: the usable ones when ``use_usable``."""
        if self._index is None:
            return None
        if self.use_usable:
            return self.usable_counts
        return np.asarray(self._index.counts)

    @property
    def usable_counts(self) -> np.ndarray | None:
        """Per class, the usable images of the attached check (None without one). On multi-label data
        an image counts for each class it carries (``core.annotation_check.usable_counts``)."""
        if self._check is None or self._index is None:
            return None
        if self.multilabel:
            from balance_gui.core.annotation_check import usable_counts

            return usable_counts(self._index, self._check.usable_mask)
        return self._check.usable_counts

    @property
    def excluded(self) -> np.ndarray | None:
        """Per sample, True where the sample gets weight 0 (corrupt or a duplicate copy); None when
        the weights are not on the usable images."""
        if not self.use_usable:
            return None
        assert self._check is not None
        return ~self._check.usable_mask

    def run_weights(self) -> dict[str, np.ndarray]:
        """The weights keyword for ``core.simulate.simulate``: class weights, or per-sample weights
        with the excluded samples at 0 when the weights are on the usable images."""
        assert self._weights is not None
        excluded = self.excluded
        if excluded is None:
            return {"class_weights": self._weights}
        per_sample = self._weights[np.asarray(self._index.targets, dtype=np.int64)]
        per_sample[excluded] = 0.0
        return {"sample_weights": per_sample}

    def export_kwargs(self) -> dict[str, Any]:
        """The weights arguments of ``core.weightsfile.export_weights``: ``class_w``, and ``excluded``
        (the per-sample mask of files that get weight 0) when the weights are on the usable images."""
        if self.multilabel:
            return {"image_weights": self._image_weights}
        kwargs: dict[str, Any] = {"class_w": self._weights}
        excluded = self.excluded
        if excluded is not None:
            kwargs["excluded"] = excluded
        return kwargs

    # ------------------------------------------------------------------ write
    def _refuse_mid_run(self, what: str) -> None:
        if self._state is not RunState.IDLE:
            raise SettingsError(
                f"stop the run before changing {what}: the sampler draws with the weights it started with"
            )

    def set_dataset(self, index: Any, settings: RunSettings | None = None) -> None:
        """A new dataset: every run view resets; custom weights (made for other classes) fall back to inverse."""
        self._state = RunState.IDLE
        self._index = index
        self._weights = None
        self._step = None
        self._export_path, self._export_weights, self._export_scheme = None, None, ""
        self._check = None  # a check belongs to the dataset it ran on
        self._use_usable = False
        if settings is not None:
            self._settings = settings
        scheme = Scheme("inverse") if self._scheme.name == "custom" else self._scheme
        try:
            self._apply(scheme)
        except BalanceError:  # e.g. a power scheme whose weights overflow on these counts
            self._apply(Scheme("none"))
        self.stateChanged.emit(self._state)
        self.datasetChanged.emit(index)
        self.settingsChanged.emit(self._settings)
        self.weightsChanged.emit()
        self.stepChanged.emit(None)
        self.exportChanged.emit()
        self.checkChanged.emit()

    def set_scheme(self, scheme: Scheme) -> None:
        """Apply ``scheme`` through the core; raises WeightsError (bad weights) or SettingsError (mid-run)."""
        self._refuse_mid_run("the scheme")
        if self._index is None:
            self._scheme = scheme
            self.weightsChanged.emit()
            return
        if scheme.name == "custom" and scheme.custom is None:
            current = self._weights if self._weights is not None else np.ones(self._index.num_classes)
            scheme = Scheme("custom", custom=dict(zip(self._index.classes, map(float, current), strict=True)))
        old = self._weights
        self._apply(scheme)
        new = self._weights
        changed = old is None or new is None or old.shape != new.shape or not np.array_equal(old, new)
        self.weightsChanged.emit()
        self.exportChanged.emit()
        if changed:
            self.clear_step()

    def set_class_weight(self, class_index: int, value: float) -> None:
        """One class's weight: the scheme becomes custom."""
        self._refuse_mid_run("a weight")
        if self._index is None or self._weights is None:
            return
        custom = dict(zip(self._index.classes, map(float, self._weights), strict=True))
        custom[self._index.classes[class_index]] = float(value)
        self.set_scheme(Scheme("custom", custom=custom))

    def set_settings(self, settings: RunSettings) -> None:
        if settings == self._settings:
            return
        self._refuse_mid_run("the run settings")
        self._settings = settings
        self._refresh_figures()
        self.settingsChanged.emit(settings)
        self.weightsChanged.emit()
        self.clear_step()

    def set_state(self, state: RunState) -> None:
        if state is not self._state:
            self._state = state
            self.stateChanged.emit(state)

    def set_step(self, step: Any) -> None:
        self._step = step
        self.stepChanged.emit(step)

    def clear_step(self) -> None:
        if self._step is not None:
            self._step = None
            self.stepChanged.emit(None)

    def set_check(self, result: CheckResult | None) -> None:
        """Attach the image check of the current dataset (None clears it)."""
        self._refuse_mid_run("the image check")
        if result is not None and (self._index is None or len(result.targets) != len(self._index)):
            raise SettingsError("the image check does not belong to the dataset shown: run it again")
        was_usable = self.use_usable
        self._check = result
        self.checkChanged.emit()
        if was_usable or self.use_usable:
            self._reweigh()

    def resolve_duplicates(self, choices: Mapping[int, int | None]) -> None:
        """Keep the chosen copy of each named duplicate group, or none (``core.duplicates.resolve``:
        ``{first copy's sample: sample to keep, or None}``); the usable mask, counts and weights follow."""
        if self._check is None:
            raise SettingsError("run the image check first: there are no duplicate groups to resolve")
        self.set_check(resolve(self._check, choices))

    def set_use_usable(self, on: bool) -> None:
        """Compute the weights on the usable counts (corrupt files and duplicate copies get 0)."""
        if bool(on) == self._use_usable:
            return
        self._refuse_mid_run("the usable-images setting")
        was_usable = self.use_usable
        self._use_usable = bool(on)
        self.checkChanged.emit()
        if was_usable != self.use_usable:
            self._reweigh()

    def _reweigh(self) -> None:
        if self._index is None:
            return
        try:
            self._apply(self._scheme)
        except BalanceError:  # e.g. every image of the data unusable under a power scheme
            self._apply(Scheme("none"))
        self.weightsChanged.emit()
        self.exportChanged.emit()
        self.clear_step()

    def mark_exported(self, path: str, weights: np.ndarray, scheme: Scheme, excluded: np.ndarray | None = None) -> None:
        """``weights`` are the ones the file holds (the export ran on a snapshot), ``excluded`` the
        per-sample mask of files it gives weight 0 (None: none)."""
        self._export_path = path
        self._export_weights = weights
        self._export_excluded = None if excluded is None else np.array(excluded, dtype=bool)
        self._export_scheme = str(scheme)
        self.exportChanged.emit()

    # ------------------------------------------------------------------ internals
    def _apply(self, scheme: Scheme) -> None:
        counts = self.counts
        assert counts is not None  # weights are applied only with a dataset
        if self.multilabel and scheme.name == "rfs":  # f_c is the share of ALL the file's images
            assert scheme.param is not None
            images = int(self._check.usable_mask.sum()) if self.use_usable and self._check else len(self._index)
            w = class_repeat_factors(counts, images, scheme.param)
        else:
            w = class_weights(counts, scheme, self._index.classes)
        w.setflags(write=False)
        self._scheme = scheme
        self._weights = w
        self._refresh_figures()

    def _refresh_figures(self) -> None:
        self._image_weights = self._image_figures = None
        if self._index is None or self._weights is None:
            self._figures = None
            return
        s = self._settings
        if self.multilabel:
            self._figures = None
            self._refresh_image_figures()
            return
        counts = self.counts
        assert counts is not None
        try:
            self._figures = class_figures(counts, self._weights, s.num_samples, mode=s.mode, replacement=s.replacement)
            self._figures_note = ""
        except SettingsError as e:
            # e.g. more draws without replacement than images with a weight: the run will refuse too
            self._figures = class_figures(counts, self._weights, s.num_samples)
            self._figures_note = f"{e}; figures shown with replacement"

    def _refresh_image_figures(self) -> None:
        """Multi-label data: per-image weights and the expected figures per class, from the core."""
        s, index = self._settings, self._index
        rfs = self._scheme.name == "rfs"
        assert self._weights is not None
        # rfs: an image without annotations repeats once (detectron2); else the reduction's default
        w = image_weights(index, self._weights, "max", empty_weight=1.0 if rfs else None)
        if self.use_usable:  # corrupt files and duplicate copies are never drawn
            assert self._check is not None
            w[~self._check.usable_mask] = 0.0
        w.setflags(write=False)
        self._image_weights = w
        self._figures_note = ""
        if rfs:
            self._image_figures = expected_repeat_factor_epoch(index, w)
            return
        try:
            if s.replacement:
                self._image_figures = expected_with_replacement(index, w, s.num_samples)
            else:
                self._image_figures = expected_without_replacement(index, w, s.num_samples)
        except SettingsError as e:
            self._image_figures = expected_with_replacement(index, w, s.num_samples)
            self._figures_note = f"{e}; figures shown with replacement"
