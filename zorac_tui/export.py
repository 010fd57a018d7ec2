"""Conversations out (Markdown for people, JSON for machines) and the upstream Zorac session in."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from zorac_tui.store import MessageRow, Store, StoreError, title_from_first_message

EXPORT_FORMAT = "zorac-tui/1"
ROLE_HEADING = {"user": "You", "assistant": "Assistant", "summary": "Summary", "system": "System"}


def _stats_line(m: MessageRow) -> str:
    """tokens · tok/s · TTFT for a reply."""
    parts = []
    if m.completion_tokens is not None:
        parts.append(f"{m.completion_tokens:,} tokens")
    if m.decode_tok_s is not None:
        parts.append(f"{m.decode_tok_s:.1f} tok/s")
    if m.ttft_s is not None:
        parts.append(f"TTFT {m.ttft_s * 1000:.0f} ms")
    if m.status not in ("complete", "streaming"):
        parts.append(m.status)
    if m.error:
        parts.append(m.error)
    return " · ".join(parts)


def export_markdown(store: Store, conversation_id: int) -> str:
    """A readable document: title, date, model, then each live message; summaries list what they replace."""
    conv = store.get_conversation(conversation_id)
    out = [f"# {conv.title}", "",
           f"*{time.strftime('%Y-%m-%d %H:%M', time.localtime(conv.created))} · model {conv.model or '?'} · "
           f"server {conv.server or '?'}*", ""]
    for m in store.load_messages(conversation_id):
        out.append(f"## {ROLE_HEADING.get(m.role, m.role)}")
        out.append("")
        if m.role == "summary":
            originals = [a for a in store.archived_for(m.id) if a.role != "summary"]
            out.append(f"*Summary of {len(originals)} earlier messages (archived, included in the JSON export).*")
            out.append("")
        out.append(m.content)
        out.append("")
        stats = _stats_line(m) if m.role == "assistant" else ""
        if stats:
            out.extend([f"*{stats}*", ""])
    return "\n".join(out).rstrip() + "\n"


def export_json(store: Store, conversation_id: int) -> dict[str, Any]:
    """Everything: conversation fields and every message, archived ones included, with stats."""
    conv = store.get_conversation(conversation_id)
    messages = store.load_messages(conversation_id, include_archived=True)
    return {
        "format": EXPORT_FORMAT,
        "conversation": {"id": conv.id, "title": conv.title, "created": conv.created, "updated": conv.updated,
                         "model": conv.model, "server": conv.server, "settings": conv.settings},
        "messages": [{k: getattr(m, k) for k in MessageRow.__dataclass_fields__ if k != "conversation_id"}
                     for m in messages],
    }


UPSTREAM_SESSION = Path(".zorac") / "session.json"


def find_upstream_session(home: Path) -> Path | None:
    """The upstream Zorac client's session file (a JSON list of chat messages), if present."""
    path = home / UPSTREAM_SESSION
    return path if path.is_file() else None


def import_upstream_session(store: Store, path: Path) -> int:
    """Import an upstream session as a new conversation; returns its id."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"Cannot read the upstream session {path}: {exc}") from None
    if not isinstance(data, list) or not all(isinstance(m, dict) and "role" in m for m in data):
        raise StoreError(f"{path} is not a Zorac session (expected a JSON list of chat messages)")
    system = next((str(m.get("content") or "") for m in data if m.get("role") == "system"), "")
    chat = [m for m in data if m.get("role") in ("user", "assistant")]
    first_user = next((str(m.get("content") or "") for m in chat if m.get("role") == "user"), "")
    title = "Imported: " + title_from_first_message(first_user or "Zorac session", 50)
    conv_id = store.create_conversation(title, None, None, {"system_prompt": system, "imported_from": str(path)})
    for m in data:
        role = m.get("role")
        content = m.get("content")
        if not isinstance(content, str):
            content = json.dumps(content) if content is not None else ""
        if role == "system":
            # upstream keeps its rolling summary as an extra system message; keep it visible as a summary
            if content != system:
                store.add_message(conv_id, "summary", content)
            continue
        if role in ("user", "assistant"):
            store.add_message(conv_id, role, content)
    return conv_id
