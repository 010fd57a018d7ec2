"""Everyday workflow end to end: a message sent before the server is up, regenerate and versions, edit and fork,
search, copying code, presets, and stopping on a signal — the real app against the simulator over HTTP."""

from __future__ import annotations

import signal
import socket

from appdriver import (
    SIZE,
    Faults,
    ask,
    chat_requests,
    connected,
    conversation,
    fast_config,
    footer_text,
    from_store,
    last_message,
    live_footer,
    main_screen,
    make_app,
    messages,
    notices,
    pane,
    press_now,
    running_simulator,
    send,
    set_prompt,
    settled,
    store_caught_up,
    store_ready,
    type_text,
    wait_for,
    wait_reply,
    widget_text,
)

from zorac_tui.core.conversation import Status


def free_port() -> int:
    """A port nothing listens on (yet)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_a_message_sent_before_the_server_answers_waits_and_goes_out_by_itself() -> None:
    port = free_port()
    app = make_app(f"http://127.0.0.1:{port}/v1")
    async with app.run_test(size=SIZE) as pilot:
        send(pilot, "are you there?")
        await wait_for(pilot, lambda: "waiting for the server" in live_footer(app), what="the waiting reply")
        assert messages(app)[-1].status is Status.STREAMING and not messages(app)[-1].content
        with running_simulator(fast_config(reply_text="Here now."), port=port):
            reply = await wait_reply(pilot, "are you there?", timeout=20)
            assert reply.status is Status.COMPLETE and reply.content == "Here now."
        assert not any("Ctrl+R" in n for n in notices(app))


async def test_a_server_restart_makes_the_next_message_wait_then_it_is_answered() -> None:
    port = free_port()
    with running_simulator(fast_config(reply_text="First."), port=port) as sim:
        app = make_app(sim)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await ask(pilot, "one")
            sim.stop()
            send(pilot, "two")
            await wait_for(pilot, lambda: "waiting for the server" in live_footer(app), timeout=20,
                           what="the reply waiting for the restarted server")
            with running_simulator(fast_config(reply_text="Back."), port=port):
                reply = await wait_reply(pilot, "two", timeout=20)
            assert reply.status is Status.COMPLETE and reply.content == "Back."


async def test_esc_while_waiting_keeps_the_question_and_sends_nothing() -> None:
    app = make_app(f"http://127.0.0.1:{free_port()}/v1")
    async with app.run_test(size=SIZE) as pilot:
        send(pilot, "hello?")
        await wait_for(pilot, lambda: "waiting for the server" in live_footer(app), what="the waiting reply")
        press_now(app, "escape")
        await wait_for(pilot, lambda: any(n.startswith("Not sent") for n in notices(app)), what="not sent")
        assert [(m.role, m.content) for m in messages(app)] == [("user", "hello?")]


async def test_regenerate_keeps_every_version_and_the_shown_one_is_sent(sim_factory) -> None:
    sim = sim_factory(reply_text="Version text.")
    app = make_app(sim)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        first = await ask(pilot, "tell me")
        press_now(app, "ctrl+g")
        second = await wait_for(pilot, lambda: (m := last_message(app)) is not first and m is not None
                                and settled(app, m), what="the regenerated reply, settled")
        assert second.versions == [first, second] and second.version_label == "2/2"
        assert "version 2/2" in footer_text(app, second)
        assert [m.role for m in messages(app)] == ["user", "assistant"]  # one reply shown, not two
        await store_caught_up(app)
        stored = await from_store(app, lambda db: db.versions_of(second.db_id))
        assert [r.id for r in stored] == [first.db_id, second.db_id] and stored[-1].shown and not stored[0].shown
        pane(app).focus()
        await wait_for(pilot, lambda: pane(app).cursor_message is second, what="the cursor on the reply")
        press_now(app, "left")
        await wait_for(pilot, lambda: messages(app)[-1] is first, what="version 1 shown")
        assert "version 1/2" in footer_text(app, first)
        await store_caught_up(app)
        assert (await from_store(app, lambda db: db.get_message(first.db_id))).shown
        await ask(pilot, "and then?")
        request = chat_requests(sim)[-1]["messages"]
        assert [m["role"] for m in request][-3:] == ["user", "assistant", "user"]


async def test_editing_a_message_forks_a_new_conversation_and_leaves_the_original(sim_factory) -> None:
    sim = sim_factory(reply_text="Answer.")
    app = make_app(sim)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await ask(pilot, "first question")
        await ask(pilot, "second question")
        original = conversation(app)
        pane(app).focus()
        await wait_for(pilot, lambda: pane(app).cursor_message is not None, what="a cursor")
        press_now(app, "up")  # from the last reply up to the second question
        await wait_for(pilot, lambda: (m := pane(app).cursor_message) is not None and m.content == "second question",
                       what="the cursor on the second question")
        press_now(app, "e")
        await wait_for(pilot, lambda: main_screen(app).prompt.text == "second question", what="the message to edit")
        set_prompt(app, "second question, edited")
        press_now(app, "enter")
        reply = await wait_reply(pilot, "second question, edited")
        forked = conversation(app)
        assert forked is not original and forked.title.endswith("(edited)")
        assert [m.content for m in forked.messages] == ["first question", "Answer.", "second question, edited",
                                                         "Answer."]
        assert forked.forked_from == original.db_id and reply.status is Status.COMPLETE
        assert [m.content for m in original.messages][-2:] == ["second question", "Answer."]
        await store_caught_up(app)
        rows = await from_store(app, lambda db: db.load_messages(original.db_id))
        assert [r.content for r in rows] == ["first question", "Answer.", "second question", "Answer."]
        sent = chat_requests(sim)[-1]["messages"]
        assert [m["content"] for m in sent if m["role"] == "user"] == ["first question", "second question, edited"]
        assert any(n.startswith("Forked from") for n in notices(app))


async def test_the_conversation_list_searches_every_message_and_opens_at_the_match(sim_factory) -> None:
    sim = sim_factory(reply_text="Striped horses are zebras.")
    app = make_app(sim)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await store_ready(pilot)
        await ask(pilot, "tell me about striped horses")
        first = conversation(app)
        press_now(app, "ctrl+n")
        await wait_for(pilot, lambda: conversation(app) is not first, what="a new conversation")
        sim.simulator.config.reply_text = "Nothing about that animal."
        await ask(pilot, "something else")
        await store_caught_up(app)
        press_now(app, "ctrl+o")
        filter_box = main_screen(app).query_one("#conv-filter")
        await wait_for(pilot, lambda: filter_box.has_focus, what="the list's search box")
        await type_text(pilot, "zebr", into=filter_box)
        options = main_screen(app).query_one("#conv-options")
        await wait_for(pilot, lambda: options.option_count and "zebras" in str(options.get_option_at_index(
            options.highlighted or 0).prompt), what="a hit for 'zebr'")
        press_now(app, "enter")
        await wait_for(pilot, lambda: conversation(app).db_id == first.db_id, what="the matching conversation")
        await wait_for(pilot, lambda: (m := pane(app).cursor_message) is not None and "zebras" in m.content
                       and pane(app).has_focus, what="the cursor on the matching reply")


async def test_ctrl_t_copies_the_code_block_nearest_the_bottom_then_the_one_above(sim_factory) -> None:
    text = "One:\n\n```sh\necho first\n```\n\nTwo:\n\n```python\nprint('second')\n```\n\nEnd."
    sim = sim_factory(reply_text=text)
    app = make_app(sim)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await ask(pilot, "code please")
        press_now(app, "ctrl+t")
        await wait_for(pilot, lambda: app.clipboard == "print('second')", what="the last block copied")
        press_now(app, "ctrl+t")
        await wait_for(pilot, lambda: app.clipboard == "echo first", what="the block above copied")


async def test_a_prompt_preset_is_sent_stored_and_shown(sim_factory, tmp_path) -> None:
    from zorac_tui.profiles import PromptPreset

    sim = sim_factory(reply_text="ok")
    app = make_app(sim, prompts=(PromptPreset("coder", "You write Python.", 0.0),))
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        from zorac_tui.ui import switching

        switching.use_preset(main_screen(app), "coder")
        await ask(pilot, "hi")
        request = chat_requests(sim)[-1]
        assert request["messages"][0] == {"role": "system", "content": "You write Python."}
        assert request["temperature"] == 0.0
        assert "coder" in main_screen(app).header.render().plain
        await store_caught_up(app)
        row = await from_store(app, lambda db: db.get_conversation(conversation(app).db_id))
        assert row.preset == "coder" and row.system_prompt == "You write Python."


async def test_sigterm_mid_reply_saves_it_interrupted_and_exits_0(sim_factory) -> None:
    sim = sim_factory(rate=200.0, answer_tokens=400, faults=Faults(stall_at_token=20, stall_seconds=5.0))
    app = make_app(sim)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        send(pilot, "long one")
        reply = await wait_for(pilot, lambda: (m := last_message(app)) is not None and m.role == "assistant"
                               and m.db_id and len(m.content) > 20 and m, what="a reply under way and saved")
        app.stop_on_signal(signal.SIGTERM)
        await wait_for(pilot, lambda: app.return_code == 0, what="the app to exit")
    main_screen(app).persistence.close()
    from zorac_tui.store import Store, default_db_path

    with Store(default_db_path()) as db:
        row = db.get_message(reply.db_id)
    assert row.status == "interrupted" and row.error == "stopped by SIGTERM"
    assert row.content.startswith(reply.content[:20])


async def test_help_lists_the_conversation_keys_and_what_thinking_figures_mean() -> None:
    from zorac_tui.ui.help_screen import HelpScreen

    with running_simulator() as sim:
        app = make_app(sim)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            press_now(app, "f1")
            def help_text() -> str:
                """The help screen's text, wrapped as on screen, as one line of words ('' until it is laid out)."""
                return " ".join(widget_text(app.screen).split()) if isinstance(app.screen, HelpScreen) else ""

            await wait_for(pilot, lambda: "In the conversation" in help_text(), what="the help screen laid out")
            text = help_text()
            for doc in ("Edit and fork (on your message)", "Earlier version", "Fold / unfold thinking or summary"):
                assert doc in text
            assert "regenerate" in text.lower()  # the screen's own bindings and slash commands are there too
            assert "answer M" in text and "weights_gb is set too high" in text
            press_now(app, "escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen), what="help closed")
