"""Feeding one stream of server events into a message and its meter, for replies and summaries alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from zorac_tui.core.conversation import Message, Status
from zorac_tui.core.text import StreamSanitizer
from zorac_tui.core.throughput import ThroughputMeter
from zorac_tui.core.wording import STREAM_ENDED
from zorac_tui.server.events import Delta, Failed, FailureKind, Finished, Recast, StreamEvent


@dataclass
class StreamOutcome:
    """How a stream ended."""

    status: Status = Status.ERROR
    error: str | None = STREAM_ENDED
    note: str | None = None
    prompt_tokens: int | None = None
    failure: FailureKind | None = None


async def pump(events: AsyncIterator[StreamEvent], message: Message, meter: ThroughputMeter) -> StreamOutcome:
    """Append every delta to `message` (answer to its content, thinking to its thinking; made displayable),
    measure it, and report how the stream ended (cancel included)."""
    outcome = StreamOutcome()
    sanitizer, thoughts = StreamSanitizer(), StreamSanitizer()
    try:
        async for event in events:
            if isinstance(event, Delta):
                if event.thinking:
                    message.thinking += thoughts.feed(event.text)
                else:
                    message.content += sanitizer.feed(event.text)
                meter.add(event.at, event.completion_tokens, thinking=event.thinking)
                if event.prompt_tokens is not None:
                    outcome.prompt_tokens = event.prompt_tokens
            elif isinstance(event, Recast):  # the reply began inside <think>: its "answer" so far was thinking
                message.thinking += message.content + thoughts.flush() + sanitizer.flush()
                message.content = ""
                meter.recast()
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
    message.content += sanitizer.flush()
    message.thinking += thoughts.flush()
    return outcome
