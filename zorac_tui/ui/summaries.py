"""Summaries on the main screen: when one is due, starting one, and applying (or refusing) its result."""

from __future__ import annotations

from typing import TYPE_CHECKING

from zorac_tui.core.conversation import Status
from zorac_tui.core.summarize import apply_summary
from zorac_tui.core.wording import summary_not_applied

if TYPE_CHECKING:
    from zorac_tui.ui.budget_keeper import BudgetKeeper
    from zorac_tui.ui.main_screen import MainScreen
    from zorac_tui.ui.reply_session import ReplySession


async def summary_due(screen: MainScreen, event: BudgetKeeper.SummaryDue) -> None:
    """Past the auto-summary threshold after a reply: summarize the oldest messages."""
    if screen.reply.streaming or event.conversation is not screen.conversation:
        return
    screen.pane.add_notice(
        f"Context at {event.budget.fraction:.0%} — past the auto-summary threshold "
        f"({event.threshold:.0%} of window − reply reserve). Summarizing the oldest messages "
        "(set auto_summarize = false to turn this off).", level="warning")
    await start_summary(screen)


async def start_summary(screen: MainScreen) -> None:
    """Summarize what the keeper plans (or say there is nothing to summarize yet)."""
    plan = screen.budget.plan(screen.conversation)
    if plan is None:
        screen.pane.add_notice(f"Nothing to summarize yet: the last {screen.settings.keep_recent} "
                                   "messages are always kept verbatim (keep_recent).")
        return
    request, max_tokens = screen.budget.summary_request(plan)
    screen.reply.summarize(screen.conversation, plan, request, max_tokens)


async def summary_finished(screen: MainScreen, event: ReplySession.SummaryFinished) -> None:
    """Apply a complete summary (archiving what it replaces) or say why not; retry if that was asked."""
    summary, outcome, conversation = event.summary, event.outcome, event.conversation
    screen.pane.drop_live(summary)
    if outcome.status is not Status.COMPLETE or not summary.content.strip():
        reason = "cancelled" if outcome.status is Status.CANCELLED else (outcome.error or "empty summary")
        screen.pane.add_notice(summary_not_applied(reason), level="warning")
        screen.budget.retry_after_summary = False
        return
    summary.status = Status.COMPLETE
    apply_summary(conversation, event.plan, summary)
    screen.persistence.save_summary(summary, conversation)
    screen.pane.show(conversation)
    screen.pane.add_notice(f"Summarized {event.plan.count} messages; the originals are archived inside "
                               "the summary block (click it to expand).")
    screen.recount()
    if screen.budget.retry_after_summary:
        screen.budget.retry_after_summary = False
        screen.call_later(screen.action_retry)  # once the summary's worker has ended
