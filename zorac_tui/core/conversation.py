"""The conversation model: messages, their status and stats, and the chat payload sent to the server."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from enum import Enum

from zorac_tui.core.numbers import duration


class Status(str, Enum):
    """Lifecycle of a message."""

    COMPLETE = "complete"
    STREAMING = "streaming"
    CANCELLED = "cancelled"
    ERROR = "error"
    INTERRUPTED = "interrupted"


@dataclass
class ReplyStats:
    """Measured figures of one finished reply (thinking and answer both count as generated tokens)."""

    completion_tokens: int | None = None  # every generated token: thinking + answer
    prompt_tokens: int | None = None
    decode_tok_s: float | None = None  # every generated token after the first ÷ time since it
    ttft_s: float | None = None  # request → first token of any kind (thinking included)
    estimated: bool = False  # token counts estimated (server sent no usage)
    thinking_tokens: int | None = None  # of completion_tokens, how many were thinking (None: no thinking)
    ttfa_s: float | None = None  # request → first answer token (None when no answer came)
    thinking_s: float | None = None  # first thinking token → first answer token (or the last thinking one)

    @property
    def answer_tokens(self) -> int | None:
        """Generated tokens that were answer, not thinking."""
        if self.completion_tokens is None:
            return None
        return max(0, self.completion_tokens - (self.thinking_tokens or 0))

    def line(self) -> str:
        """One-line footer: tokens (thinking · answer split) · decode tok/s · TTFT (· first answer)."""
        approx = "≈" if self.estimated else ""
        parts = []
        if self.completion_tokens is not None:
            split = ""
            if self.thinking_tokens:
                split = f" (thinking {approx}{self.thinking_tokens:,} · answer {approx}{self.answer_tokens:,})"
            parts.append(f"{approx}{self.completion_tokens:,} tokens{split}")
        if self.decode_tok_s is not None:
            parts.append(f"{approx}{self.decode_tok_s:.1f} tok/s")
        if self.ttft_s is not None:
            parts.append(f"TTFT {seconds(self.ttft_s)}")
        if self.thinking_tokens and self.ttfa_s is not None:
            parts.append(f"first answer {seconds(self.ttfa_s)}")
        if self.prompt_tokens is not None:
            parts.append(f"prompt {self.prompt_tokens:,}")
        if self.estimated:
            parts.append("≈ counted per chunk: server sent no usage")
        return " · ".join(parts)


seconds = duration  # the one duration formatter (core/numbers.py), under the name the UI reads best


_ids = itertools.count(1)


@dataclass
class Message:
    """One message in a conversation."""

    role: str  # "user" | "assistant" | "summary" | "notice"
    content: str  # the answer: the only text that goes back to the server as context
    status: Status = Status.COMPLETE
    error: str | None = None
    note: str | None = None  # e.g. "stopped at the reply limit"
    stats: ReplyStats | None = None
    db_id: int | None = None
    archived: list[Message] = field(default_factory=list)  # for summaries: the messages they replace
    uid: int = field(default_factory=lambda: next(_ids))
    thinking: str = ""  # the model's reasoning before its answer: shown, stored, exported, never sent back
    server: str | None = None  # the server (profile name or URL) that answered
    model: str | None = None  # the model that answered
    # Every version of this reply (regenerated ones), oldest first, this one included; shared by the
    # versions. Empty for a message that has only ever had one version.
    versions: list[Message] = field(default_factory=list, repr=False, compare=False)

    @property
    def sendable(self) -> bool:
        """Whether this message goes to the server as context (its thinking never does)."""
        if self.role == "user":
            return True
        if self.role in ("assistant", "summary"):
            return bool(self.content.strip()) and self.status != Status.ERROR
        return False

    def copied(self) -> Message:
        """A copy for another conversation (a fork): same text, thinking and figures, not yet stored."""
        return replace(self, db_id=None, uid=next(_ids), versions=[], archived=[m.copied() for m in self.archived])

    @property
    def version_label(self) -> str | None:
        """'2/3' when this reply has other versions, else None."""
        index = next((i for i, version in enumerate(self.versions) if version is self), None)
        if len(self.versions) < 2 or index is None:
            return None
        return f"{index + 1}/{len(self.versions)}"


@dataclass
class Conversation:
    """An ordered list of messages plus identity."""

    title: str = "New conversation"
    messages: list[Message] = field(default_factory=list)
    db_id: int | None = None
    preset: str | None = None  # the system-prompt preset picked for this conversation ([prompts.NAME])
    system_prompt: str | None = None  # the preset's prompt; None: the configured system_prompt
    forked_from: int | None = None  # the conversation this one was forked from (edit and fork)

    def add(self, message: Message) -> Message:
        """Append and return `message`."""
        self.messages.append(message)
        return message

    def payload(self, system_prompt: str | None, upto: Message | None = None) -> list[dict[str, str]]:
        """Chat messages for the API, in the chat format the server's template expects (those before
        `upto` when given: the request that `upto` answers).

        Summaries travel as part of the system message; consecutive messages of the same
        role are merged, because templates like Mistral's reject non-alternating roles.
        A reply's thinking is never sent back.
        """
        system_parts = [system_prompt.strip()] if system_prompt and system_prompt.strip() else []
        chat: list[dict[str, str]] = []
        for msg in self.messages:
            if msg is upto:
                break
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
