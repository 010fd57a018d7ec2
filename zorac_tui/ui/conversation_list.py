"""The conversation list pane: type to search titles and every message, Enter opens, r renames, d deletes."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option


def when(ts: float) -> str:
    """A short date: time today, else month-day, else year."""
    now = time.localtime()
    t = time.localtime(ts)
    if t.tm_year == now.tm_year and t.tm_yday == now.tm_yday:
        return time.strftime("%H:%M", t)
    return time.strftime("%b %d" if t.tm_year == now.tm_year else "%Y-%m-%d", t)


def row_prompt(row: Any, width: int = 30) -> Text:
    """One option: title, then date and message count, dim."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append((row.title or "Untitled")[:width])
    text.append(f"\n{when(row.updated)} · {row.message_count} msgs", style="dim")
    return text


MAX_SHOWN = 500  # options in the list at once; more matches are reached by typing a filter
SEARCH_FROM = 2  # letters typed before every message is searched (fewer: titles only, in memory)
WHERE = {"title": "title", "message": "", "thinking": "in its thinking", "archived": "archived by a summary",
         "other version": "in another version"}


def hit_prompt(hit: Any, width: int = 30) -> Text:
    """One search hit: title, where it matched, and the snippet with the matched words marked (plain text)."""
    text = Text(no_wrap=False, overflow="fold")
    text.append((hit.title or "Untitled")[:width], style="bold")
    label = WHERE.get(hit.where, hit.where)
    text.append(f"\n{when(hit.updated)}{' · ' + label if label else ''}", style="dim")
    if hit.where != "title":
        text.append("\n")
        for part, matched in hit.snippet:
            text.append(part, style="bold reverse" if matched else "")
    return text


def open_message(option_id: str) -> ConversationList.Open:
    """The Open message for an option id: 'conversation' or 'conversation:message'."""
    conversation, _, message = option_id.partition(":")
    return ConversationList.Open(int(conversation), int(message) if message else None)


class ConversationList(Vertical):
    """Newest first; filtering is in memory and at most MAX_SHOWN options are built, so 10,000 entries stay quick."""

    BINDING_GROUP_TITLE = "Conversations"
    BINDINGS = [
        Binding("r", "rename", "Rename"),
        Binding("d,delete", "delete", "Delete"),
    ]

    @dataclass
    class Open(Message):
        """Open this conversation (and show this message of it, for a search hit)."""

        conversation_id: int
        message_id: int | None = None

    @dataclass
    class Search(Message):
        """Look for these words in every message (the list shows the hits via `show_hits`)."""

        query: str

    @dataclass
    class Rename(Message):
        """Give this conversation a new title."""

        conversation_id: int
        title: str

    @dataclass
    class Delete(Message):
        """Delete this conversation (already confirmed)."""

        conversation_id: int

    def __init__(self, **kwargs) -> None:
        """Empty until set_rows."""
        super().__init__(**kwargs)
        self.rows: list[Any] = []
        self.hits: list[Any] | None = None  # search hits for the typed words (None: not searching)
        self._built: dict[tuple, Option] = {}  # options by what they show, reused across refreshes
        self.border_title = "Conversations"

    def compose(self) -> ComposeResult:
        """Filter box above the list."""
        yield Input(placeholder="search titles and messages…", id="conv-filter")
        yield OptionList(id="conv-options")

    def set_rows(self, rows: list[Any], current_id: int | None = None) -> None:
        """Show `rows` (newest first), keeping the filter."""
        self.rows = rows
        if len(self._built) > 2 * max(len(rows), MAX_SHOWN):  # drop options of renamed/deleted/old rows
            self._built.clear()
        self.refilter(current_id)

    def refilter(self, current_id: int | None = None) -> None:
        """Apply the filter text to the rows (searching shows the hits instead)."""
        needle = self.query_one(Input).value.strip().lower()
        if self.hits is not None and len(needle) >= SEARCH_FROM:
            return
        options = self.query_one(OptionList)
        if options.highlighted is not None:  # a refresh keeps the user's place (else: the open conversation)
            highlighted = options.get_option_at_index(options.highlighted).id
            current_id = int(highlighted) if highlighted and highlighted.isdigit() else current_id
        options.clear_options()
        shown = [r for r in self.rows if needle in (r.title or "").lower()] if needle else self.rows
        # OptionList lays out every option it holds, so 10,000 of them took ~0.5 s per keystroke and
        # after every reply; build at most MAX_SHOWN (newest first) and say how many more match.
        today = time.strftime("%Y-%j")  # dates show as "HH:MM" today, so a new day rebuilds
        items: list[Option] = [self._option(r, today) for r in shown[:MAX_SHOWN]]
        if len(shown) > MAX_SHOWN:
            items.append(Option(Text(f"… {len(shown) - MAX_SHOWN:,} more — type to filter", style="dim italic"),
                                disabled=True))
        options.add_options(items)
        if current_id is not None:
            try:
                options.highlighted = options.get_option_index(str(current_id))
            except Exception:  # the current conversation is filtered out
                pass

    def on_input_changed(self, event: Input.Changed) -> None:
        """Filter titles at once as the user types, and search every message once there are enough letters."""
        event.stop()
        if len(event.value.strip()) >= SEARCH_FROM:
            self.post_message(self.Search(event.value))
        else:
            self.hits = None
            self.refilter()

    def show_hits(self, query: str, hits: list[Any]) -> None:
        """Show search hits for `query` (ignored when the box says something else by now)."""
        if query != self.query_one(Input).value:
            return
        self.hits = hits
        options = self.query_one(OptionList)
        options.clear_options()
        if not hits:
            options.add_option(Option(Text(f"Nothing matches “{query.strip()}”", style="dim italic"), disabled=True))
            return
        options.add_options([Option(hit_prompt(hit), id=f"{hit.conversation_id}:{hit.message_id or ''}")
                             for hit in hits])
        options.highlighted = 0

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in the filter opens the first match."""
        event.stop()
        options = self.query_one(OptionList)
        if options.option_count and not options.get_option_at_index(options.highlighted or 0).disabled:
            self.post_message(open_message(options.get_option_at_index(options.highlighted or 0).id))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Enter or click opens (a search hit opens at its message)."""
        event.stop()
        self.post_message(open_message(event.option.id))

    def _option(self, row: Any, today: str) -> Option:
        """The option for `row`, reused while its title, date, count and today's date are unchanged."""
        key = (row.id, row.title, row.updated, row.message_count, today)
        option = self._built.get(key)
        if option is None:
            option = self._built[key] = Option(row_prompt(row), id=str(row.id))
        return option

    def _highlighted(self) -> Any | None:
        """The conversation under the cursor."""
        options = self.query_one(OptionList)
        if options.highlighted is None or not options.get_option_at_index(options.highlighted).id:
            return None
        wanted = open_message(options.get_option_at_index(options.highlighted).id).conversation_id
        return next((r for r in self.rows if r.id == wanted), None)

    def action_rename(self) -> None:
        """Ask for a new title."""
        row = self._highlighted()
        if row is not None:
            self.app.push_screen(TextPrompt(f"Rename “{row.title}”", row.title),
                                 lambda title: title and self.post_message(self.Rename(row.id, title)))

    def action_delete(self) -> None:
        """Ask before deleting."""
        row = self._highlighted()
        if row is not None:
            self.app.push_screen(Confirm(f"Delete “{row.title}” and its {row.message_count} messages?"),
                                 lambda ok: ok and self.post_message(self.Delete(row.id)))


class TextPrompt(ModalScreen[str | None]):
    """Ask for one line of text; Esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, value: str = "") -> None:
        """A titled input."""
        super().__init__(classes="dialog")
        self.title_text = title
        self.value = value

    def compose(self) -> ComposeResult:
        """Title and input."""
        with Vertical(classes="dialog-box"):
            yield Label(Text(self.title_text))
            yield Input(value=self.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Done."""
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        """Give up."""
        self.dismiss(None)


class Confirm(ModalScreen[bool]):
    """Yes/no question; y confirms, n or Esc declines."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str) -> None:
        """Ask `question`."""
        super().__init__(classes="dialog")
        self.question = question

    def compose(self) -> ComposeResult:
        """The question and the keys."""
        with Vertical(classes="dialog-box"):
            yield Label(Text(self.question))
            yield Label(Text("y = yes · n / Esc = no", style="dim"))

    def action_answer(self, yes: bool) -> None:
        """Close with the answer."""
        self.dismiss(yes)
