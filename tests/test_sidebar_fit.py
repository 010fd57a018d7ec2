"""Every figure line of every sidebar panel fits its panel, on a wide and on an 80-column terminal,
idle and while a reply streams: a line that wraps leaves one word alone on the next line."""

from __future__ import annotations

import pytest
from uihelpers import fast_config, make_app, running_simulator, wait_for

from zorac_tui.ui.gpu_panel import GpuPanel
from zorac_tui.ui.memory_panel import MemoryPanel
from zorac_tui.ui.prompt import PromptInput
from zorac_tui.ui.server_panel import ServerPanel
from zorac_tui.ui.throughput_panel import ThroughputPanel

PANELS = (GpuPanel, ThroughputPanel, MemoryPanel, ServerPanel)


def too_wide(app) -> list[str]:
    """Lines of the sidebar panels longer than their panel's content width."""
    found = []
    for kind in PANELS:
        panel = app.query_one(kind)
        width = panel.size.width
        for line in panel.render_text().plain.split("\n"):
            if len(line) > width:
                found.append(f"{kind.__name__} ({width}): {line!r}")
    return found


@pytest.mark.parametrize("size", [(80, 24), (99, 30), (120, 40)])
async def test_no_sidebar_line_wraps(size: tuple[int, int]) -> None:
    with running_simulator(fast_config(rate=60.0, answer_tokens=400)) as sim:
        app = make_app(sim, demo=True, weights_gb=14.0)  # the simulated 4090: every panel has figures
        async with app.run_test(size=size) as pilot:
            await wait_for(pilot, lambda: app.client is not None and app.query_one(ServerPanel).stats is not None
                           and app.query_one(GpuPanel).snapshot is not None, what="every panel filled")
            assert too_wide(app) == []
            app.query_one(PromptInput).load_text("Explain the KV cache")
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.meter is not None and app.meter.tokens > 20, what="streaming")
            await wait_for(pilot, lambda: app.query_one(ThroughputPanel).live is not None, what="live figures")
            assert too_wide(app) == []
            await pilot.press("escape")
            await wait_for(pilot, lambda: not app.streaming and app.query_one(ThroughputPanel).last is not None,
                           what="the last reply's figures")
            assert too_wide(app) == []


async def test_panels_take_their_short_layout_on_a_resize_without_new_figures() -> None:
    """Shrinking the terminal redraws each panel for its new width at once, not at its next sample."""
    from appdriver import widget_text as drawn_text

    with running_simulator(fast_config()) as sim:
        app = make_app(sim, demo=True, telemetry_interval=60.0, metrics_interval=60.0)  # no new figures
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.query_one(ServerPanel).stats is not None
                           and app.query_one(GpuPanel).snapshot is not None, what="every panel filled")
            await pilot.resize_terminal(80, 24)
            await wait_for(pilot, lambda: app.query_one(ThroughputPanel).size.width == 20, what="the narrow sidebar")
            await pilot.pause()
            for kind in PANELS:
                panel = app.query_one(kind)
                drawn = drawn_text(panel).splitlines()[1:-1]  # inside the border
                body = panel.render_text().plain.split("\n")
                assert len(drawn) == len(body), (kind.__name__, drawn, body)  # no line wrapped
