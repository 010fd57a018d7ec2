"""BlockSettler and pieces: a reply drawn as settled pieces plus a tail looks exactly like the whole reply drawn at once."""

from __future__ import annotations

import random

import pytest
from rich.console import Console

from zorac_tui.core import blocks
from zorac_tui.core.blocks import BlockSettler, Settled
from zorac_tui.demo import answers
from zorac_tui.ui.pieces import Piece, Pieces, render_markdown

LONG_CODE = "\n".join(
    [f"def step_{i}(x):\n    '''Step {i}.\n\n    Returns x.\n    '''\n    return x + {i}\n" for i in range(30)]
    + [f"value_{i} = step_{i % 30}({i})  # dense: no blank lines" for i in range(400)])
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
    "long code block": f"Here it is:\n```python\n{LONG_CODE}\n\n\n```\nAfter the code.\n\n- a list\n",
    "long unclosed code": f"---\n\n```python\n{LONG_CODE}",
    "long code in a list": "- item\n\n  ```python\n" + "\n".join("  x = 1\n" for _ in range(100)) + "  ```\n",
}
TEXTS = {**TRICKY, **{name: getattr(answers, name) for name in ("VLLM_SERVING", "KV_CACHE", "QUANTIZATION",
                                                                 "PYTHON_ASYNC", "GIT_UNDO", "CONTEXT_BUDGET")}}


def draw(renderable, width: int = 70) -> list:
    """The rendered lines (Segments, styles included) of `renderable`."""
    console = Console(width=width, color_system="truecolor")
    return console.render_lines(renderable, console.options, pad=False)


def settle(text: str, seed: int) -> tuple[list[Settled], BlockSettler]:
    """Feed `text` in random chunks; the settled parts (the stream's end included) and the settler."""
    rng = random.Random(seed)
    settler, parts, i = BlockSettler(), [], 0
    while i < len(text):
        n = rng.randint(1, 40)
        parts += settler.feed(text[i:i + n])
        i += n
    last = settler.finish()
    return parts + ([last] if last is not None else []), settler


@pytest.mark.parametrize("name", sorted(TEXTS))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pieces_draw_like_the_whole(name: str, seed: int) -> None:
    """Every settled part drawn apart, joined by Pieces, gives exactly the whole text's lines."""
    text = TEXTS[name]
    parts, settler = settle(text, seed)
    assert settler.text == text and settler.settled == len(text)
    assert draw(Pieces([Piece(part) for part in parts])) == draw(render_markdown(text))


def test_long_answers_are_cut_into_many_pieces() -> None:
    """A real-looking answer settles block by block, so the live tail stays small."""
    settler = BlockSettler()
    parts = [p for i in range(0, len(answers.VLLM_SERVING), 7) for p in settler.feed(answers.VLLM_SERVING[i:i + 7])]
    assert len(parts) >= 5
    assert len(settler.tail) < len(answers.VLLM_SERVING) / 3


def test_a_long_code_block_settles_in_runs_and_the_tail_stays_short() -> None:
    """Inside a long top-level fence the tail never holds more than CODE_RUN_MAX lines of code."""
    text = f"Intro\n\n```python\n{LONG_CODE}\n```\n"
    settler, longest, parts = BlockSettler(), 0, []
    for i in range(0, len(text), 11):
        parts += settler.feed(text[i:i + 11])
        longest = max(longest, settler.tail.count("\n"))
        if settler.tail_lang is not None:
            assert settler.tail_lang == "python" and "```" not in settler.tail
    runs = [p for p in parts if p.lang is not None]
    assert parts[0] == Settled("Intro\n\n") and len(runs) >= 5
    assert runs[0].first and not runs[0].last and runs[-1].last and not any(r.first for r in runs[1:])
    assert longest <= blocks.CODE_RUN_MAX + 1
    assert "\n".join(r.text for r in runs) == LONG_CODE  # every line once, in order


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
    assert settler.feed("para\n\n1") == []
    assert settler.feed("0. item\n") == []  # a list item: no cut
    assert settler.feed("\nNext para\n") == [Settled("para\n\n10. item\n\n")]
    assert settler.tail == "Next para\n"


@pytest.mark.parametrize("name", ["VLLM_SERVING", "long code block", "rules and lists"])
def test_pieces_are_drawn_once_per_width(name: str) -> None:
    """Drawing Pieces again reuses each piece's lines instead of rendering it again."""
    parts, _ = settle(TEXTS[name], seed=5)
    pieces = [Piece(part) for part in parts]
    console = Console(width=70, color_system=None)
    with console.capture():
        console.print(Pieces(pieces))
    assert all(len(piece._lines) == 1 for piece in pieces)
    before = [id(piece.lines(console, console.options)) for piece in pieces]
    with console.capture():
        console.print(Pieces(pieces))
    assert [id(piece.lines(console, console.options)) for piece in pieces] == before


PLAIN_CODE = "\n".join(f"def f{i}(x):\n    y = x * {i}  # comment\n\n    return y\n" for i in range(12))


@pytest.mark.parametrize("seed", range(6))
def test_many_small_code_runs_still_draw_like_the_whole(monkeypatch, seed: int) -> None:
    """With runs of a few lines (cuts at every chance, blank lines inside functions, closing and unclosed
    fences, a rule before, a list after), the pieces still give exactly the whole text's lines."""
    monkeypatch.setattr(blocks, "CODE_RUN", 2)
    monkeypatch.setattr(blocks, "CODE_RUN_MAX", 5)
    for text in (f"Text\n```python\n{PLAIN_CODE}\n\n```\n\n- after\n",
                 f"---\n\n```python\n{PLAIN_CODE}\n```\nnext\n\n```\n{PLAIN_CODE}",
                 f"> quote\n\n~~~~ python extra words\n{PLAIN_CODE}~~~~\n"):
        parts, _ = settle(text, seed)
        assert sum(p.lang is not None for p in parts) >= 5
        assert draw(Pieces([Piece(part) for part in parts])) == draw(render_markdown(text))
