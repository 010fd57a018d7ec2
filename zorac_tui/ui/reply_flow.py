"""The app's reply flow: send a prompt, stream the reply, cancel, retry, copy."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.text import Text
from textual.css.query import NoMatches

from zorac_tui.core.conversation import Conversation, Message, ReplyStats, Status
from zorac_tui.core.throughput import ThroughputMeter
from zorac_tui.server.events import FailureKind
from zorac_tui.ui.conversation import ConversationPane
from zorac_tui.ui.messages import MessageView, StreamingReply
from zorac_tui.ui.prompt import PromptInput
from zorac_tui.ui.sidebar import Sidebar
from zorac_tui.ui.streaming import StreamOutcome, pump
from zorac_tui.ui.throughput_panel import ThroughputPanel, fmt_ms, fmt_rate

if TYPE_CHECKING:
    from zorac_tui.ui.app import ZoracApp

SIDEBAR_REFRESH = 0.25


class ReplyFlow:
    """Mixin for ZoracApp: everything between Enter and a settled reply."""

    reply_worker = None
    meter: ThroughputMeter | None = None

    @property
    def shutting_down(self: ZoracApp) -> bool:
        """True once the app began to exit: workers then save what they have and touch no widget."""
        return bool(self._exit or self._closing or not self._running)

    @property
    def streaming(self: ZoracApp) -> bool:
        """Whether a reply (or summary) is in progress."""
        return self.reply_worker is not None and self.reply_worker.is_running

    async def on_prompt_input_submitted(self: ZoracApp, event: PromptInput.Submitted) -> None:
        """Run a slash command or send the prompt; refuse (keeping the text) what cannot be sent."""
        text = event.text
        if await self.run_slash_command(text.strip()):
            event.prompt.clear()
            return
        if self.streaming:
            self.notify("A reply is still streaming — Esc cancels it. Your text stays in the prompt.",
                        severity="warning")
            return
        if not await self.prompt_fits(text):
            return
        event.prompt.clear()
        message = self.pane.conversation.add(Message("user", text))
        if self.pane.conversation.title == "New conversation":
            self.pane.conversation.title = " ".join(text.split())[:60] or "Untitled"
        self.persist_message(message, self.pane.conversation)
        await self.pane.add_message(message)
        self.start_reply()

    def start_reply(self: ZoracApp) -> None:
        """Launch the worker that streams one reply."""
        self.reply_worker = self.run_worker(self.stream_reply(), group="reply", exclusive=True)

    async def stream_reply(self: ZoracApp) -> None:
        """Stream one reply into the conversation, keeping whatever arrives."""
        conversation = self.pane.conversation
        payload = conversation.payload(self.settings.system_prompt)
        message = conversation.add(Message("assistant", "", status=Status.STREAMING))
        live = await self.pane.start_reply(message)
        if self.client is None:
            outcome = StreamOutcome(error=f"Not connected to {self.settings.base_url} yet — your message is "
                                          "kept; press Ctrl+R to send it once the server is up.")
            await self.finish_reply(live, outcome, payload, conversation)
            return
        self.persist_message(message, conversation)
        self.meter = meter = ThroughputMeter(time.perf_counter())
        ticker = self.set_interval(SIDEBAR_REFRESH, lambda: self.tick_live(live))
        self.header.server_state = "streaming"
        sidebar = self.query_one(Sidebar)
        sidebar.note_streaming(True)
        try:
            events = self.client.stream(payload, model=self.model, max_tokens=self.settings.max_tokens,
                                        temperature=self.settings.temperature)
            outcome = await pump(events, live, meter)
        finally:
            ticker.stop()
            sidebar.note_streaming(False)
        if outcome.failure is FailureKind.UNREACHABLE:
            self.connect()
        if outcome.failure is FailureKind.CONTEXT:
            self.run_worker(self.learn_window(outcome.error), group="window", exclusive=True, exit_on_error=False)
            self.offer_summarize_and_retry()
        elif outcome.status is Status.ERROR and outcome.error:
            outcome.error += " · Ctrl+R retries"
        try:
            await self.finish_reply(live, outcome, payload, conversation)
        except NoMatches:
            if not self.ui_gone():
                raise  # a real bug, not an exit racing the end of a reply

    def ui_gone(self: ZoracApp) -> bool:
        """Whether the main screen's widgets are gone (the app is exiting)."""
        return self.shutting_down or not self.query(ConversationPane)

    def tick_live(self: ZoracApp, live: StreamingReply) -> None:
        """Refresh the live footer and the throughput panel; checkpoint the partial reply."""
        if self.meter is None or self.ui_gone():  # the app is exiting: its widgets are already gone
            return
        reading = self.meter.reading(time.perf_counter())
        self.query_one(ThroughputPanel).show_live(reading)
        if reading.ttft_s is not None:
            live.set_footer(Text(f"{fmt_rate(reading.live_tok_s, reading.estimated)} · "
                                 f"{'≈' if reading.estimated else ''}{reading.tokens:,} tokens · "
                                 f"TTFT {fmt_ms(reading.ttft_s)} · Esc cancels", style="dim"))
        self.checkpoint_message(live.message)

    async def finish_reply(self: ZoracApp, live: StreamingReply, outcome: StreamOutcome,
                           payload: list[dict[str, str]], conversation: Conversation) -> None:
        """Settle the live reply into a finished message with its stats line."""
        message = live.message
        message.status, message.error, message.note = outcome.status, outcome.error, outcome.note
        meter, self.meter = self.meter, None
        if self.shutting_down or not live.is_attached:  # the app is exiting: save, touch no widget
            self.persist_message(message, conversation)
            return
        if meter is not None and meter.first_at is not None:
            reading = meter.reading()
            message.stats = ReplyStats(completion_tokens=reading.tokens, prompt_tokens=outcome.prompt_tokens,
                                       decode_tok_s=reading.average_tok_s, ttft_s=reading.ttft_s,
                                       estimated=reading.estimated)
            self.query_one(ThroughputPanel).show_finished(reading)
            self.query_one(Sidebar).note_reply(reading.average_tok_s)
        self.persist_message(message, conversation)
        await self.pane.settle_reply(live)
        if self.ui_gone():
            return
        if self.header.server_state == "streaming":
            self.header.server_state = "connected"
        if outcome.prompt_tokens is not None and self.counter is not None:
            await self.counter.observe(payload, outcome.prompt_tokens)
        if outcome.status is Status.COMPLETE:
            self.check_after_reply()
        else:
            self.recount()

    # ---------------------------------------------------------------- actions
    def action_cancel_reply(self: ZoracApp) -> None:
        """Stop the streaming reply or summary; a reply's partial text stays."""
        if self.streaming:
            self.reply_worker.cancel()

    async def action_retry(self: ZoracApp) -> None:
        """Send the last user message again, dropping a failed or cancelled reply after it."""
        if self.streaming:
            return
        conversation = self.pane.conversation
        if not conversation.messages:
            return
        last = conversation.messages[-1]
        if last.role == "assistant" and last.status in (Status.ERROR, Status.CANCELLED):
            conversation.messages.pop()
            self.forget_message(last)
            view = self.pane.view_for(last)
            if view is not None:
                await view.remove()
        elif last.role != "user":
            self.notify("Nothing to retry: the last reply finished.", severity="information")
            return
        self.start_reply()

    def action_copy_reply(self: ZoracApp) -> None:
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
