"""Throughput of one reply: TTFT, time to first answer, thinking time, tokens per channel, decode tok/s.

The one definition of the decode rate, used by the app and by `zorac-tui bench`:

    decode tok/s = (tokens counted at the last token − tokens counted at the first token)
                   ÷ (time of the last token − time of the first token)

It counts every generated token, thinking and answer alike (what the GPU decodes), and never
includes the time to first token. Tokens are the server's running count when it sends per-chunk
usage (vLLM `continuous_usage_stats`), else one per text piece (then `estimated`). A final count
from the server's usage chunk corrects the token totals, not the rate: it comes with no time of its
own (and holds the end-of-sequence token, which has no text).

Times: TTFT = request → first token of any kind (thinking or answer); `ttfa_s` = request → first
answer token; `thinking_s` = first thinking token → first answer token (or → the last thinking
token when no answer came).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class ThroughputReading:
    """What the meter knows right now."""

    ttft_s: float | None
    live_tok_s: float | None
    average_tok_s: float | None
    tokens: int
    estimated: bool
    thinking_tokens: int = 0
    answer_tokens: int = 0
    ttfa_s: float | None = None
    thinking_s: float | None = None
    split_estimated: bool = False
    """The thinking/answer split was counted in text pieces (the total may still be the server's)."""


class ThroughputMeter:
    """Measures one reply; decode rate never includes the time to first token."""

    def __init__(self, started_at: float, window_s: float = 1.0) -> None:
        """Start measuring a request sent at `started_at` (perf_counter seconds)."""
        self.started_at = started_at
        self.window_s = window_s
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.first_count = 0
        self.last_count = 0
        self.tokens = 0
        self.thinking_tokens = 0
        self.estimated = False
        self._split_estimated = False
        self._last_thinking = False
        self.first_thinking_at: float | None = None
        self.last_thinking_at: float | None = None
        self.first_answer_at: float | None = None
        self.last_answer_at: float | None = None
        self._points: deque[tuple[float, int]] = deque()

    @property
    def answer_tokens(self) -> int:
        """Tokens of the answer (every token not counted as thinking)."""
        return self.tokens - self.thinking_tokens

    def add(self, at: float, server_count: int | None, *, thinking: bool = False) -> None:
        """Record a text delta at `at`; `server_count` is the server's running completion count (thinking
        and answer together); the increase it shows is this delta's channel's."""
        if server_count is None:
            self.estimated = self._split_estimated = True
            count = self.tokens + 1
        else:
            count = max(server_count, self.tokens)
        if thinking:
            self.thinking_tokens += count - self.tokens
            self.last_thinking_at = at
            if self.first_thinking_at is None:
                self.first_thinking_at = at
        else:
            self.last_answer_at = at
            if self.first_answer_at is None:
                self.first_answer_at = at
        self._last_thinking = thinking
        if self.first_at is None:
            self.first_at = at
            self.first_count = count
        self.tokens = self.last_count = count
        self.last_at = at
        self._points.append((at, count))
        while len(self._points) > 2 and at - self._points[1][0] >= self.window_s:
            self._points.popleft()

    def recast(self) -> None:
        """Everything counted as answer so far was thinking (a reply that began inside `<think>`)."""
        if self.first_answer_at is None:
            return
        self.thinking_tokens = self.tokens
        self.first_thinking_at = min(self.first_answer_at, self.first_thinking_at or self.first_answer_at)
        self.last_thinking_at = max(self.last_answer_at or 0.0, self.last_thinking_at or 0.0)
        self.first_answer_at = self.last_answer_at = None
        self._last_thinking = True

    def correct_total(self, completion_tokens: int) -> None:
        """Apply the server's final count (from the usage chunk) to the totals.

        With per-chunk counts the difference is the tokens that came without text (the
        end-of-sequence token), given to the channel that was streaming last; with text pieces
        counted, the server's total is shared between the channels in their counted proportion.
        """
        if self.tokens and self._split_estimated:
            self.thinking_tokens = round(completion_tokens * self.thinking_tokens / self.tokens)
        elif self._last_thinking:
            self.thinking_tokens = max(0, self.thinking_tokens + completion_tokens - self.tokens)
        self.thinking_tokens = min(self.thinking_tokens, completion_tokens)
        self.tokens = completion_tokens
        self.estimated = False

    @property
    def ttft_s(self) -> float | None:
        """Seconds from request to the first token of any kind (thinking or answer)."""
        return None if self.first_at is None else self.first_at - self.started_at

    @property
    def ttfa_s(self) -> float | None:
        """Seconds from request to the first answer token (None while none came)."""
        return None if self.first_answer_at is None else self.first_answer_at - self.started_at

    @property
    def thinking_s(self) -> float | None:
        """Seconds of thinking: first thinking token → first answer token (or → the last thinking token)."""
        if self.first_thinking_at is None:
            return None
        end = self.first_answer_at if self.first_answer_at is not None else self.last_thinking_at
        return max(0.0, (end or self.first_thinking_at) - self.first_thinking_at)

    def live_tok_s(self, now: float | None = None) -> float | None:
        """Decode rate over the last ~window_s seconds (0 once the stream goes quiet)."""
        if len(self._points) < 2:
            return None
        (t0, c0), (t1, c1) = self._points[0], self._points[-1]
        if now is not None and now - t1 > self.window_s:
            return 0.0
        return (c1 - c0) / (t1 - t0) if t1 > t0 else None

    def average_tok_s(self) -> float | None:
        """The decode rate (see the module docstring): tokens after the first ÷ time since it."""
        if self.first_at is None or self.last_at is None or self.last_at <= self.first_at:
            return None
        return (self.last_count - self.first_count) / (self.last_at - self.first_at)

    def reading(self, now: float | None = None) -> ThroughputReading:
        """A snapshot for display."""
        return ThroughputReading(
            self.ttft_s, self.live_tok_s(now), self.average_tok_s(), self.tokens, self.estimated,
            thinking_tokens=self.thinking_tokens, answer_tokens=self.answer_tokens, ttfa_s=self.ttfa_s,
            thinking_s=self.thinking_s, split_estimated=self._split_estimated and self.thinking_tokens > 0,
        )
