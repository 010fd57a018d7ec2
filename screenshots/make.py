"""Regenerate the README screenshots from the demo: `python screenshots/make.py` (SVG; PNG with rsvg-convert)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ.setdefault("ZORAC_HOME", tempfile.mkdtemp(prefix="zorac-shots-"))
os.environ.setdefault("ZORAC_OFFLINE", "1")

from zorac_tui.config import Settings  # noqa: E402
from zorac_tui.demo import SimConfig, SimulatorThread  # noqa: E402
from zorac_tui.ui.app import ZoracApp  # noqa: E402
from zorac_tui.ui.prompt import PromptInput  # noqa: E402

SIZE = (150, 46)


async def wait_for(pilot, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll until `predicate` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("screenshot scenario did not reach its state")
        await pilot.pause(0.05)


async def send(pilot, app: ZoracApp, text: str, *, wait_done: bool = True) -> None:
    """Type a prompt and send it."""
    screen = app.main
    await wait_for(pilot, lambda: screen.server.connection is not None and screen.budget.budget is not None)
    before = len(screen.conversation.messages)
    app.query_one(PromptInput).text = text
    await pilot.press("enter")
    # a fast reply can be over before a look catches it streaming: its message is there either way
    await wait_for(pilot, lambda: len(screen.conversation.messages) >= before + 2)
    if wait_done:
        await wait_for(pilot, lambda: not screen.reply.streaming)
        await pilot.pause(0.3)


async def shoot(name: str, sim: SimConfig, settings: dict, scenario: Callable, *, demo: bool = True,
                gpu_box: int = 0) -> Path:
    """Run one scenario against a fresh simulator (and a demo GPU box of `gpu_box` GPUs) and save NAME.svg (+ .png)."""
    thread = SimulatorThread(sim)
    base_url = thread.start()
    box = None
    if gpu_box:
        from zorac_tui.demo.exporter import GpuBoxThread

        box = GpuBoxThread(gpu_box, busy=lambda: bool(thread.simulator.active))
        settings = {**settings, "gpu_metrics_url": box.start()}
    try:
        app = ZoracApp(Settings(base_url=base_url, demo=demo, **settings), demo=demo)
        async with app.run_test(size=SIZE) as pilot:
            await scenario(pilot, app)
            svg = app.export_screenshot(title=f"zorac-tui — {name}")
    finally:
        thread.stop()
        if box is not None:
            box.stop()
    target = HERE / f"{name}.svg"
    target.write_text(svg, encoding="utf-8")
    if shutil.which("rsvg-convert"):
        # rsvg drops a no-break space that starts a text run ("**key** and" came out "keyand"): give it
        # plain spaces it is told to keep; the SVG itself stays as Textual wrote it (browsers are fine)
        plain = svg.replace("&#160;", " ").replace("<svg ", '<svg xml:space="preserve" ', 1)
        png = str(target.with_suffix(".png"))
        subprocess.run(["rsvg-convert", "-o", png], input=plain.encode("utf-8"), check=True)  # noqa: ASYNC221
    print(f"wrote {target.relative_to(HERE.parent)}")
    return target


async def streaming(pilot, app: ZoracApp) -> None:
    """Mid-reply: Markdown streaming, live tok/s, busy simulated GPU."""
    await send(pilot, app, "What is AWQ quantization and how fast is it on a 4090?")
    await send(pilot, app, "Explain the KV cache in vLLM", wait_done=False)
    await wait_for(pilot, lambda: (app.main.reply.meter is not None and app.main.reply.meter.tokens > 180))
    await pilot.pause(1.2)


async def near_limit(pilot, app: ZoracApp) -> None:
    """Gauge near the window with auto-summary off."""
    for prompt in ("Explain the KV cache in vLLM", "What is AWQ quantization?", "How do I use asyncio?"):
        await send(pilot, app, prompt)
    app.query_one(PromptInput).text = "And how do I pick --gpu-memory-utilization?"
    await pilot.pause(0.8)


async def summary(pilot, app: ZoracApp) -> None:
    """After a manual summary: the collapsible block and the smaller gauge."""
    for prompt in ("Explain the KV cache in vLLM", "What is AWQ quantization?", "How do I use asyncio?",
                   "Show me a git rebase example"):
        await send(pilot, app, prompt)
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: app.main.conversation.messages[0].role == "summary")
    await pilot.pause(0.5)
    app.main.pane.scroll_home(animate=False)
    await pilot.pause(0.3)


async def conversations(pilot, app: ZoracApp) -> None:
    """The conversation list beside an open conversation."""
    for prompt in ("How do I undo a git commit?", "What is AWQ quantization?", "Explain the KV cache in vLLM"):
        await send(pilot, app, prompt)
        await pilot.press("ctrl+n")
        await pilot.pause(0.3)
    await pilot.press("ctrl+o")
    await pilot.pause(0.5)
    await pilot.press("tab", "down", "enter")
    await wait_for(pilot, lambda: bool(app.main.conversation.messages))
    await pilot.press("ctrl+o", "ctrl+o")
    await pilot.pause(0.8)


async def thinking(pilot, app: ZoracApp) -> None:
    """A reasoning model: the last reply's thinking folded to one line, the next one thinking live."""
    await send(pilot, app, "How should I serve Mistral Small on a 4090?")
    await send(pilot, app, "And which flags matter most?", wait_done=False)
    await wait_for(pilot, lambda: (app.main.reply.meter is not None and app.main.reply.meter.thinking_tokens > 120))
    await pilot.pause(0.6)


async def gpu_box(pilot, app: ZoracApp) -> None:
    """The server and its GPUs on another machine: a 4-GPU box read from its dcgm-exporter, mid-reply."""
    await send(pilot, app, "Explain the KV cache in vLLM", wait_done=False)
    await wait_for(pilot, lambda: (app.main.reply.meter is not None and app.main.reply.meter.tokens > 120))
    await pilot.pause(1.5)


async def search(pilot, app: ZoracApp) -> None:
    """Searching every message from the conversation list: hits with snippets."""
    for prompt in ("How do I undo a git commit?", "What is AWQ quantization?", "Explain the KV cache in vLLM"):
        await send(pilot, app, prompt)
        await pilot.press("ctrl+n")
        await pilot.pause(0.3)
    await pilot.press("ctrl+o")
    await pilot.pause(0.3)
    await pilot.press(*"cache")
    await pilot.pause(1.0)


async def no_gpu(pilot, app: ZoracApp) -> None:
    """A machine without an NVIDIA driver: the GPU panel says so, the rest works."""
    await send(pilot, app, "Give me a quick git tip")


async def main() -> int:
    """Every screenshot the README uses."""
    fast = dict(rate=62.0, ttft=0.3)  # the reference setup's pace, so the efficiency figure stays truthful
    only = set(sys.argv[1:])  # names to redo; none: all
    for name, sim, settings, scenario, extra in (
        ("streaming", SimConfig(rate=62.0, ttft=0.3), {}, streaming, {}),
        ("gauge-near-limit", SimConfig(max_model_len=1900, **fast), {"auto_summarize": False, "max_tokens": 512},
         near_limit, {}),
        ("summary", SimConfig(max_model_len=16384, **fast), {"keep_recent": 2}, summary, {}),
        ("conversations", SimConfig(**fast), {}, conversations, {}),
        ("no-gpu", SimConfig(**fast), {}, no_gpu, {"demo": False}),
        ("thinking", SimConfig.demo(), {"model": "Qwen/Qwen3-14B-AWQ"}, thinking, {}),
        ("gpu-box", SimConfig(**fast), {}, gpu_box, {"gpu_box": 4}),
        ("search", SimConfig(**fast), {}, search, {}),
    ):
        if not only or name in only:
            await shoot(name, sim, settings, scenario, **extra)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
