"""A Static whose updates repaint in place, and ask for a screen layout only when its height changes."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from textual.visual import VisualType
from textual.widgets import Static

from zorac_tui.ui import compat


class Fitted:
    """A renderable laid out by `draw(columns)` when it is drawn, for the width it is drawn at: a panel's
    short or wide layout, a bar's length, never left over from the width it had before a resize."""

    def __init__(self, draw: Callable[[int], RenderableType]) -> None:
        """Draw with `draw`."""
        self.draw = draw

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """What `draw` makes of `options.max_width` columns."""
        yield self.draw(options.max_width)


class SteadyStatic(Static):
    """Static for content that changes often (live figures, the streaming tail).

    Static.update lays out the whole screen on every change. Here the new content's height is measured
    at the current width first (the same measure Textual's layout uses); when it is unchanged only this
    widget is repainted — a layout costs more than the rest of a frame together.
    """

    def update(self, content: VisualType = "", *, layout: bool | None = None) -> None:
        """Show `content`; lay out only when its height changes (or when `layout` says so)."""
        width, height = self.content_size
        super().update(content, layout=False)
        if layout is None:
            layout = True
            if width and self.display and self.is_mounted:
                layout = compat.content_height(self, width) != height
        if layout:
            self.refresh(layout=True)
