"""Splitting streamed reply text into thinking and answer where a model writes `<think>…</think>` inline.

Servers without a reasoning parser pass a reasoning model's tags through in `content`. The tags may
be split across chunks at any character, so a possible partial tag at the end of a piece is held
back until the next piece says what it is. The rules:

* `<think>` opens thinking only at the very start of the reply (after whitespace): later in an
  answer it is just text (a model explaining the tags).
* `</think>` closes the thinking. One with no opening tag means the reply began inside thinking
  (DeepSeek-R1-style templates put `<think>` in the prompt): everything emitted as answer so far
  was thinking, which `recast` reports — unless it is quoted as code (right after a backtick, or
  inside a ``` fence), as in an answer that explains the tags.
* After the thinking has closed, tags are plain text. Whitespace right after either tag is dropped,
  so neither the thinking nor the answer starts with blank lines.
"""

from __future__ import annotations

OPEN = "<think>"
CLOSE = "</think>"

_START, _THINKING, _UNSURE, _ANSWER = range(4)
Piece = tuple[bool, str]
"""(thinking, text): a piece of thinking when the flag is set, else of the answer."""


def partial_tag(text: str, tag: str) -> int:
    """Length of the longest end of `text` that is the start of `tag` but not all of it (0 when none)."""
    at = text.rfind("<", max(0, len(text) - len(tag) + 1))
    return len(text) - at if at >= 0 and tag.startswith(text[at:]) else 0


class ThinkSplitter:
    """Feeds reply text through; returns (thinking, text) pieces, holding back only a possible partial tag."""

    def __init__(self) -> None:
        """Start at the beginning of a reply."""
        self._state = _START
        self._held = ""
        self._strip = False
        self._fences = 0  # ``` fences in the text emitted before a closing tag was seen
        self._tail = ""  # the last two characters emitted then (a fence may be split across pieces)
        self.recast = False
        """Set by the feed() that found a closing tag with no opening one (reset by the next feed)."""

    def feed(self, text: str) -> list[Piece]:
        """The pieces of `text` that are settled, in order (none empty)."""
        self.recast = False
        out: list[Piece] = []
        text, self._held = self._held + text, ""
        while text:
            if self._state == _START:
                text = self._at_start(text)
            elif self._state == _ANSWER:
                self._emit(out, False, text)
                text = ""
            else:
                text = self._until_close(text, out)
        return out

    def flush(self) -> list[Piece]:
        """Whatever is still held back, at the end of the reply."""
        held, self._held = self._held, ""
        out: list[Piece] = []
        self._emit(out, self._state == _THINKING, held)
        return out

    def _at_start(self, text: str) -> str:
        """Before any text: look for the opening tag; returns what is left to split."""
        body = text.lstrip()
        if body.startswith(OPEN):
            self._state, self._strip = _THINKING, True
            return body[len(OPEN):]
        if not body or OPEN.startswith(body):  # only whitespace, or a tag still arriving
            self._held = text
            return ""
        self._state = _UNSURE
        return text

    def _until_close(self, text: str, out: list[Piece]) -> str:
        """Inside thinking (or an answer that may prove to be thinking): look for the closing tag."""
        at = text.find(CLOSE)
        while at >= 0 and self._state == _UNSURE and self._quoted(text[:at]):
            at = text.find(CLOSE, at + len(CLOSE))
        if at < 0:
            keep = partial_tag(text, CLOSE)
            self._emit(out, self._state == _THINKING, text[: len(text) - keep])
            self._held = text[len(text) - keep:]
            return ""
        if self._state == _UNSURE:
            self.recast = True
        self._emit(out, True, text[:at])
        self._state, self._strip = _ANSWER, True
        return text[at + len(CLOSE):]

    def _quoted(self, before: str) -> bool:
        """Whether a closing tag after `before` (the unsent text ahead of it) is quoted as code."""
        seen = self._tail + before
        return seen.endswith("`") or (self._fences + seen.count("```")) % 2 == 1

    def _emit(self, out: list[Piece], thinking: bool, text: str) -> None:
        """Add a piece, dropping whitespace right after a tag."""
        if self._strip:
            text = text.lstrip()
            if not text:
                return
            self._strip = False
        if text:
            out.append((thinking, text))
            if self._state == _UNSURE:
                self._fences += (self._tail + text).count("```")
                self._tail = (self._tail + text)[-2:]
