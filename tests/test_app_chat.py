"""End to end: the real app chatting with the project's simulator over real HTTP on 127.0.0.1 (Pilot-driven)."""

from __future__ import annotations

import re

from appdriver import (
    SIZE,
    Faults,
    ask,
    assistant_messages,
    body_text,
    chat_requests,
    connected,
    crash_error,
    flat,
    footer_text,
    gauge_text,
    header_text,
    is_streaming,
    live_footer,
    live_reply,
    live_tail,
    make_app,
    max_model_len,
    messages,
    model,
    model_note,
    notices,
    pane,
    panel_text,
    press_now,
    prompt,
    screen_text,
    send,
    server_state,
    toasts,
    type_text,
    user_texts,
    view_for,
    visible_text,
    wait_for,
    wait_reply,
    wait_tokens,
)

from zorac_tui.core.conversation import Status
from zorac_tui.demo import tokens
from zorac_tui.ui.throughput_panel import ThroughputPanel

STATS = re.compile(r"^(\d[\d,]*) tokens · (\d+\.\d) tok/s · TTFT (\d+) ms · prompt (\d[\d,]*) · (\S+)$")
RICH_REPLY = (
    "# Deployment plan\n\n"
    "| step | owner |\n|---|---|\n| build | ci |\n| ship | ops |\n\n"
    "```python\nprint('ready')\n```\n\n"
    "- one\n- two\n\n"
    "Done with **all** of it.\n"
)
LONG_TEXT = "\n\n".join(" ".join(f"word{i}-{j}" for j in range(8)) for i in range(60))
MARKUP = "[bold]x[/bold] [/] [link=http://a]y[/link] [red"


def throughput_text(app) -> str:
    """What the sidebar's throughput panel says (its text before wrapping, on one line)."""
    return flat(panel_text(app, ThroughputPanel))


def expected_completion_tokens(text: str) -> int:
    """What the simulator (as vLLM) reports as completion tokens for `text`: its pieces plus the EOS token."""
    return len(tokens.split(text)) + 1


async def test_header_shows_the_only_served_model_and_its_window(sim_factory):
    sim = sim_factory(model="org/solo-model-AWQ", max_model_len=8192)
    app = make_app(sim)  # configured model is the default one, which this server does not serve
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "model: detecting" in header_text(app) or server_state(app) == "connected",
                       what="first header")
        await connected(pilot)
        assert model(app) == "org/solo-model-AWQ" and max_model_len(app) == 8192
        assert "only model" in model_note(app)
        header = header_text(app)
        assert "org/solo-model-AWQ" in header and "● connected" in header and "vllm 0.32.0" in header
        assert any("model org/solo-model-AWQ" in n and "only model served" in n and "context 8,192 tokens" in n
                   for n in notices(app)), notices(app)
        assert "/ 8,192 tokens" in gauge_text(app) and "window server" in gauge_text(app)


async def test_configured_model_is_chosen_among_several(sim_factory):
    sim = sim_factory(model="alpha", extra_models=["beta", "gamma"], max_model_len=4096, reply_text="from beta")
    app = make_app(sim, model="beta")
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        assert model(app) == "beta" and model_note(app) == "configured"
        assert "beta" in header_text(app) and "alpha" not in header_text(app)
        reply = await ask(pilot, "which model?")
        assert reply.status is Status.COMPLETE and reply.content == "from beta"
        assert chat_requests(sim)[-1]["model"] == "beta"


async def test_a_reply_streams_in_full_with_stats(sim_factory):
    text = "Paris is the capital of France. It sits on the Seine."
    sim = sim_factory(reply_text=text)
    app = make_app(sim)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        assert model(app) == sim.simulator.config.model and max_model_len(app) == 16384
        reply = await ask(pilot, "Capital of France?")
        assert reply.status is Status.COMPLETE and reply.error is None
        assert reply.content == text
        assert " ".join(body_text(app, reply).split()) == text
        stats = reply.stats
        assert stats is not None and not stats.estimated
        assert stats.completion_tokens == expected_completion_tokens(text)
        assert stats.prompt_tokens and stats.decode_tok_s and stats.ttft_s
        footer = footer_text(app, reply)
        match = STATS.match(footer)
        assert match, footer
        assert int(match.group(1)) == stats.completion_tokens and int(match.group(4)) == stats.prompt_tokens
        assert "cancelled" not in footer and "≈" not in footer
        body = chat_requests(sim)[-1]
        assert body["stream"] is True
        assert body["stream_options"] == {"include_usage": True, "continuous_usage_stats": True}
        assert body["messages"][0]["role"] == "system"
        assert body["messages"][-1] == {"role": "user", "content": "Capital of France?"}
        assert server_state(app) == "connected"
        panel = throughput_text(app)
        assert f"· {stats.completion_tokens} tok" in panel and "≈" not in panel


async def test_a_long_code_block_streams_in_runs_and_settles_whole(sim_factory):
    """A 300-line code block: its finished lines are drawn once in runs while it streams (the live tail
    stays short), and the settled reply shows every line, highlighted, with the prose after it."""
    code = "\n".join(f"def f{i}(x):\n    return x * {i}\n" for i in range(100))
    reply_text = f"Here is the module:\n\n```python\n{code}\n```\n\nThat is all."
    # The stream pauses 3 s about 70 % into the code: the runs settled by then are seen mid-stream, however
    # far the app is behind the server (it has nothing else to catch up with during the pause).
    sim = sim_factory(reply_text=reply_text, faults=Faults(stall_at_token=1000, stall_seconds=3.0))
    app = make_app(sim)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        send(pilot, "write the module")
        live = await wait_for(pilot, lambda: live_reply(app), what="the live reply")
        await wait_for(pilot, lambda: live.message.status is Status.STREAMING and live_reply(app) is live
                       and sum(p.code for p in live.pieces) >= 3, what="code runs settled while streaming")
        assert live_tail(live).count("\n") <= 80 + 1
        reply = await wait_reply(pilot, "write the module", timeout=30)
        assert reply.status is Status.COMPLETE and reply.content == reply_text
        body = body_text(app, reply)
        assert "def f0(x):" in body and "return x * 99" in body and "That is all." in body and "```" not in body
        view = view_for(app, reply)
        assert view.pieces and view.pieces is live.pieces  # the settled reply is drawn from the same pieces


async def test_markdown_renders_while_streaming_then_settles(sim_factory):
    tail = "More prose follows here. " * 40
    # The stream pauses 3 s a little into the prose, so the live reply is seen even on a slow machine.
    sim = sim_factory(reply_text=RICH_REPLY + "\n" + tail, rate=1000.0,
                      faults=Faults(stall_at_token=len(tokens.split(RICH_REPLY)) + 10, stall_seconds=3.0))
    app = make_app(sim)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        send(pilot, "plan it")
        live = await wait_for(pilot, lambda: live_reply(app), what="the live reply")

        def drawn_while_streaming() -> str:
            """The live reply as drawn once every block is, while the reply still streams (else "")."""
            if live_reply(app) is not live or live.message.status is not Status.STREAMING:
                return ""
            text = pane(app).text_of(live.message)
            shown = ("Deployment plan", "print('ready')", "ship", "────", "• two", "Done with all of it")
            return text if all(part in text for part in shown) else ""

        # heading, table, code, list and emphasis drawn in the live reply, from one look at it
        live_text = await wait_for(pilot, drawn_while_streaming, what="every block drawn while streaming")
        assert live.pieces and live.pieces[0].text.startswith("# Deployment plan\n")  # drawn once
        assert "# Deployment" not in live_text and "```" not in live_text  # Markdown, not its source
        assert "|---|" not in live_text and "**" not in live_text and "- one" not in live_text
        reply = await wait_reply(pilot, "plan it", timeout=20)
        assert reply.status is Status.COMPLETE and reply.content == RICH_REPLY + "\n" + tail
        assert live_reply(app) is None and view_for(app, reply).pieces is live.pieces  # settled in place
        body = body_text(app, reply)
        assert "Deployment plan" in body and "# Deployment" not in body
        assert "print('ready')" in body and "```" not in body
        assert "build" in body and "|---|" not in body and "**all**" not in body and "all of it" in body
        assert "• one" in body and "- two" not in body


async def test_llamacpp_profile_says_estimated_and_configured_window(sim_factory):
    text = "Hello from a llama.cpp-like server."
    sim = sim_factory(profile="llamacpp", reply_text=text)
    app = make_app(sim, context_window=12000)
    async with app.run_test(size=(140, 40)) as pilot:
        await connected(pilot)
        assert max_model_len(app) is None
        assert "llamacpp" in header_text(app)
        assert any("assuming 12,000" in n for n in notices(app)), notices(app)
        gauge = gauge_text(app)
        assert "/ 12,000 tokens" in gauge and "window configured" in gauge
        reply = await ask(pilot, "hi there")
        assert reply.status is Status.COMPLETE and reply.content == text
        assert reply.stats.estimated
        footer = footer_text(app, reply)
        assert footer.startswith("≈") and "≈ counted per chunk: server sent no usage" in footer
        assert "window configured" in gauge_text(app)
        assert re.search(r"last +≈[\d.]+ tok/s · ≈\d+ tok TTFT \d+ ms", throughput_text(app))
        sim.simulator.config.reply_text, sim.simulator.config.rate = LONG_TEXT, 40.0
        send(pilot, "and slowly?")  # while it streams, every count is marked as an estimate too
        live_line = await wait_for(pilot, lambda: "TTFT" in live_footer(app) and live_footer(app),
                                   what="the live stats line")
        assert re.match(r"≈[\d.]+ tok/s · ≈\d+ tokens · TTFT \d+ ms · Esc cancels", live_line), live_line
        await wait_for(pilot, lambda: re.search(r"now +≈[\d.]+ tok/s +≈\d+ tok", throughput_text(app)),
                       what="the live figures in the throughput panel")
        await pilot.press("escape")
        assert (await wait_reply(pilot, "and slowly?")).status is Status.CANCELLED


async def test_escape_cancels_and_keeps_the_partial_reply(sim_factory):
    sim = sim_factory(reply_text=LONG_TEXT, rate=200.0)  # ~2,000 tokens: ten seconds, cancelled long before
    app = make_app(sim)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        send(pilot, "tell me everything")
        await wait_tokens(pilot, 5)
        await pilot.press("escape")
        reply = await wait_reply(pilot, "tell me everything")
        assert reply.status is Status.CANCELLED and reply.error is None
        assert reply.content and LONG_TEXT.startswith(reply.content) and reply.content != LONG_TEXT
        assert "cancelled by you — partial reply kept" in footer_text(app, reply)
        assert server_state(app) == "connected"
        assert user_texts(app) == ["tell me everything"]


async def test_up_and_down_recall_previous_prompts(sim_factory):
    sim = sim_factory(reply_text="ok")
    app = make_app(sim)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        for text in ("alpha one", "beta two"):
            await ask(pilot, text)
        box = prompt(app)
        await type_text(pilot, "draft")
        await pilot.press("up")
        assert box.text == "beta two"
        await pilot.press("up")
        assert box.text == "alpha one"
        await pilot.press("up")
        assert box.text == "alpha one"  # the oldest stays
        await pilot.press("down")
        assert box.text == "beta two"
        await pilot.press("down")
        assert box.text == "draft"  # back to what was being typed
        await pilot.press("up", "enter")
        await wait_for(pilot, lambda: user_texts(app) == ["alpha one", "beta two", "beta two"], what="the recalled one sent")
        reply = await wait_reply(pilot, "beta two")
        assert reply.status is Status.COMPLETE and len(assistant_messages(app)) == 3


async def test_shift_enter_and_ctrl_j_insert_newlines_instead_of_sending(sim_factory):
    sim = sim_factory(reply_text="got three lines")
    app = make_app(sim)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        box = prompt(app)
        await type_text(pilot, "one", "shift+enter", "two", "ctrl+j", "three")
        assert box.text == "one\ntwo\nthree"
        assert messages(app) == [] and chat_requests(sim) == []
        await pilot.press("enter")
        reply = await wait_reply(pilot, "one\ntwo\nthree")
        assert reply.content == "got three lines" and box.text == ""
        assert chat_requests(sim)[-1]["messages"][-1]["content"] == "one\ntwo\nthree"


async def test_prompt_stays_editable_while_streaming_and_enter_keeps_the_text(sim_factory):
    sim = sim_factory(reply_text=LONG_TEXT, rate=30.0)  # far longer than the test: cancelled at the end
    app = make_app(sim)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await connected(pilot)
        send(pilot, "stream slowly")
        await wait_tokens(pilot, 3)
        box = prompt(app)
        assert box.has_focus
        await type_text(pilot, "next one", "backspace", "backspace", "backspace", "e")  # typed while it streams
        assert box.text == "next e" and is_streaming(app)
        await wait_for(pilot, lambda: "next e" in visible_text(app, box), what="the edited draft drawn")
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("still streaming" in t for t in toasts(app)), what="the refusal toast")
        assert box.text == "next e" and is_streaming(app)
        assert user_texts(app) == ["stream slowly"] and len(chat_requests(sim)) == 1
        await pilot.press("escape")
        await wait_reply(pilot, "stream slowly")
        sim.simulator.config.rate = 2000.0
        await pilot.press("enter")  # now it goes
        reply = await wait_reply(pilot, "next e", timeout=20)
        assert reply.status is Status.COMPLETE and user_texts(app) == ["stream slowly", "next e"]


async def test_ctrl_y_copies_the_last_reply(sim_factory):
    sim = sim_factory(reply_text="copy **me** exactly\n\n- one\n- two")
    app = make_app(sim)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await ask(pilot, "give me something to copy")
        await pilot.press("ctrl+y")
        assert app.clipboard == "copy **me** exactly\n\n- one\n- two"  # the Markdown source, not the rendering
        assert prompt(app).text == ""


async def test_markup_looking_text_is_shown_literally(sim_factory):
    model_text = f"{MARKUP} and [red]not red[/red] [/"
    sim = sim_factory(reply_text=model_text)
    app = make_app(sim)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        reply = await ask(pilot, MARKUP)
        assert reply.status is Status.COMPLETE and reply.content == model_text
        user = messages(app)[-2]
        assert body_text(app, user).strip() == MARKUP
        assert " ".join(body_text(app, reply).split()) == model_text
        shown = await wait_for(pilot, lambda: MARKUP in (s := screen_text(app)) and s, what="the texts drawn")
        assert "[red]not red[/red] [/" in shown
        assert app.is_running
        await pilot.press("ctrl+y")
        assert app.clipboard == model_text


async def test_auto_scroll_follows_the_stream_unless_the_user_scrolled_up(sim_factory):
    sim = sim_factory(reply_text=LONG_TEXT, rate=150.0)  # ~2,000 tokens, 13 s: still streaming when cancelled
    app = make_app(sim)
    async with app.run_test(size=(100, 24)) as pilot:
        await connected(pilot)
        box = pane(app)
        send(pilot, "a long one")
        await wait_for(pilot, lambda: box.max_scroll_y > 10, timeout=15, what="the reply to overflow the pane")
        for _ in range(3):  # while it grows, the pane follows it to the end
            grown = box.max_scroll_y
            await wait_for(pilot, lambda g=grown: box.max_scroll_y > g and box.scroll_y >= box.max_scroll_y - 2,
                           what="the pane to follow the growing reply")
        box.focus()
        following = box.scroll_y  # (the stream only ever moves the pane down: a move up is the page-up)
        press_now(app, "pageup")
        await wait_for(pilot, lambda: box.scroll_y < following - 5, what="page up to leave the end")
        await pilot.wait_for_animation()  # the page-up scroll is animated: where it ends
        held, grown = box.scroll_y, box.max_scroll_y
        assert held < grown - 5
        assert is_streaming(app)
        await wait_for(pilot, lambda: box.max_scroll_y > grown + 10, timeout=15, what="more text below")
        assert box.scroll_y == held  # the stream does not pull the reader back down
        assert is_streaming(app)
        await pilot.press("escape")
        reply = await wait_reply(pilot, "a long one")
        assert reply.status is Status.CANCELLED and box.scroll_y < box.max_scroll_y - 10


async def test_quitting_mid_stream_exits_cleanly(sim_factory):
    sim = sim_factory(reply_text=LONG_TEXT, rate=40.0)
    app = make_app(sim)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        send(pilot, "long story")
        await wait_tokens(pilot, 3)
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: not app.is_running, what="the app to exit")
    assert app.return_code == 0 and crash_error(app) is None
