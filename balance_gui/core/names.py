"""File and class names in messages: shown as ``ls -b`` shows them, so that any name prints.

A POSIX file name is bytes; Python keeps the bytes that are not UTF-8 as lone surrogates
(``surrogateescape``), which no UTF-8 terminal or JSON reader accepts. Messages show such
a byte as a backslash and three octal digits, control characters as ``\\n``-style escapes,
and a backslash doubled, as ``ls -b`` does. Valid UTF-8 is kept as it is.
"""

from __future__ import annotations

import re

_C_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\"}
_UNSHOWABLE = re.compile("[\udc80-\udcff\\\\\x00-\x1f\x7f]")
_UNSHOWABLE_IN_TEXT = re.compile("[\udc80-\udcff\x00-\x09\x0b-\x1f\x7f]")


def _escape_char(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _C_ESCAPES:
        return _C_ESCAPES[ch]
    code = ord(ch)
    # A surrogate escape stands for one undecodable byte: that byte, in octal.
    return f"\\{code - 0xDC00 if code >= 0xDC80 else code:03o}"


def escape_name(name: str) -> str:
    """``name`` as ``ls -b`` prints it (``caf\\351``, ``new\\nline``)."""
    return _UNSHOWABLE.sub(_escape_char, name)


def quoted(name: str) -> str:
    """``name`` escaped and in single quotes, for messages."""
    return f"'{escape_name(name)}'"


def escape_text(text: str) -> str:
    """Escape what cannot be printed in text of several lines: line breaks are kept,
    backslashes too (they may be the text's own)."""
    return _UNSHOWABLE_IN_TEXT.sub(_escape_char, text)
