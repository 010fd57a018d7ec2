"""Live GPU figures: the NVML sampler, a simulated card for --demo, and memory-budget arithmetic.

Nothing here imports Textual; `sample()` calls block and belong in a thread worker.
"""

from zorac_tui.telemetry.nvml import NvmlSampler, find_server_pid, is_local_url, remote_snapshot
from zorac_tui.telemetry.samples import GpuSample, TelemetrySnapshot, TelemetryStatus
from zorac_tui.telemetry.simulated import SimulatedTelemetry

__all__ = [
    "GpuSample",
    "NvmlSampler",
    "SimulatedTelemetry",
    "TelemetrySnapshot",
    "TelemetryStatus",
    "find_server_pid",
    "is_local_url",
    "remote_snapshot",
]
