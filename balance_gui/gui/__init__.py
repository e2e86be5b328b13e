"""The desktop app (PySide6 + pyqtgraph). Start it with ``balance_gui.gui.app.run_app(path)``.

Importing this package never imports torch: the window shows first, torch loads in a worker.
"""
