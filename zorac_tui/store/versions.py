"""Versions of a regenerated reply and forks of a conversation, as steps inside one Store transaction.

A regenerated reply is a new row whose `version_of` is the first version's id; all versions share the
first one's position and exactly one of them is `shown` (the one the conversation shows and sends).
Each function here runs inside the caller's transaction and raises ValueError for a request that
does not fit the rows (the Store turns that into a StoreError).
"""

from __future__ import annotations

import sqlite3
import time

from zorac_tui.store.rows import MESSAGE_COLUMNS


def group_of(c: sqlite3.Connection, message_id: int) -> tuple[int, list[int]]:
    """The first version's id and the ids of every version of `message_id`'s reply, oldest first."""
    row = c.execute("SELECT COALESCE(version_of, id) FROM messages WHERE id = ?", (message_id,)).fetchone()
    if row is None:
        raise ValueError(f"no message {message_id}")
    first = row[0]
    ids = [r[0] for r in c.execute("SELECT id FROM messages WHERE id = ? OR version_of = ? ORDER BY id",
                                   (first, first))]
    return first, ids


def make_room_for_version(c: sqlite3.Connection, conversation_id: int, version_of: int) -> tuple[int, int]:
    """Hide every version of `version_of`'s reply for a new one; (first version's id, their position)."""
    row = c.execute("SELECT conversation_id, position, archived_by FROM messages WHERE id = ?",
                    (version_of,)).fetchone()
    if row is None:
        raise ValueError(f"no message {version_of} to add a version of")
    if row[0] != conversation_id:
        raise ValueError(f"message {version_of} belongs to conversation {row[0]}, not {conversation_id}")
    if row[2] is not None:
        raise ValueError(f"message {version_of} is archived by a summary")
    first, ids = group_of(c, version_of)
    c.execute(f"UPDATE messages SET shown = 0 WHERE id IN ({','.join('?' * len(ids))})", ids)
    return first, row[1]


def show_version(c: sqlite3.Connection, message_id: int) -> None:
    """Make `message_id` the shown version of its reply, and every other version hidden."""
    _, ids = group_of(c, message_id)
    c.execute(f"UPDATE messages SET shown = (id = ?) WHERE id IN ({','.join('?' * len(ids))})", (message_id, *ids))


def delete_keeping_versions(c: sqlite3.Connection, message_id: int) -> None:
    """Delete one message; the other versions of its reply stay linked and one of them is shown."""
    row = c.execute("SELECT version_of, shown FROM messages WHERE id = ?", (message_id,)).fetchone()
    if row is None:
        return
    _, ids = group_of(c, message_id)
    others = [i for i in ids if i != message_id]
    if others and row[0] is None:  # the first version goes: the oldest one left becomes the first
        c.execute("UPDATE messages SET version_of = NULL WHERE id = ?", (others[0],))
        c.execute("UPDATE messages SET version_of = ? WHERE version_of = ?", (others[0], message_id))
    if others and row[1]:  # the shown one goes: the newest one left is shown
        c.execute("UPDATE messages SET shown = 1 WHERE id = ?", (others[-1],))
    c.execute("DELETE FROM messages WHERE id = ?", (message_id,))


def fork(c: sqlite3.Connection, source_id: int, before_message_id: int | None, title: str) -> int:
    """A new conversation holding copies of the source's shown messages before `before_message_id` (all of
    them when None), each copied summary with its archived originals; returns the new conversation's id."""
    source = c.execute("SELECT model, server, settings FROM conversations WHERE id = ?", (source_id,)).fetchone()
    if source is None:
        raise ValueError(f"no conversation {source_id} to fork")
    live = "conversation_id = ? AND archived_by IS NULL AND shown = 1"
    args: list[int] = [source_id]
    if before_message_id is not None:
        at = c.execute("SELECT conversation_id, position FROM messages WHERE id = ?", (before_message_id,)).fetchone()
        if at is None or at[0] != source_id:
            raise ValueError(f"message {before_message_id} is not in conversation {source_id}")
        live += " AND position < ?"
        args.append(at[1])
    rows = c.execute(f"SELECT id, role FROM messages WHERE {live}", args).fetchall()
    keep = [r[0] for r in rows]
    summaries = [r[0] for r in rows if r[1] == "summary"]
    while summaries:  # the originals a kept summary archived, and theirs in turn
        rows = c.execute(f"SELECT id, role FROM messages WHERE archived_by IN ({','.join('?' * len(summaries))}) "
                         "AND shown = 1", summaries).fetchall()
        keep += [r[0] for r in rows]
        summaries = [r[0] for r in rows if r[1] == "summary"]
    now = time.time()
    new_id = c.execute("INSERT INTO conversations(title, created, updated, model, server, settings, forked_from, "
                       "forked_at) VALUES (?,?,?,?,?,?,?,?)", (title, now, now, *source, source_id,
                                                               before_message_id)).lastrowid
    copy_messages(c, sorted(keep), new_id)
    return new_id


COPIED = [name.strip() for name in MESSAGE_COLUMNS.split(",")
          if name.strip() not in ("id", "conversation_id", "archived_by", "version_of", "shown")]


def copy_messages(c: sqlite3.Connection, ids: list[int], conversation_id: int) -> None:
    """Copy messages into `conversation_id` as single shown versions, summary links remapped to the copies.

    A reply still 'streaming' is copied as 'interrupted': nothing will ever finish the copy.
    """
    copies: dict[int, int] = {}
    archived: list[tuple[int, int]] = []  # (original, the summary that archived it)
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        rows = c.execute(f"SELECT id, archived_by, {', '.join(COPIED)} FROM messages "
                         f"WHERE id IN ({','.join('?' * len(chunk))}) ORDER BY id", chunk).fetchall()
        for old_id, archived_by, *values in rows:
            record = dict(zip(COPIED, values))
            if record["status"] == "streaming":
                record["status"] = "interrupted"
            copies[old_id] = c.execute(
                f"INSERT INTO messages(conversation_id, {', '.join(COPIED)}) VALUES (?{',?' * len(COPIED)})",
                (conversation_id, *record.values())).lastrowid
            if archived_by is not None:
                archived.append((old_id, archived_by))
    c.executemany("UPDATE messages SET archived_by = ? WHERE id = ?",
                  [(copies[summary], copies[old]) for old, summary in archived if summary in copies])
