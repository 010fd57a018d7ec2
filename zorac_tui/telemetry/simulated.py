"""A simulated RTX 4090 serving Mistral-Small-24B AWQ, for --demo: busy while a reply streams.

Everything here is labelled simulated (`TelemetrySnapshot.simulated`), so the UI can put
a SIMULATED badge on it. The jitter comes from a seeded generator: the same calls with the
same clock give the same figures, which keeps tests and screenshots stable.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable

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

# Figures at idle (load 0) and while decoding (load 1).
_IDLE = {"util": 2.0, "mem_util": 1.0, "power": 30.0, "temp": 38.0, "sm": 210.0, "mem": 405.0}
_BUSY = {"util": 95.0, "mem_util": 88.0, "power": 300.0, "temp": 66.0, "sm": 2520.0,
         "mem": float(RTX4090_MAX_MEM_CLOCK_MHZ)}
_RISE_S = 0.4  # time constant of load going up when decoding starts
_FALL_S = 1.2  # … and coming back down after it stops
_THERMAL_S = 25.0  # the die heats and cools far slower than load changes
_TOKEN_HOLD_S = 1.0  # note_tokens keeps the GPU busy this long after the last token


class SimulatedTelemetry:
    """Drop-in for NvmlSampler.sample() with a plausible, load-driven RTX 4090."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, seed: int = 4090) -> None:
        """Start idle and cool; `clock` and `seed` make runs repeatable."""
        self._clock = clock
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._active = False
        self._busy_until = -math.inf
        self._load = 0.0
        self._temp = _IDLE["temp"]
        self._last: float | None = None

    def set_load(self, active: bool) -> None:
        """Say whether the GPU is decoding right now (a reply is streaming)."""
        with self._lock:
            self._active = active

    def note_tokens(self, n: int) -> None:
        """Record that `n` tokens just arrived: the GPU stays busy briefly after each."""
        if n > 0:
            with self._lock:
                self._busy_until = self._clock() + _TOKEN_HOLD_S

    @property
    def load(self) -> float:
        """Current smoothed load, 0 (idle) to 1 (decoding flat out)."""
        return self._load

    def sample(self) -> TelemetrySnapshot:
        """One simulated snapshot; never blocks and never fails."""
        with self._lock:
            now = self._clock()
            self._advance(now)
            gpu = self._gpu(now)
        return TelemetrySnapshot(gpus=(gpu,), status="ok", message=None, simulated=True, at=now)

    def close(self) -> None:
        """Nothing to release; present so it can stand in for NvmlSampler."""

    def _advance(self, now: float) -> None:
        """Move load and temperature towards their targets for the time since last sample."""
        dt = 0.0 if self._last is None else max(now - self._last, 0.0)
        self._last = now
        target = 1.0 if self._active or now < self._busy_until else 0.0
        tau = _RISE_S if target > self._load else _FALL_S
        self._load += (target - self._load) * (1.0 - math.exp(-dt / tau))
        temp_target = _IDLE["temp"] + (_BUSY["temp"] - _IDLE["temp"]) * self._load
        self._temp += (temp_target - self._temp) * (1.0 - math.exp(-dt / _THERMAL_S))

    def _level(self, key: str, jitter: float) -> float:
        """Blend idle and busy figures by the current load, plus a little seeded noise."""
        base = _IDLE[key] + (_BUSY[key] - _IDLE[key]) * self._load
        return base + self._rng.uniform(-jitter, jitter)

    def _mem_clock(self) -> int:
        """Memory clock jumps between power states rather than gliding like the SM clock."""
        return round(_BUSY["mem"] if self._load > 0.15 else _IDLE["mem"])

    def _gpu(self, now: float) -> GpuSample:
        """The simulated card's figures at the current load."""
        processes = ((SIM_SERVER_PID, SIM_SERVER_BYTES), *SIM_OTHER_PROCESSES)
        return GpuSample(
            index=0,
            name=RTX4090_NAME,
            uuid=RTX4090_UUID,
            memory_used=SIM_MEMORY_USED_BYTES,
            memory_total=RTX4090_TOTAL_BYTES,
            server_process_memory=SIM_SERVER_BYTES,
            processes=tuple(sorted(processes)),
            gpu_util=_clamp_int(self._level("util", 1.5), 0, 100),
            mem_util=_clamp_int(self._level("mem_util", 1.5), 0, 100),
            temperature_c=round(self._temp + self._rng.uniform(-0.4, 0.4)),
            power_w=round(min(max(self._level("power", 6.0), 5.0), RTX4090_POWER_LIMIT_W), 1),
            power_limit_w=RTX4090_POWER_LIMIT_W,
            sm_clock_mhz=_clamp_int(self._level("sm", 15.0), 0, 3000),
            mem_clock_mhz=self._mem_clock(),
            max_mem_clock_mhz=RTX4090_MAX_MEM_CLOCK_MHZ,
            memory_bus_width_bits=RTX4090_BUS_WIDTH_BITS,
            at=now,
        )


def _clamp_int(value: float, low: int, high: int) -> int:
    """Round and keep within [low, high]."""
    return min(max(round(value), low), high)
