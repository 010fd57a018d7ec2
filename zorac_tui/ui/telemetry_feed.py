"""The telemetry feed: samples the GPUs on a thread (NVML calls block) and posts each snapshot."""

from __future__ import annotations

import threading
from typing import Any

from textual import work
from textual.message import Message
from textual.widget import Widget
from textual.worker import get_current_worker

from zorac_tui.telemetry.samples import TelemetrySnapshot


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


class TelemetryFeed(Widget):
    """Owns the sampler and its thread; never touches a widget."""

    DEFAULT_CSS = "TelemetryFeed { display: none; }"

    class Sampled(Message):
        """One look at the GPUs."""

        def __init__(self, snapshot: TelemetrySnapshot) -> None:
            """Carry the snapshot."""
            super().__init__()
            self.snapshot = snapshot

    def __init__(self) -> None:
        """Not sampling until `start()`."""
        super().__init__()
        self.sampler: Any = None
        self._stop = threading.Event()

    def start(self, base_url: str, demo: bool, interval: float, nvml_module: Any = None) -> None:
        """Begin sampling the GPU (or say why not) every `interval` seconds."""
        self._sample(base_url, demo, interval, nvml_module)

    @work(thread=True, exclusive=True, group="telemetry", exit_on_error=False)
    def _sample(self, base_url: str, demo: bool, interval: float, nvml_module: Any = None) -> None:
        """Blocking NVML calls live here, never on the event loop."""
        from zorac_tui.telemetry import nvml

        worker = get_current_worker()
        self.sampler = sampler = make_sampler(base_url, demo, nvml_module)
        try:
            while not worker.is_cancelled and not self._stop.is_set():
                snapshot = sampler.sample() if sampler is not None else nvml.remote_snapshot(base_url)
                self.post_message(self.Sampled(snapshot))
                self._stop.wait(interval)
        finally:
            if sampler is not None:
                sampler.close()

    def set_load(self, active: bool) -> None:
        """Tell simulated telemetry that the GPU is (not) decoding."""
        setter = getattr(self.sampler, "set_load", None)
        if setter is not None:
            setter(active)

    def on_unmount(self) -> None:
        """Let the sampling thread end."""
        self._stop.set()
