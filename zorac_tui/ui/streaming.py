"""Feeding one stream of server events into a live message widget, for replies and summaries alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from zorac_tui.core.conversation import Status
from zorac_tui.core.text import StreamSanitizer
from zorac_tui.core.throughput import ThroughputMeter
from zorac_tui.server.events import Delta, Failed, FailureKind, Finished, StreamEvent
from zorac_tui.ui.messages import StreamingReply


@dataclass
class StreamOutcome:
    """How a stream ended."""

    status: Status = Status.ERROR
    error: str | None = "The stream ended without a result."
    note: str | None = None
    prompt_tokens: int | None = None
    failure: FailureKind | None = None


async def pump(events: AsyncIterator[StreamEvent], live: StreamingReply, meter: ThroughputMeter,
               on_delta: Callable[[], None] | None = None) -> StreamOutcome:
    """Append every delta to `live`, measure it, and report how the stream ended (cancel included)."""
    outcome = StreamOutcome()
    sanitizer = StreamSanitizer()
    try:
        async for event in events:
            if isinstance(event, Delta):
                live.append(sanitizer.feed(event.text))
                meter.add(event.at, event.completion_tokens)
                if event.prompt_tokens is not None:
                    outcome.prompt_tokens = event.prompt_tokens
                if on_delta is not None:
                    on_delta()
            elif isinstance(event, Finished):
                outcome.status, outcome.error = Status.COMPLETE, None
                if event.usage is not None:
                    meter.correct_total(event.usage.completion_tokens)
                    outcome.prompt_tokens = event.usage.prompt_tokens
                if event.reason == "length":
                    outcome.note = "stopped at the reply limit (max_tokens)"
            elif isinstance(event, Failed):
                outcome.status, outcome.error, outcome.failure = Status.ERROR, event.message, event.kind
    except asyncio.CancelledError:
        outcome.status, outcome.error, outcome.failure = Status.CANCELLED, None, FailureKind.CANCELLED
    live.append(sanitizer.flush())
    return outcome
