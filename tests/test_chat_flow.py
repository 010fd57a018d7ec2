"""Pilot tests of the core chat flow: the real app streaming from the simulator over real HTTP."""

from __future__ import annotations

from appdriver import widget_text as widget_text_of
from uihelpers import (
    SIZE,
    connected,
    fast_config,
    make_app,
    reply_to,
    running_simulator,
    set_prompt,
    wait_for,
    widget_text,
)

from zorac_tui.core.conversation import Status
from zorac_tui.demo.simulator import Faults
from zorac_tui.ui.gauge import ContextGauge
from zorac_tui.ui.messages import MessageView, StreamingReply
from zorac_tui.ui.prompt import PromptInput

REPLY = "# Plan\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```python\nprint('hi')\n```\n\n- one\n- two\n"


async def send(pilot, text: str) -> None:
    """Type `text` into the prompt and press Enter."""
    set_prompt(pilot.app, text)
    await pilot.press("enter")


async def test_send_and_stream_a_reply_with_stats():
    with running_simulator(fast_config(reply_text=REPLY)) as sim:
        app = make_app(sim)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            assert app.header.model == sim.simulator.config.model
            assert app.max_model_len == 16384
            await send(pilot, "Make a plan")
            reply = await wait_for(pilot, lambda: reply_to(app, "Make a plan"), what="reply")
            assert reply.content == REPLY and reply.status is Status.COMPLETE
            assert reply.stats.completion_tokens and not reply.stats.estimated
            footer = widget_text(app.pane.query(MessageView).last().query_one(".footer"))
            assert "tokens ·" in footer and "tok/s" in footer and "TTFT" in footer
            body = sim.simulator.requests[-1]
            assert body["stream_options"] == {"include_usage": True, "continuous_usage_stats": True}
            assert body["messages"][-1] == {"role": "user", "content": "Make a plan"}
            assert body["messages"][0]["role"] == "system"


async def test_markdown_streams_live_then_settles_into_one_light_view():
    # The stream pauses for 2 s after 60 tokens, so the live reply is there to be seen however slow
    # the machine is (a 2.5 s stream at 150 tok/s was once missed entirely between two polls in CI).
    faults = Faults(stall_at_token=60, stall_seconds=2.0)
    with running_simulator(fast_config(reply_text=REPLY * 8, rate=150.0, faults=faults)) as sim:
        app = make_app(sim)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await send(pilot, "stream it")
            live = await wait_for(pilot, lambda: (q := app.pane.query(StreamingReply)) and q.first(),
                                  what="live reply")
            drawn = await wait_for(pilot, lambda: "Plan" in (t := widget_text_of(live)) and "• two" in t and t,
                                   what="markdown drawn while streaming")
            assert "# Plan" not in drawn and "────" in drawn and "- one" not in drawn  # Markdown, not raw text
            assert app.pane.conversation.messages[-1].status is Status.STREAMING
            await wait_for(pilot, lambda: reply_to(app, "stream it"), timeout=20, what="reply")
            assert not app.pane.query(StreamingReply)
            assert not app.pane.query(".settled")  # a finished reply is one Static, not one per block


async def test_configured_model_chosen_among_several_and_autodetect_with_one():
    with running_simulator(fast_config(model="b-model", extra_models=["a-model"])) as sim:
        app = make_app(sim, model="a-model")
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            assert app.model == "a-model" and app.model_note == "configured"
    with running_simulator(fast_config(model="only-one")) as sim:
        app = make_app(sim, model="something-else")
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            assert app.model == "only-one" and "only model" in app.model_note


async def test_llamacpp_profile_estimates_and_still_works():
    with running_simulator(fast_config(profile="llamacpp", reply_text="plain answer here")) as sim:
        app = make_app(sim)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            assert app.max_model_len is None
            await send(pilot, "hi")
            reply = await wait_for(pilot, lambda: reply_to(app, "hi"), what="reply")
            assert reply.status is Status.COMPLETE and reply.content == "plain answer here"
            assert reply.stats.estimated
            assert "≈" in widget_text(app.pane.query(MessageView).last().query_one(".footer"))


async def test_escape_cancels_and_keeps_partial_text():
    with running_simulator(fast_config(rate=40.0, answer_tokens=400)) as sim:
        app = make_app(sim)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await send(pilot, "long answer please")
            await wait_for(pilot, lambda: app.meter is not None and app.meter.tokens > 5, what="tokens")
            await pilot.press("escape")
            reply = await wait_for(pilot, lambda: reply_to(app, "long answer please"), what="settled")
            assert reply.status is Status.CANCELLED and reply.content
            footer = widget_text(app.pane.query(MessageView).last().query_one(".footer"))
            assert "cancelled" in footer


async def test_prompt_stays_editable_while_streaming_and_enter_keeps_text():
    with running_simulator(fast_config(rate=40.0, answer_tokens=300)) as sim:
        app = make_app(sim)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await send(pilot, "first")
            await wait_for(pilot, lambda: app.meter is not None and app.meter.tokens > 2, what="streaming")
            await pilot.press("n", "e", "x", "t")
            prompt = app.query_one(PromptInput)
            assert prompt.text == "next"
            await pilot.press("enter")
            assert prompt.text == "next"  # refused while streaming, kept
            assert [m.content for m in app.pane.conversation.messages if m.role == "user"] == ["first"]
            await pilot.press("escape")


async def test_newline_keys_history_recall_and_new_conversation():
    with running_simulator(fast_config(reply_text="ok")) as sim:
        app = make_app(sim)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            prompt = app.query_one(PromptInput)
            prompt.focus()
            await pilot.press("a", "ctrl+j", "b")
            assert prompt.text == "a\nb" and not app.pane.conversation.messages
            prompt.clear()
            for text in ("one", "two"):
                await send(pilot, text)
                await wait_for(pilot, lambda t=text: reply_to(app, t), what=text)
            await pilot.press("up")
            assert prompt.text == "two"
            await pilot.press("up")
            assert prompt.text == "one"
            await pilot.press("down", "down")
            assert prompt.text == ""
            old = app.pane.conversation
            await pilot.press("ctrl+n")
            await wait_for(pilot, lambda: app.pane.conversation is not old, what="new conversation")
            assert not app.pane.conversation.messages and old in app.conversations
            assert not app.pane.query(MessageView)


async def test_copy_key_copies_last_reply():
    with running_simulator(fast_config(reply_text="copy me exactly")) as sim:
        app = make_app(sim)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await send(pilot, "q")
            await wait_for(pilot, lambda: reply_to(app, "q"), what="reply")
            await pilot.press("ctrl+y")
            assert app.clipboard == "copy me exactly"


async def test_markup_looking_text_is_shown_literally():
    tricky = "[bold]x[/bold] [/] [link=http://a]y[/link] [red"
    with running_simulator(fast_config(reply_text=tricky)) as sim:
        app = make_app(sim)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await send(pilot, tricky)
            await wait_for(pilot, lambda: reply_to(app, tricky), what="reply")
            user_view = list(app.pane.query(MessageView))[-2]
            assert widget_text(user_view.query_one(".body")) == tricky
            rendered = app.export_screenshot()
            assert "[/bold]" in rendered and "[link=http://a]" in rendered


async def test_auto_scroll_follows_unless_the_user_scrolled_up():
    with running_simulator(fast_config(rate=300.0, answer_tokens=700)) as sim:
        app = make_app(sim)
        async with app.run_test(size=(100, 24)) as pilot:
            await connected(pilot)
            await send(pilot, "long")
            await wait_for(pilot, lambda: app.pane.max_scroll_y > 20, timeout=15, what="overflow")
            await pilot.pause(0.2)
            assert app.pane.scroll_y >= app.pane.max_scroll_y - 2  # following the stream
            app.pane.scroll_to(y=0, animate=False)
            app.pane.release_anchor()
            await pilot.pause(0.5)
            assert app.pane.scroll_y < app.pane.max_scroll_y - 10  # stays where the user put it
            await pilot.press("escape")


def test_main_screen_snapshot(snap_compare):
    """The main layout right after a fixed reply (no sidebar: its telemetry moves; header detail pinned)."""
    sim = running_simulator(fast_config(reply_text="**Hello.** Ask me about `vLLM`.", max_model_len=8192))

    async def run_before(pilot):
        app = pilot.app
        await connected(pilot)
        await send(pilot, "hello")
        await wait_for(pilot, lambda: reply_to(app, "hello"), what="reply")
        sidebar = app.query_one("#sidebar")
        await wait_for(pilot, lambda: sidebar.kv_capacity_tokens is not None, what="first /metrics poll")
        app.recount()  # the gauge's KV note needs the capacity from /metrics
        gauge = app.query_one(ContextGauge)
        await wait_for(pilot, lambda: "KV" in gauge.note, what="the gauge's KV note")
        sidebar.display = False
        app.header.server_detail = "vllm 0.32.0 · simulator"
        for footer in app.pane.query(".footer"):
            footer.update("")  # timings vary run to run
        app.set_focus(None)  # the prompt's cursor is drawn or not by timing
        await pilot.pause(0.3)

    with sim as running:
        app = make_app(running)
        assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)
