"""Small helpers for Pilot tests of the budget flow and the sidebar: real app, real simulator over HTTP.

The only stand-in is FakePynvml (hardware). Everything else — server, client, counting — is the
project's own code talking to the simulator on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from appdriver import wait_for
from appdriver import widget_text as drawn_text
from fakes.fake_pynvml import FakePynvml
from textual.pilot import Pilot
from textual.widget import Widget

from zorac_tui.config import Settings
from zorac_tui.core.conversation import Message, Status
from zorac_tui.demo.process import SimulatorProcess
from zorac_tui.demo.simulator import SimConfig, SimulatorThread
from zorac_tui.ui.app import ZoracApp
from zorac_tui.ui.gauge import ContextGauge
from zorac_tui.ui.messages import NoticeView, StreamingReply
from zorac_tui.ui.prompt import PromptInput

FAST = {"rate": 2000.0, "ttft": 0.01}
SIZE = (120, 40)


def fast_config(**overrides: Any) -> SimConfig:
    """A simulator that answers quickly unless told otherwise."""
    return SimConfig(**{**FAST, **overrides})


@contextmanager
def running_simulator(config: SimConfig | None = None) -> Iterator[SimulatorThread]:
    """A simulator on 127.0.0.1 for the duration of the block."""
    sim = SimulatorThread(config or fast_config())
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@contextmanager
def running_simulator_process(config: SimConfig) -> Iterator[SimulatorProcess]:
    """The simulator in a child process: its pacing cannot be skewed by this process's GIL (timing tests)."""
    sim = SimulatorProcess(config)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@contextmanager
def quiet_gc() -> Iterator[None]:
    """Collect now and freeze what exists, so no long full-heap GC pass of the test process (which holds
    the debris of earlier tests) lands in the middle of a timed stream."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def make_app(sim: SimulatorThread | SimulatorProcess, *, nvml: Any = None, demo: bool = False, **settings: Any) -> ZoracApp:
    """The real app pointed at the simulator; NVML is a FakePynvml unless given."""
    base = Settings(base_url=sim.base_url, telemetry_interval=0.2, metrics_interval=0.3)
    return ZoracApp(replace(base, **settings), demo=demo, nvml_module=nvml if nvml is not None else FakePynvml())




def gauge_text(app: ZoracApp) -> str:
    """The gauge's two lines as plain text."""
    return app.query_one(ContextGauge).render_text().plain


def widget_text(widget: Widget) -> str:
    """Plain text a Static-like widget shows right now (drawn lines when it holds a Rich renderable)."""
    plain = getattr(widget.render(), "plain", None)
    return plain if plain is not None else drawn_text(widget)


def notices(app: ZoracApp) -> list[str]:
    """Texts of the notices in the conversation pane, oldest first."""
    return [widget_text(n) for n in app.pane.query(NoticeView)]


async def connected(pilot: Pilot) -> ZoracApp:
    """Wait until the app probed the server and the gauge shows a first measurement."""
    app = pilot.app
    await wait_for(pilot, lambda: app.client is not None and app.counter is not None, what="connection")
    await wait_for(pilot, lambda: app.query_one(ContextGauge).budget is not None, what="first gauge count")
    await pilot.pause()
    return app


def set_prompt(app: ZoracApp, text: str) -> PromptInput:
    """Put `text` in the prompt (as a paste would) without sending it."""
    prompt = app.query_one(PromptInput)
    prompt.load_text(text)
    prompt.move_cursor(prompt.document.end)
    prompt.focus()
    return prompt


def reply_to(app: ZoracApp, text: str) -> Message | None:
    """The settled reply to the last user message `text` once its reply worker is done, else None.

    A summary that starts right after the reply (auto-summary) does not count as the reply's worker.
    """
    msgs = app.pane.conversation.messages
    users = [i for i, m in enumerate(msgs) if m.role == "user" and m.content == text]
    if not users:
        return None
    reply = next((m for m in msgs[users[-1] + 1:] if m.role == "assistant"), None)
    if reply is None or reply.status is Status.STREAMING:
        return None
    summarizing = any(v.message.role == "summary" for v in app.pane.query(StreamingReply))
    if any(w.is_running for w in app.workers if w.group == "reply") and not summarizing:
        return None
    return reply


async def send(pilot: Pilot, text: str, timeout: float = 8.0) -> Message:
    """Type-and-Enter `text` and wait until its reply settled (whatever its status); return the reply."""
    app = pilot.app
    set_prompt(app, text)
    await pilot.press("enter")
    return await wait_for(pilot, lambda: reply_to(app, text), timeout, what=f"reply to {text[:30]!r}")


async def idle_budget(pilot: Pilot) -> None:
    """Wait until no budget recount or auto-summary worker is pending."""
    app = pilot.app

    def quiet() -> bool:
        return not any(w.is_running for w in app.workers if w.group in ("budget", "auto-summary"))

    await wait_for(pilot, quiet, what="budget workers to finish")
    await pilot.pause()


async def to_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Run blocking `fn` off the loop (for the occasional check against the simulator)."""
    return await asyncio.to_thread(fn, *args)
