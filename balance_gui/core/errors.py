"""The errors balance-gui raises on bad input: each says what is wrong and where.

The edges (CLI and GUI) catch only :class:`BalanceError` and ``OSError``: the CLI
prints ``str(error)`` as one line (exit 2), the GUI shows it in a message box.
Anything else is a bug and is shown with its traceback.
"""


class BalanceError(Exception):
    """Base class for every error caused by the user's data, files or settings."""


class SettingsError(BalanceError, ValueError):
    """An argument or setting out of its range or of the wrong kind (a ``ValueError`` too)."""


class DatasetError(BalanceError):
    """A dataset folder or manifest cannot be indexed."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """The dataset path, or every class in it, holds nothing to index.

    Also a FileNotFoundError, as torchvision raises for the same trees.
    """


class WeightsError(BalanceError, ValueError):
    """Weights that no sampler can use: negative, NaN, inf, all zero, or the wrong shape."""


class WeightsFileError(BalanceError):
    """A weights file cannot be written, read, or does not belong to the dataset."""


class Cancelled(Exception):
    """Long work stopped because the caller asked it to: not a data error."""
