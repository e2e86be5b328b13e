"""The old path of :mod:`balance_gui.sampling.recipes` (exported snippets import it): the same module
object, so every class, function and module-level setting is the one of the new path."""

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..sampling.recipes import *  # noqa: F403
else:
    from ..sampling import recipes as _module

    sys.modules[__name__] = _module
