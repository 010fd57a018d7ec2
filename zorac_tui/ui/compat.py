"""The private Textual API this app relies on, in one place: each use says why and the Textual it was checked with.

Everything else in `ui/` uses Textual's public API only. When Textual changes, this is the one
module to read (the names below were checked against textual 8.2.8).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from rich.console import RenderableType
from textual import _time
from textual._compositor import Compositor
from textual.app import App
from textual.geometry import Region, Size
from textual.screen import UPDATE_PERIOD, Screen
from textual.strip import Strip
from textual.timer import EventTargetGone, Timer
from textual.widget import Widget

CHECKED_WITH = "textual 8.2.8"


def report_fatal(app: App, renderable: RenderableType) -> None:
    """Stop the app now and print `renderable` once the terminal is restored, instead of Textual's traceback.

    Overriding `App._fatal_error` is the only hook for unexpected exceptions; `_exit_renderables` is what
    Textual prints after restoring the terminal, `_close_messages_no_wait` how `_fatal_error` itself
    stops the app (all three checked with 8.2.8). Textual prints only the first of several renderables
    (with a "1 of 2 errors shown" note), so the caller passes one.
    """
    app._exit_renderables.append(renderable)
    app._close_messages_no_wait()


def pending_exception(app: App) -> BaseException | None:
    """The exception `_fatal_error` is handling when it was not raised in this frame (`App._exception`, 8.2.8)."""
    return app._exception


def content_height(widget: Widget, width: int) -> int:
    """The height `widget`'s current content needs at `width` cells, measured as Textual's layout does.

    `Widget._render()` is the visual Textual lays out (public `render()` returns the raw content, without
    the widget's styles applied), and priming `_content_height_cache` spares the layout that follows a
    second measure (both checked with 8.2.8).
    """
    height = widget._render().get_height(widget.styles, width)
    widget._content_height_cache = (width, height)
    return height



def set_virtual_size(widget: Widget, size: Size) -> None:
    """Change a Line API widget's scrollable size without asking the screen for a layout.

    `virtual_size` is a reactive declared with `layout=True`: assigning it lays out the whole screen,
    which a transcript growing ten times a second must not pay for (its own size does not change).
    `set_reactive` skips the watcher; `_scroll_update` is what Textual's own resize path calls next to
    update the scrollbars and clamp the scroll position (checked with 8.2.8).
    """
    widget.set_reactive(Widget.virtual_size, size)
    widget._scroll_update(size)


class DirtyRowsCompositor(Compositor):
    """Textual's compositor, asking each widget only for its rows that a partial update shows.

    `Compositor._get_renders` (8.2.8) picks the widgets whose *parent's clip* overlaps the bounding box
    of the updated regions, which is nearly every widget, and asks each for all its visible rows;
    `_render_chops` then keeps the rows of the updated lines and drops the rest. A transcript row that
    changes ten times a second so repainted the header, footer, sidebar and prompt from their caches
    every frame, and a sidebar figure (top) changing with a transcript row (bottom) repainted every
    row between them. This asks only the widgets whose own visible area meets the box, for the rows
    `_render_chops` keeps (`is_rendered_line`), in bands of adjacent rows: Textual's own partial-crop
    path for clipped widgets, where each widget's style cache keeps the rows it was not asked for
    dirty. Each band is yielded with its clip narrowed to it, so `_render_chops` lines it up as before.
    """

    _is_rendered_line: Callable[[int], bool] = staticmethod(lambda y: True)

    def _render_chops(self, crop: Region, is_rendered_line: Callable[[int], bool]) -> Sequence[Mapping[int, Strip]]:
        """Textual's, with the rows it keeps known to `_get_renders`."""
        self._is_rendered_line = is_rendered_line
        return super()._render_chops(crop, is_rendered_line)

    def _get_renders(self, crop: Region | None = None) -> Iterable[tuple[Region, Region, list[Strip]]]:
        """(region, clip, strips) for each band of kept rows of each visible widget meeting `crop`."""
        if crop is None:
            yield from super()._get_renders(None)
            return
        kept = self._is_rendered_line
        top, bottom, left, right = crop.y, crop.bottom, crop.x, crop.right
        for widget, (region, clip) in self.visible_widgets.items():
            x, y, width, height = region.intersection(clip)
            if not width or x >= right or x + width <= left:
                continue
            band: int | None = None
            end = min(y + height, bottom)
            for row in range(max(y, top), end + 1):
                if row < end and kept(row):
                    band = row if band is None else band
                elif band is not None:
                    shown = Region(x, band, width, row - band)
                    yield region, shown, widget.render_lines(Region(x - region.x, band - region.y, width, row - band))
                    band = None


def render_dirty_rows_only(screen: Screen) -> None:
    """Give `screen` the compositor above; called from its `__init__`, before anything is laid out."""
    screen._compositor = DirtyRowsCompositor()


def slots_passed(elapsed: float, interval: float) -> int:
    """Whole intervals in `elapsed`: a late timer aims at the slot after them, within one interval of now.
    (Textual's `int(elapsed / interval + 1)` aims one slot further.)"""
    return int(elapsed / interval)


class NextSlotTimer(Timer):
    """Textual's repeating Timer, except that a tick that comes late waits for the next slot, not the one after.

    `Timer._run` (8.2.8) ticks on a grid of `interval` slots. When it finds the next slot already past (the
    tick ran long, or the timer sat paused), it sets `count = int(elapsed / interval + 1)` and then aims at
    slot `count + 1`: one to two intervals away instead of at most one. The screen's frame timer is paused
    after every frame and resumed by the next change, so it is nearly always behind: a key typed just after
    a frame waited 17–33 ms at 60 fps before its echo was drawn (measured in tmux while a reply streamed).
    This is Textual's loop with that one line changed (`count = int(elapsed / interval)`).
    """

    async def _run(self) -> None:
        """Tick every interval (paused: wait to be resumed), at the next slot after a late one."""
        count = 0
        repeat, interval = self._repeat, self._interval
        await self._active.wait()
        start = _time.get_time()
        while repeat is None or count <= repeat:
            next_timer = start + (count + 1) * interval
            now = _time.get_time()
            if self._skip and next_timer < now:
                count = slots_passed(now - start, interval)
                continue
            await _time.sleep(max(0.0, next_timer - now))
            count += 1
            await self._active.wait()
            if self._reset:
                start, count, self._reset = _time.get_time(), 0, False
                continue
            try:
                await self._tick(next_timer=next_timer, count=count)
            except EventTargetGone:
                break


def frame_timer(screen: Screen) -> Timer:
    """`screen`'s frame timer as a NextSlotTimer (MainScreen's `_update_timer` property returns this).

    `Screen._update_timer` (8.2.8) is the private property every frame goes through: Textual's own creates
    a plain Timer the first time it is read, named "screen_update", paused, calling `_on_timer_update`;
    this creates the same, once per screen, and registers it in `_timers` so it stops with the screen.
    """
    timer = screen.__dict__.get("_next_slot_frame_timer")
    if timer is None:
        timer = NextSlotTimer(screen, UPDATE_PERIOD, name="screen_update", callback=screen._on_timer_update,
                              pause=True)
        timer._start()
        screen._timers.add(timer)
        screen.__dict__["_next_slot_frame_timer"] = timer
    return timer
