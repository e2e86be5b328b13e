"""Start the desktop app: ``run_app(path)`` opens the window at once and scans in the background.

Nothing here imports torch, pyqtgraph or superqt: the window shows first; the plots are built and
torch loads (in a worker) after its first frame.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from .. import DEMO_DATASET
from .main_window import APP_NAME, MainWindow


def _install_excepthook(window: MainWindow) -> Any:
    """An unexpected error in a slot shows a message instead of a bare traceback.
    Returns the previous hook."""
    previous = sys.excepthook

    def hook(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            previous(exc_type, exc, tb)
            return
        try:
            window.report_exception("Unexpected error", exc.with_traceback(tb))
        except Exception:  # noqa: BLE001 - the error message itself failed: fall back to Python's hook
            previous(exc_type, exc, tb)

    sys.excepthook = hook
    return previous


def create_window(path: str | None = None, settings: Any = None) -> MainWindow:
    """A shown MainWindow that starts opening ``path`` (or the demo dataset) on the next event loop turn."""
    window = MainWindow(settings=settings)
    window.show()
    target = path or DEMO_DATASET
    if path or os.path.isdir(target):  # the scan starts once the first frame is up: it does not delay it
        window.after_first_frame(lambda: window.open_path(target))
    else:
        window.show_status("Open a dataset: File > Open Folder (Ctrl+O), or drop a folder on the window")
    return window


def wait_for_signal(signal: Any, timeout_s: float = 120.0) -> tuple[Any, ...]:
    """Run the event loop until ``signal`` fires; its arguments. For scripts driving the window."""
    from PySide6.QtCore import QEventLoop

    got = []
    loop = QEventLoop()

    def done(*args: Any) -> None:
        got.append(args)
        loop.quit()

    signal.connect(done)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    signal.disconnect(done)
    if not got:
        raise TimeoutError(f"no signal within {timeout_s} s")
    return got[0]


def run_app(path: str | None = None, argv: list[str] | None = None) -> int:
    """Create the QApplication and the main window, open ``path`` (default: the demo), run."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(list(argv) if argv is not None else sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    if isinstance(app, QApplication):
        app.setApplicationDisplayName(APP_NAME)
    window = create_window(os.fspath(path) if path else None)
    previous_hook = _install_excepthook(window)
    # Ctrl+C in the terminal closes the window cleanly: Python only sees signals when it runs,
    # so a timer lets it run a few times a second.
    previous_sigint = signal.signal(signal.SIGINT, lambda *_: window.close())
    tick = QTimer()
    tick.timeout.connect(lambda: None)
    tick.start(200)
    try:
        return app.exec()
    finally:
        tick.stop()
        if not window._closed:
            window.shutdown()
        signal.signal(signal.SIGINT, previous_sigint)
        sys.excepthook = previous_hook


def main(argv: list[str] | None = None) -> int:
    """``python -m balance_gui.gui.app [PATH]``"""
    argv = list(sys.argv if argv is None else argv)
    path = argv[1] if len(argv) > 1 else None
    return run_app(path, argv[:1])


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["run_app", "create_window", "wait_for_signal", "main"]
