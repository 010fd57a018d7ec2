"""Snapshots of the main screen after one short reply: at 120x40 (full sidebar) and 80x24 (narrow sidebar), and at
100x30 with the sidebar hidden and the reply footers emptied (test_main_screen_snapshot).

The real app against the simulator (fixed model, window and reply text). What varies from run to run is
pinned before the picture is taken, and only that:
- the GPU: a machine without an NVIDIA driver (FakePynvml whose nvmlInit fails as pynvml's does), so the
  GPU and memory panels say why they are empty instead of showing this machine's hardware;
- /metrics: polled once, before the reply (metrics_interval of an hour), so the server panel is idle;
- the header's server URL, which carries the simulator's random port;
- the measured decode tok/s and TTFT (under the reply and in the throughput panel); token counts are the
  simulator's and stay as measured;
- the prompt's blinking cursor (shown steadily).
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace

from appdriver import (
    ask,
    connected,
    gauge,
    idle_budget,
    make_app,
    messages,
    metrics_polled,
    pane,
    panel,
    pin_server_detail,
    prompt,
    recount,
    sidebar,
    wait_for,
)
from fakes.fake_pynvml import FakePynvml, NVMLError_LibraryNotFound

from zorac_tui.core.conversation import Status
from zorac_tui.ui.throughput_panel import ThroughputPanel

REPLY = "**Hello.** I run on your own GPU.\n\n- ask about `vLLM`\n- or paste an error message"
MODEL = "org/Snapshot-Model-AWQ"
PINNED_TOK_S, PINNED_TTFT = 62.5, 0.312


def snapshot_app(sim_factory):
    """A non-demo app on a machine without NVIDIA driver, against a fixed simulator."""
    sim = sim_factory(model=MODEL, max_model_len=8192, reply_text=REPLY)
    return make_app(sim, model=MODEL, nvml=FakePynvml(init_error=NVMLError_LibraryNotFound),
                    telemetry_interval=3600.0, metrics_interval=3600.0, max_tokens=512)


async def after_one_reply(pilot) -> None:
    """Connect, let /metrics answer once, ask one question, then pin what varies."""
    app = pilot.app
    await connected(pilot)
    await metrics_polled(pilot)
    reply = await ask(pilot, "Hi! What can you do?")
    assert reply.status is Status.COMPLETE and reply.content == REPLY
    await idle_budget(pilot)
    pin_server_detail(app, "vllm 0.32.0 · http://127.0.0.1:8000/v1")
    reply.stats = replace(reply.stats, decode_tok_s=PINNED_TOK_S, ttft_s=PINNED_TTFT)
    pane(app).refresh_message(reply)
    throughput = panel(app, ThroughputPanel)
    throughput.last = replace(throughput.last, average_tok_s=PINNED_TOK_S, ttft_s=PINNED_TTFT)
    throughput.history = deque([PINNED_TOK_S], maxlen=throughput.history.maxlen)
    throughput.update(throughput.render_text())
    box = prompt(app)
    box.cursor_blink = False  # a blinking cursor is on or off depending on when the picture is taken
    box.refresh()  # redraw now: the line cache may hold the cursor from its last blink
    assert box.has_focus


def test_main_screen_after_one_reply_120x40(snap_compare, sim_factory):
    assert snap_compare(snapshot_app(sim_factory), terminal_size=(120, 40), run_before=after_one_reply)


def test_main_screen_after_one_reply_80x24(snap_compare, sim_factory):
    assert snap_compare(snapshot_app(sim_factory), terminal_size=(80, 24), run_before=after_one_reply)


def test_main_screen_snapshot(snap_compare, sim_factory):
    """The main layout right after a fixed reply (no sidebar: its telemetry moves; header detail pinned)."""
    sim = sim_factory(reply_text="**Hello.** Ask me about `vLLM`.", max_model_len=8192)

    async def run_before(pilot):
        app = pilot.app
        await connected(pilot)
        await ask(pilot, "hello")
        await metrics_polled(pilot)
        recount(app)  # the gauge's KV note needs the capacity from /metrics
        await wait_for(pilot, lambda: "KV" in gauge(app).note, what="the gauge's KV note")
        sidebar(app).display = False
        pin_server_detail(app, "vllm 0.32.0 · simulator")
        for message in messages(app):  # timings vary run to run: pinned
            if message.stats is not None:
                message.stats = replace(message.stats, decode_tok_s=PINNED_TOK_S, ttft_s=PINNED_TTFT)
                pane(app).refresh_message(message)
        app.set_focus(None)  # the prompt's cursor is drawn or not by timing

    app = make_app(sim, telemetry_interval=0.2, metrics_interval=0.3)
    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)
