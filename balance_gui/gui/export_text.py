"""The texts that go with an export, read off the session: the stale-file warning, an exported
plot's title and footer, the stats line, and the lines that use the exported weights in training."""

from __future__ import annotations

import os

from balance_gui.core.expected import fit_line

from .session import Session


def stale_text(s: Session) -> str:
    """Why the last exported file no longer holds the current weights; empty when it does."""
    if not s.export_stale:
        return ""
    name = os.path.basename(s.export_path or "")
    if s.export_scheme == str(s.scheme) and s.class_weights is not None:
        return (
            f"{name} is out of date: it excludes other files than the current weights "
            f"({'on usable images' if s.use_usable else 'on all images'}): export again to use them."
        )
    return (
        f"{name} holds the weights of scheme {s.export_scheme}, "
        f"not the current {s.scheme}: export again to use the current weights."
    )


def stats_line(s: Session, multilabel_text: str = "") -> str:
    """The run's stats line as plain text (for plot export and tests); empty before a run. Multi-label
    data: ``multilabel_text``, the line its plots show."""
    step = s.step
    if step is None:
        return ""
    if s.multilabel:
        return multilabel_text
    fit = fit_line(step.fit) if step.fit is not None else ""
    return f"{step.draws_done:,} draws ({step.mode}); {fit}; TV distance {step.tv_distance:.4f}"


def plot_caption(s: Session, stats: str, fallback_name: str) -> tuple[str, str]:
    """Title and footer of an exported plot: dataset, scheme, settings and the stats line."""
    name = os.path.basename(os.path.normpath(s.index.root)) if s.index is not None else fallback_name
    st = s.settings
    title = (
        f"{name}: scheme {s.scheme}, {st.mode}, {'with' if st.replacement else 'without'} replacement, "
        f"{st.num_samples:,} draws × {st.epochs:,} epoch(s)"
    )
    return title, stats


def training_lines(s: Session) -> str:
    """The lines that load the exported weights into a DataLoader (``core.training_code``).
    Multi-label data: the annotation file itself, drawn image by image as the app's run draws it."""
    from balance_gui.core.training_code import training_snippet

    st = s.settings
    index = s.index
    weights = s.export_path or os.path.join(os.getcwd(), "weights.pt")
    if s.multilabel:
        rfs = s.scheme.name == "rfs"  # the run's repeat-factor epochs; their length is their own
        return training_snippet(
            weights,
            index.file,
            "coco" if index.source == "coco" else "multilabel",
            mode="repeat" if rfs else "weighted",
            num_samples=None if rfs else st.num_samples,
            replacement=True if rfs else st.replacement,
            seed=st.seed,
            device=st.device,
            image_root=index.root,
        )
    root = index.root if index is not None else "path/to/dataset"
    source = index.source if index is not None else "folder"
    if source == "manifest":  # the lines open the manifest itself
        root = index.source_file or root
    return training_snippet(
        weights,
        root,
        source,
        num_samples=st.num_samples,
        replacement=st.replacement,
        batch_size=st.batch_size,
        seed=st.seed,
        mode=st.mode,
        device=st.device,
    )


__all__ = ["plot_caption", "stale_text", "stats_line", "training_lines"]
