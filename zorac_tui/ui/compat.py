"""The private Textual API this app relies on, in one place: each use says why and the Textual it was checked with.

Everything else in `ui/` uses Textual's public API only. When Textual changes, this is the one
module to read (the names below were checked against textual 8.2.8).
"""

from __future__ import annotations

from rich.console import RenderableType
from textual.app import App
from textual.geometry import Size
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
