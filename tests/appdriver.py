"""The one driver of the real ZoracApp in tests: Pilot on one side, the project's simulator over real HTTP on the other.

Nothing of zorac-tui is replaced here but the GPU (FakePynvml). Tests reach the app's state only through the
functions below (`conversation(app)`, `budget(app)`, `store(app)`…), never through its attributes, so that when
the app's internals move only this module changes.

    async def test_x(sim_factory):
        sim = sim_factory(reply_text="hi")                 # a fast simulator on 127.0.0.1, stopped after the test
        app = make_app(sim, max_tokens=64)                 # ZoracApp(Settings(base_url=sim.base_url, max_tokens=64))
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            reply = await ask(pilot, "hello")              # put in the prompt, Enter, wait until the reply settled

Waiting: `wait_for` polls a condition while the app runs; it does not go through Pilot, whose waits for an idle
screen last as long as a fast stream does (the live reply's message queue falls behind while pieces mount).
"""

from __future__ import annotations

import asyncio
import gc
import io
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from fakes.fake_pynvml import FakePynvml
from rich.console import Console
from textual import events
from textual.geometry import Region, Size
from textual.keys import _character_to_key
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Input, OptionList

from zorac_tui.config import Settings
from zorac_tui.core.conversation import Conversation, Message, Status
from zorac_tui.demo.process import SimulatorProcess
from zorac_tui.demo.simulator import Faults, SimConfig, SimulatorThread  # noqa: F401 - Faults re-exported
from zorac_tui.ui.app import ZoracApp
from zorac_tui.ui.budget_keeper import BudgetKeeper
from zorac_tui.ui.conversation_list import ConversationList
from zorac_tui.ui.gauge import ContextGauge
from zorac_tui.ui.header import AppHeader
from zorac_tui.ui.main_screen import MainScreen
from zorac_tui.ui.prompt import PromptInput
from zorac_tui.ui.server_panel import ServerPanel
from zorac_tui.ui.sidebar import Sidebar
from zorac_tui.ui.transcript import Transcript
from zorac_tui.ui.transcript_blocks import Block, LiveBlock, MessageBlock

FAST: dict[str, Any] = {"rate": 2000.0, "ttft": 0.01}
SIZE = (120, 40)
POLL = 0.02  # seconds between two looks at a condition
APP_OPTIONS = ("store_path", "persist", "continue_last", "offer_import_from")  # ZoracApp's own, not Settings
_made: list[ZoracApp] = []  # apps made in this test: their store threads are closed after it


# ------------------------------------------------------------------------------------------- simulator
def fast_config(**overrides: Any) -> SimConfig:
    """A SimConfig that answers at 2,000 tok/s after 10 ms unless told otherwise."""
    return SimConfig(**{**FAST, **overrides})


@contextmanager
def running_simulator(config: SimConfig | None = None, *, port: int = 0, process: bool = False,
                      **overrides: Any) -> Iterator[SimulatorThread | SimulatorProcess]:
    """The simulator on 127.0.0.1 for the block: a SimConfig, or keyword overrides of the fast one.

    `process=True` runs it in a child process (its pacing cannot be skewed by this process's GIL, and it can
    be killed); its config is then fixed at start and its requests are not recorded here.
    """
    config = config if config is not None else fast_config(**overrides)
    sim = SimulatorProcess(config) if process else SimulatorThread(config)
    sim.start(port=port)
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def sim_factory() -> Iterator[Callable[..., SimulatorThread | SimulatorProcess]]:
    """`sim_factory(config=None, port=0, process=False, **overrides)`: running_simulator until the test ends."""
    with ExitStack() as stack:
        yield lambda *args, **kwargs: stack.enter_context(running_simulator(*args, **kwargs))


@contextmanager
def quiet_gc() -> Iterator[None]:
    """Collect now and freeze what exists, so that no long full-heap GC pass of the test process lands in
    the middle of a timed stream."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def chat_requests(sim: SimulatorThread) -> list[dict]:
    """The chat request bodies the simulator received, oldest first."""
    return list(sim.simulator.requests)


# ------------------------------------------------------------------------------------------------- app
def make_app(server: Any, /, *, nvml: Any = None, demo: bool = False, **options: Any) -> ZoracApp:
    """The real app on `server` (a base URL, or anything with a `base_url`); the GPU is a FakePynvml unless given.

    `options` are Settings fields and ZoracApp's own `store_path`, `persist`, `continue_last`,
    `offer_import_from`. The store lives in the test's ZORAC_HOME unless `store_path` says otherwise.
    """
    base_url = server if isinstance(server, str) else server.base_url
    own = {key: options.pop(key) for key in APP_OPTIONS if key in options}
    app = ZoracApp(Settings(base_url=base_url, **options), demo=demo,
                   nvml_module=nvml if nvml is not None else FakePynvml(), **own)
    _made.append(app)
    return app


def close_apps() -> None:
    """Close the stores of the apps made in this test (the CLI does it after App.run; run_test does not), so
    their threads end and nothing of the app outlives the test."""
    while _made:
        _made.pop().close_store()


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
        await asyncio.sleep(POLL)


def describe_app(app: ZoracApp) -> str:
    """What the app holds right now (messages, notices, state), for a test failure message."""
    try:
        lines = [f"header: {server_state(app)!r}, streaming: {is_streaming(app)}, client: {client(app) is not None}"]
        for m in messages(app):
            lines.append(f"  {m.role} [{m.status.value}] {m.content[:60]!r} error={m.error!r}")
        lines += [f"  notice: {n[:120]!r}" for n in notices(app)]
        lines += [f"  toast: {n.message[:120]!r}" for n in app._notifications]
        lines.append(f"  prompt: {prompt(app).text[:60]!r}, focused: {app.focused!r}")
        return "\n".join(lines)
    except Exception as exc:
        return f"(app state unavailable: {type(exc).__name__}: {exc})"


async def connected(pilot: Pilot, timeout: float = 20.0) -> ZoracApp:
    """Wait until the app has probed the server, built its client and counted the first budget (the first app of
    a test process also imports and warms up Markdown, highlighting and the HTTP client: seconds on a busy CI)."""
    app = pilot.app
    await wait_for(pilot, lambda: server_state(app) in ("connected", "streaming") and client(app) is not None
                   and counter(app) is not None, timeout, "the app to connect")
    await wait_for(pilot, lambda: gauge(app).budget is not None, timeout, "the first gauge count")
    return app


async def store_ready(pilot: Pilot) -> ZoracApp:
    """Wait until the app opened its database and ran its start-up step (continue / import offer)."""
    app = pilot.app
    await wait_for(pilot, lambda: store(app) is not None, what="the store to open")
    # the store thread runs one task at a time: once this no-op ran, the open's follow-ups were handed over
    await store_caught_up(app)
    await wait_for(pilot, lambda: not workers_running(app, "open", "import", "conv-list"),
                   what="the start-up step")
    return app


async def store_caught_up(app: ZoracApp) -> None:
    """Wait until every write queued on the store thread so far is done."""
    await from_store(app, lambda db: None)


async def idle_budget(pilot: Pilot) -> None:
    """Wait until no budget recount or auto-summary is pending (nor a typed draft waiting for its pause)."""
    keeper = pilot.app.query_one(BudgetKeeper)
    await wait_for(pilot, lambda: not keeper.pending and not workers_running(pilot.app, "budget", "auto-summary"),
                   what="budget workers to finish")


async def metrics_polled(pilot: Pilot) -> None:
    """Wait for the sidebar's first /metrics figures. A poll that went unanswered (3 s, a fixed limit in the app
    that a loaded machine can miss) is made again at once, not after metrics_interval (an hour in snapshots)."""
    app = pilot.app
    bar, server = sidebar(app), app.query_one(ServerPanel)
    for _ in range(5):
        await wait_for(pilot, lambda: bar.server_stats is not None or "did not answer" in (server.reason or ""),
                       what="the first /metrics poll")
        if bar.server_stats is not None:
            return
        server.reason = None  # (forget the failed poll, to see how the next one ends)
        info, config = server_info(app), settings(app)
        bar.poll_metrics(config.base_url, config.api_key, config.metrics_interval, model(app), info.has_metrics,
                         info.flavor)
    raise AssertionError("/metrics did not answer five times")


def workers_running(app: ZoracApp, *groups: str) -> bool:
    """Whether a worker of one of `groups` runs or is about to."""
    return any(not w.is_finished for w in app.workers if w.group in groups)


# ------------------------------------------------------------------------------------- keys and prompt
KEY_CHARACTERS = {"enter": "\r", "escape": "\x1b", "tab": "\t", "space": " ", "backspace": "\x7f", "delete": None}


def press_now(app: ZoracApp, key: str) -> None:
    """One key as the terminal sends it, without waiting for an idle screen (Pilot's press waits for that, which
    lasts as long as a fast stream does): poll for what it does. One at a time: a burst of keys is not handled
    in order (a key bound to an action, like backspace, acts after the printable keys that follow it)."""
    character = key if len(key) == 1 else KEY_CHARACTERS.get(key)
    if len(key) == 1 and not key.isalnum():
        key = _character_to_key(key)  # as Pilot names them: " " is "space", "%" is "percent_sign"
    event = events.Key(key, character)
    event.set_sender(app)
    app.post_message(event)


def resize_now(app: ZoracApp, width: int, height: int) -> None:
    """The terminal resized to width×height, without waiting for an idle screen (Pilot's resize_terminal does)."""
    size = Size(width, height)
    app._driver._size = size  # the headless driver's own size, as Pilot.resize_terminal sets it
    app.post_message(events.Resize(size, size))


def set_prompt(app: ZoracApp, text: str) -> PromptInput:
    """Put `text` in the prompt, as a paste would, without sending it."""
    box = prompt(app)
    box.load_text(text)
    box.move_cursor(box.document.end)
    box.focus()
    return box


async def type_text(pilot: Pilot, *keys: str, into: Widget | None = None) -> None:
    """Type into the prompt (or the text field `into`) key by key, each key waited for until it changed the text:
    the characters of each string in `keys`, or a key name such as "backspace" given as a whole string."""
    field = into if into is not None else prompt(pilot.app)
    if not field.has_focus:
        field.focus()

    def text() -> str:
        return field.value if isinstance(field, Input) else field.text

    for part in keys:
        for key in [part] if part in KEY_CHARACTERS or part.startswith(("ctrl+", "shift+")) else part:
            before = text()
            press_now(pilot.app, key)
            await wait_for(pilot, lambda b=before: text() != b, what=f"the key {key!r} in {field!r}")


def send(pilot: Pilot, text: str) -> None:
    """Put `text` in the prompt and press Enter; returns at once (`ask` waits for the reply)."""
    set_prompt(pilot.app, text)
    press_now(pilot.app, "enter")


def reply_after(app: ZoracApp, text: str) -> Message | None:
    """The assistant message answering the last user message `text`, if there is one yet."""
    msgs = messages(app)
    users = [i for i, m in enumerate(msgs) if m.role == "user" and m.content == text]
    if not users:
        return None
    return next((m for m in msgs[users[-1] + 1:] if m.role == "assistant"), None)


def settled_reply(app: ZoracApp, text: str) -> Message | None:
    """The reply to `text` once it is settled on screen and its worker is done (a summary that starts right after
    it does not count), else None."""
    reply = reply_after(app, text)
    if reply is None or reply.status is Status.STREAMING:
        return None
    block = view_for(app, reply)
    if not isinstance(block, MessageBlock) or isinstance(block, LiveBlock):
        return None
    live = pane(app).live
    summarizing = live is not None and live.message.role == "summary"
    return None if is_streaming(app) and not summarizing else reply


async def wait_reply(pilot: Pilot, text: str, timeout: float = 10.0) -> Message:
    """Wait until the reply to user message `text` settled; return it."""
    return await wait_for(pilot, lambda: settled_reply(pilot.app, text), timeout, f"the reply to {text[:30]!r}")


async def ask(pilot: Pilot, text: str, timeout: float = 10.0) -> Message:
    """Send `text` and wait until its reply settled (whatever its status); return the reply."""
    app = pilot.app
    before = user_texts(app).count(text)
    send(pilot, text)
    await wait_for(pilot, lambda: user_texts(app).count(text) > before, timeout, f"{text[:30]!r} to be sent")
    return await wait_reply(pilot, text, timeout)


async def wait_tokens(pilot: Pilot, count: int, timeout: float = 10.0) -> None:
    """Wait until the streaming reply has received at least `count` tokens."""
    await wait_for(pilot, lambda: (m := meter(pilot.app)) is not None and m.tokens >= count, timeout,
                   f"{count} streamed tokens")


# ------------------------------------------------------------------------------- the app's state
def main_screen(app: ZoracApp) -> MainScreen:
    """The main screen: layout, bindings, and the collaborators below it."""
    return app.main


def pane(app: ZoracApp) -> Transcript:
    """The transcript: the conversation drawn as one Line API widget."""
    return app.main.pane


def conversation(app: ZoracApp) -> Conversation:
    """The conversation on screen."""
    return app.main.conversation


def messages(app: ZoracApp) -> list[Message]:
    """The messages of the conversation on screen."""
    return conversation(app).messages


def conversations(app: ZoracApp) -> list[Conversation]:
    """Every conversation shown in this run, oldest first."""
    return app.main.conversations


def is_streaming(app: ZoracApp) -> bool:
    """Whether a reply or a summary is streaming."""
    return app.main.reply.streaming


def connection(app: ZoracApp) -> Any:
    """The server monitor's Connection (None until connected)."""
    return app.main.server.connection


def client(app: ZoracApp) -> Any:
    """The chat client (None until connected)."""
    return connection(app).client if connection(app) else None


def counter(app: ZoracApp) -> Any:
    """The TokenCounter (None until connected)."""
    return connection(app).counter if connection(app) else None


def budget(app: ZoracApp) -> Any:
    """The last ContextBudget measured."""
    return app.main.budget.budget


def meter(app: ZoracApp) -> Any:
    """The ThroughputMeter of the reply streaming now, else None."""
    return app.main.reply.meter


def server_info(app: ZoracApp) -> Any:
    """The probed ServerInfo (None until connected)."""
    return connection(app).info if connection(app) else None


def model(app: ZoracApp) -> str:
    """The model the app talks to."""
    return app.main.model


def model_note(app: ZoracApp) -> str:
    """Why that model ("configured", "the only model served"…)."""
    return connection(app).model_note if connection(app) else "configured"


def max_model_len(app: ZoracApp) -> int | None:
    """The served model's max_model_len as /v1/models said it."""
    c = connection(app)
    return c.window if c is not None and c.window_source == "server" else None


def window(app: ZoracApp) -> tuple[int, str]:
    """The context window the gauge uses and where it came from."""
    c = connection(app)
    return (c.window, c.window_source) if c is not None else (app.settings.context_window, "configured")


def settings(app: ZoracApp) -> Settings:
    """The app's settings."""
    return app.main.settings


def store(app: ZoracApp) -> Any:
    """The open Store, or None (not open yet, or it failed)."""
    return app.main.persistence.store


def store_error(app: ZoracApp) -> str | None:
    """Why the store cannot be written, if it cannot."""
    return app.main.persistence.error


def retry_after_summary(app: ZoracApp) -> bool:
    """Whether the failed reply is sent again once a summary makes room."""
    return app.main.budget.retry_after_summary


def server_state(app: ZoracApp) -> str:
    """The header's server state: connecting, connected, unreachable, streaming."""
    return app.query_one(AppHeader).server_state


def pin_server_detail(app: ZoracApp, detail: str) -> None:
    """Replace the header's detail (it carries the simulator's random port) for a snapshot."""
    app.query_one(AppHeader).server_detail = detail


async def from_store(app: ZoracApp, fn: Callable[..., Any], *args: Any) -> Any:
    """Run `fn(store, *args)` on the app's store thread; its result."""
    return await app.main.persistence.read(fn, *args)


async def open_conversation(app: ZoracApp, conversation_id: int) -> None:
    """Open a stored conversation as the list would."""
    loaded = await app.main.persistence.load(conversation_id)
    if loaded is not None:
        await app.main.show_conversation(loaded)


def recount(app: ZoracApp) -> None:
    """Measure the context budget again."""
    app.main.recount()


def crash_error(app: ZoracApp) -> BaseException | None:
    """The exception that stopped the app, if one did."""
    return app._exception


# ------------------------------------------------------------------------------------------- widgets
def prompt(app: ZoracApp) -> PromptInput:
    """The prompt widget."""
    return app.query_one(PromptInput)


def gauge(app: ZoracApp) -> ContextGauge:
    """The context gauge."""
    return app.query_one(ContextGauge)


def sidebar(app: ZoracApp) -> Sidebar:
    """The sidebar."""
    return app.query_one(Sidebar)


def panel(app: ZoracApp, kind: type[Widget]) -> Any:
    """The sidebar panel of class `kind` (GpuPanel, ThroughputPanel, MemoryPanel, ServerPanel)."""
    return app.query_one(kind)


def region(app: ZoracApp, name: str) -> Region:
    """Where the main layout's part `name` (sidebar, center, conversation, gauge, prompt) is on screen."""
    return app.query_one(f"#{name}").region


def conversation_list(app: ZoracApp) -> ConversationList:
    """The conversation list pane (Ctrl+O)."""
    return app.query_one(ConversationList)


def list_options(app: ZoracApp) -> OptionList:
    """The option list inside the conversation list."""
    return app.query_one("#conv-options", OptionList)


def list_filter(app: ZoracApp) -> Input:
    """The filter field of the conversation list."""
    return app.query_one("#conv-filter", Input)


def live_reply(app: ZoracApp) -> LiveBlock | None:
    """The live reply (or summary) block, if one is streaming."""
    return pane(app).live


def view_for(app: ZoracApp, message: Message) -> Block | None:
    """The transcript block showing `message` (live or settled), if it is drawn."""
    transcript = pane(app)
    index = transcript._index_of(message)
    return transcript.blocks[index] if index is not None else None


def message_view(app: ZoracApp, message: Message) -> MessageBlock:
    """The settled block of `message`."""
    view = view_for(app, message)
    assert isinstance(view, MessageBlock), f"{message.role} message is not settled on screen: {view!r}"
    return view


def message_views(app: ZoracApp) -> list[MessageBlock]:
    """The settled message blocks in the transcript, top to bottom."""
    return [b for b in pane(app).blocks if isinstance(b, MessageBlock)]


def summary_view(app: ZoracApp) -> MessageBlock | None:
    """The summary block in the transcript, if there is one."""
    return next((b for b in message_views(app) if b.message.role == "summary"), None)


def live_tail(live: LiveBlock) -> str:
    """The part of a live reply still drawn again at each flush (the block that is still growing)."""
    return live.answer.settler.tail


def shown(app: ZoracApp) -> list[str]:
    """Contents of the settled user and assistant messages drawn in the transcript, top to bottom."""
    return [v.message.content for v in message_views(app) if v.message.role != "summary"]


# ------------------------------------------------------------------------------------- what is shown
def strips_text(strips: list) -> str:
    """Lines of Strips as plain text, right-stripped."""
    return "\n".join(strip.text.rstrip() for strip in strips)


def widget_text(widget: Widget) -> str:
    """What a widget draws, its whole content whether scrolled into view or not, wrapped as on screen.

    A leaf widget renders itself; a container's text is its leaves' texts in order (its own rendering holds
    only borders and background).
    """
    if widget.children:
        return "\n".join(widget_text(child) for child in widget.children if child.display)
    width, height = widget.outer_size  # padding and border included (`size` is the content area)
    if not width or not height:
        return ""
    return strips_text(widget.render_lines(Region(0, 0, width, height)))


def plain_text(widget: Widget) -> str:
    """The text a Static-like widget holds, unwrapped (what it draws when it holds a Rich renderable)."""
    plain = getattr(widget.render(), "plain", None)
    return plain if plain is not None else widget_text(widget)


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
    area = widget.region
    lines = screen_text(app).splitlines()[area.y:area.bottom]
    return "\n".join(line[area.x:area.right].rstrip() for line in lines)


def toasts(app: ZoracApp) -> list[str]:
    """The texts of the notifications on screen (run_test(notifications=True) shows them), as shown."""
    from textual.widgets._toast import Toast

    return [plain_text(toast) for toast in app.screen.query(Toast)]


def notices(app: ZoracApp) -> list[str]:
    """The texts of the one-line notices in the transcript, oldest first."""
    return pane(app).notices()


def body_text(app: ZoracApp, message: Message) -> str:
    """The drawn body of a settled message (its rows, right-stripped)."""
    message_view(app, message)
    return "\n".join(row.rstrip() for row in pane(app).part_text(message, "body").splitlines())


def footer_text(app: ZoracApp, message: Message) -> str:
    """The status line under a message (stats, cancelled, error), live or settled, unwrapped."""
    assert view_for(app, message) is not None, f"{message.role} message is not on screen"
    return flat(pane(app).part_text(message, "footer"))


def live_footer(app: ZoracApp) -> str:
    """The live reply's stats line, or "" when nothing streams."""
    live = live_reply(app)
    return flat(pane(app).part_text(live.message, "footer")) if live is not None else ""


def header_text(app: ZoracApp) -> str:
    """The header line as drawn."""
    return widget_text(app.query_one(AppHeader))


def gauge_text(app: ZoracApp) -> str:
    """The context gauge's two lines as drawn."""
    return widget_text(gauge(app))


def gauge_lines(app: ZoracApp) -> list[str]:
    """The context gauge's lines before wrapping: the counts, then the segments and sources."""
    return gauge(app).render_text().plain.splitlines()


def panel_text(app: ZoracApp, kind: type[Widget]) -> str:
    """What a sidebar panel says right now: its lines before wrapping, for its width."""
    return panel(app, kind).render_text().plain


def server_panel_text(app: ZoracApp) -> str:
    """The sidebar's server panel as drawn, on one line."""
    return flat(widget_text(app.query_one(ServerPanel)).replace("│", " "))


def answered_by(message: Message) -> str:
    """Who answered, as the footer says it: the model without its org (and a named server)."""
    model = (message.model or "").rsplit("/", 1)[-1]
    named = message.server and "://" not in message.server
    return f"{model} @ {message.server}" if named else model


def last_message(app: ZoracApp) -> Message | None:
    """The last message of the conversation on screen, if any."""
    return messages(app)[-1] if messages(app) else None


def settled(app: ZoracApp, message: Message) -> Message | None:
    """`message` once its reply ended and its block is drawn settled (not live), else None."""
    block = view_for(app, message)
    done = message.status is not Status.STREAMING and isinstance(block, MessageBlock)
    return message if done and not isinstance(block, LiveBlock) else None


def user_texts(app: ZoracApp) -> list[str]:
    """What the user sent in the conversation on screen, in order."""
    return [m.content for m in messages(app) if m.role == "user"]


def assistant_messages(app: ZoracApp) -> list[Message]:
    """The assistant messages of the conversation on screen."""
    return [m for m in messages(app) if m.role == "assistant"]


def default_db() -> Path:
    """The database the app opens when no store_path is given (inside the test's ZORAC_HOME)."""
    from zorac_tui.store import default_db_path

    return default_db_path()
