"""The terminal benchmark's in-process runner: what a flush costs as a reply grows, on a pseudo-terminal or headless.

The real app (ZoracApp, 160×50, the stand-in GPU of terminal_app.py sampled at its default interval,
`--continue` into a seeded conversation when messages are loaded) streams one reply from the project's
simulator in its own process (stream_render.SimChild, paced at the rate; it reports when it wrote the
first and the last token). Nobody types. "pty" runs the app's real Linux driver on a pseudo-terminal
drained by the parent (escape sequences written included), "headless" is App.run_test.

Flush cost, outside in — no hook in the app: the event loop's selector is wrapped, so every stretch the
loop spends away from its wait (callbacks, timers, the flushes and the frames they cause, the sidebar,
the HTTP stream) is timed, wall and the loop thread's CPU. Stretches are put in token windows by the
simulator's schedule (token i written at first + i × (last − first) / (N − 1)). The figure is the busy
time in the last 1,000 tokens ÷ that in the first 1,000: the rate is constant, so a window holds the same
number of flushes wherever it is, and 1.0 means a flush costs as much at the end as at the start. It
needs nothing from the renderer, so it measures the old and the new one alike.

Flush cost, inside: the live reply's draw method is wrapped at class level (by default
the transcript's flush, or the older app's StreamingReply.flush — app_probe.live_flush_hook(); --flush-hook
names another) and
its mean CPU time per call in each window is reported too. It is the draw call alone, not the frame it
causes; when the class or method is gone the figure is "—" with a note, and the rest still runs.

Also: lag (the simulator writing the last token → the end of the first flush() that started with the whole
text received: drawn; the frame follows within a refresh; needs the hook; when the reply ended between two
flushes and no flush had the whole text, the finished view on screen), settled lag (→ streaming over,
the finished view mounted and the screen refreshed after it; no hook), the app's CPU (all its threads)
over Enter → settled, the longest busy stretch (how long a key could have waited), and the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import app_probe  # noqa: E402  (the app's state, for this tree and an older one)
import stream_render  # noqa: E402  (stdlib only at import; the app is imported when measuring)

CLOCK = stream_render.CLOCK  # CLOCK_MONOTONIC: comparable with the simulator process's times
SIZE = (160, 50)
TTFT = 0.2
WINDOW = 1000  # tokens in the first and the last window
FLUSH_HOOK = ""  # empty: the app's own live-reply draw method (app_probe.live_flush_hook)
PROMPT = "Please explain streaming in detail"


# ------------------------------------------------------------------------------------------ in the app
class LoopMeter:
    """At each wait of the event loop: its busy time so far, CPU so far (loop thread, process), reply progress."""

    def __init__(self, loop: asyncio.AbstractEventLoop, progress: Callable[[], int]) -> None:
        """Wrap `loop`'s selector (asyncio's selector loop; uvloop has none); `progress` = reply characters so far."""
        self.selector = getattr(loop, "_selector", None)
        if self.selector is None:
            raise RuntimeError("the event loop has no selector to time (not asyncio's selector loop)")
        self.samples: list[tuple[float, float, float, float, int]] = []  # (t, busy, loop CPU, process CPU, chars)
        self._select = self.selector.select
        busy, left = [0.0], [CLOCK()]

        def select(timeout: float | None = None) -> Any:
            now = CLOCK()
            busy[0] += now - left[0]
            self.samples.append((now, busy[0], time.thread_time(), time.process_time(), progress()))
            try:
                return self._select(timeout)
            finally:
                left[0] = CLOCK()

        self.selector.select = select

    def stop(self) -> None:
        """Unwrap."""
        self.selector.select = self._select

    def index(self, chars: int) -> int:
        """The first sample at which the reply had `chars` characters (the one before, for the first character)."""
        for i, sample in enumerate(self.samples):
            if sample[4] >= max(1, chars):
                return max(0, i - 1) if chars <= 0 else i
        return len(self.samples) - 1

    def window(self, lo: int, hi: int) -> dict[str, float]:
        """Between samples lo and hi: seconds, busy seconds, loop-thread and process CPU seconds, longest stretch."""
        a, b = self.samples[lo], self.samples[hi]
        stretches = [self.samples[i][1] - self.samples[i - 1][1] for i in range(lo + 1, hi + 1)]
        return {"t0": a[0], "t1": b[0], "busy": b[1] - a[1], "loop_cpu": b[2] - a[2], "cpu": b[3] - a[3],
                "longest": max(stretches, default=0.0)}


def live_reply_class(spec: str = FLUSH_HOOK) -> tuple[type, str]:
    """The live reply's class and the name of its draw method, from "module:Class.method" (empty: the app's own,
    whichever the tree being measured has); LookupError if gone."""
    spec = spec or app_probe.live_flush_hook()
    module_name, _, rest = spec.partition(":")
    class_name, _, method = rest.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise LookupError(f"{spec} not found ({exc}): the live reply was replaced — pass --flush-hook "
                          "module:Class.method (the loop-busy figures do not need it)") from None
    if not callable(getattr(cls, method, None)):
        raise LookupError(f"{spec}: {class_name} has no method {method} — pass --flush-hook module:Class.method")
    return cls, method


class FlushTimer:
    """Wraps the live reply's draw method at class level; per call: start, loop-thread CPU seconds, the reply's
    received characters when it started, and when the screen refresh after it was done."""

    def __init__(self, spec: str, progress: Callable[[], int]) -> None:
        """Wrap it, or note why not."""
        self.calls: list[tuple[float, float, int]] = []
        self.painted: dict[int, float] = {}  # call index → the refresh after it done
        self.note = ""
        self.cls: type | None = None
        try:
            self.cls, self.method = live_reply_class(spec)
        except LookupError as exc:
            self.note = str(exc)
            return
        self.original = original = getattr(self.cls, self.method)
        calls, painted = self.calls, self.painted

        def timed(widget: Any, *args: Any, **kwargs: Any) -> Any:
            start, cpu, chars = CLOCK(), time.thread_time(), progress()  # CPU: a busy machine preempts the loop
            try:
                return original(widget, *args, **kwargs)
            finally:
                calls.append((start, time.thread_time() - cpu, chars))
                index = len(calls) - 1
                widget.app.call_after_refresh(lambda: painted.__setitem__(index, CLOCK()))

        setattr(self.cls, self.method, timed)

    def painted_at(self, chars: int) -> float | None:
        """When the refresh after the first call that started with `chars` characters received was done."""
        index = next((i for i, call in enumerate(self.calls) if call[2] >= chars), None)
        return None if index is None else self.painted.get(index)

    def stop(self) -> None:
        """Unwrap."""
        if self.cls is not None:
            setattr(self.cls, self.method, self.original)

    def count(self, t0: float, t1: float) -> int:
        """Calls that started between t0 and t1."""
        return sum(t0 <= call[0] <= t1 for call in self.calls)

    def mean_ms(self, t0: float, t1: float) -> float | None:
        """Mean CPU milliseconds per call that started between t0 and t1."""
        inside = [call[1] for call in self.calls if t0 <= call[0] <= t1]
        return sum(inside) / len(inside) * 1000 if inside else None


def proc_cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) process `pid` has used."""
    with open(f"/proc/{pid}/stat", "rb") as handle:
        fields = handle.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies over all cores, from /proc/stat."""
    with open("/proc/stat") as handle:
        values = [int(x) for x in handle.readline().split()[1:]]
    total = sum(values[:8])
    return total - values[3] - values[4], total


async def wait_for(condition: Any, timeout: float, what: str) -> None:
    """Poll `condition` every 10 ms, or raise after `timeout` seconds."""
    deadline = CLOCK() + timeout
    while not condition():
        if CLOCK() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def one_reply(app: Any, sim: Any, tokens: int, flush_hook: str) -> dict:
    """Send the prompt, wait for the reply to settle on screen; the figures."""
    from textual import events

    from zorac_tui.ui.prompt import PromptInput

    msgs = app_probe.messages(app)
    count = len(msgs)

    def progress() -> int:
        return len(msgs[-1].content) if len(msgs) > count + 1 else 0

    meter, flushes = LoopMeter(asyncio.get_running_loop(), progress), FlushTimer(flush_hook, progress)
    app.query_one(PromptInput).load_text(PROMPT)
    cpu0, ticks0, sim0 = time.process_time(), machine_ticks(), proc_cpu_s(sim.proc.pid)
    sent = CLOCK()
    key = events.Key("enter", "\r")
    key.set_sender(app)
    app._driver.send_message(key)  # as the terminal driver hands over a parsed key
    try:
        await wait_for(lambda: len(msgs) >= count + 2 and not app_probe.streaming(app),
                       tokens / sim.config["rate"] + 120, "the reply to settle")
        painted = asyncio.Event()
        app.call_after_refresh(painted.set)
        await painted.wait()
        done = CLOCK()
    finally:
        meter.stop()
        flushes.stop()
    cpu, ticks1, sim1 = time.process_time() - cpu0, machine_ticks(), proc_cpu_s(sim.proc.pid)
    server, wall = sim.last_reply(), done - sent
    machine = 100 * (ticks1[0] - ticks0[0]) / max(1, ticks1[1] - ticks0[1]) * os.cpu_count()
    reply = msgs[-1]
    # the whole text first on screen: after the first flush that had it, else (the reply ended between two
    # flushes and its finish drew the last tokens) when the finished view was
    drawn = flushes.painted_at(len(reply.content)) or (done if not flushes.note else None)
    result = {"lag_ms": (drawn - server["last"]) * 1000 if drawn else None,
              "settled_lag_ms": (done - server["last"]) * 1000, "cpu_pct": 100 * cpu / wall, "wall_s": wall,
              "machine_pct": machine, "other_pct": machine - 100 * cpu / wall - 100 * (sim1 - sim0) / wall,
              "flush_note": flushes.note, "tokens_seen": reply.stats.completion_tokens if reply.stats else None}
    result.update(flush_costs(meter, flushes, len(reply.content), tokens))
    return result


def flush_costs(meter: LoopMeter, flushes: FlushTimer, chars: int, tokens: int) -> dict:
    """Cost per flush and per token in the first and the last WINDOW tokens (cut by the reply's received text)."""
    if meter.samples[-1][4] < chars:
        return {"flush_note": "the reply's text did not grow while it streamed: no windows"}
    size = min(WINDOW, tokens)

    def at(token: int) -> int:
        return meter.index(round(chars * token / tokens))

    out: dict[str, Any] = {"longest_busy_ms": meter.window(at(0), len(meter.samples) - 1)["longest"] * 1000}
    for name, (lo, hi) in {"first": (0, size), "last": (tokens - size, tokens)}.items():
        w = meter.window(at(lo), at(hi))
        count = flushes.count(w["t0"], w["t1"])
        out[f"{name}_window_s"], out[f"{name}_flushes"] = w["t1"] - w["t0"], count
        out[f"{name}_busy_pct"] = 100 * w["busy"] / max(1e-9, w["t1"] - w["t0"])
        for key in ("busy", "loop_cpu", "cpu"):
            out[f"{name}_{key}_ms_per_1000"] = w[key] / size * 1000 * 1000
            out[f"{name}_{key}_ms_per_flush"] = w[key] / count * 1000 if count else None
        out[f"{name}_flush_ms"] = flushes.mean_ms(w["t0"], w["t1"])
    profile = [meter.window(at(i), at(i + WINDOW)) for i in range(0, tokens - WINDOW + 1, WINDOW)]
    out["cpu_ms_per_1000"] = [round(w["cpu"] * 1000, 1) for w in profile]
    out["cpu_ms_per_flush_by_1000"] = [round(w["cpu"] / n * 1000, 2) if (n := flushes.count(w["t0"], w["t1"]))
                                       else None for w in profile]
    return out


async def measure(tokens: int, rate: float, messages: int, terminal: bool, flush_hook: str) -> dict:
    """A fresh app (and conversation, seeded when `messages`) against a fresh simulator: one reply."""
    import terminal_app

    if messages:
        terminal_app.seed(messages)
    terminal_app.install_fake_gpu()
    from zorac_tui.config import Settings
    from zorac_tui.ui.app import ZoracApp

    sim = stream_render.SimChild(rate, tokens, TTFT)
    sim.config["max_model_len"] = 65_536  # a 300-message conversation and an 8,000-token reply fit
    base_url = sim.start()
    try:
        app = ZoracApp(Settings(base_url=base_url, max_tokens=tokens + 100, auto_summarize=False),
                       continue_last=bool(messages))

        async def run() -> dict:
            await wait_for(lambda: app_probe.connected(app) and len(app_probe.messages(app)) >= messages, 60,
                           "the app to connect")
            await asyncio.sleep(1.5)  # the gauge's count of the loaded conversation, the first GPU samples
            return await one_reply(app, sim, tokens, flush_hook)

        if terminal:
            runner = asyncio.create_task(app.run_async())
            try:
                result = await run()
            finally:
                app.exit()
                await asyncio.wait_for(runner, 60)
        else:
            async with app.run_test(size=SIZE):
                result = await run()
        return result
    finally:
        sim.stop()


# ---------------------------------------------------------------------------------------- the parent
def run_inproc(tokens: int, rate: float, messages: int, display: str, env: dict[str, str],
               flush_hook: str = FLUSH_HOOK) -> dict:
    """One reply in a fresh process (on a pseudo-terminal for display "pty"); its figures or {"error": …}."""
    home = tempfile.mkdtemp(prefix="zorac-bench-home-")
    child_env = {**os.environ, **env, "HOME": home, "ZORAC_HOME": os.path.join(home, "zorac"), "ZORAC_OFFLINE": "1"}
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = handle.name
    cell = {"tokens": tokens, "rate": rate, "messages": messages, "flush_hook": flush_hook}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(cell), "--out", out]
    load1 = os.getloadavg()[0]
    try:
        tail = spawn(cmd + (["--terminal"] if display == "pty" else []), child_env, display == "pty",
                     timeout=tokens / rate * 3 + 180)
        try:
            with open(out) as handle:
                result = json.load(handle)
        except (OSError, ValueError):
            result = {"error": f"no result; output tail: {tail[-1500:]!r}"}
    finally:
        if os.path.exists(out):
            os.unlink(out)
        shutil.rmtree(home, ignore_errors=True)
    return {"runner": display, "load1": load1, **result}


def spawn(cmd: list[str], env: dict[str, str], terminal: bool, timeout: float) -> bytes:
    """Run `cmd` (on a drained pseudo-terminal of SIZE when `terminal`) to its end; the last output."""
    stream_render.COLS, stream_render.ROWS = SIZE  # its pseudo-terminal helpers read these
    return stream_render.spawn(cmd, env, terminal, timeout)[0]


def main() -> int:
    """`--child`: measure one cell in this process and write its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", required=True, help="the cell as JSON")
    parser.add_argument("--out", required=True)
    parser.add_argument("--terminal", action="store_true")
    args = parser.parse_args()
    cell = json.loads(args.child)
    try:
        result = asyncio.run(measure(cell["tokens"], cell["rate"], cell["messages"], args.terminal,
                                     cell["flush_hook"]))
        import zorac_tui

        result["zorac_tui"] = os.path.dirname(os.path.realpath(zorac_tui.__file__))
    except BaseException:
        result = {"error": traceback.format_exc()[-3000:]}
    with open(args.out, "w") as handle:
        json.dump(result, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
