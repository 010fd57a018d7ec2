"""The main screen: the layout and key bindings, and the routes between widgets and the collaborators.

Collaborators own their state and speak in Textual messages: ServerMonitor (connection, window,
/metrics), ReplySession (the streaming slot), BudgetKeeper (context gauge, pre-send check, when to
summarize), Persistence (SQLite, other windows) and TelemetryFeed (GPU samples). Widgets draw. This
screen hands each message to whoever must act on it; it is the only place that knows them all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from textual import work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer

from zorac_tui.config import ConfigError, Settings
from zorac_tui.core import wording
from zorac_tui.core.conversation import Conversation, Message, Status, seconds
from zorac_tui.server.events import FailureKind
from zorac_tui.ui import copying, forking, other_windows, palette, pieces, summaries, upstream_offer
from zorac_tui.ui.budget_keeper import BudgetKeeper
from zorac_tui.ui.compat import frame_timer, render_dirty_rows_only
from zorac_tui.ui.conversation_list import ConversationList
from zorac_tui.ui.gauge import ContextGauge
from zorac_tui.ui.header import AppHeader
from zorac_tui.ui.palette import SLASH_COMMANDS
from zorac_tui.ui.persistence import Persistence
from zorac_tui.ui.prompt import PromptInput
from zorac_tui.ui.reply_session import ReplySession
from zorac_tui.ui.server_monitor import RECONNECT_INTERVAL, Connection, ServerMonitor
from zorac_tui.ui.sidebar import Sidebar
from zorac_tui.ui.telemetry_feed import TelemetryFeed
from zorac_tui.ui.throughput_panel import fmt_ms, fmt_rate
from zorac_tui.ui.transcript import Transcript

SEARCH_DEBOUNCE = 0.15  # seconds of quiet typing before the conversation list searches every message


class MainScreen(Screen[None]):
    """Header, conversation list | conversation, gauge, prompt | sidebar, footer — and who acts on what."""

    BINDINGS = [
        Binding("ctrl+q", "app.quit", "Quit", priority=True),
        Binding("ctrl+n", "new_conversation", "New"),
        Binding("escape", "cancel_reply", "Cancel"),
        Binding("ctrl+r", "retry", "Retry"),
        Binding("ctrl+g", "regenerate", "Regen"),
        Binding("ctrl+s", "summarize", "Summary"),
        Binding("ctrl+y", "copy_reply", "Copy", priority=True),  # over the prompt's redo (super+y still redoes)
        Binding("ctrl+t", "copy_code", "Code", priority=True),
        Binding("ctrl+b", "toggle_sidebar", "Sidebar", show=False),  # in help and the palette
        Binding("ctrl+o", "toggle_conversations", "Chats"),
        Binding("f1", "help", "Help"),
    ]

    def __init__(self, settings: Settings, *, demo: bool = False, nvml_module: Any = None,
                 store_path: Path | None = None, persist: bool = True, continue_last: bool = False,
                 offer_import_from: Path | None = None) -> None:
        """The screen for `settings`; the options are ZoracApp's (see there)."""
        super().__init__()
        render_dirty_rows_only(self)  # a frame repaints only the rows it changes (see ui/compat.py)
        self.settings, self.demo, self.nvml_module = settings, demo, nvml_module
        self.store_path, self.persist = store_path, persist
        self.continue_last, self.offer_import_from = continue_last, offer_import_from
        self.conversation = self.new_conversation()
        # every conversation shown this session stays in memory: with the database down it is the only copy
        self.conversations = [self.conversation]
        self.kv_capacity_tokens: int | None = None
        self.editing: Message | None = None  # a user message being edited (sending forks a new conversation)
        self._reveal: tuple[int, int] | None = None  # (conversation, message) a search hit asked to show
        self._code_at: tuple[int, tuple[float, int]] | None = None  # row of the code block copied last, and the view
        self.server = ServerMonitor(settings)
        self.persistence = Persistence(settings)
        self.persistence.shown = self.conversation
        self.reply = ReplySession(settings, saver=self.persistence)
        self.budget = BudgetKeeper(settings)
        self.telemetry = TelemetryFeed()

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        """Header, three columns, footer; the collaborators are invisible children."""
        yield AppHeader(id="header")
        with Horizontal(id="main"):
            yield ConversationList(id="conversations")
            with Vertical(id="center"):
                yield Transcript(self.conversation, show_reasoning=self.settings.show_reasoning, id="conversation")
                yield ContextGauge(id="gauge")
                yield PromptInput(id="prompt",
                                  placeholder="Ask anything — Enter sends, Shift+Enter or Ctrl+J for a new line")
            yield Sidebar(id="sidebar")
        yield Footer()
        yield from (self.server, self.reply, self.budget, self.persistence, self.telemetry)

    @property
    def pane(self) -> Transcript:
        """The transcript of the conversation."""
        return self.query_one(Transcript)

    @property
    def header(self) -> AppHeader:
        """The header line."""
        return self.query_one(AppHeader)

    @property
    def prompt(self) -> PromptInput:
        """The prompt."""
        return self.query_one(PromptInput)

    @property
    def sidebar(self) -> Sidebar:
        """The sidebar."""
        return self.query_one(Sidebar)

    @property
    def model(self) -> str:
        """The model in use: the connected server's, else the configured one."""
        return self.server.connection.model if self.server.connection else self.settings.model

    def new_conversation(self) -> Conversation:
        """An empty conversation with the configured prompt preset (`prompt` setting, --prompt)."""
        if self.settings.prompt == "default":
            return Conversation()
        try:
            preset = self.settings.preset()
        except ConfigError:
            return Conversation()
        return Conversation(preset=preset.name, system_prompt=preset.system_prompt)


    @property
    def _update_timer(self) -> Timer:
        """The frame timer: a change is drawn at the next frame slot, not the one after (see ui/compat.py)."""
        return frame_timer(self)

    def on_mount(self) -> None:
        """Start connecting, sampling and (unless told not to) saving; focus the prompt."""
        self.header.demo = self.demo
        self.header.model = self.settings.model
        self.header.preset = self.conversation.preset or ""
        self.prompt.focus()
        self.sidebar.set_sampling_interval(self.settings.telemetry_interval)
        if self.demo:
            from zorac_tui.telemetry.simulated import SIM_WEIGHT_BYTES

            self.sidebar.set_weights(SIM_WEIGHT_BYTES, "SIMULATED")
        elif self.settings.weights_gb > 0:
            self.sidebar.set_weights(int(self.settings.weights_gb * 1e9), "config")
        self.telemetry.start(self.settings, self.demo, self.nvml_module)
        self.query_one(ConversationList).display = False
        if self.persist:
            self.persistence.open(self.store_path)
        self.server.connect()

    def on_resize(self, event: Any) -> None:
        """Narrow the sidebar below 100 columns; hide it below 70 (Ctrl+B brings it back)."""
        self.set_class(event.size.width < 100, "-narrow")
        self.set_class(event.size.width < 70, "-tiny")

    def recount(self, *, debounce: bool = False) -> None:
        """Measure the context gauge again (the prompt's text as the draft)."""
        self.budget.recount(self.conversation, self.prompt.text, debounce=debounce)

    # ------------------------------------------------------------------ server
    def on_server_monitor_state_changed(self, event: ServerMonitor.StateChanged) -> None:
        """The header shows the server's state."""
        if self.header.server_state != "streaming" or event.state != "connected":
            self.header.server_state = event.state
        if event.detail or event.state != "connecting":
            self.header.server_detail = event.detail

    async def on_server_monitor_unreachable(self, event: ServerMonitor.Unreachable) -> None:
        """Say once that the server does not answer; the monitor keeps trying."""
        self.pane.add_notice(wording.unreachable_retrying(event.reason, RECONNECT_INTERVAL), level="warning")

    async def on_server_monitor_connected(self, event: ServerMonitor.Connected) -> None:
        """Adopt the connection: model in the header, a notice, the server panel, counting."""
        connection = event.connection
        self._adopt(connection)
        self.header.model = connection.model
        if event.model_switch:
            self.pane.add_notice(f"Model {connection.model} from now on · context {connection.window_text()}")
            return
        where = "" if self.settings.server == "default" else f"server {self.settings.server} · "
        self.pane.add_notice(f"Connected to {where}{connection.version} · model {connection.model} "
                             f"({connection.model_note}) · context {connection.window_text()}")
        self.warm_up()

    def on_server_monitor_window_changed(self, event: ServerMonitor.WindowChanged) -> None:
        """A context-length error taught the real window: the gauge uses it from now on."""
        self._adopt(event.connection)
        self.notify(f"The server's context window is {event.connection.window:,} tokens (the gauge used "
                    f"{event.previous:,}, {event.previous_source}); the gauge uses it now.",
                    severity="warning", timeout=8, markup=False)

    def _adopt(self, connection: Connection) -> None:
        """Hand a (new) connection to those who talk to the server, show its identity and recount."""
        self.reply.attach(connection)
        self.budget.connection = connection
        self.sidebar.show_identity(f"{connection.version}\ncontext {connection.window_text()}")
        self.recount()

    @work(thread=True, exclusive=True, group="warm-up", exit_on_error=False)
    def warm_up(self) -> None:
        """Import what drawing a reply needs, then keep start-up objects out of the collector's passes."""
        from zorac_tui.ui.app import freeze_startup_objects  # (the app module imports this one)

        pieces.preload()
        self.app.call_from_thread(freeze_startup_objects)

    def on_server_monitor_metrics_read(self, event: ServerMonitor.MetricsRead) -> None:
        """The server panel and memory budget show the server's own figures."""
        self.kv_capacity_tokens = event.stats.kv_capacity_tokens
        self.sidebar.show_server(event.stats, event.rate)

    def on_server_monitor_metrics_missing(self, event: ServerMonitor.MetricsMissing) -> None:
        """The server panel says why it has no figures."""
        self.sidebar.show_server(None, reason=event.reason, short=event.short)

    def on_telemetry_feed_sampled(self, event: TelemetryFeed.Sampled) -> None:
        """A GPU snapshot for the sidebar."""
        self.sidebar.show_gpus(event.snapshot)

    # ----------------------------------------------------------------- replies
    async def on_prompt_input_submitted(self, event: PromptInput.Submitted) -> None:
        """Run a slash command or send the prompt; refuse (keeping the text) what cannot be sent."""
        text = event.text
        if await self.run_slash_command(text.strip()):
            event.prompt.clear()
            return
        if self.reply.streaming:
            self.notify("A reply is still streaming — Esc cancels it. Your text stays in the prompt.",
                        severity="warning")
            return
        if self.editing is not None:
            await forking.fork_with(self, self.editing, text)
            return
        refusal = await self.budget.refusal(self.conversation, text)
        if refusal is not None:
            self.pane.add_notice(refusal, level="error")
            return
        event.prompt.clear()
        self.send_text(text)

    def send_text(self, text: str) -> None:
        """Add `text` as the user's message (committed before it is sent) and stream the reply."""
        conversation = self.conversation
        message = conversation.add(Message("user", text))
        if conversation.title == "New conversation":
            conversation.title = " ".join(text.split())[:60] or "Untitled"
        self.persistence.save(message, conversation, model=self.model)
        self.pane.add_message(message)
        self.reply.send(conversation)

    def on_prompt_input_draft_changed(self, event: PromptInput.DraftChanged) -> None:
        """The gauge's draft segment follows the prompt (debounced)."""
        self.budget.recount(self.conversation, event.text, debounce=True)

    def on_reply_session_started(self, event: ReplySession.Started) -> None:
        """Show the live reply (or summary); a regenerated reply takes its earlier version's place."""
        if event.replaces is not None:
            self.pane.remove_message(event.replaces)
        self.pane.start_reply(event.message, label=event.label)

    def on_reply_session_waiting(self, event: ReplySession.Waiting) -> None:
        """The reply waits for the server: say so under it (it goes out by itself)."""
        self.pane.set_live_footer(event.message, wording.waiting_for_server(self.settings.base_url))

    def on_reply_session_sending(self, event: ReplySession.Sending) -> None:
        """The request went out: the header and the (simulated) GPU show it."""
        self.header.server_state = "streaming"
        self.telemetry.set_load(True)

    def on_reply_session_server_lost(self) -> None:
        """The server refused the connection: find it again (the reply waits meanwhile)."""
        self.budget.connection = None
        self.telemetry.set_load(False)
        self.server.reconnect()

    def on_reply_session_not_sent(self, event: ReplySession.NotSent) -> None:
        """A waiting reply was cancelled: nothing went out; the question stays, Ctrl+R sends it."""
        self.pane.drop_live(event.message)
        if event.restored is not None:
            self.pane.add_message(event.restored)
        self.pane.add_notice(wording.NOT_SENT, level="warning")

    def on_reply_session_progress(self, event: ReplySession.Progress) -> None:
        """Live figures, drawn with the reply's next flush (one frame for both, not a frame of their own)."""
        self.pane.on_next_flush(lambda: self.show_progress(event))

    def show_progress(self, event: ReplySession.Progress) -> None:
        """Live figures in the sidebar and under the reply (and on its thinking fold while it thinks)."""
        reading = event.reading
        self.sidebar.show_live(reading)
        if reading.ttft_s is None:
            return
        approx = "≈" if reading.estimated else ""
        split = ""
        thinking_line = None
        if reading.thinking_tokens:
            split = f" (thinking {reading.thinking_tokens:,} · answer {reading.answer_tokens:,})"
            took = seconds(reading.thinking_s) if reading.thinking_s is not None else "…"
            thinking_line = (f"Thought for {took} · {reading.thinking_tokens:,} tokens" if reading.answer_tokens
                             else f"Thinking… {took} · {reading.thinking_tokens:,} tokens")
        rate = fmt_rate(reading.live_tok_s, reading.estimated)
        self.pane.set_live_footer(event.message, f"{rate} · {approx}{reading.tokens:,} tokens{split} · "
                                                 f"TTFT {fmt_ms(reading.ttft_s)} · Esc cancels", thinking_line)

    async def on_reply_session_finished(self, event: ReplySession.Finished) -> None:
        """Settle the reply; reconnect, learn the window or summarize as its outcome says; recount."""
        outcome = event.outcome
        self.telemetry.set_load(False)
        if event.reading is not None:
            self.sidebar.show_finished(event.reading)
        if outcome.failure is FailureKind.CONTEXT:
            self.server.learn_window(outcome.error)
            self.budget.retry_after_summary = True
            self.notify("The conversation no longer fits — Ctrl+S summarizes older messages and retries.",
                        severity="warning", timeout=8)
        self.pane.settle_reply(event.message)
        if self.header.server_state == "streaming":
            self.header.server_state = "connected"
        self.budget.after_reply(event.conversation, event.payload, outcome.prompt_tokens,
                                outcome.status is Status.COMPLETE, self.prompt.text)

    # --------------------------------------------------------------- summaries
    async def on_budget_keeper_summary_due(self, event: BudgetKeeper.SummaryDue) -> None:
        """Past the auto-summary threshold after a reply: summarize the oldest messages."""
        await summaries.summary_due(self, event)


    async def on_reply_session_summary_finished(self, event: ReplySession.SummaryFinished) -> None:
        """Apply a complete summary (archiving what it replaces) or say why not; retry if that was asked."""
        await summaries.summary_finished(self, event)

    def on_budget_keeper_measured(self, event: BudgetKeeper.Measured) -> None:
        """The gauge shows the new measurement."""
        self.query_one(ContextGauge).show_budget(event.budget, self.budget.kv_note(self.kv_capacity_tokens))

    # ------------------------------------------------------------- persistence
    def on_persistence_ready(self) -> None:
        """The database is open: reopen the last conversation or offer the upstream import."""
        if self.continue_last:
            self.run_worker(upstream_offer.open_last(self), group="open")
        elif self.offer_import_from is not None:
            self.run_worker(upstream_offer.offer_upstream_import(self, self.offer_import_from), group="import")

    def on_persistence_failed(self, event: Persistence.Failed) -> None:
        """Say that saving failed; the conversation stays on screen and in memory."""
        # not markup: the line holds a path, and "[" in a path would be eaten or raise
        self.notify(wording.not_saved(event.line),
                    severity="error", timeout=10, markup=False)

    def on_persistence_interrupted(self, event: Persistence.Interrupted) -> None:
        """Replies of a window that stopped mid-reply were kept as 'interrupted'."""
        replies = "1 reply was" if event.count == 1 else f"{event.count} replies were"
        self.notify(f"{replies} interrupted: the zorac-tui streaming it stopped mid-reply. Its text up to "
                    "the last second is kept.")

    def on_persistence_listed(self, event: Persistence.Listed) -> None:
        """The conversation list shows the saved conversations."""
        self.query_one(ConversationList).set_rows(event.rows, self.conversation.db_id)

    async def on_persistence_loaded(self, event: Persistence.Loaded) -> None:
        """A stored conversation was read in: show it (at the message a search found, if one)."""
        await self.show_conversation(event.conversation)
        if self._reveal is not None and self._reveal[0] == event.conversation.db_id:
            self.reveal(self._reveal[1])

    def on_persistence_recovered(self, event: Persistence.Recovered) -> None:
        """The database was damaged and moved aside: say where it went (a new one is in use)."""
        self.notify(event.line, severity="warning", timeout=15, markup=False)

    async def on_persistence_foreign_changes(self, event: Persistence.ForeignChanges) -> None:
        """Another window changed what is shown: redraw its replies; reload or re-save the conversation."""
        await other_windows.foreign_changes(self, event)


    # ----------------------------------------------------------- conversations
    async def show_conversation(self, conversation: Conversation) -> None:
        """Make `conversation` the one on screen (a reply still streaming is cancelled first)."""
        await self.reply.stop()
        self.conversation = self.persistence.shown = conversation
        self.conversations.append(conversation)
        self.header.preset = conversation.preset or ""
        self.pane.show(conversation)
        self.recount()
        self.prompt.focus()
        self.persistence.refresh_list()

    def on_conversation_list_open(self, event: ConversationList.Open) -> None:
        """Open the chosen conversation (at the message a search hit names)."""
        self._reveal = (event.conversation_id, event.message_id) if event.message_id is not None else None
        if event.conversation_id != self.conversation.db_id:
            self.persistence.open_conversation(event.conversation_id)
        elif event.message_id is not None:
            self.reveal(event.message_id)
            return
        self.prompt.focus()

    def reveal(self, message_id: int) -> None:
        """Scroll to a stored message (a search hit) and say where it was."""
        self._reveal = None
        where = self.pane.reveal(message_id)
        if where == "archived":
            self.notify("The match is in a message a summary replaced (its archive is unfolded).")
        elif where == "version":
            self.notify("The match is in another version of this reply — ←/→ flip versions.")
        elif where is None:
            self.notify("That message is not in this conversation any more.", severity="warning")

    @work(exclusive=True, group="search", exit_on_error=False)
    async def on_conversation_list_search(self, event: ConversationList.Search) -> None:
        """Search every message for what is typed in the list (newest first, with snippets)."""
        await asyncio.sleep(SEARCH_DEBOUNCE)
        hits = await self.persistence.search(event.query)
        if hits is not None:
            self.query_one(ConversationList).show_hits(event.query, hits)

    async def on_conversation_list_rename(self, event: ConversationList.Rename) -> None:
        """Rename in the store (and on screen if it is the open one)."""
        await self.persistence.read(lambda store: store.rename(event.conversation_id, event.title))
        if self.conversation.db_id == event.conversation_id:
            self.conversation.title = event.title
        self.persistence.refresh_list()

    async def on_conversation_list_delete(self, event: ConversationList.Delete) -> None:
        """Delete from the store; deleting the open one starts a new conversation."""
        await self.persistence.read(lambda store: store.delete(event.conversation_id))
        if self.conversation.db_id == event.conversation_id:
            await self.show_conversation(self.new_conversation())
        self.persistence.refresh_list()
        self.notify("Conversation deleted")

    # ----------------------------------------------------------------- actions
    async def action_new_conversation(self) -> None:
        """Start a fresh conversation; the current one stays saved."""
        await self.show_conversation(self.new_conversation())
        self.notify("New conversation (the previous one is kept in the list: Ctrl+O)")

    def action_cancel_reply(self) -> None:
        """Stop the streaming reply or summary (a reply's partial text stays), or stop editing a message."""
        if self.reply.streaming:
            self.reply.cancel()
        elif self.editing is not None:
            self.stop_editing()
            self.prompt.clear()

    # ------------------------------------------------------- versions, edit and fork
    async def action_regenerate(self) -> None:
        """Answer the last question again; the earlier answer stays as a version (←/→ on it flip)."""
        last = self.conversation.messages[-1] if self.conversation.messages else None
        if self.reply.streaming:
            self.notify("A reply is streaming — regenerate once it is done (or Esc).", severity="warning")
        elif last is None or last.role != "assistant":
            self.notify("Nothing to regenerate: the last message is not a reply.", severity="warning")
        else:
            self.reply.regenerate(self.conversation, last)

    def on_transcript_flip(self, event: Transcript.Flip) -> None:
        """Show another version of a reply; it is the one later turns send."""
        forking.flip_version(self, event)

    def on_transcript_edit(self, event: Transcript.Edit) -> None:
        """Put one of the user's messages in the prompt: sending it forks a new conversation from there."""
        forking.start_editing(self, event)

    def on_transcript_typed_here(self, event: Transcript.TypedHere) -> None:
        """Typing while reading the conversation goes to the prompt."""
        self.prompt.focus()
        self.prompt.insert(event.character)

    def stop_editing(self) -> None:
        """Leave edit mode (the prompt sends into this conversation again)."""
        self.editing = None
        self.prompt.border_title = None


    async def action_retry(self) -> None:
        """Send the last user message again, dropping a failed or cancelled reply after it."""
        if self.reply.streaming or not self.conversation.messages:
            return
        last = self.conversation.messages[-1]
        if last.role == "assistant" and (last.status in (Status.ERROR, Status.CANCELLED, Status.INTERRUPTED)
                                         or not last.content.strip()):  # failed, stopped, or only thought
            self.conversation.messages.pop()
            self.persistence.forget(last)
            self.pane.remove_message(last)
        elif last.role != "user":
            self.notify("Nothing to retry: the last reply finished.", severity="information")
            return
        self.reply.send(self.conversation)

    async def action_summarize(self) -> None:
        """Summarize all but the most recent messages (Ctrl+S, /summarize)."""
        if self.reply.streaming:
            self.notify("Wait for the reply to finish (or Esc) before summarizing.", severity="warning")
        elif self.reply.connection is None:
            self.notify("Not connected — summarizing needs the server.", severity="warning")
        else:
            await summaries.start_summary(self)

    def action_copy_reply(self) -> None:
        """Copy the focused message, or else the last reply, to the clipboard."""
        copying.copy_reply(self)

    def action_copy_code(self) -> None:
        """Copy the code block nearest the bottom of the view; press again for the one above."""
        copying.copy_code_block(self)


    def action_toggle_sidebar(self) -> None:
        """Show or hide the sidebar."""
        self.sidebar.display = not self.sidebar.display

    def action_toggle_conversations(self) -> None:
        """Show or hide the conversation list (type to filter, Enter opens, r renames, d deletes)."""
        listing = self.query_one(ConversationList)
        listing.display = not listing.display
        if listing.display:
            if self.persistence.store is None:
                self.notify(self.persistence.error or "Conversations are not being saved (no database).",
                            severity="warning", markup=False)  # holds a path: "[" must not be markup
            self.persistence.refresh_list()
            listing.query_one("#conv-filter").focus()
        else:
            self.prompt.focus()

    def action_help(self) -> None:
        """Show every key binding, slash command and what the figures mean."""
        from zorac_tui.ui.help_screen import HelpScreen

        keys = [(b.key_display or b.key, b.description) for b in self.BINDINGS if b.description]
        conversation = [(b.key.replace(",", " / "), b.description) for b in Transcript.BINDINGS]
        self.app.push_screen(HelpScreen(keys, SLASH_COMMANDS, conversation))

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

    def palette_commands(self) -> Iterator[SystemCommand]:
        """What the command palette offers on this screen (see palette.py)."""
        return palette.commands(self)

    # ------------------------------------------------------------ server, model


