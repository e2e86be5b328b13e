"""The old path of :mod:`balance_gui.sampling.repeat_factor_sampler` (exported snippets import it): the same module
object, so every class, function and module-level setting is the one of the new path."""

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..sampling.repeat_factor_sampler import *  # noqa: F403
else:
    from ..sampling import repeat_factor_sampler as _module

    sys.modules[__name__] = _module
