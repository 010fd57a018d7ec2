"""Which GPU source to read — NVML, a GPU box's exporter, the simulator, or none — and opening it.

`choose_source` is the rule, pure: `gpu_metrics_url` set → that exporter (even on 127.0.0.1);
else demo → the simulated card(s); else the server on this machine → NVML; else (a remote
server) try dcgm-exporter's default port on the server's host, once. `open_source` carries the
choice out (blocking: it may try that URL) and returns a `GpuSource`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from zorac_tui.net import host_and_port, is_this_machine
from zorac_tui.telemetry.exporter import DCGM_PORT, DEFAULT_TIMEOUT_S, ExporterSampler, metrics_url, probe_exporter
from zorac_tui.telemetry.samples import TelemetrySnapshot

SourceKind = Literal["exporter", "simulated", "nvml", "try-exporter", "none"]


class GpuSource(Protocol):
    """Anything that yields GPU snapshots: NvmlSampler, ExporterSampler, SimulatedTelemetry, NoGpuSource."""

    @property
    def label(self) -> str:
        """Where the figures come from: "NVML", "dcgm-exporter on gpubox", "SIMULATED", "none"."""
        ...

    def sample(self) -> TelemetrySnapshot:
        """One snapshot (blocking: run it in a thread worker; never raises)."""
        ...

    def close(self) -> None:
        """Release what the source holds (idempotent)."""
        ...


@dataclass(frozen=True, slots=True)
class SourceChoice:
    """The source the rule picked; `url` is the exporter's metrics URL for "exporter"/"try-exporter"."""

    kind: SourceKind
    url: str | None = None


def _url_host(host: str) -> str:
    """A host as it goes into a URL (an IPv6 address in brackets)."""
    return f"[{host}]" if ":" in host else host


def choose_source(base_url: str, gpu_metrics_url: str | None = None, demo: bool = False) -> SourceChoice:
    """Pick the GPU source for this server (pure but for is_this_machine's address check)."""
    if gpu_metrics_url and gpu_metrics_url.strip():
        return SourceChoice("exporter", metrics_url(gpu_metrics_url))
    if demo:
        return SourceChoice("simulated")
    if is_this_machine(base_url):
        return SourceChoice("nvml")
    host, _port = host_and_port(base_url)
    if not host:
        return SourceChoice("none")
    return SourceChoice("try-exporter", f"http://{_url_host(host)}:{DCGM_PORT}/metrics")


class NoGpuSource:
    """Stands in when no source could be found: every sample is the same one-line explanation."""

    label = "none"

    def __init__(self, message: str, note: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`message` says why there are no figures and what to set."""
        self.message = message
        self.note = note
        self._clock = clock

    def sample(self) -> TelemetrySnapshot:
        """The explanation, timestamped."""
        return TelemetrySnapshot(gpus=(), status="remote", message=self.message, simulated=False,
                                 at=self._clock(), source=self.label, note=self.note)

    def close(self) -> None:
        """Nothing to release."""


def open_source(base_url: str, *, gpu_metrics_url: str | None = None, demo: bool = False,
                nvml_module: Any = None, simulated_gpus: int = 1, timeout: float = DEFAULT_TIMEOUT_S) -> GpuSource:
    """The GPU source for this setup (blocking: a remote server's host is tried once for an exporter)."""
    choice = choose_source(base_url, gpu_metrics_url, demo)
    if choice.kind == "exporter":
        assert choice.url is not None
        return ExporterSampler(choice.url, timeout=timeout, simulated=demo, note=f"gpu_metrics_url {choice.url}")
    if choice.kind == "simulated":
        from zorac_tui.telemetry.simulated import SimulatedTelemetry

        return SimulatedTelemetry(gpu_count=simulated_gpus)
    if choice.kind == "nvml":
        from zorac_tui.telemetry.nvml import NvmlSampler, find_server_pid

        return NvmlSampler(nvml_module, server_pid=find_server_pid(base_url))
    host, _port = host_and_port(base_url)
    if choice.kind == "none" or host is None:
        return NoGpuSource(f"The server URL {base_url!r} names no host — no GPU figures; set gpu_metrics_url")
    return try_exporter(host, timeout=timeout)


def try_exporter(host: str, port: int = DCGM_PORT, timeout: float = DEFAULT_TIMEOUT_S) -> GpuSource:
    """Look for a GPU exporter on the server's host, once: its sampler if one answers, else a NoGpuSource."""
    url = f"http://{_url_host(host)}:{port}/metrics"
    flavour, why = probe_exporter(url, timeout)
    if flavour is None:
        return NoGpuSource(
            f"The server at {host} is not on this machine and no GPU exporter answered at {url} ({why}) "
            "— set gpu_metrics_url to its dcgm-exporter or nvitop-exporter",
            note=f"no GPU exporter at {url} ({why}) — set gpu_metrics_url")
    return ExporterSampler(url, timeout=timeout, note=f"{flavour} on {host}:{port} — found")
