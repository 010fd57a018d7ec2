"""The conversation model: messages, their status and stats, and the chat payload sent to the server."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from enum import Enum


class Status(str, Enum):
    """Lifecycle of a message."""

    COMPLETE = "complete"
    STREAMING = "streaming"
    CANCELLED = "cancelled"
    ERROR = "error"
    INTERRUPTED = "interrupted"


@dataclass
class ReplyStats:
    """Measured figures of one finished reply."""

    completion_tokens: int | None = None
    prompt_tokens: int | None = None
    decode_tok_s: float | None = None
    ttft_s: float | None = None
    estimated: bool = False  # token counts estimated (server sent no usage)

    def line(self) -> str:
        """One-line footer: tokens · decode tok/s · TTFT."""
        approx = "≈" if self.estimated else ""
        parts = []
        if self.completion_tokens is not None:
            parts.append(f"{approx}{self.completion_tokens:,} tokens")
        if self.decode_tok_s is not None:
            parts.append(f"{approx}{self.decode_tok_s:.1f} tok/s")
        if self.ttft_s is not None:
            parts.append(f"TTFT {self.ttft_s * 1000:.0f} ms" if self.ttft_s < 1 else f"TTFT {self.ttft_s:.2f} s")
        if self.prompt_tokens is not None:
            parts.append(f"prompt {self.prompt_tokens:,}")
        if self.estimated:
            parts.append("≈ counted per chunk: server sent no usage")
        return " · ".join(parts)


_ids = itertools.count(1)


@dataclass
class Message:
    """One message in a conversation."""

    role: str  # "user" | "assistant" | "summary" | "notice"
    content: str
    status: Status = Status.COMPLETE
    error: str | None = None
    note: str | None = None  # e.g. "stopped at the reply limit"
    stats: ReplyStats | None = None
    db_id: int | None = None
    archived: list[Message] = field(default_factory=list)  # for summaries: the messages they replace
    uid: int = field(default_factory=lambda: next(_ids))

    @property
    def sendable(self) -> bool:
        """Whether this message goes to the server as context."""
        if self.role == "user":
            return True
        if self.role in ("assistant", "summary"):
            return bool(self.content.strip()) and self.status != Status.ERROR
        return False


@dataclass
class Conversation:
    """An ordered list of messages plus identity."""

    title: str = "New conversation"
    messages: list[Message] = field(default_factory=list)
    db_id: int | None = None

    def add(self, message: Message) -> Message:
        """Append and return `message`."""
        self.messages.append(message)
        return message

    def last_user(self) -> Message | None:
        """The most recent user message."""
        return next((m for m in reversed(self.messages) if m.role == "user"), None)

    def payload(self, system_prompt: str | None) -> list[dict[str, str]]:
        """Chat messages for the API, in the chat format the server's template expects.

        Summaries travel as part of the system message; consecutive messages of the same
        role are merged, because templates like Mistral's reject non-alternating roles.
        """
        system_parts = [system_prompt.strip()] if system_prompt and system_prompt.strip() else []
        chat: list[dict[str, str]] = []
        for msg in self.messages:
            if not msg.sendable:
                continue
            if msg.role == "summary":
                system_parts.append("Summary of the earlier conversation:\n" + msg.content.strip())
                continue
            if chat and chat[-1]["role"] == msg.role:
                chat[-1]["content"] += "\n\n" + msg.content
            else:
                chat.append({"role": msg.role, "content": msg.content})
        if chat and chat[0]["role"] == "assistant":
            chat.insert(0, {"role": "user", "content": "(continued)"})
        system = [{"role": "system", "content": "\n\n".join(system_parts)}] if system_parts else []
        return system + chat
