"""What the chunks of one streamed chat reply say: parsed JSON chunks in, Delta/Recast events out.

Pure (no I/O): `ChunkReader.events(chunk)` checks each chunk's shape (raising `Malformed`, or
`ServerError` for a `{"error": …}` event) and keeps what arrived so far (`count`, `exact`, `reason`,
`usage()`) for the client's Finished and Failed events. Thinking is read from `delta.reasoning`,
`delta.reasoning_content` or `<think>` tags inline in `delta.content` (core/reasoning.py).
"""

from __future__ import annotations

import time
from typing import Any

from zorac_tui.core.reasoning import ThinkSplitter
from zorac_tui.server.events import Delta, Recast, StreamEvent, Usage


class Malformed(Exception):
    """A chunk of the wrong shape; the argument says what was wrong."""


class ServerError(Exception):
    """A `data: {"error": …}` event: the server gave up mid-reply; `body` is its error object."""

    def __init__(self, body: Any) -> None:
        """Keep the server's error object."""
        super().__init__("server error event")
        self.body = body


def _int(value: Any) -> int | None:
    """An int field, None when absent; a non-integer is a shape error."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise Malformed(f"a usage count that is not an integer ({value!r})")
    return value


def _text(delta: dict, name: str) -> str | None:
    """A text field of a delta (None when absent); anything but text is a shape error."""
    value = delta.get(name)
    if value is not None and not isinstance(value, str):
        raise Malformed(f"a delta whose {name} is not text")
    return value


class ChunkReader:
    """Reads the chunks of one reply in order and remembers what has arrived so far."""

    def __init__(self) -> None:
        """Nothing has arrived yet."""
        self.pieces = 0
        self.server_completion: int | None = None
        self.prompt: int | None = None
        self.total: int | None = None
        self.reason: str | None = None
        self._splitter = ThinkSplitter()
        self._native_thinking = False  # the server sends thinking in its own field: content is all answer
        self._thought = False
        self._answered = False

    @property
    def count(self) -> int:
        """Tokens so far: the server's count when known, else the number of chunks with text."""
        return self.server_completion if self.server_completion is not None else self.pieces

    @property
    def exact(self) -> bool:
        """Whether `count` comes from the server."""
        return self.server_completion is not None

    def usage(self) -> Usage | None:
        """The last usage the server reported, if any."""
        if self.server_completion is None or self.prompt is None:
            return None
        total = self.total if self.total is not None else self.prompt + self.server_completion
        return Usage(prompt_tokens=self.prompt, completion_tokens=self.server_completion, total_tokens=total)

    def events(self, chunk: Any) -> list[StreamEvent]:
        """The events of one parsed chunk; raises Malformed or ServerError."""
        if not isinstance(chunk, dict):
            raise Malformed(f"a chunk that is not a JSON object ({type(chunk).__name__})")
        if chunk.get("error"):
            raise ServerError(chunk["error"])
        usage = chunk.get("usage")
        if usage is not None:
            self._usage(usage)
        choices = chunk.get("choices")
        if choices is None:
            choices = []
        if not isinstance(choices, list):
            raise Malformed("a chunk whose choices is not a list")
        events: list[StreamEvent] = []
        for choice in choices[:1]:  # one reply per request (n=1)
            if not isinstance(choice, dict):
                raise Malformed("a choice that is not an object")
            delta = choice.get("delta")
            if delta is not None:
                if not isinstance(delta, dict):
                    raise Malformed("a delta that is not an object")
                events = self._deltas(delta, usage is not None)
            reason = choice.get("finish_reason")
            if reason is not None:
                if not isinstance(reason, str):
                    raise Malformed("a finish_reason that is not text")
                self.reason = reason
        return events

    def flush(self) -> list[StreamEvent]:
        """Deltas for text still held back (a possible partial `</think>`) at the end of the stream."""
        return self._make(self._splitter.flush(), False)

    def _usage(self, usage: Any) -> None:
        """Take in a chunk's usage object."""
        if not isinstance(usage, dict):
            raise Malformed("a usage field that is not an object")
        completion = _int(usage.get("completion_tokens"))
        prompt = _int(usage.get("prompt_tokens"))
        if completion is not None:
            self.server_completion = completion
        if prompt is not None:
            self.prompt = prompt
        self.total = _int(usage.get("total_tokens"))

    def _deltas(self, delta: dict, counted: bool) -> list[StreamEvent]:
        """The thinking and answer events of one chunk's delta."""
        thinking = _text(delta, "reasoning")
        if thinking is None:
            thinking = _text(delta, "reasoning_content")
        content = _text(delta, "content")
        if not thinking and not content:
            return []
        self.pieces += 1
        pieces: list[tuple[bool, str]] = []
        events: list[StreamEvent] = []
        if thinking:
            self._native_thinking = True
            pieces.append((True, thinking))
        if content and self._native_thinking:
            pieces.append((False, content))
        elif content:
            pieces += self._splitter.feed(content)
            if self._splitter.recast:
                events.append(Recast(at=time.perf_counter()))
        events += self._make(pieces, counted)
        return events

    def _make(self, pieces: list[tuple[bool, str]], counted: bool) -> list[StreamEvent]:
        """Delta events for (thinking, text) pieces, each with the chunk's running count when it had one;
        the answer never starts with blank lines after thinking."""
        events: list[StreamEvent] = []
        for thinking, text in pieces:
            if thinking:
                self._thought = True
            elif self._thought and not self._answered:
                text = text.lstrip()
                if not text:
                    continue
            if not thinking:
                self._answered = True
            events.append(Delta(
                text=text,
                at=time.perf_counter(),
                completion_tokens=self.server_completion if counted else None,
                prompt_tokens=self.prompt if counted else None,
                thinking=thinking,
            ))
        return events
