"""A view built when it is first needed: the window's first screen does not wait for it.

``LazyView(factory)`` is an empty placeholder in the layout (a splitter pane). The first time it
is shown (unless ``build_on_show`` is False), or its ``view`` is asked for, it calls ``factory()``
and puts the widget it returns in its place; ``LazyTabs`` does the same for tab pages. The
factory imports the view's module (pyqtgraph for the plots, the image check's modules for the
Problems tab) and binds the view to the session, which then tells it the
current state: a view built late shows what one built at start would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QTabWidget, QVBoxLayout, QWidget


class LazyView(QWidget):
    def __init__(
        self,
        factory: Callable[[], QWidget],
        waiting_text: str = "Loading…",
        build_on_show: bool = True,
        parent: Any = None,
    ) -> None:
        super().__init__(parent)
        self._build_on_show = build_on_show  # False: the owner builds it (after the first frame)
        self._factory: Callable[[], QWidget] | None = factory
        self._view: QWidget | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self._waiting = QLabel(waiting_text)
        self._waiting.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._waiting.setEnabled(False)
        layout.addWidget(self._waiting)

    @property
    def built(self) -> bool:
        return self._view is not None

    @property
    def view(self) -> QWidget:
        """The view, built now if it was not yet."""
        if self._view is None:
            factory, self._factory = self._factory, None
            assert factory is not None, "a LazyView's factory asked for its own view"
            view = factory()
            self._view = view
            layout = self.layout()
            assert layout is not None
            layout.replaceWidget(self._waiting, view)
            view.setVisible(True)  # a child added to a shown widget stays hidden until shown
            self._waiting.deleteLater()
        return self._view

    def showEvent(self, event: Any) -> None:
        if self._build_on_show and self._view is None and self._factory is not None:
            self.view  # noqa: B018  (builds it: a view is built when first shown)
        super().showEvent(event)


class LazyTabs(QTabWidget):
    """Tabs whose pages are built when first shown (or asked for with ``page``): until then a
    placeholder holds the place, then the built view takes it, so ``currentWidget()`` is the view."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._factories: dict[QWidget, tuple[str, Callable[[], QWidget]]] = {}
        self._built: dict[str, QWidget] = {}
        self.currentChanged.connect(self._build_current)

    def add_lazy(self, title: str, factory: Callable[[], QWidget]) -> None:
        placeholder = QLabel("Loading…")
        placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._factories[placeholder] = (title, factory)
        self.addTab(placeholder, title)

    def is_built(self, title: str) -> bool:
        return title in self._built

    def page(self, title: str) -> QWidget:
        """The view of tab ``title``, built now if it was not yet."""
        if title in self._built:
            return self._built[title]
        for placeholder, (name, factory) in list(self._factories.items()):
            if name == title:
                del self._factories[placeholder]
                view = factory()
                i = self.indexOf(placeholder)
                current = self.currentIndex()
                self.blockSignals(True)  # the swap is not a change of tab
                try:
                    self.removeTab(i)
                    self.insertTab(i, view, title)
                    self.setCurrentIndex(current)
                finally:
                    self.blockSignals(False)
                placeholder.deleteLater()
                self._built[title] = view
                return view
        raise KeyError(title)

    def _build_current(self, i: int) -> None:
        w = self.widget(i)
        if w in self._factories:
            self.page(self._factories[w][0])


__all__ = ["LazyTabs", "LazyView"]
