"""Opt-in: the chat flow against a real server (vLLM or llama.cpp) at ZORAC_TEST_BASE_URL; skipped without it.

    ZORAC_TEST_BASE_URL=http://127.0.0.1:8000/v1 python -m pytest -m real_server     # vLLM
    ZORAC_TEST_BASE_URL=http://127.0.0.1:8091/v1 python -m pytest -m real_server     # llama.cpp

The project's shared real-servers scripts (real-servers/README.md beside the repository) start both on a CPU-only machine with SmolLM2-135M. The same flow is
tested against the simulator in test_app_chat.py; these tests check that the real servers agree.
Replies are kept short: the test models are tiny and CPU-bound.
"""

from __future__ import annotations

import os
import re
import time

import pytest
from appdriver import (
    SIZE,
    Status,
    ask,
    budget,
    client,
    counter,
    footer_text,
    gauge,
    gauge_text,
    header_text,
    make_app,
    max_model_len,
    model,
    notices,
    send,
    server_info,
    server_state,
    user_texts,
    wait_for,
    wait_reply,
    wait_tokens,
)

BASE_URL = os.environ.get("ZORAC_TEST_BASE_URL", "")
EXACT_STATS = re.compile(r"^(\d[\d,]*) tokens · (\d+\.\d) tok/s · TTFT (\d+ ms|\d+\.\d\d s) · prompt (\d[\d,]*)")
ESTIMATED_STATS = re.compile(r"^≈(\d[\d,]*) tokens · ≈(\d+\.\d) tok/s · TTFT (\d+ ms|\d+\.\d\d s)")

pytestmark = pytest.mark.real_server


@pytest.fixture
def base_url() -> str:
    """The real server's URL, or a clean skip that says how to run these tests."""
    if not BASE_URL:
        pytest.skip("set ZORAC_TEST_BASE_URL to a running vLLM or llama.cpp server "
                    "(the shared real-servers scripts start one: vLLM on :8000, llama.cpp on :8091)")
    return BASE_URL


async def connect(pilot):
    """Wait until the app has adopted the real server (model loading can take a while)."""
    app = pilot.app
    await wait_for(pilot, lambda: client(app) is not None and counter(app) is not None
                   and server_state(app) == "connected", 60, "the app to connect to the real server")
    await wait_for(pilot, lambda: gauge(app).budget is not None, 30, "the first gauge count")
    return app


async def test_connect_send_stream_and_stats(base_url):
    app = make_app(base_url, max_tokens=48, stall_timeout=60.0)
    async with app.run_test(size=(140, 40)) as pilot:
        await connect(pilot)
        info = server_info(app)
        served = [m.id for m in info.models]
        assert model(app) in served and model(app) in header_text(app) and "● connected" in header_text(app)
        assert any(f"model {model(app)}" in n for n in notices(app)), notices(app)
        reply = await ask(pilot, "Write one short sentence about the sea.", timeout=120)
        assert reply.status is Status.COMPLETE, reply.error
        assert reply.content.strip()
        stats = reply.stats
        assert stats.completion_tokens and stats.decode_tok_s and stats.ttft_s
        assert stats.completion_tokens <= 48 + 1
        footer = footer_text(app, reply)
        if info.flavor == "vllm":
            assert max_model_len(app) and f"/ {max_model_len(app):,} tokens" in gauge_text(app)
            assert not stats.estimated and stats.prompt_tokens
            assert EXACT_STATS.match(footer), footer
            assert budget(app).exact and "window server" in gauge_text(app)
        else:  # llama.cpp: no usage in streams, no max_model_len in /v1/models
            assert max_model_len(app) is None and "window configured" in gauge_text(app)
            assert stats.estimated and ESTIMATED_STATS.match(footer), footer
            assert "server sent no usage" in footer
        print(f"\n[{info.flavor} {info.version or ''}] {model(app)}: {footer}")


async def test_cancel_keeps_the_partial_reply_and_the_app_goes_on(base_url):
    app = make_app(base_url, max_tokens=400, stall_timeout=60.0)
    async with app.run_test(size=SIZE) as pilot:
        await connect(pilot)
        question = "Tell me a long story about a lighthouse keeper."
        send(pilot, question)
        await wait_tokens(pilot, 5, timeout=60)
        await pilot.press("escape")
        reply = await wait_reply(pilot, question, timeout=30)
        assert reply.status is Status.CANCELLED and reply.content.strip()
        assert "cancelled by you — partial reply kept" in footer_text(app, reply)
        second = await ask(pilot, "Say hello.", timeout=120)
        assert second.status is Status.COMPLETE, second.error
        assert user_texts(app) == [question, "Say hello."]


async def test_reasoning_stream_arrives_as_thinking_and_the_counts_add_up(base_url):
    """The fixture README's reasoning prompt through ChatClient; needs a server with a reasoning parser
    (vLLM `--reasoning-parser`, e.g. the real-servers scripts with EXTRA_ARGS="--reasoning-parser olmo3")."""
    from zorac_tui.core.throughput import ThroughputMeter
    from zorac_tui.server.client import ChatClient
    from zorac_tui.server.events import Delta, Failed, Finished, Recast
    from zorac_tui.server.probe import probe

    info = await probe(base_url)
    model = info.models[0].id if info.models else "smollm2"
    client = ChatClient(base_url, stall_timeout=120.0)
    await client.warm_up()
    meter = ThroughputMeter(time.perf_counter())
    events = []
    try:
        async for event in client.stream([{"role": "user", "content": "What is the capital of Italy? Think first."}],
                                         model=model, max_tokens=80, temperature=0):
            events.append(event)
            if isinstance(event, Delta):
                meter.add(event.at, event.completion_tokens, thinking=event.thinking)
            elif isinstance(event, Recast):
                meter.recast()
            elif isinstance(event, Finished) and event.usage is not None:
                meter.correct_total(event.usage.completion_tokens)
    finally:
        await client.aclose()
    end = events[-1]
    assert not isinstance(end, Failed), end.message
    thinking = [e for e in events if isinstance(e, Delta) and e.thinking]
    if not thinking:
        pytest.skip("the server sent no thinking: start it with a reasoning parser (vLLM --reasoning-parser olmo3)")
    answer = [e for e in events if isinstance(e, Delta) and not e.thinking]
    assert isinstance(end, Finished) and end.reason in ("stop", "length")
    assert "".join(e.text for e in thinking).strip()
    r = meter.reading()
    if end.usage is not None:  # vLLM: per-chunk counts; the split adds up to the server's total
        assert r.thinking_tokens + r.answer_tokens == end.usage.completion_tokens == r.tokens
        assert r.thinking_tokens >= len(thinking) and not r.estimated
        counts = [e.completion_tokens for e in events if isinstance(e, Delta)]
        assert counts == sorted(counts) and None not in counts
    assert r.ttft_s is not None and r.thinking_s is not None
    print(f"\n[reasoning] {len(thinking)} thinking / {len(answer)} answer deltas; tokens thinking "
          f"{r.thinking_tokens}, answer {r.answer_tokens}, total {r.tokens}; TTFT {r.ttft_s:.3f} s, "
          f"first answer {r.ttfa_s}, decode {r.average_tok_s} tok/s; finish {end.reason}")
