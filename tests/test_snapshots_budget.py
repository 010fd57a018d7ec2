"""Snapshots of the context gauge in its three states: ok, warning near the limit, over (refused before sending).

The real app against the simulator (512-token window, 64-token reply reserve). Only the draft in the
prompt changes between states, so no reply timing reaches the screen; the sidebar (live telemetry) is
hidden with Ctrl+B and the header's server URL, which carries the simulator's random port, is pinned.
"""

from __future__ import annotations

from appdriver import (
    budget,
    connected,
    gauge,
    idle_budget,
    make_app,
    metrics_polled,
    notices,
    pin_server_detail,
    prompt,
    running_simulator,
    set_prompt,
    wait_for,
)

SIZE = (100, 30)
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]


def draft(words: int) -> str:
    """A draft of `words` simulator tokens, ten words a line."""
    picked = (WORDS * (words // len(WORDS) + 1))[:words]
    return "\n".join(" ".join(picked[i:i + 10]) for i in range(0, len(picked), 10))


def gauge_snapshot(snap_compare, text: str, level: str, send: bool = False) -> bool:
    """Start the app, type `text` as the draft, wait for the gauge to reach `level`, take the snapshot."""
    with running_simulator(max_model_len=512) as sim:
        app = make_app(sim, max_tokens=64, telemetry_interval=60.0, metrics_interval=60.0)

        async def run_before(pilot) -> None:
            await connected(pilot)
            await metrics_polled(pilot)
            await pilot.press("ctrl+b")  # hide the sidebar: its figures are live
            pin_server_detail(app, "vllm 0.32.0 · http://127.0.0.1:8000/v1")
            set_prompt(app, text)
            await wait_for(pilot, lambda: budget(app) is not None and budget(app).draft > 0, what="draft counted")
            await idle_budget(pilot)
            if send:
                await pilot.press("enter")
                await wait_for(pilot, lambda: notices(app) and "not sent" in notices(app)[-1], what="refusal")
            await idle_budget(pilot)
            assert budget(app).level() == level
            assert gauge(app).has_class("-warning") == (level == "warning")
            assert gauge(app).has_class("-over") == (level == "over")
            prompt(app).cursor_blink = False  # the cursor is drawn or not by timing
            app.set_focus(None)

        return snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_gauge_ok(snap_compare):
    assert gauge_snapshot(snap_compare, "How much room is left?", "ok")


def test_gauge_warning_near_the_limit(snap_compare):
    assert gauge_snapshot(snap_compare, draft(360), "warning")


def test_gauge_over_refuses_to_send(snap_compare):
    assert gauge_snapshot(snap_compare, draft(600), "over", send=True)
