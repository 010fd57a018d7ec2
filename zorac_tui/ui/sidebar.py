"""The right sidebar: GPU, throughput and server panels, and the workers that feed the first and last."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.worker import get_current_worker

from zorac_tui.ui.gpu_panel import GpuPanel
from zorac_tui.ui.memory_panel import MemoryPanel
from zorac_tui.ui.server_panel import ServerPanel
from zorac_tui.ui.throughput_panel import ThroughputPanel


def make_sampler(base_url: str, demo: bool, nvml_module: Any = None) -> Any:
    """The telemetry source for this setup: simulated, remote (none) or local NVML.

    `nvml_module` replaces the `pynvml` module (tests and benchmarks inject a stand-in: CI has no GPU).
    """
    from zorac_tui.telemetry import nvml

    if demo:
        from zorac_tui.telemetry.simulated import SimulatedTelemetry

        return SimulatedTelemetry()
    if not nvml.is_local_url(base_url):
        return None
    return nvml.NvmlSampler(nvml_module, server_pid=nvml.find_server_pid(base_url))


class Sidebar(VerticalScroll):
    """Owns the three panels; telemetry runs in a thread, metrics polling in an async worker."""

    def __init__(self, **kwargs) -> None:
        """Empty panels until start() is called."""
        super().__init__(**kwargs)
        self.sampler: Any = None
        self.kv_capacity_tokens: int | None = None
        self.server_stats: Any = None
        self._stop = threading.Event()

    def compose(self) -> ComposeResult:
        """GPU on top, throughput, then server."""
        yield GpuPanel(id="gpu", classes="panel")
        yield ThroughputPanel(id="throughput", classes="panel")
        yield MemoryPanel(id="memory", classes="panel")
        yield ServerPanel(id="server", classes="panel")

    def start_telemetry(self, base_url: str, demo: bool, interval: float, nvml_module: Any = None) -> None:
        """Begin sampling the GPU (or say why not) at `interval` seconds."""
        self.sample_gpus(base_url, demo, interval, nvml_module)

    @work(thread=True, exclusive=True, group="telemetry", exit_on_error=False)
    def sample_gpus(self, base_url: str, demo: bool, interval: float, nvml_module: Any = None) -> None:
        """Blocking NVML calls live here, never on the event loop."""
        from zorac_tui.telemetry import nvml

        panel = self.query_one(GpuPanel)
        memory = self.query_one(MemoryPanel)
        panel.history_len = max(10, round(60 / max(interval, 0.05)))
        worker = get_current_worker()
        self.sampler = sampler = make_sampler(base_url, demo, nvml_module)
        try:
            while not worker.is_cancelled and not self._stop.is_set():
                snapshot = sampler.sample() if sampler is not None else nvml.remote_snapshot(base_url)
                self.app.call_from_thread(panel.show, snapshot)
                self.app.call_from_thread(memory.show, snapshot)
                self._stop.wait(interval)
        finally:
            if sampler is not None:
                sampler.close()

    def set_weights(self, weights_gb: float, demo: bool) -> None:
        """Weight size for the memory budget: the seeds' 14 GB in demo, else the weights_gb setting."""
        from zorac_tui.telemetry.simulated import SIM_WEIGHT_BYTES

        if demo:
            self.query_one(MemoryPanel).set_weights(SIM_WEIGHT_BYTES, "SIMULATED")
        elif weights_gb > 0:
            self.query_one(MemoryPanel).set_weights(int(weights_gb * 1e9), "config")

    def note_reply(self, decode_tok_s: float | None) -> None:
        """A reply finished at this decode rate (for the efficiency figure)."""
        if decode_tok_s is not None:
            self.query_one(MemoryPanel).show(achieved_tok_s=decode_tok_s)

    def note_streaming(self, active: bool) -> None:
        """Tell simulated telemetry that the GPU is (not) decoding."""
        setter = getattr(self.sampler, "set_load", None)
        if setter is not None:
            setter(active)

    @work(exclusive=True, group="metrics", exit_on_error=False)
    async def poll_metrics(self, base_url: str, api_key: str | None, interval: float, model: str | None,
                           available: bool, flavor: str) -> None:
        """Poll /metrics; on servers without it, say so once and stop."""
        panel = self.query_one(ServerPanel)
        if not available:
            panel.show(None, reason=f"/metrics not exposed by this server ({flavor}) — "
                                    "KV cache and queue figures unavailable")
            return
        from zorac_tui.server.metrics import parse_metrics, rate_between
        from zorac_tui.server.probe import fetch_metrics_text

        previous, prev_at = None, 0.0
        while True:
            text = await fetch_metrics_text(base_url, api_key)
            now = time.monotonic()
            if text is None:
                panel.show(None, reason="/metrics did not answer — retrying")
            else:
                stats = await asyncio.to_thread(parse_metrics, text, model)
                rate = rate_between(previous, stats, now - prev_at) if previous is not None else None
                panel.show(stats, rate)
                self.server_stats = stats
                self.kv_capacity_tokens = stats.kv_capacity_tokens
                self.query_one(MemoryPanel).show(kv_cache_bytes=stats.kv_cache_memory_bytes)
                previous, prev_at = stats, now
            await asyncio.sleep(interval)

    def on_unmount(self) -> None:
        """Let the sampling thread end."""
        self._stop.set()
