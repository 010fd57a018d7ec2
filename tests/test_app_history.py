"""Conversations that last, in the running app: saved as they happen, listed, filtered, opened,
renamed, deleted, continued, imported from upstream Zorac, recovered after a crash, paged in lazily,
and a store that cannot be written. Plus `zorac-tui --list` and `export`.

Every app test drives the real ZoracApp with Pilot against the simulator over HTTP on 127.0.0.1,
with a real SQLite file; the database is checked through a second, independent Store on the same
file. The only stand-in is FakePynvml (no GPU here).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from appdriver import (
    SIZE,
    Status,
    ask,
    assistant_messages,
    chat_requests,
    connected,
    conversation,
    conversation_list,
    conversations,
    default_db,
    footer_text,
    is_streaming,
    list_filter,
    list_options,
    live_reply,
    make_app,
    message_views,
    messages,
    notices,
    open_conversation,
    pane,
    press_now,
    running_simulator,
    screen_text,
    send,
    shown,
    store,
    store_ready,
    toasts,
    type_text,
    wait_for,
    workers_running,
)
from textual.widgets import Input

from zorac_tui import cli
from zorac_tui.store import Store
from zorac_tui.ui import persistence as persist_flow
from zorac_tui.ui.app import ZoracApp
from zorac_tui.ui.conversation_list import MAX_SHOWN, Confirm, ConversationList, TextPrompt
from zorac_tui.ui.transcript import INITIAL_TAIL

TESTS = Path(__file__).resolve().parent
CRASH_CHILD = TESTS / "store_crash_child.py"
UPSTREAM_SESSION = TESTS / "fixtures" / "upstream" / "session.json"


# ------------------------------------------------------------------------------ helpers


@pytest.fixture(autouse=True)
def no_looks_at_other_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about this window alone: its looks at what other windows committed (every 2 s;
    test_two_instances.py tests them) are put off. The first look always refreshes an open list, which drops
    the highlight a test is moving with the keyboard."""
    monkeypatch.setattr(persist_flow, "FOREIGN_POLL", 3600.0)


def history_app(sim: Any, db: Path | None, **kwargs: Any) -> ZoracApp:
    """The real app on the simulator, saving to `db`."""
    return make_app(sim, store_path=db, **kwargs)


def seed(db: Path, title: str, texts: list[str], **stats: Any) -> int:
    """A stored conversation with alternating user/assistant `texts`, written before the app starts."""
    with Store(db) as store:
        conv = store.create_conversation(title, "sim-model", "http://127.0.0.1:1/v1", {"temperature": 0.2})
        for i, text in enumerate(texts):
            store.add_message(conv, "user" if i % 2 == 0 else "assistant", text)
        return conv


def listed(app: ZoracApp) -> list[int]:
    """Conversation ids the list pane currently shows, top to bottom."""
    options = list_options(app)
    found = (options.get_option_at_index(i) for i in range(options.option_count))
    return [int(o.id) for o in found if o.id is not None]


def db_rows(db: Path, conversation_id: int) -> list[Any]:
    """Messages of a conversation as a second Store on the same file sees them."""
    with Store(db) as other:
        return other.load_messages(conversation_id)


def db_conversations(db: Path) -> dict[int, str]:
    """id → title of every stored conversation, seen by a second Store."""
    with Store(db) as other:
        return {r.id: r.title for r in other.list_conversations()}


async def show_list(pilot: Any, count: int) -> ConversationList:
    """Ctrl+O, then wait until the list shows `count` conversations."""
    app = pilot.app
    await pilot.press("ctrl+o")
    listing = conversation_list(app)
    await wait_for(pilot, lambda: listing.display and len(listed(app)) == count, what=f"{count} listed")
    return listing


async def highlight(pilot: Any, conversation_id: int) -> None:
    """Move from the filter into the list and down to `conversation_id` with the keyboard."""
    app = pilot.app
    options = list_options(app)
    if app.focused is not options:  # from the filter (a closed dialog gives focus back to the list)
        assert app.focused is list_filter(app), app.focused
        await pilot.press("tab")
    await wait_for(pilot, lambda: app.focused is options, what="the list to take focus")
    await wait_for(pilot, lambda: not workers_running(app, "conv-list"), what="the list to be refreshed")
    target = listed(app).index(conversation_id)
    for _ in range(options.option_count + 2):  # one key at a time, each waited for until the highlight moved
        now = options.highlighted
        if now == target:
            return
        press_now(app, "down" if now is None or now < target else "up")
        await wait_for(pilot, lambda n=now: options.highlighted != n, what="the highlight to move")
    raise AssertionError(f"could not highlight {conversation_id}: at {options.highlighted}, listed {listed(app)}")


# ------------------------------------------------------------------------------ saved as it happens


async def test_messages_are_saved_as_they_happen(tmp_path: Path) -> None:
    db = tmp_path / "chats.sqlite3"
    with running_simulator(rate=25.0, ttft=0.05, answer_tokens=400) as sim:  # a 16 s reply
        app = history_app(sim, db)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await store_ready(pilot)
            send(pilot, "Explain paged attention slowly, please.")
            await wait_for(pilot, lambda: conversation(app).db_id is not None, what="a conversation row")
            conv = conversation(app).db_id

            def user_row() -> Any:
                return next((m for m in db_rows(db, conv) if m.role == "user"), None)

            row = await wait_for(pilot, user_row, what="the user message in the database")
            assert row.content == "Explain paged attention slowly, please."
            # saved before the reply finished (the user row is written before the reply even starts)
            assert not [m for m in assistant_messages(app) if m.status is not Status.STREAMING]

            def reply_row(longer_than: int) -> Any:
                r = next((m for m in db_rows(db, conv) if m.role == "assistant"), None)
                return r if r is not None and len(r.content) > longer_than else None

            first = await wait_for(pilot, lambda: reply_row(0), what="a first checkpoint")
            assert first.status == "streaming"
            grown = await wait_for(pilot, lambda: reply_row(len(first.content)), what="the checkpointed reply to grow")
            assert grown.status == "streaming" and grown.content.startswith(first.content)
            assert is_streaming(app)
            live = live_reply(app).message.content
            assert live.startswith(grown.content)

            await pilot.press("escape")  # cancel: the partial reply stays, saved as cancelled
            final = await wait_for(pilot, lambda: next((m for m in db_rows(db, conv) if m.role == "assistant"
                                                        and m.status != "streaming"), None),
                                   what="the cancelled reply's final row")
            assert final.status == "cancelled"
            assert final.content == messages(app)[-1].content
            assert len(final.content) >= len(grown.content)


# ------------------------------------------------------------------------------ new, list, open


async def test_ctrl_n_starts_a_new_conversation_and_keeps_the_old_one(tmp_path: Path) -> None:
    db = tmp_path / "chats.sqlite3"
    with running_simulator(reply_text="first answer") as sim:
        app = history_app(sim, db)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await store_ready(pilot)
            reply = await ask(pilot, "First conversation, first question")
            assert reply.status is Status.COMPLETE
            old = conversation(app)
            first = old.db_id
            assert first is not None and message_views(app)

            await pilot.press("ctrl+n")
            await wait_for(pilot, lambda: conversation(app) is not old, what="a new conversation")
            assert conversation(app).db_id is None and messages(app) == [] and not message_views(app)
            assert old in conversations(app)  # kept, as it was
            assert [m.content for m in old.messages] == ["First conversation, first question", "first answer"]
            await wait_for(pilot, lambda: "first answer" not in screen_text(app), what="the old reply off the screen")
            second_reply = await ask(pilot, "Second conversation starts here")
            assert second_reply.status is Status.COMPLETE
            assert [m["content"] for m in chat_requests(sim)[-1]["messages"][1:]] == ["Second conversation starts here"]
            second = conversation(app).db_id
            assert second is not None and second != first
            assert shown(app)[0] == "Second conversation starts here"

            listing = await show_list(pilot, 2)
            assert listed(app) == [second, first]  # newest first
            assert [r.title for r in listing.rows] == ["Second conversation starts here",
                                                       "First conversation, first question"]
    stored = db_conversations(db)
    assert set(stored) == {first, second}
    assert [m.content for m in db_rows(db, first)][0] == "First conversation, first question"
    assert [m.role for m in db_rows(db, first)] == ["user", "assistant"]
    assert all(m.status == "complete" for m in db_rows(db, first))


async def test_list_filters_as_you_type_and_enter_opens(tmp_path: Path) -> None:
    db = tmp_path / "chats.sqlite3"
    rust = seed(db, "Rust lifetimes", ["What is 'a?", "A lifetime parameter."])
    tea = seed(db, "Haiku about tea", ["Write a haiku about tea", "Steam curls from the cup"])
    gpu = seed(db, "GPU memory 92%", ["Why 92%?", "Room for the KV cache.", "Thanks", "You're welcome."])
    with running_simulator(answer_tokens=10) as sim:
        app = history_app(sim, db)
        async with app.run_test(size=SIZE) as pilot:
            await store_ready(pilot)
            await show_list(pilot, 3)
            assert listed(app) == [gpu, tea, rust]
            field = list_filter(app)
            assert app.focused is field

            await type_text(pilot, "HAIKU", into=field)
            await wait_for(pilot, lambda: listed(app) == [tea], what="the filter to leave the haiku")
            await type_text(pilot, *["backspace"] * 5, into=field)
            await wait_for(pilot, lambda: len(listed(app)) == 3, what="an empty filter to show all again")
            await type_text(pilot, "92%", into=field)
            await wait_for(pilot, lambda: listed(app) == [gpu], what="the filter to leave the GPU chat")
            await pilot.press("enter")
            await wait_for(pilot, lambda: conversation(app).db_id == gpu, what="the GPU chat to open")
            await wait_for(pilot, lambda: shown(app) == ["Why 92%?", "Room for the KV cache.", "Thanks",
                                                         "You're welcome."], what="its messages on screen")
            assert conversation(app).title == "GPU memory 92%"

            # a second conversation opened from the list itself (arrow keys and Enter); opening
            # focused the prompt, so click back into the filter first
            assert app.focused is not field
            await pilot.click("#conv-filter")
            await pilot.press("end")
            await type_text(pilot, *["backspace"] * 3, into=field)
            await wait_for(pilot, lambda: len(listed(app)) == 3, what="all three listed")
            await highlight(pilot, rust)
            await pilot.press("enter")
            await wait_for(pilot, lambda: shown(app) == ["What is 'a?", "A lifetime parameter."],
                           what="the Rust chat on screen")
            assert conversation(app).db_id == rust

            # and it continues where it was: a new exchange is stored in the same conversation
            await connected(pilot)
            await ask(pilot, "And 'static?")
            assert [m.content for m in db_rows(db, rust)][:3] == ["What is 'a?", "A lifetime parameter.",
                                                                   "And 'static?"]
            assert len(db_rows(db, rust)) == 4


async def test_a_long_list_shows_the_newest_and_filtering_reaches_the_rest(tmp_path: Path) -> None:
    db = tmp_path / "chats.sqlite3"
    total = MAX_SHOWN + 25
    with Store(db) as store:
        ids = [store.create_conversation(f"chat {i:04d}" + (" — the oldest one" if i == 0 else ""))
               for i in range(total)]
        store.add_message(ids[0], "user", "from long ago")
        store.add_message(ids[0], "assistant", "still here")
        for conv in ids[1:]:  # every other conversation is more recent than the oldest one
            store.add_message(conv, "user", "hi")
    with running_simulator() as sim:
        app = history_app(sim, db)
        async with app.run_test(size=SIZE) as pilot:
            await store_ready(pilot)
            listing = await show_list(pilot, MAX_SHOWN)
            assert len(listing.rows) == total
            assert listed(app) == ids[::-1][:MAX_SHOWN]
            options = list_options(app)
            more = options.get_option_at_index(options.option_count - 1)
            assert more.disabled and "25 more" in str(more.prompt)
            await type_text(pilot, "OLDEST", into=list_filter(app))
            await wait_for(pilot, lambda: listed(app) == [ids[0]], what="the filter to reach the oldest")
            await pilot.press("enter")
            await wait_for(pilot, lambda: shown(app) == ["from long ago", "still here"], what="the oldest opened")


async def test_rename_with_r_and_delete_with_d(tmp_path: Path) -> None:
    db = tmp_path / "chats.sqlite3"
    keep = seed(db, "Keep me", ["one", "two"])
    doomed = seed(db, "Delete me", ["three", "four", "five"])
    with running_simulator(answer_tokens=10) as sim:
        app = history_app(sim, db)
        async with app.run_test(size=SIZE) as pilot:
            await store_ready(pilot)
            listing = await show_list(pilot, 2)
            await highlight(pilot, keep)

            await pilot.press("r")
            prompt = await wait_for(pilot, lambda: isinstance(app.screen, TextPrompt) and app.screen,
                                    what="the rename prompt")
            field = prompt.query_one(Input)
            assert field.value == "Keep me"
            while field.value:  # (the first backspace may clear a selection of the whole title)
                await type_text(pilot, "backspace", into=field)
            await type_text(pilot, "Kept & renamed", into=field)
            await pilot.press("enter")
            await wait_for(pilot, lambda: db_conversations(db)[keep] == "Kept & renamed", what="the new title saved")
            await wait_for(pilot, lambda: any(r.id == keep and r.title == "Kept & renamed" for r in listing.rows),
                           what="the list to show the new title")

            # Esc in the rename prompt changes nothing
            await highlight(pilot, keep)
            await pilot.press("r")
            await wait_for(pilot, lambda: isinstance(app.screen, TextPrompt), what="the rename prompt")
            await pilot.press("backspace", "escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, TextPrompt), what="the prompt to close")
            assert db_conversations(db)[keep] == "Kept & renamed"

            # d, then n: nothing is deleted
            await highlight(pilot, doomed)
            await pilot.press("d")
            confirm = await wait_for(pilot, lambda: isinstance(app.screen, Confirm) and app.screen,
                                     what="the delete question")
            assert "Delete me" in confirm.question and "3 messages" in confirm.question
            await pilot.press("n")
            await wait_for(pilot, lambda: not isinstance(app.screen, Confirm), what="the question to close")
            await pilot.pause(0.2)  # time for a deletion that must not happen
            assert set(db_conversations(db)) == {keep, doomed}
            assert set(listed(app)) == {keep, doomed}

            # d, then y: gone from the file and the list, messages too
            await highlight(pilot, doomed)
            await pilot.press("d")
            await wait_for(pilot, lambda: isinstance(app.screen, Confirm), what="the delete question")
            await pilot.press("y")
            await wait_for(pilot, lambda: set(db_conversations(db)) == {keep}, what="the deletion")
            await wait_for(pilot, lambda: listed(app) == [keep], what="the list without it")
            assert db_rows(db, doomed) == []
            assert [m.content for m in db_rows(db, keep)] == ["one", "two"]


async def test_deleting_the_open_conversation_starts_a_new_one(tmp_path: Path) -> None:
    db = tmp_path / "chats.sqlite3"
    other = seed(db, "Other", ["x", "y"])
    with running_simulator(answer_tokens=10) as sim:
        app = history_app(sim, db)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await store_ready(pilot)
            await ask(pilot, "This one will be deleted")
            current = conversation(app).db_id
            await show_list(pilot, 2)
            await highlight(pilot, current)
            await pilot.press("d")
            await wait_for(pilot, lambda: isinstance(app.screen, Confirm), what="the delete question")
            await pilot.press("y")
            await wait_for(pilot, lambda: set(db_conversations(db)) == {other}, what="the deletion")
            await wait_for(pilot, lambda: conversation(app).db_id is None and not shown(app),
                           what="a fresh conversation on screen")
            await wait_for(pilot, lambda: listed(app) == [other], what="the list without it")


# ------------------------------------------------------------------------------ reopening


async def test_continue_last_reopens_the_last_conversation_in_a_fresh_app(tmp_path: Path) -> None:
    db = tmp_path / "chats.sqlite3"
    older = seed(db, "An older chat", ["old question", "old answer"])
    with running_simulator(answer_tokens=12) as sim:
        first = history_app(sim, db)
        async with first.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await store_ready(pilot)
            reply = await ask(pilot, "Remember this conversation")
            conv = conversation(first).db_id
            reply_text = reply.content
            assert reply_text and conv != older

        # a fresh app without --continue starts empty …
        plain = history_app(sim, db)
        async with plain.run_test(size=SIZE) as pilot:
            await store_ready(pilot)
            await pilot.pause(0.2)  # time for a conversation that must not open
            assert conversation(plain).db_id is None and shown(plain) == []

        # … with it, the last conversation is back, and the next message goes into it
        again = history_app(sim, db, continue_last=True)
        async with again.run_test(size=SIZE) as pilot:
            await store_ready(pilot)
            await wait_for(pilot, lambda: conversation(again).db_id == conv, what="the last conversation")
            await wait_for(pilot, lambda: shown(again) == ["Remember this conversation", reply_text],
                           what="its messages on screen")
            assert conversation(again).title == "Remember this conversation"
            await connected(pilot)
            await ask(pilot, "Still here?")
    assert [m.content for m in db_rows(db, conv)][:3] == ["Remember this conversation", reply_text, "Still here?"]
    assert len(db_rows(db, older)) == 2


async def test_continue_with_an_empty_store_says_so(tmp_path: Path) -> None:
    with running_simulator() as sim:
        app = history_app(sim, tmp_path / "empty.sqlite3", continue_last=True)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await store_ready(pilot)
            await wait_for(pilot, lambda: any("No saved conversation" in t for t in toasts(app)),
                           what="the nothing-to-continue notice")
            assert conversation(app).db_id is None


def upstream_home(tmp_path: Path) -> Path:
    """A home directory where the upstream Zorac client left its session."""
    home = tmp_path / "home"
    (home / ".zorac").mkdir(parents=True)
    shutil.copy(UPSTREAM_SESSION, home / ".zorac" / "session.json")
    return home


async def test_first_run_offers_the_upstream_import_once(tmp_path: Path) -> None:
    db = tmp_path / "chats.sqlite3"
    home = upstream_home(tmp_path)
    source = json.loads(UPSTREAM_SESSION.read_text())
    chat = [m["content"] for m in source if m["role"] in ("user", "assistant")]
    with running_simulator() as sim:
        app = history_app(sim, db, offer_import_from=home)
        async with app.run_test(size=SIZE) as pilot:
            await store_ready(pilot)
            confirm = await wait_for(pilot, lambda: isinstance(app.screen, Confirm) and app.screen,
                                     what="the import question")
            assert str(home / ".zorac" / "session.json") in confirm.question
            await pilot.press("y")
            await wait_for(pilot, lambda: conversation(app).db_id is not None, what="the import to open")
            await wait_for(pilot, lambda: [c for c in shown(app)] == chat, what="the imported chat on screen")
            assert conversation(app).title.startswith("Imported: ")
            imported = conversation(app).db_id
            summaries = [m for m in messages(app) if m.role == "summary"]
            assert len(summaries) == 1 and "Mistral-Small-24B AWQ" in summaries[0].content
        assert list(db_conversations(db)) == [imported]
        assert [m.content for m in db_rows(db, imported) if m.role != "summary"] == chat

        # the next start does not ask again, even though the session file is still there
        second = history_app(sim, db, offer_import_from=home)
        async with second.run_test(size=SIZE) as pilot:
            await store_ready(pilot)
            await wait_for(pilot, lambda: not workers_running(second, "import"), what="the import offer considered")
            await pilot.pause(0.3)  # time for a question that must not come
            assert not isinstance(second.screen, Confirm)
        assert list(db_conversations(db)) == [imported]
    assert (home / ".zorac" / "session.json").read_bytes() == UPSTREAM_SESSION.read_bytes()


async def test_declining_the_import_imports_nothing_and_is_remembered(tmp_path: Path) -> None:
    db = tmp_path / "chats.sqlite3"
    home = upstream_home(tmp_path)
    with running_simulator() as sim:
        app = history_app(sim, db, offer_import_from=home)
        async with app.run_test(size=SIZE) as pilot:
            await store_ready(pilot)
            await wait_for(pilot, lambda: isinstance(app.screen, Confirm), what="the import question")
            await pilot.press("n")
            await wait_for(pilot, lambda: not isinstance(app.screen, Confirm), what="the question to close")
            await pilot.pause(0.2)  # time for an import that must not happen
            assert conversation(app).db_id is None
        second = history_app(sim, db, offer_import_from=home)
        async with second.run_test(size=SIZE) as pilot:
            await store_ready(pilot)
            await wait_for(pilot, lambda: not workers_running(second, "import"), what="the import offer considered")
            await pilot.pause(0.3)  # time for a question that must not come
            assert not isinstance(second.screen, Confirm)
    assert db_conversations(db) == {}


def crash_mid_reply(db: Path) -> tuple[int, int]:
    """Run tests/store_crash_child.py on `db` and SIGKILL it mid-reply; (reply id, last announced length)."""
    child = subprocess.Popen([sys.executable, str(CRASH_CHILD), str(db), "0.1"], stdout=subprocess.PIPE, text=True)
    try:
        reply_id = int(child.stdout.readline().split()[1])
        lengths = [int(child.stdout.readline()) for _ in range(3)]
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return reply_id, lengths[-1]


async def test_a_reply_cut_by_kill_9_shows_as_interrupted(tmp_path: Path) -> None:
    db = tmp_path / "chats.sqlite3"
    reply_id, announced = crash_mid_reply(db)
    with Store(db) as other:
        assert other.get_message(reply_id).status == "streaming"  # as the dead process left it
    with running_simulator() as sim:
        app = history_app(sim, db, continue_last=True)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await store_ready(pilot)
            await wait_for(pilot, lambda: len(shown(app)) == 2, what="the crashed conversation on screen")
            last = messages(app)[-1]
            assert last.db_id == reply_id and last.status is Status.INTERRUPTED
            assert len(last.content) >= announced
            assert "interrupted" in footer_text(app, last)
            await wait_for(pilot, lambda: any("interrupted" in t for t in toasts(app)), what="the interrupted notice")
    with Store(db) as other:
        assert other.get_message(reply_id).status == "interrupted"
        assert other.integrity_ok()


async def test_a_1000_message_conversation_mounts_its_tail_then_pages_in_older(tmp_path: Path) -> None:
    db = tmp_path / "chats.sqlite3"
    texts = [f"message number {i}" for i in range(1000)]
    conv = seed(db, "A very long chat", texts)
    with running_simulator() as sim:
        app = history_app(sim, db)
        async with app.run_test(size=SIZE) as pilot:
            await store_ready(pilot)
            await open_conversation(app, conv)
            await wait_for(pilot, lambda: shown(app) == texts[-INITIAL_TAIL:], what="the tail on screen")
            assert len(messages(app)) == 1000  # all loaded, few mounted
            assert len(message_views(app)) == INITIAL_TAIL
            assert f"{1000 - INITIAL_TAIL} earlier messages" in notices(app)[0]
            await wait_for(pilot, lambda: pane(app).scroll_y > 0 and pane(app).scroll_y == pane(app).max_scroll_y,
                           what="the pane to sit at the bottom")

            pane(app).focus()
            await pilot.press("home")  # to the top: the next older batch mounts above
            await wait_for(pilot, lambda: len(message_views(app)) == 2 * INITIAL_TAIL,
                           what="an older batch mounted")
            assert shown(app) == texts[-2 * INITIAL_TAIL:]
            await wait_for(pilot, lambda: f"{1000 - 2 * INITIAL_TAIL} earlier messages"
                           in notices(app)[0], what="the notice to count down")

            # scrolling away and back to the top pages in another batch
            await pilot.press("end")
            await wait_for(pilot, lambda: pane(app).scroll_y > 0, what="the pane to scroll down")
            await pilot.press("home")
            await wait_for(pilot, lambda: len(message_views(app)) == 3 * INITIAL_TAIL,
                           what="a third batch mounted")
            assert shown(app) == texts[-3 * INITIAL_TAIL:]


async def test_a_store_that_cannot_be_written_says_so_once_and_chat_still_works(tmp_path: Path) -> None:
    # a regular file where a directory should be; the "[" + "/archive]" in the path would be a
    # stray closing tag if the notice were parsed as markup
    blocker = tmp_path / "chats [" / "archive]" / "not-a-directory"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("a regular file where the data directory should be")
    with running_simulator(answer_tokens=12) as sim:
        app = history_app(sim, blocker / "conversations.sqlite3")
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await connected(pilot)
            notices = await wait_for(pilot, lambda: [t for t in toasts(app) if "Not saved" in t],
                                     what="the not-saved notice")
            assert len(notices) == 1 and "\n" not in notices[0].strip()
            assert str(blocker) in notices[0]
            assert store(app) is None
            reply = await ask(pilot, "Does chatting still work?")
            assert reply.status is Status.COMPLETE and reply.content
            reply2 = await ask(pilot, "And a second time?")
            assert reply2.status is Status.COMPLETE
            assert shown(app)[0] == "Does chatting still work?" and len(shown(app)) == 4
            await pilot.press("ctrl+o")
            await wait_for(pilot, lambda: sum("Not saved" in t or str(blocker) in t for t in toasts(app)) >= 2,
                           what="the list to say why it is empty")
    assert blocker.read_text() == "a regular file where the data directory should be"


# ------------------------------------------------------------------------------ command line


def test_cli_list_and_export(capsys: Any, tmp_path: Path) -> None:
    assert cli.main(["--list"]) == 0
    assert capsys.readouterr().out.strip() == "No saved conversations yet."

    db = default_db()  # inside the test's own ZORAC_HOME
    first = seed(db, "Quantization notes", ["What is AWQ?", "Activation-aware weight quantization."])
    second = seed(db, "Tea haiku", ["A haiku please", "Steam curls", "Another", "Leaves unfold"])
    with Store(db) as store:
        store.add_message(second, "assistant", "", status="streaming")  # counted in the list too

    assert cli.main(["--list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    assert out[0].split()[0] == str(second) and out[0].endswith("Tea haiku") and "5 msgs" in out[0]
    assert out[1].split()[0] == str(first) and out[1].endswith("Quantization notes") and "2 msgs" in out[1]

    assert cli.main(["export", str(first), "--format", "md"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("# Quantization notes\n")
    assert "What is AWQ?" in md and "Activation-aware weight quantization." in md

    target = tmp_path / "out.json"
    assert cli.main(["export", str(second), "--format", "json", "-o", str(target)]) == 0
    assert capsys.readouterr().out == ""
    data = json.loads(target.read_text())
    assert data["format"] == "zorac-tui/1" and data["conversation"]["title"] == "Tea haiku"
    assert [m["content"] for m in data["messages"]][:4] == ["A haiku please", "Steam curls", "Another",
                                                             "Leaves unfold"]

    assert cli.main(["export", "999", "--format", "md"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "999" in lines[0]

    assert cli.main(["export", str(first), "-o", str(tmp_path / "no-such-dir" / "x.md")]) == 1
    captured = capsys.readouterr()
    assert len(captured.err.strip().splitlines()) == 1 and "no-such-dir" in captured.err
