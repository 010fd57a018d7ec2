"""End to end: every failure is one clear line, the app stays up, the user's message is kept, Ctrl+R retries.

The real app against the project's simulator over real HTTP on 127.0.0.1; each fault is injected by the
simulator (Faults, or its configuration changed the way a restarted server would change), then removed,
and Ctrl+R must bring the reply the simulator sends.
"""

from __future__ import annotations

import socket

import pytest
from appdriver import (
    SIZE,
    Faults,
    SimConfig,
    Status,
    ask,
    assistant_messages,
    body_text,
    chat_requests,
    connected,
    fast_config,
    flat,
    footer_text,
    gauge_text,
    header_text,
    is_streaming,
    live_footer,
    make_app,
    notices,
    prompt,
    screen_text,
    send,
    server_panel_text,
    server_state,
    toasts,
    user_texts,
    wait_for,
    wait_reply,
    window,
)
from replay import ReplayServer, raw_reply, wrapped_reply

ANSWER = "The answer is forty-two, as computed over seven and a half million years."
QUESTION = "What is the answer?"


def free_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound and released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def one_line(text: str | None) -> str:
    """The error text, checked to be one non-empty line without a traceback."""
    assert text and "\n" not in text and "Traceback" not in text, text
    return text


async def fails_then_retries(pilot, sim, expect: str | tuple[str, ...], *, partial: bool = False,
                             fix=None) -> None:
    """Send QUESTION under the simulator's current fault; check the one error line; fix; Ctrl+R; check the reply.

    `expect`: words the error line must hold. `partial`: some of the answer arrived before the failure and is
    kept. `fix`: removes the fault (default: clear the simulator's Faults).
    """
    app = pilot.app
    notices_before = len(notices(app))
    reply = await ask(pilot, QUESTION, timeout=15)
    assert reply.status is Status.ERROR, (reply.status, reply.error)
    line = one_line(reply.error)
    for words in (expect,) if isinstance(expect, str) else expect:
        assert words in line, line
    assert line in footer_text(app, reply)  # shown under the reply, where it happened
    assert len(notices(app)) == notices_before  # the reply's own line says it; no second message
    if partial:
        assert reply.content and ANSWER.startswith(reply.content) and reply.content != ANSWER
    else:
        assert ANSWER.startswith(reply.content)
    assert app.is_running and user_texts(app) == [QUESTION] and prompt(app).text == ""
    if fix is None:
        sim.simulator.config.faults = Faults()
    else:
        fix()
    await pilot.press("ctrl+r")
    await wait_for(pilot, lambda: (r := assistant_messages(app)) and r[-1] is not reply
                   and r[-1].status is not Status.STREAMING and not is_streaming(app), 15, "the retried reply")
    retried = assistant_messages(app)[-1]
    assert retried.status is Status.COMPLETE and retried.content == ANSWER, retried.error
    assert assistant_messages(app) == [retried] and user_texts(app) == [QUESTION]  # the failed reply is replaced
    assert ANSWER in " ".join(body_text(app, retried).split())
    assert [m["content"] for m in chat_requests(sim)[-1]["messages"] if m["role"] == "user"] == [QUESTION]


async def test_server_not_running_at_start_then_it_comes_up(sim_factory):
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    app = make_app(base_url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: [n for n in notices(app) if n], what="the unreachable notice drawn")
        (notice,) = notices(app)
        assert f"Cannot reach the server at {base_url}" in one_line(notice) and "Retrying every 2 s" in notice
        assert server_state(app) == "unreachable" and "● unreachable" in header_text(app)
        send(pilot, QUESTION)  # typing and sending still work: the message waits for the server
        await wait_for(pilot, lambda: "waiting for the server" in live_footer(app), what="the reply waiting")
        assert user_texts(app) == [QUESTION]
        sim = sim_factory(fast_config(reply_text=ANSWER), port=port)  # the server comes up on that port
        reply = await wait_reply(pilot, QUESTION, timeout=20)  # sent by itself once it answers: no Ctrl+R
        assert reply.status is Status.COMPLETE and reply.content == ANSWER and user_texts(app) == [QUESTION]
        await connected(pilot)
        assert "● connected" in header_text(app)
        assert any("Connected to vllm" in n for n in notices(app))
        assert not any("Ctrl+R" in n for n in notices(app))
        follow_up = await ask(pilot, "and a new message?")
        assert follow_up.status is Status.COMPLETE and follow_up.content == ANSWER
        assert len(chat_requests(sim)) == 2


@pytest.mark.parametrize(("faults", "expect", "partial"), [
    (Faults(drop_at_token=6), ("connection to the server was lost mid-reply after 6 tokens",
                               "partial reply is kept"), True),
    (Faults(http_status=500, http_body={"error": {"message": "CUDA error: an illegal memory access",
                                                  "type": "InternalServerError", "code": 500}}),
     ("HTTP 500: CUDA error: an illegal memory access", "server's log"), False),
    (Faults(http_status=404), ("HTTP 404", "ends in /v1"), False),
    (Faults(malformed_at_token=5), ("not valid JSON", "after 5 tokens"), True),
], ids=["dropped-mid-reply", "500-with-body", "404", "malformed-chunk"])  # a stall: test_fault_matrix.py
async def test_fault_is_one_line_and_ctrl_r_retries(sim_factory, faults, expect, partial):
    sim = sim_factory(reply_text=ANSWER, rate=300.0)
    app = make_app(sim)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        sim.simulator.config.faults = faults
        await fails_then_retries(pilot, sim, expect, partial=partial)


async def test_context_length_refused_by_the_server(sim_factory):
    """The app's own refusal of an over-long prompt: test_app_budget.py (test_overflow_is_caught_before_sending)."""
    sim = sim_factory(reply_text=ANSWER, max_model_len=256)
    app = make_app(sim, max_tokens=32)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        sim.simulator.config.max_model_len = 16  # the server restarted with a smaller window than the app knows
        await fails_then_retries(pilot, sim, ("does not fit the model's context window",
                                              "This model's maximum context length is 16 tokens"),
                                 fix=lambda: setattr(sim.simulator.config, "max_model_len", 256))


async def test_unauthorized_at_connect_and_mid_session(sim_factory):
    sim = sim_factory(reply_text=ANSWER, api_key="sk-test-4f9a7c1e")
    app = make_app(sim, api_key="sk-wrong-key")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: [n for n in notices(app) if n], what="the connect failure drawn")
        (notice,) = notices(app)
        assert "401" in one_line(notice) and "API key" in notice and server_state(app) == "unreachable"
        assert "sk-wrong-key" not in notice
        sim.simulator.config.api_key = None  # the server's key requirement is lifted: the app connects by itself
        await connected(pilot)
        sim.simulator.config.api_key = "sk-test-4f9a7c1e"  # and back: now the chat request itself is refused
        await fails_then_retries(pilot, sim, ("HTTP 401", "check the API key"),
                                 fix=lambda: setattr(sim.simulator.config, "api_key", None))
        shown = await wait_for(pilot, lambda: ANSWER[:30] in (t := screen_text(app)) and t, what="the retried reply drawn")
        assert "sk-test-4f9a7c1e" not in shown and "sk-wrong-key" not in shown


async def test_configured_model_not_served_among_several(sim_factory):
    sim = sim_factory(reply_text=ANSWER, model="served-a", extra_models=["served-b"])
    app = make_app(sim, model="missing-model")
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        assert any("does not list it" in n and "served-a, served-b" in n for n in notices(app)), notices(app)
        await fails_then_retries(pilot, sim, ("HTTP 404", "The model `missing-model` does not exist",
                                              "the model name looks wrong"),
                                 fix=lambda: sim.simulator.config.extra_models.append("missing-model"))
        assert chat_requests(sim)[-1]["model"] == "missing-model"


async def test_llamacpp_overflow_stream_closed_without_events(sim_factory):
    sim = sim_factory(SimConfig(profile="llamacpp", max_model_len=16, reply_text=ANSWER, rate=2000.0, ttft=0.01))
    app = make_app(sim)  # llama.cpp does not say its n_ctx: the app assumes 16,384 and sends
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await fails_then_retries(pilot, sim, ("context window", "llama.cpp"),
                                 fix=lambda: setattr(sim.simulator.config, "max_model_len", 4096))


async def test_a_context_error_makes_the_app_read_the_servers_window_again(sim_factory):
    """vLLM restarted with a smaller --max-model-len: the context error makes the app ask /v1/models again,
    and the gauge and the server panel use the new window from then on."""
    sim = sim_factory(reply_text=ANSWER, max_model_len=4096)
    app = make_app(sim, max_tokens=16)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await connected(pilot)
        assert "/ 4,096 tokens" in gauge_text(app)
        sim.simulator.config.max_model_len = 64
        send(pilot, "lorem ipsum " * 40)  # ~80 tokens: fits 4,096, not 64
        reply = await wait_for(pilot, lambda: (r := assistant_messages(app)) and r[-1].status is Status.ERROR
                               and r[-1], what="the context error")
        assert "maximum context length is 64 tokens" in reply.error
        await wait_for(pilot, lambda: "/ 64 tokens" in gauge_text(app), what="the gauge on the new window")
        assert window(app) == (64, "server") and "window server" in gauge_text(app)
        await wait_for(pilot, lambda: any("context window is 64 tokens (the gauge used 4,096, server)" in t
                                          for t in toasts(app)), what="the toast saying so")
        assert "context 64 tokens" in server_panel_text(app)


async def test_a_server_that_hides_its_window_states_it_in_the_error():
    """A server whose /v1/models has no max_model_len (llama.cpp-style) and whose context error states the
    limit: the gauge adopts it, says where it came from, and the next oversized draft is refused before sending."""
    async with ReplayServer() as server:
        server.set("GET", "/v1/models", raw_reply("llamacpp", "models.json"))
        server.set("POST", "/v1/chat/completions", wrapped_reply("vllm", "error_context_length_stream.json"))
        app = make_app(server, max_tokens=16)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await connected(pilot)
            assert window(app) == (16384, "configured")
            send(pilot, "lorem ipsum " * 40)
            await wait_for(pilot, lambda: window(app) == (4096, "from error"), what="the learned window")
            # the gauge grows a line for the longer source only at its next layout: wait for what it shows then
            await wait_for(pilot, lambda: "/ 4,096 tokens" in gauge_text(app)
                           and "window from error" in flat(gauge_text(app)), what="the gauge on 4,096, from error")
            assert "context 4,096 tokens (from error)" in server_panel_text(app)
            await wait_for(pilot, lambda: any("context window is 4,096 tokens (the gauge used 16,384, configured)"
                                              in t for t in toasts(app)), what="the toast saying so")
            prompt(app).clear()
            chats = lambda: [r for r in server.requests if r.path == "/v1/chat/completions"]  # noqa: E731
            requests = len(chats())
            send(pilot, "lorem ipsum " * 2500)  # ~5,000 tokens by the estimate: over the learned window
            await wait_for(pilot, lambda: any("not sent" in n for n in notices(app)), what="the app's refusal")
            assert len(chats()) == requests  # refused before sending
