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
