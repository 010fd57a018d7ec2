"""A reply drawn in pieces: each settled part drawn once (lines kept per width), the whole joined like one document."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.segment import Segment

from zorac_tui.core.blocks import Settled

if TYPE_CHECKING:  # rich.markdown (markdown-it) and rich.syntax (pygments) load on first use, off start-up
    from rich.markdown import Markdown as RichMarkdown

CODE_THEME = "monokai"
CONTAINERS = {"bullet_list_open", "ordered_list_open", "table_open", "blockquote_open"}


def preload() -> None:
    """Import what drawing a reply needs (~40 ms; call from a thread once the app is up)."""
    import rich.markdown
    import rich.syntax  # noqa: F401


def render_markdown(text: str) -> RichMarkdown:
    """One renderable for a whole finished reply (no Rich markup parsing, code highlighted)."""
    from rich.markdown import Markdown

    return Markdown(text, code_theme=CODE_THEME, hyperlinks=False)


class Piece:
    """One settled part of a reply (Markdown blocks, or a run of a long code block's lines), drawn once."""

    def __init__(self, part: Settled | str) -> None:
        """A piece for `part` (a plain string is Markdown)."""
        part = Settled(part) if isinstance(part, str) else part
        self.text = part.text
        self.code = part.lang is not None
        self.renderable: RenderableType
        if self.code:
            from rich.syntax import Syntax

            # Rich's Markdown draws a code block as Syntax(padding=1): the runs share it out
            self.renderable = Syntax(part.text, part.lang, theme=CODE_THEME, word_wrap=True,
                                     padding=(int(part.first), 1, int(part.last), 1))
            self.joined = not part.first  # a later run continues its block: no blank line before it
            self.leads_blank = self.ends_rule = False
        else:
            self.renderable = render_markdown(part.text)
            top = [token for token in self.renderable.parsed if token.level == 0]
            self.joined = False
            self.leads_blank = bool(top) and top[0].type in CONTAINERS  # a list, table or quote brings its own
            self.ends_rule = bool(top) and top[-1].type == "hr"  # Rich puts no blank line after a rule
        self._lines: dict[int, list[list[Segment]]] = {}

    def lines(self, console: Console, options: ConsoleOptions) -> list[list[Segment]]:
        """The drawn lines at this width (drawn on first use)."""
        lines = self._lines.get(options.max_width)
        if lines is None:
            lines = console.render_lines(self.renderable, options, pad=False)
            self._lines = {options.max_width: lines}  # one width at a time: a resize replaces it
        return lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """Yield the cached lines."""
        yield from lines_to_segments(self.lines(console, options))


def blank_line_between(previous: Piece, piece: Piece) -> bool:
    """Whether Rich would put a blank line between `previous` and `piece` were they one document.

    Rich writes a blank line before a top-level block unless the block before was a rule; a list,
    table or quote brings its own blank line even at the start of a document; runs of one code block
    follow each other directly.
    """
    return not (piece.joined or piece.leads_blank or previous.ends_rule)


class Pieces:
    """A whole reply as its settled pieces, drawn from their cached lines (looks like the whole text drawn)."""

    def __init__(self, pieces: list[Piece]) -> None:
        """The reply made of `pieces`, in order."""
        self.pieces = pieces

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """Each piece's lines, with the blank line Rich would put between them."""
        for i, piece in enumerate(self.pieces):
            if i and blank_line_between(self.pieces[i - 1], piece):
                yield Segment.line()
            yield from lines_to_segments(piece.lines(console, options))


def lines_to_segments(lines: list[list[Segment]]) -> RenderResult:
    """Segments of `lines`, each line ended by a newline."""
    for line in lines:
        yield from line
        yield Segment.line()
