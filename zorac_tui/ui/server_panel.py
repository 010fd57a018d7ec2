"""Sidebar panel: what the server itself reports on /metrics (KV cache, queue, server-side latencies)."""

from __future__ import annotations

from rich.text import Text

from zorac_tui.server.metrics import ServerStats
from zorac_tui.ui.sparkline import bar, is_narrow
from zorac_tui.ui.steady import Fitted, SteadyStatic
from zorac_tui.ui.throughput_panel import fmt_ms

NL = "\n"


class ServerPanel(SteadyStatic):
    """Shows ServerStats, or one line saying why there are none."""

    def __init__(self, **kwargs) -> None:
        """Start empty."""
        super().__init__(**kwargs)
        self.border_title = "Server"
        self.stats: ServerStats | None = None
        self.gen_rate: float | None = None
        self.reason: str | None = "connecting…"
        self.short_reason: str | None = None
        self.model_line = ""

    def on_mount(self) -> None:
        """Draw the waiting state."""
        self.update(Fitted(self.render_text))

    def set_identity(self, line: str) -> None:
        """Model, context length, server kind."""
        self.model_line = line
        self.update(Fitted(self.render_text))

    def show(self, stats: ServerStats | None, gen_rate: float | None = None, reason: str | None = None,
             short: str | None = None) -> None:
        """New stats, or the reason there are none (`short`: its words on the 80-column sidebar)."""
        self.stats = stats
        self.gen_rate = gen_rate
        self.reason = reason
        self.short_reason = short
        self.update(Fitted(self.render_text))

    def render_text(self, columns: int = 0) -> Text:
        """Panel body, for `columns` (default: the panel's width now)."""
        columns = columns or self.size.width
        text = Text()
        narrow = is_narrow(columns)
        if self.model_line:
            line = self.model_line.replace(" tokens", " tok") if narrow else self.model_line
            text.append(line + "\n")
        stats = self.stats
        if stats is None:
            reason = self.short_reason if narrow and self.short_reason else self.reason
            text.append(reason or "no data", style="yellow" if reason else "dim")
            return text
        width = max(10, (columns or 34) - 4)
        usage = stats.kv_cache_usage
        text.append("KV cache ", style="dim")
        text.append(f"{usage:.1%}" if usage is not None else "n/a", style="bold")
        if stats.kv_capacity_tokens:
            text.append(f"{NL if narrow else ' '}of {stats.kv_capacity_tokens:,} tok")
        text.append("\n")
        text.append_text(bar(usage, width, style="magenta"))
        text.append("\nreqs " if narrow else "\nrequests ", style="dim")
        text.append(f"{_n(stats.requests_running)} running · {_n(stats.requests_waiting)} waiting\n" if not narrow
                    else f"{_n(stats.requests_running)} run · {_n(stats.requests_waiting)} wait\n")
        text.append("preempted ", style="dim")
        text.append(f"{_n(stats.preemptions_total)}")
        text.append(f"{NL}prefix hit " if narrow else "  prefix hit ", style="dim")
        rate = stats.prefix_cache_hit_rate
        text.append("—" if rate is None else f"{rate:.0%}")
        text.append("\nserver TTFT ", style="dim")
        avg = "" if narrow else " avg"  # the means since the server started
        text.append(fmt_ms(stats.ttft_mean_s) + avg)
        text.append("\nper token ", style="dim")
        text.append(fmt_ms(stats.inter_token_latency_mean_s) + avg)
        if self.gen_rate is not None:
            text.append("\nall reqs " if narrow else "\nall requests ", style="dim")
            text.append(f"{self.gen_rate:.1f} tok/s")
        return text


def _n(value: float | int | None) -> str:
    """An integer count or a dash."""
    return "—" if value is None else f"{int(value):,}"
