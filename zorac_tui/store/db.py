"""The Store: one SQLite connection (WAL, foreign keys, 5 s busy timeout); every write is a short transaction."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from zorac_tui import paths
from zorac_tui.core.wording import exception_line
from zorac_tui.store import search as fts
from zorac_tui.store import versions
from zorac_tui.store.opening import DamagedDatabase, NotMovedAside, is_damaged, note_damage, open_database
from zorac_tui.store.rows import (
    MESSAGE_COLUMNS,
    ConversationRow,
    MessageRow,
    SearchHit,
    conversation_row,
    message_row,
    settings_of,
)
from zorac_tui.store.rules import STAT_FIELDS, check, clean_settings
from zorac_tui.store.schema import NewerSchemaError, user_version

BUSY_TIMEOUT_S = 5.0
T = TypeVar("T")


class StoreError(Exception):
    """A database problem, said in one line that names the file."""


# What a conversation shows: not replaced by a summary, and the shown version of a reply. Written out
# literally so the partial index messages_live_by_conversation serves every query that counts them.
LIVE = "archived_by IS NULL AND shown = 1"
LIVE_COUNT = ("(SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id AND m.archived_by IS NULL "
              "AND m.shown = 1) AS message_count")


class Store:
    """All database access; one connection guarded by a lock, every write its own short transaction.

    `recovered_from` is where a damaged database file was moved when this Store opened (None when it was
    sound); `recovery_note` says so in one line for the user.
    """

    def __init__(self, path: Path | str) -> None:
        """Open the database at `path`, creating its directory (0700), the file and the schema as needed;
        a damaged file is moved aside and a new one started."""
        self.path = Path(path)
        self._lock = threading.RLock()
        self.conn: sqlite3.Connection | None = None
        try:
            paths.ensure_private_dir(self.path.parent)
            opened = open_database(self.path, BUSY_TIMEOUT_S)
        except (sqlite3.Error, OSError, NewerSchemaError, DamagedDatabase, NotMovedAside) as exc:
            raise StoreError(f"Cannot open the conversation database {self.path}: {exception_line(exc)}") from None
        self.conn = opened.conn
        self.found_version = opened.found_version
        self.recovered_from: Path | None = opened.recovered_from
        self.damage: str | None = opened.damage  # what was wrong with the file moved aside

    @property
    def recovery_note(self) -> str | None:
        """One line for the user when a damaged database was moved aside at open, else None."""
        if self.recovered_from is None:
            return None
        return (f"The conversation database was damaged ({self.damage}); it was moved aside to "
                f"{self.recovered_from} and a new one started.")

    # ----------------------------------------------------------- plumbing
    def _tx(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` in one IMMEDIATE transaction and commit; sqlite errors become StoreError, and so does a
        ValueError `fn` raises for rows that do not fit the request (nothing is written then)."""
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
                self._noticed(exc)
                raise StoreError(f"Could not write {self.path}: {exception_line(exc)}") from None
            except ValueError as exc:
                raise StoreError(f"Cannot change {self.path}: {exc}") from None

    def _read(self, sql: str, args: Iterable[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        """Run a read query; sqlite errors become StoreError."""
        with self._lock:
            try:
                return self._conn().execute(sql, args if isinstance(args, dict) else tuple(args)).fetchall()
            except sqlite3.Error as exc:
                self._noticed(exc)
                raise StoreError(f"Could not read {self.path}: {exception_line(exc)}") from None

    def _noticed(self, exc: sqlite3.Error) -> None:
        """Damage met while running: the next open checks the whole file (and moves it aside if it fails)."""
        if is_damaged(exc):
            note_damage(self.path)

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
        return [conversation_row(r) for r in self._read(sql, args)]

    def get_conversation(self, conversation_id: int) -> ConversationRow:
        """One conversation; StoreError if there is none with that id."""
        rows = self._read(f"SELECT c.*, {LIVE_COUNT} FROM conversations c WHERE c.id = ?", (conversation_id,))
        if not rows:
            raise StoreError(f"No conversation {conversation_id} in {self.path}")
        return conversation_row(rows[0])

    def last_conversation_id(self) -> int | None:
        """The most recently updated conversation's id, if any."""
        rows = self._read("SELECT id FROM conversations ORDER BY updated DESC, id DESC LIMIT 1")
        return rows[0][0] if rows else None

    def rename(self, conversation_id: int, title: str) -> None:
        """Give a conversation a new title."""
        self._tx(lambda c: c.execute("UPDATE conversations SET title = ? WHERE id = ?", (title, conversation_id)))

    def delete(self, conversation_id: int) -> None:
        """Delete a conversation and (by cascade) all its messages; a fork of it keeps its copies."""
        self._tx(lambda c: c.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,)))

    def set_conversation_settings(self, conversation_id: int, **values: Any) -> dict[str, Any]:
        """Merge `values` into a conversation's settings (None removes a key; secrets never stored), e.g.
        `preset=` and `system_prompt=`; returns the settings now stored."""
        def _merge(c: sqlite3.Connection) -> dict[str, Any]:
            row = c.execute("SELECT settings FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
            if row is None:
                raise ValueError(f"no conversation {conversation_id}")
            merged = {**settings_of(row[0]), **values}
            settings = clean_settings({k: v for k, v in merged.items() if v is not None})
            c.execute("UPDATE conversations SET settings = ? WHERE id = ?", (json.dumps(settings), conversation_id))
            return settings

        return self._tx(_merge)

    def fork_conversation(self, source_id: int, before_message_id: int | None, title: str) -> int:
        """A new conversation holding copies of the source's shown messages before `before_message_id` (every
        shown one when None), summaries with their archived originals; the source stays as it is.
        The new one records `forked_from` (source_id) and `forked_at` (before_message_id). Returns its id."""
        return self._tx(lambda c: versions.fork(c, source_id, before_message_id, title))

    # ----------------------------------------------------------- messages
    def add_message(self, conversation_id: int, role: str, content: str, status: str = "complete", *,
                    thinking: str = "", server: str | None = None, model: str | None = None,
                    version_of: int | None = None, **stats: Any) -> int:
        """Append a message, committed before this returns; `stats` are any of STAT_FIELDS. Returns its id.

        With `version_of` (any version of an earlier reply) the message is a new version of that reply: it
        takes the reply's place, is the shown one, and every other version is hidden, in one transaction.
        """
        check(role=role, status=status)
        unknown = set(stats) - set(STAT_FIELDS)
        if unknown:
            raise TypeError(f"unknown message stats: {', '.join(sorted(unknown))}")
        now = time.time()
        names = ("conversation_id", "position", "role", "content", "status", "created", "thinking", "server",
                 "model", "version_of", *STAT_FIELDS)

        def _add(c: sqlite3.Connection) -> int:
            first = None
            if version_of is not None:
                first, position = versions.make_room_for_version(c, conversation_id, version_of)
            else:
                position = c.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM messages "
                                     "WHERE conversation_id = ?", (conversation_id,)).fetchone()[0]
            values = (conversation_id, position, role, content, status, now, thinking, server, model, first,
                      *(stats.get(name) for name in STAT_FIELDS))
            cur = c.execute(f"INSERT INTO messages({', '.join(names)}) VALUES ({','.join('?' * len(names))})",
                            values)
            c.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id))
            return cur.lastrowid

        return self._tx(_add)

    def checkpoint_reply(self, message_id: int, content: str, thinking: str = "") -> None:
        """Save a streaming reply's text and thinking so far, meant for about once a second; touching its
        conversation is the heartbeat that tells another running instance the reply is alive (see
        mark_interrupted)."""
        now = time.time()

        def _checkpoint(c: sqlite3.Connection) -> None:
            c.execute("UPDATE messages SET content = ?, thinking = ? WHERE id = ?", (content, thinking, message_id))
            c.execute("UPDATE conversations SET updated = ? WHERE id = "
                      "(SELECT conversation_id FROM messages WHERE id = ?)", (now, message_id))

        self._tx(_checkpoint)

    def finish_message(self, message_id: int, content: str, status: str, prompt_tokens: int | None = None,
                       completion_tokens: int | None = None, ttft_s: float | None = None,
                       decode_tok_s: float | None = None, error: str | None = None, *,
                       thinking: str | None = None, thinking_tokens: int | None = None,
                       ttfa_s: float | None = None, thinking_s: float | None = None,
                       server: str | None = None, model: str | None = None) -> None:
        """Store a message's final text, status and stats, and touch its conversation. `thinking`, `server`
        and `model` left None keep what is stored (the last checkpoint's thinking, who was asked)."""
        check(status=status)
        now = time.time()

        def _finish(c: sqlite3.Connection) -> None:
            c.execute("UPDATE messages SET content = ?, status = ?, prompt_tokens = ?, completion_tokens = ?, "
                      "ttft_s = ?, decode_tok_s = ?, error = ?, thinking = COALESCE(?, thinking), "
                      "thinking_tokens = ?, ttfa_s = ?, thinking_s = ?, server = COALESCE(?, server), "
                      "model = COALESCE(?, model) WHERE id = ?",
                      (content, status, prompt_tokens, completion_tokens, ttft_s, decode_tok_s, error, thinking,
                       thinking_tokens, ttfa_s, thinking_s, server, model, message_id))
            c.execute("UPDATE conversations SET updated = ? WHERE id = "
                      "(SELECT conversation_id FROM messages WHERE id = ?)", (now, message_id))

        self._tx(_finish)

    def load_messages(self, conversation_id: int, include_archived: bool = False, limit: int | None = None,
                      before_position: int | None = None, include_hidden: bool = False) -> list[MessageRow]:
        """Messages oldest first: the shown, live ones unless asked for archived ones and hidden versions too;
        with `limit`, only the newest `limit` (before `before_position`) for lazy paging."""
        where = "conversation_id = ?"
        args: list[Any] = [conversation_id]
        if not include_archived:
            where += " AND archived_by IS NULL"
        if not include_hidden:
            where += " AND shown = 1"
        if before_position is not None:
            where += " AND position < ?"
            args.append(before_position)
        if limit is None:
            sql = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE {where} ORDER BY position, id"
        else:
            sql = (f"SELECT * FROM (SELECT {MESSAGE_COLUMNS} FROM messages WHERE {where} "
                   "ORDER BY position DESC, id DESC LIMIT ?) ORDER BY position, id")
            args.append(limit)
        return [message_row(r) for r in self._read(sql, args)]

    def data_version(self) -> int:
        """SQLite's data_version: it changes when another connection (another instance) commits."""
        return int(self._read("PRAGMA data_version")[0][0])

    def conversation_exists(self, conversation_id: int) -> bool:
        """Whether the conversation is (still) stored."""
        return bool(self._read("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)))

    def live_message_ids(self, conversation_id: int) -> set[int]:
        """Ids of the messages a conversation shows: not archived, shown versions (cheap: no text read)."""
        return {r[0] for r in self._read(f"SELECT id FROM messages WHERE conversation_id = ? AND {LIVE}",
                                         (conversation_id,))}

    def get_messages(self, message_ids: list[int]) -> dict[int, MessageRow]:
        """The messages with these ids that still exist, by id."""
        if not message_ids:
            return {}
        marks = ",".join("?" * len(message_ids))
        return {r["id"]: message_row(r) for r in self._read(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id IN ({marks})", list(message_ids))}

    def get_message(self, message_id: int) -> MessageRow:
        """One message; StoreError if there is none with that id."""
        rows = self._read(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,))
        if not rows:
            raise StoreError(f"No message {message_id} in {self.path}")
        return message_row(rows[0])

    def delete_message(self, message_id: int) -> None:
        """Remove one message (a failed reply the user retried); if it was a version of a reply, the others
        stay linked and one of them is shown (the newest left, when it was the shown one)."""
        self._tx(lambda c: versions.delete_keeping_versions(c, message_id))

    def count_messages(self, conversation_id: int) -> int:
        """How many messages a conversation shows (not archived, shown versions)."""
        return self._read(f"SELECT COUNT(*) FROM messages WHERE conversation_id = ? AND {LIVE}",
                          (conversation_id,))[0][0]

    # ----------------------------------------------------------- versions of a reply
    def show_version(self, message_id: int) -> None:
        """Make this version of its reply the one the conversation shows and sends; the others are hidden."""
        self._tx(lambda c: versions.show_version(c, message_id))

    def versions_of(self, message_id: int) -> list[MessageRow]:
        """Every version of this message's reply, oldest first (just the message when it has no others)."""
        first = self.get_message(message_id).first_version
        return [message_row(r) for r in self._read(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ? OR version_of = ? ORDER BY id", (first, first))]

    def versions_in(self, conversation_id: int) -> dict[int, list[MessageRow]]:
        """The replies of a conversation that have more than one version: first version's id → every
        version, oldest first (look a message up by its `first_version`)."""
        rows = self._read(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND (version_of IS NOT NULL OR id IN "
            "(SELECT version_of FROM messages WHERE conversation_id = ? AND version_of IS NOT NULL)) ORDER BY id",
            (conversation_id, conversation_id))
        groups: dict[int, list[MessageRow]] = {}
        for row in map(message_row, rows):
            groups.setdefault(row.first_version, []).append(row)
        return groups

    # ----------------------------------------------------------- summaries
    def archive_messages(self, message_ids: list[int], summary_message_id: int) -> None:
        """Link the messages a summary replaces to it (every version of each); they stay in the database, out
        of the live view."""
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
            firsts = {versions.group_of(c, i)[0] for i in ids}
            c.executemany("UPDATE messages SET archived_by = ? WHERE id = ? OR version_of = ?",
                          [(summary_message_id, first, first) for first in firsts])
            # The summary takes the slot of the oldest message it replaces: that slot is no longer live,
            # so the live view stays uniquely ordered and the summary shows where its messages stood.
            c.execute("UPDATE messages SET summary_of_count = ?, position = COALESCE("
                      "(SELECT MIN(position) FROM messages WHERE archived_by = ?), position) WHERE id = ?",
                      (len(ids), summary_message_id, summary_message_id))

        try:
            self._tx(_archive)
        except StoreError as exc:
            raise StoreError(str(exc).replace("Cannot change", "Cannot archive in", 1)) from None

    def archived_for(self, summary_message_id: int) -> list[MessageRow]:
        """The messages a summary replaced (the versions that were shown), oldest first."""
        return [message_row(r) for r in self._read(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE archived_by = ? AND shown = 1 ORDER BY position, id",
            (summary_message_id,))]

    # ----------------------------------------------------------- search and recovery of runs
    def search(self, query: str, limit: int = 50) -> list[SearchHit]:
        """Titles and messages (archived ones, thinking and other versions too) holding every word of
        `query`, the last word also as a prefix; newest first. See store/search.py for the rules."""
        with self._lock:
            try:
                return fts.search(self._conn(), query, limit)
            except sqlite3.Error as exc:
                self._noticed(exc)
                raise StoreError(f"Could not search {self.path}: {exception_line(exc)}") from None

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

