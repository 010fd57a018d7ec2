"""BlockSettler: a reply drawn as settled blocks plus a tail looks exactly like the whole reply drawn at once."""

from __future__ import annotations

import random

import pytest
from rich.console import Console

from zorac_tui.core.blocks import BlockSettler
from zorac_tui.demo import answers
from zorac_tui.ui.messages import Piece, Pieces, blank_line_between, render_markdown

TRICKY = {
    "loose ordered list": "Steps:\n\n1. first\n\n2. second\n\n   more of two\n\n3. third\n\nDone.\n",
    "loose bullets with code": "- a\n\n  ```py\n  x = 1\n\n  y = 2\n  ```\n\n- b\n\nafter\n",
    "fence with blank lines": "Code:\n\n```python\ndef f():\n\n    return 1\n\n\nprint(f())\n```\n\nEnd.\n",
    "tilde fence, longer close": "~~~\na\n\n```\nnot a close\n\n~~~~\n\nnext\n",
    "indented code": "Para\n\n    code line\n\n    more code\n\nPara 2\n",
    "table then quote": "| a | b |\n|---|---|\n| 1 | 2 |\n\n> quoted\n\n> again\n\n---\n\n# Title\n\ntext",
    "rules and lists": "a\n\n---\n\nb\n\n***\n\n- x\n- y\n\n## H\n\n1. one\n2. two\n\n---\n\n> q\n\nz",
    "leading blank lines": "\n\n\n# Heading\n\nbody",
    "unclosed fence": "intro\n\n```js\nlet a = 1;\n\nlet b = 2;\n",
}
TEXTS = {**TRICKY, **{name: getattr(answers, name) for name in ("VLLM_SERVING", "KV_CACHE", "QUANTIZATION",
                                                                 "PYTHON_ASYNC", "GIT_UNDO", "CONTEXT_BUDGET")}}


def draw(text: str, width: int = 70) -> list[str]:
    """Rendered lines of `text` as Markdown, trailing spaces dropped."""
    console = Console(width=width, color_system=None, record=False)
    with console.capture() as capture:
        console.print(render_markdown(text))
    return [line.rstrip() for line in capture.get().split("\n")]


def draw_in_pieces(pieces: list[str], width: int = 70) -> list[str]:
    """The pieces drawn one after another, a blank line between where the live reply's CSS puts one."""
    lines: list[str] = []
    for i, piece in enumerate(pieces):
        if i and blank_line_between(render_markdown(pieces[i - 1]), render_markdown(piece)):
            lines.append("")
        lines.extend(draw(piece, width)[:-1])
    return lines + [""]


def settle(text: str, seed: int) -> tuple[list[str], BlockSettler]:
    """Feed `text` in random chunks; the settled pieces (non-blank) and the settler."""
    rng = random.Random(seed)
    settler, pieces, i = BlockSettler(), [], 0
    while i < len(text):
        n = rng.randint(1, 12)
        piece = settler.feed(text[i:i + n])
        if piece.strip():
            pieces.append(piece)
        i += n
    return pieces, settler


@pytest.mark.parametrize("name", sorted(TEXTS))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pieces_draw_like_the_whole(name: str, seed: int) -> None:
    """Settled pieces plus the tail, drawn separately, give the same lines as the whole text."""
    text = TEXTS[name]
    pieces, settler = settle(text, seed)
    assert settler.text == text and text[:settler.settled].strip() == "".join(pieces).strip()
    drawn = pieces + ([settler.tail] if settler.tail.strip() else [])
    assert draw_in_pieces(drawn) == draw(text)


def test_long_answers_are_cut_into_many_pieces() -> None:
    """A real-looking answer settles block by block, so the live tail stays small."""
    pieces, settler = settle(answers.VLLM_SERVING, seed=7)
    assert len(pieces) >= 5
    assert len(settler.tail) < len(answers.VLLM_SERVING) / 3


def test_no_cut_inside_a_fence_or_a_loose_list() -> None:
    """Blank lines inside a fence, before an indented line or a list item never cut."""
    for name in ("fence with blank lines", "loose ordered list", "indented code", "unclosed fence"):
        text = TRICKY[name]
        settler = BlockSettler()
        settler.feed(text)
        cut = settler.settled
        assert text[cut:].split("\n", 1)[0] not in ("", "    more code", "2. second", "   more of two")
        if name == "fence with blank lines":
            assert text[:cut].count("```") in (0, 2)
        if name == "unclosed fence":
            assert text[cut:].startswith("```js")


def test_a_line_is_judged_only_once_complete() -> None:
    """A half-received line after a blank one does not cut yet ('1' may become '1. item')."""
    settler = BlockSettler()
    assert settler.feed("para\n\n1") == ""
    assert settler.feed("0. item\n") == ""  # a list item: no cut
    assert settler.feed("\nNext para\n") == "para\n\n10. item\n\n"
    assert settler.tail == "Next para\n"


@pytest.mark.parametrize("name", ["VLLM_SERVING", "table then quote", "rules and lists"])
def test_a_settled_reply_draws_from_its_pieces_like_the_whole(name: str) -> None:
    """Pieces (the settled reply's body) gives the whole text's lines, from lines drawn once per piece."""
    text = TEXTS[name]
    texts, settler = settle(text, seed=5)
    pieces = [Piece(t) for t in texts + ([settler.tail] if settler.tail.strip() else [])]
    console = Console(width=70, color_system=None)
    with console.capture() as capture:
        console.print(Pieces(pieces))
    assert [line.rstrip() for line in capture.get().split("\n")] == draw(text)
    assert all(len(piece._lines) == 1 for piece in pieces)  # each drawn once, at this width
    before = [id(piece.lines(console, console.options)) for piece in pieces]
    with console.capture():
        console.print(Pieces(pieces))
    assert [id(piece.lines(console, console.options)) for piece in pieces] == before  # reused, not redrawn
