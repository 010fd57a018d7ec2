"""Driving the real ZoracApp end to end: Pilot on one side, the project's simulator over real HTTP on the other.

Nothing of zorac-tui is replaced here. The simulator runs in its own thread (SimulatorThread), so its
pacing does not depend on the UI's event loop; the app talks to it with its real client on 127.0.0.1.

    async def test_x(sim_factory):
        sim = sim_factory(reply_text="hi")            # a fast SimulatorThread, stopped after the test
        app = make_app(sim.base_url, max_tokens=64)   # ZoracApp(Settings(base_url=..., max_tokens=64))
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            reply = await ask(pilot, "hello")         # type, Enter, wait until the reply settled
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rich.console import Console
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widget import Widget

from zorac_tui.config import Settings
from zorac_tui.core.conversation import Message, Status
from zorac_tui.demo.simulator import Faults, SimConfig, SimulatorThread  # noqa: F401 - re-exported for tests
from zorac_tui.ui.app import ZoracApp
from zorac_tui.ui.gauge import ContextGauge
from zorac_tui.ui.header import AppHeader
from zorac_tui.ui.messages import MessageView, NoticeView, StreamingReply
from zorac_tui.ui.prompt import PromptInput
from zorac_tui.ui.server_panel import ServerPanel

FAST: dict[str, Any] = {"rate": 2000.0, "ttft": 0.01}
SIZE = (120, 40)
TYPE_LIMIT = 12  # texts up to this long are typed key by key; longer ones are pasted (faster)


# ------------------------------------------------------------------------------------------- simulator
def fast_config(**overrides: Any) -> SimConfig:
    """A SimConfig that answers at 2,000 tok/s after 10 ms unless told otherwise."""
    return SimConfig(**{**FAST, **overrides})


@pytest.fixture
def sim_factory() -> Iterator[Callable[..., SimulatorThread]]:
    """Factory fixture: `sim_factory(config=None, port=0, **overrides)` starts a SimulatorThread on 127.0.0.1.

    Pass a SimConfig, or keyword overrides of the fast defaults. Every simulator started is stopped
    when the test ends.
    """
    started: list[SimulatorThread] = []

    def start(config: SimConfig | None = None, *, port: int = 0, **overrides: Any) -> SimulatorThread:
        sim = SimulatorThread(config if config is not None else fast_config(**overrides))
        sim.start(port=port)
        started.append(sim)
        return sim

    yield start
    for sim in reversed(started):
        sim.stop()


# ------------------------------------------------------------------------------------------------- app
def make_app(base_url: str, *, nvml_module: Any = None, demo: bool = False, **settings: Any) -> ZoracApp:
    """The real app for `Settings(base_url=base_url, **settings)` (its store lives in the test's ZORAC_HOME)."""
    return ZoracApp(Settings(base_url=base_url, **settings), demo=demo, nvml_module=nvml_module)


async def wait_for(pilot: Pilot, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    """Let the app run until `predicate()` is truthy and return its value; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or predicate}\n"
                                 f"{describe_app(pilot.app)}")
        await pilot.pause(0.05)


def describe_app(app: Any) -> str:
    """What the app holds right now (messages, notices, state), for a test failure message."""
    try:
        lines = [f"header: {app.header.server_state!r}, streaming: {app.streaming}, client: {app.client is not None}"]
        for m in app.pane.conversation.messages:
            lines.append(f"  {m.role} [{m.status.value}] {m.content[:60]!r} error={m.error!r}")
        lines += [f"  notice: {str(n.render())[:120]!r}" for n in app.pane.query(NoticeView)]
        lines += [f"  toast: {n.message[:120]!r}" for n in app._notifications]
        lines.append(f"  prompt: {prompt(app).text[:60]!r}, focused: {app.focused!r}")
        return "\n".join(lines)
    except Exception as exc:
        return f"(app state unavailable: {type(exc).__name__}: {exc})"


async def connected(pilot: Pilot, timeout: float = 10.0) -> ZoracApp:
    """Wait until the app has probed the server, built its client and counted the first budget."""
    app = pilot.app
    await wait_for(pilot, lambda: app.header.server_state == "connected" and app.client is not None,
                   timeout, "the app to connect")
    await wait_for(pilot, lambda: app.query_one(ContextGauge).budget is not None, timeout, "the first gauge count")
    return app


def prompt(app: ZoracApp) -> PromptInput:
    """The prompt widget."""
    return app.query_one(PromptInput)


async def type_text(pilot: Pilot, text: str, *, keys: bool | None = None) -> None:
    """Put `text` in the prompt: key by key (`keys=True`; default for short single-line text) or as a paste."""
    box = prompt(pilot.app)
    box.focus()
    if keys is None:
        keys = len(text) <= TYPE_LIMIT and "\n" not in text
    if keys:
        await pilot.press(*text)
    else:
        box.text = box.text + text
        box.move_cursor(box.document.end)
    await pilot.pause()


async def send(pilot: Pilot, text: str) -> None:
    """Type `text` into the prompt and press Enter (returns at once; see `ask` to wait for the reply)."""
    await type_text(pilot, text)
    await pilot.press("enter")


def streaming_view(app: ZoracApp) -> StreamingReply | None:
    """The live reply widget, if a reply is streaming."""
    views = app.pane.query(StreamingReply)
    return views.last() if views else None


def reply_after(app: ZoracApp, text: str) -> Message | None:
    """The assistant message answering the last user message `text`, if there is one yet."""
    messages = app.pane.conversation.messages
    users = [i for i, m in enumerate(messages) if m.role == "user" and m.content == text]
    if not users:
        return None
    return next((m for m in messages[users[-1] + 1:] if m.role == "assistant"), None)


def settled_reply(app: ZoracApp, text: str) -> Message | None:
    """The reply to `text` once it is settled on screen (any final status), else None."""
    reply = reply_after(app, text)
    if reply is None or reply.status is Status.STREAMING or app.streaming:
        return None
    view = app.pane.view_for(reply)
    return reply if isinstance(view, MessageView) else None


async def wait_reply(pilot: Pilot, text: str, timeout: float = 10.0) -> Message:
    """Wait until the reply to user message `text` settled; return it."""
    return await wait_for(pilot, lambda: settled_reply(pilot.app, text), timeout, f"the reply to {text[:30]!r}")


async def ask(pilot: Pilot, text: str, timeout: float = 10.0) -> Message:
    """Send `text` and wait until its reply settled (whatever its status); return the reply."""
    await send(pilot, text)
    return await wait_reply(pilot, text, timeout)


async def wait_tokens(pilot: Pilot, count: int, timeout: float = 10.0) -> None:
    """Wait until the streaming reply has received at least `count` tokens."""
    app = pilot.app
    await wait_for(pilot, lambda: app.meter is not None and app.meter.tokens >= count, timeout,
                   f"{count} streamed tokens")


# ------------------------------------------------------------------------------------- what is shown
def strips_text(strips: list) -> str:
    """Lines of Strips as plain text, right-stripped."""
    return "\n".join(strip.text.rstrip() for strip in strips)


def widget_text(widget: Widget) -> str:
    """The text a widget shows, its whole content whether scrolled into view or not.

    A leaf widget renders itself; a container's text is its leaves' texts in order (its own
    rendering holds only borders and background).
    """
    if widget.children:
        return "\n".join(widget_text(child) for child in widget.children if child.display)
    width, height = widget.outer_size  # padding and border included (`size` is the content area)
    if not width or not height:
        return ""
    return strips_text(widget.render_lines(Region(0, 0, width, height)))


def flat(text: str) -> str:
    """`text` with every run of whitespace (line wraps included) as one space."""
    return " ".join(text.split())


def screen_text(app: ZoracApp) -> str:
    """Everything on the terminal right now as plain text (toasts included), as a screenshot would show."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return "\n".join(line.rstrip() for line in console.export_text(styles=False).splitlines())


def visible_text(app: ZoracApp, widget: Widget) -> str:
    """The part of the screen `widget` occupies, as plain text (only what is scrolled into view)."""
    region = widget.region
    lines = screen_text(app).splitlines()[region.y:region.bottom]
    return "\n".join(line[region.x:region.right].rstrip() for line in lines)


def toasts(app: ZoracApp) -> list[str]:
    """The notifications on screen now (each flattened to one line)."""
    from textual.widgets._toast import Toast

    return [flat(visible_text(app, toast)) for toast in app.screen.query(Toast)]


def message_view(app: ZoracApp, message: Message) -> MessageView:
    """The settled view of `message`."""
    view = app.pane.view_for(message)
    assert isinstance(view, MessageView), f"{message.role} message is not settled on screen: {view!r}"
    return view


def body_text(app: ZoracApp, message: Message) -> str:
    """The rendered body of a settled message."""
    return widget_text(message_view(app, message).query_one(".body"))


def footer_text(app: ZoracApp, message: Message) -> str:
    """The rendered status line under a settled message (stats, cancelled, error)."""
    return flat(widget_text(message_view(app, message).query_one(".footer")))


def header_text(app: ZoracApp) -> str:
    """The header line as rendered."""
    return widget_text(app.query_one(AppHeader))


def gauge_text(app: ZoracApp) -> str:
    """The context gauge's two lines as rendered."""
    return widget_text(app.query_one(ContextGauge))


def server_panel_text(app: ZoracApp) -> str:
    """The sidebar's server panel as rendered, on one line."""
    return " ".join(widget_text(app.query_one(ServerPanel)).replace("│", " ").split())


def notices(app: ZoracApp) -> list[str]:
    """The texts of the one-line notices in the conversation pane, oldest first."""
    return [" ".join(widget_text(n).split()) for n in app.pane.query(NoticeView)]


def user_texts(app: ZoracApp) -> list[str]:
    """What the user sent in the conversation on screen, in order."""
    return [m.content for m in app.pane.conversation.messages if m.role == "user"]


def assistant_messages(app: ZoracApp) -> list[Message]:
    """The assistant messages of the conversation on screen."""
    return [m for m in app.pane.conversation.messages if m.role == "assistant"]


def chat_requests(sim: SimulatorThread) -> list[dict]:
    """The chat request bodies the simulator received, oldest first."""
    return list(sim.simulator.requests)
