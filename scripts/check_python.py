"""Fail early, in one line, when the interpreter is too old for balance-gui."""

import sys

if sys.version_info < (3, 11):
    sys.exit(
        f"balance-gui needs Python 3.11 or newer; this is {sys.version.split()[0]}. Run: make PYTHON=python3.11 ..."
    )
