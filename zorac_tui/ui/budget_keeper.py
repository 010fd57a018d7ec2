"""The budget keeper: how full the context window is, whether a prompt fits, and when to summarize."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from textual import work
from textual.message import Message as TextualMessage
from textual.timer import Timer
from textual.widget import Widget

from zorac_tui.config import Settings
from zorac_tui.core.budget import ContextBudget
from zorac_tui.core.conversation import Conversation, Message
from zorac_tui.core.summarize import SummaryPlan, plan_summary, summary_request
from zorac_tui.core.wording import prompt_too_long

if TYPE_CHECKING:
    from zorac_tui.ui.server_monitor import Connection

DRAFT_DEBOUNCE = 0.3
SUMMARY_MAX_TOKENS = 1024


class BudgetKeeper(Widget):
    """Owns the last measured ContextBudget and the summarize-then-retry intent; counts with the server's tokenizer."""

    DEFAULT_CSS = "BudgetKeeper { display: none; }"

    class Measured(TextualMessage):
        """A new measurement of the next request."""

        def __init__(self, budget: ContextBudget) -> None:
            """Carry the budget."""
            super().__init__()
            self.budget = budget

    class SummaryDue(TextualMessage):
        """After a reply the context passed the auto-summary threshold; summarizing is worth it."""

        def __init__(self, conversation: Conversation, budget: ContextBudget, threshold: float) -> None:
            """The conversation to summarize and the figures that made it due."""
            super().__init__()
            self.conversation, self.budget, self.threshold = conversation, budget, threshold

    def __init__(self, settings: Settings) -> None:
        """Count with `settings`' reply reserve and summary policy."""
        super().__init__()
        self.settings = settings
        self.connection: Connection | None = None
        self.budget: ContextBudget | None = None
        self.retry_after_summary = False  # a context-length error asked to summarize, then send again
        self._debounce: Timer | None = None  # counts the typed draft once the user pauses

    def _system(self, conversation: Conversation) -> str:
        """The system prompt the next request carries."""
        return conversation.system_prompt if conversation.system_prompt is not None else self.settings.system_prompt

    async def measure(self, conversation: Conversation, draft: str = "") -> ContextBudget | None:
        """Count every segment of the next request (exact when the server tokenizes); None before connecting."""
        connection = self.connection
        if connection is None:
            return None
        counter, system = connection.counter, self._system(conversation)
        summaries = Conversation(messages=[m for m in conversation.messages if m.role == "summary"])
        payloads = [
            [{"role": "system", "content": system}] if system.strip() else [],
            summaries.payload(system),
            conversation.payload(system),
        ]
        if draft:
            payloads.append(Conversation(messages=conversation.messages + [Message("user", draft)]).payload(system))
        counted = await asyncio.gather(*(counter.count(p) for p in payloads))
        sizes = [n for n, _ in counted]
        if len(sizes) == 3:
            sizes.append(sizes[2])
        self.budget = ContextBudget(
            window=connection.window, system=sizes[0], summary=max(0, sizes[1] - sizes[0]),
            history=max(0, sizes[2] - sizes[1]), draft=max(0, sizes[3] - sizes[2]), reserve=self.settings.max_tokens,
            exact=all(ok for _, ok in counted), count_source=counter.source, window_source=connection.window_source)
        self.post_message(self.Measured(self.budget))
        return self.budget

    @property
    def pending(self) -> bool:
        """A typed draft waits for its pause before it is counted."""
        return self._debounce is not None

    def recount(self, conversation: Conversation, draft: str, *, debounce: bool = False) -> None:
        """Recount the gauge (`debounce`: the user is typing: once they pause for DRAFT_DEBOUNCE s). A key
        only moves a timer: no worker per key (each costs a task and its state messages)."""
        if self._debounce is not None:
            self._debounce.stop()
            self._debounce = None
        if debounce:
            self._debounce = self.set_timer(DRAFT_DEBOUNCE, lambda: self._paused(conversation, draft))
            return
        self._measure_later(conversation, draft)

    def _paused(self, conversation: Conversation, draft: str) -> None:
        """The typing paused: count the draft (the timer has run out; nothing to stop)."""
        self._debounce = None
        self._measure_later(conversation, draft)

    # The descriptions are fixed: by default Textual writes one from the repr of every argument, and a long
    # conversation's repr is ~100 KB (about a millisecond) — on the loop, at each call.
    @work(exclusive=True, group="budget", exit_on_error=False, description="count the context gauge")
    async def _measure_later(self, conversation: Conversation, draft: str) -> None:
        """measure() in a worker (a newer recount cancels it)."""
        await self.measure(conversation, draft)

    @work(exclusive=True, group="auto-summary", exit_on_error=False, description="recount after a reply")
    async def after_reply(self, conversation: Conversation, payload: list[dict[str, str]],
                          prompt_tokens: int | None, complete: bool, draft: str) -> None:
        """Learn the sent prompt's exact size, recount, and say when an automatic summary is due."""
        if self.connection is not None and prompt_tokens is not None:
            await self.connection.counter.observe(payload, prompt_tokens)
        budget = await self.measure(conversation, draft)
        threshold = self.settings.summarize_threshold
        if not complete or budget is None or not self.settings.auto_summarize or \
                not budget.should_summarize(threshold) or self.plan(conversation) is None:
            return
        self.post_message(self.SummaryDue(conversation, budget, threshold))

    async def refusal(self, conversation: Conversation, text: str) -> str | None:
        """Why `text` cannot be sent (the prompt would not fit the window), or None when it fits."""
        budget = await self.measure(conversation, text)
        if budget is None or budget.fits():
            return None
        return prompt_too_long(budget.used, budget.window, budget.exact)

    def plan(self, conversation: Conversation) -> SummaryPlan | None:
        """Which messages a summary would replace now (None: too few beyond keep_recent)."""
        return plan_summary(conversation, self.settings.keep_recent)

    def summary_request(self, plan: SummaryPlan) -> tuple[list[dict[str, str]], int]:
        """The summary request for `plan` and its max_tokens."""
        # vLLM rejects max_tokens > max_model_len outright (400), so a small window caps the summary too.
        window = self.connection.window if self.connection is not None else self.settings.context_window
        return summary_request(plan, self.settings.summary_prompt), min(SUMMARY_MAX_TOKENS, window)

    def kv_note(self, kv_capacity_tokens: int | None) -> str:
        """How many conversations of this length the server's KV cache holds (when it says)."""
        if not kv_capacity_tokens or self.budget is None or not self.budget.used:
            return ""
        fits = kv_capacity_tokens // max(1, self.budget.used + self.budget.reserve)
        return f"KV {kv_capacity_tokens:,} tok = {fits:,}× this chat"
