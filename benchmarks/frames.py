"""Where a streaming reply's time goes: frames, flushes, the longest of each, and the collector's full passes.

    python benchmarks/frames.py                                  # 60 and 500 tok/s, this checkout
    python benchmarks/frames.py --trees . /tmp/old --repeats 3   # A/B: each folder's zorac_tui, alternated

Each run is a child process with the tree's folder first on PYTHONPATH (so its zorac_tui is the one
imported), driving the real app headless (160×50, tests/appdriver.py) with the stand-in GPU of
tests/fakes sampled at the default 1 Hz and /metrics polled as usual, against the project's simulator in
a process of its own. For one reply at each rate it prints: the app's CPU (% of one core), frames per
second and the CPU they took, the live reply's flushes and theirs, the p50 / p90 / p99 / max wall time of
one frame and of one flush (what a key typed meanwhile waits behind), the cycle collector's passes over
the oldest generation while the reply streamed (count, longest), and how many frames repainted the
transcript's whole view (each scroll of the view does).

A key is only as quick as the longest thing the event loop is doing when it arrives: the tails of the
frame and flush times, and the collector's full passes, are what the terminal benchmark's key echo p95
sees (`terminal.py`); this one says which of them it was.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def child(rate: float, tokens: int) -> dict:
    """Measure one reply in this process (zorac_tui from PYTHONPATH); the figures as a dict."""
    import asyncio
    import collections
    import gc
    import time

    sys.path[:0] = [str(ROOT / "tests"), str(HERE)]
    import terminal_app
    from appdriver import connected, is_streaming, make_app, running_simulator, send, wait_for
    from textual.screen import Screen

    from zorac_tui.demo.simulator import SimConfig
    from zorac_tui.ui.transcript import Transcript

    terminal_app.install_fake_gpu()
    cpu: collections.Counter[str] = collections.Counter()
    walls: dict[str, list[float]] = collections.defaultdict(list)
    on = [False]
    whole_view = [0]

    def timed(cls: type, name: str, label: str) -> None:
        """Wrap cls.name to add its CPU and wall time under `label` while measuring."""
        original = getattr(cls, name)

        def wrapper(self, *args, **kwargs):
            c, w = time.thread_time(), time.perf_counter()
            try:
                return original(self, *args, **kwargs)
            finally:
                if on[0]:
                    cpu[label] += time.thread_time() - c
                    walls[label].append(1000 * (time.perf_counter() - w))
        setattr(cls, name, wrapper)

    timed(Screen, "_on_timer_update", "frame")
    timed(Transcript, "flush", "flush")
    render_lines = Transcript.render_lines

    def counting(self, crop):
        if on[0] and crop.height >= self.scrollable_content_region.height:
            whole_view[0] += 1
        return render_lines(self, crop)
    Transcript.render_lines = counting
    passes: list[float] = []
    started: list[float] = []

    def watch(phase: str, info: dict) -> None:
        if info["generation"] != 2 or not on[0]:
            return
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            passes.append(1000 * (time.perf_counter() - started.pop()))
    gc.callbacks.append(watch)

    async def run() -> dict:
        config = SimConfig(rate=rate, ttft=0.1, answer_tokens=tokens)
        with running_simulator(config, process=True) as sim:
            app = make_app(sim, persist=False)
            async with app.run_test(size=(160, 50)) as pilot:
                await connected(pilot)
                send(pilot, "Please explain streaming in detail")
                await wait_for(pilot, lambda: is_streaming(app), 20, "the reply to start")
                on[0] = True
                wall, process = time.perf_counter(), time.process_time()
                await wait_for(pilot, lambda: not is_streaming(app), 30 + 2 * tokens / rate, "the reply to end")
                on[0] = False
                wall, process = time.perf_counter() - wall, time.process_time() - process

        def tail(label: str) -> dict:
            values = sorted(walls[label])
            pick = lambda q: round(values[min(len(values) - 1, int(q * len(values)))], 1)  # noqa: E731
            return {"per_s": round(len(values) / wall, 1), "cpu_pct": round(100 * cpu[label] / wall, 1),
                    "p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99), "max": round(values[-1], 1)}
        return {"rate": rate, "tokens": tokens, "seconds": round(wall, 1), "cpu_pct": round(100 * process / wall, 1),
                "frame": tail("frame"), "flush": tail("flush"), "full_passes": len(passes),
                "longest_full_pass_ms": round(max(passes), 1) if passes else 0.0, "whole_view_repaints": whole_view[0]}

    return asyncio.run(run())


def measure(tree: Path, rate: float, tokens: int) -> dict:
    """One run in a child process importing `tree`'s zorac_tui."""
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "PYTHONPATH": str(tree), "ZORAC_HOME": home}
        out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", str(rate), str(tokens)],
                             env=env, cwd=home, capture_output=True, text=True, timeout=120 + 3 * tokens / rate)
    if out.returncode != 0:
        raise SystemExit(f"frames: the run of {tree} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def line(tree: str, r: dict) -> str:
    """One printed row."""
    f, u = r["frame"], r["flush"]
    return (f"{tree:24.24s} {r['rate']:>6.0f} tok/s  CPU {r['cpu_pct']:5.1f} %  "
            f"frames {f['per_s']:4.1f}/s {f['cpu_pct']:4.1f} %  p50/p90/p99/max {f['p50']}/{f['p90']}/{f['p99']}/"
            f"{f['max']} ms  flushes {u['cpu_pct']:4.1f} %  p99/max {u['p99']}/{u['max']} ms  "
            f"full GC passes {r['full_passes']} (longest {r['longest_full_pass_ms']} ms)  "
            f"whole-view repaints {r['whole_view_repaints']}")


def main() -> int:
    """Parse the options, run each tree at each rate, print a row per run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--rates", type=float, nargs="+", default=[60, 500])
    parser.add_argument("--tokens", type=int, default=900, help="reply length (tokens)")
    parser.add_argument("--trees", nargs="+", default=[str(ROOT)], help="folders holding a zorac_tui to measure")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", help="write every run here")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(float(args.child[0]), int(args.child[1]))))
        return 0
    runs = []
    print(f"frames: {len(args.trees)} tree(s), {args.tokens:,} tokens, 160x50 headless, load {os.getloadavg()[0]:.2f}")
    for rate in args.rates:
        for _ in range(args.repeats):
            for tree in args.trees:
                result = measure(Path(tree).resolve(), rate, args.tokens)
                runs.append({"tree": tree, **result})
                print(line(tree, result), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
