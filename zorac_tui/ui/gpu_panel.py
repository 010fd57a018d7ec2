"""Sidebar panel: where GPU figures come from, then per-GPU VRAM, utilization, power (one line each when several)."""

from __future__ import annotations

from collections import deque

from rich.text import Text

from zorac_tui.core.numbers import gib
from zorac_tui.core.text import ellipsize
from zorac_tui.telemetry.fleet import fleet_totals
from zorac_tui.telemetry.samples import GpuSample, TelemetrySnapshot
from zorac_tui.ui.sparkline import bar, is_narrow, sparkline
from zorac_tui.ui.steady import Fitted, SteadyStatic

GIB = 1024**3


fmt_gb = gib  # the one memory formatter (core/numbers.py)


def fmt_opt(value: float | int | None, unit: str, fmt: str = "{:.0f}") -> str:
    """A figure with its unit, or 'n/a' when the card does not report it."""
    return "n/a" if value is None else fmt.format(value) + unit


def short_name(name: str) -> str:
    """'NVIDIA GeForce RTX 4090' → 'RTX 4090': the vendor words every card here shares."""
    for word in ("NVIDIA ", "GeForce "):
        name = name.replace(word, "")
    return name


class GpuPanel(SteadyStatic):
    """Shows the latest TelemetrySnapshot; keeps a minute of history per GPU."""

    def __init__(self, history_len: int = 60, **kwargs) -> None:
        """`history_len` samples make one minute at the sampling interval."""
        super().__init__(**kwargs)
        self.border_title = "GPU"
        self.snapshot: TelemetrySnapshot | None = None
        self.history_len = history_len
        self.vram_history: dict[int, deque[float | None]] = {}
        self.util_history: dict[int, deque[float | None]] = {}
        self.fleet_util: deque[float | None] = deque(maxlen=history_len)  # mean over several GPUs

    def on_mount(self) -> None:
        """Empty state until the first sample."""
        self.update(Text("sampling…", style="dim"))

    def show(self, snapshot: TelemetrySnapshot) -> None:
        """Render a new snapshot and extend the sparklines."""
        self.snapshot = snapshot
        for gpu in snapshot.gpus:
            self.vram_history.setdefault(gpu.index, deque(maxlen=self.history_len)).append(gpu.memory_fraction)
            util = None if gpu.gpu_util is None else float(gpu.gpu_util)
            self.util_history.setdefault(gpu.index, deque(maxlen=self.history_len)).append(util)
        if len(snapshot.gpus) > 1:
            self.fleet_util.append(fleet_totals(snapshot.gpus).gpu_util)
        self.border_title = "GPU · SIMULATED" if snapshot.simulated else "GPU"
        self.set_class(snapshot.simulated, "-simulated")
        self.update(Fitted(self.render_text))

    def render_text(self, columns: int = 0) -> Text:
        """All GPUs (or why there are none) for `columns` (default: the panel's width now)."""
        columns = columns or self.size.width
        snap = self.snapshot
        text = Text()
        if snap is None:
            return Text("sampling…", style="dim")
        width = max(10, (columns or 34) - 4)
        narrow = is_narrow(columns)
        if snap.source and snap.source not in ("SIMULATED", "none"):
            source = snap.source
            if len(source) > width + 2 and " on " in source:  # "dcgm-exporter on gpubox" over two lines
                source = source.replace(" on ", "\non ", 1)
            text.append("\n".join(ellipsize(line, width + 2) for line in source.split("\n")) + "\n", style="dim")
        if not snap.ok:
            text.append(snap.message or snap.status, style="yellow")
            if snap.gpus:
                text.append("\n(last known figures below)\n", style="dim")
        elif snap.note and not narrow:  # how the source was found: room for it only in the wide layout
            text.append(ellipsize(snap.note, width + 2) + "\n", style="dim")
        if len(snap.gpus) > 1:
            text.append_text(self.render_fleet(snap.gpus, width, narrow))
            return text
        for i, gpu in enumerate(snap.gpus):
            if i:
                text.append("\n")
            text.append_text(self.render_gpu(gpu, width, compact=len(snap.gpus) > 1, narrow=narrow))
        return text

    def render_fleet(self, gpus: tuple[GpuSample, ...], width: int, narrow: bool) -> Text:
        """Several GPUs: the total, then one line each (VRAM bar, util, power) — 8 fit the 80-column sidebar."""
        total = fleet_totals(gpus)
        names = {short_name(g.name) for g in gpus}
        text = Text()
        if len(names) == 1:  # a tensor-parallel box: the same card N times
            text.append(ellipsize(f"{total.count}× {names.pop()}", width + 2) + "\n", style="bold")
        text.append(f"Σ {total.count} " if narrow else f"Σ {total.count} GPUs ", style="bold")
        if narrow and total.memory_used is not None and total.memory_total is not None:  # whole GiB: fits 20 cells
            text.append(f"{total.memory_used / GIB:.0f}/{total.memory_total / GIB:.0f}G")
        else:
            text.append(f"{fmt_gb(total.memory_used)}/{fmt_gb(total.memory_total)} GiB")
        if total.memory_fraction is not None:
            text.append(f" {total.memory_fraction:.0%}")
        text.append("\nutil ", style="dim")
        text.append(fmt_opt(total.gpu_util, "%"), style="bold cyan")
        text.append("  ")
        text.append(fmt_opt(total.power_w, " W") if total.power_limit_w is None else
                    f"{fmt_opt(total.power_w, '')}/{fmt_opt(total.power_limit_w, ' W')}")
        index_width = len(str(max(g.index for g in gpus)))
        for gpu in gpus:
            util, power = fmt_opt(gpu.gpu_util, "%"), fmt_opt(gpu.power_w, "W")
            bar_width = max(3, width + 2 - index_width - len(util) - len(power) - 3)
            frac = gpu.memory_fraction
            text.append(f"\n{gpu.index:>{index_width}} ", style="bold")
            text.append_text(bar(frac, bar_width, style="red" if frac and frac > 0.95 else "green"))
            text.append(f" {util}", style="cyan")
            text.append(f" {power}")
        text.append("\nutil ", style="dim")
        text.append_text(sparkline(list(self.fleet_util), max(6, width - 4)))
        return text

    def render_gpu(self, gpu: GpuSample, width: int, compact: bool, narrow: bool = False) -> Text:
        """One GPU block (`narrow`: the 80-column sidebar, shorter wording, same figures)."""
        text = Text()
        name = short_name(gpu.name) if narrow else gpu.name
        text.append(f"{gpu.index} ", style="bold")
        text.append(name[: width + 2] + "\n", style="bold")
        frac = gpu.memory_fraction
        style = "red" if frac and frac > 0.95 else "green"
        text.append("VRAM ", style="dim")
        text.append_text(bar(frac, max(6, width - 5), style=style))
        indent = "" if narrow else "     "
        used = f"{fmt_gb(gpu.memory_used)}/{fmt_gb(gpu.memory_total)}" if narrow else \
            f"{fmt_gb(gpu.memory_used)} / {fmt_gb(gpu.memory_total)}"
        text.append(f"\n{indent}{used} GiB")
        if frac is not None:
            text.append(f" {frac:.0%}" if narrow else f" ({frac:.0%})")
        text.append("\n")
        if gpu.server_process_memory is not None:
            text.append("server " if narrow else "     server process ", style="dim")
            text.append(f"{fmt_gb(gpu.server_process_memory)} GiB\n")
        text.append("util ", style="dim")
        text.append(fmt_opt(gpu.gpu_util, "%"), style="bold cyan")
        text.append("  mem ", style="dim")
        text.append(fmt_opt(gpu.mem_util, "%"))
        if narrow:  # temperature moves down beside the power
            text.append("\n")
            text.append(fmt_opt(gpu.temperature_c, "°C"))
            text.append("  ")
        else:
            text.append("  ")
            text.append(fmt_opt(gpu.temperature_c, "°C"))
            text.append("\npower ", style="dim")
        text.append(f"{fmt_opt(gpu.power_w, '')}/{fmt_opt(gpu.power_limit_w, ' W')}")
        if not compact:
            text.append("\nclock " if not narrow else "\nclk ", style="dim")
            if narrow:
                text.append(f"{fmt_opt(gpu.sm_clock_mhz, '')}/{fmt_opt(gpu.mem_clock_mhz, '')} MHz")
            else:
                text.append(f"SM {fmt_opt(gpu.sm_clock_mhz, '')} · mem {fmt_opt(gpu.mem_clock_mhz, '')} MHz")
        spark_w = max(6, width - 6)
        text.append("\nVRAM ", style="dim")
        text.append_text(sparkline(list(self.vram_history.get(gpu.index, [])), spark_w, top=1.0, style="green"))
        text.append("\nutil ", style="dim")
        text.append_text(sparkline(list(self.util_history.get(gpu.index, [])), spark_w, top=100.0))
        return text
