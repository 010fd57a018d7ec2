"""The Store: one SQLite connection (WAL, foreign keys, 5 s busy timeout); every write is a short transaction."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from zorac_tui import paths
from zorac_tui.store.schema import NewerSchemaError, migrate, user_version

DB_NAME = "conversations.sqlite3"
BUSY_TIMEOUT_S = 5.0
ROLES = ("system", "user", "assistant", "summary")
STATUSES = ("complete", "streaming", "cancelled", "error", "interrupted")
STAT_FIELDS = ("prompt_tokens", "completion_tokens", "ttft_s", "decode_tok_s", "error", "summary_of_count")
# Settings that must never reach the file, whatever the caller passes.
SECRET_SETTINGS = frozenset({"api_key", "apikey", "key", "password", "secret", "authorization", "token"})

T = TypeVar("T")


class StoreError(Exception):
    """A database problem, said in one line that names the file."""


@dataclass(frozen=True)
class ConversationRow:
    """One conversation as listed: its fields and how many live (not archived) messages it has."""

    id: int
    title: str
    created: float
    updated: float
    model: str | None
    server: str | None
    settings: dict[str, Any]
    message_count: int = 0


@dataclass(frozen=True)
class MessageRow:
    """One stored message with its reply stats and, if a summary replaced it, that summary's id."""

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


MESSAGE_COLUMNS = ", ".join(f.name for f in fields(MessageRow))
LIVE_COUNT = ("(SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id AND m.archived_by IS NULL)"
              " AS message_count")


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


def one_line(exc: BaseException) -> str:
    """An exception's message on one line."""
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return " ".join(text.split()) or type(exc).__name__


def check_writable(directory: Path) -> str | None:
    """None if `directory` accepts writes, else a one-line reason."""
    try:
        paths.ensure_private_dir(directory)
        probe = directory / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        return None
    except OSError as exc:
        return f"{directory} is not writable: {one_line(exc)}"


class Store:
    """All database access; one connection guarded by a lock, every write its own short transaction."""

    def __init__(self, path: Path | str) -> None:
        """Open the database at `path`, creating its directory (0700), the file and the schema as needed."""
        self.path = Path(path)
        self._lock = threading.RLock()
        self.conn: sqlite3.Connection | None = None
        try:
            paths.ensure_private_dir(self.path.parent)
            new = not self.path.exists()
            self.conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, check_same_thread=False,
                                        isolation_level=None)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA foreign_keys = ON")
            # In WAL mode NORMAL loses nothing a process crash could take; only power loss risks the last commit.
            self.conn.execute("PRAGMA synchronous = NORMAL")
            if new:
                os.chmod(self.path, 0o600)
            self.found_version = migrate(self.conn)
        except (sqlite3.Error, OSError, NewerSchemaError) as exc:
            if self.conn is not None:
                self.conn.close()
            raise StoreError(f"Cannot open the conversation database {self.path}: {one_line(exc)}") from None

    # ----------------------------------------------------------- plumbing
    def _tx(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` in one IMMEDIATE transaction and commit; sqlite errors become StoreError."""
        with self._lock:
            conn = self._conn()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                return result
            except sqlite3.Error as exc:
                raise StoreError(f"Could not write {self.path}: {one_line(exc)}") from None

    def _read(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """Run a read query; sqlite errors become StoreError."""
        with self._lock:
            try:
                return self._conn().execute(sql, tuple(args)).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"Could not read {self.path}: {one_line(exc)}") from None

    def _conn(self) -> sqlite3.Connection:
        """The open connection, or StoreError once closed."""
        if self.conn is None:
            raise StoreError(f"The conversation database {self.path} is closed")
        return self.conn

    def schema_version(self) -> int:
        """The schema version recorded in the file."""
        with self._lock:
            return user_version(self._conn())

    def integrity_ok(self) -> bool:
        """Whether SQLite's own integrity check passes."""
        return self._read("PRAGMA integrity_check")[0][0] == "ok"

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            if self.conn is not None:
                self.conn.close()
                self.conn = None

    def __enter__(self) -> Store:
        """Use as a context manager that closes on exit."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close on leaving the with-block."""
        self.close()

    # ----------------------------------------------------------- conversations
    def create_conversation(self, title: str, model: str | None = None, server: str | None = None,
                            settings: dict[str, Any] | None = None) -> int:
        """Create a conversation (settings minus any API key); returns its id."""
        now = time.time()
        row = (title, now, now, model, server, json.dumps(clean_settings(settings)))
        return self._tx(lambda c: c.execute(
            "INSERT INTO conversations(title, created, updated, model, server, settings) VALUES (?,?,?,?,?,?)",
            row).lastrowid)

    def list_conversations(self, limit: int | None = None, query: str | None = None) -> list[ConversationRow]:
        """Conversations newest first with live message counts, in one query; `query` filters titles."""
        sql = f"SELECT c.*, {LIVE_COUNT} FROM conversations c"
        args: list[Any] = []
        if query:
            sql += " WHERE c.title LIKE ? ESCAPE '\\'"
            args.append("%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        sql += " ORDER BY c.updated DESC, c.id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [_conversation(r) for r in self._read(sql, args)]

    def get_conversation(self, conversation_id: int) -> ConversationRow:
        """One conversation; StoreError if there is none with that id."""
        rows = self._read(f"SELECT c.*, {LIVE_COUNT} FROM conversations c WHERE c.id = ?", (conversation_id,))
        if not rows:
            raise StoreError(f"No conversation {conversation_id} in {self.path}")
        return _conversation(rows[0])

    def last_conversation_id(self) -> int | None:
        """The most recently updated conversation's id, if any."""
        rows = self._read("SELECT id FROM conversations ORDER BY updated DESC, id DESC LIMIT 1")
        return rows[0][0] if rows else None

    def rename(self, conversation_id: int, title: str) -> None:
        """Give a conversation a new title."""
        self._tx(lambda c: c.execute("UPDATE conversations SET title = ? WHERE id = ?", (title, conversation_id)))

    def delete(self, conversation_id: int) -> None:
        """Delete a conversation and (by cascade) all its messages."""
        self._tx(lambda c: c.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,)))

    # ----------------------------------------------------------- messages
    def add_message(self, conversation_id: int, role: str, content: str, status: str = "complete",
                    **stats: Any) -> int:
        """Append a message, committed before this returns; `stats` are any of STAT_FIELDS. Returns its id."""
        _check(role=role, status=status)
        unknown = set(stats) - set(STAT_FIELDS)
        if unknown:
            raise TypeError(f"unknown message stats: {', '.join(sorted(unknown))}")
        now = time.time()
        values = [stats.get(name) for name in STAT_FIELDS]

        def _add(c: sqlite3.Connection) -> int:
            position = c.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM messages WHERE conversation_id = ?",
                                 (conversation_id,)).fetchone()[0]
            cur = c.execute(
                f"INSERT INTO messages(conversation_id, position, role, content, status, created, "
                f"{', '.join(STAT_FIELDS)}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (conversation_id, position, role, content, status, now, *values))
            c.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id))
            return cur.lastrowid

        return self._tx(_add)

    def checkpoint_reply(self, message_id: int, content: str) -> None:
        """Save a streaming reply's text so far, meant for about once a second; touching its conversation
        is the heartbeat that tells another running instance the reply is alive (see mark_interrupted)."""
        now = time.time()

        def _checkpoint(c: sqlite3.Connection) -> None:
            c.execute("UPDATE messages SET content = ? WHERE id = ?", (content, message_id))
            c.execute("UPDATE conversations SET updated = ? WHERE id = "
                      "(SELECT conversation_id FROM messages WHERE id = ?)", (now, message_id))

        self._tx(_checkpoint)

    def finish_message(self, message_id: int, content: str, status: str, prompt_tokens: int | None = None,
                       completion_tokens: int | None = None, ttft_s: float | None = None,
                       decode_tok_s: float | None = None, error: str | None = None) -> None:
        """Store a message's final text, status and stats, and touch its conversation."""
        _check(status=status)
        now = time.time()

        def _finish(c: sqlite3.Connection) -> None:
            c.execute("UPDATE messages SET content = ?, status = ?, prompt_tokens = ?, completion_tokens = ?, "
                      "ttft_s = ?, decode_tok_s = ?, error = ? WHERE id = ?",
                      (content, status, prompt_tokens, completion_tokens, ttft_s, decode_tok_s, error, message_id))
            c.execute("UPDATE conversations SET updated = ? WHERE id = "
                      "(SELECT conversation_id FROM messages WHERE id = ?)", (now, message_id))

        self._tx(_finish)

    def load_messages(self, conversation_id: int, include_archived: bool = False, limit: int | None = None,
                      before_position: int | None = None) -> list[MessageRow]:
        """Messages oldest first; with `limit`, only the newest `limit` (before `before_position`) for lazy paging."""
        where = "conversation_id = ?"
        args: list[Any] = [conversation_id]
        if not include_archived:
            where += " AND archived_by IS NULL"
        if before_position is not None:
            where += " AND position < ?"
            args.append(before_position)
        if limit is None:
            sql = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE {where} ORDER BY position, id"
        else:
            sql = (f"SELECT * FROM (SELECT {MESSAGE_COLUMNS} FROM messages WHERE {where} "
                   "ORDER BY position DESC, id DESC LIMIT ?) ORDER BY position, id")
            args.append(limit)
        return [_message(r) for r in self._read(sql, args)]

    def data_version(self) -> int:
        """SQLite's data_version: it changes when another connection (another instance) commits."""
        return int(self._read("PRAGMA data_version")[0][0])

    def conversation_exists(self, conversation_id: int) -> bool:
        """Whether the conversation is (still) stored."""
        return bool(self._read("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)))

    def live_message_ids(self, conversation_id: int) -> set[int]:
        """Ids of a conversation's messages that are not archived by a summary (cheap: no text read)."""
        return {r[0] for r in self._read(
            "SELECT id FROM messages WHERE conversation_id = ? AND archived_by IS NULL", (conversation_id,))}

    def get_messages(self, message_ids: list[int]) -> dict[int, MessageRow]:
        """The messages with these ids that still exist, by id."""
        if not message_ids:
            return {}
        marks = ",".join("?" * len(message_ids))
        return {r["id"]: _message(r) for r in self._read(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id IN ({marks})", list(message_ids))}

    def get_message(self, message_id: int) -> MessageRow:
        """One message; StoreError if there is none with that id."""
        rows = self._read(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,))
        if not rows:
            raise StoreError(f"No message {message_id} in {self.path}")
        return _message(rows[0])

    def delete_message(self, message_id: int) -> None:
        """Remove one message (a failed reply the user retried)."""
        self._tx(lambda c: c.execute("DELETE FROM messages WHERE id = ?", (message_id,)))

    def count_messages(self, conversation_id: int) -> int:
        """How many live (not archived) messages a conversation has."""
        return self._read("SELECT COUNT(*) FROM messages WHERE conversation_id = ? AND archived_by IS NULL",
                          (conversation_id,))[0][0]

    def archive_messages(self, message_ids: list[int], summary_message_id: int) -> None:
        """Link the messages a summary replaces to it; they stay in the database, out of the live view."""
        ids = list(dict.fromkeys(message_ids))

        def _archive(c: sqlite3.Connection) -> None:
            summary = c.execute("SELECT conversation_id FROM messages WHERE id = ?",
                                (summary_message_id,)).fetchone()
            if summary is None:
                raise ValueError(f"no summary message {summary_message_id}")
            marks = ",".join("?" * len(ids))
            same = c.execute(f"SELECT COUNT(*) FROM messages WHERE id IN ({marks}) AND conversation_id = ? "
                             "AND id != ?", (*ids, summary[0], summary_message_id)).fetchone()[0] if ids else 0
            if same != len(ids):
                raise ValueError("archived messages must exist and belong to the summary's conversation")
            c.executemany("UPDATE messages SET archived_by = ? WHERE id = ?", [(summary_message_id, i) for i in ids])
            # The summary takes the slot of the oldest message it replaces: that slot is no longer live,
            # so the live view stays uniquely ordered and the summary shows where its messages stood.
            c.execute("UPDATE messages SET summary_of_count = ?, position = COALESCE("
                      "(SELECT MIN(position) FROM messages WHERE archived_by = ?), position) WHERE id = ?",
                      (len(ids), summary_message_id, summary_message_id))

        try:
            self._tx(_archive)
        except ValueError as exc:
            raise StoreError(f"Cannot archive in {self.path}: {exc}") from None

    def archived_for(self, summary_message_id: int) -> list[MessageRow]:
        """The messages a summary replaced, oldest first."""
        return [_message(r) for r in self._read(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE archived_by = ? ORDER BY position, id",
            (summary_message_id,))]

    def mark_interrupted(self, idle_for: float = 0.0) -> int:
        """Make replies still 'streaming' from a run that died 'interrupted'; returns how many.

        Only replies whose conversation has been quiet for `idle_for` seconds: one that another running
        instance is streaming is checkpointed (and its conversation touched) about every second.
        """
        if not self._read("SELECT 1 FROM messages WHERE status = 'streaming' LIMIT 1"):
            return 0  # the usual case: a read, no write transaction (cheap enough to ask every few seconds)
        cutoff = time.time() - idle_for
        return self._tx(lambda c: c.execute(
            "UPDATE messages SET status = 'interrupted' WHERE status = 'streaming' AND conversation_id IN "
            "(SELECT id FROM conversations WHERE updated <= ?)", (cutoff,)).rowcount)


def _check(role: str | None = None, status: str | None = None) -> None:
    """Refuse a role or status the schema does not know (a programming error, not a disk problem)."""
    if role is not None and role not in ROLES:
        raise ValueError(f"unknown role {role!r} (expected one of {', '.join(ROLES)})")
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown status {status!r} (expected one of {', '.join(STATUSES)})")


def _conversation(row: sqlite3.Row) -> ConversationRow:
    """A conversations row (plus message_count) as a ConversationRow."""
    try:
        settings = json.loads(row["settings"] or "{}")
    except json.JSONDecodeError:
        settings = {}
    return ConversationRow(id=row["id"], title=row["title"], created=row["created"], updated=row["updated"],
                           model=row["model"], server=row["server"],
                           settings=settings if isinstance(settings, dict) else {},
                           message_count=row["message_count"])


def _message(row: sqlite3.Row) -> MessageRow:
    """A messages row as a MessageRow."""
    return MessageRow(*row)
