"""Build a chat prompt of a requested token count, verified with the server's own tokenizer when it has one.

The count that matters is the one the server reports as `prompt_tokens`: the chat template applied
(system/role markers, generation prompt) — so prompts are measured as whole chat payloads through
vLLM's POST /tokenize. Without /tokenize the count is an estimate (tiktoken cl100k when it is cached,
else 4 characters per token) and says so; the server's usage figures then show the real size.

Each request gets a distinct fixed-width tag at the very start (`[bench 0007]`), so a server with
prefix caching cannot answer a later run's prefill from an earlier run's cache, while the token count
stays the same for every tag.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from zorac_tui.core.tokens import Estimator

Counter = Callable[[list[dict]], Awaitable[int | None]]

INSTRUCTIONS = (
    "Write a long, detailed essay inspired by the notes below. Keep writing at length: do not stop early, "
    "do not summarize, do not ask questions.",
    "Write at length about the notes below.",
    "",
)
# Short, common words: about one token each in most tokenizers, so the count moves in small steps.
WORDS = (
    "the old river ran past a quiet town where people built small boats of wood and stone each spring they "
    "walked to the hill to watch light fall on water and fields while birds sang over green roads and the "
    "long day ended in warm rooms with bread tea and stories of the sea"
).split()
MAX_STEPS = 14


@dataclass(frozen=True)
class BuiltPrompt:
    """A prompt sized to `target` tokens; `tokens` is its count (exact when `exact`)."""

    target: int
    tokens: int
    exact: bool
    source: str
    instruction: str
    filler_words: int

    def messages(self, tag: int) -> list[dict]:
        """The chat payload for one request, tagged with `tag` (0–9999; same token count for every tag)."""
        return compose(self.instruction, self.filler_words, tag)

    @property
    def label(self) -> str:
        """One line for the report: requested vs built and where the count comes from."""
        mark = "" if self.exact else "≈"
        size = f"{mark}{self.tokens:,}"
        return f"prompt {size} tokens ({self.source}; {self.target:,} requested)"


def compose(instruction: str, filler_words: int, tag: int = 0) -> list[dict]:
    """One user message: tag, instruction, then `filler_words` words of notes."""
    words = " ".join(WORDS[i % len(WORDS)] for i in range(filler_words))
    parts = [f"[bench {tag % 10000:04d}]"]
    if instruction:
        parts.append(instruction)
    text = " ".join(parts)
    if words:
        text += "\n\nNotes: " + words
    return [{"role": "user", "content": text}]


def tokenize_counter(base_url: str, model: str, api_key: str | None) -> Counter:
    """Exact counts through vLLM's POST /tokenize (chat template applied); None when it fails."""
    from zorac_tui.server.probe import tokenize_messages

    async def count(messages: list[dict]) -> int | None:
        return await tokenize_messages(base_url, messages, model, api_key)

    return count


async def estimate_counter() -> tuple[Counter, str]:
    """Approximate counts (tiktoken loaded in a thread, else chars/4) and the label saying which."""
    estimator = Estimator()
    await asyncio.to_thread(estimator.load)

    async def count(messages: list[dict]) -> int | None:
        return estimator.count_messages(messages)

    return count, f"≈ estimated with {estimator.source}"


async def fit(target: int, count: Counter) -> tuple[str, int, int] | None:
    """(instruction, filler words, tokens) closest to `target` (exact when possible); None when counting fails.

    Tries the instructions longest first; a prompt smaller than the shortest possible one (tag and chat
    template) comes out at that minimum.
    """
    best: tuple[str, int, int] | None = None
    for instruction in INSTRUCTIONS:
        found = await _fit_words(target, instruction, count)
        if found is None:
            return None
        if found[2] == target:
            return found
        if best is None or _closer(found[2], best[2], target):
            best = found
    return best


def _closer(a: int, b: int, target: int) -> bool:
    """Whether count `a` is a better fit than `b`: nearer the target, and not above it on a tie."""
    return (abs(a - target), a > target) < (abs(b - target), b > target)


async def _fit_words(target: int, instruction: str, count: Counter) -> tuple[str, int, int] | None:
    """The filler word count that brings `instruction` closest to `target` tokens (secant steps, bracketed)."""
    base = await count(compose(instruction, 0))
    if base is None:
        return None
    if base >= target:
        return instruction, 0, base
    lo, lo_count = 0, base  # count(lo) <= target
    hi: int | None = None  # count(hi) > target
    hi_count = 0
    k = target - base
    for _ in range(MAX_STEPS):
        c = await count(compose(instruction, k))
        if c is None:
            return None
        if c == target:
            return instruction, k, c
        if c < target:
            lo, lo_count = k, c
        else:
            hi, hi_count = k, c
        per_word = max((c - base) / k, 0.25) if k else 1.0
        guess = k + round((target - c) / per_word)
        guess = max(guess, lo + 1)
        if hi is not None:
            guess = min(guess, hi - 1)
            if guess <= lo:  # lo + 1 == hi: no word count hits the target exactly
                break
        k = guess
    if hi is not None and _closer(hi_count, lo_count, target):
        return instruction, hi, hi_count
    return instruction, lo, lo_count


async def build_prompt(target: int, *, base_url: str, model: str, api_key: str | None = None,
                       can_tokenize: bool = False) -> BuiltPrompt:
    """A prompt of about `target` tokens: exact with /tokenize, else an estimate labelled as one."""
    if can_tokenize:
        fitted = await fit(target, tokenize_counter(base_url, model, api_key))
        if fitted is not None:
            instruction, words, tokens = fitted
            return BuiltPrompt(target, tokens, True, "server /tokenize", instruction, words)
    count, source = await estimate_counter()
    if can_tokenize:
        source += " (/tokenize failed)"
    fitted = await fit(target, count)
    assert fitted is not None  # estimates never fail
    instruction, words, tokens = fitted
    return BuiltPrompt(target, tokens, False, source, instruction, words)
