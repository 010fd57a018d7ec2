"""The context budget in the running app: exact gauge counts, the pre-send check, summarization.

Every test drives the real ZoracApp with Pilot against the simulator over HTTP on 127.0.0.1;
the only stand-in is FakePynvml for the GPU.
"""

from __future__ import annotations

from appdriver import (
    SIZE,
    Faults,
    Status,
    ask,
    budget,
    connected,
    conversation,
    counter,
    gauge,
    gauge_lines,
    idle_budget,
    is_streaming,
    live_reply,
    make_app,
    message_views,
    messages,
    model,
    notices,
    pane,
    press_now,
    prompt,
    retry_after_summary,
    running_simulator,
    send,
    settings,
    summary_view,
    toasts,
    type_text,
    user_texts,
    wait_for,
    workers_running,
)

from zorac_tui.core.tokens import Estimator
from zorac_tui.server.probe import tokenize_messages
from zorac_tui.ui import budget_keeper

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


def message_ids(app) -> list[int]:
    """Identity of every message object, in order."""
    return [id(m) for m in messages(app)]


async def three_turns(pilot, words: int = 20) -> None:
    """Three finished exchanges with questions of about `words` tokens."""
    for i in range(3):
        await ask(pilot, f"Question {i}: " + long_text(words))
    await idle_budget(pilot)


# ----------------------------------------------------------------------- gauge


async def test_gauge_shows_exact_counts_from_the_servers_tokenize():
    with running_simulator(max_model_len=8192, answer_tokens=40) as sim:
        app = make_app(sim, context_window=16384)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await ask(pilot, "How large is the context window of this model?")
            await idle_budget(pilot)
            measured = budget(app)
            payload = conversation(app).payload(settings(app).system_prompt)
            exact = await tokenize_messages(sim.base_url, payload, model(app))
            system_only = await tokenize_messages(sim.base_url, payload[:1], model(app))
            assert exact is not None and system_only is not None
            assert measured.exact
            assert measured.used == exact
            assert measured.system == system_only
            assert measured.history == exact - system_only
            assert measured.window == 8192  # the server's max_model_len, not the configured 16,384
            counts_line, sources_line = gauge_lines(app)
            assert "≈" not in counts_line  # exact figures carry no estimate mark
            assert "≈" not in sources_line.split("· KV")[0]  # (the KV-cache note is an estimate)
            assert f" {exact:,} / 8,192 tokens" in counts_line
            assert "· server /tokenize ·" in sources_line
            assert "window server" in sources_line


async def test_draft_segment_follows_typing_debounced():
    with running_simulator() as sim:
        app = make_app(sim)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await idle_budget(pilot)
            assert budget(app).draft == 0
            calls_before = tokenize_calls(sim)
            keys = list("count my draft")
            await type_text(pilot, "count my draft")  # each key well within the 0.3 s debounce of the last
            assert prompt(app).text == "count my draft"
            system = settings(app).system_prompt
            base = [{"role": "system", "content": system}]
            with_draft = base + [{"role": "user", "content": "count my draft"}]
            expected = await tokenize_messages(sim.base_url, with_draft, model(app)) - await tokenize_messages(
                sim.base_url, base, model(app))
            await wait_for(pilot, lambda: budget(app).draft == expected, what="the whole draft counted")
            await idle_budget(pilot)
            assert budget(app).draft == expected
            assert f"draft {expected:,}" in gauge_lines(app)[1]
            # Debounced: the drafts in between keystrokes were (mostly) never sent to /tokenize.
            typed = "count my draft"
            counted = [typed[:n] for n in range(1, len(typed))
                       if counter(app).known(base + [{"role": "user", "content": typed[:n]}]) is not None]
            assert len(counted) < len(typed) / 2, counted
            assert tokenize_calls(sim) - calls_before < len(keys) / 2
            # Deleting the draft brings the segment back to zero.
            await pilot.press("shift+home", "backspace")
            assert prompt(app).text == ""
            await wait_for(pilot, lambda: budget(app).draft == 0, what="draft back to zero")


async def test_typing_moves_a_timer_and_starts_no_worker(monkeypatch):
    """Each key used to start (and cancel) a recount worker: a task, its state messages and a description
    built from the conversation's repr. Now keys only move the pause timer; the count starts after it."""
    monkeypatch.setattr(budget_keeper, "DRAFT_DEBOUNCE", 60.0)  # no pause ends during this test
    with running_simulator() as sim:
        app = make_app(sim)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await idle_budget(pilot)
            keeper = app.query_one(budget_keeper.BudgetKeeper)
            started = []
            original = keeper._measure_later
            monkeypatch.setattr(keeper, "_measure_later", lambda *a: started.append(a) or original(*a))
            await type_text(pilot, "one key at a time")
            assert keeper.pending
            assert not workers_running(app, "budget")
            assert started == []
            app.main.recount()  # an immediate recount (the connection, a reply) replaces the pending one
            assert not keeper.pending
            assert len(started) == 1 and started[0][1] == "one key at a time"
            await idle_budget(pilot)


async def test_llamacpp_gauge_is_an_estimate_with_a_configured_window(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "empty-tiktoken-cache"))  # offline: chars/4
    with running_simulator(profile="llamacpp", answer_tokens=30) as sim:
        app = make_app(sim, context_window=6000)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            text = "\n".join(gauge_lines(app))
            assert not budget(app).exact
            assert budget(app).window == 6000
            assert "≈" in budget(app).label() and f"≈{budget(app).used:,} / 6,000 tokens" in text
            assert "· ≈ 4 chars/token" in text
            assert "window configured" in text
            await ask(pilot, "Tell me something about estimates.")
            await idle_budget(pilot)
            assert messages(app)[-1].status is Status.COMPLETE
            # The estimate is what it says: characters / 4 plus per-message template overhead.
            chars4 = Estimator(loader=offline)
            chars4.load()
            payload = conversation(app).payload(settings(app).system_prompt)
            assert budget(app).used == chars4.count_messages(payload)
            assert budget(app).system == chars4.count_messages(payload[:1])
            assert f"≈{budget(app).used:,} / 6,000 tokens" in gauge_lines(app)[0]
            assert not budget(app).exact


# -------------------------------------------------------------- pre-send check


async def test_overflow_is_caught_before_sending():
    with running_simulator(max_model_len=512, answer_tokens=20) as sim:
        app = make_app(sim, max_tokens=64)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await ask(pilot, "A short question first.")
            sent_before = len(sim.simulator.requests)
            messages_before = message_ids(app)
            prompt_text = "Please read all of this: " + long_text(600)
            send(pilot, prompt_text)
            await wait_for(pilot, lambda: any("not sent" in n for n in notices(app)), what="not-sent notice")
            notice = next(n for n in notices(app) if "not sent" in n)
            assert "512-token window" in notice
            assert "\n" not in notice
            assert prompt(app).text == prompt_text  # the text stays in the prompt
            assert message_ids(app) == messages_before  # nothing added to the conversation
            assert gauge(app).has_class("-over")
            await pilot.pause(0.2)  # time for a request that must not come
            assert len(sim.simulator.requests) == sent_before  # nothing reached the server
            assert not is_streaming(app)


async def test_server_context_error_offers_summarize_then_retries():
    # The server restarts with a smaller --max-model-len than it reported when the app connected:
    # the app's own check passes, the server refuses the prompt with its context-length error.
    with running_simulator(answer_tokens=30) as sim:
        app = make_app(sim, keep_recent=2, max_tokens=64, auto_summarize=False)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await connected(pilot)
            await three_turns(pilot, words=320)
            question = "And now the long one: " + long_text(150)
            # (kept above 1,024 so that the summary's own max_tokens stays acceptable to the server)
            sim.simulator.config.max_model_len = budget(app).used + 100
            assert sim.simulator.config.max_model_len > 1024
            await ask(pilot, question)
            failed = messages(app)[-1]
            assert failed.status is Status.ERROR
            assert "does not fit the model's context window" in (failed.error or "")
            assert retry_after_summary(app)
            await wait_for(pilot, lambda: any("Ctrl+S summarizes" in t for t in toasts(app)), what="offer toast")
            sent = len(sim.simulator.requests)
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: len(sim.simulator.requests) >= sent + 2 and not is_streaming(app)
                           and messages(app)[-1].status is Status.COMPLETE,
                           what="summary, then the retried reply")
            now = messages(app)
            assert [m.role for m in now] == ["summary", "user", "assistant"]
            assert now[1].content == question
            assert failed not in now  # the failed reply was replaced by the retried one
            summary_req, retry_req = sim.simulator.requests[sent:sent + 2]
            assert "Here is the conversation to summarize" in summary_req["messages"][-1]["content"]
            assert retry_req["messages"][-1] == {"role": "user", "content": question}
            assert "Summary of the earlier conversation" in retry_req["messages"][0]["content"]
            assert not retry_after_summary(app)


# ---------------------------------------------------------------- summarizing


async def test_ctrl_s_summarizes_older_messages():
    """Three turns, then Ctrl+S (the /summarize command runs the same action: see the next test)."""
    with running_simulator(answer_tokens=40) as sim:
        app = make_app(sim, keep_recent=2, auto_summarize=False)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await three_turns(pilot)
            originals = list(messages(app))
            used_before = budget(app).used
            sent = len(sim.simulator.requests)
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: messages(app)[0].role == "summary" and not is_streaming(app),
                           what="summary applied")
            await idle_budget(pilot)
            summary = messages(app)[0]
            assert summary.status is Status.COMPLETE and summary.content.strip()
            assert [id(m) for m in summary.archived] == [id(m) for m in originals[:4]]
            assert [id(m) for m in messages(app)[1:]] == [id(m) for m in originals[4:]]
            assert len(sim.simulator.requests) == sent + 1
            assert "Question 0" in sim.simulator.requests[-1]["messages"][-1]["content"]
            # The gauge dropped and now shows a summary segment.
            assert budget(app).used < used_before
            assert budget(app).summary > 0
            assert prompt(app).text == ""
            view = summary_view(app)
            drawn = pane(app).text_of(summary)
            assert "▼ Summary of 4 messages" in drawn and "▶ Archived originals (4)" in drawn
            # The archive is drawn only when unfolded (Enter on the summary, or a click on its row).
            assert "You" not in [row.strip() for row in drawn.splitlines()]  # no archived message drawn yet
            pane(app).focus()
            await wait_for(pilot, lambda: pane(app).has_focus, what="the transcript focused")
            for _ in range(len(messages(app))):  # up from the last message to the summary, a key at a time
                if pane(app).cursor_message is summary:
                    break
                before = pane(app).cursor_message
                press_now(app, "up")
                await wait_for(pilot, lambda b=before: pane(app).cursor_message is not b, what="the cursor to move")
            assert pane(app).cursor_message is summary
            press_now(app, "enter")
            await wait_for(pilot, lambda: view.folds.archive, what="the archive unfolded")
            drawn = pane(app).text_of(summary)
            assert [row.strip() for row in drawn.splitlines()].count("You") == 2  # the four originals, drawn
            assert "▼ Archived originals (4)" in drawn
            assert any("Summarized 4 messages" in n for n in notices(app))


async def test_nothing_to_summarize_says_so_to_the_key_and_to_the_command():
    with running_simulator(answer_tokens=10) as sim:
        app = make_app(sim, keep_recent=6, auto_summarize=False)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await ask(pilot, "Just one question.")
            before = message_ids(app)
            sent = len(sim.simulator.requests)
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: [n for n in notices(app) if "Nothing to summarize" in n], what="notice")
            send(pilot, "/summarize")  # the command runs the same action as the key, and leaves the prompt empty
            await wait_for(pilot, lambda: len([n for n in notices(app) if "Nothing to summarize" in n]) == 2,
                           what="the command's notice")
            assert prompt(app).text == "" and user_texts(app) == ["Just one question."]
            assert message_ids(app) == before
            assert len(sim.simulator.requests) == sent


async def test_auto_summary_runs_after_a_reply_past_the_threshold():
    with running_simulator(max_model_len=4096, answer_tokens=40) as sim:
        # threshold 0.03 × (4096 − 256) = 115 tokens: crossed by the second exchange, not the first.
        app = make_app(sim, auto_summarize=True, summarize_threshold=0.03, keep_recent=2, max_tokens=256)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await ask(pilot, "First: " + long_text(20))
            await idle_budget(pilot)
            assert not budget(app).should_summarize(0.03)
            assert all(m.role != "summary" for m in messages(app))
            first_exchange = list(messages(app))
            second_reply = await ask(pilot, "Second: " + long_text(20))
            await wait_for(pilot, lambda: messages(app)[0].role == "summary" and not is_streaming(app),
                           what="automatic summary")
            summary = messages(app)[0]
            assert [id(m) for m in summary.archived] == [id(m) for m in first_exchange]
            assert messages(app)[-1] is second_reply  # the last keep_recent=2 stay verbatim
            assert any("Summarized 2 messages" in n for n in notices(app))


async def test_no_auto_summary_when_turned_off():
    with running_simulator(max_model_len=4096, answer_tokens=40) as sim:
        app = make_app(sim, auto_summarize=False, summarize_threshold=0.05, keep_recent=2, max_tokens=256)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await three_turns(pilot)
            assert budget(app).should_summarize(0.05)  # past the threshold …
            await pilot.pause(0.2)  # time for a summary request that must not come
            assert len(sim.simulator.requests) == 3  # … yet no summary request was made
            assert [m.role for m in messages(app)] == ["user", "assistant"] * 3


async def test_failed_summary_leaves_history_unchanged():
    with running_simulator(answer_tokens=30) as sim:
        app = make_app(sim, keep_recent=2, auto_summarize=False)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await three_turns(pilot)
            before = message_ids(app)
            contents = [m.content for m in messages(app)]
            sim.simulator.config.faults = Faults(http_status=500, once=True)
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: any("Summary not applied" in n for n in notices(app)), what="failure notice")
            await idle_budget(pilot)
            notice = next(n for n in notices(app) if "Summary not applied" in n)
            assert "HTTP 500" in notice and "unchanged" in notice and "\n" not in notice
            assert message_ids(app) == before
            assert [m.content for m in messages(app)] == contents
            assert all(m.archived == [] for m in messages(app))
            assert summary_view(app) is None and live_reply(app) is None
            assert len(message_views(app)) == 6


async def test_cancelled_summary_leaves_history_unchanged():
    with running_simulator(answer_tokens=30) as sim:
        app = make_app(sim, keep_recent=2, auto_summarize=False)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await three_turns(pilot)
            before = message_ids(app)
            sim.simulator.config.rate = 5.0  # a slow summary
            sim.simulator.config.answer_tokens = 200
            await pilot.press("ctrl+s")
            live = await wait_for(pilot, lambda: live_reply(app), what="summary")
            await wait_for(pilot, lambda: live.message.content, what="first summary tokens")
            assert is_streaming(app)
            await pilot.press("escape")
            await wait_for(pilot, lambda: any("Summary not applied (cancelled)" in n for n in notices(app)),
                           what="cancel notice")
            await idle_budget(pilot)
            notice = next(n for n in notices(app) if "Summary not applied" in n)
            assert notice == "Summary not applied (cancelled) — the conversation is unchanged."
            assert message_ids(app) == before
            assert all(m.role != "summary" for m in messages(app))
            assert live_reply(app) is None and summary_view(app) is None
            assert not is_streaming(app)
