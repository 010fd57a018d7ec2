"""Every figure line of every sidebar panel fits its panel, on a wide and on an 80-column terminal,
idle and while a reply streams: a line that wraps leaves one word alone on the next line."""

from __future__ import annotations

import pytest
from appdriver import (
    client,
    is_streaming,
    make_app,
    meter,
    metrics_polled,
    panel,
    panel_text,
    running_simulator,
    send,
    wait_for,
    widget_text,
)

from zorac_tui.ui.gpu_panel import GpuPanel
from zorac_tui.ui.memory_panel import MemoryPanel
from zorac_tui.ui.server_panel import ServerPanel
from zorac_tui.ui.throughput_panel import ThroughputPanel

PANELS = (GpuPanel, ThroughputPanel, MemoryPanel, ServerPanel)


def too_wide(app) -> list[str]:
    """Lines of the sidebar panels longer than their panel's content width."""
    found = []
    for kind in PANELS:
        width = panel(app, kind).size.width
        for line in panel_text(app, kind).split("\n"):
            if len(line) > width:
                found.append(f"{kind.__name__} ({width}): {line!r}")
    return found


@pytest.mark.parametrize("size", [(80, 24), (99, 30), (120, 40)])
async def test_no_sidebar_line_wraps(size: tuple[int, int]) -> None:
    with running_simulator(rate=60.0, answer_tokens=400) as sim:
        app = make_app(sim, demo=True, weights_gb=14.0)  # the simulated 4090: every panel has figures
        async with app.run_test(size=size) as pilot:
            await wait_for(pilot, lambda: client(app) is not None and panel(app, ServerPanel).stats is not None
                           and panel(app, GpuPanel).snapshot is not None, what="every panel filled")
            assert too_wide(app) == []
            send(pilot, "Explain the KV cache")
            await wait_for(pilot, lambda: meter(app) is not None and meter(app).tokens > 20, what="streaming")
            await wait_for(pilot, lambda: panel(app, ThroughputPanel).live is not None, what="live figures")
            assert too_wide(app) == []
            await pilot.press("escape")
            await wait_for(pilot, lambda: not is_streaming(app) and panel(app, ThroughputPanel).last is not None,
                           what="the last reply's figures")
            assert too_wide(app) == []


async def test_panels_take_their_short_layout_on_a_resize_without_new_figures() -> None:
    """Shrinking the terminal redraws each panel for its new width at once, not at its next sample."""
    with running_simulator() as sim:
        app = make_app(sim, demo=True, telemetry_interval=60.0, metrics_interval=60.0)  # no new figures
        async with app.run_test(size=(120, 40)) as pilot:
            await metrics_polled(pilot)
            await wait_for(pilot, lambda: panel(app, GpuPanel).snapshot is not None, what="every panel filled")
            await pilot.resize_terminal(80, 24)
            await wait_for(pilot, lambda: panel(app, ThroughputPanel).size.width == 20, what="the narrow sidebar")

            def wrapped() -> list[str]:
                """The panels whose drawn lines (inside the border) outnumber their text's lines."""
                return [kind.__name__ for kind in PANELS
                        if len(widget_text(panel(app, kind)).splitlines()[1:-1]) != len(panel_text(app, kind).split("\n"))]

            await wait_for(pilot, lambda: not wrapped(), what="every panel drawn for 20 columns without wrapping")
