"""The fenced code blocks of a Markdown reply, in order (for copying one with a key or from the palette)."""

from __future__ import annotations

import re
from dataclasses import dataclass

FENCE = re.compile(r"^( {0,3}|\s*)(`{3,}|~{3,})(.*)$")


@dataclass(frozen=True)
class CodeBlock:
    """One fenced code block: its language (from the info string, may be empty) and its code."""

    lang: str
    code: str

    @property
    def first_line(self) -> str:
        """The first line with text in it (how the block is recognised on screen)."""
        return next((line.strip() for line in self.code.splitlines() if line.strip()), "")

    def title(self, limit: int = 50) -> str:
        """A one-line label: language and first line."""
        head = self.first_line
        head = head if len(head) <= limit else head[: limit - 1] + "…"
        lines = self.code.count("\n") + 1 if self.code else 0
        return f"{self.lang or 'code'} · {lines} line{'s' * (lines != 1)} · {head}"


def code_blocks(markdown: str) -> list[CodeBlock]:
    """Every fenced block in `markdown`, in order; an unclosed fence runs to the end (as Markdown renders it)."""
    blocks: list[CodeBlock] = []
    fence: tuple[str, int, int] | None = None  # (char, length, indent) of the open fence
    lang, lines = "", []
    for line in markdown.splitlines():
        mark = FENCE.match(line)
        if fence is None:
            if mark and not (mark.group(2)[0] == "`" and "`" in mark.group(3)):
                fence = (mark.group(2)[0], len(mark.group(2)), len(mark.group(1)))
                lang, lines = mark.group(3).strip().split(" ")[0], []
            continue
        char, length, indent = fence
        if mark and mark.group(2)[0] == char and len(mark.group(2)) >= length and not mark.group(3).strip():
            blocks.append(CodeBlock(lang, "\n".join(lines)))
            fence = None
            continue
        lines.append(line[indent:] if line[:indent].isspace() else line.lstrip(" ") if indent else line)
    if fence is not None:
        blocks.append(CodeBlock(lang, "\n".join(lines)))
    return blocks
