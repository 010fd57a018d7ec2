"""The zorac-tui application: layout, key bindings, and the flow of one reply."""

from __future__ import annotations

import asyncio
import gc
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer

from zorac_tui.config import Settings
from zorac_tui.core.conversation import Conversation
from zorac_tui.ui import pieces
from zorac_tui.ui.budget_flow import BudgetFlow
from zorac_tui.ui.conversation import ConversationPane
from zorac_tui.ui.conversation_list import Confirm, ConversationList
from zorac_tui.ui.gauge import ContextGauge
from zorac_tui.ui.header import AppHeader
from zorac_tui.ui.persist_flow import PersistFlow
from zorac_tui.ui.prompt import PromptInput
from zorac_tui.ui.reply_flow import ReplyFlow
from zorac_tui.ui.server_panel import ServerPanel
from zorac_tui.ui.sidebar import Sidebar

if TYPE_CHECKING:
    from zorac_tui.server.client import ChatClient
    from zorac_tui.server.probe import ServerInfo

STYLES = Path(__file__).resolve().parent.parent / "styles"
RECONNECT_INTERVAL = 2.0
SLASH_COMMANDS = {
    "/summarize": ("summarize", "summarize older messages"),
    "/new": ("new_conversation", "start a new conversation"),
    "/retry": ("retry", "send the last message again"),
    "/copy": ("copy_reply", "copy the last reply"),
    "/help": ("help", "list keys and commands"),
}

PALETTE_TITLES = {
    "new_conversation": "New conversation",
    "cancel_reply": "Cancel the streaming reply",
    "retry": "Retry the last message",
    "summarize": "Summarize older messages",
    "copy_reply": "Copy the last reply",
    "toggle_sidebar": "Show or hide the sidebar",
    "toggle_conversations": "Conversation list",
    "help": "Help: keys, commands and what the numbers mean",
}


def _scrub_trace(trace: Any, secret: str | None) -> None:
    """Replace `secret` with *** in a rich Trace's messages, notes and lines (chained and grouped included)."""
    if not secret:
        return
    for stack in trace.stacks:
        stack.exc_value = stack.exc_value.replace(secret, "***")
        stack.notes = [note.replace(secret, "***") for note in stack.notes]
        if stack.syntax_error is not None:
            stack.syntax_error.msg = stack.syntax_error.msg.replace(secret, "***")
            stack.syntax_error.line = stack.syntax_error.line.replace(secret, "***")
        for frame in stack.frames:
            frame.line = frame.line.replace(secret, "***")
        for group in stack.exceptions:
            _scrub_trace(group, secret)


_startup_frozen = False


def freeze_startup_objects() -> None:
    """Keep what is alive once connected (modules, classes, the widget tree) out of the cycle collector's
    full passes, which otherwise stall the UI 50-90 ms about once a second while a reply streams
    (benchmarks/README.md). Once per process: later objects (old conversations' widgets) stay collectable."""
    global _startup_frozen
    if not _startup_frozen:
        _startup_frozen = True
        gc.freeze()


class ZoracApp(ReplyFlow, BudgetFlow, PersistFlow, App):
    """Chat with a local inference server while watching GPU, throughput and context."""

    CSS_PATH = [STYLES / "app.tcss"]
    TITLE = "zorac-tui"
    BINDINGS = [
        Binding("ctrl+n", "new_conversation", "New"),
        Binding("escape", "cancel_reply", "Cancel"),
        Binding("ctrl+r", "retry", "Retry"),
        Binding("ctrl+s", "summarize", "Summarize"),
        Binding("ctrl+y", "copy_reply", "Copy", priority=True),  # over the prompt's redo (super+y still redoes)
        Binding("ctrl+b", "toggle_sidebar", "Sidebar"),
        Binding("ctrl+o", "toggle_conversations", "Chats"),
        Binding("f1", "help", "Help"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, settings: Settings, *, demo: bool = False, nvml_module: Any = None,
                 store_path: Path | None = None, persist: bool = True, continue_last: bool = False,
                 offer_import_from: Path | None = None) -> None:
        """Create the app for `settings`; `demo` marks the simulated server and GPU.

        `nvml_module` stands in for `pynvml` (tests and benchmarks on machines without a GPU);
        `store_path` overrides the database location, `persist=False` keeps everything in memory;
        `continue_last` reopens the most recent conversation; `offer_import_from` is a home directory
        whose upstream Zorac session may be imported on first run.
        """
        super().__init__()
        self.nvml_module = nvml_module
        self.store_path = store_path
        self.persist = persist
        self.continue_last = continue_last
        self.offer_import_from = offer_import_from
        self.settings = settings
        self.demo = demo or settings.demo
        self.server: ServerInfo | None = None
        self.model = settings.model
        self.model_note = "configured"
        self.max_model_len: int | None = None
        self.client: ChatClient | None = None
        self.conversations: list[Conversation] = []
        self.reply_worker = None

    # ----------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        """Header, three columns, footer."""
        yield AppHeader(id="header")
        with Horizontal(id="main"):
            yield ConversationList(id="conversations")
            with Vertical(id="center"):
                yield ConversationPane(id="conversation")
                yield ContextGauge(id="gauge")
                yield PromptInput(id="prompt",
                                  placeholder="Ask anything — Enter sends, Shift+Enter or Ctrl+J for a new line")
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
        self.theme_changed_signal.subscribe(self, self.remember_theme)
        self.header.demo = self.demo
        self.header.model = self.model
        self.conversations.append(self.pane.conversation)
        self.query_one(PromptInput).focus()
        self.query_one(Sidebar).set_weights(self.settings.weights_gb, self.demo)
        self.query_one(Sidebar).start_telemetry(self.settings.base_url, self.demo, self.settings.telemetry_interval,
                                                self.nvml_module)
        self.query_one(ConversationList).display = False
        if self.persist:
            self.open_store(self.store_path)
        self.connect()

    def on_store_ready(self) -> None:
        """The database is open: reopen the last conversation or offer the upstream import."""
        if self.continue_last:
            self.run_worker(self.open_last(), group="open")
        elif self.offer_import_from is not None:
            self.run_worker(self.offer_upstream_import(self.offer_import_from), group="import")

    async def open_last(self) -> None:
        """`--continue`: the most recently updated conversation."""
        last = await self.from_store(lambda store: store.last_conversation_id())
        if last is None:
            self.notify("No saved conversation to continue yet.")
        else:
            await self.open_conversation(last)

    async def offer_upstream_import(self, home: Path) -> None:
        """First run: offer to import ~/.zorac/session.json from the upstream client, once."""
        from zorac_tui import paths
        from zorac_tui import store as export

        marker = paths.data_dir() / "upstream-import-offered"
        session = export.find_upstream_session(home)
        if session is None or marker.exists():
            return
        try:
            paths.ensure_private_dir(marker.parent)
            marker.touch()
        except OSError:
            return

        async def _answer(yes: bool | None) -> None:
            if not yes:
                return
            conv_id = await self.from_store(export.import_upstream_session, session)
            if conv_id is not None:
                self.refresh_conversation_list()
                await self.open_conversation(conv_id)
                self.notify(f"Imported {session}", markup=False)

        self.push_screen(Confirm(f"Import your Zorac session from {session}? (y/n)"), _answer)

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
                reason = info.error or f"{self.settings.base_url} lists no models"
                await self.pane.add_notice(f"{reason} · Retrying every {RECONNECT_INTERVAL:.0f} s; type meanwhile, "
                                           "nothing is lost (no server? try `zorac-tui --demo`).", level="warning")
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
        await asyncio.to_thread(pieces.preload)  # Markdown and highlighting, before the first reply
        if self.client is None:
            self.client = client_mod.ChatClient(self.settings.base_url, self.settings.api_key,
                                                stall_timeout=self.settings.stall_timeout)
            await self.client.warm_up()
        if self.ui_gone():  # quit while connecting: the widgets below are gone
            return
        version = self.server_version()
        self.header.model = self.model
        self.header.server_state = "connected"
        self.header.server_detail = f"{version} · {self.settings.base_url}"
        await self.pane.add_notice(f"Connected to {version} · model {self.model} ({self.model_note}) · "
                                   f"context {self.window_text()}")
        self.show_server_identity()
        sidebar = self.query_one(Sidebar)
        sidebar.poll_metrics(self.settings.base_url, self.settings.api_key, self.settings.metrics_interval,
                             self.model, info.has_metrics, info.flavor)
        counting = await asyncio.to_thread(importlib.import_module, "zorac_tui.server.counting")
        if self.ui_gone():
            return
        self.counter = counting.TokenCounter(self.settings.base_url, self.model, api_key=self.settings.api_key,
                                             can_tokenize=info.has_tokenize)
        self.recount()
        freeze_startup_objects()

    def server_version(self) -> str:
        """The server's flavor and version, e.g. 'vllm 0.32.0'."""
        info = self.server
        return f"{info.flavor} {info.version}" if info.version else info.flavor

    def window_text(self) -> str:
        """The context window in words, with where it came from when not from the server's model list."""
        window, source = self.window
        if source == "server":
            return f"{window:,} tokens"
        if source == "configured":
            return f"unknown (server does not say; assuming {window:,})"
        return f"{window:,} tokens ({source})"

    def show_server_identity(self) -> None:
        """The server panel's first lines: version and context window."""
        self.query_one(Sidebar).query_one(ServerPanel).set_identity(f"{self.server_version()}\n"
                                                                    f"context {self.window_text()}")

    # ---------------------------------------------------------------- actions
    async def action_new_conversation(self) -> None:
        """Start a fresh conversation; the current one stays saved."""
        await self.show_conversation(Conversation())
        self.notify("New conversation (the previous one is kept in the list: Ctrl+O)")

    async def show_conversation(self, conversation: Conversation) -> None:
        """Make `conversation` the one on screen."""
        if self.streaming:
            self.reply_worker.cancel()
            await self.reply_worker.wait()
        self.conversations.append(conversation)
        await self.pane.show(conversation)
        self.recount()
        self.query_one(PromptInput).focus()
        self.refresh_conversation_list()

    def action_toggle_conversations(self) -> None:
        """Show or hide the conversation list (type to filter, Enter opens, r renames, d deletes)."""
        listing = self.query_one(ConversationList)
        listing.display = not listing.display
        if listing.display:
            if self.store is None:
                self.notify(self.store_error or "Conversations are not being saved (no database).",
                            severity="warning", markup=False)  # holds a path: "[" must not be markup
            self.refresh_conversation_list()
            listing.query_one("#conv-filter").focus()
        else:
            self.query_one(PromptInput).focus()

    async def on_conversation_list_open(self, event: ConversationList.Open) -> None:
        """Open the chosen conversation."""
        if event.conversation_id != self.pane.conversation.db_id:
            await self.open_conversation(event.conversation_id)
        self.query_one(PromptInput).focus()

    async def on_conversation_list_rename(self, event: ConversationList.Rename) -> None:
        """Rename in the store (and on screen if it is the open one)."""
        await self.from_store(lambda store: store.rename(event.conversation_id, event.title))
        if self.pane.conversation.db_id == event.conversation_id:
            self.pane.conversation.title = event.title
        self.refresh_conversation_list()

    async def on_conversation_list_delete(self, event: ConversationList.Delete) -> None:
        """Delete from the store; deleting the open one starts a new conversation."""
        await self.from_store(lambda store: store.delete(event.conversation_id))
        if self.pane.conversation.db_id == event.conversation_id:
            await self.show_conversation(Conversation())
        self.refresh_conversation_list()
        self.notify("Conversation deleted")

    def action_toggle_sidebar(self) -> None:
        """Show or hide the sidebar."""
        sidebar = self.query_one("#sidebar")
        sidebar.display = not sidebar.display

    def _fatal_error(self) -> None:
        """Log an unexpected error (key scrubbed) and show it without local variables, which may hold secrets."""
        import logging
        import sys

        from rich.console import Group
        from rich.segment import Segments
        from rich.text import Text as RichText
        from rich.traceback import Traceback

        error = sys.exc_info()[1] or self._exception
        logging.getLogger("zorac_tui").error("unexpected error", exc_info=error)
        self.bell()
        trace = None
        if error is not None:  # the exception's own words may hold the key: scrubbed as in the log
            trace = Traceback.extract(type(error), error, error.__traceback__, show_locals=False)
            _scrub_trace(trace, self.settings.api_key)
        # One renderable: Textual prints only the first of several (and a "1 of 2 errors shown" note).
        self._exit_renderables.append(Group(Segments(self.console.render(
            Traceback(trace, show_locals=False, width=None, suppress=[]), self.console.options)), RichText(
            "zorac-tui stopped on an unexpected error (logged in the state dir: zorac-tui.log). "
            "Saved conversations are intact; `zorac-tui --continue` reopens the last one.")))
        self._close_messages_no_wait()

    def remember_theme(self, theme) -> None:
        """Save a theme picked in the command palette so the next start uses it."""
        if theme.name == self.settings.theme:
            return
        from zorac_tui import config

        try:
            config.save_value("theme", theme.name)
        except (OSError, config.ConfigError) as exc:
            self.notify(f"Theme not saved: {exc}", severity="warning", markup=False)  # holds a path

    def get_system_commands(self, screen):
        """Textual's own commands, then every zorac-tui action, so the palette (Ctrl+P) offers them all."""
        yield from super().get_system_commands(screen)
        for binding in self.BINDINGS:
            if binding.action in ("quit",) or not binding.description:
                continue
            method = getattr(self, f"action_{binding.action}")
            title = PALETTE_TITLES.get(binding.action, binding.description)
            yield SystemCommand(f"{title} ({binding.key})", (method.__doc__ or "").strip(), method)
        yield SystemCommand("Benchmark the server", "Measure TTFT and decode tok/s like `zorac-tui bench`",
                            self.action_bench)

    def action_bench(self) -> None:
        """Open the bench screen: TTFT, decode tok/s and aggregate throughput of this server, live."""
        from zorac_tui.ui.bench_screen import BenchScreen

        self.push_screen(BenchScreen.for_app(self))

    def action_help(self) -> None:
        """Show every key binding, slash command and what the figures mean."""
        from zorac_tui.ui.help_screen import HelpScreen

        keys = [(b.key_display or b.key, b.description) for b in self.BINDINGS if b.description]
        self.push_screen(HelpScreen(keys, SLASH_COMMANDS))

    async def run_slash_command(self, text: str) -> bool:
        """Run `/command` typed in the prompt; False when `text` is not one."""
        if not text.startswith("/") or "\n" in text:
            return False
        entry = SLASH_COMMANDS.get(text.split()[0].lower())
        if entry is None:
            known = ", ".join(SLASH_COMMANDS)
            self.notify(f"Unknown command {text.split()[0]!r} — known: {known}", severity="warning",
                        markup=False)  # the user's text: "[/]" would crash the toast
            return True
        await self.run_action(entry[0])
        return True
