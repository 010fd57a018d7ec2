"""The app's context-budget flow: live gauge counts, the pre-send check, and summarization."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from textual import work

from zorac_tui.core.budget import ContextBudget
from zorac_tui.core.conversation import Conversation, Message, Status
from zorac_tui.core.summarize import apply_summary, plan_summary, summary_request
from zorac_tui.core.throughput import ThroughputMeter
from zorac_tui.ui.gauge import ContextGauge
from zorac_tui.ui.prompt import PromptInput
from zorac_tui.ui.sidebar import Sidebar
from zorac_tui.ui.streaming import pump

if TYPE_CHECKING:
    from zorac_tui.server.counting import TokenCounter
    from zorac_tui.ui.app import ZoracApp

DRAFT_DEBOUNCE = 0.3
SUMMARY_MAX_TOKENS = 1024


class BudgetFlow:
    """Mixin for ZoracApp: how full the context is, and what happens near the limit."""

    counter: TokenCounter | None = None
    retry_after_summary = False
    budget: ContextBudget | None = None

    learned_window: int | None = None  # stated by the server's context-length error (llama.cpp says it nowhere else)

    @property
    def window(self: ZoracApp) -> tuple[int, str]:
        """The context window and where it came from."""
        if self.max_model_len:
            return self.max_model_len, "server"
        if self.learned_window:
            return self.learned_window, "from error"
        return self.settings.context_window, "configured"

    async def learn_window(self: ZoracApp, error: str | None) -> None:
        """After a context-length error: ask the server its window again (it may have restarted with
        another one); a server that does not say (llama.cpp) states it in the error. Adopt a change."""
        from zorac_tui.server.errors import context_limit
        from zorac_tui.server.probe import probe

        current, source = self.window
        info = await probe(self.settings.base_url, self.settings.api_key)
        served = next((m for m in info.models if m.id == self.model), None)
        if served is not None and served.max_model_len:
            self.max_model_len = limit = served.max_model_len
        elif (limit := context_limit(error)) is not None and not self.max_model_len:
            self.learned_window = limit
        if limit is None or limit == current or self.shutting_down:
            return
        self.show_server_identity()
        self.notify(f"The server's context window is {limit:,} tokens (the gauge used {current:,}, {source}); "
                    "the gauge uses it now.", severity="warning", timeout=8, markup=False)
        self.recount()

    async def measure(self: ZoracApp, draft: str = "") -> ContextBudget:
        """Count every segment of the next request; exact when the server tokenizes."""
        assert self.counter is not None
        conversation = self.pane.conversation
        system = self.settings.system_prompt
        summaries = Conversation(messages=[m for m in conversation.messages if m.role == "summary"])
        with_draft = Conversation(messages=conversation.messages + [Message("user", draft)]) if draft else None
        payloads = [
            [{"role": "system", "content": system}] if system.strip() else [],
            summaries.payload(system),
            conversation.payload(system),
        ]
        if with_draft is not None:
            payloads.append(with_draft.payload(system))
        counted = await asyncio.gather(*(self.counter.count(p) for p in payloads))
        sizes = [n for n, _ in counted]
        exact = all(ok for _, ok in counted)
        if len(sizes) == 3:
            sizes.append(sizes[2])
        window, window_source = self.window
        return ContextBudget(window=window, system=sizes[0], summary=max(0, sizes[1] - sizes[0]),
                             history=max(0, sizes[2] - sizes[1]), draft=max(0, sizes[3] - sizes[2]),
                             reserve=self.settings.max_tokens, exact=exact, count_source=self.counter.source,
                             window_source=window_source)

    async def update_gauge(self: ZoracApp, draft: str) -> ContextBudget | None:
        """Measure and show the budget."""
        if self.counter is None:
            return None
        self.budget = budget = await self.measure(draft)
        self.query_one(ContextGauge).show_budget(budget, self.kv_note())
        return budget

    @work(exclusive=True, group="budget", exit_on_error=False)
    async def recount(self: ZoracApp, draft: str | None = None) -> None:
        """Recount the gauge; typing is debounced."""
        if draft is None:
            draft = self.query_one(PromptInput).text
        else:
            await asyncio.sleep(DRAFT_DEBOUNCE)
        await self.update_gauge(draft)

    @work(exclusive=True, group="auto-summary", exit_on_error=False)
    async def check_after_reply(self: ZoracApp) -> None:
        """Recount after a reply and summarize automatically past the threshold."""
        budget = await self.update_gauge(self.query_one(PromptInput).text)
        threshold = self.settings.summarize_threshold
        if budget is None or not self.settings.auto_summarize or not budget.should_summarize(threshold):
            return
        if self.streaming or plan_summary(self.pane.conversation, self.settings.keep_recent) is None:
            return
        await self.pane.add_notice(
            f"Context at {budget.fraction:.0%} — past the auto-summary threshold "
            f"({threshold:.0%} of window − reply reserve). Summarizing the oldest messages "
            "(set auto_summarize = false to turn this off).", level="warning")
        self.start_summary()

    def kv_note(self: ZoracApp) -> str:
        """How many conversations of this length the server's KV cache holds (when it says)."""
        capacity = self.query_one(Sidebar).kv_capacity_tokens
        if not capacity or self.budget is None or not self.budget.used:
            return ""
        fits = capacity // max(1, self.budget.used + self.budget.reserve)
        return f"KV {capacity:,} tok = {fits:,}× this chat"

    def on_prompt_input_draft_changed(self: ZoracApp, event: PromptInput.DraftChanged) -> None:
        """Live draft segment."""
        self.recount(event.text)

    async def prompt_fits(self: ZoracApp, text: str) -> bool:
        """Catch a prompt that cannot fit before the server does; the text stays in the prompt."""
        if self.counter is None:
            return True
        budget = await self.update_gauge(text)
        if budget is None or budget.fits():
            return True
        approx = "" if budget.exact else "≈"
        await self.pane.add_notice(
            f"This message would make the prompt {approx}{budget.used:,} tokens, over the "
            f"{budget.window:,}-token window — not sent (your text stays in the prompt). "
            "Summarize older messages with Ctrl+S or /summarize, or shorten it.", level="error")
        return False

    def offer_summarize_and_retry(self: ZoracApp) -> None:
        """After the server's context-length error: Ctrl+S summarizes and then retries."""
        self.retry_after_summary = True
        self.notify("The conversation no longer fits — Ctrl+S summarizes older messages and retries.",
                    severity="warning", timeout=8)

    # ------------------------------------------------------------- summarizing
    def action_summarize(self: ZoracApp) -> None:
        """Summarize all but the most recent messages (Ctrl+S, /summarize)."""
        if self.streaming:
            self.notify("Wait for the reply to finish (or Esc) before summarizing.", severity="warning")
            return
        if self.client is None:
            self.notify("Not connected — summarizing needs the server.", severity="warning")
            return
        self.start_summary()

    def start_summary(self: ZoracApp) -> None:
        """Launch the summary worker (shares the reply slot: Esc cancels it)."""
        self.reply_worker = self.run_worker(self.stream_summary(), group="reply", exclusive=True)

    async def stream_summary(self: ZoracApp) -> None:
        """Stream a summary; only a complete one replaces history, which it archives."""
        conversation = self.pane.conversation
        plan = plan_summary(conversation, self.settings.keep_recent)
        if plan is None:
            await self.pane.add_notice(f"Nothing to summarize yet: the last {self.settings.keep_recent} "
                                       "messages are always kept verbatim (keep_recent).")
            return
        summary = Message("summary", "", status=Status.STREAMING)
        live = await self.pane.start_reply(summary, label=f"Summary of {plan.count} messages (streaming…)")
        meter = ThroughputMeter(time.perf_counter())
        request = summary_request(plan, self.settings.summary_prompt)
        # vLLM rejects max_tokens > max_model_len outright (400), so a small window caps the summary too.
        max_tokens = min(SUMMARY_MAX_TOKENS, self.window[0])
        events = self.client.stream(request, model=self.model, max_tokens=max_tokens,
                                    temperature=self.settings.temperature)
        outcome = await pump(events, live, meter)
        if self.shutting_down or not live.is_attached:
            return
        await live.finish()
        await live.remove()
        if outcome.status is not Status.COMPLETE or not summary.content.strip():
            reason = "cancelled" if outcome.status is Status.CANCELLED else (outcome.error or "empty summary")
            await self.pane.add_notice(f"Summary not applied ({reason}) — the conversation is unchanged.",
                                       level="warning")
            self.retry_after_summary = False
            return
        summary.status = Status.COMPLETE
        apply_summary(conversation, plan, summary)
        self.persist_summary(summary)
        await self.pane.show(conversation)
        await self.pane.add_notice(f"Summarized {plan.count} messages; the originals are archived inside the "
                                   "summary block (click it to expand).")
        self.recount()
        if self.retry_after_summary:
            self.retry_after_summary = False
            # Once this worker has ended: action_retry refuses while the reply slot (this summary) is busy.
            self.call_later(self.action_retry)
