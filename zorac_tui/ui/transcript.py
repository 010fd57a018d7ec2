"""The transcript: the whole conversation drawn through Textual's Line API, one row at a time.

One widget holds every message (no widget per message or per Markdown block): blocks draw their
rows once per width and keep them; `render_line` paints only the rows on screen. The live reply is
the last block; a flush draws its new tail and moves the scrollable height without a screen layout,
so a flush costs the same at the 8,000th token as at the 80th, however long the conversation.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Offset, Region, Size
from textual.message import Message as TextualMessage
from textual.scroll_view import ScrollView
from textual.selection import Selection
from textual.strip import Strip

from zorac_tui.core.code_blocks import CodeBlock, code_blocks
from zorac_tui.core.conversation import Conversation, Message
from zorac_tui.ui import compat
from zorac_tui.ui.transcript_blocks import (
    FRAME_CELLS,
    Block,
    DrawContext,
    EarlierBlock,
    Line,
    LiveBlock,
    MessageBlock,
    NoticeBlock,
    Palette,
)

INITIAL_TAIL = 40  # messages drawn at once when a long conversation opens; older ones on demand
FLUSH_INTERVAL = 0.1  # seconds between draws of the streaming reply
ROOM = 3  # a streaming reply at the view's end scrolls a third of the view at a time, into blank rows
PAINTED_ROWS = 400  # painted rows kept (a few screens): scrolling by a row repaints the others from here
FRAMES = ("user", "assistant", "summary", "error")
BORDER = "▌"


class Transcript(ScrollView, can_focus=True):
    """Shows one Conversation; follows new text while scrolled to the bottom; a cursor walks its messages."""

    BINDING_GROUP_TITLE = "Conversation"
    BINDINGS = [
        Binding("up", "cursor(-1)", "Previous message", show=False),
        Binding("down", "cursor(1)", "Next message", show=False),
        Binding("enter,space", "toggle", "Fold / unfold thinking or summary", show=False),
        Binding("e", "edit", "Edit and fork (on your message)", show=False),
        Binding("left,[", "flip(-1)", "Earlier version", show=False),
        Binding("right,]", "flip(1)", "Later version", show=False),
    ]
    COMPONENT_CLASSES = {
        *(f"transcript--frame-{name}" for name in FRAMES),
        "transcript--role-user", "transcript--role-assistant", "transcript--role-summary",
        "transcript--footer", "transcript--thinking", "transcript--fold", "transcript--cursor",
        "transcript--notice-info", "transcript--notice-warning", "transcript--notice-error",
    }
    DEFAULT_CSS = """
    Transcript {
        scrollbar-gutter: stable;
        & > .transcript--frame-user { color: $secondary; background: $surface; }
        & > .transcript--frame-assistant { color: $primary; }
        & > .transcript--frame-summary { color: $accent; background: $boost; }
        & > .transcript--frame-error { color: $error; }
        & > .transcript--role-user { color: $text-secondary; text-style: bold; }
        & > .transcript--role-assistant { color: $text-primary; text-style: bold; }
        & > .transcript--role-summary { color: $text-accent; text-style: bold; }
        & > .transcript--footer { color: $text-muted; }
        & > .transcript--thinking { color: $text-muted; }
        & > .transcript--fold { color: $text-secondary; }
        & > .transcript--cursor { background: $boost; }
        & > .transcript--notice-info { color: $text-muted; }
        & > .transcript--notice-warning { color: $text-warning; }
        & > .transcript--notice-error { color: $text-error; }
    }
    """

    class CursorMoved(TextualMessage):
        """The message under the cursor changed (None: no message)."""

        def __init__(self, message: Message | None) -> None:
            """Carry the message."""
            super().__init__()
            self.message = message

    class Edit(TextualMessage):
        """Put this (user) message in the prompt; sending it forks a new conversation."""

        def __init__(self, message: Message) -> None:
            """The message to edit."""
            super().__init__()
            self.message = message

    class Flip(TextualMessage):
        """Show another version of this reply (`step` -1: the earlier one, 1: the later one)."""

        def __init__(self, message: Message, step: int) -> None:
            """The reply shown now and which way to go."""
            super().__init__()
            self.message, self.step = message, step

    def __init__(self, conversation: Conversation | None = None, *, show_reasoning: str = "collapsed",
                 **kwargs: Any) -> None:
        """A transcript of `conversation` (empty by default)."""
        super().__init__(**kwargs)
        self.conversation = conversation or Conversation()
        self.show_reasoning = show_reasoning
        self.blocks: list[Block] = []
        self._starts: list[int] = [0]  # row where each block starts; the last entry is the total height
        self._unloaded = 0  # messages[:n] not drawn yet (lazy history)
        self.cursor: int | None = None  # index of the block under the cursor (shown while focused)
        self._palette: Palette | None = None
        self._theme: str | None = None  # the theme the palette was resolved for
        self._ctx: DrawContext | None = None
        self._timer: Any = None
        self._with_flush: list[Callable[[], None]] = []  # live figures drawn with the next flush (on_next_flush)
        self._flushing = False  # a flush runs them: a footer they set is drawn by its one redraw
        self._footer_set = False
        self._base: Style | None = None  # the widget's own style, looked up once per paint (it walks the DOM)
        self._painted: dict[int, tuple[Line, tuple, Strip]] = {}  # row → its Line, how it was painted, the strip
        self._room_end = 0  # the scrollable height while a streaming reply grows into blank rows below it
        self._following = True  # the view showed the end when last drawn or scrolled

    # ------------------------------------------------------------------ drawing
    def on_mount(self) -> None:
        """Start the flush timer (idle until a reply streams)."""
        self._timer = self.set_interval(FLUSH_INTERVAL, self._tick, pause=True)

    def _tick(self) -> None:
        """The flush timer (looks `flush` up on each tick, so a benchmark can wrap it)."""
        self.flush()

    @property
    def live(self) -> LiveBlock | None:
        """The streaming block, if a reply streams."""
        last = self.blocks[-1] if self.blocks else None
        return last if isinstance(last, LiveBlock) else None

    def _draw_context(self) -> DrawContext:
        """How blocks draw now (the width inside a frame, the theme's styles)."""
        width = max(8, self.scrollable_content_region.width - FRAME_CELLS)
        if self._theme != self.app.theme:  # every block's colours come from the theme
            self._theme, self._palette = self.app.theme, None
            for block in self.blocks:
                block.invalidate()
        if self._ctx is None or self._ctx.width != width or self._palette is None:
            self._ctx = DrawContext(self.app.console, width, self._styles(), self.show_reasoning)
        return self._ctx

    def _styles(self) -> Palette:
        """The palette from the component classes (theme variables), resolved once per theme."""
        if self._palette is None:
            style = self.get_component_rich_style
            self._palette = Palette(
                frames={name: style(f"transcript--frame-{name}", partial=True) for name in FRAMES},
                roles={role: style(f"transcript--role-{role}", partial=True)
                       for role in ("user", "assistant", "summary")},
                footer=style("transcript--footer", partial=True),
                notices={level: style(f"transcript--notice-{level}", partial=True)
                         for level in ("info", "warning", "error")},
                thinking=style("transcript--thinking", partial=True),
                fold=style("transcript--fold", partial=True))
        return self._palette

    def on_resize(self, event: events.Resize) -> None:
        """A new size: blocks draw again at it, and a view that showed the end still does.

        Whether it showed the end is what it was before the resize: measured now, against the old
        scrollable height and the new view, a smaller view no longer looks at the end (it then stopped
        following a streaming reply). A streamed reply's blank rows stay (the gauge grows as it ends).
        """
        self._relayout(0, follow=self._following, keep_room=True)

    def _relayout(self, first: int, *, follow: bool = False, keep_room: bool = False) -> None:
        """Recount where blocks start from block `first` on, set the scrollable height, repaint.

        The blank rows below a reply that streamed (see `_redraw_last`) go, unless `keep_room` (the reply
        just finished, or the view's size changed: the text does not jump back down by them).
        """
        if not self.is_mounted or self.scrollable_content_region.width <= 0:
            return
        ctx = self._draw_context()
        del self._starts[first + 1:]
        for block in self.blocks[first:]:
            self._starts.append(self._starts[-1] + len(block.lines(ctx)))
        if not keep_room or self._room_end <= self._starts[-1]:
            self._room_end = 0
        else:  # no more blank rows than a scroll step leaves (a wider view has fewer rows of text)
            self._room_end = min(self._room_end, self._starts[-1] + self._room())
        compat.set_virtual_size(self, Size(self.scrollable_content_region.width,
                                           max(self._starts[-1], self._room_end)))
        if follow:
            self.scroll_to(y=self.max_scroll_y, animate=False)
        self._following = self._at_bottom()
        self.refresh()

    def _room(self) -> int:
        """Blank rows a streaming reply at the view's end scrolls in at a time (a third of the view)."""
        return max(1, self.scrollable_content_region.height // ROOM)

    def _at_bottom(self) -> bool:
        """Whether the view shows the last row (then new rows keep it there)."""
        return self.scroll_y >= self.max_scroll_y - 1

    def render_lines(self, crop: Region) -> list[Strip]:
        """Paint the rows in `crop`, with the widget's base style looked up once."""
        self._base = self.rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._base = None

    def render_line(self, y: int) -> Strip:
        """Paint row `y` of the view: its block's row with its frame, the cursor and the selection."""
        width = self.scrollable_content_region.width
        row = int(self.scroll_y) + y
        found = self._row(row)
        if found is None:
            return Strip.blank(width, self._base or self.rich_style)
        index, line = found
        cursor = index == self.cursor and self.has_focus
        selection = self.text_selection
        span = selection.get_span(row) if selection is not None else None
        state = (cursor, span, width, self._base, id(self._palette))
        painted = self._painted.get(row)
        if painted is not None and painted[0] is line and painted[1] == state:
            return painted[2]  # the same row drawn the same way: a view that scrolled repaints it for free
        strip = self._paint(line, row, width, cursor=cursor, span=span)
        if len(self._painted) > PAINTED_ROWS:
            self._painted.clear()
        self._painted[row] = (line, state, strip)
        return strip

    def _row(self, row: int) -> tuple[int, Line] | None:
        """The block index and Line at absolute `row`."""
        if row < 0 or row >= self._starts[-1]:
            return None
        index = bisect_right(self._starts, row) - 1
        lines = self.blocks[index].lines(self._draw_context())
        offset = row - self._starts[index]
        return (index, lines[offset]) if offset < len(lines) else None

    def _paint(self, line: Line, row: int, width: int, *, cursor: bool, span: tuple[int, int] | None) -> Strip:
        """A row's strip: border and padding in its frame's colours, then the text (selectable)."""
        base = self._base or self.rich_style
        palette = self._styles()
        frame = palette.frames.get(line.frame) if line.frame else None
        back = base + Style(bgcolor=frame.bgcolor) if frame is not None and frame.bgcolor else base
        if cursor:
            back += Style(bgcolor=self.get_component_rich_style("transcript--cursor").bgcolor)
        content = line.strip.apply_offsets(0, row)
        if span is not None:
            content = _highlight(content, span, self.screen.get_component_rich_style("screen--selection"))
        content = Strip(Segment.apply_style(content, back))
        if frame is not None:
            head = [Segment(BORDER, back + Style(color=frame.color)), Segment(" " * (1 + line.indent), back)]
        else:
            head = [Segment(" ", back)]
        return Strip([*head, *content]).adjust_cell_length(width, back)

    # ------------------------------------------------------------------ content
    def show(self, conversation: Conversation) -> None:
        """Show `conversation`: its last INITIAL_TAIL messages drawn, older ones when scrolled to."""
        self.conversation = conversation
        tail = conversation.messages[-INITIAL_TAIL:]
        self._unloaded = len(conversation.messages) - len(tail)
        self.blocks = ([EarlierBlock(self._unloaded)] if self._unloaded else []) + [self._block(m) for m in tail]
        indexes = self._message_indexes()
        self.cursor = indexes[-1] if indexes and self.has_focus else None
        self._pause_flushes()
        self._relayout(0)
        self.scroll_to(y=self.max_scroll_y, animate=False)

    def _block(self, message: Message) -> MessageBlock:
        """The finished-message block for `message`."""
        return MessageBlock(message, show_reasoning=self.show_reasoning)

    def _append(self, block: Block) -> None:
        """Add a block at the end (before the live reply, which stays last)."""
        follow = self._at_bottom()
        at = len(self.blocks) - (1 if self.live is not None and not isinstance(block, LiveBlock) else 0)
        self.blocks.insert(at, block)
        if self.cursor is not None and self.cursor >= at:
            self.cursor += 1
        self._relayout(at, follow=follow)

    def add_message(self, message: Message) -> None:
        """Append a finished message."""
        self._append(self._block(message))

    def add_notice(self, text: str, level: str = "info") -> None:
        """Append a one-line notice."""
        self._append(NoticeBlock(text, level))

    def start_reply(self, message: Message, label: str | None = None) -> LiveBlock:
        """Append the live reply; it is drawn every FLUSH_INTERVAL as its message grows."""
        live = LiveBlock(message, label, show_reasoning=self.show_reasoning)
        self._append(live)
        if self._timer is not None:
            self._timer.resume()
        return live

    def live_view(self, message: Message) -> LiveBlock | None:
        """The live block drawing `message`, if it streams."""
        live = self.live
        return live if live is not None and live.message is message else None

    def _pause_flushes(self) -> None:
        """No reply streams: the flush timer rests, and live figures waiting for a flush are dropped."""
        if self._timer is not None:
            self._timer.pause()
        self._with_flush.clear()

    def on_next_flush(self, callback: Callable[[], None]) -> None:
        """Run `callback` (live figures) at the streaming reply's next flush, so what it changes is drawn in the
        flush's frame instead of a frame of its own; at once when no reply streams. Dropped if the reply
        ends first: its figures are stale then."""
        if self.live is None:
            callback()
        else:
            self._with_flush.append(callback)

    def flush(self) -> None:
        """Draw what the streaming reply received since the last flush (only its changed rows repaint)."""
        live = self.live
        due, self._with_flush = self._with_flush, []
        self._flushing = True
        try:
            for callback in due:
                callback()
        finally:
            self._flushing, footer, self._footer_set = False, self._footer_set, False
        if live is not None and (live.pull() or footer):
            self._redraw_last(live)

    def _redraw_last(self, live: LiveBlock) -> None:
        """The live block changed: its height and rows from the first changed one.

        A reply that follows the view's end and passes its bottom scrolls a third of the view at once,
        into blank rows it then grows into: each scroll repaints every row of the view, so scrolling a
        row at a time cost a whole-view repaint for every new row (most of a 60 tok/s reply's frames).
        """
        follow = self._at_bottom()
        start = self._starts[-2]
        old = live.previous
        rows = live.lines(self._draw_context())
        first = next((i for i, (a, b) in enumerate(zip(old, rows)) if a is not b), min(len(old), len(rows)))
        height = start + len(rows)
        if height != self._starts[-1]:
            self._starts[-1] = height
            if follow and height > self.scroll_y + self.scrollable_content_region.height:
                self._room_end = height + self._room()
            total = max(height, self._room_end)
            if total != self.virtual_size.height:
                compat.set_virtual_size(self, Size(self.scrollable_content_region.width, total))
        if follow and self.scroll_y < self.max_scroll_y:
            self.scroll_to(y=self.max_scroll_y, animate=False)  # repaints the whole view
        else:
            self.refresh_lines(start + first, max(len(old), len(rows)) - first)

    def set_live_footer(self, message: Message, footer: str, thinking_line: str | None = None) -> None:
        """The live stats line under a streaming reply."""
        live = self.live_view(message)
        if live is not None:
            live.set_footer(Text(footer, style="dim"), thinking_line)
            if self._flushing:  # the flush redraws once, text and footer together
                self._footer_set = True
            else:
                self._redraw_last(live)

    def settle_reply(self, message: Message) -> None:
        """The reply ended: its live block becomes a finished one, from the pieces already drawn."""
        live = self.live_view(message)
        if live is None:
            return
        live.pull()
        pieces = live.finish()
        self._pause_flushes()
        index = len(self.blocks) - 1
        block = MessageBlock(message, pieces, show_reasoning=self.show_reasoning, body=live.body(self._draw_context()))
        block.folds.thinking = self.show_reasoning == "expanded"
        self.blocks[index] = block
        self._relayout(index, follow=self._at_bottom(), keep_room=True)

    def drop_live(self, message: Message) -> None:
        """Remove `message`'s live block (a summary, drawn in its own block once applied)."""
        if self.live_view(message) is not None:
            self._pause_flushes()
            self.blocks.pop()
            self._relayout(len(self.blocks), follow=self._at_bottom())

    def remove_message(self, message: Message) -> None:
        """Remove `message`'s block (a failed reply replaced by its retry)."""
        index = self._index_of(message)
        if index is not None:
            self.blocks.pop(index)
            self.cursor = None
            self._relayout(index)

    def refresh_message(self, message: Message) -> None:
        """`message` changed (another window's reply, a version flip): draw its block again."""
        index = self._index_of(message)
        if index is not None:
            self.blocks[index].invalidate()
            self._relayout(index, follow=self._at_bottom())

    def replace_message(self, old: Message, new: Message) -> None:
        """Show `new` where `old` was (another version of a reply)."""
        index = self._index_of(old)
        if index is not None:
            self.blocks[index] = self._block(new)
            self._relayout(index)

    def _index_of(self, message: Message) -> int | None:
        """The index of the block showing `message`."""
        return next((i for i, b in enumerate(self.blocks) if b.message is message), None)

    def text_of(self, message: Message) -> str:
        """The rows drawn for `message`, as plain text (what a user reads)."""
        index = self._index_of(message)
        if index is None:
            return ""
        return "\n".join(line.text for line in self.blocks[index].lines(self._draw_context()))

    def part_text(self, message: Message, part: str) -> str:
        """The rows of one part of `message` ("label", "thinking", "body", "footer") as plain text."""
        index = self._index_of(message)
        if index is None:
            return ""
        return "\n".join(line.text for line in self.blocks[index].lines(self._draw_context()) if line.part == part)

    def notices(self) -> list[str]:
        """The notices shown, oldest first."""
        return [b.text for b in self.blocks if isinstance(b, NoticeBlock)]

    def set_show_reasoning(self, mode: str) -> None:
        """Show thinking collapsed, expanded or hidden from now on (every message drawn again)."""
        self.show_reasoning = mode
        self._ctx = None
        for block in self.blocks:
            if isinstance(block, MessageBlock):
                block.folds.thinking = mode == "expanded"
            block.invalidate()
        self._relayout(0, follow=self._at_bottom())

    # ------------------------------------------------------------ lazy history
    def watch_scroll_y(self, old: float, new: float) -> None:
        """Note whether the view shows the end; load older messages when the user reaches the top."""
        super().watch_scroll_y(old, new)
        self._following = self._at_bottom()
        if new <= 0 and self._unloaded:
            self.call_later(self.load_older)

    def load_older(self, count: int = INITIAL_TAIL) -> None:
        """Draw up to `count` older messages above the loaded ones, keeping the view where it is."""
        if not self._unloaded:
            return
        start = max(0, self._unloaded - count)
        batch = [self._block(m) for m in self.conversation.messages[start:self._unloaded]]
        self._unloaded = start
        before = self._starts[-1]
        self.blocks = ([EarlierBlock(start)] if start else []) + batch + self.blocks[1:]
        if self.cursor is not None:
            self.cursor += len(batch) - (0 if start else 1)
        self._relayout(0)
        self.scroll_to(y=self.scroll_y + self._starts[-1] - before, animate=False)

    # ------------------------------------------------------------ cursor, mouse
    @property
    def cursor_message(self) -> Message | None:
        """The message under the cursor."""
        if self.cursor is None or self.cursor >= len(self.blocks):
            return None
        return self.blocks[self.cursor].message

    def _message_indexes(self) -> list[int]:
        """Indexes of blocks that show a message."""
        return [i for i, b in enumerate(self.blocks) if b.message is not None]

    def on_focus(self) -> None:
        """Focused: the cursor starts on the last message in view (the view does not move)."""
        if self.cursor is None:
            top, bottom = self.scroll_y, self.scroll_y + self.scrollable_content_region.height
            shown = [i for i in self._message_indexes() if self._starts[i] < bottom and self._starts[i + 1] > top]
            if shown:
                self.cursor = shown[-1]
                self.post_message(self.CursorMoved(self.cursor_message))
        self.refresh()

    def on_blur(self) -> None:
        """The cursor is shown only while focused."""
        self.refresh()

    def action_cursor(self, step: int) -> None:
        """Move the cursor to the previous or next message."""
        indexes = self._message_indexes()
        if not indexes:
            return
        if self.cursor is None or self.cursor not in indexes:
            target = indexes[-1]
        else:
            target = indexes[max(0, min(len(indexes) - 1, indexes.index(self.cursor) + step))]
        self._move_cursor(target)

    def _move_cursor(self, index: int) -> None:
        """Put the cursor on block `index`, scrolling only when none of it is in view."""
        self.cursor = index
        start, end = self._starts[index] + 1, self._starts[index + 1]  # (+1: not its margin row)
        top, height = int(self.scroll_y), self.scrollable_content_region.height
        if end <= top or start >= top + height:
            self.scroll_to(y=start if start < top or end - start > height else end - height, animate=False)
        self.refresh()
        self.post_message(self.CursorMoved(self.cursor_message))

    def action_toggle(self) -> None:
        """Fold or unfold the cursor message's thinking (or a summary's archive)."""
        if self.cursor is None:
            return
        block = self.blocks[self.cursor]
        actions = [line.action for line in block.lines(self._draw_context()) if line.action]
        if actions:
            self._toggle(self.cursor, "archive" if "archive" in actions else actions[0])

    def action_edit(self) -> None:
        """Edit the message under the cursor (yours) in the prompt."""
        message = self.cursor_message
        if message is not None:
            self.post_message(self.Edit(message))

    def action_flip(self, step: int) -> None:
        """Show the earlier or later version of the reply under the cursor."""
        message = self.cursor_message
        if message is not None:
            self.post_message(self.Flip(message, step))

    def on_key(self, event: events.Key) -> None:
        """A printable key while reading goes to the prompt: typing never gets lost here."""
        if event.is_printable and event.character and event.character not in "e[] ":
            event.stop()
            self.post_message(self.TypedHere(event.character))

    class TypedHere(TextualMessage):
        """A character typed while the transcript had focus (the prompt should take it)."""

        def __init__(self, character: str) -> None:
            """The character."""
            super().__init__()
            self.character = character

    def reveal(self, db_id: int) -> str | None:
        """Put the cursor on the stored message `db_id` (loading older messages, unfolding a summary's
        archive) and scroll to it; returns where it was found ("message", "archived", "version") or None."""
        while True:
            for index, block in enumerate(self.blocks):
                message = block.message
                if message is None:
                    continue
                if message.db_id == db_id:
                    return self._reveal(index, "message")
                if any(m.db_id == db_id for m in message.archived):
                    if isinstance(block, MessageBlock) and not block.folds.archive:
                        block.toggle("archive")
                        self._relayout(index)
                    return self._reveal(index, "archived")
                if any(v.db_id == db_id for v in message.versions):
                    return self._reveal(index, "version")
            if not self._unloaded:
                return None
            self.load_older(self._unloaded)

    def _reveal(self, index: int, where: str) -> str:
        """Cursor on block `index`, scrolled into view; `where` passed through."""
        self.focus()
        self._move_cursor(index)
        return where

    def _toggle(self, index: int, action: str) -> None:
        """Fold or unfold part `action` of block `index`."""
        if self.blocks[index].toggle(action):
            self._relayout(index)

    async def _on_click(self, event: events.Click) -> None:
        """A click on a fold row folds or unfolds it; a click on a message puts the cursor there."""
        offset = event.get_content_offset(self)
        if offset is not None:
            found = self._row(int(self.scroll_y) + offset.y)
            if found is not None:
                index, line = found
                if line.action:
                    self._toggle(index, line.action)
                if self.blocks[index].message is not None:
                    self.cursor = index
                    self.refresh()
        await super()._on_click(event)

    # ---------------------------------------------------------------- selection
    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        """The text under the mouse selection (the rows' text, frames left out)."""
        first = selection.start.y if selection.start is not None else 0
        last = selection.end.y if selection.end is not None else self._starts[-1] - 1
        texts = []
        for row in range(first, min(last, self._starts[-1] - 1) + 1):
            found = self._row(row)
            texts.append(found[1].text if found is not None else "")
        if not texts:
            return None
        start = Offset(selection.start.x, 0) if selection.start is not None else None
        end = Offset(selection.end.x, last - first) if selection.end is not None else None
        return Selection(start, end).extract("\n".join(texts)), "\n"

    def selection_updated(self, selection: Selection | None) -> None:
        """Repaint the selection's highlight."""
        self.refresh()

    def code_blocks_above(self, row: int | None = None) -> list[tuple[int, Message, CodeBlock]]:
        """The code blocks drawn above `row` (default: the bottom of the view), nearest first, with the row
        each starts at and its message."""
        bottom = int(self.scroll_y) + self.scrollable_content_region.height if row is None else row
        found: list[tuple[int, Message, CodeBlock]] = []
        ctx = self._draw_context()
        for index, block in enumerate(self.blocks):
            message = block.message
            if message is None or message.role == "user" or self._starts[index] >= bottom:
                continue
            rows = block.lines(ctx)
            at = 0
            for code in code_blocks(message.content):
                head = code.first_line
                for i in range(at, len(rows)):
                    text = rows[i].text.strip()
                    if text and head and (head.startswith(text) or text.startswith(head)):
                        at = i + 1
                        if self._starts[index] + i < bottom:
                            found.append((self._starts[index] + i, message, code))
                        break
        return sorted(found, key=lambda item: -item[0])

    def region_of(self, message: Message) -> Region | None:
        """Where `message`'s rows are, in transcript rows (for scrolling to it)."""
        index = self._index_of(message)
        if index is None:
            return None
        return Region(0, self._starts[index], self.scrollable_content_region.width,
                      self._starts[index + 1] - self._starts[index])


def _highlight(strip: Strip, span: tuple[int, int], style: Style) -> Strip:
    """`strip` with cells [start, end) in the selection style (end -1: to the end of the row)."""
    start, end = span
    end = strip.cell_length if end == -1 else min(end, strip.cell_length)
    if end <= start:
        return strip
    return Strip.join([strip.crop(0, start), strip.crop(start, end).apply_style(style), strip.crop(end)])
