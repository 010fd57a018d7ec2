"""Context budget: how the window splits into system, summary, history, draft and reply reserve."""

from __future__ import annotations

from dataclasses import dataclass

SEGMENTS = ("system", "summary", "history", "draft", "reserve")


@dataclass(frozen=True)
class ContextBudget:
    """Token counts per segment against a window; pure arithmetic, no I/O."""

    window: int
    system: int = 0
    summary: int = 0
    history: int = 0
    draft: int = 0
    reserve: int = 0
    exact: bool = False  # counts came from the server's tokenizer
    count_source: str = ""
    window_source: str = ""

    @property
    def used(self) -> int:
        """Tokens the next request's prompt would take (everything but the reserve)."""
        return self.system + self.summary + self.history + self.draft

    @property
    def fraction(self) -> float:
        """Used share of the window."""
        return self.used / self.window if self.window else 0.0

    @property
    def free(self) -> int:
        """Tokens left after prompt and reply reserve (negative when over)."""
        return self.window - self.used - self.reserve

    def fits(self) -> bool:
        """Whether the prompt fits at all (the server clamps the reply to what is left)."""
        return self.used < self.window

    def fits_with_reserve(self) -> bool:
        """Whether the prompt plus a full-length reply fit."""
        return self.free >= 0

    def level(self) -> str:
        """"ok", "warning" (≥70% or the reserve no longer fits) or "over" (prompt alone too big)."""
        if not self.fits():
            return "over"
        if self.fraction >= 0.7 or not self.fits_with_reserve():
            return "warning"
        return "ok"

    def summarize_threshold_tokens(self, threshold: float) -> int:
        """Prompt size at which auto-summary starts: threshold × (window − reserve)."""
        return int(threshold * max(0, self.window - self.reserve))

    def should_summarize(self, threshold: float) -> bool:
        """Whether the conversation (without the draft) crossed the auto-summary threshold."""
        return self.system + self.summary + self.history >= self.summarize_threshold_tokens(threshold)

    def segments(self) -> list[tuple[str, int]]:
        """(name, tokens) in display order."""
        return [(name, getattr(self, name)) for name in SEGMENTS]

    def label(self) -> str:
        """`9,812 / 16,384 tokens · 60%`, with ≈ for estimates."""
        approx = "" if self.exact else "≈"
        return f"{approx}{self.used:,} / {self.window:,} tokens · {self.fraction:.0%}"


class Calibration:
    """Scales an estimator by what the server reported: true prompt tokens / estimated tokens."""

    def __init__(self) -> None:
        """Start uncalibrated (factor 1)."""
        self.factor = 1.0
        self.samples = 0

    def observe(self, estimated: int, true: int) -> None:
        """Blend in one (estimate, truth) pair; recent pairs weigh more."""
        if estimated <= 0 or true <= 0:
            return
        ratio = true / estimated
        self.factor = ratio if self.samples == 0 else 0.5 * self.factor + 0.5 * ratio
        self.samples += 1

    def apply(self, estimated: int) -> int:
        """The calibrated figure."""
        return round(estimated * self.factor)
