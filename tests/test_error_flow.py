"""Each failure is one clear line, the app stays up, the user's message is kept and Ctrl+R retries."""

from __future__ import annotations

import socket
from types import SimpleNamespace

import pytest
from uihelpers import SIZE, connected, fast_config, make_app, notices, reply_to, running_simulator, set_prompt, wait_for

from zorac_tui.core.conversation import Status
from zorac_tui.demo import Faults, SimConfig, Simulator
from zorac_tui.ui.header import AppHeader


async def send(pilot, text: str) -> None:
    """Type and send."""
    set_prompt(pilot.app, text)
    await pilot.press("enter")


def one_line(text: str | None) -> str:
    """The failure text, checked to be a single line."""
    assert text and "\n" not in text, text
    return text


async def fail_then_retry(pilot, sim, faults: Faults, expect: str, prompt: str = "question") -> None:
    """Send under `faults`, check the error line, clear the faults, Ctrl+R, check success."""
    app = pilot.app
    sim.simulator.config.faults = faults
    await send(pilot, prompt)
    reply = await wait_for(pilot, lambda: reply_to(app, prompt), timeout=10, what="failed reply")
    assert reply.status is Status.ERROR, reply
    assert expect in one_line(reply.error), reply.error
    assert app.is_running and app.pane.conversation.messages[-2].content == prompt
    sim.simulator.config.faults = Faults()
    await pilot.press("ctrl+r")
    await wait_for(pilot, lambda: (r := reply_to(app, prompt)) is not None and r.status is Status.COMPLETE,
                   timeout=10, what="retried reply")
    assert [m.content for m in app.pane.conversation.messages if m.role == "user"] == [prompt]


@pytest.mark.parametrize(("faults", "expect"), [
    (Faults(drop_at_token=5), "lost mid-reply"),
    (Faults(http_status=500), "HTTP 500"),
    (Faults(http_status=429), "HTTP 429"),
    (Faults(malformed_at_token=3), "not valid JSON"),
    (Faults(stall_at_token=3, stall_seconds=5.0), "No tokens for"),
], ids=["dropped", "500", "429", "malformed", "stall"])
async def test_failure_then_retry(faults, expect):
    with running_simulator(fast_config(rate=500.0, answer_tokens=60)) as sim:
        app = make_app(sim, stall_timeout=0.5)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await fail_then_retry(pilot, sim, faults, expect)


async def test_dropped_reply_keeps_partial_text():
    with running_simulator(fast_config(rate=500.0, answer_tokens=60, faults=Faults(drop_at_token=10))) as sim:
        app = make_app(sim)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await send(pilot, "q")
            reply = await wait_for(pilot, lambda: reply_to(app, "q"), what="reply")
            assert reply.status is Status.ERROR and len(reply.content) > 5


async def test_context_length_error_shows_the_servers_message():
    with running_simulator(fast_config(max_model_len=300)) as sim:
        app = make_app(sim, max_tokens=64)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            sim.simulator.config.max_model_len = 100  # the server restarted with a smaller window
            await send(pilot, "word " * 150)
            reply = await wait_for(pilot, lambda: reply_to(app, ("word " * 150)), what="reply")
            assert "maximum context length is 100 tokens" in one_line(reply.error)


async def test_unauthorized_and_unknown_model():
    with running_simulator(fast_config(api_key="sk-right-key")) as sim:
        app = make_app(sim, api_key="sk-wrong-key")
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: [n for n in notices(app) if n.strip()], what="notice drawn")
            assert "401" in one_line(notices(app)[0])
            assert "sk-wrong-key" not in notices(app)[0]
            assert app.is_running and app.query_one(AppHeader).server_state == "unreachable"
    with running_simulator(fast_config(model="a", extra_models=["b"])) as sim:
        app = make_app(sim, model="missing-model")
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await send(pilot, "hi")
            reply = await wait_for(pilot, lambda: reply_to(app, "hi"), what="reply")
            assert "HTTP 404" in one_line(reply.error) and "does not exist" in reply.error


async def test_llamacpp_overflow_stream_closed_without_events():
    with running_simulator(fast_config(profile="llamacpp", max_model_len=200)) as sim:
        app = make_app(sim, context_window=100_000)  # the app cannot know llama.cpp's window
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await send(pilot, "word " * 400)
            reply = await wait_for(pilot, lambda: reply_to(app, "word " * 400), what="reply")
            # llama.cpp answers 200 and then closes the stream: the line says what likely happened
            assert "context window" in one_line(reply.error) and reply.status is Status.ERROR


async def test_server_absent_at_start_then_appears():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = make_app(SimpleNamespace(base_url=f"http://127.0.0.1:{port}/v1"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: [n for n in notices(app) if n.strip()], what="unreachable notice drawn")
        assert "Cannot reach the server" in one_line(notices(app)[0])
        await send(pilot, "are you there?")
        reply = await wait_for(pilot, lambda: reply_to(app, "are you there?"), what="reply")
        assert reply.status is Status.ERROR and "Not connected" in reply.error
        server = Simulator(SimConfig(rate=2000.0, ttft=0.01))  # comes up on the port the app polls
        await server.start(port=port)
        try:
            await wait_for(pilot, lambda: app.client is not None, timeout=10, what="reconnect")
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: (r := reply_to(app, "are you there?")) is not None
                           and r.status is Status.COMPLETE, timeout=10, what="retried reply")
        finally:
            await server.stop()
