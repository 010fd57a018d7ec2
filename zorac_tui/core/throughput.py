"""Throughput of one reply: TTFT, live decode tok/s over a rolling window, and the final average."""

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


class ThroughputMeter:
    """Measures one reply; decode rate never includes the time to first token."""

    def __init__(self, started_at: float, window_s: float = 1.0) -> None:
        """Start measuring a request sent at `started_at` (perf_counter seconds)."""
        self.started_at = started_at
        self.window_s = window_s
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.first_count = 0
        self.tokens = 0
        self.estimated = False
        self._points: deque[tuple[float, int]] = deque()

    def add(self, at: float, server_count: int | None) -> None:
        """Record a content delta at `at`; `server_count` is the server's running completion count."""
        if server_count is None:
            self.estimated = True
            count = self.tokens + 1
        else:
            count = max(server_count, self.tokens)
        if self.first_at is None:
            self.first_at = at
            self.first_count = count
        self.tokens = count
        self.last_at = at
        self._points.append((at, count))
        while len(self._points) > 2 and at - self._points[1][0] >= self.window_s:
            self._points.popleft()

    def correct_total(self, completion_tokens: int) -> None:
        """Apply the server's final count (from the usage chunk)."""
        self.tokens = completion_tokens
        self.estimated = False

    @property
    def ttft_s(self) -> float | None:
        """Seconds from request to first content token."""
        return None if self.first_at is None else self.first_at - self.started_at

    def live_tok_s(self, now: float | None = None) -> float | None:
        """Decode rate over the last ~window_s seconds (0 once the stream goes quiet)."""
        if len(self._points) < 2:
            return None
        (t0, c0), (t1, c1) = self._points[0], self._points[-1]
        if now is not None and now - t1 > self.window_s:
            return 0.0
        return (c1 - c0) / (t1 - t0) if t1 > t0 else None

    def average_tok_s(self) -> float | None:
        """Decode rate from the first to the last token (tokens after the first / time since it)."""
        if self.first_at is None or self.last_at is None or self.last_at <= self.first_at:
            return None
        return (self.tokens - self.first_count) / (self.last_at - self.first_at)

    def reading(self, now: float | None = None) -> ThroughputReading:
        """A snapshot for display."""
        return ThroughputReading(self.ttft_s, self.live_tok_s(now), self.average_tok_s(),
                                 self.tokens, self.estimated)
