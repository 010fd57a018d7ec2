"""The prompt: a multi-line input where Enter sends, Shift+Enter/Ctrl+J add a newline, Up/Down recall."""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.message import Message
from textual.widgets import TextArea


class PromptHistory:
    """Earlier prompts, recalled with Up/Down like a shell."""

    def __init__(self, limit: int = 500) -> None:
        """Keep at most `limit` entries."""
        self.entries: list[str] = []
        self.limit = limit
        self._pos: int | None = None
        self._draft = ""

    def push(self, text: str) -> None:
        """Remember a sent prompt (consecutive duplicates are kept once)."""
        if text and (not self.entries or self.entries[-1] != text):
            self.entries.append(text)
            del self.entries[: -self.limit]
        self._pos = None

    def older(self, current: str) -> str | None:
        """The previous entry, or None at the oldest."""
        if not self.entries:
            return None
        if self._pos is None:
            self._draft = current
            self._pos = len(self.entries)
        if self._pos == 0:
            return None
        self._pos -= 1
        return self.entries[self._pos]

    def newer(self) -> str | None:
        """The next entry, the saved draft after the newest, or None when not browsing."""
        if self._pos is None:
            return None
        self._pos += 1
        if self._pos >= len(self.entries):
            self._pos = None
            return self._draft
        return self.entries[self._pos]


class PromptInput(TextArea):
    """Where the user types; stays editable while a reply streams."""

    BINDING_GROUP_TITLE = "Prompt"

    @dataclass
    class Submitted(Message):
        """The user pressed Enter with this text."""

        prompt: PromptInput
        text: str

    @dataclass
    class DraftChanged(Message):
        """The draft text changed (for the live context gauge)."""

        text: str

    def __init__(self, **kwargs) -> None:
        """A soft-wrapping text area without line numbers."""
        super().__init__(soft_wrap=True, show_line_numbers=False, tab_behavior="focus", **kwargs)
        self.prompt_history = PromptHistory()

    async def _on_key(self, event: events.Key) -> None:
        """Enter sends; newline keys insert; Up/Down at the edges recall history."""
        key = event.key
        if key == "enter":
            event.stop()
            event.prevent_default()
            text = self.text
            if text.strip():
                self.prompt_history.push(text)
                self.post_message(self.Submitted(self, text))
            return
        if key == "question_mark" and not self.text:
            event.stop()
            event.prevent_default()
            await self.run_action("screen.help")
            return
        if key in ("shift+enter", "ctrl+j", "alt+enter"):
            event.stop()
            event.prevent_default()
            self.insert("\n")
            return
        if key == "up" and self.cursor_location[0] == 0:
            recalled = self.prompt_history.older(self.text)
            if recalled is not None:
                event.stop()
                event.prevent_default()
                self._replace_all(recalled)
            return
        if key == "down" and self.cursor_location[0] >= self.document.line_count - 1:
            recalled = self.prompt_history.newer()
            if recalled is not None:
                event.stop()
                event.prevent_default()
                self._replace_all(recalled)
            return
        await super()._on_key(event)

    def _replace_all(self, text: str) -> None:
        """Set the text and put the cursor at its end."""
        self.load_text(text)
        self.move_cursor(self.document.end)

    def _on_text_area_changed(self, event: TextArea.Changed) -> None:
        """Re-post edits as DraftChanged for listeners outside the prompt."""
        self.post_message(self.DraftChanged(self.text))
