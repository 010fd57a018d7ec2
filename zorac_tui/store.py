"""SQLite persistence: conversations and messages, WAL, migrations, crash-safe checkpoints, export and import."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zorac_tui import paths

DB_NAME = "conversations.sqlite3"
SCHEMA_VERSION = 2

V1_SCHEMA = """
CREATE TABLE conversations (
    id INTEGER PRIMARY KEY, title TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL,
    model TEXT, server TEXT, settings TEXT NOT NULL DEFAULT '{}');
CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    position INTEGER NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'complete', created REAL NOT NULL,
    prompt_tokens INTEGER, completion_tokens INTEGER, ttft_s REAL, decode_tok_s REAL, error TEXT);
CREATE INDEX messages_by_conversation ON messages(conversation_id, position);
CREATE INDEX conversations_by_updated ON conversations(updated);
"""

# v2: summaries archive the messages they replace instead of anything being deleted.
MIGRATIONS: dict[int, str] = {
    2: """
ALTER TABLE messages ADD COLUMN archived_by INTEGER REFERENCES messages(id) ON DELETE SET NULL;
ALTER TABLE messages ADD COLUMN summary_of_count INTEGER;
CREATE INDEX messages_archived_by ON messages(archived_by);
""",
}


class StoreError(Exception):
    """A database problem, said in one line that names the file."""


@dataclass(frozen=True)
class ConversationRow:
    """One conversation as listed."""

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
    """One stored message."""

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


def default_db_path() -> Path:
    """The database in the platformdirs data dir (created 0700)."""
    return paths.ensure_private_dir(paths.data_dir()) / DB_NAME


def title_from_first_message(text: str, limit: int = 60) -> str:
    """First non-empty line, whitespace collapsed, at most `limit` characters."""
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    line = " ".join(line.split())
    return (line[: limit - 1] + "…") if len(line) > limit else (line or "Untitled")


class Store:
    """All database access; one connection guarded by a lock, every write its own short transaction."""

    def __init__(self, path: Path | str) -> None:
        """Open (creating and migrating) the database at `path`."""
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            paths.ensure_private_dir(self.path.parent)
            self.conn = sqlite3.connect(self.path, timeout=5.0, check_same_thread=False, isolation_level=None)
            os.chmod(self.path, 0o600)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.execute("PRAGMA busy_timeout=5000")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"Cannot open the conversation database {self.path}: {exc}") from None

    # ----------------------------------------------------------- plumbing
    def _tx(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run `fn` in one IMMEDIATE transaction; errors become StoreError."""
        with self._lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(self.conn)
                except BaseException:
                    self.conn.execute("ROLLBACK")
                    raise
                self.conn.execute("COMMIT")
                return result
            except sqlite3.Error as exc:
                raise StoreError(f"Could not write {self.path}: {exc}") from None

    def _read(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """A read query; errors become StoreError."""
        with self._lock:
            try:
                return self.conn.execute(sql, tuple(args)).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"Could not read {self.path}: {exc}") from None

    def _migrate(self) -> None:
        """Create the v1 schema on a new file, then apply each later migration in order."""
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            self.conn.executescript(f"BEGIN; {V1_SCHEMA} PRAGMA user_version=1; COMMIT;")
            version = 1
        for target in range(version + 1, SCHEMA_VERSION + 1):
            self.conn.executescript(f"BEGIN; {MIGRATIONS[target]} PRAGMA user_version={target}; COMMIT;")

    def schema_version(self) -> int:
        """The database's schema version."""
        return self._read("PRAGMA user_version")[0][0]

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self.conn.close()

    # ----------------------------------------------------------- conversations
    def create_conversation(self, title: str, model: str | None = None, server: str | None = None,
                            settings: dict[str, Any] | None = None) -> int:
        """A new conversation; returns its id."""
        clean = {k: v for k, v in (settings or {}).items() if k != "api_key"}
        now = time.time()
        return self._tx(lambda c: c.execute(
            "INSERT INTO conversations(title, created, updated, model, server, settings) VALUES (?,?,?,?,?,?)",
            (title, now, now, model, server, json.dumps(clean))).lastrowid)

    def list_conversations(self, limit: int | None = None, query: str | None = None) -> list[ConversationRow]:
        """Newest first, with live message counts, in one query."""
        sql = ("SELECT c.*, (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id "
               "AND m.archived_by IS NULL) AS message_count FROM conversations c")
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
        """One conversation; StoreError if it does not exist."""
        rows = self._read("SELECT c.*, (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id "
                          "AND m.archived_by IS NULL) AS message_count FROM conversations c WHERE c.id = ?",
                          (conversation_id,))
        if not rows:
            raise StoreError(f"No conversation with id {conversation_id} in {self.path}")
        return _conversation(rows[0])

    def last_conversation_id(self) -> int | None:
        """The most recently updated conversation."""
        rows = self._read("SELECT id FROM conversations ORDER BY updated DESC, id DESC LIMIT 1")
        return rows[0][0] if rows else None

    def rename(self, conversation_id: int, title: str) -> None:
        """Set a new title."""
        self._tx(lambda c: c.execute("UPDATE conversations SET title = ? WHERE id = ?", (title, conversation_id)))

    def delete(self, conversation_id: int) -> None:
        """Delete a conversation and its messages."""
        self._tx(lambda c: c.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,)))

    # ----------------------------------------------------------- messages
    def add_message(self, conversation_id: int, role: str, content: str, status: str = "complete",
                    **stats: Any) -> int:
        """Append a message (committed before this returns); returns its id."""
        now = time.time()

        def _add(c: sqlite3.Connection) -> int:
            position = c.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM messages WHERE conversation_id = ?",
                                 (conversation_id,)).fetchone()[0]
            cur = c.execute(
                "INSERT INTO messages(conversation_id, position, role, content, status, created, prompt_tokens, "
                "completion_tokens, ttft_s, decode_tok_s, error, summary_of_count) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (conversation_id, position, role, content, status, now, stats.get("prompt_tokens"),
                 stats.get("completion_tokens"), stats.get("ttft_s"), stats.get("decode_tok_s"),
                 stats.get("error"), stats.get("summary_of_count")))
            c.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id))
            return cur.lastrowid

        return self._tx(_add)

    def checkpoint_reply(self, message_id: int, content: str) -> None:
        """Save a streaming reply's text so far (cheap; called about once a second)."""
        self._tx(lambda c: c.execute("UPDATE messages SET content = ? WHERE id = ?", (content, message_id)))

    def finish_message(self, message_id: int, content: str, status: str, *, prompt_tokens: int | None = None,
                       completion_tokens: int | None = None, ttft_s: float | None = None,
                       decode_tok_s: float | None = None, error: str | None = None) -> None:
        """Store a message's final text, status and stats."""
        now = time.time()

        def _finish(c: sqlite3.Connection) -> None:
            c.execute("UPDATE messages SET content=?, status=?, prompt_tokens=?, completion_tokens=?, ttft_s=?, "
                      "decode_tok_s=?, error=? WHERE id=?",
                      (content, status, prompt_tokens, completion_tokens, ttft_s, decode_tok_s, error, message_id))
            c.execute("UPDATE conversations SET updated = ? WHERE id = "
                      "(SELECT conversation_id FROM messages WHERE id = ?)", (now, message_id))

        self._tx(_finish)

    def load_messages(self, conversation_id: int, include_archived: bool = False, limit: int | None = None,
                      before_position: int | None = None) -> list[MessageRow]:
        """Messages in order; with `limit`, the newest `limit` before `before_position` (for lazy loading)."""
        sql = "SELECT * FROM messages WHERE conversation_id = ?"
        args: list[Any] = [conversation_id]
        if not include_archived:
            sql += " AND archived_by IS NULL"
        if before_position is not None:
            sql += " AND position < ?"
            args.append(before_position)
        if limit is not None:
            sql = f"SELECT * FROM ({sql} ORDER BY position DESC LIMIT ?) ORDER BY position"
            args.append(limit)
        else:
            sql += " ORDER BY position"
        return [_message(r) for r in self._read(sql, args)]

    def delete_message(self, message_id: int) -> None:
        """Remove one message (a failed reply the user retried)."""
        self._tx(lambda c: c.execute("DELETE FROM messages WHERE id = ?", (message_id,)))

    def count_messages(self, conversation_id: int) -> int:
        """Live (not archived) messages in a conversation."""
        return self._read("SELECT COUNT(*) FROM messages WHERE conversation_id = ? AND archived_by IS NULL",
                          (conversation_id,))[0][0]

    def archive_messages(self, message_ids: list[int], summary_message_id: int) -> None:
        """Link replaced messages to their summary (they stay in the database)."""
        def _archive(c: sqlite3.Connection) -> None:
            c.executemany("UPDATE messages SET archived_by = ? WHERE id = ?",
                          [(summary_message_id, mid) for mid in message_ids])
            c.execute("UPDATE messages SET summary_of_count = ? WHERE id = ?", (len(message_ids), summary_message_id))
            # the summary stands where the oldest message it replaces stood
            c.execute("UPDATE messages SET position = (SELECT MIN(position) FROM messages WHERE archived_by = ?) - 1 "
                      "WHERE id = ? AND EXISTS (SELECT 1 FROM messages WHERE archived_by = ?)",
                      (summary_message_id, summary_message_id, summary_message_id))

        self._tx(_archive)

    def archived_for(self, summary_message_id: int) -> list[MessageRow]:
        """The messages a summary replaced, in order."""
        return [_message(r) for r in self._read(
            "SELECT * FROM messages WHERE archived_by = ? ORDER BY position", (summary_message_id,))]

    def mark_interrupted(self) -> int:
        """Replies still 'streaming' from a run that died become 'interrupted'; returns how many."""
        return self._tx(lambda c: c.execute(
            "UPDATE messages SET status = 'interrupted' WHERE status = 'streaming'").rowcount)

    def integrity_ok(self) -> bool:
        """SQLite's own integrity check."""
        return self._read("PRAGMA integrity_check")[0][0] == "ok"


def _conversation(row: sqlite3.Row) -> ConversationRow:
    """Row → ConversationRow."""
    try:
        settings = json.loads(row["settings"] or "{}")
    except json.JSONDecodeError:
        settings = {}
    return ConversationRow(id=row["id"], title=row["title"], created=row["created"], updated=row["updated"],
                           model=row["model"], server=row["server"], settings=settings,
                           message_count=row["message_count"] if "message_count" in row.keys() else 0)


def _message(row: sqlite3.Row) -> MessageRow:
    """Row → MessageRow."""
    return MessageRow(**{k: row[k] for k in MessageRow.__dataclass_fields__})


def check_writable(directory: Path) -> str | None:
    """None if `directory` accepts writes, else a one-line reason."""
    try:
        paths.ensure_private_dir(directory)
        probe = directory / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        return None
    except OSError as exc:
        return f"{directory} is not writable: {exc.strerror or exc}"
