"""Live GPU figures from any source — NVML here, a GPU box's exporter, or simulated cards — and the arithmetic on them.

Nothing here imports Textual; `sample()` calls block and belong in a thread worker.
"""

from zorac_tui.telemetry.bandwidth import Bandwidth, memory_bandwidth
from zorac_tui.telemetry.exporter import ExporterSampler
from zorac_tui.telemetry.fleet import FleetTotals, fleet_totals, parse_gpu_spec, select_gpus
from zorac_tui.telemetry.nvml import NvmlSampler, find_server_pid, is_local_url, remote_snapshot
from zorac_tui.telemetry.samples import GpuSample, TelemetrySnapshot, TelemetryStatus
from zorac_tui.telemetry.simulated import SimulatedTelemetry
from zorac_tui.telemetry.source import GpuSource, NoGpuSource, SourceChoice, choose_source, open_source, try_exporter

__all__ = [
    "Bandwidth",
    "ExporterSampler",
    "FleetTotals",
    "GpuSample",
    "GpuSource",
    "NoGpuSource",
    "NvmlSampler",
    "SimulatedTelemetry",
    "SourceChoice",
    "TelemetrySnapshot",
    "TelemetryStatus",
    "choose_source",
    "find_server_pid",
    "fleet_totals",
    "is_local_url",
    "memory_bandwidth",
    "open_source",
    "parse_gpu_spec",
    "remote_snapshot",
    "select_gpus",
    "try_exporter",
]
