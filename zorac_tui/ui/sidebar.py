"""The right sidebar: the GPU, throughput, memory-budget and server panels (it draws; it fetches nothing)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll

from zorac_tui.core.throughput import ThroughputReading
from zorac_tui.server.metrics import ServerStats
from zorac_tui.telemetry.samples import TelemetrySnapshot
from zorac_tui.ui.gpu_panel import GpuPanel
from zorac_tui.ui.memory_panel import MemoryPanel
from zorac_tui.ui.server_panel import ServerPanel
from zorac_tui.ui.throughput_panel import ThroughputPanel


class Sidebar(VerticalScroll):
    """Four panels, fed by the screen from the telemetry feed, the server monitor and the reply session."""

    can_focus = False  # Tab moves between the prompt and the conversation; the mouse still scrolls this

    def compose(self) -> ComposeResult:
        """GPU on top, throughput, memory budget, then server."""
        yield GpuPanel(id="gpu", classes="panel")
        yield ThroughputPanel(id="throughput", classes="panel")
        yield MemoryPanel(id="memory", classes="panel")
        yield ServerPanel(id="server", classes="panel")

    @property
    def server_stats(self) -> ServerStats | None:
        """The /metrics figures the server panel shows (None before the first poll)."""
        return self.query_one(ServerPanel).stats

    @property
    def kv_capacity_tokens(self) -> int | None:
        """The KV-cache capacity the server panel shows (None before the first /metrics poll)."""
        stats = self.server_stats
        return stats.kv_capacity_tokens if stats is not None else None

    def set_sampling_interval(self, interval: float) -> None:
        """Keep a minute of GPU history at this sampling interval."""
        self.query_one(GpuPanel).history_len = max(10, round(60 / max(interval, 0.05)))

    def set_weights(self, weight_bytes: int | None, source: str) -> None:
        """Weight size for the memory budget and where it came from ("config", "SIMULATED")."""
        self.query_one(MemoryPanel).set_weights(weight_bytes, source)

    def show_gpus(self, snapshot: TelemetrySnapshot) -> None:
        """A new GPU snapshot for the GPU and memory panels."""
        self.query_one(GpuPanel).show(snapshot)
        self.query_one(MemoryPanel).show(snapshot)

    def show_live(self, reading: ThroughputReading) -> None:
        """Live figures of the streaming reply."""
        self.query_one(ThroughputPanel).show_live(reading)

    def show_finished(self, reading: ThroughputReading) -> None:
        """A reply ended at these figures (its decode rate feeds the efficiency figure)."""
        self.query_one(ThroughputPanel).show_finished(reading)
        if reading.average_tok_s is not None:
            self.query_one(MemoryPanel).show(achieved_tok_s=reading.average_tok_s)

    def show_identity(self, text: str) -> None:
        """The server panel's first lines: version and context window."""
        self.query_one(ServerPanel).set_identity(text)

    def show_server(self, stats: ServerStats | None, rate: float | None = None, reason: str | None = None,
                    short: str | None = None) -> None:
        """The server's /metrics figures, or why there are none (`short`: the reason in the narrow layout)."""
        self.query_one(ServerPanel).show(stats, rate, reason=reason, short=short)
        if stats is not None:
            self.query_one(MemoryPanel).show(kv_cache_bytes=stats.kv_cache_memory_bytes)
