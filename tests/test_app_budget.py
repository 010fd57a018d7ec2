"""The context budget in the running app: exact gauge counts, the pre-send check, summarization.

Every test drives the real ZoracApp with Pilot against the simulator over HTTP on 127.0.0.1;
the only stand-in is FakePynvml for the GPU.
"""

from __future__ import annotations

from uihelpers import (
    SIZE,
    connected,
    fast_config,
    gauge_text,
    idle_budget,
    make_app,
    notices,
    running_simulator,
    send,
    set_prompt,
    wait_for,
    widget_text,
)

from zorac_tui.core.conversation import Status
from zorac_tui.core.tokens import Estimator
from zorac_tui.demo.simulator import Faults
from zorac_tui.server.probe import tokenize_messages
from zorac_tui.ui.gauge import ContextGauge
from zorac_tui.ui.messages import MessageView, StreamingReply, SummaryView
from zorac_tui.ui.prompt import PromptInput

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa "


def long_text(words: int) -> str:
    """A prompt of about `words` tokens in the simulator's tokenizer."""
    return " ".join((WORDS * (words // 10 + 1)).split()[:words])


def offline():
    """A tiktoken loader without network or cache."""
    raise OSError("no tiktoken encoding offline")


def tokenize_calls(sim) -> float:
    """How many POST /tokenize requests the simulator answered (its own http_requests_total)."""
    value = sim.simulator.metrics.registry.get_sample_value(
        "http_requests_total", {"handler": "/tokenize", "method": "POST", "status": "200"})
    return value or 0.0


def toasts(app) -> list[str]:
    """Texts of the notifications on screen."""
    return [widget_text(t) for t in app.screen.query("Toast")]


def message_ids(app) -> list[int]:
    """Identity of every message object, in order."""
    return [id(m) for m in app.pane.conversation.messages]


async def three_turns(pilot, words: int = 20) -> None:
    """Three finished exchanges with questions of about `words` tokens."""
    for i in range(3):
        await send(pilot, f"Question {i}: " + long_text(words))
    await idle_budget(pilot)


# ----------------------------------------------------------------------- gauge


async def test_gauge_shows_exact_counts_from_the_servers_tokenize():
    with running_simulator(fast_config(max_model_len=8192, answer_tokens=40)) as sim:
        app = make_app(sim, context_window=16384)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await send(pilot, "How large is the context window of this model?")
            await idle_budget(pilot)
            budget = app.budget
            payload = app.pane.conversation.payload(app.settings.system_prompt)
            exact = await tokenize_messages(sim.base_url, payload, app.model)
            system_only = await tokenize_messages(sim.base_url, payload[:1], app.model)
            assert exact is not None and system_only is not None
            assert budget.exact
            assert budget.used == exact
            assert budget.system == system_only
            assert budget.history == exact - system_only
            assert budget.window == 8192  # the server's max_model_len, not the configured 16,384
            text = gauge_text(app)
            counts_line, sources_line = text.splitlines()
            assert "≈" not in counts_line  # exact figures carry no estimate mark
            assert "≈" not in sources_line.split("· KV cache")[0]  # (the KV-cache note is an estimate)
            assert f" {exact:,} / 8,192 tokens" in counts_line
            assert "· server /tokenize ·" in text
            assert "window server" in text


async def test_draft_segment_follows_typing_debounced():
    with running_simulator(fast_config()) as sim:
        app = make_app(sim)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await idle_budget(pilot)
            assert app.budget.draft == 0
            calls_before = tokenize_calls(sim)
            keys = list("count my draft")
            await pilot.press(*[{" ": "space"}.get(k, k) for k in keys])
            assert app.query_one(PromptInput).text == "count my draft"
            await wait_for(pilot, lambda: app.budget.draft > 0, what="draft segment")
            await idle_budget(pilot)
            system = app.settings.system_prompt
            base = [{"role": "system", "content": system}]
            with_draft = base + [{"role": "user", "content": "count my draft"}]
            expected = await tokenize_messages(sim.base_url, with_draft, app.model) - await tokenize_messages(
                sim.base_url, base, app.model)
            assert app.budget.draft == expected
            assert f"draft {expected:,}" in gauge_text(app)
            # Debounced: the drafts in between keystrokes were (mostly) never sent to /tokenize.
            typed = "count my draft"
            counted = [typed[:n] for n in range(1, len(typed))
                       if app.counter.known(base + [{"role": "user", "content": typed[:n]}]) is not None]
            assert len(counted) < len(typed) / 2, counted
            assert tokenize_calls(sim) - calls_before < len(keys) / 2
            # Deleting the draft brings the segment back to zero.
            await pilot.press("shift+home", "backspace")
            assert app.query_one(PromptInput).text == ""
            await wait_for(pilot, lambda: app.budget.draft == 0, what="draft back to zero")


async def test_llamacpp_gauge_is_an_estimate_with_a_configured_window(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "empty-tiktoken-cache"))  # offline: chars/4
    with running_simulator(fast_config(profile="llamacpp", answer_tokens=30)) as sim:
        app = make_app(sim, context_window=6000)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            text = gauge_text(app)
            assert not app.budget.exact
            assert app.budget.window == 6000
            assert "≈" in app.budget.label() and f"≈{app.budget.used:,} / 6,000 tokens" in text
            assert "· ≈ 4 chars/token" in text
            assert "window configured" in text
            await send(pilot, "Tell me something about estimates.")
            await idle_budget(pilot)
            assert app.pane.conversation.messages[-1].status is Status.COMPLETE
            # The estimate is what it says: characters / 4 plus per-message template overhead.
            chars4 = Estimator(loader=offline)
            chars4.load()
            payload = app.pane.conversation.payload(app.settings.system_prompt)
            assert app.budget.used == chars4.count_messages(payload)
            assert app.budget.system == chars4.count_messages(payload[:1])
            assert f"≈{app.budget.used:,} / 6,000 tokens" in gauge_text(app)
            assert not app.budget.exact


# -------------------------------------------------------------- pre-send check


async def test_overflow_is_caught_before_sending():
    with running_simulator(fast_config(max_model_len=512, answer_tokens=20)) as sim:
        app = make_app(sim, max_tokens=64)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await send(pilot, "A short question first.")
            sent_before = len(sim.simulator.requests)
            messages_before = message_ids(app)
            prompt_text = "Please read all of this: " + long_text(600)
            set_prompt(app, prompt_text)
            await pilot.press("enter")
            await wait_for(pilot, lambda: any("not sent" in n for n in notices(app)), what="not-sent notice")
            notice = next(n for n in notices(app) if "not sent" in n)
            assert "512-token window" in notice
            assert "\n" not in notice
            assert app.query_one(PromptInput).text == prompt_text  # the text stays in the prompt
            assert message_ids(app) == messages_before  # nothing added to the conversation
            assert app.query_one(ContextGauge).has_class("-over")
            await pilot.pause(0.2)
            assert len(sim.simulator.requests) == sent_before  # nothing reached the server
            assert not app.streaming


async def test_server_context_error_offers_summarize_then_retries():
    # The server restarts with a smaller --max-model-len than it reported when the app connected:
    # the app's own check passes, the server refuses the prompt with its context-length error.
    with running_simulator(fast_config(answer_tokens=30)) as sim:
        app = make_app(sim, keep_recent=2, max_tokens=64, auto_summarize=False)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await connected(pilot)
            await three_turns(pilot, words=320)
            question = "And now the long one: " + long_text(150)
            # (kept above 1,024 so that the summary's own max_tokens stays acceptable to the server)
            sim.simulator.config.max_model_len = app.budget.used + 100
            assert sim.simulator.config.max_model_len > 1024
            await send(pilot, question)
            failed = app.pane.conversation.messages[-1]
            assert failed.status is Status.ERROR
            assert "does not fit the model's context window" in (failed.error or "")
            assert app.retry_after_summary
            await wait_for(pilot, lambda: any("Ctrl+S summarizes" in t for t in toasts(app)), what="offer toast")
            sent = len(sim.simulator.requests)
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: len(sim.simulator.requests) >= sent + 2 and not app.streaming
                           and app.pane.conversation.messages[-1].status is Status.COMPLETE,
                           what="summary, then the retried reply")
            messages = app.pane.conversation.messages
            assert [m.role for m in messages] == ["summary", "user", "assistant"]
            assert messages[1].content == question
            assert failed not in messages  # the failed reply was replaced by the retried one
            summary_req, retry_req = sim.simulator.requests[sent:sent + 2]
            assert "Here is the conversation to summarize" in summary_req["messages"][-1]["content"]
            assert retry_req["messages"][-1] == {"role": "user", "content": question}
            assert "Summary of the earlier conversation" in retry_req["messages"][0]["content"]
            assert not app.retry_after_summary


# ---------------------------------------------------------------- summarizing


async def run_manual_summary(trigger: str) -> None:
    """Three turns, then summarize with `trigger` (a key or a slash command) and check the result."""
    with running_simulator(fast_config(answer_tokens=40)) as sim:
        app = make_app(sim, keep_recent=2, auto_summarize=False)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await three_turns(pilot)
            originals = list(app.pane.conversation.messages)
            used_before = app.budget.used
            sent = len(sim.simulator.requests)
            if trigger.startswith("/"):
                set_prompt(app, trigger)
                await pilot.press("enter")
            else:
                await pilot.press(trigger)
            await wait_for(pilot, lambda: app.pane.conversation.messages[0].role == "summary" and not app.streaming,
                           what="summary applied")
            await idle_budget(pilot)
            summary = app.pane.conversation.messages[0]
            assert summary.status is Status.COMPLETE and summary.content.strip()
            assert [id(m) for m in summary.archived] == [id(m) for m in originals[:4]]
            assert [id(m) for m in app.pane.conversation.messages[1:]] == [id(m) for m in originals[4:]]
            assert len(sim.simulator.requests) == sent + 1
            assert "Question 0" in sim.simulator.requests[-1]["messages"][-1]["content"]
            # The gauge dropped and now shows a summary segment.
            assert app.budget.used < used_before
            assert app.budget.summary > 0
            assert app.query_one(PromptInput).text == ""
            view = app.pane.query_one(SummaryView)
            titles = [widget_text(t) for t in view.query("CollapsibleTitle")]
            assert any("Summary of 4 messages" in t for t in titles)
            # The archive mounts its messages only when opened.
            archive = view.query_one(".archive")
            assert not archive.query(MessageView)
            archive_title = archive.query_one("CollapsibleTitle")
            archive_title.focus()
            await pilot.press("enter")
            await wait_for(pilot, lambda: len(archive.query(MessageView)) == 4, what="archived messages mounted")
            assert [v.message for v in archive.query(MessageView)] == originals[:4]
            assert any("Summarized 4 messages" in n for n in notices(app))


async def test_summarize_with_ctrl_s():
    await run_manual_summary("ctrl+s")


async def test_summarize_with_slash_command():
    await run_manual_summary("/summarize")


async def test_nothing_to_summarize_says_so():
    with running_simulator(fast_config(answer_tokens=10)) as sim:
        app = make_app(sim, keep_recent=6, auto_summarize=False)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await send(pilot, "Just one question.")
            before = message_ids(app)
            sent = len(sim.simulator.requests)
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: any("Nothing to summarize" in n for n in notices(app)), what="notice")
            assert message_ids(app) == before
            assert len(sim.simulator.requests) == sent


async def test_auto_summary_runs_after_a_reply_past_the_threshold():
    with running_simulator(fast_config(max_model_len=4096, answer_tokens=40)) as sim:
        # threshold 0.03 × (4096 − 256) = 115 tokens: crossed by the second exchange, not the first.
        app = make_app(sim, auto_summarize=True, summarize_threshold=0.03, keep_recent=2, max_tokens=256)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await send(pilot, "First: " + long_text(20))
            await idle_budget(pilot)
            assert not app.budget.should_summarize(0.03)
            assert all(m.role != "summary" for m in app.pane.conversation.messages)
            first_exchange = list(app.pane.conversation.messages)
            second_reply = await send(pilot, "Second: " + long_text(20))
            await wait_for(pilot, lambda: app.pane.conversation.messages[0].role == "summary" and not app.streaming,
                           what="automatic summary")
            summary = app.pane.conversation.messages[0]
            assert [id(m) for m in summary.archived] == [id(m) for m in first_exchange]
            assert app.pane.conversation.messages[-1] is second_reply  # the last keep_recent=2 stay verbatim
            assert any("Summarized 2 messages" in n for n in notices(app))


async def test_no_auto_summary_when_turned_off():
    with running_simulator(fast_config(max_model_len=4096, answer_tokens=40)) as sim:
        app = make_app(sim, auto_summarize=False, summarize_threshold=0.05, keep_recent=2, max_tokens=256)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await three_turns(pilot)
            assert app.budget.should_summarize(0.05)  # past the threshold …
            await pilot.pause(0.2)
            assert len(sim.simulator.requests) == 3  # … yet no summary request was made
            assert [m.role for m in app.pane.conversation.messages] == ["user", "assistant"] * 3


async def test_failed_summary_leaves_history_unchanged():
    with running_simulator(fast_config(answer_tokens=30)) as sim:
        app = make_app(sim, keep_recent=2, auto_summarize=False)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await three_turns(pilot)
            before = message_ids(app)
            contents = [m.content for m in app.pane.conversation.messages]
            sim.simulator.config.faults = Faults(http_status=500, once=True)
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: any("Summary not applied" in n for n in notices(app)), what="failure notice")
            await idle_budget(pilot)
            notice = next(n for n in notices(app) if "Summary not applied" in n)
            assert "HTTP 500" in notice and "unchanged" in notice and "\n" not in notice
            assert message_ids(app) == before
            assert [m.content for m in app.pane.conversation.messages] == contents
            assert all(m.archived == [] for m in app.pane.conversation.messages)
            assert not app.pane.query(SummaryView) and not app.pane.query(StreamingReply)
            assert len(app.pane.query(MessageView)) == 6


async def test_cancelled_summary_leaves_history_unchanged():
    with running_simulator(fast_config(answer_tokens=30)) as sim:
        app = make_app(sim, keep_recent=2, auto_summarize=False)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await three_turns(pilot)
            before = message_ids(app)
            sim.simulator.config.rate = 5.0  # a slow summary
            sim.simulator.config.answer_tokens = 200
            await pilot.press("ctrl+s")
            live = await wait_for(pilot, lambda: next(iter(app.pane.query(StreamingReply)), None), what="summary")
            await wait_for(pilot, lambda: live.message.content, what="first summary tokens")
            assert app.streaming
            await pilot.press("escape")
            await wait_for(pilot, lambda: any("Summary not applied (cancelled)" in n for n in notices(app)),
                           what="cancel notice")
            await idle_budget(pilot)
            notice = next(n for n in notices(app) if "Summary not applied" in n)
            assert notice == "Summary not applied (cancelled) — the conversation is unchanged."
            assert message_ids(app) == before
            assert all(m.role != "summary" for m in app.pane.conversation.messages)
            assert not app.pane.query(StreamingReply) and not app.pane.query(SummaryView)
            assert not app.streaming
