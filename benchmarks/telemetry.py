"""GPU sampling: what it costs the app, and proof that a slow NVML does not slow the UI.

    python benchmarks/telemetry.py
    python benchmarks/telemetry.py --seconds 20 --slow-delay 0.5

There is no GPU in CI, so the sampler runs against stand-ins, injected by replacing
the app's own choice of sampler (app_probe.replace_sampler) inside each measured process:
- NVML: the real `NvmlSampler` over tests/fakes/fake_pynvml.py (pynvml's API, one RTX 4090), with
  a delay added to *every* NVML call (a sample makes ~15 calls);
- simulated: `SimulatedTelemetry`, what `--demo` shows.
Everything else is the real app, headless (120×40), against the simulator in its own process; the
sampler runs in the Sidebar's thread worker and hands each snapshot to the UI with call_from_thread.

1. Idle cost: the connected app left alone for --seconds; its CPU time ÷ wall time with sampling off
   (the telemetry worker never started) and at 1 Hz and 10 Hz for each stand-in. `sampler` is the CPU
   the sampling thread spent inside sample(); the rest of the difference from `off` is the UI
   showing the snapshots (GPU and memory panels, sparklines).
2. Isolation: a 2,000-token reply at 500 tok/s (stream_render.py's quiet and typing passes) while
   every NVML call takes --slow-delay seconds (0.5 s: a sample blocks ~7 s), against the same with
   0 ms, in the same run: loop stall, key echo, lag and CPU, and slow ÷ fast ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

import stream_render  # noqa: E402
from stream_render import CLOCK, SimChild, fmt, measure, wait_until  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import app_probe  # noqa: E402  (the app's state, for this tree and an older one)

TINY_DELAY = 0.0002  # 0.2 ms per NVML call: what a local driver answers in (a sample ≈ 3 ms)


class TimedSampler:
    """Wraps a sampler: counts samples, their wall time and the CPU its thread spent in them."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.samples = 0
        self.busy_s = 0.0
        self.cpu_s = 0.0
        self.longest_s = 0.0
        self._lock = threading.Lock()

    def sample(self) -> Any:
        wall0, cpu0 = CLOCK(), time.thread_time()
        try:
            return self.inner.sample()
        finally:
            wall, cpu = CLOCK() - wall0, time.thread_time() - cpu0
            with self._lock:
                self.samples += 1
                self.busy_s += wall
                self.cpu_s += cpu
                self.longest_s = max(self.longest_s, wall)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def make_factory(kind: str, delay: float) -> tuple[Any, list[TimedSampler]]:
    """A sampler factory for make_sampler's place, and the list of samplers it made."""
    made: list[TimedSampler] = []

    def factory() -> TimedSampler:
        if kind == "simulated":
            from zorac_tui.telemetry.simulated import SimulatedTelemetry

            inner: Any = SimulatedTelemetry()
        else:
            from fakes.fake_pynvml import FakePynvml

            from zorac_tui.telemetry.nvml import NvmlSampler

            inner = NvmlSampler(FakePynvml(delay_s=delay))
        made.append(TimedSampler(inner))
        return made[-1]

    return factory, made


def sampler_totals(made: list[TimedSampler]) -> dict:
    """Totals over the samplers a run made."""
    return {"samples": sum(m.samples for m in made), "sampler_cpu_s": sum(m.cpu_s for m in made),
            "sampler_busy_s": sum(m.busy_s for m in made),
            "longest_sample_s": max((m.longest_s for m in made), default=0.0)}


async def idle_cell(kind: str, interval: float, delay: float, seconds: float) -> dict:
    """The connected app idle for `seconds`; sampling `kind` ('off', 'nvml', 'simulated') every `interval`."""
    os.environ.setdefault("ZORAC_HOME", tempfile.mkdtemp(prefix="zorac-telemetry-"))
    os.environ["ZORAC_OFFLINE"] = "1"
    from zorac_tui.config import Settings
    from zorac_tui.ui.app import ZoracApp

    made: list[TimedSampler] = []
    if kind == "off":
        app_probe.no_telemetry()
    else:
        factory, made = make_factory(kind, delay)
        app_probe.replace_sampler(factory)
    sim = SimChild(62.0)
    base_url = sim.start()
    try:
        app = ZoracApp(Settings(base_url=base_url, telemetry_interval=interval))
        async with app.run_test(size=(stream_render.COLS, stream_render.ROWS)):
            await wait_until(lambda: app_probe.connected(app), 30, "the app to connect",
                             lambda: True)
            await asyncio.sleep(2.0)  # start-up work (first recount, first samples) out of the window
            before = sampler_totals(made)
            cpu0, wall0 = time.process_time(), CLOCK()
            await asyncio.sleep(seconds)
            cpu, wall = time.process_time() - cpu0, CLOCK() - wall0
            after = sampler_totals(made)
    finally:
        sim.stop()
    return {"kind": kind, "interval": interval, "cpu_pct": cpu / wall * 100,
            "samples": after["samples"] - before["samples"],
            "sampler_cpu_pct": (after["sampler_cpu_s"] - before["sampler_cpu_s"]) / wall * 100}


async def stream_cell(delay: float) -> dict:
    """stream_render's 500 tok/s passes with every NVML call taking `delay` s, sampling at 1 Hz."""
    factory, made = make_factory("nvml", delay)
    result = await measure(500.0, sampler_factory=factory, telemetry_interval=1.0)
    result.update(sampler_totals(made))
    return result


def run_child(args: list[str], timeout: float) -> dict:
    """Run this script's --cell in a fresh process (it patches modules); its JSON result."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = handle.name
    tail, _written = stream_render.spawn([sys.executable, __file__, *args, "--out", out], dict(os.environ), False,
                                         timeout)
    try:
        with open(out) as handle:
            result = json.load(handle)
    except (OSError, ValueError):
        result = {"error": f"no result: {tail[-1500:]!r}"}
    finally:
        os.unlink(out)
    if "error" in result:
        raise SystemExit(f"{' '.join(args)} failed:\n{result['error']}")
    return result


def main() -> int:
    """Run both experiments and print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="idle window per setting")
    parser.add_argument("--slow-delay", type=float, default=0.5, help="seconds per NVML call in the slow run")
    parser.add_argument("--json", help="also write every result to this file")
    parser.add_argument("--cell", nargs=4, metavar=("WHAT", "KIND", "INTERVAL", "DELAY"), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cell:
        what, kind, interval, delay = args.cell
        try:
            if what == "idle":
                result = asyncio.run(idle_cell(kind, float(interval), float(delay), args.seconds))
            else:
                result = asyncio.run(stream_cell(float(delay)))
        except BaseException:
            result = {"error": traceback.format_exc()}
        with open(args.out, "w") as handle:
            json.dump(result, handle)
        return 0

    print(f"telemetry: app headless {stream_render.COLS}x{stream_render.ROWS}, simulator in its own process, "
          f"sampler stand-ins; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} at start")
    print(f"\n1. idle app CPU over {args.seconds:.0f} s by sampling rate (100% = one core)")
    settings = [("off", 1.0, 0.0), ("nvml", 1.0, TINY_DELAY), ("nvml", 0.1, TINY_DELAY),
                ("simulated", 1.0, 0.0), ("simulated", 0.1, 0.0)]
    idle = []
    for kind, interval, delay in settings:
        r = run_child(["--seconds", str(args.seconds), "--cell", "idle", kind, str(interval), str(delay)],
                      args.seconds + 90)
        idle.append(r)
    off = idle[0]["cpu_pct"]
    print(f"   {'sampling':<34} {'app CPU':>8} {'vs off':>8} {'sampler':>8} {'samples':>8}")
    for (kind, interval, delay), r in zip(settings, idle):
        label = "off (no telemetry worker)" if kind == "off" else (
            f"{'fake NVML' if kind == 'nvml' else 'SimulatedTelemetry'} at {1 / interval:.0f} Hz"
            + (f", {delay * 1000:.1f} ms/call" if kind == "nvml" else ""))
        extra = "" if kind == "off" else f"{r['cpu_pct'] - off:>+7.1f}%"
        sampler = fmt(r['sampler_cpu_pct'], '.2f') if kind != 'off' else ''
        print(f"   {label:<34} {r['cpu_pct']:>7.1f}% {extra:>8} {sampler:>7}"
              f"{'%' if kind != 'off' else ' '} {r['samples']:>8}")

    print(f"\n2. 2,000-token reply at 500 tok/s, fake NVML sampled at 1 Hz, every NVML call taking 0 ms vs "
          f"{args.slow_delay * 1000:.0f} ms")
    fast = run_child(["--cell", "stream", "nvml", "1.0", "0"], 300)
    slow = run_child(["--cell", "stream", "nvml", "1.0", str(args.slow_delay)], 300)
    print(f"   {'NVML call':<10} {'pass':<6} {'stall p50':>9} {'p95':>6} {'max':>6} │ {'echo p50':>8} {'max':>6}"
          f" {'drop':>4} │ {'lag':>6} {'CPU%':>5} {'tok/s':>7}")
    for label, r in (("0 ms", fast), (f"{args.slow_delay * 1000:.0f} ms", slow)):
        for name in ("quiet", "typing"):
            p = r[name]
            echo = f"{fmt(p['echo_p50_ms'], '.1f'):>8} {fmt(p['echo_max_ms'], '.1f'):>6} {p['dropped']:>4}" \
                if name == "typing" else f"{'':>8} {'':>6} {'':>4}"
            print(f"   {label:<10} {name:<6} {p['stall_p50_ms']:>9.1f} {p['stall_p95_ms']:>6.1f} "
                  f"{p['stall_max_ms']:>6.1f} │ {echo} │ {p['lag_ms']:>6.0f} {p['cpu_pct']:>5.0f} "
                  f"{fmt(p['decode_tok_s'], '.1f'):>7}")
        print(f"   {'':<10} samples finished {r['samples']}, longest {r['longest_sample_s']:.2f} s, "
              f"quitting the app took {r['exit_s']:.2f} s")
    fq, sq, ft, st = fast["quiet"], slow["quiet"], fast["typing"], slow["typing"]

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}x" if b > 0 else "—"

    print(f"   slow ÷ fast: stall p95 {ratio(sq['stall_p95_ms'], fq['stall_p95_ms'])} (quiet), "
          f"{ratio(st['stall_p95_ms'], ft['stall_p95_ms'])} (typing); stall max "
          f"{ratio(sq['stall_max_ms'], fq['stall_max_ms'])}; key echo p50 "
          f"{ratio(st['echo_p50_ms'], ft['echo_p50_ms'])}, max {ratio(st['echo_max_ms'], ft['echo_max_ms'])}; "
          f"lag {ratio(sq['lag_ms'], fq['lag_ms'])}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"idle": idle, "fast": fast, "slow": slow}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
