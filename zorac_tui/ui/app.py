"""The zorac-tui application: layout, key bindings, and the flow of one reply."""

from __future__ import annotations

import asyncio
import importlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer

from zorac_tui.config import Settings
from zorac_tui.core.conversation import Conversation, Message, ReplyStats, Status
from zorac_tui.core.throughput import ThroughputMeter
from zorac_tui.server.events import Delta, Failed, FailureKind, Finished, Started
from zorac_tui.ui.conversation import ConversationPane
from zorac_tui.ui.gauge import ContextGauge
from zorac_tui.ui.header import AppHeader
from zorac_tui.ui.messages import MessageView, StreamingReply
from zorac_tui.ui.prompt import PromptInput
from zorac_tui.ui.server_panel import ServerPanel
from zorac_tui.ui.sidebar import Sidebar
from zorac_tui.ui.throughput_panel import ThroughputPanel, fmt_ms, fmt_rate

if TYPE_CHECKING:
    from zorac_tui.server.client import ChatClient
    from zorac_tui.server.probe import ServerInfo

STYLES = Path(__file__).resolve().parent.parent / "styles"
RECONNECT_INTERVAL = 2.0
SIDEBAR_REFRESH = 0.25


class ZoracApp(App):
    """Chat with a local inference server while watching GPU, throughput and context."""

    CSS_PATH = [STYLES / "app.tcss"]
    TITLE = "zorac-tui"
    BINDINGS = [
        Binding("ctrl+n", "new_conversation", "New chat"),
        Binding("escape", "cancel_reply", "Cancel reply"),
        Binding("ctrl+r", "retry", "Retry"),
        Binding("ctrl+y", "copy_reply", "Copy reply"),
        Binding("ctrl+b", "toggle_sidebar", "Sidebar"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, settings: Settings, *, demo: bool = False) -> None:
        """Create the app for `settings`; `demo` marks the simulated server and GPU."""
        super().__init__()
        self.settings = settings
        self.demo = demo or settings.demo
        self.server: ServerInfo | None = None
        self.model = settings.model
        self.model_note = "configured"
        self.max_model_len: int | None = None
        self.client: ChatClient | None = None
        self.conversations: list[Conversation] = []
        self.reply_worker = None
        self.meter: ThroughputMeter | None = None
        self.last_prompt_tokens: int | None = None
        self.last_completion_tokens: int | None = None

    # ----------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        """Header, three columns, footer."""
        yield AppHeader(id="header")
        with Horizontal(id="main"):
            with Vertical(id="center"):
                yield ConversationPane(id="conversation")
                yield ContextGauge(id="gauge")
                yield PromptInput(id="prompt", placeholder="Ask anything — Enter sends, Shift+Enter or Ctrl+J for a new line")
            yield Sidebar(id="sidebar")
        yield Footer()

    @property
    def pane(self) -> ConversationPane:
        """The conversation pane."""
        return self.query_one(ConversationPane)

    @property
    def header(self) -> AppHeader:
        """The header widget."""
        return self.query_one(AppHeader)

    def on_mount(self) -> None:
        """Start connecting; focus the prompt."""
        self.theme = self.settings.theme if self.settings.theme in self.available_themes else "textual-dark"
        self.header.demo = self.demo
        self.header.model = self.model
        self.conversations.append(self.pane.conversation)
        self.query_one(PromptInput).focus()
        self.refresh_gauge()
        self.query_one(Sidebar).start_telemetry(self.settings.base_url, self.demo, self.settings.telemetry_interval)
        self.connect()

    def on_resize(self, event) -> None:
        """Narrow the sidebar below 100 columns; hide it below 70 (Ctrl+B brings it back)."""
        width = event.size.width
        self.screen.set_class(width < 100, "-narrow")
        self.screen.set_class(width < 70, "-tiny")

    # ------------------------------------------------------------- connecting
    @work(exclusive=True, group="connect")
    async def connect(self) -> None:
        """Probe the server until it answers, then load the client; retries by itself."""
        probe_mod = await asyncio.to_thread(importlib.import_module, "zorac_tui.server.probe")
        announced = False
        while True:
            self.header.server_state = "connecting"
            info = await probe_mod.probe(self.settings.base_url, self.settings.api_key)
            if info.reachable and info.models:
                break
            self.header.server_state = "unreachable"
            self.header.server_detail = self.settings.base_url
            if not announced:
                reason = info.error or "no models listed"
                await self.pane.add_notice(
                    f"Cannot reach the server at {self.settings.base_url} ({reason}). Start vLLM "
                    f"or run `zorac-tui --demo`; retrying every {RECONNECT_INTERVAL:.0f} s — "
                    "you can type meanwhile, nothing is lost.", level="warning")
                announced = True
            await asyncio.sleep(RECONNECT_INTERVAL)
        await self.on_server_ready(info, probe_mod)

    async def on_server_ready(self, info: ServerInfo, probe_mod: Any) -> None:
        """Adopt the probed server: model, context length, client."""
        self.server = info
        self.model, self.model_note = probe_mod.choose_model(info, self.settings.model)
        served = next((m for m in info.models if m.id == self.model), None)
        self.max_model_len = served.max_model_len if served else None
        client_mod = await asyncio.to_thread(importlib.import_module, "zorac_tui.server.client")
        if self.client is None:
            self.client = client_mod.ChatClient(self.settings.base_url, self.settings.api_key,
                                                stall_timeout=self.settings.stall_timeout)
        version = f"{info.flavor} {info.version}" if info.version else info.flavor
        self.header.model = self.model
        self.header.server_state = "connected"
        self.header.server_detail = f"{version} · {self.settings.base_url}"
        window = f"{self.max_model_len:,} tokens" if self.max_model_len else (
            f"unknown (server does not say; assuming {self.settings.context_window:,})")
        await self.pane.add_notice(f"Connected to {version} · model {self.model} ({self.model_note}) · "
                                   f"context {window}")
        sidebar = self.query_one(Sidebar)
        sidebar.query_one(ServerPanel).set_identity(f"{version}\ncontext {window}")
        sidebar.poll_metrics(self.settings.base_url, self.settings.api_key, self.settings.metrics_interval,
                             self.model, info.has_metrics, info.flavor)
        self.refresh_gauge()

    # ---------------------------------------------------------------- sending
    async def on_prompt_input_submitted(self, event: PromptInput.Submitted) -> None:
        """Send the prompt, unless a reply is still streaming."""
        if self.streaming:
            self.notify("A reply is still streaming — Esc cancels it. Your text stays in the prompt.",
                        severity="warning")
            return
        event.prompt.clear()
        message = self.pane.conversation.add(Message("user", event.text))
        if self.pane.conversation.title == "New conversation":
            self.pane.conversation.title = " ".join(event.text.split())[:60]
        await self.pane.add_message(message)
        self.start_reply()

    @property
    def streaming(self) -> bool:
        """Whether a reply is in progress."""
        return self.reply_worker is not None and self.reply_worker.is_running

    def start_reply(self) -> None:
        """Launch the worker that streams one reply."""
        self.reply_worker = self.run_worker(self.stream_reply(), group="reply", exclusive=True)

    async def stream_reply(self) -> None:
        """Stream one reply into the conversation, keeping whatever arrives."""
        conversation = self.pane.conversation
        payload = conversation.payload(self.settings.system_prompt)
        message = conversation.add(Message("assistant", "", status=Status.STREAMING))
        live = await self.pane.start_reply(message)
        if self.client is None:
            await self.finish_reply(live, Status.ERROR,
                                    f"Not connected to {self.settings.base_url} yet — your message is kept; "
                                    "press Ctrl+R to send it once the server is up.")
            return
        self.meter = meter = ThroughputMeter(time.perf_counter())
        ticker = self.set_interval(SIDEBAR_REFRESH, lambda: self.tick_live(live))
        self.header.server_state = "streaming"
        self.query_one(Sidebar).note_streaming(True)
        status, error, note = Status.ERROR, "The stream ended without a result.", None
        try:
            async for event in self.client.stream(payload, model=self.model,
                                                   max_tokens=self.settings.max_tokens,
                                                   temperature=self.settings.temperature):
                if isinstance(event, Delta):
                    live.append(event.text)
                    meter.add(event.at, event.completion_tokens)
                    if event.prompt_tokens is not None:
                        self.last_prompt_tokens = event.prompt_tokens
                elif isinstance(event, Finished):
                    status, error = Status.COMPLETE, None
                    if event.usage is not None:
                        meter.correct_total(event.usage.completion_tokens)
                        self.last_prompt_tokens = event.usage.prompt_tokens
                    if event.reason == "length":
                        note = "stopped at the reply limit (max_tokens)"
                elif isinstance(event, Failed):
                    status, error = Status.ERROR, event.message
                    if event.kind is FailureKind.UNREACHABLE:
                        self.connect()
                elif isinstance(event, Started):
                    pass
        except asyncio.CancelledError:
            status, error = Status.CANCELLED, None
        finally:
            ticker.stop()
            self.query_one(Sidebar).note_streaming(False)
        if status is Status.ERROR and error:
            error += " · Ctrl+R retries"
        await self.finish_reply(live, status, error, note)

    def tick_live(self, live: StreamingReply) -> None:
        """Refresh the live footer and the throughput panel."""
        if self.meter is None:
            return
        reading = self.meter.reading(time.perf_counter())
        self.query_one(ThroughputPanel).show_live(reading)
        if reading.ttft_s is not None:
            live.set_footer(Text(f"{fmt_rate(reading.live_tok_s, reading.estimated)} · {reading.tokens:,} tokens · "
                                 f"TTFT {fmt_ms(reading.ttft_s)} · Esc cancels", style="dim"))

    async def finish_reply(self, live: StreamingReply, status: Status, error: str | None,
                           note: str | None = None) -> None:
        """Settle the live reply into a finished message with its stats line."""
        message = live.message
        message.status = status
        message.error = error
        message.note = note
        meter = self.meter
        if meter is not None and meter.first_at is not None:
            reading = meter.reading()
            message.stats = ReplyStats(completion_tokens=reading.tokens, prompt_tokens=self.last_prompt_tokens,
                                       decode_tok_s=reading.average_tok_s, ttft_s=reading.ttft_s,
                                       estimated=reading.estimated)
            self.query_one(ThroughputPanel).show_finished(reading)
            self.last_completion_tokens = reading.tokens
        await self.pane.settle_reply(live)
        if self.header.server_state == "streaming":
            self.header.server_state = "connected"
        self.meter = None
        self.refresh_gauge()

    # ---------------------------------------------------------------- gauge
    def refresh_gauge(self) -> None:
        """Show how full the context is (server counts when known, else an estimate)."""
        window = self.max_model_len or self.settings.context_window
        source = "server /v1/models" if self.max_model_len else "config (server does not say)"
        conversation = self.pane.conversation
        if self.last_prompt_tokens is not None and conversation.messages:
            used = self.last_prompt_tokens + (self.last_completion_tokens or 0)
            segments, counted, estimated = [("history", used)], "server usage", False
        else:
            chars = sum(len(m["content"]) for m in conversation.payload(self.settings.system_prompt))
            segments, counted, estimated = [("history", chars // 4)], "≈ 4 chars/token", True
        segments.append(("reserve", self.settings.max_tokens))
        self.query_one(ContextGauge).set_budget(segments, window, window_source=source,
                                                count_source=counted, estimated=estimated)

    # ---------------------------------------------------------------- actions
    def action_cancel_reply(self) -> None:
        """Stop the streaming reply; its partial text stays."""
        if self.streaming:
            self.reply_worker.cancel()

    async def action_new_conversation(self) -> None:
        """Start a fresh conversation; the current one stays in memory."""
        if self.streaming:
            self.reply_worker.cancel()
            await self.reply_worker.wait()
        conversation = Conversation()
        self.conversations.append(conversation)
        self.last_prompt_tokens = self.last_completion_tokens = None
        await self.pane.show(conversation)
        self.refresh_gauge()
        self.query_one(PromptInput).focus()
        self.notify("New conversation")

    async def action_retry(self) -> None:
        """Send the last user message again, dropping a failed or cancelled reply after it."""
        if self.streaming:
            return
        conversation = self.pane.conversation
        if not conversation.messages:
            return
        last = conversation.messages[-1]
        if last.role == "assistant" and last.status in (Status.ERROR, Status.CANCELLED):
            conversation.messages.pop()
            view = self.pane.view_for(last)
            if view is not None:
                await view.remove()
        elif last.role != "user":
            self.notify("Nothing to retry: the last reply finished.", severity="information")
            return
        self.start_reply()

    def action_copy_reply(self) -> None:
        """Copy the focused message, or else the last reply, to the clipboard."""
        focused = self.focused
        if isinstance(focused, MessageView):
            message = focused.message
        else:
            message = next((m for m in reversed(self.pane.conversation.messages)
                            if m.role == "assistant" and m.content), None)
        if message is None:
            self.notify("No reply to copy yet.", severity="warning")
            return
        self.copy_to_clipboard(message.content)
        self.notify(f"Copied {len(message.content):,} characters")

    def action_toggle_sidebar(self) -> None:
        """Show or hide the sidebar."""
        sidebar = self.query_one("#sidebar")
        sidebar.display = not sidebar.display
