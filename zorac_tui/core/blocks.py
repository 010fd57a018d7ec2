"""Where a streaming Markdown text can be cut: the finished top-level blocks before the live tail."""

from __future__ import annotations

import re

FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
LIST_ITEM = re.compile(r"^(?:[-*+]|\d{1,9}[.)])(?:\s|$)")


class BlockSettler:
    """Feeds on streamed text and tells which prefix is made of finished top-level Markdown blocks.

    A cut is made only before a line that starts a new top-level block after a blank line, outside a
    fenced code block, and not before a list item or an indented line (so loose lists, list-item
    paragraphs and indented code stay whole). Rendering the settled prefix block by block then looks
    the same as rendering the whole text at once, with one blank line between the pieces.
    """

    def __init__(self) -> None:
        """An empty text."""
        self.text = ""
        self.settled = 0  # text[:settled] is finished blocks
        self._scanned = 0  # start of the first line not yet looked at (lines are looked at once complete)
        self._after_blank = False
        self._fence: tuple[str, int] | None = None  # (character, length) of the open fence

    @property
    def tail(self) -> str:
        """The text after the settled blocks (still growing)."""
        return self.text[self.settled:]

    def feed(self, chunk: str) -> str:
        """Add streamed text; return the text that became settled with it (often empty)."""
        before = self.settled
        self.text += chunk
        while (end := self.text.find("\n", self._scanned)) >= 0:
            self._look_at(self._scanned, self.text[self._scanned:end])
            self._scanned = end + 1
        return self.text[before:self.settled]

    def _look_at(self, start: int, line: str) -> None:
        """Advance the state past one complete line beginning at `start`."""
        if self._fence is not None:
            mark = FENCE.match(line)
            char, length = self._fence
            if mark and mark.group(1)[0] == char and len(mark.group(1)) >= length \
                    and not line[mark.end():].strip():
                self._fence = None
            return
        if not line.strip():
            self._after_blank = True
            return
        if self._after_blank and start > self.settled and not line[0].isspace() and not LIST_ITEM.match(line):
            self.settled = start
        self._after_blank = False
        if mark := FENCE.match(line):
            self._fence = (mark.group(1)[0], len(mark.group(1)))
