"""The SQLite store: CRUD, ordering, archives, migrations, concurrency, crash safety, errors, export and import."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from zorac_tui.store import (
    SCHEMA_VERSION,
    V1_SCHEMA,
    Store,
    StoreError,
    default_db_path,
    export_json,
    export_markdown,
    find_upstream_session,
    import_upstream_session,
    title_from_first_message,
)

TESTS = Path(__file__).resolve().parent
CHILD = TESTS / "store_child.py"
UPSTREAM = TESTS / "fixtures" / "upstream"
sys.path.insert(0, str(TESTS))
from store_child import reply_text  # noqa: E402


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A database path inside a directory that does not exist yet."""
    return tmp_path / "data" / "conversations.sqlite3"


@pytest.fixture
def store(db: Path):
    """An open store, closed afterwards."""
    s = Store(db)
    yield s
    s.close()


def chat(store: Store, n: int, title: str = "chat") -> tuple[int, list[int]]:
    """A conversation with `n` alternating user/assistant messages."""
    conv = store.create_conversation(title, "model-a", "http://127.0.0.1:8000/v1", {"temperature": 0.3})
    ids = [store.add_message(conv, "user" if i % 2 == 0 else "assistant", f"m{i}") for i in range(n)]
    return conv, ids


def run_child(*args: str) -> subprocess.Popen:
    """Start tests/store_child.py in a second Python process."""
    return subprocess.Popen([sys.executable, str(CHILD), *args], stdout=subprocess.PIPE, text=True)


# ------------------------------------------------------------------ basics
def test_new_database_is_wal_with_foreign_keys_and_current_schema(store: Store, db: Path) -> None:
    assert store.schema_version() == SCHEMA_VERSION
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert store.integrity_ok()


def test_default_db_path_uses_platformdirs_data_dir_created_0700(tmp_path, monkeypatch) -> None:
    import platformdirs

    asked = []
    monkeypatch.delenv("ZORAC_HOME", raising=False)
    monkeypatch.setattr(platformdirs, "user_data_dir",
                        lambda name: asked.append(name) or str(tmp_path / "share" / name))
    path = default_db_path()
    assert asked == ["zorac-tui"]
    assert path.parent == tmp_path / "share" / "zorac-tui"
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_create_get_rename_delete(store: Store) -> None:
    settings = {"temperature": 0.3, "max_tokens": 512, "system_prompt": "Be brief.", "api_key": "sk-secret"}
    conv = store.create_conversation("First", "mistral", "http://127.0.0.1:8000/v1", settings)
    row = store.get_conversation(conv)
    assert (row.title, row.model, row.server, row.message_count) == ("First", "mistral", "http://127.0.0.1:8000/v1", 0)
    assert row.settings == {"temperature": 0.3, "max_tokens": 512, "system_prompt": "Be brief."}
    assert b"sk-secret" not in store.path.read_bytes()
    store.rename(conv, "Renamed")
    assert store.get_conversation(conv).title == "Renamed"
    mid = store.add_message(conv, "user", "hello")
    store.delete(conv)
    with pytest.raises(StoreError, match="No conversation"):
        store.get_conversation(conv)
    assert store.conn.execute("SELECT COUNT(*) FROM messages WHERE id = ?", (mid,)).fetchone()[0] == 0


def test_messages_keep_order_and_stats(store: Store) -> None:
    conv = store.create_conversation("t")
    store.add_message(conv, "user", "question")
    reply = store.add_message(conv, "assistant", "", status="streaming")
    store.checkpoint_reply(reply, "partial")
    assert store.load_messages(conv)[-1].content == "partial"
    store.finish_message(reply, "full answer", "complete", prompt_tokens=120, completion_tokens=40,
                         ttft_s=0.31, decode_tok_s=62.5)
    rows = store.load_messages(conv)
    assert [(r.position, r.role, r.content) for r in rows] == [(0, "user", "question"), (1, "assistant", "full answer")]
    last = rows[-1]
    assert (last.status, last.prompt_tokens, last.completion_tokens, last.ttft_s, last.decode_tok_s) == (
        "complete", 120, 40, 0.31, 62.5)
    failed = store.add_message(conv, "assistant", "", status="streaming")
    store.finish_message(failed, "", "error", error="HTTP 400: context too long")
    assert store.get_message(failed).error == "HTTP 400: context too long"
    assert store.count_messages(conv) == 3


def test_bad_role_status_or_stat_name_is_refused(store: Store) -> None:
    conv = store.create_conversation("t")
    with pytest.raises(ValueError):
        store.add_message(conv, "tool", "x")
    with pytest.raises(ValueError):
        store.add_message(conv, "user", "x", status="done")
    with pytest.raises(TypeError):
        store.add_message(conv, "user", "x", tokens=3)
    with pytest.raises(StoreError, match="FOREIGN KEY"):
        store.add_message(conv + 99, "user", "orphan")


def test_list_is_newest_first_with_counts_and_filter(store: Store) -> None:
    a, _ = chat(store, 3, "Rust lifetimes")
    b, _ = chat(store, 1, "GPU memory 100%")
    c, _ = chat(store, 2, "rust async")
    assert [r.id for r in store.list_conversations()] == [c, b, a]
    store.add_message(a, "user", "one more")  # activity moves it to the top
    rows = store.list_conversations()
    assert [r.id for r in rows] == [a, c, b]
    assert {r.id: r.message_count for r in rows} == {a: 4, b: 1, c: 2}
    assert store.last_conversation_id() == a
    assert [r.id for r in store.list_conversations(limit=2)] == [a, c]
    assert {r.id for r in store.list_conversations(query="RUST")} == {a, c}
    assert [r.id for r in store.list_conversations(query="100%")] == [b]
    assert store.list_conversations(query="1_0") == []


def test_empty_store(store: Store) -> None:
    assert store.list_conversations() == []
    assert store.last_conversation_id() is None
    assert store.mark_interrupted() == 0


def test_list_of_10000_conversations_is_one_fast_query(store: Store) -> None:
    now = time.time()
    store.conn.execute("BEGIN")  # the store's connection is in autocommit mode
    store.conn.executemany("INSERT INTO conversations(id, title, created, updated, settings) VALUES (?,?,?,?,'{}')",
                           [(i, f"conv {i}", now + i, now + i) for i in range(1, 10_001)])
    store.conn.executemany("INSERT INTO messages(conversation_id, position, role, content, created) VALUES (?,?,?,?,?)",
                           [(i, p, "user", "x", now) for i in range(1, 10_001) for p in range(8)])
    store.conn.execute("COMMIT")
    statements = []
    store.conn.set_trace_callback(statements.append)
    start = time.perf_counter()
    rows = store.list_conversations()
    elapsed = time.perf_counter() - start
    store.conn.set_trace_callback(None)
    assert len(rows) == 10_000 and rows[0].id == 10_000 and rows[0].message_count == 8
    assert len(statements) == 1
    assert elapsed < 1.0


def test_lazy_paging_loads_the_tail_first(store: Store) -> None:
    conv, _ = chat(store, 10)
    tail = store.load_messages(conv, limit=3)
    assert [m.content for m in tail] == ["m7", "m8", "m9"]
    older = store.load_messages(conv, limit=3, before_position=tail[0].position)
    assert [m.content for m in older] == ["m4", "m5", "m6"]
    assert [m.content for m in store.load_messages(conv, limit=10, before_position=2)] == ["m0", "m1"]


def test_title_from_first_message() -> None:
    assert title_from_first_message("\n\n  How   do I\tquantize?  \nsecond line") == "How do I quantize?"
    long = title_from_first_message("word " * 40)
    assert len(long) <= 60 and long.endswith("…")
    assert title_from_first_message("   \n") == "Untitled"


# ------------------------------------------------------------------ summaries
def test_archive_links_summary_and_keeps_originals(store: Store) -> None:
    conv, ids = chat(store, 6)
    summary = store.add_message(conv, "summary", "They talked about m0..m3.")
    store.archive_messages(ids[:4], summary)
    live = store.load_messages(conv)
    assert [m.content for m in live] == ["They talked about m0..m3.", "m4", "m5"]
    assert live[0].summary_of_count == 4 and live[0].position == 0
    assert store.count_messages(conv) == 3
    assert store.list_conversations()[0].message_count == 3
    assert [m.content for m in store.archived_for(summary)] == ["m0", "m1", "m2", "m3"]
    assert all(m.archived_by == summary for m in store.archived_for(summary))
    assert len(store.load_messages(conv, include_archived=True)) == 7
    # a later summary can replace the earlier one together with more messages
    second = store.add_message(conv, "summary", "Everything up to m4.")
    store.archive_messages([summary, ids[4]], second)
    assert [m.content for m in store.load_messages(conv)] == ["Everything up to m4.", "m5"]
    assert [m.id for m in store.archived_for(second)] == [summary, ids[4]]
    assert len(store.archived_for(summary)) == 4


def test_archive_refuses_foreign_messages(store: Store) -> None:
    conv, ids = chat(store, 2)
    other, other_ids = chat(store, 2)
    summary = store.add_message(conv, "summary", "s")
    with pytest.raises(StoreError, match="belong"):
        store.archive_messages([ids[0], other_ids[0]], summary)
    assert store.count_messages(conv) == 3  # nothing half-done
    with pytest.raises(StoreError):
        store.archive_messages(ids, 9999)


# ------------------------------------------------------------------ migrations
def test_v1_database_migrates_to_current(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(V1_SCHEMA + "PRAGMA user_version = 1;")
    conn.execute("INSERT INTO conversations VALUES (1, 'old chat', 1.0, 2.0, 'm', 'http://x/v1', ?)",
                 ('{"temperature": 0.5}',))
    conn.executemany("INSERT INTO messages(conversation_id, position, role, content, status, created, "
                     "completion_tokens) VALUES (1, ?, ?, ?, ?, 1.5, ?)",
                     [(0, "user", "hi", "complete", None), (1, "assistant", "hello", "streaming", 7)])
    conn.commit()
    conn.close()
    with Store(path) as store:
        assert store.found_version == 1 and store.schema_version() == SCHEMA_VERSION
        rows = store.load_messages(1)
        assert [(m.content, m.archived_by, m.summary_of_count) for m in rows] == [
            ("hi", None, None), ("hello", None, None)]
        assert rows[1].completion_tokens == 7
        assert store.get_conversation(1).settings == {"temperature": 0.5}
        assert store.mark_interrupted() == 1
        summary = store.add_message(1, "summary", "s")
        store.archive_messages([rows[0].id], summary)
        indexes = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"messages_archived_by", "messages_live_by_conversation", "messages_streaming"} <= indexes
        assert store.integrity_ok()
    with Store(path) as again:  # reopening an up-to-date file changes nothing
        assert again.found_version == SCHEMA_VERSION


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        Store(path)


def test_not_a_database_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError) as err:
        Store(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


# ------------------------------------------------------------------ interruption and concurrency
def test_mark_interrupted_after_reopen(db: Path) -> None:
    with Store(db) as first:
        conv = first.create_conversation("t")
        reply = first.add_message(conv, "assistant", "", status="streaming")
        first.checkpoint_reply(reply, "half a sent")
        done = first.add_message(conv, "assistant", "whole", status="complete")
    with Store(db) as second:
        assert second.mark_interrupted() == 1
        assert second.get_message(reply).status == "interrupted"
        assert second.get_message(reply).content == "half a sent"
        assert second.get_message(done).status == "complete"
        assert second.mark_interrupted() == 0


def test_two_stores_write_from_two_threads(db: Path) -> None:
    stores = [Store(db), Store(db)]
    conv = stores[0].create_conversation("shared")
    errors: list[BaseException] = []

    def writer(s: Store, tag: str) -> None:
        try:
            for i in range(100):
                mid = s.add_message(conv, "user", f"{tag}{i}")
                s.checkpoint_reply(mid, f"{tag}{i}!")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(s, tag)) for s, tag in zip(stores, "ab")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = stores[1].load_messages(conv)
    assert len(rows) == 200 and len({r.position for r in rows}) == 200
    assert all(r.content.endswith("!") for r in rows)
    assert stores[0].integrity_ok()
    for s in stores:
        s.close()


def test_one_store_shared_by_threads(store: Store) -> None:
    conv = store.create_conversation("t")
    threads = [threading.Thread(target=lambda: [store.add_message(conv, "user", "x") for _ in range(50)])
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count_messages(conv) == 200


def test_second_process_writes_while_we_write(db: Path) -> None:
    with Store(db) as store:
        conv = store.create_conversation("shared")
        child = run_child("write", str(db), str(conv), "150")
        assert child.stdout.readline().strip() == "ready"  # both now write at once
        for i in range(150):
            store.add_message(conv, "assistant", f"parent {i}")
        assert child.wait(timeout=20) == 0
        rows = store.load_messages(conv)
        assert len(rows) == 300 and len({r.position for r in rows}) == 300
        assert store.integrity_ok()


def test_killed_mid_reply_keeps_last_checkpoint(db: Path) -> None:
    child = run_child("stream", str(db), "0.2")
    try:
        first = child.stdout.readline()
        assert first.startswith("reply"), "the child died before streaming"
        reply_id = int(first.split()[1])
        seen = 0
        deadline = time.monotonic() + 10
        while seen < 5 and time.monotonic() < deadline:  # about a second of streaming
            seen = int(child.stdout.readline().split()[1])
        time.sleep(0.1)  # land between or during checkpoints, not right after one
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=5)
        for line in child.stdout.read().splitlines():  # announcements we had not read yet
            seen = int(line.split()[1])
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL and seen >= 5
    with Store(db) as store:
        assert store.integrity_ok()
        reply = store.get_message(reply_id)
        assert reply.status == "streaming"
        assert reply.content in (reply_text(seen), reply_text(seen + 1))
        assert store.mark_interrupted() == 1
        assert store.get_message(reply_id).status == "interrupted"
        assert [m.role for m in store.load_messages(reply.conversation_id)] == ["user", "assistant"]


# ------------------------------------------------------------------ failures
@pytest.fixture
def read_only_dir(tmp_path: Path):
    """A directory nobody can create files in (chmod for users, the immutable flag for root)."""
    path = tmp_path / "ro"
    path.mkdir()
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)],
                                                              capture_output=True).returncode != 0:
            pytest.skip("running as root without chattr +i: no way to make a directory read-only")
        yield path
        subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        path.chmod(0o500)
        yield path
        path.chmod(0o700)


def test_read_only_dir_is_a_store_error_naming_the_path(read_only_dir: Path) -> None:
    path = read_only_dir / "conversations.sqlite3"
    with pytest.raises(StoreError) as err:
        Store(path)
    message = str(err.value)
    assert str(path) in message and "\n" not in message


def test_unmakeable_dir_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="file"):
        Store(tmp_path / "file" / "db.sqlite3")


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


# ------------------------------------------------------------------ export
def summarized_chat(store: Store) -> int:
    """A conversation with stats, a summary over two archived messages and a cancelled reply."""
    conv = store.create_conversation("Quantization notes", "stelterlab/Mistral-Small-24B-Instruct-2501-AWQ",
                                     "http://127.0.0.1:8000/v1", {"system_prompt": "Be concise.", "temperature": 0.2})
    old = [store.add_message(conv, "user", "What is AWQ?"),
           store.add_message(conv, "assistant", "Activation-aware weight quantization.")]
    summary = store.add_message(conv, "summary", "The user asked what AWQ is.")
    store.archive_messages(old, summary)
    store.add_message(conv, "user", "How fast is it on a 4090?")
    reply = store.add_message(conv, "assistant", "", status="streaming")
    store.finish_message(reply, "About 60-65 tok/s.", "complete", prompt_tokens=812, completion_tokens=9,
                         ttft_s=0.304, decode_tok_s=63.2)
    cancelled = store.add_message(conv, "assistant", "", status="streaming")
    store.finish_message(cancelled, "It dep", "cancelled")
    return conv


def test_export_markdown_is_readable(store: Store) -> None:
    text = export_markdown(store, summarized_chat(store))
    assert text.startswith("# Quantization notes\n")
    assert "stelterlab/Mistral-Small-24B-Instruct-2501-AWQ" in text and "http://127.0.0.1:8000/v1" in text
    assert "> Be concise." in text
    assert "## Summary of 2 earlier messages" in text and "The user asked what AWQ is." in text
    assert "## You" in text and "## Assistant" in text
    assert "*9 tokens · 63.2 tok/s · TTFT 304 ms · prompt 812 tokens*" in text
    assert "*cancelled*" in text
    assert "Activation-aware" not in text  # archived: noted, not repeated


def test_export_json_is_complete(store: Store) -> None:
    conv = summarized_chat(store)
    data = json.loads(json.dumps(export_json(store, conv)))
    assert data["format"] == "zorac-tui/1"
    assert data["conversation"]["title"] == "Quantization notes"
    assert data["conversation"]["settings"] == {"system_prompt": "Be concise.", "temperature": 0.2}
    messages = data["messages"]
    assert len(messages) == 6
    archived = [m for m in messages if m["archived_by"] is not None]
    assert [m["content"] for m in archived] == ["What is AWQ?", "Activation-aware weight quantization."]
    stats = next(m for m in messages if m["decode_tok_s"])
    assert {k: stats[k] for k in ("prompt_tokens", "completion_tokens", "ttft_s", "decode_tok_s", "status")} == {
        "prompt_tokens": 812, "completion_tokens": 9, "ttft_s": 0.304, "decode_tok_s": 63.2, "status": "complete"}
    assert {"id", "position", "role", "created", "error", "summary_of_count"} <= set(messages[0])


def test_export_of_missing_conversation_is_a_store_error(store: Store) -> None:
    with pytest.raises(StoreError):
        export_markdown(store, 42)


# ------------------------------------------------------------------ upstream import
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


def test_import_upstream_session(store: Store, upstream_home: Path) -> None:
    path = find_upstream_session(upstream_home)
    original = path.read_bytes()
    conv = import_upstream_session(store, path)
    row = store.get_conversation(conv)
    source = json.loads(original)
    assert row.title == "Imported: What does `--gpu-memory-utilization 0.92` change?"
    assert row.model == "stelterlab/Mistral-Small-24B-Instruct-2501-AWQ"
    assert row.server == "http://192.168.1.20:8000/v1"
    assert row.settings["system_prompt"] == source[0]["content"]
    assert row.settings["temperature"] == 0.1 and row.settings["max_tokens"] == 4000
    assert "EMPTY" not in json.dumps(row.settings)
    messages = store.load_messages(conv)
    assert [m.role for m in messages] == ["summary", "user", "assistant", "user", "assistant", "user"]
    assert messages[0].content.startswith("The user runs Mistral-Small-24B AWQ")
    assert [m.content for m in messages[1:]] == [m["content"] for m in source[2:]]
    assert all(m.status == "complete" for m in messages)
    assert path.read_bytes() == original


@pytest.mark.parametrize("content, reason", [
    ("{not json", "Cannot read"),
    ('{"role": "user"}', "expected a JSON list"),
    ('["hello"]', "item 0"),
    ('[{"role": "user", "content": 5}]', "content of type int"),
    ('[{"role": "system", "content": "only a prompt"}]', "no user or assistant"),
    ("[]", "no user or assistant"),
])
def test_import_rejects_unexpected_shapes_clearly(store: Store, tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "session.json"
    path.write_text(content)
    with pytest.raises(StoreError, match=reason) as err:
        import_upstream_session(store, path)
    assert str(path) in str(err.value)
    assert store.list_conversations() == []


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
