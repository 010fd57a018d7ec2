"""Sidebar panel: live decode tok/s, TTFT of this and the last reply, recent replies, reference figures."""

from __future__ import annotations

from collections import deque

from rich.text import Text

from zorac_tui.core.numbers import duration, rate
from zorac_tui.core.throughput import ThroughputReading
from zorac_tui.ui.sparkline import is_narrow, sparkline
from zorac_tui.ui.steady import Fitted, SteadyStatic

REFERENCE = "ref: 4090 AWQ 60–65 tok/s\n     TTFT ~0.3 s"
REFERENCE_NARROW = "ref (4090 AWQ)\n60–65 tok/s\nTTFT ~0.3 s"


fmt_ms = duration  # the panel's short names for the one formatter of each figure (core/numbers.py)
fmt_rate = rate


def split_lines(reading: ThroughputReading, narrow: bool) -> Text:
    """'thinking N · answer M' when the model thought (every generated token counts in the rate)."""
    text = Text()
    if reading.thinking_tokens:
        approx = "≈" if reading.split_estimated else ""
        text.append("think " if narrow else "thinking ", style="dim")
        text.append(f"{approx}{reading.thinking_tokens:,}")
        text.append("\nanswer " if narrow else " · answer ", style="dim")
        text.append(f"{approx}{reading.answer_tokens:,}\n")
    return text


class ThroughputPanel(SteadyStatic):
    """Shows the ThroughputMeter's readings; updated by the app, never polls."""

    def __init__(self, **kwargs) -> None:
        """Start empty."""
        super().__init__(**kwargs)
        self.border_title = "Throughput"
        self.live: ThroughputReading | None = None
        self.streaming = False
        self.last: ThroughputReading | None = None
        self.history: deque[float] = deque(maxlen=40)
        self.live_history: deque[float | None] = deque(maxlen=60)

    def on_mount(self) -> None:
        """Draw the empty state."""
        self.update(Fitted(self.render_text))

    def show_live(self, reading: ThroughputReading) -> None:
        """A reply is streaming: show its live figures."""
        self.streaming = True
        self.live = reading
        self.live_history.append(reading.live_tok_s)
        self.update(Fitted(self.render_text))

    def show_finished(self, reading: ThroughputReading) -> None:
        """A reply ended: it becomes the 'last reply' line."""
        self.streaming = False
        self.live = None
        self.last = reading
        if reading.average_tok_s is not None:
            self.history.append(reading.average_tok_s)
        self.update(Fitted(self.render_text))

    def render_text(self, columns: int = 0) -> Text:
        """The panel body, for `columns` (default: the panel's width now)."""
        columns = columns or self.size.width
        text = Text()
        width = max(10, (columns or 30) - 4)
        narrow = is_narrow(columns)
        tokens_after = "\n      " if narrow else "  "  # the token count goes under the rate when narrow
        live = self.live
        if self.streaming and live is not None:
            text.append("now   ", style="dim")
            text.append(fmt_rate(live.live_tok_s, live.estimated), style="bold cyan")
            text.append(f"{tokens_after}{'≈' if live.estimated else ''}{live.tokens:,} tok\n")  # ≈: per chunk
            text.append_text(split_lines(live, narrow))
            text.append("TTFT  ", style="dim")
            text.append(fmt_ms(live.ttft_s) + ("\n" if narrow else " (this reply)\n"))
            if live.thinking_tokens:
                text.append("1st answer " if not narrow else "answer ", style="dim")
                text.append(f"{fmt_ms(live.ttfa_s)}\n")
            text.append_text(sparkline(list(self.live_history), width))
            text.append("\n")
        else:
            text.append("now   ", style="dim")
            text.append("idle\n")
        last = self.last
        if last is not None:
            text.append("last  ", style="dim")
            text.append(fmt_rate(last.average_tok_s, last.estimated), style="bold")
            text.append(f"{tokens_after if narrow else ' · '}{'≈' if last.estimated else ''}{last.tokens:,} tok\n")
            text.append_text(split_lines(last, narrow))
            text.append("TTFT  ", style="dim")
            text.append(f"{fmt_ms(last.ttft_s)}\n")
            if last.thinking_tokens:
                text.append("1st answer " if not narrow else "answer ", style="dim")
                text.append(f"{fmt_ms(last.ttfa_s)}\n")
        if self.history:
            text.append("replies ", style="dim")
            text.append_text(sparkline(list(self.history), width - 8, style="green"))
            text.append("\n")
        if last is not None and last.estimated:
            text.append("≈ counted per chunk\n(no server usage)\n", style="yellow")
        text.append(REFERENCE_NARROW if narrow else REFERENCE, style="dim italic")
        return text
