"""The hardening fault matrix: one test per fault, each against the REAL app over real HTTP on 127.0.0.1.

Every row checks the same three things:

* the app is still up (it is running and a key typed into the prompt appears there);
* it said what happened in exactly one expected line (a reply footer, a notice or a toast);
* no message was lost: every message is still in the conversation in memory and, when the
  database is on, in the database as a second, independent connection reads it.

The servers are the project's simulator (in a thread, or in a child process that can be killed) and,
for byte-level faults the simulator cannot produce (an SSE body that ends early, bytes that are not
UTF-8), ``tests/replay.py`` serving hand-made vLLM chunks. The only stand-in is FakePynvml (hardware).

Rows already covered elsewhere (not repeated here, listed in the README table):
``tests/test_app_errors.py`` — server absent at start then appearing, dropped connection, 400 context,
401, 404 model, 500, malformed JSON chunk, llama.cpp overflow; ``tests/test_app_chat.py`` —
markup-looking text from the model and the user; ``tests/test_app_history.py`` — a data dir that is a
regular file; ``tests/test_store.py`` — a full disk and a read-only dir at the Store level.
"""

from __future__ import annotations

import json
import logging
import os
import pty
import re
import select
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from appdriver import (
    SIZE,
    answered_by,
    ask,
    budget,
    client,
    connected,
    conversation,
    default_db,
    fast_config,
    footer_text,
    from_store,
    is_streaming,
    list_options,
    live_reply,
    make_app,
    messages,
    meter,
    notices,
    press_now,
    prompt,
    resize_now,
    running_simulator,
    screen_text,
    set_prompt,
    settings,
    settled_reply,
    store,
    store_caught_up,
    store_error,
    toasts,
    type_text,
    wait_for,
    wait_reply,
)
from replay import SSE_TYPE, ReplayServer, Reply, fixture_bytes, raw_reply
from textual import events

from zorac_tui import cli, config, logs, paths
from zorac_tui.core.conversation import Message, Status
from zorac_tui.core.text import displayable
from zorac_tui.demo import Faults
from zorac_tui.demo import tokens as sim_tokens
from zorac_tui.server.client import ChatClient
from zorac_tui.store import Store, export_json, export_markdown
from zorac_tui.ui.app import ZoracApp

TESTS = Path(__file__).resolve().parent
SECRET = "sk-test-SECRET-1234"


# ------------------------------------------------------------------------------ helpers


async def still_up(pilot: Any) -> None:
    """The app runs and answers: a key typed into the prompt shows up there (then the prompt is emptied)."""
    app = pilot.app
    assert app.is_running
    box = prompt(app)
    before = box.text
    box.move_cursor(box.document.end)
    await type_text(pilot, "z")
    assert box.text == before + "z"
    box.load_text(before)
    assert app.is_running


def footer(app: ZoracApp, message: Message) -> str:
    """The one-line footer under a settled message, checked to be a single line."""
    text = footer_text(app, message)
    assert text and "\n" not in text, repr(text)
    return text


def one_line(text: str | None) -> str:
    """`text`, checked to be non-empty and a single line."""
    assert text and "\n" not in text, repr(text)
    return text


def in_memory(app: ZoracApp) -> list[tuple[str, str, str]]:
    """(role, content, status) of every message of the open conversation."""
    return [(m.role, m.content, m.status.value) for m in messages(app)]


async def stored(app: ZoracApp, db: Path | None = None) -> list[tuple[str, str, str]]:
    """(role, content, status) of the open conversation as a second connection to the database reads it."""
    await store_caught_up(app)  # the store thread runs in order: every earlier write is done
    conversation_id = conversation(app).db_id
    assert conversation_id is not None, "the conversation was never saved"
    with Store(db or default_db()) as other:
        return [(r.role, r.content, r.status) for r in other.load_messages(conversation_id)]


async def nothing_lost(app: ZoracApp, users: list[str], *, db: Path | None = None, persisted: bool = True) -> None:
    """Every user message is in memory, each followed by its reply; the database holds the same."""
    mine = in_memory(app)
    assert [c for r, c, _ in mine if r == "user"] == users, mine
    assert all(r == "assistant" for r, _, _ in mine[1::2]), mine
    if persisted:
        assert await stored(app, db) == mine


def vllm_chunk(content: str | None = None, finish: str | None = None, completion: int | None = None) -> bytes:
    """One vLLM 0.32 stream chunk as SSE bytes (with continuous usage when `completion` is given)."""
    chunk: dict[str, Any] = {
        "id": "chatcmpl-fault", "object": "chat.completion.chunk", "created": 1795439149, "model": "smollm2",
        "choices": [{"index": 0, "delta": {} if content is None else {"content": content},
                     "logprobs": None, "finish_reason": finish}],
    }
    if completion is not None:
        chunk["usage"] = {"prompt_tokens": 19, "total_tokens": 19 + completion, "completion_tokens": completion}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def replay_vllm(server: ReplayServer, chat_body: bytes) -> None:
    """Serve the captured vLLM 0.32 endpoints, and `chat_body` (raw SSE bytes) for every chat request."""
    server.set("GET", "/v1/models", raw_reply("vllm", "models.json"))
    server.set("GET", "/version", raw_reply("vllm", "version.json"))
    server.set("GET", "/health", Reply(body=b"", content_type="text/plain"))
    server.set("GET", "/metrics", Reply(body=fixture_bytes("vllm", "metrics_idle.txt"),
                                        content_type="text/plain; version=0.0.4; charset=utf-8"))
    server.set("POST", "/tokenize", raw_reply("vllm", "tokenize_messages.json"))
    server.set("POST", "/v1/chat/completions", Reply(body=chat_body, content_type=SSE_TYPE))


# ------------------------------------------------------------------------------ the server


async def test_server_killed_mid_reply_keeps_the_partial_reply() -> None:
    """SIGKILL of the server process (a real child process) while it streams: DROPPED, partial text kept."""
    with running_simulator(process=True, config=fast_config(rate=200.0, answer_tokens=4000)) as sim:
        app = make_app(sim)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            set_prompt(app, "tell me everything")
            press_now(app, "enter")
            live = await wait_for(pilot, lambda: live_reply(app), what="live reply")
            await wait_for(pilot, lambda: len(live.message.content) > 40, what="some streamed text")
            os.kill(sim._proc.pid, signal.SIGKILL)
            reply = await wait_reply(pilot, "tell me everything")
            assert reply.status is Status.ERROR and len(reply.content) > 40
            n = reply.stats.completion_tokens
            assert n and not reply.stats.estimated
            expected = (f"The connection to the server was lost mid-reply after {n} tokens — the partial "
                        "reply is kept · Ctrl+R retries")
            assert one_line(reply.error) == expected
            assert footer(app, reply) == f"{reply.stats.line()} · {answered_by(reply)} · {expected}"
            await nothing_lost(app, ["tell me everything"])
            await still_up(pilot)


async def test_429_shows_the_servers_own_words_and_retry_works() -> None:
    """429 with a body: the server's message and a hint in one line; Ctrl+R once the server has room."""
    body = {"error": {"message": "Too many requests: 12 waiting, retry in 3 s", "type": "RateLimitError",
                      "param": None, "code": 429}}
    with running_simulator(fast_config(answer_tokens=20)) as sim:
        app = make_app(sim)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            sim.simulator.config.faults = Faults(http_status=429, http_body=body)
            reply = await ask(pilot, "busy?")
            expected = ("HTTP 429: Too many requests: 12 waiting, retry in 3 s — the server is busy; try again "
                        "in a moment · Ctrl+R retries")
            assert reply.status is Status.ERROR and one_line(reply.error) == expected
            assert footer(app, reply) == f"{answered_by(reply)} · {expected}"
            await nothing_lost(app, ["busy?"])
            await still_up(pilot)
            sim.simulator.config.faults = Faults()
            await pilot.press("ctrl+r")
            retried = await wait_for(pilot, lambda: (r := settled_reply(app, "busy?")) is not reply and r,
                                     what="the retried reply")
            assert retried.status is Status.COMPLETE and retried.content
            await nothing_lost(app, ["busy?"])


async def test_a_60_s_stall_is_reported_after_the_stall_timeout() -> None:
    """The server stops sending for 60 s after 3 tokens (it really does: stall_seconds=60).

    The row is "a 60 s stall"; the app's stall_timeout (30 s by default) is scaled to 1 s so the test does
    not wait: the app says so after 1 s without tokens, keeps the 3 tokens, and stays up; once the server
    answers again, Ctrl+R brings the whole reply. (1 s, not less: a busy machine may well leave a gap of a
    few hundred ms between two of the first tokens, which must not count as the stall.)
    """
    with running_simulator(fast_config(answer_tokens=40, faults=Faults(stall_at_token=3, stall_seconds=60.0))) as sim:
        app = make_app(sim, stall_timeout=1.0)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            reply = await ask(pilot, "are you stuck?")
            expected = ("No tokens for 1 s — the server may be overloaded or stuck; stopped after 3 tokens, "
                        "the partial reply is kept · Ctrl+R retries")
            assert reply.status is Status.ERROR and one_line(reply.error) == expected
            assert reply.content and reply.stats.completion_tokens == 3
            assert footer(app, reply) == f"{reply.stats.line()} · {answered_by(reply)} · {expected}"
            await nothing_lost(app, ["are you stuck?"])
            await still_up(pilot)
            sim.simulator.config.faults = Faults()
            await pilot.press("ctrl+r")
            retried = await wait_for(pilot, lambda: (r := settled_reply(app, "are you stuck?")) is not reply and r,
                                     what="the retried reply")
            assert retried.status is Status.COMPLETE and retried.stats.completion_tokens == 40
            await nothing_lost(app, ["are you stuck?"])


@pytest.mark.parametrize("cut", ["after-whole-events", "mid-event"])
async def test_truncated_sse_keeps_the_partial_reply(cut: str) -> None:
    """The body ends (cleanly, chunked EOF) without a finish_reason and without [DONE]; or inside an event.

    The simulator cannot end a stream early without cutting the connection (that row is the dropped one),
    so hand-made vLLM chunks are replayed byte for byte.
    """
    words = ["One", " two", " three", " four", " five"]
    body = vllm_chunk("", completion=0) + b"".join(vllm_chunk(w, completion=i + 1) for i, w in enumerate(words))
    if cut == "mid-event":
        body += vllm_chunk(" six", completion=6)[:45]  # the last event stops half-way through its JSON
    async with ReplayServer() as server:
        replay_vllm(server, body)
        app = make_app(server)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            reply = await ask(pilot, "count to ten")
            expected = ("The stream ended without a finish reason after 5 tokens — the reply may be incomplete"
                        " · Ctrl+R retries")
            assert reply.status is Status.ERROR and one_line(reply.error) == expected
            assert reply.content == "One two three four five"
            assert footer(app, reply) == f"{reply.stats.line()} · {answered_by(reply)} · {expected}"
            await nothing_lost(app, ["count to ten"])
            await still_up(pilot)


# ------------------------------------------------------------------------------ what the model sends


def no_control(text: str) -> bool:
    """No escape, NUL, BEL, CR or other C0/C1 control character (tab and newline are fine)."""
    return not any((ord(c) < 32 and c not in "\t\n") or 0x7F <= ord(c) <= 0x9F for c in text)


async def test_control_escape_and_nul_characters_never_reach_the_screen() -> None:
    """ANSI colour, an OSC title change, NUL, BEL and CR in a reply: shown harmlessly, nothing acted on."""
    nasty = "red \x1b[31mALERT\x1b[0m then \x1b]0;pwned\x07 nul \x00 bell \x07 cr \rend"
    with running_simulator(fast_config(reply_text=nasty)) as sim:
        app = make_app(sim)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            reply = await ask(pilot, "say something nasty")
            assert reply.status is Status.COMPLETE and reply.error is None
            # Each delta is cleaned as it arrives, a sequence split over several tokens held back until it
            # is whole: the streamed reply is exactly what cleaning the whole text at once gives.
            assert no_control(reply.content), repr(reply.content)
            assert reply.content == displayable(nasty) == "red ALERT then  nul \ufffd bell \ufffd cr end"
            screen = await wait_for(pilot, lambda: "ALERT" in (t := screen_text(app)) and "cr end" in t and t,
                                    what="the reply drawn")
            assert no_control(screen)
            n = sim_tokens.count(nasty) + 1  # the simulator's count: every piece plus the end-of-sequence token
            assert reply.stats.completion_tokens == n
            assert footer(app, reply) == f"{reply.stats.line()} · {answered_by(reply)}" and footer(app, reply).startswith(f"{n} tokens · ")
            await nothing_lost(app, ["say something nasty"])
            await still_up(pilot)


async def test_invalid_utf8_in_a_reply_is_one_line_and_keeps_what_came_before() -> None:
    """Bytes that are not UTF-8 inside a chunk (a broken proxy or server; vLLM itself sends U+FFFD)."""
    bad = vllm_chunk("BAD", completion=2).replace(b"BAD", b"wor\xff\xfeld\xc3(")
    body = (vllm_chunk("", completion=0) + vllm_chunk("Hello", completion=1) + bad
            + vllm_chunk(" again", completion=3) + vllm_chunk(None, "stop", completion=3) + b"data: [DONE]\n\n")
    async with ReplayServer() as server:
        replay_vllm(server, body)
        app = make_app(server)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            reply = await ask(pilot, "mojibake?")
            assert reply.status is Status.ERROR and reply.content == "Hello"
            expected = ("The server sent a chunk that is not valid UTF-8 after 1 token; the partial reply is kept"
                        " · Ctrl+R retries")
            assert one_line(reply.error) == expected
            assert footer(app, reply) == f"{reply.stats.line()} · {answered_by(reply)} · {expected}"
            await nothing_lost(app, ["mojibake?"])
            await still_up(pilot)


# 49,999 simulator tokens of prose in paragraphs of ~500 (with the end-of-sequence token: 50,000). Paragraphs, not
# the simulator's own Markdown answer repeated: the live reply mounts one widget per finished block, and 800 of
# them more than double the time the app takes (28 s instead of 12 s here), which is not what this row is about.
BOOK = "".join(sim_tokens.split("\n\n".join(
    " ".join(["the", "model", "streams", "one", "token", "after", "another", "into", "the", "reply"] * 50)
    for _ in range(101)))[:49_999])


async def test_a_50000_token_reply_completes_and_the_app_stays_responsive() -> None:
    """50,000 tokens at up to 20,000 tok/s: all of it arrives, the footer counts 50,000 tokens, and a key typed
    once the stream is under way reaches the prompt while the reply still streams.

    Nothing here depends on the machine's speed. The app needs many seconds for 50,000 tokens on any machine
    (parsing each chunk, laying out the growing reply); the key must land before the reply is complete, and the
    end is waited for however long it takes. Pilot is not used until then: its wait for an idle screen lasts as
    long as such a stream does (the live reply's message queue falls behind), past Pilot's own 30 s limit on a
    loaded machine."""
    config = fast_config(rate=20_000.0, reply_text=BOOK, max_model_len=100_000)
    with running_simulator(config) as sim:  # (in a thread: the book is too long for a child's command line)
        app = make_app(sim, max_tokens=50_000, auto_summarize=False)  # 50,000 + 50,000 reserve: past 80%
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            set_prompt(app, "write a book")
            press_now(app, "enter")
            live = await wait_for(pilot, lambda: live_reply(app), what="live reply")
            await wait_for(pilot, lambda: len(live.message.content) > 1000, what="the stream under way")
            box = prompt(app)
            press_now(app, "q")  # typed while 50,000 tokens pour in
            (streaming, tokens) = await wait_for(pilot, lambda: box.text == "q" and (
                is_streaming(app), meter(app).tokens if meter(app) is not None else None), timeout=30,
                what="the key typed mid-stream")
            assert streaming and tokens is not None and tokens < 50_000, (streaming, tokens)
            reply = await wait_reply(pilot, "write a book", timeout=300)
            assert reply.status is Status.COMPLETE, reply.error
            assert reply.content == BOOK  # all of it arrived, in order
            assert reply.stats.completion_tokens == 50_000 and not reply.stats.estimated
            assert footer(app, reply).startswith("50,000 tokens · ")
            assert box.text == "q"
            await nothing_lost(app, ["write a book"])
            await still_up(pilot)


# ------------------------------------------------------------------------------ what the user sends


async def test_a_1_mb_paste_lands_in_the_prompt_and_is_refused_before_sending() -> None:
    """1 MB pasted into the prompt: it lands there; Enter refuses it before sending (it cannot fit the
    context window) in one line, and the text stays in the prompt to be shortened."""
    line = "All work and no play makes Jack a dull boy; the quick brown fox jumps over it.\n"
    paste = line * (1_000_000 // len(line) + 1)
    assert len(paste.encode()) >= 1_000_000
    with running_simulator(fast_config(answer_tokens=12)) as sim:
        app = make_app(sim)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            first = await ask(pilot, "hello first")
            assert first.status is Status.COMPLETE
            chats_before = len(sim.simulator.requests)
            box = prompt(app)
            box.focus()
            app.post_message(events.Paste(paste))  # as the terminal driver does: the app hands it to the focus
            await wait_for(pilot, lambda: box.text == paste, what="the paste in the prompt")
            before = len(notices(app))
            press_now(app, "enter")
            await wait_for(pilot, lambda: len(notices(app)) > before, timeout=15, what="the refusal")
            refusal = one_line(notices(app)[-1])
            used = budget(app).used
            assert used > 16_384
            assert refusal == (f"This message would make the prompt {used:,} tokens, over the 16,384-token window — "
                               "not sent (your text stays in the prompt). Summarize older messages with Ctrl+S "
                               "or /summarize, or shorten it.")
            assert len(notices(app)) == before + 1
            assert box.text == paste
            assert len(sim.simulator.requests) == chats_before  # nothing went to the server
            await nothing_lost(app, ["hello first"])
            box.load_text("")
            await still_up(pilot)


MARKUP = "[bold]x[/bold] [/] [link=http://a]y[/link] [red]"


async def test_markup_looking_text_in_errors_titles_and_commands_stays_literal() -> None:
    """Rich-markup look-alikes where test_app_chat does not look: the server's error message (a reply
    footer), the conversation title in the list (from the first message) and an unknown slash command
    echoed in a notification. Each shows the brackets as typed; none is parsed, none crashes the app."""
    body = {"error": {"message": f"boom {MARKUP}", "type": "InternalServerError", "param": None, "code": 500}}
    with running_simulator(fast_config(reply_text=MARKUP)) as sim:
        app = make_app(sim)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await connected(pilot)
            reply = await ask(pilot, MARKUP)
            assert reply.status is Status.COMPLETE and reply.content == MARKUP
            sim.simulator.config.faults = Faults(http_status=500, http_body=body, once=True)
            failed = await ask(pilot, "and now?")
            expected = f"HTTP 500: boom {MARKUP} — server error; see the server's log · Ctrl+R retries"
            assert one_line(failed.error) == expected and footer(app, failed) == f"{answered_by(failed)} · {expected}"
            command = "/[/]"
            set_prompt(app, command)
            await pilot.press("enter")
            said = await wait_for(pilot, lambda: [t for t in toasts(app) if "Unknown command" in t],
                                  what="the unknown-command notice")
            assert one_line(said[-1].strip()).startswith(f"Unknown command '{command}' — known: /summarize")
            await pilot.press("ctrl+o")
            options = list_options(app)
            await wait_for(pilot, lambda: options.option_count == 1, what="the conversation in the list")
            title = options.get_option_at_index(0).prompt.plain.splitlines()[0]
            assert title == MARKUP[:30]  # the list shows 30 characters of the title, brackets and all
            await pilot.press("ctrl+o")
            await nothing_lost(app, [MARKUP, "and now?"])
            await still_up(pilot)


# ------------------------------------------------------------------------------ the disk


async def test_a_full_disk_says_not_saved_once_and_keeps_everything_in_memory() -> None:
    """The database cannot grow (SQLite's max_page_count pinned to its size: SQLITE_FULL, "database or disk
    is full", exactly what a full disk gives): one "Not saved" line, every message stays in memory, what
    was saved before stays intact, and saving resumes once there is room again."""
    db = default_db()
    with running_simulator(fast_config(answer_tokens=30, max_model_len=100_000)) as sim:
        app = make_app(sim)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await connected(pilot)
            assert (await ask(pilot, "saved before")).status is Status.COMPLETE
            saved_before = await stored(app)

            def fill(store: Store) -> None:
                pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
                store.conn.execute(f"PRAGMA max_page_count = {pages}")

            await from_store(app, fill)
            big = "too big for the disk " * 2000  # 42 KB: needs new pages
            reply = await ask(pilot, big)
            assert reply.status is Status.COMPLETE  # chatting goes on
            said = await wait_for(pilot, lambda: [t for t in toasts(app) if "Not saved" in t], what="not saved")
            expected = (f"Not saved: Could not write {db}: database or disk is full — your messages stay on "
                        "screen and in memory.")
            assert [one_line(t.strip()) for t in said] == [expected]
            assert store_error(app) == f"Could not write {db}: database or disk is full"
            assert [c for r, c, _ in in_memory(app) if r == "user"] == ["saved before", big]
            assert len(in_memory(app)) == 4
            rows = await stored(app)
            assert rows[:2] == saved_before and big not in [c for _, c, _ in rows]
            assert await from_store(app, lambda store: store.integrity_ok())
            await still_up(pilot)

            await from_store(app, lambda store: store.conn.execute("PRAGMA max_page_count = 1073741823"))
            after = await ask(pilot, "room again")
            assert after.status is Status.COMPLETE
            rows = await stored(app)
            assert rows[-2:] == in_memory(app)[-2:]  # saved again
            assert len([t for t in toasts(app) if "Not saved" in t]) == 1  # said once


@pytest.fixture
def read_only_data_dir(isolated_home: Path) -> Any:
    """The app's data dir (holding a database from an earlier run) made read-only: chattr +i for root, who
    ignores permission bits; chmod 0500 for anyone else."""
    data = default_db().parent
    with Store(default_db()) as earlier:
        conv = earlier.create_conversation("from an earlier run")
        earlier.add_message(conv, "user", "an earlier question")
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(data)],
                                                              capture_output=True).returncode != 0:
            pytest.skip("running as root without chattr +i: no way to make a directory read-only")
        try:
            yield data
        finally:
            subprocess.run(["chattr", "-i", str(data)], check=True)
    else:
        data.chmod(0o500)
        try:
            yield data
        finally:
            data.chmod(0o700)


async def test_a_read_only_data_dir_says_not_saved_and_chatting_works(read_only_data_dir: Path) -> None:
    """The data dir cannot be written: one "Not saved" line naming the database, chatting works, the
    earlier conversation on disk is untouched."""
    db = default_db()
    before = db.read_bytes()
    with running_simulator(fast_config(answer_tokens=12)) as sim:
        app = make_app(sim)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await connected(pilot)
            said = await wait_for(pilot, lambda: [t for t in toasts(app) if "Not saved" in t], what="not saved")
            expected = (f"Not saved: Cannot open the conversation database {db}: unable to open database file — "
                        "your messages stay on screen and in memory.")
            assert [one_line(t.strip()) for t in said] == [expected]
            assert store(app) is None
            reply = await ask(pilot, "does chatting work?")
            assert reply.status is Status.COMPLETE and reply.content
            await nothing_lost(app, ["does chatting work?"], persisted=False)
            await still_up(pilot)
    assert db.read_bytes() == before


# ------------------------------------------------------------------------------ configuration


def test_a_corrupt_config_file_is_one_line_naming_the_file_and_line(isolated_home: Path, capsys: Any) -> None:
    """A TOML syntax error on line 3 (the API key left unquoted): exit code 2 before any screen, one stderr
    line naming the file and line 3, the key not in it, the file untouched."""
    path = paths.config_file()
    path.parent.mkdir(parents=True)
    text = f'base_url = "http://127.0.0.1:9/v1"\nmodel = "m"\napi_key = {SECRET}\ntemperature = 0.2\n'
    path.write_text(text)
    assert cli.main([]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    line = one_line(err.strip())
    assert line.startswith(f"zorac-tui: Config file {path} is not valid TOML: ") and "line 3" in line, line
    assert SECRET not in err
    assert path.read_text() == text


# ------------------------------------------------------------------------------ the terminal


async def test_resize_to_40x12_while_streaming_and_back() -> None:
    """The terminal shrinks to 40×12 mid-stream (sidebar hidden, everything squeezed), then grows back:
    the stream completes and the app stays up."""
    with running_simulator(fast_config(rate=200.0, answer_tokens=900)) as sim:  # 4.5 s: resized long before the end
        app = make_app(sim)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            set_prompt(app, "stream while I resize")
            press_now(app, "enter")
            live = await wait_for(pilot, lambda: live_reply(app), what="live reply")
            await wait_for(pilot, lambda: len(live.message.content) > 100, what="some streamed text")
            resize_now(app, 40, 12)
            landed = await wait_for(pilot, lambda: app.size == (40, 12) and app.screen.has_class("-tiny")
                                    and (is_streaming(app),), what="40×12")
            assert landed == (True,)  # the resize landed mid-stream
            # at 40×12: the reply's tail, the gauge, the prompt
            await wait_for(pilot, lambda: "context" in (small := screen_text(app)) and "Ask anything" in small,
                           what="the gauge and the prompt drawn at 40×12")
            resize_now(app, *SIZE)
            await wait_for(pilot, lambda: app.size == SIZE and not app.screen.has_class("-narrow"), what="back")
            reply = await wait_reply(pilot, "stream while I resize")
            assert reply.status is Status.COMPLETE and reply.stats.completion_tokens == 900
            assert footer(app, reply) == f"{reply.stats.line()} · {answered_by(reply)}" and footer(app, reply).startswith("900 tokens · ")
            await nothing_lost(app, ["stream while I resize"])
            await still_up(pilot)


# ------------------------------------------------------------------------------ secrets, logs, crashes


@pytest.fixture
def log_dir(tmp_path: Path) -> Any:
    """The log set up in a fresh state dir for the test; the zorac_tui logger put back afterwards."""
    logger = logging.getLogger("zorac_tui")
    handlers, level = logger.handlers[:], logger.level
    folder = tmp_path / "state"
    path = logs.setup_logging([SECRET], directory=folder)
    assert path == folder / logs.LOG_NAME
    try:
        yield folder
    finally:
        for handler in logger.handlers:
            handler.close()
        logger.handlers[:], logger.level = handlers, level


def mode(path: Path) -> int:
    """Permission bits of `path`."""
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_api_key_never_appears_in_exports_logs_screens_or_reprs(log_dir: Path) -> None:
    """A server that needs the key, and echoes it back in an error: the key is used (replies work) but never
    shown, logged, exported or stored."""
    leak = {"error": {"message": f"bad request from Bearer {SECRET}", "type": "BadRequestError",
                      "param": None, "code": 400}}
    with running_simulator(fast_config(answer_tokens=12, api_key=SECRET)) as sim:
        app = make_app(sim, api_key=SECRET)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            ok = await ask(pilot, "hello with a key")
            assert ok.status is Status.COMPLETE
            sim.simulator.config.faults = Faults(http_status=400, http_body=leak, once=True)
            echoed = await ask(pilot, "make it echo the key")
            assert one_line(echoed.error) == ("HTTP 400: bad request from Bearer *** — the server rejected the "
                                              "request · Ctrl+R retries")
            assert SECRET not in footer(app, echoed)
            screen = await wait_for(pilot, lambda: "make it echo the key" in (t := screen_text(app)) and t,
                                    what="the last exchange drawn")
            assert "hello with a key" in screen and SECRET not in screen
            assert SECRET not in repr(settings(app)) and SECRET not in repr(client(app))
            assert repr(ChatClient(sim.base_url, SECRET)) == f"ChatClient(base_url={sim.base_url!r}, api_key=***)"
            conversation_id = conversation(app).db_id
            await nothing_lost(app, ["hello with a key", "make it echo the key"])
            log = logging.getLogger("zorac_tui.test")
            log.warning("request failed with key %s", SECRET)
            try:
                raise RuntimeError(f"boom: Authorization: Bearer {SECRET}")
            except RuntimeError:
                log.exception("unexpected, key %s", SECRET)
            await still_up(pilot)
    with Store(default_db()) as store:
        exported = json.dumps(export_json(store, conversation_id)) + export_markdown(store, conversation_id)
    assert "hello with a key" in exported and SECRET not in exported
    for leftover in default_db().parent.iterdir():  # the database, its WAL: no key anywhere on disk
        assert SECRET.encode() not in leftover.read_bytes(), leftover
    written = (log_dir / logs.LOG_NAME).read_text()
    assert "request failed with key ***" in written and "Traceback" in written
    assert "boom: Authorization: Bearer ***" in written and SECRET not in written


def test_files_holding_the_key_are_0600_and_the_log_rotates_0600(log_dir: Path) -> None:
    """config.save_value writes the key into a 0600 file; the log file is 0600 and so is every file a
    rollover starts (a plain RotatingFileHandler opens the new file with the umask: 0644)."""
    config.save_value("api_key", SECRET)
    path = paths.config_file()
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert config.load().api_key == SECRET
    log_file = log_dir / logs.LOG_NAME
    assert mode(log_file) == 0o600 and mode(log_dir) == 0o700
    log = logging.getLogger("zorac_tui.test")
    old = os.umask(0o022)
    try:
        line = "x" * 999
        for _ in range(logs.MAX_BYTES // 1000 + 50):
            log.info(line)
    finally:
        os.umask(old)
    rotated = log_dir / f"{logs.LOG_NAME}.1"
    assert rotated.exists() and log_file.exists()
    assert mode(rotated) == 0o600 and mode(log_file) == 0o600
    assert rotated.stat().st_size <= logs.MAX_BYTES


async def test_an_unexpected_exception_is_logged_scrubbed_shown_and_exits_1(log_dir: Path, capfd: Any) -> None:
    """An exception escaping inside the app: it stops with return code 1, the traceback goes to the log with
    the key scrubbed, and a traceback without locals plus a short note are shown, the key scrubbed there too
    (run_test re-raises the exception, as App.run would not)."""
    with running_simulator(fast_config(answer_tokens=12, api_key=SECRET)) as sim:
        app = make_app(sim, api_key=SECRET)

        def boom() -> None:
            raise RuntimeError(f"unexpected failure holding {SECRET}")

        with pytest.raises(RuntimeError, match="unexpected failure"):
            async with app.run_test(size=SIZE) as pilot:
                await connected(pilot)
                await ask(pilot, "before the crash")
                shown_conversation = conversation(app)
                app.call_later(boom)
                await wait_for(pilot, lambda: not app.is_running, what="the app to stop")
    assert app.return_code == 1
    assert [m.content for m in shown_conversation.messages if m.role == "user"] == ["before the crash"]
    written = (log_dir / logs.LOG_NAME).read_text()
    assert "unexpected error" in written and "Traceback" in written
    assert "RuntimeError: unexpected failure holding ***" in written and SECRET not in written
    shown = capfd.readouterr().err  # what Textual printed after leaving the screen
    assert "RuntimeError: unexpected failure holding ***" in shown and SECRET not in shown
    assert " ".join(shown.split()).count("zorac-tui stopped on an unexpected error (logged in the state dir") == 1
    assert "errors shown" not in shown  # one renderable: nothing of it is held back


def test_a_crash_in_a_real_terminal_restores_it(isolated_home: Path) -> None:
    """The app in a real pty (Textual's own terminal driver), crashing after it connected: exit code 1, the
    terminal's modes (echo, canonical input…) exactly as before, the alternate screen left and the cursor
    shown, then the traceback and the note printed on the normal screen, the key nowhere, the log written."""
    import fcntl
    import struct
    import termios

    with running_simulator(fast_config(api_key=SECRET)) as sim:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        before = termios.tcgetattr(slave)
        env = {**os.environ, "TERM": "xterm-256color"}
        proc = subprocess.Popen([sys.executable, str(TESTS / "tty_crash_child.py"), sim.base_url, SECRET],
                                stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
        received = bytearray()
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([master], [], [], 0.1)
                if ready:
                    received += os.read(master, 65536)
                elif proc.poll() is not None:
                    break
            else:
                raise AssertionError(f"the app did not stop; it printed: {bytes(received[-2000:])!r}")
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=5)
            after = termios.tcgetattr(slave)
            os.close(master)
            os.close(slave)
    out = received.decode("utf-8", "replace")
    assert proc.returncode == 1, out[-2000:]
    assert after == before  # echo, canonical mode, signals: as the shell left them
    entered, left = out.find("\x1b[?1049h"), out.rfind("\x1b[?1049l")
    assert 0 <= entered < left, "the alternate screen was entered and then left"
    assert "\x1b[?25h" in out[left - 200:]  # the cursor shown again
    shown = " ".join(re.sub(r"\x1b\[[0-?]*[ -/]*[@-~]", "", out[left:]).split())  # colours dropped
    assert "RuntimeError: injected failure holding ***" in shown
    assert "zorac-tui stopped on an unexpected error (logged in the state dir: zorac-tui.log)." in shown
    assert SECRET not in out
    written = (paths.state_dir() / logs.LOG_NAME).read_text()
    assert "RuntimeError: injected failure holding ***" in written and SECRET not in written
    assert mode(paths.state_dir() / logs.LOG_NAME) == 0o600
