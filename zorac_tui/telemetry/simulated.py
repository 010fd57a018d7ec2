"""Simulated GPUs (an RTX 4090 by default) serving Mistral-Small-24B AWQ, for --demo: busy while a reply streams.

Everything here is labelled simulated (`TelemetrySnapshot.simulated`), so the UI can put
a SIMULATED badge on it. The jitter comes from a seeded generator: the same calls with the
same clock give the same figures, which keeps tests and screenshots stable.

With several GPUs the server runs tensor parallel: one worker process per GPU, every GPU busy at
once, each filled to the same share of its memory (as vLLM's gpu_memory_utilization does).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from zorac_tui.telemetry.samples import GpuSample, TelemetrySnapshot

GIB = 1024**3
RTX4090_NAME = "NVIDIA GeForce RTX 4090"
RTX4090_UUID = "GPU-5a1e0000-0000-4000-8000-000000004090"
RTX4090_TOTAL_BYTES = 25_757_220_864  # 24 GiB less what the driver reserves
RTX4090_BUS_WIDTH_BITS = 384
RTX4090_MAX_MEM_CLOCK_MHZ = 10_501  # → 384/8 × 10,501 MHz × 2 ≈ 1,008 GB/s
RTX4090_POWER_LIMIT_W = 450.0

SIM_WEIGHT_BYTES = 14_000_000_000  # Mistral-Small-24B AWQ weights
SIM_KV_CACHE_BYTES = 8_000_000_000  # what vLLM pre-allocates for the KV cache
SIM_MEMORY_USED_BYTES = 24_000_000_000  # ≈ 22.4 GiB on the card, as nvidia-smi shows it
SIM_SERVER_PID = 4242
SIM_OTHER_PROCESSES: tuple[tuple[int, int], ...] = ((1337, 157_286_400),)  # a desktop, 150 MiB
SIM_SERVER_BYTES = SIM_MEMORY_USED_BYTES - sum(used for _pid, used in SIM_OTHER_PROCESSES)



@dataclass(frozen=True, slots=True)
class SimulatedCard:
    """The fixed facts of one simulated card model."""

    name: str
    total_bytes: int
    bus_width_bits: int
    max_mem_clock_mhz: int
    power_limit_w: float
    busy_power_w: float
    busy_sm_clock_mhz: float


CARDS = {
    "rtx4090": SimulatedCard(RTX4090_NAME, RTX4090_TOTAL_BYTES, RTX4090_BUS_WIDTH_BITS,
                             RTX4090_MAX_MEM_CLOCK_MHZ, RTX4090_POWER_LIMIT_W, 300.0, 2520.0),
    # 384-bit × 9,751 MHz × 2 ≈ 936 GB/s, 350 W board power
    "rtx3090": SimulatedCard("NVIDIA GeForce RTX 3090", 25_769_803_776, 384, 9_751, 350.0, 320.0, 1905.0),
}
"""Card models the simulator knows, by the name `SimulatedTelemetry(card=…)` takes."""

# Figures at idle (load 0) and while decoding (load 1), for the RTX 4090; other cards scale power,
# SM and memory clocks to their own busy figures.
_IDLE = {"util": 2.0, "mem_util": 1.0, "power": 30.0, "temp": 38.0, "sm": 210.0, "mem": 405.0}
_BUSY = {"util": 95.0, "mem_util": 88.0, "power": 300.0, "temp": 66.0, "sm": 2520.0,
         "mem": float(RTX4090_MAX_MEM_CLOCK_MHZ)}
_RISE_S = 0.4  # time constant of load going up when decoding starts
_FALL_S = 1.2  # … and coming back down after it stops
_THERMAL_S = 25.0  # the die heats and cools far slower than load changes


class SimulatedTelemetry:
    """Drop-in for NvmlSampler.sample() with `gpu_count` plausible, load-driven cards."""

    label = "SIMULATED"

    def __init__(self, clock: Callable[[], float] = time.monotonic, seed: int = 4090, *,
                 gpu_count: int = 1, card: str = "rtx4090") -> None:
        """Start idle and cool; `clock` and `seed` make runs repeatable; `card` is a key of CARDS."""
        if card not in CARDS:
            raise ValueError(f"unknown simulated card {card!r}; known: {', '.join(CARDS)}")
        self.card = CARDS[card]
        self.gpu_count = max(1, int(gpu_count))
        self._clock = clock
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._active = False
        self._load = 0.0
        self._temp = _IDLE["temp"]
        self._last: float | None = None

    def set_load(self, active: bool) -> None:
        """Say whether the GPU is decoding right now (a reply is streaming)."""
        with self._lock:
            self._active = active

    @property
    def load(self) -> float:
        """Current smoothed load, 0 (idle) to 1 (decoding flat out)."""
        return self._load

    def sample(self) -> TelemetrySnapshot:
        """One simulated snapshot; never blocks and never fails."""
        with self._lock:
            now = self._clock()
            self._advance(now)
            gpus = tuple(self._gpu(now, index) for index in range(self.gpu_count))
        return TelemetrySnapshot(gpus=gpus, status="ok", message=None, simulated=True, at=now,
                                 source=self.label)

    def close(self) -> None:
        """Nothing to release; present so it can stand in for NvmlSampler."""

    def _advance(self, now: float) -> None:
        """Move load and temperature towards their targets for the time since last sample."""
        dt = 0.0 if self._last is None else max(now - self._last, 0.0)
        self._last = now
        target = 1.0 if self._active else 0.0
        tau = _RISE_S if target > self._load else _FALL_S
        self._load += (target - self._load) * (1.0 - math.exp(-dt / tau))
        temp_target = _IDLE["temp"] + (_BUSY["temp"] - _IDLE["temp"]) * self._load
        self._temp += (temp_target - self._temp) * (1.0 - math.exp(-dt / _THERMAL_S))

    def _level(self, key: str, jitter: float) -> float:
        """Blend idle and busy figures by the current load, plus a little seeded noise."""
        busy = {"power": self.card.busy_power_w, "sm": self.card.busy_sm_clock_mhz}.get(key, _BUSY[key])
        base = _IDLE[key] + (busy - _IDLE[key]) * self._load
        return base + self._rng.uniform(-jitter, jitter)

    def _mem_clock(self) -> int:
        """Memory clock jumps between power states rather than gliding like the SM clock."""
        return round(self.card.max_mem_clock_mhz if self._load > 0.15 else _IDLE["mem"])

    def _gpu(self, now: float, index: int = 0) -> GpuSample:
        """One simulated card's figures at the current load: GPU 0 also carries the desktop."""
        card = self.card
        server = (SIM_SERVER_PID + index, SIM_SERVER_BYTES)
        processes = (server, *SIM_OTHER_PROCESSES) if index == 0 else (server,)
        warmer = 3.0 * index  # cards further from the intake run a little warmer
        return GpuSample(
            index=index,
            name=card.name,
            uuid=RTX4090_UUID if index == 0 and card.name == RTX4090_NAME else _uuid(card.name, index),
            memory_used=sum(used for _pid, used in processes),
            memory_total=card.total_bytes,
            server_process_memory=SIM_SERVER_BYTES,
            processes=tuple(sorted(processes)),
            gpu_util=_clamp_int(self._level("util", 1.5), 0, 100),
            mem_util=_clamp_int(self._level("mem_util", 1.5), 0, 100),
            temperature_c=round(self._temp + warmer * self._load + self._rng.uniform(-0.4, 0.4)),
            power_w=round(min(max(self._level("power", 6.0), 5.0), card.power_limit_w), 1),
            power_limit_w=card.power_limit_w,
            sm_clock_mhz=_clamp_int(self._level("sm", 15.0), 0, 3000),
            mem_clock_mhz=self._mem_clock(),
            max_mem_clock_mhz=card.max_mem_clock_mhz,
            memory_bus_width_bits=card.bus_width_bits,
            at=now,
            serving=True,
        )


def _uuid(name: str, index: int) -> str:
    """A stable, obviously made-up UUID for simulated card `index`."""
    digits = "".join(ch for ch in name if ch.isdigit())[-4:].rjust(4, "0")
    return f"GPU-5a1e0000-0000-4000-8{index:03d}-00000000{digits}"


def _clamp_int(value: float, low: int, high: int) -> int:
    """Round and keep within [low, high]."""
    return min(max(round(value), low), high)
