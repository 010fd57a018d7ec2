"""Message widgets: a light static view per finished message, a streaming Markdown view for the live reply."""

from __future__ import annotations

import time

from rich.console import Console, ConsoleOptions, RenderResult
from rich.markdown import Markdown as RichMarkdown
from rich.segment import Segment
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import AwaitMount
from textual.widgets import Collapsible, Static

from zorac_tui.core.blocks import BlockSettler
from zorac_tui.core.conversation import Message, Status
from zorac_tui.core.text import displayable
from zorac_tui.ui.steady import SteadyStatic

ROLE_LABEL = {"user": "You", "assistant": "Assistant", "summary": "Summary", "notice": "Notice"}
FLUSH_INTERVAL = 0.1  # seconds between pushes of buffered text into the Markdown stream


def render_markdown(text: str) -> RichMarkdown:
    """One renderable for a whole finished reply (no Rich markup parsing, code highlighted)."""
    return RichMarkdown(text, code_theme="monokai", hyperlinks=False)


CONTAINERS = {"bullet_list_open", "ordered_list_open", "table_open", "blockquote_open"}


def blank_line_between(previous: RichMarkdown, piece: RichMarkdown) -> bool:
    """Whether Rich would put a blank line between `previous` and `piece` were they one document.

    Rich writes a blank line before a top-level block unless the block before was a rule; a list,
    table or quote brings its own blank line even at the start of a document.
    """
    top = [token for token in piece.parsed if token.level == 0]
    if top and top[0].type in CONTAINERS:
        return False
    before = [token for token in previous.parsed if token.level == 0]
    return not (before and before[-1].type == "hr")


class Piece:
    """One settled run of Markdown blocks; its drawn lines are kept per width, so it is drawn once."""

    def __init__(self, text: str) -> None:
        """A piece holding `text` (finished top-level blocks)."""
        self.text = text
        self.markdown = render_markdown(text)
        self._lines: dict[int, list[list[Segment]]] = {}

    def lines(self, console: Console, options: ConsoleOptions) -> list[list[Segment]]:
        """The drawn lines at this width (drawn on first use)."""
        lines = self._lines.get(options.max_width)
        if lines is None:
            lines = console.render_lines(self.markdown, options, pad=False)
            self._lines = {options.max_width: lines}  # one width at a time: a resize replaces it
        return lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """Yield the cached lines."""
        yield from lines_to_segments(self.lines(console, options))


class Pieces:
    """A whole reply as its settled pieces, drawn from their cached lines (looks like the whole text drawn)."""

    def __init__(self, pieces: list[Piece]) -> None:
        """The reply made of `pieces`, in order."""
        self.pieces = pieces

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """Each piece's lines, with the blank line Rich would put between them."""
        for i, piece in enumerate(self.pieces):
            if i and blank_line_between(self.pieces[i - 1].markdown, piece.markdown):
                yield Segment.line()
            yield from lines_to_segments(piece.lines(console, options))


def lines_to_segments(lines: list[list[Segment]]) -> RenderResult:
    """Segments of `lines`, each line ended by a newline."""
    for line in lines:
        yield from line
        yield Segment.line()


def status_line(message: Message) -> Text:
    """Footer under a message: stats, cancelled/error state."""
    parts: list[tuple[str, str]] = []
    if message.stats is not None:
        line = message.stats.line()
        if line:
            parts.append((line, "dim"))
    if message.note:
        parts.append((message.note, "yellow"))
    if message.status is Status.CANCELLED:
        parts.append(("cancelled by you — partial reply kept", "bold yellow"))
    elif message.status is Status.INTERRUPTED:
        parts.append(("interrupted — the app stopped while this reply streamed", "bold yellow"))
    elif message.status is Status.ERROR and message.error:
        parts.append((displayable(message.error), "bold red"))
    text = Text()
    for i, (chunk, style) in enumerate(parts):
        if i:
            text.append(" · ", style="dim")
        text.append(chunk, style=style)
    return text


class MessageView(Vertical):
    """A finished message: role label, body as one widget, status footer."""

    can_focus = True

    def __init__(self, message: Message, pieces: list[Piece] | None = None) -> None:
        """Show `message` (drawn from `pieces` when they hold its text); never parsed as Rich markup."""
        super().__init__(classes=f"message -{message.role}")
        self.message = message
        self.pieces = pieces or []

    def compose(self) -> ComposeResult:
        """Label, body and footer."""
        yield Static(ROLE_LABEL.get(self.message.role, self.message.role), classes="role", markup=False)
        yield Static(self._body(), classes="body")
        yield Static(status_line(self.message), classes="footer")

    def _body(self) -> Text | RichMarkdown | Pieces:
        """The body renderable: plain text for the user, Markdown for replies."""
        if self.message.role == "user":
            return Text(displayable(self.message.content))
        if not self.message.content.strip():
            return Text("(no text)", style="dim italic")
        if self.pieces and "".join(piece.text for piece in self.pieces).strip() == self.message.content.strip():
            return Pieces(self.pieces)  # the live reply's pieces, already drawn: no second full render
        return render_markdown(self.message.content)

    def refresh_message(self) -> None:
        """Re-render after the message changed."""
        self.query_one(".body", Static).update(self._body())
        self.query_one(".footer", Static).update(status_line(self.message))
        self.set_class(self.message.status is Status.ERROR, "-error")


class NoticeView(Static):
    """One line from the app (errors, connection state) shown in the conversation."""

    def __init__(self, text: str, *, level: str = "info") -> None:
        """A notice; `level` is info, warning or error."""
        super().__init__(Text(displayable(text)), classes=f"notice -{level}", markup=False)


class SummaryView(Vertical):
    """A collapsible summary block; the messages it replaced are mounted only when expanded."""

    can_focus = True

    def __init__(self, message: Message) -> None:
        """Show summary `message` and keep its archive one click away."""
        super().__init__(classes="message -summary")
        self.message = message

    def compose(self) -> ComposeResult:
        """Summary body, then the archive."""
        count = len([m for m in self.message.archived if m.role != "summary"])
        with Collapsible(title=f"Summary of {count} messages", collapsed=False, classes="summary-body"):
            yield Static(render_markdown(self.message.content or "(empty)"), classes="body")
        with Collapsible(title=f"Archived originals ({count}) — kept, not sent to the model",
                         collapsed=True, classes="archive"):
            yield Vertical(classes="archive-list")

    async def on_collapsible_expanded(self, event: Collapsible.Expanded) -> None:
        """Mount the archived messages the first time the archive opens."""
        if "archive" not in event.collapsible.classes:
            return
        holder = event.collapsible.query_one(".archive-list", Vertical)
        if not holder.children:
            originals = [m for m in self.message.archived if m.role != "summary"]
            await holder.mount_all([MessageView(m) for m in originals])


def view_for(message: Message) -> Vertical:
    """The finished-message widget for `message`'s role."""
    return SummaryView(message) if message.role == "summary" else MessageView(message)


class StreamingReply(Vertical):
    """The reply being streamed, drawn like the finished view: settled blocks, then a live tail.

    Text is buffered and drawn every FLUSH_INTERVAL. Finished top-level blocks (see BlockSettler) are
    mounted once as a Static each and never redrawn; only the tail (the block still growing) is parsed
    and drawn again on each flush. The widget tree grows by one light widget per flush at most, so a
    long reply costs the same per flush as a short one.
    """

    def __init__(self, message: Message, label: str | None = None) -> None:
        """Stream into `message.content`."""
        super().__init__(classes=f"message -{message.role} -streaming")
        self.message = message
        self.label = label or ROLE_LABEL.get(message.role, message.role)
        self._pending: list[str] = []
        self._settler = BlockSettler()
        self._mounting: AwaitMount | None = None
        self.pieces: list[Piece] = []  # settled pieces, drawn once each
        self.shown_at: float | None = None  # perf_counter when the last buffered text was drawn

    def compose(self) -> ComposeResult:
        """Label, the live tail and the live footer (settled blocks are mounted before the tail)."""
        yield Static(self.label, classes="role", markup=False)
        yield SteadyStatic("", classes="body tail")
        yield SteadyStatic(Text("waiting for the first token…", style="dim italic"), classes="footer")

    def on_mount(self) -> None:
        """Start the flush timer."""
        self._tail = self.query_one(".tail", SteadyStatic)
        self._tail.display = False
        self._timer = self.set_interval(FLUSH_INTERVAL, self._tick)

    @property
    def shown_text(self) -> str:
        """The text drawn so far (settled blocks and tail)."""
        return self._settler.text

    def append(self, text: str) -> None:
        """Buffer text; it reaches the screen at the next flush."""
        self.message.content += text
        self._pending.append(text)

    def set_footer(self, text: Text) -> None:
        """Update the live stats line."""
        self.query_one(".footer", SteadyStatic).update(text)

    def _tick(self) -> None:
        """Timer callback (looked up on each tick, so it can be wrapped)."""
        self.flush()

    def flush(self) -> None:
        """Draw the buffered text: mount what settled, redraw the tail."""
        if not self._pending:
            return
        chunk = "".join(self._pending)
        self._pending.clear()
        settled = self._settler.feed(chunk)
        if settled.strip():
            self._mounting = self.mount(self._settled_view(Piece(settled)), before=self._tail)
        tail = self._settler.tail
        visible = bool(tail.strip())
        if visible:
            piece = Piece(tail)  # measured and drawn from one render
            self._tail.set_class(self._after_last(piece.markdown), "-after")
            self._tail.update(piece)
        if self._tail.display != visible:
            self._tail.display = visible
        self.shown_at = time.perf_counter()

    def _after_last(self, markdown: RichMarkdown) -> bool:
        """Whether a blank line separates `markdown` from the last settled piece."""
        return bool(self.pieces) and blank_line_between(self.pieces[-1].markdown, markdown)

    def _settled_view(self, piece: Piece) -> Static:
        """The widget for a newly settled piece (recorded in `pieces`)."""
        view = Static(piece, classes="body settled")
        view.set_class(self._after_last(piece.markdown), "-after")
        self.pieces.append(piece)
        return view

    async def finish(self) -> None:
        """Stop streaming; the tail becomes the last piece (the caller swaps in a MessageView of `pieces`)."""
        self._timer.stop()
        self.flush()
        tail = self._settler.tail
        if tail.strip():
            self._tail.display = False
            self._mounting = self.mount(self._settled_view(Piece(tail)), before=self._tail)
        if self._mounting is not None:
            await self._mounting
            self._mounting = None
