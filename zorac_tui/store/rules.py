"""What the store accepts and keeps out, and where its file lives: roles, statuses, figure names, secret
settings, titles from a first message, one-line errors, a writable directory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from zorac_tui import paths
from zorac_tui.core.wording import exception_line

DB_NAME = "conversations.sqlite3"
ROLES = ("system", "user", "assistant", "summary")
STATUSES = ("complete", "streaming", "cancelled", "error", "interrupted")
STAT_FIELDS = ("prompt_tokens", "completion_tokens", "ttft_s", "decode_tok_s", "error", "summary_of_count",
               "thinking_tokens", "ttfa_s", "thinking_s")
# Settings that must never reach the file, whatever the caller passes.
SECRET_SETTINGS = frozenset({"api_key", "apikey", "key", "password", "secret", "authorization", "token"})


def default_db_path() -> Path:
    """The database file in the platformdirs user data dir (created 0700)."""
    return paths.ensure_private_dir(paths.data_dir()) / DB_NAME


def title_from_first_message(text: str, limit: int = 60) -> str:
    """First non-empty line, whitespace collapsed, at most `limit` characters ("Untitled" if empty)."""
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    line = " ".join(line.split())
    return (line[: limit - 1].rstrip() + "…") if len(line) > limit else (line or "Untitled")


def clean_settings(settings: dict[str, Any] | None) -> dict[str, Any]:
    """Settings without anything secret (the API key never reaches the file)."""
    return {k: v for k, v in (settings or {}).items()
            if k.lower() not in SECRET_SETTINGS and not k.lower().endswith("api_key")}


def check_writable(directory: Path) -> str | None:
    """None if `directory` accepts writes, else a one-line reason."""
    try:
        paths.ensure_private_dir(directory)
        probe = directory / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        return None
    except OSError as exc:
        return f"{directory} is not writable: {exception_line(exc)}"


def check(role: str | None = None, status: str | None = None) -> None:
    """Refuse a role or status the schema does not know (a programming error, not a disk problem)."""
    if role is not None and role not in ROLES:
        raise ValueError(f"unknown role {role!r} (expected one of {', '.join(ROLES)})")
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown status {status!r} (expected one of {', '.join(STATUSES)})")
