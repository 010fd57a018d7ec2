"""The telemetry feed: samples the GPUs on a thread (NVML calls block) and posts each snapshot."""

from __future__ import annotations

import threading
from typing import Any

from textual import work
from textual.message import Message
from textual.widget import Widget
from textual.worker import get_current_worker

from zorac_tui.config import Settings
from zorac_tui.telemetry.samples import TelemetrySnapshot


def make_source(settings: Settings, demo: bool, nvml_module: Any = None) -> Any:
    """The GPU source for this setup (blocking: a remote server's host may be tried for an exporter).

    `nvml_module` replaces the `pynvml` module (tests and benchmarks inject a stand-in: CI has no GPU).
    """
    from zorac_tui.telemetry.source import open_source

    return open_source(settings.base_url, gpu_metrics_url=settings.gpu_metrics_url or None, demo=demo,
                       nvml_module=nvml_module)


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

    def start(self, settings: Settings, demo: bool, nvml_module: Any = None) -> None:
        """Begin sampling the GPUs `settings` point at (or say why not); a running sampler is replaced."""
        self._stop.set()  # a sampler started for another server ends at its next wait
        self._stop = threading.Event()
        self._sample(settings, demo, nvml_module, self._stop)

    @work(thread=True, group="telemetry", exit_on_error=False)
    def _sample(self, settings: Settings, demo: bool, nvml_module: Any, stop: threading.Event) -> None:
        """Blocking NVML and exporter calls live here, never on the event loop."""
        from zorac_tui.telemetry.fleet import select_gpus

        worker = get_current_worker()
        self.sampler = sampler = make_source(settings, demo, nvml_module)
        try:
            while not worker.is_cancelled and not stop.is_set():
                snapshot = select_gpus(sampler.sample(), settings.gpus, serving_only=True)
                if not stop.is_set():
                    self.post_message(self.Sampled(snapshot))
                stop.wait(settings.telemetry_interval)
        finally:
            sampler.close()

    def set_load(self, active: bool) -> None:
        """Tell simulated telemetry that the GPU is (not) decoding."""
        setter = getattr(self.sampler, "set_load", None)
        if setter is not None:
            setter(active)

    def on_unmount(self) -> None:
        """Let the sampling thread end."""
        self._stop.set()
