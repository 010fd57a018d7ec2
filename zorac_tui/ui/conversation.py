"""The conversation pane: finished messages, the live reply and one-line notices, scrolled to the end."""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.widget import Widget

from zorac_tui.core.conversation import Conversation, Message
from zorac_tui.ui.messages import MessageView, NoticeView, StreamingReply, view_for

INITIAL_TAIL = 40  # messages mounted at once when a long conversation opens; older ones on demand


class ConversationPane(VerticalScroll):
    """Shows one Conversation; stays anchored to the bottom unless the user scrolls up."""

    BINDING_GROUP_TITLE = "Conversation"

    def __init__(self, conversation: Conversation | None = None, **kwargs) -> None:
        """A pane showing `conversation` (empty by default)."""
        super().__init__(**kwargs)
        self.conversation = conversation or Conversation()
        self._unmounted_before = 0  # messages[:n] not mounted yet (lazy history)

    def on_mount(self) -> None:
        """Follow new content."""
        self.anchor()

    async def show(self, conversation: Conversation) -> None:
        """Replace the pane's content with `conversation`, mounting its tail first."""
        self.conversation = conversation
        await self.remove_children()
        tail = conversation.messages[-INITIAL_TAIL:]
        self._unmounted_before = len(conversation.messages) - len(tail)
        if self._unmounted_before:
            await self.mount(NoticeView(f"{self._unmounted_before} earlier messages — scroll up to load",
                                        level="info"))
        await self.mount_all([view_for(m) for m in tail])
        self.anchor()

    async def load_older(self, count: int = INITIAL_TAIL) -> None:
        """Mount up to `count` older messages above the current ones."""
        if not self._unmounted_before:
            return
        start = max(0, self._unmounted_before - count)
        batch = self.conversation.messages[start:self._unmounted_before]
        self._unmounted_before = start
        first = self.query_children(".message").first()
        await self.mount_all([view_for(m) for m in batch], before=first)
        notice = self.query(NoticeView).first()
        if start == 0:
            await notice.remove()
        else:
            notice.update(f"{start} earlier messages — scroll up to load")

    def watch_scroll_y(self, old: float, new: float) -> None:
        """Load older messages when the user reaches the top."""
        super().watch_scroll_y(old, new)
        if new <= 0 and self._unmounted_before:
            self.run_worker(self.load_older, group="history", exclusive=True)

    async def add_message(self, message: Message) -> MessageView:
        """Append a finished message."""
        view = MessageView(message)
        await self.mount(view)
        return view

    async def add_notice(self, text: str, level: str = "info") -> NoticeView:
        """Append a one-line notice."""
        view = NoticeView(text, level=level)
        await self.mount(view)
        return view

    async def start_reply(self, message: Message, label: str | None = None) -> StreamingReply:
        """Append the live reply widget."""
        view = StreamingReply(message, label)
        await self.mount(view)
        return view

    def live_view(self, message: Message) -> StreamingReply | None:
        """The live view drawing `message`, if it is mounted."""
        view = self.view_for(message)
        return view if isinstance(view, StreamingReply) else None

    async def settle_reply(self, message: Message) -> MessageView | None:
        """Replace `message`'s live view with a light finished view."""
        live = self.live_view(message)
        if live is None:
            return None
        await live.finish()
        view = MessageView(live.message, live.pieces)
        await self.mount(view, after=live)
        await live.remove()
        return view

    async def drop_live(self, message: Message) -> None:
        """Remove `message`'s live view (a summary, shown in its own block once applied)."""
        live = self.live_view(message)
        if live is not None:
            await live.finish()
            await live.remove()

    async def remove_message(self, message: Message) -> None:
        """Remove `message`'s view (a failed reply replaced by its retry)."""
        view = self.view_for(message)
        if view is not None:
            await view.remove()

    def view_for(self, message: Message) -> Widget | None:
        """The widget showing `message`, if mounted."""
        for view in self.query_children(".message"):
            if getattr(view, "message", None) is message:
                return view
        return None
