"""What one look at the GPUs found: per-GPU figures and the snapshot that carries them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TelemetryStatus = Literal[
    "ok", "no-library", "no-gpu", "driver-mismatch", "permission", "gpu-lost", "remote", "unreachable", "error"
]
"""Why a snapshot has (or lacks) GPU data; anything but "ok" comes with a one-line message.

"gpu-lost": a GPU stopped answering (NVML) or is no longer reported (an exporter); the others are
still in the snapshot. "remote": the server is elsewhere and no GPU exporter was found for it.
"unreachable": the configured GPU exporter did not answer.
"""


def free_bytes(used: int | None, total: int | None) -> int | None:
    """What is left of `total` (None when either is unknown)."""
    if used is None or total is None:
        return None
    return max(total - used, 0)


def used_fraction(used: int | None, total: int | None) -> float | None:
    """Share of `total` in use, 0..1 (None when either is unknown)."""
    if used is None or not total:
        return None
    return used / total


@dataclass(frozen=True, slots=True)
class GpuSample:
    """One GPU at one moment; a field is None when the card or driver cannot report it."""

    index: int
    name: str
    uuid: str | None
    memory_used: int | None
    """VRAM in use on the whole card, bytes."""
    memory_total: int | None
    """VRAM on the card, bytes."""
    server_process_memory: int | None
    """VRAM held by the inference server's processes, bytes; None when not known."""
    processes: tuple[tuple[int, int | None], ...] | None
    """(pid, VRAM bytes or None) per process on this GPU; None when the list is unavailable."""
    gpu_util: int | None
    """Percent of time a kernel was running."""
    mem_util: int | None
    """Percent of time the memory controller was busy."""
    temperature_c: int | None
    power_w: float | None
    power_limit_w: float | None
    sm_clock_mhz: int | None
    mem_clock_mhz: int | None
    max_mem_clock_mhz: int | None
    memory_bus_width_bits: int | None
    at: float
    """time.monotonic() when sampled."""
    host: str | None = None
    """The machine this GPU is in, as its exporter names it; None for this machine (NVML)."""
    serving: bool | None = None
    """Whether the inference server's processes use this GPU; None when that cannot be known."""

    @property
    def key(self) -> str:
        """What identifies this GPU across samples: its UUID, else its index."""
        return self.uuid or str(self.index)

    @property
    def memory_free(self) -> int | None:
        """VRAM not in use, bytes (None when either figure is unknown)."""
        return free_bytes(self.memory_used, self.memory_total)

    @property
    def memory_fraction(self) -> float | None:
        """Share of VRAM in use, 0..1 (None when unknown)."""
        return used_fraction(self.memory_used, self.memory_total)


@dataclass(frozen=True, slots=True)
class TelemetrySnapshot:
    """Everything one sampling pass produced, or one line saying why it produced nothing."""

    gpus: tuple[GpuSample, ...]
    status: TelemetryStatus
    message: str | None
    """One line for the user saying why data is missing (None when status is "ok")."""
    simulated: bool
    at: float
    """time.monotonic() when taken."""
    source: str = ""
    """Where the figures come from, in words: "NVML", "dcgm-exporter on gpubox", "SIMULATED"."""
    note: str | None = None
    """One line on how the source was found (e.g. what was tried); shown dim, not as a problem."""

    @property
    def ok(self) -> bool:
        """True when the snapshot carries live figures."""
        return self.status == "ok"
