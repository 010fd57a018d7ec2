"""Making server text safe to show: no terminal control sequences, no NULs, nothing the screen would act on."""

from __future__ import annotations

import re

# C0 controls except tab and newline, DEL, and C1 controls (which include CSI, 0x9b, on some terminals).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_ESCAPE_SEQUENCE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")


def displayable(text: str) -> str:
    """Drop ANSI/OSC escape sequences whole and replace other control characters with U+FFFD (CR is dropped)."""
    if not text:
        return text
    text = _ESCAPE_SEQUENCE.sub("", text)
    text = text.replace("\r\n", "\n").replace("\r", "")
    return _CONTROL.sub("\ufffd", text)


_ESCAPE_PREFIX = re.compile(r"\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*\x1b?)?\Z")
HOLD_LIMIT = 256  # an escape sequence still open after this many characters is not held back any longer


class StreamSanitizer:
    """displayable() for text arriving in pieces: an escape sequence split across pieces is dropped whole."""

    def __init__(self) -> None:
        """Nothing held back yet."""
        self._held = ""

    def feed(self, text: str) -> str:
        """The displayable part of `text`; a trailing unfinished escape sequence waits for the next piece."""
        text = self._held + text
        self._held = ""
        start = text.rfind("\x1b")
        if start >= 0 and len(text) - start <= HOLD_LIMIT and _ESCAPE_PREFIX.match(text, start):
            text, self._held = text[:start], text[start:]
        return displayable(text)

    def flush(self) -> str:
        """What is still held back, made displayable (the stream ended)."""
        text, self._held = self._held, ""
        return displayable(text)


def ellipsize(text: str, width: int) -> str:
    """`text` cut to `width` cells with a trailing "…" when it is longer."""
    if len(text) <= width:
        return text
    return text[:max(0, width - 1)] + "…" if width > 0 else ""
