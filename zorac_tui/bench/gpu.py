"""Peak VRAM and power during a bench: a sampler thread beside the measurement (NVML, or simulated with --demo).

NVML describes the GPUs of *this* machine, so figures are only taken when the server URL is local;
a remote server gets one line saying why there are none. Sampling blocks, so it runs in a daemon
thread and never on the event loop that times the streams.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol

from zorac_tui.telemetry.samples import TelemetrySnapshot

REMOTE_NOTE = "remote server: GPU figures not available"
INTERVAL_S = 0.25


class Sampler(Protocol):
    """NvmlSampler or SimulatedTelemetry."""

    def sample(self) -> TelemetrySnapshot: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class GpuPeaks:
    """What the GPU(s) reached during the measurement; figures None when not available (see `note`)."""

    available: bool
    simulated: bool
    note: str | None = None
    name: str | None = None
    peak_vram_bytes: int | None = None
    vram_total_bytes: int | None = None
    peak_server_vram_bytes: int | None = None
    peak_power_w: float | None = None
    power_limit_w: float | None = None
    samples: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (schema zorac-tui-bench/1, key "gpu")."""
        return {
            "available": self.available,
            "simulated": self.simulated,
            "note": self.note,
            "name": self.name,
            "peak_vram_bytes": self.peak_vram_bytes,
            "peak_vram_gib": None if self.peak_vram_bytes is None else round(self.peak_vram_bytes / 1024**3, 2),
            "vram_total_bytes": self.vram_total_bytes,
            "peak_server_vram_bytes": self.peak_server_vram_bytes,
            "peak_power_w": None if self.peak_power_w is None else round(self.peak_power_w, 1),
            "power_limit_w": self.power_limit_w,
            "samples": self.samples,
        }


def _add(total: float | None, value: float | None) -> float | None:
    """Sum that stays None only while every term is None."""
    if value is None:
        return total
    return value if total is None else total + value


class GpuWatch:
    """Samples in a thread between start() and stop(); keeps the peaks summed over all GPUs."""

    def __init__(self, sampler: Sampler | None, *, simulated: bool = False, note: str | None = None,
                 interval: float = INTERVAL_S) -> None:
        """`sampler` None means no figures (then `note` says why)."""
        self.sampler = sampler
        self.simulated = simulated
        self.interval = interval
        self._note = note
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._names: list[str] = []
        self._vram: int | None = None
        self._total: int | None = None
        self._server: int | None = None
        self._power: float | None = None
        self._limit: float | None = None
        self._samples = 0
        self._last_message: str | None = None

    def set_busy(self, busy: bool) -> None:
        """Tell a simulated card that decoding is under way (NVML ignores this)."""
        set_load = getattr(self.sampler, "set_load", None)
        if set_load is not None:
            set_load(busy)

    def start(self) -> None:
        """Take a first sample now and keep sampling in a daemon thread."""
        if self.sampler is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="zorac-bench-gpu", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self._take()
            if self._stop.wait(self.interval):
                return

    def _take(self) -> None:
        assert self.sampler is not None
        try:
            snap = self.sampler.sample()
        except Exception as exc:
            with self._lock:
                self._last_message = f"GPU sampling failed: {type(exc).__name__}: {exc}"
            return
        with self._lock:
            if not snap.ok or not snap.gpus:
                self._last_message = snap.message or "no GPU figures"
                return
            self._samples += 1
            vram = total = server = None
            power = limit = None
            for gpu in snap.gpus:
                vram = _add(vram, gpu.memory_used)
                total = _add(total, gpu.memory_total)
                server = _add(server, gpu.server_process_memory)
                power = _add(power, gpu.power_w)
                limit = _add(limit, gpu.power_limit_w)
            self._names = [g.name for g in snap.gpus]
            if vram is not None:
                self._vram = int(max(vram, self._vram or 0))
            if server is not None:
                self._server = int(max(server, self._server or 0))
            if power is not None:
                self._power = max(power, self._power or 0.0)
            self._total = int(total) if total is not None else self._total
            self._limit = limit if limit is not None else self._limit

    def stop(self) -> GpuPeaks:
        """Stop sampling (one last sample first) and return the peaks."""
        if self.sampler is None:
            return GpuPeaks(False, self.simulated, note=self._note)
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=5)
            self._thread = None
            self._take()
        self.set_busy(False)
        try:
            self.sampler.close()
        except Exception:
            pass
        with self._lock:
            if not self._samples:
                return GpuPeaks(False, self.simulated, note=self._last_message or self._note or "no GPU figures")
            names = sorted(set(self._names))
            count = len(self._names)
            name = names[0] if len(names) == 1 else " + ".join(names)
            if count > 1 and len(names) == 1:
                name = f"{count}× {name}"
            return GpuPeaks(True, self.simulated, note=self._note, name=name, peak_vram_bytes=self._vram,
                            vram_total_bytes=self._total, peak_server_vram_bytes=self._server,
                            peak_power_w=self._power, power_limit_w=self._limit, samples=self._samples)


def make_watch(base_url: str, *, demo: bool, nvml_module: Any = None) -> GpuWatch:
    """The right watch for this server: simulated (demo), NVML (local server) or none (remote). Blocking."""
    if demo:
        from zorac_tui.telemetry.simulated import SimulatedTelemetry

        return GpuWatch(SimulatedTelemetry(), simulated=True, note="SIMULATED GPU (built-in simulator)")
    from zorac_tui.telemetry.nvml import NvmlSampler, find_server_pid, is_local_url

    if not is_local_url(base_url):
        return GpuWatch(None, note=REMOTE_NOTE)
    return GpuWatch(NvmlSampler(nvml_module, server_pid=find_server_pid(base_url)))
