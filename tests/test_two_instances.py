"""Two zorac-tui instances on one database: a reply one of them streams is neither marked interrupted nor
frozen in the other; a reply whose instance died is marked interrupted, at start-up or while running.

The other instance is tests/store_crash_child.py with `lock`: to the database it is exactly what a running
app is (it holds the InstanceLock and checkpoints its reply with the real Store). The app under test is
the real ZoracApp on the simulator over HTTP on 127.0.0.1; FakePynvml stands in for the GPU.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from appdriver import (
    SIZE,
    Status,
    body_text,
    chat_requests,
    conversation,
    flat,
    footer_text,
    gauge,
    is_streaming,
    list_options,
    make_app,
    message_views,
    messages,
    running_simulator,
    send,
    store,
    store_caught_up,
    toasts,
    view_for,
    wait_for,
)

from zorac_tui.store import Store
from zorac_tui.store.instances import InstanceLock
from zorac_tui.ui import persistence as persist_flow
from zorac_tui.ui.app import ZoracApp
from zorac_tui.ui.transcript_blocks import MessageBlock

CHILD = Path(__file__).resolve().parent / "store_crash_child.py"


@pytest.fixture(autouse=True)
def quick_looks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app looks at what other windows committed every 0.5 s instead of 2 s (tests wait for those looks)."""
    monkeypatch.setattr(persist_flow, "FOREIGN_POLL", 0.5)


def make_quiet(db: Path, conversation_id: int, seconds: float) -> None:
    """Pretend nothing touched the conversation for `seconds` (as if its instance died that long ago)."""
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE conversations SET updated = updated - ? WHERE id = ?", (seconds, conversation_id))


@contextmanager
def other_instance(db: Path, finish_on_input: bool = False) -> Iterator[tuple[subprocess.Popen, int]]:
    """Another instance streaming a reply into `db` (checkpoints every 0.1 s); (process, reply id).

    `finish_on_input`: it finishes the reply once a line is written to its stdin (else it streams until killed).
    """
    child = subprocess.Popen([sys.executable, str(CHILD), str(db), "0.1", "lock", *(["stdin"] if finish_on_input else [])],
                             stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True)
    try:
        reply_id = int(child.stdout.readline().split()[1])
        child.stdout.readline()  # its first checkpoint is committed
        yield child, reply_id
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()


def stored_status(db: Path, message_id: int) -> str:
    """A message's status as a separate Store sees it."""
    with Store(db) as store:
        return store.get_message(message_id).status


async def app_showing(pilot: Any, reply_id: int) -> Any:
    """Wait until the app shows the conversation holding `reply_id`; that message's view."""
    app = pilot.app
    await wait_for(pilot, lambda: store(app) is not None, what="the store to open")
    await wait_for(pilot, lambda: any(m.db_id == reply_id for m in messages(app)),
                   what="the other instance's conversation on screen")
    message = next(m for m in messages(app) if m.db_id == reply_id)
    view = await wait_for(pilot, lambda: (v := view_for(app, message)) is not None and footer_text(app, message) and v,
                          what="its block drawn")
    return message, view


def history_app(sim: Any, db: Path) -> ZoracApp:
    """The real app continuing the last conversation in `db`."""
    return make_app(sim, store_path=db, continue_last=True)


# ------------------------------------------------------------------------------------------ store level
def test_a_checkpoint_is_a_heartbeat_and_only_quiet_streaming_rows_are_marked(tmp_path: Path) -> None:
    db = tmp_path / "chats.sqlite3"
    with Store(db) as one, Store(db) as two:
        conv = one.create_conversation("live")
        reply = one.add_message(conv, "assistant", "", status="streaming")
        make_quiet(db, conv, 60)
        before = two.get_conversation(conv).updated
        one.checkpoint_reply(reply, "half a reply")
        assert two.get_conversation(conv).updated > before + 50
        assert two.mark_interrupted(idle_for=10) == 0  # checkpointed just now: another instance's live reply
        assert two.get_message(reply).status == "streaming"
        make_quiet(db, conv, 60)
        assert two.mark_interrupted(idle_for=10) == 1  # quiet for a minute: its instance is gone
        row = two.get_message(reply)
        assert row.status == "interrupted" and row.content == "half a reply"
        assert two.mark_interrupted(idle_for=10) == 0
        assert two.get_messages([reply, 999]) == {reply: row}


def test_the_instance_lock_tells_whether_another_instance_runs(tmp_path: Path) -> None:
    db = tmp_path / "chats.sqlite3"
    first = InstanceLock(db)
    assert first.acquire() is True
    assert (first.path.stat().st_mode & 0o777) == 0o600 and first.path.name == "chats.sqlite3.lock"
    second = InstanceLock(db)
    assert second.acquire() is False  # the first one still runs
    first.release()
    second.release()
    with InstanceLock(db) as third:
        assert third.alone


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_killed_instance_holds_no_lock(tmp_path: Path) -> None:
    db = tmp_path / "chats.sqlite3"
    with other_instance(db) as (child, _reply):
        with InstanceLock(db) as lock:
            assert not lock.alone
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        with InstanceLock(db) as lock:
            assert lock.alone


# --------------------------------------------------------------------------------------------- app level
async def test_a_reply_another_instance_streams_is_followed_not_marked_interrupted(tmp_path: Path) -> None:
    db = tmp_path / "chats.sqlite3"
    # the other instance streams until told to finish: still streaming when this app shows it, however slowly
    # the app starts
    with other_instance(db, finish_on_input=True) as (child, reply_id), running_simulator() as sim:
        app = history_app(sim, db)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            message, _view = await app_showing(pilot, reply_id)
            assert message.status is Status.STREAMING and stored_status(db, reply_id) == "streaming"
            assert "streaming in another zorac-tui window" in footer_text(app, message)
            first_length = len(message.content)
            await wait_for(pilot, lambda: len(message.content) > first_length, what="the view following it")
            child.stdin.write("finish\n")
            child.stdin.flush()
            await wait_for(pilot, lambda: message.status is Status.COMPLETE, timeout=20, what="its final state")
            tokens = message.stats.completion_tokens  # 25 a checkpoint, as the other instance counted them
            assert message.content.endswith("The end.") and tokens == message.content.count("token ") >= 50
            shown = gauge(app)  # the whole reply counted: every word of the other instance's
            await wait_for(pilot, lambda: shown.budget is not None and shown.budget.history > tokens,
                           what="the gauge recounted")
            footer = footer_text(app, message)
            assert "another" not in footer and f"{tokens:,} tokens" in footer
            # (flattened: where the text wraps depends on how many checkpoints the other instance made)
            await wait_for(pilot, lambda: "The end." in flat(body_text(app, message)), what="the whole reply drawn")
            assert not any("interrupted" in t for t in toasts(app))
        assert child.poll() is None  # it was alive all along
    assert stored_status(db, reply_id) == "complete"


async def test_a_reply_whose_instance_dies_is_marked_interrupted_while_this_one_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(persist_flow, "STALE_AFTER", 1.0)  # instead of 10 s, to keep the test short
    db = tmp_path / "chats.sqlite3"
    with other_instance(db) as (child, reply_id), running_simulator() as sim:
        app = history_app(sim, db)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            message, _view = await app_showing(pilot, reply_id)
            assert message.status is Status.STREAMING
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=10)
            await wait_for(pilot, lambda: any("interrupted" in t for t in toasts(app)), what="the notice")
            await wait_for(pilot, lambda: message.status is Status.INTERRUPTED, what="the view updated")
            assert "interrupted" in footer_text(app, message)
    assert stored_status(db, reply_id) == "interrupted"


async def test_with_another_instance_running_a_long_dead_reply_is_still_marked_at_start(tmp_path: Path) -> None:
    db = tmp_path / "chats.sqlite3"
    with Store(db) as store:
        conv = store.create_conversation("old crash")
        store.add_message(conv, "user", "hi")
        dead = store.add_message(conv, "assistant", "cut", status="streaming")
    make_quiet(db, conv, 3600)
    with InstanceLock(db) as lock, running_simulator() as sim:  # some other instance runs
        assert lock.alone
        app = history_app(sim, db)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await wait_for(pilot, lambda: any("interrupted" in t for t in toasts(app)), what="the notice")
            assert stored_status(db, dead) == "interrupted"
            message, view = await app_showing(pilot, dead)
            assert message.status is Status.INTERRUPTED and isinstance(view, MessageBlock)
            assert "interrupted" in footer_text(app, message)


async def test_the_open_list_shows_conversations_another_instance_saves(tmp_path: Path) -> None:
    db = tmp_path / "chats.sqlite3"
    with running_simulator() as sim:
        app = make_app(sim, store_path=db)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: store(app) is not None, what="the store to open")
            await pilot.press("ctrl+o")
            options = list_options(app)

            def titles() -> list[str]:
                return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]

            with Store(db) as other:  # another window saves a conversation
                conv = other.create_conversation("Planned in the other window")
                other.add_message(conv, "user", "hello from there")
            await wait_for(pilot, lambda: any("Planned in the other window" in t for t in titles()),
                           what="the other window's conversation in the list")


def seed_conversation(db: Path) -> int:
    """A stored conversation of one exchange, as another window left it."""
    with Store(db) as store:
        conv = store.create_conversation("Shared chat", "sim-model", "http://127.0.0.1:1/v1", {})
        store.add_message(conv, "user", "first question")
        store.add_message(conv, "assistant", "first answer")
        return conv


async def test_a_conversation_open_in_two_windows_shows_what_the_other_one_adds(tmp_path: Path) -> None:
    db = tmp_path / "chats.sqlite3"
    conv = seed_conversation(db)
    with running_simulator(reply_text="answered here") as sim:
        app = history_app(sim, db)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await wait_for(pilot, lambda: [m.content for m in messages(app)]
                           == ["first question", "first answer"], what="the shared conversation")
            with Store(db) as other:  # the other window asks and gets an answer in the same conversation
                other.add_message(conv, "user", "asked in the other window")
                other.add_message(conv, "assistant", "answered there")
            await wait_for(pilot, lambda: [m.content for m in messages(app)][-2:]
                           == ["asked in the other window", "answered there"], what="the other window's turn")
            assert conversation(app).db_id == conv
            await wait_for(pilot, lambda: len(message_views(app)) == 4, what="all four on screen")
            send(pilot, "and here?")
            await wait_for(pilot, lambda: not is_streaming(app) and messages(app)[-1].content
                           == "answered here", what="this window's reply")
            sent = [m["content"] for m in chat_requests(sim)[-1]["messages"] if m["role"] != "system"]
            assert sent == ["first question", "first answer", "asked in the other window", "answered there",
                            "and here?"]
    with Store(db) as store:
        assert [m.content for m in store.load_messages(conv)] == [
            "first question", "first answer", "asked in the other window", "answered there", "and here?",
            "answered here"]


async def test_a_conversation_deleted_in_another_window_is_saved_again_here(tmp_path: Path) -> None:
    db = tmp_path / "chats.sqlite3"
    conv = seed_conversation(db)
    with running_simulator() as sim:
        app = history_app(sim, db)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await wait_for(pilot, lambda: conversation(app).db_id == conv, what="the shared conversation")
            with Store(db) as other:
                other.delete(conv)
            await wait_for(pilot, lambda: any("deleted in another zorac-tui window" in t for t in toasts(app)),
                           what="the notice")
            await store_caught_up(app)  # the writes queued before this one are done
            assert [m.content for m in messages(app)] == ["first question", "first answer"]
            again = conversation(app).db_id
            assert again is not None and all(m.db_id is not None for m in messages(app))
    with Store(db) as store:  # (SQLite may give the new row the deleted one's id)
        assert [m.content for m in store.load_messages(again)] == ["first question", "first answer"]
        assert [c.title for c in store.list_conversations()] == ["Shared chat"]
