"""What the store hands out: a conversation, a message and a search hit as plain frozen rows."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class ConversationRow:
    """One conversation as listed: its fields and how many live (shown, not archived) messages it has."""

    id: int
    title: str
    created: float
    updated: float
    model: str | None
    server: str | None
    settings: dict[str, Any]
    message_count: int = 0
    forked_from: int | None = None  # the conversation this one was forked from (None once that is deleted)
    forked_at: int | None = None  # the message (of that conversation) it was forked before

    @property
    def preset(self) -> str | None:
        """The system-prompt preset picked for this conversation, if any (kept in its settings)."""
        value = self.settings.get("preset")
        return value if isinstance(value, str) else None

    @property
    def system_prompt(self) -> str | None:
        """The system prompt stored with this conversation, if any (kept in its settings)."""
        value = self.settings.get("system_prompt")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class MessageRow:
    """One stored message: its text and thinking, reply figures, who answered, summary and version links."""

    id: int
    conversation_id: int
    position: int
    role: str
    content: str
    status: str
    created: float
    prompt_tokens: int | None
    completion_tokens: int | None
    ttft_s: float | None
    decode_tok_s: float | None
    error: str | None
    archived_by: int | None
    summary_of_count: int | None
    thinking: str = ""
    thinking_tokens: int | None = None
    ttfa_s: float | None = None
    thinking_s: float | None = None
    server: str | None = None
    model: str | None = None
    version_of: int | None = None  # the first version's id, for a regenerated reply; None for the first itself
    shown: bool = True  # the version the conversation shows and sends

    @property
    def first_version(self) -> int:
        """The id every version of this reply shares as its first (its own id for a first version)."""
        return self.version_of if self.version_of is not None else self.id


@dataclass(frozen=True)
class SearchHit:
    """One place a search matched: a conversation's title or one message of it.

    `where` says which: "title", "message" (a live message's text), "thinking" (a live reply's thinking),
    "archived" (a message a summary replaced, text or thinking) or "other version" (a version of a
    regenerated reply that is not the one shown). `snippet` is the matched passage as (text, matched)
    spans, whitespace folded to single spaces: plain text, never markup, so it can be styled safely.
    """

    conversation_id: int
    message_id: int | None  # None for a title hit
    title: str
    updated: float  # the conversation's last activity
    role: str | None  # the message's role (None for a title hit)
    where: str
    snippet: tuple[tuple[str, bool], ...]
    created: float  # when the message was written (the conversation's last activity for a title hit)

    @property
    def snippet_text(self) -> str:
        """The snippet as plain text, matches unmarked."""
        return "".join(text for text, _ in self.snippet)


MESSAGE_COLUMNS = ", ".join(f.name for f in fields(MessageRow))


def message_row(row: sqlite3.Row | tuple[Any, ...]) -> MessageRow:
    """A messages row (selected as MESSAGE_COLUMNS) as a MessageRow."""
    values = list(row)
    values[-1] = bool(values[-1])  # shown: stored as 0/1
    return MessageRow(*values)


def conversation_row(row: sqlite3.Row) -> ConversationRow:
    """A conversations row (every column, plus message_count) as a ConversationRow."""
    return ConversationRow(id=row["id"], title=row["title"], created=row["created"], updated=row["updated"],
                           model=row["model"], server=row["server"], settings=settings_of(row["settings"]),
                           message_count=row["message_count"], forked_from=row["forked_from"],
                           forked_at=row["forked_at"])


def settings_of(text: str | None) -> dict[str, Any]:
    """A conversation's settings JSON as a dict ({} when missing or not an object)."""
    try:
        settings = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {}
    return settings if isinstance(settings, dict) else {}
