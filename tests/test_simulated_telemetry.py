"""The simulated RTX 4090: fixed memory picture, figures that follow load smoothly."""

from __future__ import annotations

import pytest

from zorac_tui.telemetry.memory import memory_budget, peak_bandwidth_bytes_per_s
from zorac_tui.telemetry.simulated import (
    SIM_KV_CACHE_BYTES,
    SIM_SERVER_BYTES,
    SIM_WEIGHT_BYTES,
    SimulatedTelemetry,
)

GB = 1_000_000_000


class Clock:
    """A hand-wound monotonic clock."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run(sim: SimulatedTelemetry, clock: Clock, seconds: float, step: float = 0.25):
    """Sample every `step` seconds for `seconds`; return the GPU samples."""
    out = []
    for _ in range(round(seconds / step)):
        clock.now += step
        out.append(sim.sample().gpus[0])
    return out


def test_static_card_facts():
    snap = SimulatedTelemetry(clock=lambda: 7.0).sample()
    assert snap.status == "ok" and snap.simulated is True and snap.message is None
    assert snap.at == 7.0
    (g,) = snap.gpus
    assert g.name == "NVIDIA GeForce RTX 4090"
    assert g.memory_total == 25_757_220_864
    assert 21.5 * 2**30 < g.memory_used < 23 * 2**30  # "~22 GB" as nvidia-smi shows it
    assert g.memory_bus_width_bits == 384 and g.max_mem_clock_mhz == 10_501
    assert g.power_limit_w == 450.0
    bandwidth = peak_bandwidth_bytes_per_s(g.memory_bus_width_bits, g.max_mem_clock_mhz)
    assert round(bandwidth / GB) == 1008


def test_server_memory_is_used_minus_other_processes():
    (g,) = SimulatedTelemetry().sample().gpus
    others = sum(used for pid, used in g.processes if used is not None) - g.server_process_memory
    assert g.server_process_memory == SIM_SERVER_BYTES == g.memory_used - others
    assert others > 0
    budget = memory_budget(g.memory_total, g.memory_used, g.server_process_memory,
                           SIM_KV_CACHE_BYTES, SIM_WEIGHT_BYTES)
    assert budget.weights.bytes == 14 * GB and budget.kv_cache.bytes == 8 * GB
    assert 1.5 * GB < budget.other.bytes < 2.5 * GB  # CUDA overhead ~2 GB


def test_idle_figures():
    clock = Clock()
    sim = SimulatedTelemetry(clock=clock)
    g = run(sim, clock, 5)[-1]
    assert g.gpu_util <= 5 and 20 <= g.power_w <= 40
    assert g.sm_clock_mhz < 400 and g.mem_clock_mhz < 1000
    assert 35 <= g.temperature_c <= 41


def test_decoding_is_busy_and_transitions_are_smooth():
    clock = Clock()
    sim = SimulatedTelemetry(clock=clock)
    run(sim, clock, 2)
    sim.set_load(True)
    rising = run(sim, clock, 3)
    busy = rising[-1]
    assert busy.gpu_util >= 90 and 280 <= busy.power_w <= 320
    assert busy.mem_clock_mhz == 10_501 and busy.sm_clock_mhz > 2400
    # Smooth: the first step up is partial, and no step jumps more than ~half the range.
    assert 10 < rising[0].gpu_util < 90
    utils = [g.gpu_util for g in rising]
    assert max(b - a for a, b in zip(utils, utils[1:], strict=False)) < 50
    sim.set_load(False)
    falling = run(sim, clock, 8)
    assert falling[0].gpu_util > 50  # does not drop to idle at once
    assert falling[-1].gpu_util <= 5 and falling[-1].power_w < 40


def test_temperature_lags_load():
    clock = Clock()
    sim = SimulatedTelemetry(clock=clock)
    sim.set_load(True)
    temps = [g.temperature_c for g in run(sim, clock, 120, step=1.0)]
    assert temps[2] < 45  # seconds in: barely warmer
    assert temps[-1] >= 62  # minutes in: near the busy temperature
    assert temps[-1] <= 70


def test_jitter_is_small_and_deterministic():
    def trace() -> list[tuple[int, float]]:
        clock = Clock()
        sim = SimulatedTelemetry(clock=clock, seed=1)
        sim.set_load(True)
        return [(g.gpu_util, g.power_w) for g in run(sim, clock, 10)]

    first, second = trace(), trace()
    assert first == second
    steady = first[-20:]
    assert len({u for u, _ in steady}) > 1  # it does move …
    assert max(u for u, _ in steady) - min(u for u, _ in steady) <= 4  # … a little
    assert max(p for _, p in steady) - min(p for _, p in steady) <= 15


def test_close_is_harmless():
    sim = SimulatedTelemetry()
    sim.close()
    assert sim.sample().ok


def test_two_simulated_gpus_serve_tensor_parallel():
    clock = Clock()
    sim = SimulatedTelemetry(clock=clock, gpu_count=2)
    first, second = sim.sample().gpus
    assert (first.index, second.index) == (0, 1) and first.uuid != second.uuid
    assert first.serving is second.serving is True
    assert first.server_process_memory == second.server_process_memory == SIM_SERVER_BYTES
    assert second.memory_used == SIM_SERVER_BYTES < first.memory_used  # the desktop is on GPU 0 only
    assert [pid for pid, _used in second.processes] == [4243]
    sim.set_load(True)
    busy = run_all(sim, clock, 4)[-1]
    assert all(g.gpu_util > 80 for g in busy) and busy[1].temperature_c >= busy[0].temperature_c


def test_one_gpu_by_default_with_the_desktop_beside_the_server():
    snap = SimulatedTelemetry(clock=lambda: 3.0).sample()
    (g,) = snap.gpus
    assert snap.source == "SIMULATED" and g.uuid == "GPU-5a1e0000-0000-4000-8000-000000004090"
    assert g.memory_used == 24_000_000_000 and g.serving is True


def test_another_card_model():
    (g,) = SimulatedTelemetry(card="rtx3090").sample().gpus
    assert g.name == "NVIDIA GeForce RTX 3090" and g.power_limit_w == 350.0
    assert round(peak_bandwidth_bytes_per_s(g.memory_bus_width_bits, g.max_mem_clock_mhz) / GB) == 936
    with pytest.raises(ValueError, match="known: rtx4090, rtx3090"):
        SimulatedTelemetry(card="rtx9999")


def run_all(sim: SimulatedTelemetry, clock: Clock, seconds: float, step: float = 0.25):
    """Sample every `step` seconds for `seconds`; return every GPU of each snapshot."""
    out = []
    for _ in range(round(seconds / step)):
        clock.now += step
        out.append(sim.sample().gpus)
    return out
