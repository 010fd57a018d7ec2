"""Message widgets: a light static view per finished message, a streaming Markdown view for the live reply."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import AwaitMount
from textual.widgets import Collapsible, Static

from zorac_tui.core.blocks import BlockSettler, Settled
from zorac_tui.core.conversation import Message, Status
from zorac_tui.core.text import displayable
from zorac_tui.ui.pieces import Piece, Pieces, blank_line_between, render_markdown
from zorac_tui.ui.steady import SteadyStatic

if TYPE_CHECKING:
    from rich.markdown import Markdown as RichMarkdown

ROLE_LABEL = {"user": "You", "assistant": "Assistant", "summary": "Summary", "notice": "Notice"}
FLUSH_INTERVAL = 0.1  # seconds between draws of the buffered reply text


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


class MessageView(Vertical):
    """A finished message: role label, body as one widget, status footer."""

    can_focus = True

    def __init__(self, message: Message, pieces: list[Piece] | None = None) -> None:
        """Show `message` (drawn from `pieces` when they hold its text); never parsed as Rich markup."""
        super().__init__(classes=f"message -{message.role}")
        self.message = message
        self.pieces = pieces or []
        self._pieces_hold = message.content  # the text the pieces were made from

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
        if self.pieces and self.message.content == self._pieces_hold:
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

    The reply session appends to `message.content`; every FLUSH_INTERVAL this widget draws what was
    added since. Finished top-level blocks (see BlockSettler) are mounted once as a Static each and
    never redrawn; only the tail (the block still growing) is parsed and drawn again on each flush.
    """

    def __init__(self, message: Message, label: str | None = None) -> None:
        """Draw `message.content` as it grows."""
        super().__init__(classes=f"message -{message.role} -streaming")
        self.message = message
        self.label = label or ROLE_LABEL.get(message.role, message.role)
        self._settler = BlockSettler()
        self._mounting: AwaitMount | None = None
        self.pieces: list[Piece] = []  # settled pieces, drawn once each
        self.shown_at: float | None = None  # perf_counter when the last new text was drawn

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

    def set_footer_text(self, line: str) -> None:
        """Update the live stats line (plain text, dim)."""
        self.query_one(".footer", SteadyStatic).update(Text(line, style="dim"))

    def _tick(self) -> None:
        """Timer callback (looked up on each tick, so it can be wrapped)."""
        self.flush()

    def flush(self) -> None:
        """Draw the text added since the last flush: mount what settled, redraw the tail."""
        chunk = self.message.content[len(self._settler.text):]
        if not chunk:
            return
        for part in self._settler.feed(chunk):
            self._mount_piece(Piece(part))
        tail, lang = self._settler.tail, self._settler.tail_lang
        visible = bool(tail.strip()) or lang is not None
        if visible:
            piece = Piece(Settled(tail.rstrip(), lang, last=True) if lang is not None else tail)  # drawn once
            self._tail.set_class(self._after_last(piece), "-after")
            self._tail.update(piece)
        if self._tail.display != visible:
            self._tail.display = visible
        self.shown_at = time.perf_counter()

    def _after_last(self, piece: Piece) -> bool:
        """Whether a blank line separates `piece` from the last settled piece."""
        return bool(self.pieces) and blank_line_between(self.pieces[-1], piece)

    def _mount_piece(self, piece: Piece) -> None:
        """Mount a newly settled piece before the tail (and record it in `pieces`)."""
        view = Static(piece, classes="body settled")
        view.set_class(self._after_last(piece), "-after")
        self.pieces.append(piece)
        self._mounting = self.mount(view, before=self._tail)

    async def finish(self) -> None:
        """Stop streaming; the tail becomes the last piece (the caller swaps in a MessageView of `pieces`)."""
        self._timer.stop()
        self.flush()
        last = self._settler.finish()
        if last is not None:
            self._tail.display = False
            self._mount_piece(Piece(last))
        if self._mounting is not None:
            await self._mounting
            self._mounting = None
