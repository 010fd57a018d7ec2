"""Pure logic behind the context gauge and summarization: budget arithmetic, calibration, estimation, policy."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import pytest

from zorac_tui.core.budget import SEGMENTS, Calibration, ContextBudget
from zorac_tui.core.conversation import Conversation, Message, Status
from zorac_tui.core.summarize import (
    ROLE_NAMES,
    apply_summary,
    plan_summary,
    summary_request,
    transcript,
)
from zorac_tui.core.tokens import CL100K_URL, MESSAGE_OVERHEAD, Estimator, tiktoken_cache_path

# ----------------------------------------------------------------- ContextBudget


def budget(**kw) -> ContextBudget:
    """A budget on a 1,000-token window unless told otherwise."""
    return ContextBudget(**{"window": 1000, **kw})


def test_used_counts_every_segment_but_the_reserve():
    b = budget(system=10, summary=20, history=300, draft=70, reserve=200)
    assert b.used == 400
    assert b.fraction == pytest.approx(0.4)
    assert b.free == 1000 - 400 - 200
    assert b.segments() == [("system", 10), ("summary", 20), ("history", 300), ("draft", 70), ("reserve", 200)]
    assert [name for name, _ in b.segments()] == list(SEGMENTS)


def test_fraction_of_a_zero_window_is_zero():
    assert ContextBudget(window=0, history=5).fraction == 0.0


def test_fits_is_strict_and_free_goes_negative_when_over():
    assert budget(history=999).fits()
    assert not budget(history=1000).fits()  # a prompt filling the window leaves no room for even one token
    over = budget(history=1200, reserve=100)
    assert over.free == -300
    assert not over.fits_with_reserve()


def test_fits_with_reserve_boundary():
    assert budget(history=800, reserve=200).fits_with_reserve()  # free == 0 still fits
    assert not budget(history=801, reserve=200).fits_with_reserve()
    assert budget(history=801, reserve=200).fits()  # the server clamps the reply instead


@pytest.mark.parametrize(
    ("history", "reserve", "level"),
    [
        (0, 0, "ok"),
        (699, 0, "ok"),
        (700, 0, "warning"),  # 70 % of the window
        (500, 501, "warning"),  # below 70 % but the reply reserve no longer fits
        (500, 500, "ok"),
        (999, 0, "warning"),
        (1000, 0, "over"),
        (1500, 0, "over"),
    ],
)
def test_level_thresholds(history, reserve, level):
    assert budget(history=history, reserve=reserve).level() == level


def test_summarize_threshold_is_a_share_of_window_minus_reserve():
    b = budget(reserve=200)
    assert b.summarize_threshold_tokens(0.8) == 640  # 0.8 × (1000 − 200)
    assert b.summarize_threshold_tokens(0.5) == 400
    assert budget(reserve=1500).summarize_threshold_tokens(0.8) == 0  # never negative


def test_should_summarize_ignores_the_draft():
    b = budget(system=40, summary=0, history=500, draft=300, reserve=200)
    assert not b.should_summarize(0.8)  # 640 needed, 540 present; the 300-token draft does not count
    assert budget(system=40, history=600, reserve=200).should_summarize(0.8)  # 640 reached exactly
    assert not budget(system=40, history=599, reserve=200).should_summarize(0.8)
    assert budget(summary=300, history=340, reserve=200).should_summarize(0.8)  # summaries count too


def test_label_marks_estimates_only():
    exact = ContextBudget(window=16384, history=9812, exact=True)
    assert exact.label() == "9,812 / 16,384 tokens · 60%"
    estimated = ContextBudget(window=16384, history=9812, exact=False)
    assert estimated.label() == "≈9,812 / 16,384 tokens · 60%"


# ------------------------------------------------------------------ Calibration


def test_calibration_starts_neutral():
    cal = Calibration()
    assert cal.samples == 0
    assert cal.apply(123) == 123


def test_calibration_first_observation_sets_the_ratio_then_blends():
    cal = Calibration()
    cal.observe(estimated=100, true=150)
    assert cal.factor == pytest.approx(1.5)
    assert cal.apply(200) == 300
    cal.observe(estimated=100, true=100)  # ratio 1.0 blends half and half with 1.5
    assert cal.factor == pytest.approx(1.25)
    assert cal.samples == 2
    assert cal.apply(4) == 5


def test_calibration_ignores_empty_observations():
    cal = Calibration()
    cal.observe(0, 50)
    cal.observe(50, 0)
    assert cal.samples == 0
    assert cal.factor == 1.0


# -------------------------------------------------------------------- Estimator


def broken_loader():
    raise OSError("offline: cannot download cl100k_base\nsecond line")


class WordEncoding:
    """A tiktoken-like encoding: one token per whitespace-separated word."""

    def __init__(self):
        self.calls: list[tuple[str, object]] = []

    def encode(self, text: str, disallowed_special=None):
        self.calls.append((text, disallowed_special))
        return text.split()


def test_estimator_falls_back_to_four_chars_per_token_when_the_loader_fails():
    est = Estimator(loader=broken_loader)
    est.load()
    assert est.loaded
    assert est.load_error == "OSError: offline: cannot download cl100k_base"  # one line
    assert est.source == "4 chars/token"
    assert est.count("x" * 40) == 10
    assert est.count("x" * 42) == 11  # rounds half up
    assert est.count("") == 0


def test_estimator_loads_only_once():
    calls = []

    def loader():
        calls.append(1)
        return WordEncoding()

    est = Estimator(loader=loader)
    est.load()
    est.load()
    assert calls == [1]


def test_estimator_uses_the_encoding_when_it_loads():
    enc = WordEncoding()
    est = Estimator(loader=lambda: enc)
    assert est.source == "4 chars/token"  # nothing loaded yet
    est.load()
    assert est.load_error is None
    assert est.source == "tiktoken cl100k"
    assert est.count("one two three <|endoftext|>") == 4
    assert enc.calls[-1][1] == ()  # special tokens are counted as text, never refused


def test_count_messages_adds_template_overhead():
    est = Estimator(loader=lambda: WordEncoding())
    est.load()
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi there you"}]
    assert est.count_messages(messages) == (2 + MESSAGE_OVERHEAD) + (3 + MESSAGE_OVERHEAD) + 3
    assert est.count_messages([]) == 0


def test_tiktoken_cache_path_follows_tiktoken_rules(monkeypatch):
    digest = hashlib.sha1(CL100K_URL.encode()).hexdigest()
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    monkeypatch.delenv("DATA_GYM_CACHE_DIR", raising=False)
    assert tiktoken_cache_path() == Path(tempfile.gettempdir()) / "data-gym-cache" / digest
    monkeypatch.setenv("DATA_GYM_CACHE_DIR", "/data/gym")
    assert tiktoken_cache_path() == Path("/data/gym") / digest
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "/cache/tt")  # takes precedence
    assert tiktoken_cache_path() == Path("/cache/tt") / digest
    assert tiktoken_cache_path("https://example.invalid/x").name == hashlib.sha1(b"https://example.invalid/x").hexdigest()


def test_default_loader_refuses_to_download_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))  # empty cache
    monkeypatch.setenv("ZORAC_OFFLINE", "1")
    est = Estimator()
    est.load()
    assert est.source == "4 chars/token"
    assert "ZORAC_OFFLINE" in (est.load_error or "")


# ------------------------------------------------------------ summarize policy


def chat(n: int) -> list[Message]:
    """n alternating user/assistant messages: u0, a1, u2, …"""
    return [Message("user" if i % 2 == 0 else "assistant", f"message {i}") for i in range(n)]


def test_plan_keeps_the_last_k_and_replaces_the_rest():
    msgs = chat(6)
    conv = Conversation(messages=list(msgs))
    plan = plan_summary(conv, keep_recent=2)
    assert plan is not None
    assert plan.replaced == msgs[:4]
    assert plan.kept == msgs[4:]
    assert plan.count == 4


def test_plan_ignores_notices_and_needs_two_messages_to_fold():
    assert plan_summary(Conversation(messages=chat(3)), keep_recent=2) is None  # only one would fold
    assert plan_summary(Conversation(messages=chat(2)), keep_recent=6) is None
    msgs = chat(4)
    notice = Message("notice", "connected")
    conv = Conversation(messages=[notice, *msgs])
    plan = plan_summary(conv, keep_recent=2)
    assert plan is not None
    assert plan.replaced == msgs[:2]
    assert notice not in plan.replaced and notice not in plan.kept


def test_plan_with_keep_recent_zero_folds_everything():
    msgs = chat(3)
    plan = plan_summary(Conversation(messages=list(msgs)), keep_recent=0)
    assert plan is not None and plan.replaced == msgs and plan.kept == []
    negative = plan_summary(Conversation(messages=list(msgs)), keep_recent=-5)
    assert negative is not None and negative.replaced == msgs


def test_an_earlier_summary_alone_is_not_worth_folding_again():
    old = Message("summary", "earlier", archived=chat(4))
    conv = Conversation(messages=[old, *chat(3)])
    assert plan_summary(conv, keep_recent=2) is None  # summary + one message: only one real message folds


def test_earlier_summary_is_folded_into_the_new_archive():
    first_originals = chat(4)
    old = Message("summary", "the story so far", archived=list(first_originals))
    newer = chat(4)
    conv = Conversation(messages=[old, *newer])
    plan = plan_summary(conv, keep_recent=2)
    assert plan is not None
    assert plan.replaced == [old, *newer[:2]]
    assert plan.count == 4 + 2  # the earlier summary stands for its four originals
    new = Message("summary", "everything so far")
    apply_summary(conv, plan, new)
    assert new.archived == [*first_originals, old, *newer[:2]]
    assert conv.messages == [new, *newer[2:]]


def test_apply_summary_archives_everything_and_deletes_nothing():
    msgs = chat(8)
    msgs[3].status = Status.CANCELLED
    notice = Message("notice", "a notice stays where it was")
    conv = Conversation(messages=[*msgs[:5], notice, *msgs[5:]])
    before = {id(m) for m in conv.messages}
    plan = plan_summary(conv, keep_recent=3)
    assert plan is not None
    summary = Message("summary", "summary text")
    apply_summary(conv, plan, summary)
    assert conv.messages[0] is summary
    assert conv.messages[1:] == [notice, *msgs[5:]]
    assert [id(m) for m in summary.archived] == [id(m) for m in msgs[:5]]
    reachable = {id(m) for m in conv.messages} | {id(m) for m in summary.archived}
    assert before <= reachable  # every original object is still reachable


def test_transcript_names_roles_marks_cut_replies_and_skips_empty():
    msgs = [Message("user", "  What is 2+2?  "), Message("assistant", "4", status=Status.CANCELLED),
            Message("assistant", "   "), Message("summary", "We met."),
            Message("assistant", "oops", status=Status.ERROR)]
    text = transcript(msgs)
    assert text == ("### User\nWhat is 2+2?\n\n### Assistant (reply cut short)\n4\n\n"
                    "### Earlier summary\nWe met.\n\n### Assistant (reply cut short)\noops")
    assert set(ROLE_NAMES) == {"user", "assistant", "summary"}


def test_summary_request_is_chat_format_with_the_instruction_as_system():
    msgs = chat(4)
    plan = plan_summary(Conversation(messages=list(msgs)), keep_recent=2)
    assert plan is not None
    request = summary_request(plan, "Summarize tersely.")
    assert [m["role"] for m in request] == ["system", "user"]
    assert request[0]["content"] == "Summarize tersely."
    body = request[1]["content"]
    assert transcript(plan.replaced) in body
    assert "message 0" in body and "message 1" in body
    assert "message 2" not in body and "message 3" not in body  # kept messages are not summarized


def test_payload_with_a_summary_puts_it_in_the_system_message_and_leaves_archive_out():
    conv = Conversation(messages=chat(6))
    plan = plan_summary(conv, keep_recent=2)
    assert plan is not None
    apply_summary(conv, plan, Message("summary", "  We discussed messages 0 to 3.  "))
    payload = conv.payload("Be helpful.")
    assert payload == [
        {"role": "system", "content": "Be helpful.\n\nSummary of the earlier conversation:\nWe discussed messages 0 to 3."},
        {"role": "user", "content": "message 4"},
        {"role": "assistant", "content": "message 5"},
    ]
    assert "message 0" not in str(payload)


def test_payload_with_summary_and_no_system_prompt_and_kept_reply_first():
    conv = Conversation(messages=chat(5))
    plan = plan_summary(conv, keep_recent=2)  # keeps a3 and u4: the chat starts with an assistant turn
    assert plan is not None
    apply_summary(conv, plan, Message("summary", "S"))
    payload = conv.payload(None)
    assert payload[0] == {"role": "system", "content": "Summary of the earlier conversation:\nS"}
    assert payload[1] == {"role": "user", "content": "(continued)"}
    assert [m["role"] for m in payload] == ["system", "user", "assistant", "user"]


def test_an_empty_or_failed_summary_is_not_sent():
    conv = Conversation(messages=[Message("summary", "   "), Message("user", "hi")])
    assert conv.payload(None) == [{"role": "user", "content": "hi"}]
    conv.messages[0] = Message("summary", "text", status=Status.ERROR)
    assert conv.payload(None) == [{"role": "user", "content": "hi"}]
