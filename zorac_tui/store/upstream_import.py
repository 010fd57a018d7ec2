"""Import the upstream Zorac client's session (~/.zorac/session.json) as a new conversation.

Upstream (PyPI `zorac`, zorac/session.py) writes `json.dump(messages, f, indent=2)`: a JSON list of
OpenAI chat messages `{"role": "system"|"user"|"assistant", "content": str}`. messages[0] is its
system prompt; after a summarization messages[1] is a second system message whose content starts
"Previous conversation summary: ". A cancelled reply is dropped, so a user turn may lack an answer.
Its settings live beside it in config.json (VLLM_BASE_URL, VLLM_MODEL, TEMPERATURE, MAX_OUTPUT_TOKENS, …).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zorac_tui.store.db import Store, StoreError
from zorac_tui.store.rules import title_from_first_message

UPSTREAM_SESSION = Path(".zorac") / "session.json"
SUMMARY_PREFIX = "Previous conversation summary:"
ROLE_MAP = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


def find_upstream_session(home: Path, env: Mapping[str, str] | None = None) -> Path | None:
    """The upstream session file if it exists: ZORAC_SESSION_FILE or ZORAC_DIR from `env`, else home/.zorac."""
    env = env or {}
    if env.get("ZORAC_SESSION_FILE"):
        candidate = Path(env["ZORAC_SESSION_FILE"]).expanduser()
    elif env.get("ZORAC_DIR"):
        candidate = Path(env["ZORAC_DIR"]).expanduser() / "session.json"
    else:
        candidate = home / UPSTREAM_SESSION
    return candidate if candidate.is_file() else None


def _text(content: Any, where: str, path: Path) -> str:
    """A message's content as text: a string, null, or a list of OpenAI content parts (text parts kept)."""
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if isinstance(content, list):
        texts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type", "text") == "text"]
        return "\n".join(t for t in texts if isinstance(t, str))
    raise StoreError(f"{path} is not a Zorac session: {where} has content of type {type(content).__name__}")


def read_upstream_messages(path: Path) -> list[tuple[str, str]]:
    """The session's messages as (role, text) pairs; StoreError, naming the file, if it is not a session."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"Cannot read the Zorac session {path}: {' '.join(str(exc).split())}") from None
    if isinstance(data, dict) and isinstance(data.get("messages"), list):
        data = data["messages"]  # tolerate a wrapped list
    if not isinstance(data, list):
        raise StoreError(f"{path} is not a Zorac session: expected a JSON list of chat messages, "
                         f"found {type(data).__name__}")
    out: list[tuple[str, str]] = []
    for i, item in enumerate(data):
        if not isinstance(item, dict) or not isinstance(item.get("role"), str):
            raise StoreError(f"{path} is not a Zorac session: item {i} is not a chat message with a role")
        role = ROLE_MAP.get(item["role"])
        if role is not None:  # tool calls and other roles have no place in a chat transcript
            out.append((role, _text(item.get("content"), f"message {i}", path)))
    if not any(role in ("user", "assistant") for role, _ in out):
        raise StoreError(f"{path} holds no user or assistant messages to import")
    return out


def _upstream_config(session: Path) -> dict[str, Any]:
    """Model, server and generation settings from upstream's config.json beside the session (never its key)."""
    try:
        config = json.loads((session.parent / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    if not isinstance(config, dict):
        return {}
    out: dict[str, Any] = {}
    for key, name, kind in (("VLLM_MODEL", "model", str), ("VLLM_BASE_URL", "server", str),
                            ("TEMPERATURE", "temperature", float), ("MAX_OUTPUT_TOKENS", "max_tokens", int)):
        try:
            if config.get(key) not in (None, ""):
                out[name] = kind(config[key])
        except (TypeError, ValueError):
            pass
    return out


def import_upstream_session(store: Store, path: Path) -> int:
    """Import an upstream session as a new conversation and return its id; the file is only read."""
    messages = read_upstream_messages(path)
    config = _upstream_config(path)
    system_prompt = messages[0][1] if messages[0][0] == "system" else None
    if system_prompt is not None:
        messages = messages[1:]
    first_user = next((text for role, text in messages if role == "user" and text.strip()), "Zorac session")
    settings: dict[str, Any] = {k: config[k] for k in ("temperature", "max_tokens") if k in config}
    settings.update({"system_prompt": system_prompt, "imported_from": str(path)})
    conv_id = store.create_conversation("Imported: " + title_from_first_message(first_user, 50),
                                        config.get("model"), config.get("server"), settings)
    try:
        for role, text in messages:
            if role == "system" and text.startswith(SUMMARY_PREFIX):
                store.add_message(conv_id, "summary", text[len(SUMMARY_PREFIX):].strip())
            else:
                store.add_message(conv_id, role, text)
    except StoreError:
        try:  # leave no half-imported conversation behind
            store.delete(conv_id)
        except StoreError:
            pass
        raise
    return conv_id
