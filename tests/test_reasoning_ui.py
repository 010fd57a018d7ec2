"""Reasoning models in the app: the thinking streams live, folds when the answer starts, is counted honestly, stored
and exported, and never goes back to the server — in every wire format, against the simulator over HTTP."""

from __future__ import annotations

import pytest
from appdriver import (
    SIZE,
    Faults,
    ask,
    chat_requests,
    connected,
    footer_text,
    from_store,
    last_message,
    live_footer,
    main_screen,
    make_app,
    messages,
    pane,
    panel_text,
    press_now,
    send,
    store_caught_up,
    wait_for,
    wait_reply,
)

from zorac_tui.core.conversation import Status
from zorac_tui.ui.throughput_panel import ThroughputPanel

THINKER = "Qwen/Qwen3-14B-AWQ"


@pytest.mark.parametrize("profile, thinking_format", [("vllm", "field"), ("vllm", "tags"), ("vllm", "close-tag"),
                                                      ("llamacpp", "field")])
async def test_thinking_streams_folds_and_is_counted(sim_factory, profile: str, thinking_format: str) -> None:
    sim = sim_factory(profile=profile, model=THINKER, thinking_tokens=40, thinking_format=thinking_format,
                      answer_tokens=30, faults=Faults(stall_at_token=20, stall_seconds=2.0, once=True))
    app = make_app(sim, model=THINKER)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        send(pilot, "think first")
        # the stall holds the stream halfway through the thinking: the reply is never blank meanwhile
        reply = await wait_for(pilot, lambda: (m := last_message(app)) is not None and m.role == "assistant"
                               and m.thinking and m, what="thinking to stream")
        if thinking_format != "close-tag":  # (there, thinking is known as such only once </think> arrives)
            await wait_for(pilot, lambda: "Thinking…" in pane(app).part_text(reply, "thinking"), what="the live fold")
            assert not reply.content
        reply = await wait_reply(pilot, "think first", timeout=20)
        assert reply.status is Status.COMPLETE and reply.content and reply.thinking
        assert "<think>" not in reply.content + reply.thinking and "</think>" not in reply.content + reply.thinking
        stats = reply.stats
        assert stats.thinking_tokens and stats.answer_tokens and stats.completion_tokens == \
            stats.thinking_tokens + stats.answer_tokens
        assert stats.ttft_s is not None and stats.ttfa_s is not None and stats.ttfa_s > stats.ttft_s
        fold = pane(app).part_text(reply, "thinking")
        assert fold.startswith("▶ Thought for") and f"{stats.thinking_tokens:,} tokens" in fold
        assert "thinking" in footer_text(app, reply) and "first answer" in footer_text(app, reply)
        assert "thinking" in panel_text(app, ThroughputPanel) and "1st answer" in panel_text(app, ThroughputPanel)


async def test_thinking_is_stored_and_exported_but_never_sent_back(sim_factory) -> None:
    sim = sim_factory(model=THINKER, thinking_tokens=300, answer_tokens=10)
    app = make_app(sim, model=THINKER)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        first = await ask(pilot, "first")
        await ask(pilot, "second")
        sent = chat_requests(sim)[-1]["messages"]
        assistant = [m["content"] for m in sent if m["role"] == "assistant"]
        assert assistant == [first.content] and first.thinking[:20] not in str(sent)
        await store_caught_up(app)
        row = await from_store(app, lambda db: db.get_message(first.db_id))
        assert row.thinking == first.thinking and row.thinking_tokens == first.stats.thinking_tokens
        from zorac_tui.store import export_markdown

        exported = await from_store(app, lambda db: export_markdown(db, row.conversation_id))
        assert "<details>" in exported and first.thinking[:30] in exported
        history = main_screen(app).budget.budget.history
        assert 0 < history < first.stats.thinking_tokens  # the gauge counts the answers, not 300 thinking tokens


async def test_a_reply_that_only_thought_says_so_and_ctrl_r_retries(sim_factory) -> None:
    sim = sim_factory(model=THINKER, thinking_tokens=60, answer_tokens=30)
    app = make_app(sim, model=THINKER, max_tokens=20)  # stops inside the thinking
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        reply = await ask(pilot, "deep question")
        assert not reply.content.strip() and reply.thinking
        assert "No answer: the model only thought" in pane(app).part_text(reply, "body")
        requests = len(chat_requests(sim))
        press_now(app, "ctrl+r")
        await wait_for(pilot, lambda: len(chat_requests(sim)) > requests and not main_screen(app).reply.streaming
                       and messages(app)[-1] is not reply, what="the retry")
        assert [m.role for m in messages(app)] == ["user", "assistant"]


async def test_the_live_footer_shows_the_split_while_it_streams(sim_factory) -> None:
    sim = sim_factory(model=THINKER, thinking_tokens=30, answer_tokens=40, rate=300.0,
                      faults=Faults(stall_at_token=45, stall_seconds=2.0, once=True))
    app = make_app(sim, model=THINKER)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        send(pilot, "split")
        await wait_for(pilot, lambda: "(thinking 30 · answer" in live_footer(app), timeout=15,
                       what="the split in the live footer")
