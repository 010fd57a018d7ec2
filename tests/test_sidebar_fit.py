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
