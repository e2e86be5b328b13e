"""File > Open Recent: the last folders and files opened, kept in the settings."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMenu

RECENT_KEY = "recent/folders"
MAX_RECENT = 10


class RecentPaths:
    """The recent list in ``settings`` and the menu that reopens them (``open_path``)."""

    def __init__(self, settings: QSettings, menu: QMenu, open_path: Callable[[str], None]) -> None:
        self.settings = settings
        self.menu = menu
        self.open_path = open_path
        self.rebuild()

    def paths(self) -> list[str]:
        value = self.settings.value(RECENT_KEY, [])
        if isinstance(value, str):
            value = [value]
        return [v for v in (value if isinstance(value, list) else []) if isinstance(v, str) and v]

    def add(self, path: str) -> None:
        items = [path] + [p for p in self.paths() if p != path]
        self.settings.setValue(RECENT_KEY, items[:MAX_RECENT])
        self.settings.sync()
        self.rebuild()

    def clear(self) -> None:
        self.settings.setValue(RECENT_KEY, [])
        self.settings.sync()
        self.rebuild()

    def rebuild(self) -> None:
        self.menu.clear()
        recent = self.paths()
        for i, path in enumerate(recent):
            label = f"&{i + 1}  {path}" if i < 9 else path
            action = self.menu.addAction(label)
            action.setData(path)
            action.triggered.connect(lambda _=False, p=path: self.open_path(p))
        if recent:
            self.menu.addSeparator()
            self.menu.addAction("Clear Recent", self.clear)
        else:
            empty = self.menu.addAction("(none yet)")
            empty.setEnabled(False)


__all__ = ["MAX_RECENT", "RECENT_KEY", "RecentPaths"]
