"""Arithmetic behind the memory budget: where the VRAM went and what that means for speed.

Pure functions over numbers the app already has (NVML, vLLM's /metrics). Anything that
cannot be known from the inputs stays None and is labelled "unknown" — nothing is guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Source = Literal["measured", "derived", "unknown"]
"""Where a figure came from: reported by NVML/the server, computed from such figures, or absent."""


@dataclass(frozen=True, slots=True)
class MemorySegment:
    """One slice of VRAM, in bytes (None when unknown), and where the figure came from."""

    bytes: int | None
    source: Source

    @property
    def known(self) -> bool:
        """True when the size is known."""
        return self.bytes is not None


UNKNOWN = MemorySegment(None, "unknown")


@dataclass(frozen=True, slots=True)
class MemoryBudget:
    """The card's VRAM split into what the server holds, what others hold, and what is free."""

    total: int | None
    weights: MemorySegment
    kv_cache: MemorySegment
    other: MemorySegment
    """The server's memory beyond weights and KV cache: CUDA context, activations, graphs."""
    other_processes: MemorySegment
    """VRAM held by processes other than the server (a desktop, another model)."""
    free: MemorySegment

    def segments(self) -> tuple[tuple[str, MemorySegment], ...]:
        """Named segments in the order a bar draws them."""
        return (("weights", self.weights), ("kv_cache", self.kv_cache), ("other", self.other),
                ("other_processes", self.other_processes), ("free", self.free))


def _given(value: int | None, source: Source = "measured") -> MemorySegment:
    """A segment for an input figure (unknown when None)."""
    return UNKNOWN if value is None else MemorySegment(int(value), source)


def _derived(value: int | None) -> MemorySegment:
    """A computed segment; a negative result means the inputs disagree, so it is unknown."""
    if value is None or value < 0:
        return UNKNOWN
    return MemorySegment(value, "derived")


def memory_budget(total: int | None, used: int | None, server_process_bytes: int | None,
                  kv_cache_bytes: int | None, weight_bytes: int | None, *,
                  kv_cache_source: Source = "measured",
                  weight_source: Source = "measured") -> MemoryBudget:
    """Split the card's VRAM; each figure derived only from figures that are known."""
    other = None
    if None not in (server_process_bytes, kv_cache_bytes, weight_bytes):
        other = server_process_bytes - kv_cache_bytes - weight_bytes  # type: ignore[operator]
    other_processes = None
    if used is not None and server_process_bytes is not None:
        other_processes = used - server_process_bytes
    free = None if total is None or used is None else total - used
    return MemoryBudget(
        total=total,
        weights=_given(weight_bytes, weight_source),
        kv_cache=_given(kv_cache_bytes, kv_cache_source),
        other=_derived(other),
        other_processes=_derived(other_processes),
        free=_derived(free),
    )


def peak_bandwidth_bytes_per_s(bus_width_bits: int | None,
                               max_mem_clock_mhz: int | None) -> float | None:
    """Theoretical memory bandwidth: bus bytes × clock × 2 (NVML's clock is half the data rate)."""
    if not bus_width_bits or not max_mem_clock_mhz:
        return None
    return bus_width_bits / 8 * max_mem_clock_mhz * 1e6 * 2


def ideal_decode_tok_s(bandwidth_bytes_per_s: float | None,
                       weight_bytes: int | None) -> float | None:
    """Decode speed if every token only had to read all weights once at peak bandwidth."""
    if not bandwidth_bytes_per_s or not weight_bytes or weight_bytes <= 0:
        return None
    return bandwidth_bytes_per_s / weight_bytes


def decode_efficiency(achieved_tok_s: float | None, ideal_tok_s: float | None) -> float | None:
    """Achieved decode speed as a fraction of the bandwidth-bound ideal."""
    if achieved_tok_s is None or not ideal_tok_s or ideal_tok_s <= 0:
        return None
    return achieved_tok_s / ideal_tok_s
