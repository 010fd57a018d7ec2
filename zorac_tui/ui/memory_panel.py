"""Sidebar panel: the VRAM budget (weights, KV cache, other, free) and decode efficiency vs the bandwidth limit."""

from __future__ import annotations

from rich.text import Text

from zorac_tui.telemetry.bandwidth import Bandwidth, memory_bandwidth
from zorac_tui.telemetry.fleet import fleet_totals
from zorac_tui.telemetry.memory import MemoryBudget, decode_efficiency, ideal_decode_tok_s, memory_budget
from zorac_tui.telemetry.samples import TelemetrySnapshot
from zorac_tui.ui.sparkline import is_narrow
from zorac_tui.ui.steady import Fitted, SteadyStatic

GIB = 1024**3
SEGMENTS = {
    "weights": ("weights", "blue"),
    "kv_cache": ("KV cache", "magenta"),
    "other": ("runtime", "yellow"),
    "other_processes": ("others", "grey58"),  # other processes on the card; short: fits the sidebar
    "free": ("free", "grey23"),
}
SOURCE_MARK = {"measured": "", "derived": " (derived)", "unknown": " ?"}
# the 80-column sidebar (20 columns of text): shorter labels, "G", and one short word for the source
NARROW_LABEL = {"kv_cache": "KV"}
NARROW_SOURCE = {"derived": "calc", "/metrics": "metrics", "SIMULATED": "SIM", "config": "cfg", "unknown": "?"}


def stacked_bar(budget: MemoryBudget, width: int) -> Text:
    """One cell per 1/width of the card, coloured by segment; unknown space is dotted."""
    text = Text()
    total = budget.total or 0
    used_cells = 0
    if total > 0:
        for name, segment in budget.segments():
            if segment.bytes is None:
                continue
            cells = min(width - used_cells, round(segment.bytes / total * width))
            char = "░" if name == "free" else "█"
            text.append(char * cells, style=SEGMENTS[name][1])
            used_cells += cells
    text.append("·" * (width - used_cells), style="grey42")
    return text


class MemoryPanel(SteadyStatic):
    """Where each GPU's memory went, and how close decode runs to the memory-bandwidth ideal."""

    def __init__(self, **kwargs) -> None:
        """Empty until telemetry and metrics arrive."""
        super().__init__(**kwargs)
        self.border_title = "Memory budget"
        self.snapshot: TelemetrySnapshot | None = None
        self.kv_cache_bytes: int | None = None
        self.weight_bytes: int | None = None
        self.weight_source = "unknown"
        self.achieved_tok_s: float | None = None

    def on_mount(self) -> None:
        """Waiting state."""
        self.update(Fitted(self.render_text))

    def show(self, snapshot: TelemetrySnapshot | None = None, *, kv_cache_bytes: int | None = None,
             achieved_tok_s: float | None = None) -> None:
        """Take whatever is new and redraw."""
        if snapshot is not None:
            self.snapshot = snapshot
            self.border_title = "Memory budget · SIMULATED" if snapshot.simulated else "Memory budget"
        if kv_cache_bytes is not None:
            self.kv_cache_bytes = kv_cache_bytes
        if achieved_tok_s is not None:
            self.achieved_tok_s = achieved_tok_s
        self.update(Fitted(self.render_text))

    def set_weights(self, weight_bytes: int | None, source: str) -> None:
        """Model weight size and where it came from ("config", "SIMULATED", …)."""
        self.weight_bytes = weight_bytes
        self.weight_source = source if weight_bytes else "unknown"
        self.update(Fitted(self.render_text))

    def render_text(self, columns: int = 0) -> Text:
        """One block per GPU, or why there is none, for `columns` (default: the panel's width now)."""
        columns = columns or self.size.width
        snap = self.snapshot
        if snap is None or not snap.gpus:
            reason = snap.message if snap is not None and snap.message else "waiting for GPU figures…"
            return Text(reason, style="dim")
        width = max(10, (columns or 34) - 4)
        narrow = is_narrow(columns)
        if len(snap.gpus) == 1:
            gpu = snap.gpus[0]
            return self.render_budget(gpu.memory_total, gpu.memory_used, gpu.server_process_memory,
                                      memory_bandwidth(gpu), width, narrow)
        # Tensor parallelism: weights and KV cache are split over the GPUs, so the budget is the fleet's
        total = fleet_totals(snap.gpus)
        bandwidth = None if total.bandwidth_bytes_per_s is None or total.bandwidth_source is None else \
            Bandwidth(total.bandwidth_bytes_per_s, total.bandwidth_source)
        text = Text(f"{total.count} GPUs together\n", style="bold")
        text.append_text(self.render_budget(total.memory_total, total.memory_used, total.server_process_memory,
                                            bandwidth, width, narrow, gpus=total.count))
        return text

    def render_budget(self, total: int | None, used: int | None, server_bytes: int | None,
                      bandwidth: Bandwidth | None, width: int, narrow: bool, gpus: int = 1) -> Text:
        """Stacked bar, legend with GiB and source, bandwidth and the decode-efficiency line."""
        # vLLM reports the KV cache of one worker; each of `gpus` tensor-parallel workers holds as much
        kv = None if self.kv_cache_bytes is None else self.kv_cache_bytes * gpus
        weights = self.weight_bytes
        budget = memory_budget(total, used, server_bytes, kv, weights,
                               weight_source="measured" if weights else "unknown")
        text = Text()
        text.append_text(stacked_bar(budget, width))
        for name, segment in budget.segments():
            label, style = SEGMENTS[name]
            text.append("\n■ ", style=style)
            source = segment.source
            if name == "weights" and segment.bytes is not None:
                source = self.weight_source
            if name == "kv_cache" and segment.bytes is not None:
                source = "/metrics" if gpus == 1 else f"×{gpus}"  # one worker's figure times the GPUs
            if narrow:
                figure = "?" if segment.bytes is None else f"{segment.bytes / GIB:.1f}G"
                mark = NARROW_SOURCE.get(source, source)
                line = f"{NARROW_LABEL.get(name, label)} {figure}{' ' + mark if mark and figure != '?' else ''}"
            else:
                figure = "unknown" if segment.bytes is None else f"{segment.bytes / GIB:.1f} GiB"
                mark = SOURCE_MARK.get(source, f" ({source})")
                line = f"{label} {figure}{mark}"
            text.append(line, style="dim" if segment.bytes is None else "")
        if name_missing := [SEGMENTS[n][0] for n, s in budget.segments() if s.bytes is None]:
            text.append(f"\nunknown: {', '.join(name_missing)}", style="dim italic")
            if weights is None:
                text.append(" (set weights_gb)", style="dim italic")
        ideal = ideal_decode_tok_s(bandwidth.bytes_per_s if bandwidth else None, weights)
        text.append("\nbandwidth ", style="dim")
        text.append("n/a" if bandwidth is None else f"{bandwidth.bytes_per_s / 1e9:,.0f} GB/s")
        if bandwidth is not None and bandwidth.source != "NVML":
            text.append(" (spec)", style="dim")  # NVIDIA's published figure for the card's name
        text.append("\nideal ", style="dim")
        text.append("n/a (weights unknown)" if ideal is None else f"{ideal:.0f} tok/s")
        efficiency = decode_efficiency(self.achieved_tok_s, ideal)
        if efficiency is not None:
            text.append("\nachieved " if narrow else " · achieved ", style="dim")
            text.append(f"{efficiency:.0%}", style="bold")
            if efficiency > 1.0:  # one token cannot read the weights faster than the memory allows
                text.append("\n> ideal: weights_gb?" if narrow else "\nover the ideal: check weights_gb",
                            style="italic yellow")
        return text
