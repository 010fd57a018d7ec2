"""ThinkSplitter: inline `<think>…</think>` tags split at every character, the closing-tag-only case."""

from __future__ import annotations

import random

import pytest

from zorac_tui.core.reasoning import ThinkSplitter, partial_tag

TAGGED = "<think>\nThe user wants 2<3 checked; </b> is not a tag.\n</think>\n\nYes: 2 < 3, and <think> is text here."
THINKING = "The user wants 2<3 checked; </b> is not a tag.\n"
ANSWER = "Yes: 2 < 3, and <think> is text here."
CLOSE_ONLY = "Okay, the user asks for Rome's <country>.\nSo: Italy.</think>\n\n**Italy**, and </think> stays text."


def run(parts: list[str]) -> tuple[str, str, int, list[tuple[bool, str]]]:
    """Feed the parts as a consumer would: (thinking, answer, recasts seen, every piece)."""
    splitter = ThinkSplitter()
    text = {True: "", False: ""}
    recasts, pieces = 0, []
    for i, part in enumerate(parts):
        got = splitter.feed(part)
        if splitter.recast:
            recasts += 1
            text[True], text[False] = text[True] + text[False], ""
        got_end = splitter.flush() if i == len(parts) - 1 else []
        for is_thinking, piece in got + got_end:
            text[is_thinking] += piece
        pieces += got + got_end
    return text[True], text[False], recasts, pieces


def splits(text: str) -> list[list[str]]:
    """The text cut in two at every position, one character at a time, and in random pieces."""
    out = [[text[:i], text[i:]] for i in range(len(text) + 1)]
    out.append(list(text))
    rng = random.Random(7)
    for _ in range(50):
        cuts = sorted(rng.sample(range(1, len(text)), 6))
        out.append([text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])])
    return out


@pytest.mark.parametrize("parts", splits(TAGGED))
def test_tags_split_anywhere_give_the_same_thinking_and_answer(parts):
    thinking, answer, recasts, pieces = run(parts)
    assert (thinking, answer, recasts) == (THINKING, ANSWER, 0)
    assert all(text for _, text in pieces)
    # thinking first, then the answer: never interleaved
    flags = [flag for flag, _ in pieces]
    assert flags == sorted(flags, reverse=True)


@pytest.mark.parametrize("parts", splits(CLOSE_ONLY))
def test_a_closing_tag_alone_recasts_what_came_before_as_thinking(parts):
    thinking, answer, recasts, _ = run(parts)
    assert thinking == "Okay, the user asks for Rome's <country>.\nSo: Italy."
    assert answer == "**Italy**, and </think> stays text."
    assert recasts == 1


def test_the_recast_comes_with_the_feed_that_completes_the_tag():
    splitter = ThinkSplitter()
    assert splitter.feed("Hmm, Rome") == [(False, "Hmm, Rome")]
    assert splitter.feed(".</thi") == [(False, ".")] and not splitter.recast
    assert splitter.feed("nk>Rome.") == [(False, "Rome.")] and splitter.recast
    assert splitter.feed(" Yes") == [(False, " Yes")] and not splitter.recast


def test_all_thinking_reply_is_thinking_to_the_end():
    thinking, answer, _, _ = run(["<think>", "I wonder", " whether </th"])
    assert (thinking, answer) == ("I wonder whether </th", "")


def test_text_without_tags_passes_through_at_once():
    splitter = ThinkSplitter()
    assert splitter.feed("The sea") == [(False, "The sea")]
    assert splitter.feed(" is 3 < 4") == [(False, " is 3 < 4")]
    assert splitter.feed(" wide <") == [(False, " wide ")]  # only a possible "</think>" start waits
    assert splitter.feed("b>") == [(False, "<b>")]
    assert splitter.flush() == []


def test_leading_whitespace_waits_for_what_follows():
    splitter = ThinkSplitter()
    assert splitter.feed("\n") == []
    assert splitter.feed("<thi") == []
    assert splitter.feed("nk>\n\nOk") == [(True, "Ok")]
    splitter = ThinkSplitter()
    assert splitter.feed("  ") == []
    assert splitter.feed("Hi") == [(False, "  Hi")]


def test_an_empty_thinking_block_leaves_only_the_answer():
    thinking, answer, _, pieces = run(["<think>\n\n</think>\n\n", "Hello."])
    assert (thinking, answer) == ("", "Hello.") and pieces == [(False, "Hello.")]


@pytest.mark.parametrize(("text", "held"), [("abc", 0), ("abc<", 1), ("abc</thin", 6), ("x</think", 7),
                                            ("<b", 0), ("</think>", 0), ("a<</", 2)])
def test_partial_tag(text, held):
    assert partial_tag(text, "</think>") == held


QUOTED = "Servers without a parser send `</think>` inline:\n\n```text\n<think>…</think>\n```\n\nDone </b>."


@pytest.mark.parametrize("parts", splits(QUOTED)[::3])
def test_a_closing_tag_quoted_as_code_in_an_answer_stays_answer(parts):
    assert run(parts)[:3] == ("", QUOTED, 0)


@pytest.mark.parametrize("parts", splits("Try:\n```py\nx = 1\n```\nok.</think>\n\nx is 1.")[::3])
def test_code_fences_in_thinking_do_not_hide_the_real_closing_tag(parts):
    thinking, answer, recasts, _ = run(parts)
    assert (thinking, answer, recasts) == ("Try:\n```py\nx = 1\n```\nok.", "x is 1.", 1)
