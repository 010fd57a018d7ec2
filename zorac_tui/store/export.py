"""Conversations out of the store: Markdown for people, JSON (everything: archived messages, every version
of a regenerated reply, thinking and its figures) for machines."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from zorac_tui.core.conversation import ReplyStats
from zorac_tui.store.db import MessageRow, Store
from zorac_tui.store.rules import clean_settings

EXPORT_FORMAT = "zorac-tui/1"
ROLE_HEADING = {"user": "You", "assistant": "Assistant", "summary": "Summary", "system": "System"}


def _when(ts: float) -> str:
    """A timestamp as local 'YYYY-MM-DD HH:MM'."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def stats_line(m: MessageRow) -> str:
    """A reply's figures in one line, as the app's footer says them (tokens with the thinking split · tok/s ·
    TTFT · first answer · prompt size), and any status other than complete."""
    stats = ReplyStats(completion_tokens=m.completion_tokens, prompt_tokens=m.prompt_tokens,
                       decode_tok_s=m.decode_tok_s, ttft_s=m.ttft_s, thinking_tokens=m.thinking_tokens,
                       ttfa_s=m.ttfa_s, thinking_s=m.thinking_s)
    parts = [line] if (line := stats.line()) else []
    if m.status != "complete":
        parts.append(m.status)
    if m.error:
        parts.append(" ".join(m.error.split()))
    return " · ".join(parts)


def _heading(m: MessageRow, version: tuple[int, int] | None = None) -> str:
    """The Markdown heading for one message: its role and time, for a summary how much it replaced, and for
    a regenerated reply which version it is and whether it is the one shown."""
    name = ROLE_HEADING.get(m.role, m.role.title())
    if m.role == "summary" and m.summary_of_count:
        name += f" of {m.summary_of_count} earlier message{'s' if m.summary_of_count != 1 else ''}"
    heading = f"## {name} · {_when(m.created)}"
    if version is not None:
        heading += f" · version {version[0]} of {version[1]}" + (" (shown)" if m.shown else "")
    return heading


def thinking_block(m: MessageRow) -> list[str]:
    """A reply's thinking as a collapsed <details> block (with its time and tokens), or nothing."""
    if not m.thinking.strip():
        return []
    summary = ["Thinking"]
    if m.thinking_s is not None:
        summary.append(f"{m.thinking_s:.1f} s")
    if m.thinking_tokens is not None:
        summary.append(f"{m.thinking_tokens:,} tokens")
    # the model's text must not close the block early
    text = m.thinking.strip().replace("</details", "&lt;/details")
    return [f"<details><summary>{' · '.join(summary)}</summary>", "", text, "", "</details>", ""]


def message_block(m: MessageRow, version: tuple[int, int] | None = None) -> list[str]:
    """One message as Markdown lines: heading, who answered, thinking, text, figures."""
    out = [_heading(m, version), ""]
    if m.role == "summary":
        out += ["*The messages this summary replaced are archived; the JSON export includes them.*", ""]
    if m.role == "assistant" and (m.model or m.server):
        who = " on ".join(x for x in (m.model, m.server) if x)
        out += [f"*Answered by {who}*", ""]
    out += thinking_block(m) + [m.content, ""]
    stats = stats_line(m) if m.role == "assistant" else ""
    if stats:
        out += [f"*{stats}*", ""]
    return out


def export_markdown(store: Store, conversation_id: int) -> str:
    """A document to read: title, date, model and server, preset and system prompt, then each live message,
    every version of a regenerated reply in its place (the shown one marked)."""
    conv = store.get_conversation(conversation_id)
    about = [_when(conv.created), f"model {conv.model or 'unknown'}", f"server {conv.server or 'unknown'}"]
    if conv.preset:
        about.append(f"preset {conv.preset}")
    if conv.forked_from is not None:
        about.append(f"forked from conversation {conv.forked_from}")
    out = [f"# {conv.title}", "", f"*{' · '.join(about)}*", ""]
    if conv.system_prompt and conv.system_prompt.strip():
        out += ["**System prompt:**", ""] + [f"> {line}" for line in conv.system_prompt.splitlines()] + [""]
    groups = store.versions_in(conversation_id)
    for m in store.load_messages(conversation_id):
        group = groups.get(m.first_version, [m])
        for number, version in enumerate(group, 1):
            out += message_block(version, (number, len(group)) if len(group) > 1 else None)
    return "\n".join(out).rstrip() + "\n"


def export_json(store: Store, conversation_id: int) -> dict[str, Any]:
    """Everything: the conversation's fields (fork origin, preset) and every message, archived ones and every
    version of a reply included, with all stats, thinking and who answered.

    Messages come in the order they were written: a summary follows the messages it archived (by
    position it would sit among them, having taken the slot of the oldest one), a regenerated version
    follows what came before it. `versions` lists the ids of every version of a reply, oldest first
    ([] when it has only one); `shown` marks the one the conversation shows.
    """
    conv = store.get_conversation(conversation_id)
    messages = sorted(store.load_messages(conversation_id, include_archived=True, include_hidden=True),
                      key=lambda m: m.id)
    groups = store.versions_in(conversation_id)
    return {
        "format": EXPORT_FORMAT,
        "exported": time.time(),
        "conversation": {"id": conv.id, "title": conv.title, "created": conv.created, "updated": conv.updated,
                         "model": conv.model, "server": conv.server, "settings": clean_settings(conv.settings),
                         "preset": conv.preset, "system_prompt": conv.system_prompt,
                         "forked_from": conv.forked_from, "forked_at": conv.forked_at,
                         "message_count": conv.message_count},
        "messages": [{**asdict(m), "versions": [v.id for v in groups.get(m.first_version, [])]} for m in messages],
    }
