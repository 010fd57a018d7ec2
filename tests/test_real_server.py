"""Opt-in: the chat flow against a real server at ZORAC_TEST_BASE_URL (vLLM or llama.cpp); skipped without it.

    ZORAC_TEST_BASE_URL=http://127.0.0.1:8000/v1 python -m pytest -m real_server
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
from uihelpers import SIZE, make_app, reply_to, set_prompt, wait_for

from zorac_tui.core.conversation import Status
from zorac_tui.ui.gauge import ContextGauge

BASE_URL = os.environ.get("ZORAC_TEST_BASE_URL", "")

pytestmark = [
    pytest.mark.real_server,
    pytest.mark.skipif(not BASE_URL, reason="set ZORAC_TEST_BASE_URL to a running vLLM or llama.cpp server"),
]


def real_app(**settings):
    """The app against the real server (small replies: the test models are tiny and CPU-bound)."""
    return make_app(SimpleNamespace(base_url=BASE_URL), **{"max_tokens": 48, "stall_timeout": 60, **settings})


async def test_real_server_chat_stream_and_stats():
    app = real_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.client is not None, timeout=30, what="connection")
        set_prompt(app, "Write one short sentence about the sea.")
        await pilot.press("enter")
        reply = await wait_for(pilot, lambda: reply_to(app, "Write one short sentence about the sea."),
                               timeout=120, what="reply")
        assert reply.status is Status.COMPLETE, reply.error
        assert reply.content.strip()
        stats = reply.stats
        assert stats.completion_tokens and stats.decode_tok_s and stats.ttft_s
        if app.server.flavor == "vllm":
            assert not stats.estimated and stats.prompt_tokens
            await wait_for(pilot, lambda: app.query_one(ContextGauge).budget is not None, what="gauge")
            assert app.query_one(ContextGauge).budget.exact
        else:
            assert stats.estimated  # llama.cpp sends no usage in streams


async def test_real_server_cancel_keeps_partial_text():
    app = real_app(max_tokens=400)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.client is not None, timeout=30, what="connection")
        set_prompt(app, "Tell me a long story about a lighthouse keeper.")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.meter is not None and app.meter.tokens >= 3, timeout=60, what="tokens")
        await pilot.press("escape")
        reply = await wait_for(pilot, lambda: reply_to(app, "Tell me a long story about a lighthouse keeper."),
                               timeout=30, what="cancelled reply")
        assert reply.status is Status.CANCELLED and reply.content
