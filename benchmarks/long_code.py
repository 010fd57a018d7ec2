"""A reply that is one long fenced code block, streamed into the headless app: flush cost and loop stalls.

    python benchmarks/long_code.py                 # 1,000 lines at 2,000 tok/s
    python benchmarks/long_code.py --lines 300 --rate 500

The simulator runs in its own process and sends "```python", N lines of code and "```" then a line of
prose. Printed: total time from Enter to the settled reply, the live reply's flush time (p50/max: the
work of drawing what arrived, on the UI thread) and how late a 10 ms timer woke (p95/max) all along.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import app_probe

CLOCK = time.perf_counter


def code_reply(lines: int) -> str:
    """A long Python code block without blank lines, then prose."""
    body = "\n".join(f"value_{i} = compute(alpha={i}, beta='text {i}')  # step {i}" for i in range(lines))
    return f"```python\n{body}\n```\n\nDone."


async def measure(lines: int, rate: float) -> dict:
    """Stream one reply; the figures."""
    os.environ.setdefault("ZORAC_HOME", tempfile.mkdtemp(prefix="zorac-bench-"))
    os.environ["ZORAC_OFFLINE"] = "1"
    from zorac_tui.config import Settings
    from zorac_tui.demo.process import SimulatorProcess
    from zorac_tui.demo.simulator import SimConfig
    from zorac_tui.ui.app import ZoracApp
    from zorac_tui.ui.prompt import PromptInput

    sim = SimulatorProcess(SimConfig(reply_text=code_reply(lines), rate=rate, ttft=0.05, max_model_len=200_000))
    sim.start()
    flushes: list[float] = []
    module_name, _, attribute = app_probe.live_flush_hook().partition(":")
    cls = getattr(importlib.import_module(module_name), attribute.split(".")[0])
    original = cls.flush

    def flush(self) -> None:
        start = CLOCK()
        original(self)
        flushes.append(CLOCK() - start)

    cls.flush = flush
    try:
        app = ZoracApp(Settings(base_url=sim.base_url, max_tokens=150_000, auto_summarize=False))
        async with app.run_test(size=(120, 40)) as pilot:
            while not app_probe.connected(app):
                await asyncio.sleep(0.05)
            stalls: list[float] = []
            done = asyncio.Event()

            async def probe() -> None:
                while not done.is_set():
                    start = CLOCK()
                    await asyncio.sleep(0.01)
                    stalls.append(CLOCK() - start - 0.01)

            task = asyncio.create_task(probe())
            app.query_one(PromptInput).load_text("write it")
            count = len(app_probe.messages(app))
            start = CLOCK()
            await pilot.press("enter")
            while len(app_probe.messages(app)) < count + 2 or app_probe.streaming(app):
                await asyncio.sleep(0.05)
            total = CLOCK() - start
            done.set()
            await task
    finally:
        cls.flush = original
        sim.stop()
    flushes.sort()
    stalls.sort()
    return {"total_s": total, "flushes": len(flushes), "flush_p50_ms": flushes[len(flushes) // 2] * 1000,
            "flush_max_ms": flushes[-1] * 1000, "stall_p95_ms": stalls[int(len(stalls) * 0.95)] * 1000,
            "stall_max_ms": stalls[-1] * 1000}


def main() -> int:
    """Parse the arguments, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=2000.0)
    args = parser.parse_args()
    r = asyncio.run(measure(args.lines, args.rate))
    print(f"{args.lines} code lines at {args.rate:,.0f} tok/s: Enter → settled {r['total_s']:.1f} s; "
          f"flush p50 {r['flush_p50_ms']:.1f} ms, max {r['flush_max_ms']:.1f} ms ({r['flushes']} flushes); "
          f"loop stall p95 {r['stall_p95_ms']:.0f} ms, max {r['stall_max_ms']:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
