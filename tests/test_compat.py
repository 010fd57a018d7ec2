"""ui/compat.py's compositor: a partial update draws exactly what Textual's own compositor draws, asking fewer widgets."""

from __future__ import annotations

from appdriver import ask, connected, make_app, pane, region, sidebar, visible_text
from textual._compositor import Compositor
from textual.geometry import Region
from textual.widgets import Footer

from zorac_tui.ui.compat import DirtyRowsCompositor, NextSlotTimer, slots_passed


def draw(compositor: Compositor, dirty: list[Region], console: object, cls: type[Compositor]) -> str:
    """What a partial update of `dirty` writes to the terminal, drawn by `cls`'s code on the same layout."""
    own = compositor.__class__
    compositor.__class__ = cls
    try:
        compositor._dirty_regions.update(dirty)
        update = compositor.render_partial_update()
        assert update is not None
        return update.render_segments(console)
    finally:
        compositor.__class__ = own


async def test_partial_updates_write_what_textuals_compositor_writes(sim_factory) -> None:
    sim = sim_factory(reply_text="# Plan\n\nSome **bold** text.\n\n```python\nprint('hi')\n```\n\n- one\n- two\n" * 4)
    app = make_app(sim)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        await ask(pilot, "hello")
        compositor = app.screen._compositor
        assert isinstance(compositor, DirtyRowsCompositor)
        transcript, side, prompt = pane(app).region, region(app, "sidebar"), region(app, "prompt")
        row = Region(transcript.x, transcript.bottom - 3, transcript.width, 2)
        cases = [
            [row],  # a transcript row (the live tail)
            [row, Region(side.x, side.y + 1, side.width, 4)],  # ... and a sidebar panel far above it
            [row, Region(prompt.x, prompt.y, 3, 1)],  # ... and the prompt's cursor below it
            [transcript, side],  # a scroll and a telemetry sample
            [Region(0, 0, 120, 40)],  # all of it
        ]
        for dirty in cases:
            for widget in (pane(app), sidebar(app)):
                widget.refresh()  # their rows drawn again, not only taken from the style cache
            ours = draw(compositor, dirty, app.console, DirtyRowsCompositor)
            for widget in (pane(app), sidebar(app)):
                widget.refresh()
            theirs = draw(compositor, dirty, app.console, Compositor)
            assert ours == theirs, f"different output for {dirty}"
        # a transcript row alone asks no widget but those on its rows, and only for those rows
        compositor._is_rendered_line = set(range(row.y, row.bottom)).__contains__
        asked = list(compositor._get_renders(row))
        assert asked and transcript in {where for where, _, _ in asked}
        for _where, clip, strips in asked:
            assert len(strips) == clip.height and row.y <= clip.y and clip.bottom <= row.bottom
        others = (region(app, "header"), app.query_one(Footer).region, prompt, region(app, "gauge"))
        assert not {where for where, _, _ in asked} & set(others)


def test_a_late_timer_aims_at_the_next_slot_not_the_one_after() -> None:
    interval = 1 / 60
    for elapsed in (0.0, 0.001, 10.5 * interval, 41.999 * interval, 3.0):
        count = slots_passed(elapsed, interval)
        next_slot = (count + 1) * interval  # what the timer's loop aims at after a late tick
        assert elapsed < next_slot <= elapsed + interval + 1e-12, (elapsed, count)


async def test_the_screens_frames_run_on_the_next_slot_timer(sim_factory) -> None:
    sim = sim_factory()
    app = make_app(sim)
    async with app.run_test() as pilot:
        await connected(pilot)
        timer = app.screen._update_timer
        assert isinstance(timer, NextSlotTimer) and timer is app.screen._update_timer
        assert timer.name == "screen_update" and timer in app.screen._timers
        reply = await ask(pilot, "draw this")  # frames still come: the finished reply reaches the screen
        await pilot.pause()
        shown = visible_text(app, pane(app))
        assert reply.content.split()[-1].strip("`*_.") in shown and "tok/s" in shown
