"""What the transcript draws: each message, notice and the live reply as lines for one width, drawn once.

A block turns its message into `Line`s (the text part of a row, plus which frame it sits in); the
Transcript adds the frame (left border, padding, background) when it paints a row. Lines are kept
per width, so a block is drawn again only when its message, its folds or the width change.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip

from zorac_tui.core.blocks import BlockSettler, Settled
from zorac_tui.core.conversation import Message, Status, seconds
from zorac_tui.core.text import displayable
from zorac_tui.ui.pieces import Piece, Pieces, blank_line_between, render_markdown

ROLE_LABEL = {"user": "You", "assistant": "Assistant", "summary": "Summary", "notice": "Notice"}
FRAME_CELLS = 3  # a framed row: border, one cell of padding on each side
LIVE_THINKING_LINES = 8  # lines of thinking shown while the model thinks (the newest ones)
NOTICE_LEVELS = ("info", "warning", "error")


@dataclass(frozen=True)
class Palette:
    """The Rich styles blocks draw with, resolved from the transcript's component classes (theme variables)."""

    frames: dict[str, Style]  # frame name → border colour and background: user, assistant, summary, error
    roles: dict[str, Style]  # role → label style
    footer: Style
    notices: dict[str, Style]  # level → style
    thinking: Style
    fold: Style


@dataclass(slots=True)
class Line:
    """One row's text part: the strip drawn, its plain text, its frame, and what clicking it does."""

    strip: Strip
    text: str
    frame: str = ""  # "": no frame (notices, blank rows); else a Palette.frames key
    action: str | None = None  # "thinking", "summary" or "archive": clicking the row folds or unfolds that part
    indent: int = 0  # cells before the text inside the frame (an archived message drawn inside a summary)
    part: str = ""  # which part of its message: "label", "thinking", "body" or "footer"


@dataclass(frozen=True)
class DrawContext:
    """What drawing needs: the console, the content width (inside the frame), styles and settings."""

    console: Console
    width: int  # cells for the text part of a framed row
    palette: Palette
    show_reasoning: str = "collapsed"  # collapsed | expanded | hidden

    def options(self, width: int | None = None) -> ConsoleOptions:
        """Console options for drawing at `width` cells (default: the content width)."""
        return self.console.options.update(width=max(1, width or self.width), height=None)


def blank(frame: str = "", part: str = "") -> Line:
    """An empty row (a margin when unframed)."""
    return Line(Strip([]), "", frame, part=part)


def draw(renderable: RenderableType, ctx: DrawContext, frame: str, *, style: Style | None = None,
         width: int | None = None, indent: int = 0, action: str | None = None, part: str = "body") -> list[Line]:
    """`renderable` drawn at the content width as framed rows (`part`: which part of the message they are)."""
    lines = ctx.console.render_lines(renderable, ctx.options(width), style=style, pad=False)
    return [lines_to_line(segments, frame, indent, action, part) for segments in lines]


def lines_to_line(segments: list[Segment], frame: str, indent: int = 0, action: str | None = None,
                  part: str = "body") -> Line:
    """One drawn line as a Line."""
    strip = Strip(segments)
    return Line(strip, strip.text, frame, action, indent, part)


def status_line(message: Message) -> Text:
    """Footer under a message: stats, versions, cancelled/error state."""
    parts: list[tuple[str, str]] = []
    if message.version_label:
        parts.append((f"version {message.version_label}", "bold"))
    if message.stats is not None and (line := message.stats.line()):
        parts.append((line, "dim"))
    if message.model and message.role != "user":  # who answered: the model without its org, and a named server
        model = message.model.rsplit("/", 1)[-1]
        named = message.server and "://" not in message.server
        parts.append((f"{model} @ {message.server}" if named else model, "dim"))
    if message.note:
        parts.append((message.note, "yellow"))
    if message.status is Status.CANCELLED:
        parts.append(("cancelled by you — partial reply kept", "bold yellow"))
    elif message.status is Status.INTERRUPTED:
        parts.append(("interrupted — the app stopped while this reply streamed", "bold yellow"))
    elif message.status is Status.STREAMING:  # a stored row another running instance is still streaming
        parts.append(("streaming in another zorac-tui window — text as of its last save", "bold cyan"))
    elif message.status is Status.ERROR and message.error:
        parts.append((displayable(message.error), "bold red"))
    text = Text()
    for i, (chunk, style) in enumerate(parts):
        if i:
            text.append(" · ", style="dim")
        text.append(chunk, style=style)
    return text


def thinking_summary(message: Message) -> str:
    """'Thought for 12.3 s · 842 tokens' (what is known of it)."""
    stats = message.stats
    parts = ["Thought"]
    if stats is not None and stats.thinking_s is not None:
        parts[0] += f" for {seconds(stats.thinking_s)}"
    if stats is not None and stats.thinking_tokens:
        approx = "≈" if stats.estimated else ""
        parts.append(f"{approx}{stats.thinking_tokens:,} tokens")
    return " · ".join(parts)


def empty_answer(message: Message) -> Text:
    """What the body says when the reply has no answer text."""
    if message.thinking.strip():
        if message.status is Status.STREAMING:
            return Text("")
        why = "it hit the reply limit (max_tokens)" if message.note else "it stopped"
        return Text(f"No answer: the model only thought — {why} before answering. Ctrl+R retries.",
                    style="italic yellow")
    return Text("(no text)", style="dim italic")


class Block(ABC):
    """One thing in the transcript; draws itself into Lines for a width and keeps them."""

    message: Message | None = None

    def __init__(self) -> None:
        """Nothing drawn yet."""
        self._lines: list[Line] | None = None
        self._width = -1
        self._state: tuple = ()

    def state(self) -> tuple:
        """What the rows depend on besides the width (they are drawn again when it changes)."""
        return ()

    def lines(self, ctx: DrawContext) -> list[Line]:
        """The block's rows at `ctx.width` (drawn on first use after a change)."""
        state = self.state()
        if self._lines is None or self._width != ctx.width or self._state != state:
            self._lines = self.draw(ctx)
            self._width, self._state = ctx.width, state
        return self._lines

    def invalidate(self) -> None:
        """Draw again on next use (the message or a fold changed)."""
        self._lines = None

    @abstractmethod
    def draw(self, ctx: DrawContext) -> list[Line]:
        """The rows, drawn now (each kind of block draws its own)."""

    def toggle(self, action: str) -> bool:
        """Fold or unfold a part (from a click or Enter); True when something changed."""
        return False


class NoticeBlock(Block):
    """One line from the app (connection state, errors, what happened) between messages."""

    def __init__(self, text: str, level: str = "info") -> None:
        """A notice; `level` is info, warning or error."""
        super().__init__()
        self.text = displayable(text)
        self.level = level if level in NOTICE_LEVELS else "info"

    def draw(self, ctx: DrawContext) -> list[Line]:
        """A margin, then the text wrapped."""
        text = Text(self.text, style=ctx.palette.notices[self.level])
        return [blank(), *draw(text, ctx, "", width=ctx.width + 1)]


class EarlierBlock(NoticeBlock):
    """The row above a long conversation's loaded tail: how many earlier messages are not drawn yet."""

    def __init__(self, count: int) -> None:
        """`count` earlier messages."""
        super().__init__(f"{count} earlier messages — scroll up to load")
        self.count = count


@dataclass
class Folds:
    """Which parts of a message are open."""

    thinking: bool = False
    summary: bool = True
    archive: bool = False


class MessageBlock(Block):
    """A finished message: role label, thinking fold, body (Markdown for replies), status footer."""

    def __init__(self, message: Message, pieces: list[Piece] | None = None, *, show_reasoning: str = "collapsed",
                 body: tuple[int, str, list[Line]] | None = None):
        """Draw `message` (from `pieces` when they hold its text: the live reply's, drawn once already).

        `body` is (width, frame, rows): the pieces' rows as the live reply drew them, used while the
        width and frame are the same (a long reply ends without drawing its rows a second time).
        """
        super().__init__()
        self.message = message
        self.pieces = pieces or []
        self._pieces_hold = message.content
        self._body_rows = body
        self.folds = Folds(thinking=show_reasoning == "expanded")

    def state(self) -> tuple:
        """The message's text, status, figures and versions: another window or a version flip may change them."""
        m = self.message
        return (len(m.content), len(m.thinking), m.status, m.stats, m.error, m.note, len(m.versions), m.model)

    @property
    def frame(self) -> str:
        """The frame this message is drawn in."""
        if self.message.status is Status.ERROR:
            return "error"
        return self.message.role if self.message.role in ("user", "summary") else "assistant"

    def toggle(self, action: str) -> bool:
        """Fold or unfold the thinking, the summary or its archive."""
        if not hasattr(self.folds, action):
            return False
        setattr(self.folds, action, not getattr(self.folds, action))
        self.invalidate()
        return True

    def draw(self, ctx: DrawContext) -> list[Line]:
        """Margin, label, (thinking), body, footer."""
        if self.message.role == "summary":
            return self._draw_summary(ctx)
        frame = self.frame
        lines = [blank(), *self._label(ctx, frame)]
        lines += self._thinking(ctx, frame)
        lines += self._body(ctx, frame)
        lines += draw(status_line(self.message), ctx, frame, style=ctx.palette.footer, part="footer")
        return lines

    def _label(self, ctx: DrawContext, frame: str) -> list[Line]:
        """The role name row."""
        role = self.message.role
        return draw(Text(ROLE_LABEL.get(role, role), style=ctx.palette.roles.get(role, ctx.palette.roles["assistant"])),
                    ctx, frame, part="label")

    def _thinking(self, ctx: DrawContext, frame: str) -> list[Line]:
        """The thinking fold row, and the thinking itself when unfolded (none when hidden or empty)."""
        message = self.message
        if not message.thinking.strip() or ctx.show_reasoning == "hidden":
            return []
        mark = "▼" if self.folds.thinking else "▶"
        head = Text(f"{mark} {thinking_summary(message)}", style=ctx.palette.fold)
        lines = draw(head, ctx, frame, action="thinking", part="thinking")
        if self.folds.thinking:
            lines += draw(render_markdown(message.thinking), ctx, frame, style=ctx.palette.thinking, part="thinking")
        return lines

    def _body(self, ctx: DrawContext, frame: str) -> list[Line]:
        """Plain text for the user, Markdown for replies (from the live reply's pieces when they hold it)."""
        message = self.message
        if message.role == "user":
            return draw(Text(displayable(message.content)), ctx, frame)
        if not message.content.strip():
            return draw(empty_answer(message), ctx, frame)
        if self.pieces and message.content == self._pieces_hold:
            if self._body_rows is not None:
                if self._body_rows[:2] == (ctx.width, frame):
                    return self._body_rows[2]
                self._body_rows = None  # drawn at another width now: not kept alive for nothing
            return draw(Pieces(self.pieces), ctx, frame)
        return draw(render_markdown(message.content), ctx, frame)

    def _draw_summary(self, ctx: DrawContext) -> list[Line]:
        """The summary with its fold, then the archived originals' fold (and them, when unfolded)."""
        frame, message, folds = "summary", self.message, self.folds
        originals = [m for m in message.archived if m.role != "summary"]
        lines = [blank()]
        head = Text(f"{'▼' if folds.summary else '▶'} Summary of {len(originals)} messages",
                    style=ctx.palette.roles["summary"])
        lines += draw(head, ctx, frame, action="summary")
        if folds.summary:
            lines += draw(render_markdown(message.content or "(empty)"), ctx, frame)
        archive = Text(f"{'▼' if folds.archive else '▶'} Archived originals ({len(originals)}) — kept, "
                       "not sent to the model", style=ctx.palette.fold)
        lines += draw(archive, ctx, frame, action="archive")
        if folds.archive:
            for original in originals:
                lines += self._archived(original, ctx)
        return lines

    def _archived(self, message: Message, ctx: DrawContext) -> list[Line]:
        """One archived original, indented inside the summary's frame."""
        inner = max(1, ctx.width - 2)
        role = ROLE_LABEL.get(message.role, message.role)
        lines = [blank("summary"), *draw(Text(role, style=ctx.palette.roles.get(message.role, Style(bold=True))),
                                         ctx, "summary", width=inner, indent=2)]
        body: RenderableType = Text(displayable(message.content)) if message.role == "user" else \
            render_markdown(message.content or "(no text)")
        return lines + draw(body, ctx, "summary", width=inner, indent=2)


@dataclass
class _Stream:
    """One growing text (the answer, or the thinking) drawn as settled pieces plus a tail."""

    settler: BlockSettler = field(default_factory=BlockSettler)
    pieces: list[Piece] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)  # the settled pieces' rows at `width`, grown as they settle
    width: int = -1
    drawn: int = 0  # how many pieces `lines` holds
    tail_key: tuple | None = None  # what the tail's rows were drawn from (a footer-only redraw draws no Markdown)
    tail_rows: list[Line] = field(default_factory=list)  # the tail's rows as last drawn (a blank row first if any)

    def feed(self, text: str) -> None:
        """Take the text added since the last look."""
        for part in self.settler.feed(text):
            self.pieces.append(Piece(part))

    def finish(self) -> None:
        """The stream ended: its tail becomes the last piece."""
        last = self.settler.finish()
        if last is not None:
            self.pieces.append(Piece(last))

    def tail_piece(self) -> Piece | None:
        """The block still growing, drawn now (None when blank)."""
        tail, lang = self.settler.tail, self.settler.tail_lang
        if lang is not None:
            return Piece(Settled(tail.rstrip(), lang, last=True))
        return Piece(tail) if tail.strip() else None

    def rows(self, ctx: DrawContext, frame: str, style: Style | None = None, part: str = "body") -> list[Line]:
        """Settled rows (drawn once each, kept) and the tail's rows (drawn now)."""
        if self.width != ctx.width:
            self.lines, self.width, self.drawn = [], ctx.width, 0
        for i in range(self.drawn, len(self.pieces)):
            if i and blank_line_between(self.pieces[i - 1], self.pieces[i]):
                self.lines.append(blank(frame, part))
            self.lines += draw(self.pieces[i], ctx, frame, style=style, part=part)
        self.drawn = len(self.pieces)
        key = (self.settler.tail, self.settler.tail_lang, len(self.pieces), ctx, frame, style, part)
        if key != self.tail_key:
            rows: list[Line] = []
            tail = self.tail_piece()
            if tail is not None:
                if self.pieces and blank_line_between(self.pieces[-1], tail):
                    rows.append(blank(frame, part))
                rows += draw(tail, ctx, frame, style=style, part=part)
            # each unchanged row stays the very row drawn last time (a growing paragraph changes only its last
            # rows: the transcript repaints what is not the same object)
            before = self.tail_rows
            self.tail_key = key
            self.tail_rows = [old if i < len(before) and (old := before[i]) == new else new
                              for i, new in enumerate(rows)]
        return self.lines + self.tail_rows


class LiveBlock(Block):
    """The reply being streamed: drawn like the finished one, from settled pieces plus a live tail.

    The reply session appends to `message.content` (and `message.thinking`); `pull()` takes what was
    added since the last look. Settled pieces are drawn once each and their rows kept, so a flush
    draws only the growing tail: its cost does not depend on how long the reply already is.
    """

    def __init__(self, message: Message, label: str | None = None, *, show_reasoning: str = "collapsed") -> None:
        """Stream into `message`; `label` replaces the role name (summaries say what they summarize)."""
        super().__init__()
        self.message = message
        self.label = label or ROLE_LABEL.get(message.role, message.role)
        self.show_reasoning = show_reasoning
        self.answer = _Stream()
        self.thinking = _Stream()
        self.footer = Text("waiting for the first token…", style="dim italic")
        self.thinking_line = "Thinking…"
        self.shown_at: float | None = None  # perf_counter when new text was last drawn
        self.previous: list[Line] = []  # the rows before the last change (the transcript repaints what differs)
        self._kept: dict[object, list[Line]] = {}  # rows that only change with their key (the label, a fold row)
        self._footer_rows: tuple[object, list[Line]] = (None, [])  # the live footer's rows and what they show

    def invalidate(self) -> None:
        """Draw again on next use, remembering the rows drawn so far."""
        if self._lines is not None:
            self.previous = self._lines
        super().invalidate()

    @property
    def shown_text(self) -> str:
        """The answer text drawn so far."""
        return self.answer.settler.text

    @property
    def pieces(self) -> list[Piece]:
        """The answer's settled pieces, each drawn once."""
        return self.answer.pieces

    def pull(self) -> bool:
        """Take the text added since the last look; True when there is something new to draw."""
        message, answer, thinking = self.message, self.answer, self.thinking
        if len(message.content) < len(answer.settler.text) or len(message.thinking) < len(thinking.settler.text):
            self.answer, self.thinking = _Stream(), _Stream()  # the answer so far was thinking (recast): start over
            answer, thinking = self.answer, self.thinking
        new_thinking = message.thinking[len(thinking.settler.text):]
        new_answer = message.content[len(answer.settler.text):]
        if not new_thinking and not new_answer:
            return False
        if new_thinking:
            thinking.feed(new_thinking)
        if new_answer:
            answer.feed(new_answer)
        self.invalidate()
        self.shown_at = time.perf_counter()
        return True

    def set_footer(self, text: Text, thinking_line: str | None = None) -> None:
        """The live stats line (and the thinking fold's words while the model thinks)."""
        self.footer = text
        if thinking_line is not None:
            self.thinking_line = thinking_line
        self.invalidate()

    def finish(self) -> list[Piece]:
        """The stream ended: every piece settled; returns the answer's pieces for the finished view."""
        self.answer.finish()
        self.thinking.finish()
        return self.answer.pieces

    @property
    def frame(self) -> str:
        """The frame the reply is drawn in."""
        return "assistant" if self.message.role != "summary" else "summary"

    def body(self, ctx: DrawContext) -> tuple[int, str, list[Line]]:
        """The answer's rows at `ctx` (width, frame, rows) for the finished view: only pieces not drawn yet are."""
        return ctx.width, self.frame, self.answer.rows(ctx, self.frame)

    def _keep(self, key: object, make: Callable[[], list[Line]]) -> list[Line]:
        """Rows drawn once per `key` (so a flush leaves them, and the rows above the change, untouched)."""
        rows = self._kept.get(key)
        if rows is None:
            if len(self._kept) > 16:
                self._kept.clear()
            rows = self._kept[key] = make()
        return rows

    def draw(self, ctx: DrawContext) -> list[Line]:
        """Margin, label, the thinking (its newest rows while no answer came), the answer, the live footer."""
        frame = self.frame
        role_style = ctx.palette.roles.get(self.message.role, ctx.palette.roles["assistant"])
        lines = list(self._keep(("head", ctx.width, id(ctx.palette)), lambda: [
            blank(), *draw(Text(self.label, style=role_style), ctx, frame, part="label")]))
        lines += self._thinking_rows(ctx, frame)
        lines += self.answer.rows(ctx, frame)
        key = (ctx, self.footer.plain)
        if self._footer_rows[0] != key:  # the figures change 4 times a second, the text far more often
            self._footer_rows = (key, draw(self.footer, ctx, frame, style=ctx.palette.footer, part="footer"))
        return lines + self._footer_rows[1]

    def _thinking_rows(self, ctx: DrawContext, frame: str) -> list[Line]:
        """While thinking: the fold row and the newest thinking rows; once the answer streams, the fold."""
        if not self.thinking.settler.text.strip() or ctx.show_reasoning == "hidden":
            return []
        answering = bool(self.answer.settler.text.strip())
        expanded = ctx.show_reasoning == "expanded"
        if answering and not expanded:
            return self._keep(("fold", ctx.width, id(ctx.palette), self.thinking_line), lambda: draw(
                Text(f"▶ {self.thinking_line}", style=ctx.palette.fold), ctx, frame, part="thinking"))
        rows = self.thinking.rows(ctx, frame, style=ctx.palette.thinking, part="thinking")
        head = self._keep(("open", ctx.width, id(ctx.palette), self.thinking_line), lambda: draw(
            Text(f"▼ {self.thinking_line}", style=ctx.palette.fold), ctx, frame, part="thinking"))
        return head + (rows if expanded else rows[-LIVE_THINKING_LINES:])
