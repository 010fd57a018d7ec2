"""Deterministic toy tokenizer and chat template used by the simulator for every token count.

Not a real BPE: a word with its leading space is one token (words longer than
seven letters are split every seven), digits go in groups of up to three, each
punctuation character and each newline run is one token. Joining the pieces
gives the original text back, so replies can be streamed one token per chunk.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_IDS = {"<s>": 1, IM_START: 3, IM_END: 4}
VOCAB_SIZE = 131072
_FIRST_ORDINARY_ID = 1000

_PIECE = r"\n+| ?[^\W\d_]{1,7}| ?\d{1,3}| ?[^\w\s]| ?_|[ \t]+(?=[ \t]\S)|[ \t]+|\s"
TOKEN_RE = re.compile(_PIECE)
_TEMPLATE_RE = re.compile(r"<\|im_start\|>|<\|im_end\|>|" + _PIECE)


def split(text: str) -> list[str]:
    """Split text into token strings whose concatenation is the text."""
    return TOKEN_RE.findall(text)


def count(text: str) -> int:
    """Number of tokens in a raw text (no template, no BOS)."""
    return len(TOKEN_RE.findall(text))


@lru_cache(maxsize=65536)
def token_id(piece: str) -> int:
    """Stable integer id of one token string."""
    special = SPECIAL_IDS.get(piece)
    if special is not None:
        return special
    span = VOCAB_SIZE - _FIRST_ORDINARY_ID
    return _FIRST_ORDINARY_ID + zlib.crc32(piece.encode("utf-8")) % span


def ids(pieces: Iterable[str]) -> list[int]:
    """Ids of a sequence of token strings."""
    return [token_id(p) for p in pieces]


def content_text(content: Any) -> str:
    """Text of a message's content (a string, a list of parts, or None)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(parts)
    return str(content)


def render_template(messages: Sequence[dict], add_generation_prompt: bool = True) -> str:
    """The prompt text the chat template builds from messages (ChatML-like)."""
    out = []
    for message in messages:
        role = str(message.get("role", "user"))
        out.append(f"{IM_START}{role}\n{content_text(message.get('content'))}{IM_END}\n")
    if add_generation_prompt:
        out.append(f"{IM_START}assistant\n")
    return "".join(out)


def split_template(text: str) -> list[str]:
    """Split a rendered template into tokens, keeping special markers whole."""
    return _TEMPLATE_RE.findall(text)


def count_messages(messages: Sequence[dict], add_generation_prompt: bool = True) -> int:
    """Prompt tokens of messages after the chat template."""
    return len(split_template(render_template(messages, add_generation_prompt)))


def take(pieces: Sequence[str], n: int, filler: str = "\n\n") -> list[str]:
    """Exactly n tokens: pieces truncated, or repeated with a filler between copies."""
    if n <= len(pieces):
        return list(pieces[:n])
    cycle = list(pieces) + split(filler) if pieces else split(filler or " ")
    out: list[str] = []
    while len(out) < n:
        out.extend(cycle[: n - len(out)])
    return out
