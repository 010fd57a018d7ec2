"""Summarization policy: which messages to fold into a summary, and the request that summarizes them."""

from __future__ import annotations

from dataclasses import dataclass

from zorac_tui.core.conversation import Conversation, Message, Status

ROLE_NAMES = {"user": "User", "assistant": "Assistant", "summary": "Earlier summary"}


@dataclass(frozen=True)
class SummaryPlan:
    """The messages a summary replaces (oldest first) and the ones kept verbatim."""

    replaced: list[Message]
    kept: list[Message]

    @property
    def count(self) -> int:
        """How many messages the summary stands for (including those an earlier summary held)."""
        return sum(max(1, len(m.archived)) if m.role == "summary" else 1 for m in self.replaced)


def plan_summary(conversation: Conversation, keep_recent: int) -> SummaryPlan | None:
    """Fold everything but the last `keep_recent` chat messages; None when there is too little."""
    chat = [m for m in conversation.messages if m.role in ROLE_NAMES]
    keep_recent = max(0, keep_recent)
    replaced = chat[:-keep_recent] if keep_recent else chat
    if len([m for m in replaced if m.role != "summary"]) < 2:
        return None
    gone = {id(m) for m in replaced}
    kept = [m for m in conversation.messages if id(m) not in gone and m.role in ROLE_NAMES]
    return SummaryPlan(replaced=replaced, kept=kept)


def transcript(messages: list[Message]) -> str:
    """The replaced messages as a plain transcript for the summarizer."""
    parts = []
    for m in messages:
        if not m.content.strip():
            continue
        suffix = " (reply cut short)" if m.status in (Status.CANCELLED, Status.ERROR) else ""
        parts.append(f"### {ROLE_NAMES[m.role]}{suffix}\n{m.content.strip()}")
    return "\n\n".join(parts)


def summary_request(plan: SummaryPlan, instruction: str) -> list[dict[str, str]]:
    """Chat messages asking the model to summarize the plan's messages."""
    return [
        {"role": "system", "content": instruction},
        {"role": "user", "content": "Here is the conversation to summarize:\n\n" + transcript(plan.replaced)
         + "\n\nWrite the summary now."},
    ]


def apply_summary(conversation: Conversation, plan: SummaryPlan, summary: Message) -> None:
    """Replace the planned messages with `summary`, which keeps them as its archive (nothing deleted)."""
    archive: list[Message] = []
    for m in plan.replaced:
        archive.extend(m.archived if m.role == "summary" else [m])
        if m.role == "summary":
            archive.append(m)
    summary.archived = archive
    replaced = {id(m) for m in plan.replaced}
    conversation.messages = [summary] + [m for m in conversation.messages if id(m) not in replaced]
