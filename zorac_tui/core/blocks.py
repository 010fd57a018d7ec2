"""Where a streaming Markdown text can be cut: the finished top-level blocks before the live tail."""

from __future__ import annotations

import re
from dataclasses import dataclass

FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
LIST_ITEM = re.compile(r"^(?:[-*+]|\d{1,9}[.)])(?:\s|$)")
CODE_RUN = 40  # lines of a long code block settled together (cut where a top-level statement starts)
CODE_RUN_MAX = 80  # ... or anywhere, once this many lines wait (code without blank lines)


@dataclass
class Settled:
    """A finished part of the text: top-level Markdown blocks, or a run of lines of a long code block."""

    text: str  # Markdown source; for a code run, the code lines themselves (no trailing newline)
    lang: str | None = None  # set for a code run: the fence's language ("text" when it names none)
    first: bool = False  # a code run that opens its block (drawn with the block's top padding)
    last: bool = False  # a code run that closes its block (bottom padding; trailing blank lines dropped)


@dataclass
class _Fence:
    """An open fenced code block."""

    char: str
    length: int
    lang: str
    top_level: bool  # the fence starts at column 0: not inside a list item, so its lines may be settled in runs
    code_start: int  # where its unsettled code lines begin
    lines: int = 0  # complete code lines since code_start
    chunked: bool = False  # some of its lines were settled already
    blank_before: bool = False  # the previous code line was blank


class BlockSettler:
    """Feeds on streamed text and tells which prefix is made of finished top-level Markdown blocks.

    A cut is made only before a line that starts a new top-level block after a blank line, outside a
    fenced code block, and not before a list item or an indented line (so loose lists, list-item
    paragraphs and indented code stay whole). Rendering the settled pieces one by one then looks the
    same as rendering the whole text at once. A long top-level code block is settled in runs of lines
    (cut before a line at column 0 that follows a blank one, where highlighting starts afresh), so the
    live tail never holds more than about CODE_RUN_MAX lines of it.
    """

    def __init__(self) -> None:
        """An empty text."""
        self.text = ""
        self.settled = 0  # text[:settled] is finished
        self._scanned = 0  # start of the first line not yet looked at (lines are looked at once complete)
        self._after_blank = False
        self._fence: _Fence | None = None
        self._out: list[Settled] = []

    @property
    def tail(self) -> str:
        """The text after the settled part (still growing): Markdown, or code lines when `tail_lang` is set."""
        return self.text[self.settled:]

    @property
    def tail_lang(self) -> str | None:
        """The language of the long code block the tail is inside (its earlier lines settled), else None."""
        return self._fence.lang if self._fence is not None and self._fence.chunked else None

    def feed(self, chunk: str) -> list[Settled]:
        """Add streamed text; return the parts that became settled with it (often none)."""
        self.text += chunk
        while (end := self.text.find("\n", self._scanned)) >= 0:
            self._look_at(self._scanned, self.text[self._scanned:end])
            self._scanned = end + 1
        out, self._out = self._out, []
        return out

    def finish(self) -> Settled | None:
        """The stream ended: the tail as a last part (None when it is blank)."""
        tail, fence = self.tail, self._fence
        self.settled = len(self.text)
        if fence is not None and fence.chunked:
            return Settled(tail.rstrip(), fence.lang, last=True)
        return Settled(tail) if tail.strip() else None

    def _settle(self, end: int) -> None:
        """Markdown text[settled:end] is finished."""
        if self.text[self.settled:end].strip():
            self._out.append(Settled(self.text[self.settled:end]))
        self.settled = end

    def _settle_code(self, end: int, fence: _Fence, *, last: bool = False) -> None:
        """Code lines text[code_start:end] are finished (`end` is a line start)."""
        code = self.text[fence.code_start:end][:-1]  # the newline before `end` separates runs
        self._out.append(Settled(code.rstrip() if last else code, fence.lang, first=not fence.chunked, last=last))
        fence.chunked, fence.code_start, fence.lines = True, end, 0
        self.settled = end

    def _look_at(self, start: int, line: str) -> None:
        """Advance the state past one complete line beginning at `start`."""
        fence = self._fence
        if fence is not None:
            mark = FENCE.match(line)
            if mark and mark.group(1)[0] == fence.char and len(mark.group(1)) >= fence.length \
                    and not line[mark.end():].strip():
                self._fence = None
                if fence.chunked:
                    self._settle_code(start, fence, last=True)
                    self.settled = start + len(line) + 1  # the closing line is part of the block
                return
            if fence.top_level:
                self._code_line(start, line, fence)
            return
        if not line.strip():
            self._after_blank = True
            return
        if self._after_blank and start > self.settled and not line[0].isspace() and not LIST_ITEM.match(line):
            self._settle(start)
        self._after_blank = False
        if mark := FENCE.match(line):
            info = line[mark.end():]  # as markdown-it keeps it: Rich takes the lexer from before its first space
            self._fence = _Fence(mark.group(1)[0], len(mark.group(1)), info.partition(" ")[0] or "text",
                                 top_level=mark.start(1) == 0, code_start=start + len(line) + 1)

    def _code_line(self, start: int, line: str, fence: _Fence) -> None:
        """One code line of an open top-level fence: settle a run of lines before it when due."""
        fresh = fence.blank_before and line[:1] not in ("", " ", "\t")
        if line.strip() and (fence.lines >= CODE_RUN_MAX or (fence.lines >= CODE_RUN and fresh)):  # the last
            # run must hold a line that is not blank: Rich drops a block's trailing blank lines
            if not fence.chunked:
                self._settle(self.text.rfind("\n", 0, fence.code_start - 1) + 1)  # what came before the fence
            self._settle_code(start, fence)
        fence.lines += 1
        fence.blank_before = not line.strip()
