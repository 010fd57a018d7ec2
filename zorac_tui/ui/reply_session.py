"""The reply session: the one streaming slot — a reply or a summary streams at a time, Esc cancels it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol

from textual.message import Message as TextualMessage
from textual.widget import Widget
from textual.worker import Worker

from zorac_tui.config import Settings
from zorac_tui.core.conversation import Conversation, Message, ReplyStats, Status
from zorac_tui.core.summarize import SummaryPlan
from zorac_tui.core.throughput import ThroughputMeter, ThroughputReading
from zorac_tui.core.wording import RETRY_HINT
from zorac_tui.server.events import FailureKind, StreamEvent
from zorac_tui.ui import collector
from zorac_tui.ui.streaming import StreamOutcome, pump

if TYPE_CHECKING:
    from zorac_tui.ui.server_monitor import Connection

PROGRESS_INTERVAL = 0.25  # seconds between live figures (sidebar, the reply's footer) and checkpoints


class Saver(Protocol):
    """Where the session keeps what streams (the persistence collaborator)."""

    def save(self, message: Message, conversation: Conversation) -> None:
        """Insert `message`, or store its final state."""

    def checkpoint(self, message: Message) -> None:
        """Save a streaming message's text so far (at most about once a second)."""


class ReplySession(Widget):
    """Owns the streaming worker and its meter; speaks in messages, saves through its Saver."""

    DEFAULT_CSS = "ReplySession { display: none; }"

    class Started(TextualMessage):
        """A reply (or summary) began streaming into `message`, appended to `conversation` for a reply."""

        def __init__(self, conversation: Conversation, message: Message, label: str | None = None,
                     replaces: Message | None = None) -> None:
            """`label` replaces the role name over the live view (summaries say what they summarize);
            `replaces` is the version of the reply this new one takes the place of (regenerate)."""
            super().__init__()
            self.conversation, self.message, self.label, self.replaces = conversation, message, label, replaces

    class Waiting(TextualMessage):
        """The reply waits for the server (connecting, or reconnecting after it went away); sent once it is up."""

        def __init__(self, message: Message) -> None:
            """The reply that waits."""
            super().__init__()
            self.message = message

    class Sending(TextualMessage):
        """The request for `message` goes out now."""

        def __init__(self, message: Message) -> None:
            """The reply being requested."""
            super().__init__()
            self.message = message

    class ServerLost(TextualMessage):
        """The server refused the connection before a reply started: it is down or restarting."""

    class NotSent(TextualMessage):
        """A waiting reply was cancelled before the server came up: the user's message stays, unanswered."""

        def __init__(self, conversation: Conversation, message: Message, restored: Message | None = None) -> None:
            """The placeholder reply (already taken out of the conversation), and the version back in its place."""
            super().__init__()
            self.conversation, self.message, self.restored = conversation, message, restored

    class Progress(TextualMessage):
        """Live figures of the streaming `message`."""

        def __init__(self, message: Message, reading: ThroughputReading) -> None:
            """Carry a meter reading."""
            super().__init__()
            self.message, self.reading = message, reading

    class Finished(TextualMessage):
        """A reply ended (complete, cancelled or failed); `message` holds its final state and stats."""

        def __init__(self, conversation: Conversation, message: Message, outcome: StreamOutcome,
                     payload: list[dict[str, str]], reading: ThroughputReading | None) -> None:
            """`payload` is what was sent (the gauge learns its exact size from `outcome.prompt_tokens`)."""
            super().__init__()
            self.conversation, self.message, self.outcome = conversation, message, outcome
            self.payload, self.reading = payload, reading

    class SummaryFinished(TextualMessage):
        """A summary stream ended; only a complete, non-empty one should replace history."""

        def __init__(self, conversation: Conversation, plan: SummaryPlan, summary: Message,
                     outcome: StreamOutcome) -> None:
            """Carry the plan it was made for."""
            super().__init__()
            self.conversation, self.plan, self.summary, self.outcome = conversation, plan, summary, outcome

    def __init__(self, settings: Settings, saver: Saver) -> None:
        """Stream with `settings`' sampling options; keep every message through `saver`."""
        super().__init__()
        self.settings = settings
        self.saver = saver
        self.connection: Connection | None = None
        self.worker: Worker | None = None
        self.meter: ThroughputMeter | None = None
        self._connected = asyncio.Event()
        self._current: tuple[Conversation, Message] | None = None  # the reply streaming now
        self._interrupted: str | None = None  # why the app is stopping mid-reply (a signal)

    def attach(self, connection: Connection | None) -> None:
        """Talk to `connection` from now on (None: the server went away); a waiting reply goes out once set."""
        self.connection = connection
        if connection is None:
            self._connected.clear()
        else:
            self._connected.set()

    @property
    def streaming(self) -> bool:
        """Whether a reply or summary is in progress."""
        return self.worker is not None and self.worker.is_running

    def cancel(self) -> None:
        """Stop what streams; a reply's partial text stays."""
        if self.streaming:
            self.worker.cancel()

    async def stop(self) -> None:
        """Cancel what streams and wait until it has settled."""
        if self.streaming:
            self.worker.cancel()
            await self.worker.wait()

    # ------------------------------------------------------------------ replies
    def send(self, conversation: Conversation) -> None:
        """Stream the reply to `conversation`'s last message."""
        message = conversation.add(Message("assistant", "", status=Status.STREAMING))
        self.post_message(self.Started(conversation, message))
        self.worker = self.run_worker(self._stream_reply(conversation, message), group="reply", exclusive=True)

    def regenerate(self, conversation: Conversation, reply: Message) -> None:
        """Answer `reply`'s question again: the new version takes its place; the earlier ones stay as versions."""
        versions = reply.versions or [reply]
        message = Message("assistant", "", status=Status.STREAMING, versions=versions)
        versions.append(message)
        for version in versions:
            version.versions = versions
        index = next(i for i, m in enumerate(conversation.messages) if m is reply)
        conversation.messages[index] = message
        self.post_message(self.Started(conversation, message, replaces=reply))
        self.worker = self.run_worker(self._stream_reply(conversation, message), group="reply", exclusive=True)

    async def _stream_reply(self, conversation: Conversation, message: Message) -> None:
        """Stream one reply into `message`, keeping whatever arrives; wait for the server if it is not up
        (connecting, or restarting: a refused connection before the first token waits and tries again)."""
        self._current = (conversation, message)
        payload: list[dict[str, str]] = []
        while True:
            if self.connection is None:
                self.post_message(self.Waiting(message))
                try:
                    await self._connected.wait()
                except asyncio.CancelledError:  # Esc (or quitting) while waiting: nothing was sent
                    self._not_sent(conversation, message)
                    return
            connection = self.connection
            assert connection is not None
            payload = conversation.payload(self._system_prompt(conversation), upto=message)
            message.model, message.server = connection.model, self.server_name()
            self.saver.save(message, conversation)
            self.post_message(self.Sending(message))
            outcome = await self._stream(connection, message, payload, self._temperature(conversation))
            if outcome.failure is FailureKind.UNREACHABLE and not message.content and not message.thinking:
                self.attach(None)
                self.post_message(self.ServerLost())
                continue
            break
        if outcome.status is Status.ERROR and outcome.error and outcome.failure is not FailureKind.CONTEXT:
            outcome.error += RETRY_HINT
        self._settle(conversation, message, outcome, payload)

    async def _stream(self, connection: Connection, message: Message, payload: list[dict[str, str]],
                      temperature: float) -> StreamOutcome:
        """Send `payload` and pump the stream into `message`, with live figures and checkpoints."""
        self.meter = meter = ThroughputMeter(time.perf_counter())
        ticker = self.set_interval(PROGRESS_INTERVAL, lambda: self._progress(message))
        try:
            events = connection.client.stream(payload, model=connection.model, max_tokens=self.settings.max_tokens,
                                              temperature=temperature)
            return await self._pump(events, message, meter)
        finally:
            ticker.stop()

    def _not_sent(self, conversation: Conversation, message: Message) -> None:
        """A reply cancelled while it waited for the server: nothing was sent, so no reply is kept (a
        regenerated one gives its place back to the version it replaced)."""
        index = next((i for i, m in enumerate(conversation.messages) if m is message), None)
        earlier = [v for v in message.versions if v is not message]
        if message.versions:
            message.versions.remove(message)
        if index is not None:
            if earlier:
                conversation.messages[index] = earlier[-1]
            else:
                conversation.messages.pop(index)
        self._current = None
        self.post_message(self.NotSent(conversation, message, earlier[-1] if earlier else None))

    def server_name(self) -> str:
        """Who answers: the server profile's name, or the URL when no profiles are configured."""
        return self.settings.server if self.settings.server != "default" else self.settings.base_url

    def _temperature(self, conversation: Conversation) -> float:
        """The conversation's preset's temperature, else the configured one."""
        if conversation.preset:
            for preset in self.settings.prompts:
                if preset.name == conversation.preset and preset.temperature is not None:
                    return preset.temperature
        return self.settings.temperature

    def _system_prompt(self, conversation: Conversation) -> str:
        """The conversation's own system prompt (its preset's), else the configured one."""
        return conversation.system_prompt if conversation.system_prompt is not None else self.settings.system_prompt

    def _progress(self, message: Message) -> None:
        """Announce live figures and checkpoint the partial reply."""
        if self.meter is not None:
            self.post_message(self.Progress(message, self.meter.reading(time.perf_counter())))
        self.saver.checkpoint(message)

    def interrupt(self, reason: str) -> None:
        """The app is stopping (a signal): save the streaming reply now, as interrupted, with its text so far."""
        if self._current is None or not self.streaming:
            return
        self._interrupted = reason
        conversation, message = self._current
        if message.db_id is None and not message.content and not message.thinking:
            return  # nothing was sent yet: the question stays unanswered, as after Esc
        message.status, message.note = Status.INTERRUPTED, reason
        self.saver.save(message, conversation)

    def _settle(self, conversation: Conversation, message: Message, outcome: StreamOutcome,
                payload: list[dict[str, str]]) -> None:
        """Give the message its final state and stats, save it, and announce it (saved even while exiting)."""
        self._current = None
        message.status, message.error, message.note = outcome.status, outcome.error, outcome.note
        if self._interrupted is not None and outcome.status is Status.CANCELLED:
            message.status, message.note = Status.INTERRUPTED, self._interrupted
        meter, self.meter = self.meter, None
        reading = None
        if meter is not None and meter.first_at is not None:
            reading = meter.reading()
            message.stats = ReplyStats(completion_tokens=reading.tokens, prompt_tokens=outcome.prompt_tokens,
                                       decode_tok_s=reading.average_tok_s, ttft_s=reading.ttft_s,
                                       estimated=reading.estimated or reading.split_estimated,
                                       thinking_tokens=reading.thinking_tokens or None, ttfa_s=reading.ttfa_s,
                                       thinking_s=reading.thinking_s)
        self.saver.save(message, conversation)
        self.post_message(self.Finished(conversation, message, outcome, payload, reading))

    # ---------------------------------------------------------------- summaries
    def summarize(self, conversation: Conversation, plan: SummaryPlan, request: list[dict[str, str]],
                  max_tokens: int) -> None:
        """Stream a summary of `plan`'s messages (shares the reply slot: Esc cancels it)."""
        self.worker = self.run_worker(self._stream_summary(conversation, plan, request, max_tokens),
                                      group="reply", exclusive=True)

    async def _stream_summary(self, conversation: Conversation, plan: SummaryPlan,
                              request: list[dict[str, str]], max_tokens: int) -> None:
        """Stream the summary into its own message; the screen decides what to do with it."""
        connection = self.connection
        assert connection is not None
        summary = Message("summary", "", status=Status.STREAMING, model=connection.model, server=self.server_name())
        self.post_message(self.Started(conversation, summary, label=f"Summary of {plan.count} messages (streaming…)"))
        events = connection.client.stream(request, model=connection.model, max_tokens=max_tokens,
                                          temperature=self.settings.temperature)
        outcome = await self._pump(events, summary, ThroughputMeter(time.perf_counter()))
        self.post_message(self.SummaryFinished(conversation, plan, summary, outcome))

    async def _pump(self, events: AsyncIterator[StreamEvent], message: Message,
                    meter: ThroughputMeter) -> StreamOutcome:
        """`pump`, with the collector's full passes held from now until the app is idle after it."""
        collector.hold()
        try:
            return await pump(events, message, meter)
        finally:
            if self.is_attached:  # not when the app is closing
                self.set_timer(collector.FULL_PASS_AFTER, self._full_pass)

    def _full_pass(self) -> None:
        """The cycle collector's full pass held since the stream began, unless another one streams now."""
        if not self.streaming:
            collector.full_pass()

    def on_unmount(self) -> None:
        """What the full passes froze is collectable again."""
        collector.thaw()
