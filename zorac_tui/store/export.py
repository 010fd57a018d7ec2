"""Conversations out of the store: Markdown for people, JSON (everything, archived messages too) for machines."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from zorac_tui.store.db import MessageRow, Store, clean_settings

EXPORT_FORMAT = "zorac-tui/1"
ROLE_HEADING = {"user": "You", "assistant": "Assistant", "summary": "Summary", "system": "System"}


def _when(ts: float) -> str:
    """A timestamp as local 'YYYY-MM-DD HH:MM'."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def stats_line(m: MessageRow) -> str:
    """A reply's figures in one line: tokens · tok/s · TTFT · prompt size, and any status other than complete."""
    parts = []
    if m.completion_tokens is not None:
        parts.append(f"{m.completion_tokens:,} tokens")
    if m.decode_tok_s is not None:
        parts.append(f"{m.decode_tok_s:.1f} tok/s")
    if m.ttft_s is not None:
        parts.append(f"TTFT {m.ttft_s * 1000:.0f} ms")
    if m.prompt_tokens is not None:
        parts.append(f"prompt {m.prompt_tokens:,} tokens")
    if m.status != "complete":
        parts.append(m.status)
    if m.error:
        parts.append(" ".join(m.error.split()))
    return " · ".join(parts)


def _heading(m: MessageRow) -> str:
    """The Markdown heading for one message: its role and time, and for a summary how much it replaced."""
    name = ROLE_HEADING.get(m.role, m.role.title())
    if m.role == "summary" and m.summary_of_count:
        name += f" of {m.summary_of_count} earlier message{'s' if m.summary_of_count != 1 else ''}"
    return f"## {name} · {_when(m.created)}"


def export_markdown(store: Store, conversation_id: int) -> str:
    """A document to read: title, date, model and server, the system prompt, then each live message."""
    conv = store.get_conversation(conversation_id)
    out = [f"# {conv.title}", "",
           f"*{_when(conv.created)} · model {conv.model or 'unknown'} · server {conv.server or 'unknown'}*", ""]
    system_prompt = conv.settings.get("system_prompt")
    if isinstance(system_prompt, str) and system_prompt.strip():
        out += ["**System prompt:**", ""] + [f"> {line}" for line in system_prompt.splitlines()] + [""]
    for m in store.load_messages(conversation_id):
        out += [_heading(m), ""]
        if m.role == "summary":
            out += ["*The messages this summary replaced are archived; the JSON export includes them.*", ""]
        out += [m.content, ""]
        stats = stats_line(m) if m.role == "assistant" else ""
        if stats:
            out += [f"*{stats}*", ""]
    return "\n".join(out).rstrip() + "\n"


def export_json(store: Store, conversation_id: int) -> dict[str, Any]:
    """Everything: the conversation's fields and every message, archived ones included, with all stats.

    Messages come in the order they were written: a summary follows the messages it archived (by
    position it would sit among them, having taken the slot of the oldest one).
    """
    conv = store.get_conversation(conversation_id)
    messages = sorted(store.load_messages(conversation_id, include_archived=True), key=lambda m: m.id)
    return {
        "format": EXPORT_FORMAT,
        "exported": time.time(),
        "conversation": {"id": conv.id, "title": conv.title, "created": conv.created, "updated": conv.updated,
                         "model": conv.model, "server": conv.server, "settings": clean_settings(conv.settings),
                         "message_count": conv.message_count},
        "messages": [asdict(m) for m in messages],
    }
