"""Say, before Qt aborts, why no window can open and what to install.

Qt's xcb plugin needs a display and a handful of X libraries that a fresh Linux
machine often lacks; without them Qt prints "could not load the Qt platform
plugin xcb" and aborts the process. This check imports no Qt.
"""

from __future__ import annotations

import ctypes.util
import os
import sys
from collections.abc import Mapping

# library soname stem -> Debian/Ubuntu package that ships it
XCB_LIBRARIES = {
    "xcb-cursor": "libxcb-cursor0",
    "xcb-icccm": "libxcb-icccm4",
    "xcb-keysyms": "libxcb-keysyms1",
    "xcb-image": "libxcb-image0",
    "xcb-render-util": "libxcb-render-util0",
    "xcb-shape": "libxcb-shape0",
    "xcb-xkb": "libxcb-xkb1",
    "xkbcommon-x11": "libxkbcommon-x11-0",
    "EGL": "libegl1",
    "fontconfig": "libfontconfig1",
}


def missing_xcb_packages() -> list[str]:
    return [pkg for lib, pkg in XCB_LIBRARIES.items() if ctypes.util.find_library(lib) is None]


def explain_missing_platform(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> str | None:
    """None when a window can open; otherwise one message saying what to do."""
    if not platform.startswith("linux"):
        return None
    qpa = environ.get("QT_QPA_PLATFORM", "")
    if qpa and not qpa.startswith("xcb"):
        return None  # offscreen, wayland, vnc...: the user chose a platform that needs no X libraries
    if not qpa and environ.get("WAYLAND_DISPLAY"):
        return None
    if not environ.get("DISPLAY"):
        return (
            "no display to open a window on (DISPLAY is not set). Run it from a desktop session, "
            "or on a headless machine under a virtual screen: apt-get install xvfb && xvfb-run make run"
        )
    missing = missing_xcb_packages()
    if missing:
        return (
            "Qt's xcb platform plugin cannot load: these system libraries are missing. Install them with: "
            f"sudo apt-get install {' '.join(missing)}"
        )
    return None
