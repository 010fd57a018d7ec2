"""The conversation database on real SQLite files: CRUD, ordering, filtering, paging, summaries,
migration from v1, concurrent writers (threads and a second process), permissions, failures,
export, the upstream import, and a SIGKILL in the middle of a streaming reply.

No stand-ins: every test opens real database files in a temporary directory.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import platformdirs
import pytest

from zorac_tui.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    V1_SCHEMA,
    Store,
    StoreError,
    check_writable,
    default_db_path,
    export_json,
    export_markdown,
    find_upstream_session,
    import_upstream_session,
    title_from_first_message,
)

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
CRASH_CHILD = TESTS / "store_crash_child.py"
UPSTREAM = TESTS / "fixtures" / "upstream"
SECRET = "sk-zorac-test-9f8e7d6c5b4a"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A database path whose directory does not exist yet."""
    return tmp_path / "data" / "conversations.sqlite3"


@pytest.fixture
def store(db: Path) -> Iterator[Store]:
    """An open Store, closed after the test."""
    s = Store(db)
    yield s
    s.close()


def raw(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection to look at the file behind the Store's back."""
    return sqlite3.connect(path)


def conversation(store: Store, title: str, n: int = 0) -> int:
    """A conversation with `n` alternating user/assistant messages 'title:i'."""
    conv = store.create_conversation(title, "model-x", "http://127.0.0.1:8000/v1", {"temperature": 0.5})
    for i in range(n):
        store.add_message(conv, "user" if i % 2 == 0 else "assistant", f"{title}:{i}")
    return conv


def files_bytes(directory: Path) -> bytes:
    """Everything on disk in `directory`: the database, its WAL and shared-memory files."""
    return b"".join(p.read_bytes() for p in directory.iterdir() if p.is_file())


# ------------------------------------------------------------------------------ files and paths


def test_new_database_is_wal_with_foreign_keys_current_schema_and_private_files(db: Path) -> None:
    old = os.umask(0o022)  # a typical umask that would give 0755 / 0644
    try:
        with Store(db) as store:
            assert store.schema_version() == SCHEMA_VERSION
            assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
            assert store.conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
            store.add_message(store.create_conversation("perm"), "user", "x")
            assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
            assert stat.S_IMODE(db.stat().st_mode) == 0o600
            wal = db.with_name(db.name + "-wal")
            assert wal.exists() and stat.S_IMODE(wal.stat().st_mode) == 0o600  # SQLite copies the db's mode
            assert store.integrity_ok()
    finally:
        os.umask(old)


def test_default_db_path_lives_in_a_private_data_dir(isolated_home: Path) -> None:
    path = default_db_path()
    assert path.parent == isolated_home / "data"
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with Store(path) as store:
        assert store.schema_version() == SCHEMA_VERSION


def test_default_db_path_uses_platformdirs_data_dir_created_0700(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    monkeypatch.delenv("ZORAC_HOME", raising=False)
    monkeypatch.setattr(platformdirs, "user_data_dir",
                        lambda name: asked.append(name) or str(tmp_path / "share" / name))
    path = default_db_path()
    assert asked == ["zorac-tui"]
    assert path.parent == tmp_path / "share" / "zorac-tui"
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


# ------------------------------------------------------------------------------ CRUD and listing


def test_crud_roundtrip(store: Store) -> None:
    conv = store.create_conversation("Quantizing Mistral", "mistral-awq", "http://127.0.0.1:8000/v1",
                                     {"temperature": 0.1, "max_tokens": 256, "system_prompt": "Be brief.",
                                      "api_key": SECRET})
    row = store.get_conversation(conv)
    assert (row.id, row.title, row.model, row.server, row.message_count) == (
        conv, "Quantizing Mistral", "mistral-awq", "http://127.0.0.1:8000/v1", 0)
    assert row.settings == {"temperature": 0.1, "max_tokens": 256, "system_prompt": "Be brief."}  # no key
    assert row.created == row.updated > 0
    assert SECRET.encode() not in files_bytes(store.path.parent)

    store.rename(conv, "AWQ notes")
    assert store.get_conversation(conv).title == "AWQ notes"
    assert [r.title for r in store.list_conversations()] == ["AWQ notes"]

    store.delete(conv)
    assert store.list_conversations() == []
    with pytest.raises(StoreError, match=f"No conversation {conv}"):
        store.get_conversation(conv)


def test_list_is_newest_first_and_activity_moves_a_conversation_up(store: Store) -> None:
    ids = [conversation(store, f"c{i}", i + 1) for i in range(4)]
    assert [r.id for r in store.list_conversations()] == ids[::-1]
    assert store.last_conversation_id() == ids[-1]
    store.add_message(ids[0], "user", "back to the oldest one")
    rows = store.list_conversations()
    assert [r.id for r in rows] == [ids[0], ids[3], ids[2], ids[1]]
    assert {r.id: r.message_count for r in rows} == {ids[0]: 2, ids[1]: 2, ids[2]: 3, ids[3]: 4}
    assert store.last_conversation_id() == ids[0]
    assert [r.id for r in store.list_conversations(limit=2)] == [ids[0], ids[3]]
    updated = [r.updated for r in store.list_conversations()]
    assert updated == sorted(updated, reverse=True)


def test_filter_is_a_substring_match_with_wildcards_escaped(store: Store) -> None:
    titles = ["100% sure", "1000 things", "snake_case names", "snakeXcase", "C:\\path\\to", "CPATH",
              "Rust lifetimes", "trust issues"]
    ids = {t: store.create_conversation(t) for t in titles}

    def found(query: str) -> set[str]:
        return {r.title for r in store.list_conversations(query=query)}

    assert found("%") == {"100% sure"}
    assert found("0%") == {"100% sure"}  # would match "1000 things" if % were a wildcard
    assert found("_") == {"snake_case names"}
    assert found("e_c") == {"snake_case names"}  # would match "snakeXcase" if _ were a wildcard
    assert found("1_0") == set()  # would match both "100…" titles if _ were a wildcard
    assert found("\\") == {"C:\\path\\to"}
    assert found("c:\\p") == {"C:\\path\\to"}
    assert found("RUST") == {"Rust lifetimes", "trust issues"}  # case-insensitive
    assert found("nothing like this") == set()
    assert len(found("")) == len(titles)  # empty filter: everything
    assert {r.id for r in store.list_conversations(query="rust")} == {ids["Rust lifetimes"], ids["trust issues"]}


def test_empty_store(store: Store) -> None:
    assert store.list_conversations() == []
    assert store.last_conversation_id() is None
    assert store.mark_interrupted() == 0


def test_list_of_10000_conversations_is_one_query(store: Store) -> None:
    now = time.time()
    store.conn.execute("BEGIN")  # the store's connection is in autocommit mode
    store.conn.executemany("INSERT INTO conversations(id, title, created, updated, settings) VALUES (?,?,?,?,'{}')",
                           [(i, f"conv {i}", now + i, now + i) for i in range(1, 10_001)])
    store.conn.executemany("INSERT INTO messages(conversation_id, position, role, content, created) VALUES (?,?,?,?,?)",
                           [(i, p, "user", "x", now) for i in range(1, 10_001) for p in range(8)])
    store.conn.execute("COMMIT")
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    rows = store.list_conversations()
    store.conn.set_trace_callback(None)
    assert len(rows) == 10_000 and rows[0].id == 10_000 and rows[0].message_count == 8
    assert len(statements) == 1  # one query, whatever the count (its speed: benchmarks, not a test)


def test_message_counts_exclude_archived_messages(store: Store) -> None:
    a = conversation(store, "a", 6)
    b = conversation(store, "b", 3)
    rows = store.load_messages(a)
    summary = store.add_message(a, "summary", "the first four, in short")
    store.archive_messages([m.id for m in rows[:4]], summary)
    counts = {r.id: r.message_count for r in store.list_conversations()}
    assert counts == {a: 3, b: 3}  # a: summary + 2 live; b: 3
    assert store.count_messages(a) == 3
    assert store.get_conversation(a).message_count == 3
    assert len(store.load_messages(a, include_archived=True)) == 7


def test_title_from_first_message() -> None:
    assert title_from_first_message("\n  \n  Why is   my\tGPU idle?\nmore") == "Why is my GPU idle?"
    assert title_from_first_message("\n\n  How   do I\tquantize?  \nsecond line") == "How do I quantize?"
    default = title_from_first_message("word " * 40)
    assert len(default) <= 60 and default.endswith("…")
    long = title_from_first_message("x" * 200, 30)
    assert len(long) == 30 and long.endswith("…")
    assert title_from_first_message("") == "Untitled"
    assert title_from_first_message("   \n") == "Untitled"


# ------------------------------------------------------------------------------ messages


def test_add_message_positions_are_sequential_per_conversation(store: Store) -> None:
    a = store.create_conversation("a")
    b = store.create_conversation("b")
    for i in range(3):
        store.add_message(a, "user", f"a{i}")
        store.add_message(b, "user", f"b{i}")
    assert [m.position for m in store.load_messages(a)] == [0, 1, 2]
    assert [m.position for m in store.load_messages(b)] == [0, 1, 2]
    middle = store.load_messages(a)[1].id
    store.delete_message(middle)
    new = store.add_message(a, "assistant", "after a deletion")
    rows = store.load_messages(a)
    assert [(m.position, m.content) for m in rows] == [(0, "a0"), (2, "a2"), (3, "after a deletion")]
    assert rows[-1].id == new


def test_bad_role_status_or_stat_name_is_refused(store: Store) -> None:
    conv = store.create_conversation("t")
    with pytest.raises(ValueError):
        store.add_message(conv, "tool", "x")
    with pytest.raises(ValueError):
        store.add_message(conv, "user", "x", status="done")
    with pytest.raises(ValueError):
        store.add_message(conv, "user", "x", status="finished")
    with pytest.raises(TypeError):
        store.add_message(conv, "user", "x", tokens=3)
    with pytest.raises(StoreError, match="FOREIGN KEY"):
        store.add_message(conv + 99, "user", "orphan")


def test_checkpoint_then_finish_a_streaming_reply(store: Store) -> None:
    conv = store.create_conversation("stream")
    store.add_message(conv, "user", "count to three")
    reply = store.add_message(conv, "assistant", "", status="streaming")
    row = store.get_message(reply)
    assert (row.status, row.content, row.completion_tokens) == ("streaming", "", None)
    for text in ("one", "one, two"):
        store.checkpoint_reply(reply, text)
        assert store.get_message(reply).content == text
        assert store.load_messages(conv)[-1].content == text
        assert store.get_message(reply).status == "streaming"
    before = store.get_conversation(conv).updated
    while time.time() <= before:  # the clock moves on, so a later write can be told apart
        time.sleep(0.001)
    store.finish_message(reply, "one, two, three", "complete", prompt_tokens=21, completion_tokens=6,
                         ttft_s=0.25, decode_tok_s=61.5)
    done = store.get_message(reply)
    assert (done.content, done.status, done.prompt_tokens, done.completion_tokens, done.ttft_s,
            done.decode_tok_s, done.error) == ("one, two, three", "complete", 21, 6, 0.25, 61.5, None)
    assert [(r.position, r.role, r.content) for r in store.load_messages(conv)] == [
        (0, "user", "count to three"), (1, "assistant", "one, two, three")]
    assert store.get_conversation(conv).updated > before
    failed = store.add_message(conv, "assistant", "", status="streaming")
    store.finish_message(failed, "partial", "error", error="HTTP 500: engine died")
    assert (store.get_message(failed).status, store.get_message(failed).error) == ("error", "HTTP 500: engine died")
    assert store.count_messages(conv) == 3
    with pytest.raises(ValueError):
        store.finish_message(failed, "x", "weird")


def test_load_messages_pages_back_from_the_tail(store: Store) -> None:
    conv = conversation(store, "long", 25)
    tail = store.load_messages(conv, limit=10)
    assert [m.content for m in tail] == [f"long:{i}" for i in range(15, 25)]
    pages = [tail]
    while True:
        page = store.load_messages(conv, limit=10, before_position=pages[-1][0].position)
        if not page:
            break
        pages.append(page)
    assert [len(p) for p in pages] == [10, 10, 5]
    stitched = [m.content for p in reversed(pages) for m in p]
    assert stitched == [f"long:{i}" for i in range(25)]
    assert [m.content for m in store.load_messages(conv, limit=10, before_position=2)] == ["long:0", "long:1"]
    assert store.load_messages(conv, limit=3, before_position=0) == []
    assert len(store.load_messages(conv, limit=1000)) == 25


def test_archive_links_originals_to_the_summary_which_takes_the_first_slot(store: Store) -> None:
    conv = conversation(store, "s", 8)
    rows = store.load_messages(conv)
    summary = store.add_message(conv, "summary", "Summary of s:2..s:5")
    store.archive_messages([m.id for m in rows[2:6]], summary)
    live = store.load_messages(conv)
    assert [m.content for m in live] == ["s:0", "s:1", "Summary of s:2..s:5", "s:6", "s:7"]
    summary_row = store.get_message(summary)
    assert summary_row.position == rows[2].position  # the slot of the oldest message it replaces
    assert summary_row.summary_of_count == 4
    assert len({m.position for m in live}) == len(live)
    archived = store.archived_for(summary)
    assert [m.content for m in archived] == ["s:2", "s:3", "s:4", "s:5"]
    assert {m.archived_by for m in archived} == {summary}
    # paging over live messages still sees the summary in its place
    assert [m.content for m in store.load_messages(conv, limit=2, before_position=rows[6].position)] == [
        "s:1", "Summary of s:2..s:5"]
    # the archive survives new messages
    store.add_message(conv, "user", "after the summary")
    assert len(store.archived_for(summary)) == 4
    # a later summary can replace the earlier one together with more messages
    second = store.add_message(conv, "summary", "Everything from s:2 to s:6.")
    store.archive_messages([summary, rows[6].id], second)
    assert [m.content for m in store.load_messages(conv)] == [
        "s:0", "s:1", "Everything from s:2 to s:6.", "s:7", "after the summary"]
    assert store.get_message(second).position == rows[2].position
    assert store.get_message(second).summary_of_count == 2
    assert [m.id for m in store.archived_for(second)] == [summary, rows[6].id]
    assert len(store.archived_for(summary)) == 4
    assert len(store.load_messages(conv, include_archived=True)) == 11


def test_archive_refuses_foreign_messages(store: Store) -> None:
    conv = conversation(store, "mine", 2)
    other = conversation(store, "theirs", 2)
    ids = [m.id for m in store.load_messages(conv)]
    summary = store.add_message(conv, "summary", "s")
    with pytest.raises(StoreError, match="belong"):
        store.archive_messages([ids[0], store.load_messages(other)[0].id], summary)
    assert store.count_messages(conv) == 3  # nothing half-done
    with pytest.raises(StoreError):
        store.archive_messages(ids, 987654)


def test_delete_cascades_to_messages_only_of_that_conversation(store: Store, db: Path) -> None:
    doomed = conversation(store, "doomed", 5)
    kept = conversation(store, "kept", 2)
    summary = store.add_message(doomed, "summary", "sum")
    store.archive_messages([m.id for m in store.load_messages(doomed)[:2]], summary)
    store.delete(doomed)
    with raw(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM messages WHERE conversation_id = ?", (doomed,)).fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM messages WHERE conversation_id = ?", (kept,)).fetchone()[0] == 2
    assert [r.id for r in store.list_conversations()] == [kept]
    assert store.integrity_ok()


def test_delete_message_removes_one_row(store: Store) -> None:
    conv = conversation(store, "d", 3)
    rows = store.load_messages(conv)
    store.delete_message(rows[2].id)
    assert [m.content for m in store.load_messages(conv)] == ["d:0", "d:1"]
    with pytest.raises(StoreError):
        store.get_message(rows[2].id)
    assert store.get_conversation(conv).message_count == 2


def test_mark_interrupted_after_reopen_touches_only_streaming_replies(db: Path) -> None:
    with Store(db) as first:
        conv = first.create_conversation("i")
        done = first.add_message(conv, "assistant", "done")
        live = [first.add_message(conv, "assistant", "", status="streaming") for _ in range(2)]
        first.checkpoint_reply(live[0], "half a sent")
        cancelled = first.add_message(conv, "assistant", "stopped", status="cancelled")
    with Store(db) as second:
        assert second.mark_interrupted() == 2
        assert [second.get_message(m).status for m in live] == ["interrupted", "interrupted"]
        assert second.get_message(done).status == "complete"
        assert second.get_message(cancelled).status == "cancelled"
        assert second.get_message(live[0]).content == "half a sent"
        assert second.mark_interrupted() == 0


# ------------------------------------------------------------------------------ migration


def test_v1_file_is_migrated_with_its_rows_intact(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite3"
    with raw(path) as conn:
        conn.executescript(V1_SCHEMA)
        conn.execute("PRAGMA user_version = 1")
        conn.execute("INSERT INTO conversations(id, title, created, updated, model, server, settings) "
                     "VALUES (7, 'From v1', 100.0, 200.0, 'old-model', 'http://10.0.0.2:8000/v1', "
                     "'{\"temperature\": 0.7}')")
        conn.executemany(
            "INSERT INTO messages(conversation_id, position, role, content, status, created, prompt_tokens, "
            "completion_tokens, ttft_s, decode_tok_s, error) VALUES (7, ?, ?, ?, ?, 150.0, ?, ?, ?, ?, ?)",
            [(0, "user", "hello v1", "complete", None, None, None, None, None),
             (1, "assistant", "hi from v1", "complete", 12, 4, 0.2, 40.0, None),
             (2, "user", "and again", "complete", None, None, None, None, None),
             (3, "assistant", "half a rep", "streaming", None, None, None, None, None)])
    with raw(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1

    with Store(path) as store:
        assert store.found_version == 1
        assert store.schema_version() == SCHEMA_VERSION >= 2
        conv = store.get_conversation(7)
        assert (conv.title, conv.model, conv.server, conv.settings, conv.created, conv.updated) == (
            "From v1", "old-model", "http://10.0.0.2:8000/v1", {"temperature": 0.7}, 100.0, 200.0)
        rows = store.load_messages(7)
        assert [(m.position, m.role, m.content, m.status) for m in rows] == [
            (0, "user", "hello v1", "complete"), (1, "assistant", "hi from v1", "complete"),
            (2, "user", "and again", "complete"), (3, "assistant", "half a rep", "streaming")]
        assert (rows[1].prompt_tokens, rows[1].completion_tokens, rows[1].ttft_s, rows[1].decode_tok_s) == (
            12, 4, 0.2, 40.0)
        assert all(m.archived_by is None and m.summary_of_count is None for m in rows)
        # the v2 columns work on the old rows
        summary = store.add_message(7, "summary", "greetings were exchanged")
        store.archive_messages([rows[0].id, rows[1].id], summary)
        assert store.get_message(summary).summary_of_count == 2
        assert [m.content for m in store.archived_for(summary)] == ["hello v1", "hi from v1"]
        assert store.count_messages(7) == 3
        assert store.mark_interrupted() == 1
        indexes = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"messages_archived_by", "messages_live_by_conversation", "messages_streaming",
                "messages_versions"} <= indexes
        assert [(h.where, h.message_id) for h in store.search("v1")] == [  # indexed by the migration
            ("title", None), ("archived", 2), ("archived", 1)]
        assert store.integrity_ok()
    with raw(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        columns = {r[1] for r in conn.execute("PRAGMA table_info(messages)")}
        assert {"archived_by", "summary_of_count", "thinking", "thinking_tokens", "ttfa_s", "thinking_s", "server",
                "model", "version_of", "shown"} <= columns
        assert {"forked_from", "forked_at"} <= {r[1] for r in conn.execute("PRAGMA table_info(conversations)")}
    with Store(path) as again:  # opening a current file again changes nothing
        assert again.found_version == SCHEMA_VERSION
        assert again.schema_version() == SCHEMA_VERSION
        assert again.count_messages(7) == 3


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        Store(path)


def v3_file(path: Path) -> Path:
    """A database exactly as the v3 release left it: the v1 DDL and migrations 2 and 3, with a summary
    that archived two messages, a finished reply with stats and one still streaming."""
    with raw(path) as conn:
        conn.executescript(V1_SCHEMA)
        for version in (2, 3):
            conn.executescript(MIGRATIONS[version])
        conn.execute("PRAGMA user_version = 3")
        conn.execute("INSERT INTO conversations(id, title, created, updated, model, server, settings) VALUES "
                     "(3, 'Zebra notes from v3', 100.0, 300.0, 'old-model', 'http://10.0.0.3:8000/v1', "
                     "'{\"system_prompt\": \"Be brief.\"}')")
        conn.executemany(
            "INSERT INTO messages(id, conversation_id, position, role, content, status, created, completion_tokens, "
            "archived_by, summary_of_count) VALUES (?, 3, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(1, 0, "user", "tell me about the okapi", "complete", 110.0, None, 3, None),
             (2, 1, "assistant", "the okapi is a giraffid", "complete", 120.0, 7, 3, None),
             (3, 0, "summary", "an okapi question", "complete", 130.0, None, None, 2),
             (4, 2, "user", "and the quagga?", "complete", 140.0, None, None, None),
             (5, 3, "assistant", "the quagga was a zebra", "complete", 150.0, 9, None, None),
             (6, 4, "assistant", "half a rep", "streaming", 160.0, None, None, None)])
    return path


def test_v3_file_is_migrated_to_v4_and_its_rows_are_searchable(tmp_path: Path) -> None:
    path = v3_file(tmp_path / "v3.sqlite3")
    with Store(path) as store:
        assert store.found_version == 3 and store.schema_version() == SCHEMA_VERSION >= 4
        conv = store.get_conversation(3)
        assert (conv.title, conv.message_count, conv.forked_from, conv.forked_at, conv.preset, conv.system_prompt) == (
            "Zebra notes from v3", 4, None, None, None, "Be brief.")
        rows = store.load_messages(3)
        assert [m.content for m in rows] == ["an okapi question", "and the quagga?", "the quagga was a zebra",
                                             "half a rep"]
        assert all((m.thinking, m.shown, m.version_of, m.server, m.model, m.thinking_tokens) ==
                   ("", True, None, None, None, None) for m in rows)
        assert store.live_message_ids(3) == {3, 4, 5, 6}
        # the index was built for the rows already there, archived ones included
        assert [(h.where, h.message_id) for h in store.search("okapi")] == [
            ("message", 3), ("archived", 2), ("archived", 1)]
        assert [(h.where, h.message_id) for h in store.search("zebra")] == [("title", None), ("message", 5)]
        # and the new columns work on the old rows
        again = store.add_message(3, "assistant", "the quagga, again", version_of=5, thinking="recall equids")
        assert [m.content for m in store.load_messages(3)][2] == "the quagga, again"
        assert [(h.where, h.message_id) for h in store.search("equids")] == [("thinking", again)]
        assert store.mark_interrupted() == 1
        assert store.integrity_ok()
    with Store(path) as reopened:
        assert reopened.found_version == SCHEMA_VERSION and len(reopened.search("okapi")) == 3


def test_two_stores_opening_one_old_file_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = v3_file(tmp_path / "v3.sqlite3")
    start = threading.Barrier(2)
    opened: list[Store] = []
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            start.wait()
            opened.append(Store(path))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and len(opened) == 2
    assert sorted(s.found_version for s in opened) in ([3, 3], [3, SCHEMA_VERSION])
    for store in opened:
        assert store.schema_version() == SCHEMA_VERSION
        assert len(store.search("okapi")) == 3  # indexed once, not twice
        store.close()


# ------------------------------------------------------------------------------ concurrency

WRITER_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    from zorac_tui.store import Store
    store = Store(sys.argv[2])
    conv, count = int(sys.argv[3]), int(sys.argv[4])
    print("ready", flush=True)
    sys.stdin.readline()  # start together with the parent
    for i in range(count):
        mid = store.add_message(conv, "assistant", "", status="streaming")
        store.checkpoint_reply(mid, f"process {i}")
        store.finish_message(mid, f"process {i}", "complete", completion_tokens=i)
    store.close()
    print("done", flush=True)
""")


def test_two_stores_on_one_file_write_from_two_threads(db: Path) -> None:
    first, second = Store(db), Store(db)
    conv = first.create_conversation("shared")
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(store: Store, tag: str) -> None:
        try:
            start.wait()
            for i in range(150):
                mid = store.add_message(conv, "user", f"{tag} {i}")
                store.checkpoint_reply(mid, f"{tag} {i}!")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(s, tag)) for s, tag in ((first, "one"), (second, "two"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    rows = second.load_messages(conv)
    assert len(rows) == 300
    assert {m.content for m in rows} == {f"{tag} {i}!" for tag in ("one", "two") for i in range(150)}
    assert sorted(m.position for m in rows) == list(range(300))
    assert first.integrity_ok() and second.integrity_ok()
    first.close()
    second.close()


def test_one_store_shared_by_threads(store: Store) -> None:
    conv = store.create_conversation("t")
    threads = [threading.Thread(target=lambda: [store.add_message(conv, "user", "x") for _ in range(50)])
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count_messages(conv) == 200


def test_a_second_process_writes_while_this_one_does(db: Path) -> None:
    with Store(db) as store:
        conv = store.create_conversation("two processes")
        child = subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, str(ROOT), str(db), str(conv), "120"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout.readline().strip() == "ready"
            child.stdin.write("go\n")
            child.stdin.flush()
            for i in range(120):
                mid = store.add_message(conv, "user", f"parent {i}")
                store.checkpoint_reply(mid, f"parent {i}!")
            assert child.stdout.readline().strip() == "done"
            assert child.wait(timeout=30) == 0
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        rows = store.load_messages(conv)
        assert len(rows) == 240
        assert {m.content for m in rows if m.role == "user"} == {f"parent {i}!" for i in range(120)}
        assert {m.content for m in rows if m.role == "assistant"} == {f"process {i}" for i in range(120)}
        assert all(m.status == "complete" for m in rows)
        assert sorted(m.position for m in rows) == list(range(240))
        assert store.integrity_ok()


def test_sigkill_mid_reply_keeps_the_last_checkpoint(tmp_path: Path) -> None:
    db = tmp_path / "crash" / "conversations.sqlite3"
    child = subprocess.Popen([sys.executable, str(CRASH_CHILD), str(db), "0.2"], stdout=subprocess.PIPE, text=True)
    lengths: list[int] = []
    try:
        first = child.stdout.readline().split()
        assert first[0] == "reply", first
        reply_id = int(first[1])
        lines: list[str] = []

        def read() -> None:
            for line in child.stdout:
                lines.append(line)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        deadline = time.monotonic() + 20
        # a few checkpoints, then kill without warning
        while len(lines) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
        reader.join(timeout=5)
        lengths = [int(x) for x in lines]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert len(lengths) >= 5, lengths
    assert lengths == sorted(lengths)
    with Store(db) as store:
        assert store.integrity_ok()
        reply = store.get_message(reply_id)
        assert reply.status == "streaming"
        # a length is printed only after its commit returned, so every announced checkpoint is in the
        # file; at most one more (committed, not yet announced) may be there too
        assert len(reply.content) >= lengths[-2]
        assert len(reply.content) in (lengths[-1], lengths[-1] + lengths[0])
        assert reply.content == "token " * (len(reply.content) // len("token "))
        messages = store.load_messages(reply.conversation_id)
        assert [m.role for m in messages] == ["user", "assistant"]
        assert messages[0].content == "Tell me a long story, please."
        assert store.mark_interrupted() == 1
        assert store.get_message(reply_id).status == "interrupted"
        assert store.get_message(reply_id).content == reply.content


# ------------------------------------------------------------------------------ failures


@pytest.fixture
def read_only_dirs(tmp_path: Path) -> Iterator[list[Path]]:
    """Directories no file can be created in: chmod 0500; as root, /proc and, where chattr works, an immutable one."""
    path = tmp_path / "read-only"
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o500)
        yield [path]
        path.chmod(0o700)
        return
    immutable = shutil.which("chattr") is not None and subprocess.run(
        ["chattr", "+i", str(path)], capture_output=True, check=False).returncode == 0
    yield [Path("/proc"), path] if immutable else [Path("/proc")]
    if immutable:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_unwritable_location_is_one_store_error_naming_the_path(tmp_path: Path, read_only_dirs: list[Path]) -> None:
    """Read-only directories, and a path whose "directory" is a regular file (mkdir fails)."""
    blocker = tmp_path / "a-regular-file"
    blocker.write_text("not a directory")
    targets = [d / "conversations.sqlite3" for d in read_only_dirs] + [blocker / "sub" / "conversations.sqlite3"]
    for path in targets:
        with pytest.raises(StoreError) as err:
            Store(path)
        message = str(err.value)
        assert str(path) in message and "\n" not in message, message
        assert check_writable(path.parent) is not None
    assert check_writable(tmp_path / "fine") is None


def test_full_disk_is_a_store_error_and_the_file_stays_sound(store: Store) -> None:
    conv = store.create_conversation("t")
    store.add_message(conv, "user", "kept")
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    store.conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk is now "full"
    with pytest.raises(StoreError) as err:
        store.add_message(conv, "assistant", "x" * 200_000)
    assert str(store.path) in str(err.value) and "full" in str(err.value)
    assert [m.content for m in store.load_messages(conv)] == ["kept"]
    assert store.integrity_ok()
    store.conn.execute("PRAGMA max_page_count = 1073741823")
    store.add_message(conv, "assistant", "room again")
    assert store.count_messages(conv) == 2


def test_closed_store_raises_store_error(db: Path) -> None:
    store = Store(db)
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.list_conversations()


# ------------------------------------------------------------------------------ export


def exported_chat(store: Store) -> int:
    """A conversation with an API key in its settings, stats, a summary of two archived messages, a cancelled reply."""
    conv = store.create_conversation("Export me", "stelterlab/Mistral-Small-24B-Instruct-2501-AWQ",
                                     "http://127.0.0.1:8000/v1",
                                     {"temperature": 0.3, "system_prompt": "You are terse.", "api_key": SECRET,
                                      "VLLM_API_KEY": SECRET})
    q1 = store.add_message(conv, "user", "What is KV cache?")
    a1 = store.add_message(conv, "assistant", "Keys and values of past tokens, kept on the GPU.")
    summary = store.add_message(conv, "summary", "Asked about the KV cache.")
    store.archive_messages([q1, a1], summary)
    store.add_message(conv, "user", "How big is it for 16k tokens?")
    reply = store.add_message(conv, "assistant", "", status="streaming")
    store.checkpoint_reply(reply, "About 2.5 GB")
    store.finish_message(reply, "About 2.5 GB for Mistral-Small at 16k.", "complete", prompt_tokens=640,
                         completion_tokens=14, ttft_s=0.42, decode_tok_s=58.3)
    cancelled = store.add_message(conv, "assistant", "", status="streaming")
    store.finish_message(cancelled, "It dep", "cancelled")
    return conv


def test_export_markdown(store: Store) -> None:
    conv = exported_chat(store)
    text = export_markdown(store, conv)
    assert text.startswith("# Export me\n")
    assert "stelterlab/Mistral-Small-24B-Instruct-2501-AWQ" in text and "http://127.0.0.1:8000/v1" in text
    assert "> You are terse." in text
    assert "## Summary of 2 earlier messages" in text and "## You" in text and "## Assistant" in text
    order = [text.index(s) for s in ("Asked about the KV cache.", "How big is it for 16k tokens?",
                                     "About 2.5 GB for Mistral-Small at 16k.", "It dep")]
    assert order == sorted(order)
    assert "*14 tokens · 58.3 tok/s · TTFT 420 ms · prompt 640*" in text  # as the app's footer says it
    assert "*cancelled*" in text
    assert "Keys and values of past tokens" not in text  # archived: only in the JSON export
    assert SECRET not in text and "api_key" not in text.lower()


def test_export_json_has_everything_but_the_key(store: Store, db: Path) -> None:
    conv = exported_chat(store)
    data = export_json(store, conv)
    text = json.dumps(data)
    assert json.loads(text) == data
    assert data["format"] == "zorac-tui/1"
    assert data["conversation"]["title"] == "Export me"
    assert data["conversation"]["settings"] == {"temperature": 0.3, "system_prompt": "You are terse."}
    messages = data["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "summary", "user", "assistant", "assistant"]
    assert {"id", "position", "role", "created", "error", "summary_of_count"} <= set(messages[0])
    assert [m["content"] for m in messages if m["archived_by"] is not None] == [
        "What is KV cache?", "Keys and values of past tokens, kept on the GPU."]
    summary = next(m for m in messages if m["role"] == "summary")
    assert summary["summary_of_count"] == 2 and all(
        m["archived_by"] == summary["id"] for m in messages[:2])
    stats = messages[-2]
    assert (stats["prompt_tokens"], stats["completion_tokens"], stats["ttft_s"], stats["decode_tok_s"],
            stats["status"]) == (640, 14, 0.42, 58.3, "complete")
    assert (messages[-1]["content"], messages[-1]["status"]) == ("It dep", "cancelled")
    assert SECRET not in text and "api_key" not in text.lower()
    store.close()
    assert SECRET.encode() not in files_bytes(db.parent)


def thinking_chat(store: Store) -> tuple[int, dict[str, int]]:
    """A forked conversation with a preset, a reply with thinking and three versions of another reply."""
    source = store.create_conversation("Source")
    conv = store.fork_conversation(source, None, "Reasoning")
    store.set_conversation_settings(conv, preset="careful", system_prompt="Think first.")
    q = store.add_message(conv, "user", "Is 221 prime?")
    a = store.add_message(conv, "assistant", "", status="streaming", server="gpu-box", model="QwQ-32B")
    store.checkpoint_reply(a, "", thinking="221 = 13 × 17.\n\nA tag: </details> stays inside.")
    store.finish_message(a, "No: 221 = 13 × 17.", "complete", completion_tokens=900, thinking_tokens=842,
                         ttft_s=0.2, ttfa_s=12.5, thinking_s=12.3, decode_tok_s=60.0)
    store.add_message(conv, "user", "And 223?")
    b1 = store.add_message(conv, "assistant", "223 is prime.", server="gpu-box", model="QwQ-32B")
    b2 = store.add_message(conv, "assistant", "Yes, 223 is prime.", version_of=b1, server="laptop", model="small")
    b3 = store.add_message(conv, "assistant", "Prime.", version_of=b1)
    store.show_version(b2)
    return conv, {"source": source, "q": q, "a": a, "b1": b1, "b2": b2, "b3": b3}


def test_export_markdown_with_thinking_who_answered_and_versions(store: Store) -> None:
    conv, m = thinking_chat(store)
    text = export_markdown(store, conv)
    assert f"preset careful · forked from conversation {m['source']}*" in text
    assert "> Think first." in text
    block = ("<details><summary>Thinking · 12.3 s · 842 tokens</summary>\n\n221 = 13 × 17.\n\n"
             "A tag: &lt;/details> stays inside.\n\n</details>\n\nNo: 221 = 13 × 17.")
    assert block in text
    assert text.index("*Answered by QwQ-32B on gpu-box*") < text.index("<details>")
    assert "*900 tokens (thinking 842 · answer 58) · 60.0 tok/s · TTFT 200 ms · first answer 12.50 s*" in text
    headings = [line for line in text.splitlines() if line.startswith("## Assistant")]
    assert [h.split(" · ", 2)[-1] for h in headings[1:]] == ["version 1 of 3", "version 2 of 3 (shown)",
                                                              "version 3 of 3"]
    assert "version" not in headings[0]
    order = [text.index(s) for s in ("223 is prime.", "*Answered by small on laptop*", "Yes, 223 is prime.",
                                     "Prime.")]
    assert order == sorted(order)


def test_export_json_carries_thinking_versions_fork_and_preset(store: Store) -> None:
    conv, m = thinking_chat(store)
    data = export_json(store, conv)
    assert json.loads(json.dumps(data)) == data
    c = data["conversation"]
    assert (c["forked_from"], c["forked_at"], c["preset"], c["system_prompt"]) == (
        m["source"], None, "careful", "Think first.")
    by_id = {msg["id"]: msg for msg in data["messages"]}
    assert list(by_id) == sorted(by_id) and len(by_id) == 6
    a = by_id[m["a"]]
    assert (a["thinking"].split("\n")[0], a["thinking_tokens"], a["ttfa_s"], a["thinking_s"], a["server"],
            a["model"], a["versions"]) == ("221 = 13 × 17.", 842, 12.5, 12.3, "gpu-box", "QwQ-32B", [])
    group = [m["b1"], m["b2"], m["b3"]]
    assert [by_id[i]["versions"] for i in group] == [group] * 3
    assert [by_id[i]["shown"] for i in group] == [False, True, False]
    assert [by_id[i]["version_of"] for i in group] == [None, m["b1"], m["b1"]]


def test_export_of_missing_conversation_is_a_store_error(store: Store) -> None:
    with pytest.raises(StoreError):
        export_markdown(store, 42)


# ------------------------------------------------------------------------------ upstream import


@pytest.fixture
def upstream_home(tmp_path: Path) -> Path:
    """A home directory holding the upstream client's ~/.zorac (session.json and config.json)."""
    home = tmp_path / "home"
    shutil.copytree(UPSTREAM, home / ".zorac")
    return home


def test_find_upstream_session(upstream_home: Path, tmp_path: Path) -> None:
    assert find_upstream_session(upstream_home) == upstream_home / ".zorac" / "session.json"
    assert find_upstream_session(tmp_path / "nobody") is None
    moved = tmp_path / "elsewhere.json"
    shutil.copy(UPSTREAM / "session.json", moved)
    assert find_upstream_session(tmp_path / "nobody", {"ZORAC_SESSION_FILE": str(moved)}) == moved
    assert find_upstream_session(tmp_path / "nobody", {"ZORAC_DIR": str(upstream_home / ".zorac")}) is not None


def test_import_of_a_realistic_upstream_session(store: Store, upstream_home: Path) -> None:
    path = find_upstream_session(upstream_home)
    original = path.read_bytes()
    source = json.loads(original)
    assert source[0]["role"] == "system" and source[1]["role"] == "system"  # prompt + rolling summary
    conv = import_upstream_session(store, path)
    row = store.get_conversation(conv)
    assert row.title == "Imported: What does `--gpu-memory-utilization 0.92` change?"
    assert row.model == "stelterlab/Mistral-Small-24B-Instruct-2501-AWQ"
    assert row.server == "http://192.168.1.20:8000/v1"
    assert row.settings["system_prompt"] == source[0]["content"]  # the system prompt is a setting
    assert row.settings["temperature"] == 0.1 and row.settings["max_tokens"] == 4000
    assert "EMPTY" not in json.dumps(row.settings)
    messages = store.load_messages(conv)
    assert [m.role for m in messages] == ["summary", "user", "assistant", "user", "assistant", "user"]
    assert messages[0].content.startswith("The user runs Mistral-Small-24B AWQ")  # what came before the chat
    assert [m.content for m in messages[1:]] == [m["content"] for m in source[2:]]
    chat = [(m["role"], m["content"]) for m in source if m["role"] in ("user", "assistant")]
    assert [(m.role, m.content) for m in messages if m.role != "summary"] == chat
    assert source[0]["content"] not in [m.content for m in messages]
    assert all(m.status == "complete" for m in messages)
    assert path.read_bytes() == original  # only read


@pytest.mark.parametrize("content, reason", [
    (b"{ this is not json", "Cannot read"),
    (b"\xff\xfe\x00 binary garbage", "Cannot read"),
    (b'{"role": "user", "content": "a dict, not a list"}', "expected a JSON list"),
    (b"42", "expected a JSON list"),
    (b'["just", "strings"]', "item 0"),
    (b'[{"content": "no role"}]', "item 0"),
    (b'[{"role": "user", "content": 5}]', "content of type int"),
    (b'[{"role": "system", "content": "only a prompt"}]', "no user or assistant"),
    (b"[]", "no user or assistant"),
])
def test_malformed_upstream_sessions_are_store_errors(store: Store, tmp_path: Path, content: bytes,
                                                      reason: str) -> None:
    path = tmp_path / "session.json"
    path.write_bytes(content)
    with pytest.raises(StoreError, match=reason) as err:
        import_upstream_session(store, path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert store.list_conversations() == []  # nothing half-imported


def test_missing_upstream_session_is_a_store_error(store: Store, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"missing\.json"):
        import_upstream_session(store, tmp_path / "missing.json")


def test_import_tolerates_content_parts_and_other_roles(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "session.json"
    path.write_text(json.dumps({"messages": [
        {"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {}}]},
        {"role": "tool", "content": "ignored", "tool_call_id": "x"},
        {"role": "assistant", "content": None},
    ]}))
    conv = import_upstream_session(store, path)
    assert [(m.role, m.content) for m in store.load_messages(conv)] == [("user", "look"), ("assistant", "")]
    assert store.get_conversation(conv).settings["system_prompt"] is None
