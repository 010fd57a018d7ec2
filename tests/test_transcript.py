"""The transcript (one Line API widget for the whole conversation): rows, folds, the live reply, selection, cursor.

These drive the real Transcript inside a small Textual app (Pilot); the app-level flows that use it are in
test_app_*.py and test_workflow.py.
"""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.geometry import Offset
from textual.selection import Selection

from zorac_tui.core.code_blocks import code_blocks
from zorac_tui.core.conversation import Conversation, Message, ReplyStats, Status
from zorac_tui.ui.transcript import INITIAL_TAIL, Transcript
from zorac_tui.ui.transcript_blocks import LiveBlock, MessageBlock

ANSWER = "# Plan\n\nFirst **bold** words.\n\n- one\n- two\n\n```python\nprint('hi')\n```\n\nDone.\n"


class Host(App):
    """Just a transcript."""

    def __init__(self, conversation: Conversation | None = None, show_reasoning: str = "collapsed") -> None:
        """Show `conversation`."""
        super().__init__()
        self.conversation = conversation or Conversation()
        self.show_reasoning = show_reasoning

    def compose(self) -> ComposeResult:
        """One transcript filling the screen."""
        yield Transcript(self.conversation, show_reasoning=self.show_reasoning)


def rows(transcript: Transcript) -> list[str]:
    """Every row's text (what a user can scroll through)."""
    ctx = transcript._draw_context()
    return [line.text for block in transcript.blocks for line in block.lines(ctx)]


async def test_messages_are_drawn_as_rows_with_markdown_and_footers() -> None:
    conversation = Conversation(messages=[
        Message("user", "Hello [bold]not markup[/bold]"),
        Message("assistant", ANSWER, stats=ReplyStats(completion_tokens=42, decode_tok_s=61.5, ttft_s=0.3)),
    ])
    app = Host(conversation)
    async with app.run_test(size=(80, 30)) as pilot:
        transcript = app.query_one(Transcript)
        transcript.show(conversation)
        await pilot.pause()
        user = transcript.text_of(conversation.messages[0])
        assert "You" in user and "Hello [bold]not markup[/bold]" in user  # user text is text, never markup
        reply = transcript.text_of(conversation.messages[1])
        assert "Plan" in reply and "# Plan" not in reply and "**" not in reply  # drawn as Markdown
        assert "• one" in reply and "print('hi')" in reply
        assert "42 tokens · 61.5 tok/s · TTFT 300 ms" in reply
        assert transcript.virtual_size.height == len(rows(transcript))


async def test_a_long_conversation_draws_its_tail_and_loads_older_at_the_top() -> None:
    conversation = Conversation(messages=[Message("user" if i % 2 == 0 else "assistant", f"message {i}")
                                          for i in range(INITIAL_TAIL + 25)])
    app = Host(conversation)
    async with app.run_test(size=(80, 24)) as pilot:
        transcript = app.query_one(Transcript)
        transcript.show(conversation)
        await pilot.pause()
        drawn = [b.message.content for b in transcript.blocks if b.message is not None]
        assert drawn[0] == "message 25" and drawn[-1] == f"message {INITIAL_TAIL + 24}"
        assert "25 earlier messages — scroll up to load" in "\n".join(rows(transcript))
        assert transcript.scroll_y == transcript.max_scroll_y  # opened at the end
        transcript.scroll_to(y=0, animate=False)
        await pilot.pause()
        await pilot.pause()
        drawn = [b.message.content for b in transcript.blocks if b.message is not None]
        assert drawn[0] == "message 0" and len(drawn) == INITIAL_TAIL + 25
        assert transcript.scroll_y > 0  # the view stayed on what it showed


async def test_the_live_reply_draws_what_its_message_received_and_settles_in_place() -> None:
    app = Host()
    async with app.run_test(size=(80, 30)):
        transcript = app.query_one(Transcript)
        message = Message("assistant", "", status=Status.STREAMING)
        live = transcript.start_reply(message)
        assert isinstance(transcript.blocks[-1], LiveBlock)
        message.content = ANSWER[:30]
        transcript.flush()
        assert "Plan" in transcript.text_of(message)
        message.content = ANSWER
        transcript.flush()
        text = transcript.text_of(message)
        assert "Done." in text and "print('hi')" in text
        settled_pieces = live.answer.pieces
        message.status = Status.COMPLETE
        transcript.settle_reply(message)
        block = transcript.blocks[-1]
        assert not isinstance(block, LiveBlock) and block.pieces is settled_pieces  # no second render
        assert transcript.text_of(message).count("Done.") == 1
        ctx = transcript._draw_context()
        kept = [line for line in block.lines(ctx) if line.part == "body"]
        assert kept and all(any(row is line for row in live.answer.lines) for line in kept)  # the live reply's rows
        fresh = MessageBlock(message, settled_pieces).lines(ctx)  # what drawing the pieces again gives
        assert [(line.text, line.strip, line.part) for line in block.lines(ctx)] == \
            [(line.text, line.strip, line.part) for line in fresh]


async def test_a_flush_repaints_only_from_the_first_changed_row() -> None:
    app = Host()
    async with app.run_test(size=(80, 40)) as pilot:
        transcript = app.query_one(Transcript)
        message = Message("assistant", "", status=Status.STREAMING)
        live = transcript.start_reply(message)
        message.content = "".join(f"Paragraph {i} is here.\n\n" for i in range(10))
        transcript.flush()
        before = live.lines(transcript._draw_context())
        message.content += "More"
        transcript.flush()
        after = live.lines(transcript._draw_context())
        same = next(i for i, (a, b) in enumerate(zip(before, after)) if a is not b)
        assert same >= 2 * 9  # the settled paragraphs' rows are the very same objects: not drawn again
        await pilot.pause()


async def test_live_figures_wait_for_the_next_flush_and_are_drawn_with_it() -> None:
    """Progress (the footer, the sidebar) is applied by the reply's next flush: one frame for text and figures."""
    app = Host()
    async with app.run_test(size=(80, 30)) as pilot:
        transcript = app.query_one(Transcript)
        applied: list[str] = []
        transcript.on_next_flush(lambda: applied.append("idle"))
        assert applied == ["idle"]  # no reply streams: at once
        message = Message("assistant", "", status=Status.STREAMING)
        transcript.start_reply(message)
        message.content = "Some words."
        transcript.on_next_flush(lambda: (applied.append("figures"),
                                          transcript.set_live_footer(message, "61.0 tok/s · 12 tokens")))
        assert applied == ["idle"] and "61.0 tok/s" not in "\n".join(rows(transcript))
        transcript.flush()
        assert applied == ["idle", "figures"]
        shown = "\n".join(rows(transcript))
        assert "Some words." in shown and "61.0 tok/s · 12 tokens" in shown  # drawn by the same flush
        # figures of a reply that ended before its next flush are stale: dropped, not drawn later
        transcript.on_next_flush(lambda: applied.append("stale"))
        message.status = Status.COMPLETE
        transcript.settle_reply(message)
        transcript.start_reply(Message("assistant", "", status=Status.STREAMING))
        transcript.flush()
        assert applied == ["idle", "figures"]
        await pilot.pause()


async def test_thinking_folds_to_one_line_once_answered_and_unfolds_on_enter() -> None:
    message = Message("assistant", "The answer.", thinking="Step one.\n\nStep two.",
                      stats=ReplyStats(completion_tokens=30, thinking_tokens=20, thinking_s=1.5, ttfa_s=1.8))
    conversation = Conversation(messages=[Message("user", "q"), message])
    app = Host(conversation)
    async with app.run_test(size=(80, 30)) as pilot:
        transcript = app.query_one(Transcript)
        transcript.show(conversation)
        await pilot.pause()
        text = transcript.text_of(message)
        assert "▶ Thought for 1.50 s · 20 tokens" in text and "Step one." not in text
        transcript.focus()
        await pilot.pause()
        assert transcript.cursor_message is message
        await pilot.press("enter")
        text = transcript.text_of(message)
        assert "▼ Thought for" in text and "Step one." in text and "Step two." in text
        assert text.index("Step two.") < text.index("The answer.")
        transcript.set_show_reasoning("hidden")
        assert "Thought" not in transcript.text_of(message) and "Step one." not in transcript.text_of(message)


async def test_a_reply_that_only_thought_says_so() -> None:
    message = Message("assistant", "", thinking="Hmm, let me think", note="stopped at the reply limit (max_tokens)")
    app = Host(Conversation(messages=[message]))
    async with app.run_test(size=(80, 20)) as pilot:
        transcript = app.query_one(Transcript)
        transcript.show(app.conversation)
        await pilot.pause()
        text = transcript.text_of(message)
        assert "No answer: the model only thought" in text and "max_tokens" in text and "(no text)" not in text


async def test_live_thinking_shows_its_newest_lines_then_folds_when_the_answer_starts() -> None:
    app = Host()
    async with app.run_test(size=(80, 30)) as pilot:
        transcript = app.query_one(Transcript)
        message = Message("assistant", "", status=Status.STREAMING)
        transcript.start_reply(message)
        message.thinking = "".join(f"thought {i}\n\n" for i in range(30))
        transcript.flush()
        transcript.set_live_footer(message, "61 tok/s", "Thinking… 2.00 s · 60 tokens")
        text = transcript.text_of(message)
        assert "▼ Thinking… 2.00 s · 60 tokens" in text and "thought 29" in text and "thought 0" not in text
        message.content = "Answer begins."
        transcript.flush()
        transcript.set_live_footer(message, "61 tok/s", "Thought for 2.10 s · 64 tokens")
        text = transcript.text_of(message)
        assert "▶ Thought for 2.10 s · 64 tokens" in text and "thought 29" not in text and "Answer begins." in text
        await pilot.pause()


async def test_selecting_rows_gives_their_text_without_the_frame() -> None:
    conversation = Conversation(messages=[Message("user", "alpha beta"), Message("assistant", "gamma delta")])
    app = Host(conversation)
    async with app.run_test(size=(80, 20)) as pilot:
        transcript = app.query_one(Transcript)
        transcript.show(conversation)
        await pilot.pause()
        all_rows = rows(transcript)
        first = all_rows.index("alpha beta")
        last = next(i for i, r in enumerate(all_rows) if r.startswith("gamma"))
        text, _end = transcript.get_selection(Selection(Offset(6, first), Offset(5, last)))
        assert text.startswith("beta") and text.endswith("gamma") and "▌" not in text


async def test_code_blocks_are_found_nearest_the_bottom_first() -> None:
    first = "Intro\n\n```sh\necho one\n```\n"
    second = "Then\n\n```python\nprint('two')\nprint('more')\n```\n\nbye"
    conversation = Conversation(messages=[Message("user", "q"), Message("assistant", first),
                                          Message("user", "q2"), Message("assistant", second)])
    app = Host(conversation)
    async with app.run_test(size=(80, 40)) as pilot:
        transcript = app.query_one(Transcript)
        transcript.show(conversation)
        await pilot.pause()
        found = transcript.code_blocks_above()
        assert [code.code for _row, _m, code in found] == ["print('two')\nprint('more')", "echo one"]
        row = found[0][0]
        assert [code.code for _r, _m, code in transcript.code_blocks_above(row)] == ["echo one"]


def test_code_blocks_of_markdown() -> None:
    text = "a\n```py\nx = 1\n\ny = 2\n```\n~~~\nraw\n~~~\n  ```\n  indented\n  ```\n```\nunclosed"
    blocks = code_blocks(text)
    assert [(b.lang, b.code) for b in blocks] == [("py", "x = 1\n\ny = 2"), ("", "raw"), ("", "indented"),
                                                   ("", "unclosed")]
    assert blocks[0].title() == "py · 3 lines · x = 1"
    assert code_blocks("no code `here`") == []


async def grow(pilot, transcript: Transcript, message: Message, paragraphs: range) -> list[float]:
    """One paragraph (two rows at 80 columns, one at 160; and a blank one) per flush, its newest row checked
    to be in view each time; the view's scroll position after each."""
    positions = []
    for i in paragraphs:
        message.content += f"Paragraph {i} " + "word " * 16 + "\n\n"
        transcript.flush()
        await pilot.pause()
        end = transcript._starts[-1]  # rows of content (the live footer last)
        assert transcript.scroll_y < end <= transcript.scroll_y + transcript.scrollable_content_region.height
        positions.append(transcript.scroll_y)
    return positions


async def test_a_streaming_reply_at_the_end_scrolls_a_third_of_the_view_at_a_time_and_stays_put_when_done() -> None:
    app = Host()
    async with app.run_test(size=(80, 30)) as pilot:
        transcript = app.query_one(Transcript)
        view = transcript.scrollable_content_region.height
        message = Message("assistant", "", status=Status.STREAMING)
        transcript.start_reply(message)
        positions = await grow(pilot, transcript, message, range(60))
        moves = [b - a for a, b in zip(positions, positions[1:]) if b != a]
        assert moves and all(move >= view // 3 for move in moves)  # never a row at a time
        assert len(moves) <= transcript._starts[-1] // (view // 3) + 1
        assert transcript.virtual_size.height > transcript._starts[-1]  # blank rows under the reply
        held = transcript.scroll_y
        message.status = Status.COMPLETE
        transcript.settle_reply(message)
        await pilot.pause()
        assert transcript.scroll_y == held  # the finished reply does not jump down by the blank rows
        await pilot.resize_terminal(160, 30)  # wider: far fewer rows of text, never more blank rows than a step
        await pilot.pause()
        assert 0 <= transcript.virtual_size.height - transcript._starts[-1] <= view // 3
        transcript.add_message(Message("user", "next question"))
        await pilot.pause()
        assert transcript.virtual_size.height == transcript._starts[-1]  # the blank rows go with the next message
        assert transcript.scroll_y == transcript.max_scroll_y


async def test_a_streaming_reply_is_still_followed_after_the_view_gets_smaller() -> None:
    app = Host()
    async with app.run_test(size=(80, 30)) as pilot:
        transcript = app.query_one(Transcript)
        message = Message("assistant", "", status=Status.STREAMING)
        transcript.start_reply(message)
        await grow(pilot, transcript, message, range(40))
        await pilot.resize_terminal(60, 20)  # narrower (more rows of text) and shorter
        await pilot.pause()
        await grow(pilot, transcript, message, range(40, 50))  # each newest row in view
