"""GPU sampling cost and isolation: app CPU with sampling off / 1 Hz / 10 Hz, and a slow NVML during a stream.

    python benchmarks/telemetry.py

CI has no GPU, so NVML is the project's stand-in module (tests/fakes/fake_pynvml.py) with a configurable
delay per call; everything else is the real app (headless) against the simulator in its own process.
1. Idle cost: the connected app for 8 s, CPU time ÷ wall time, sampling off vs 1 Hz vs 10 Hz.
2. Isolation: a 2,000-token stream at 500 tok/s while each NVML call takes 40 ms (one sample ≈ 0.6 s of
   blocking calls in the sampler thread) vs 0 ms: loop stall p95 and key echo, as ratios in one run.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]
os.environ.setdefault("ZORAC_HOME", tempfile.mkdtemp(prefix="zorac-telemetry-"))
os.environ["ZORAC_OFFLINE"] = "1"

from fakes.fake_pynvml import FakePynvml  # noqa: E402
from stream_render import measure  # noqa: E402


async def idle_cpu(interval: float, seconds: float = 8.0) -> tuple[float, int]:
    """App CPU % while idle with sampling every `interval` s, and how many samples it took."""
    from zorac_tui.config import Settings
    from zorac_tui.demo import SimConfig
    from zorac_tui.demo.process import SimulatorProcess
    from zorac_tui.ui.app import ZoracApp

    sim = SimulatorProcess(SimConfig())
    base_url = sim.start()
    fake = FakePynvml()
    try:
        app = ZoracApp(Settings(base_url=base_url, telemetry_interval=interval), nvml_module=fake)
        async with app.run_test(size=(120, 40)) as pilot:
            while app.client is None:
                await pilot.pause(0.05)
            await asyncio.sleep(1.0)
            calls0 = len(getattr(fake, "calls", []))
            cpu0, t0 = time.process_time(), time.perf_counter()
            await asyncio.sleep(seconds)
            cpu = (time.process_time() - cpu0) / (time.perf_counter() - t0) * 100
            calls = len(getattr(fake, "calls", [])) - calls0
    finally:
        sim.stop()
    return cpu, calls


def main() -> int:
    """Print both experiments."""
    print(f"telemetry: app headless, simulator in its own process, NVML stand-in; {os.cpu_count()} CPUs")
    print("\n1. idle app CPU by sampling rate (8 s each)")
    for label, interval in (("off (1 per hour)", 3600.0), ("1 Hz", 1.0), ("10 Hz", 0.1)):
        cpu, calls = asyncio.run(idle_cpu(interval))
        print(f"   {label:<17} CPU {cpu:5.1f}%   NVML calls {calls}")
    print("\n2. 500 tok/s stream, sampling at 1 Hz, NVML calls delayed by 0 ms vs 40 ms")
    fast = asyncio.run(measure(500.0, FakePynvml(delay_s=0.0), telemetry_interval=1.0))
    slow = asyncio.run(measure(500.0, FakePynvml(delay_s=0.04), telemetry_interval=1.0))
    for label, r in (("0 ms", fast), ("40 ms", slow)):
        print(f"   {label:<6} decode {r['decode_tok_s']:7.1f} tok/s  stall p95 {r['stall_p95_ms']:6.1f} ms  "
              f"max {r['stall_max_ms']:6.1f} ms  key echo p50 {r['echo_p50_ms']:5.1f} ms  max {r['echo_max_ms']:5.1f} ms  "
              f"lag {r['lag_ms']:6.1f} ms")
    print(f"   slow/fast: stall p95 {slow['stall_p95_ms'] / fast['stall_p95_ms']:.2f}x, "
          f"key echo p50 {slow['echo_p50_ms'] / fast['echo_p50_ms']:.2f}x, lag {slow['lag_ms'] / fast['lag_ms']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
