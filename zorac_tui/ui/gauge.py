"""The context-budget strip under the conversation."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from zorac_tui.ui.sparkline import segmented_bar

SEGMENT_STYLE = {
    "system": "magenta",
    "summary": "blue",
    "history": "cyan",
    "draft": "bright_white",
    "reserve": "grey50",
}


class ContextGauge(Static):
    """Renders a budget breakdown: segments, used/total, percent and where counts came from."""

    def __init__(self, **kwargs) -> None:
        """Start with an unknown budget."""
        super().__init__(**kwargs)
        self.segments: list[tuple[str, int]] = []
        self.window: int | None = None
        self.window_source = ""
        self.count_source = ""
        self.estimated = True
        self.note = ""

    def set_budget(self, segments: list[tuple[str, int]], window: int, *, window_source: str,
                   count_source: str, estimated: bool, note: str = "") -> None:
        """Show a new breakdown."""
        self.segments = segments
        self.window = window
        self.window_source = window_source
        self.count_source = count_source
        self.estimated = estimated
        self.note = note
        self.update(self.render_text())

    def used(self) -> int:
        """Tokens in all segments except the reply reserve."""
        return sum(n for name, n in self.segments if name != "reserve")

    def render_text(self) -> Text:
        """Bar plus figures."""
        text = Text()
        if not self.window:
            text.append("context: waiting for the server…", style="dim")
            return text
        used = self.used()
        reserve = sum(n for name, n in self.segments if name == "reserve")
        pct = used / self.window
        level = "red" if used + reserve > self.window else "yellow" if pct >= 0.7 else "green"
        width = max(10, min(40, (self.size.width or 80) - 60))
        bar = segmented_bar([(n / self.window, SEGMENT_STYLE.get(name, "white")) for name, n in self.segments], width)
        text.append("context ", style="bold")
        text.append_text(bar)
        approx = "≈" if self.estimated else ""
        text.append(f" {approx}{used:,} / {self.window:,} tokens · {pct:.0%}", style=f"bold {level}")
        text.append(f"  +{reserve:,} reply reserve", style="dim")
        text.append(f"  ({self.count_source}; window {self.window_source})", style="dim")
        if self.note:
            text.append(f"  {self.note}", style="yellow")
        return text

    def on_resize(self) -> None:
        """Redraw at the new width."""
        self.update(self.render_text())
