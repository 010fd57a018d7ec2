"""A typist for the terminal benchmark: unique words typed into the app through tmux, each timed until it shows.

Words are xq + 4 digits + v (tuibench's echo_word: never in a reply). Two kinds:

- plain: the whole word in one send-keys; timed from it until the word is on screen (key echo). One not
  on screen ECHO_TIMEOUT s later is lost.
- edit (asked for by the caller): typed like a person fixing a typo, a key group every EDIT_GAP s —
  "xq12", a wrong "9", Backspace, "34v". Textual runs a TextArea's bound keys (Backspace, arrows, Home…)
  only after the key event has bubbled up to the App, while a printable key is inserted at once; keys that
  reach the app together (it was busy) are applied out of order, and the Backspace removes a later
  character (Textualize/textual issue 6605): "xq1294v", "xq1293v" or "xq12934" instead of "xq1234v". Such
  an edit counts as garbled; one showing neither form 3 s after its last key too. The next word waits
  until the edit is settled (and EDIT_SETTLE s more after a garbled one), so that a late Backspace
  cannot eat it: plain words measure echo and loss alone.

Keeping the prompt to one line (a word wrapped over two would never match): once every word typed is
shown, they are erased with Backspace, and no word is typed until they are gone from the screen, so no
Backspace reaches the app together with a later word (which would garble it, as above).
"""

from __future__ import annotations

import random
import re
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ECHO_TIMEOUT = 3.0  # a word not on screen after this is lost
EDIT_GAP = 0.08  # seconds between an edit's key groups: a quick typist
EDIT_SETTLE = 0.5  # after a garbled edit, before the next word (its late Backspace is still on its way)
MAX_PENDING = 6  # words typed but not on screen yet, beyond which a due word is skipped
ERASE_AFTER = 4  # words on the prompt before they are erased
MAX_PROMPT_CHARS = 100  # the prompt is ~118 columns wide at 160x50: beyond this a word could wrap


def garbled(word: str, screen: str) -> bool:
    """Whether an edit of `word` ("xq12" "9" Backspace "34v") shows applied out of order."""
    head, tail = word[:4] + "9", word[4:]
    forms = (head + tail[1:], head + tail[0] + tail[2])  # "xq1294v", "xq1293v"
    return any(f in screen for f in forms) or re.search(re.escape(head + tail[:2]) + "(?!" + tail[2] + ")",
                                                       screen) is not None


class Typist:
    """Types words on demand, times each until it is on screen, keeps the prompt to one line."""

    def __init__(self, tb: ModuleType, ctl: Any, rundir: Path) -> None:
        """Type through tuibench's control client `ctl`; screens with a lost word go to `rundir`."""
        self.tb, self.ctl, self.rundir = tb, ctl, rundir
        self.rng = random.Random()
        self.words: list[dict] = []
        self.on_prompt: list[dict] = []  # typed since the last erase, in order
        self.queue: list[tuple[float, str, str]] = []  # an edit's later key groups: (due, "literal"|"key", keys)
        self.erasing: list[str] = []  # erased words still on screen
        self.settle_until = 0.0
        self.erase_after = ERASE_AFTER
        self.skipped = 0

    def pending(self) -> list[dict]:
        """Words typed, neither shown nor given up yet."""
        return [w for w in self.words if w["latency"] is None and not w["lost"]]

    def busy(self) -> bool:
        """Typing an edit or waiting for it to settle, or for an erase to show: a new word must wait."""
        edit_open = bool(self.words) and self.words[-1]["kind"] == "edit" and self.words[-1] in self.pending()
        return bool(self.queue or self.erasing or edit_open or time.time() < self.settle_until)

    def type_word(self, phase: str, screen: str, edit: bool = False) -> bool:
        """Type one word now if possible (False while busy; a word over the limits is skipped, True)."""
        if self.busy():
            return False
        if len(self.pending()) >= MAX_PENDING or sum(len(w["word"]) for w in self.on_prompt) > MAX_PROMPT_CHARS:
            self.skipped += 1
            return True
        word = self.tb.echo_word(self.rng)
        while word in screen or any(word == w["word"] for w in self.words) or word[4] == "9":
            word = self.tb.echo_word(self.rng)
        now = time.time()
        entry = {"word": word, "phase": phase, "kind": "edit" if edit else "plain", "t_sent": now,
                 "t_last_key": now + (3 * EDIT_GAP if edit else 0.0), "latency": None, "lost": False}
        self.words.append(entry)
        self.on_prompt.append(entry)
        if edit:
            self.ctl.send_literal(word[:4])
            self.queue = [(now + EDIT_GAP, "literal", "9"), (now + 2 * EDIT_GAP, "key", "BSpace"),
                          (now + 3 * EDIT_GAP, "literal", word[4:])]
        else:
            self.ctl.send_literal(word)
        return True

    def send_due(self, now: float) -> None:
        """Send an edit's key groups that are due."""
        while self.queue and self.queue[0][0] <= now:
            _, kind, keys = self.queue.pop(0)
            if kind == "literal":
                self.ctl.send_literal(keys)
            else:
                self.ctl.send_keys(keys)
            if not self.queue:
                self.on_prompt[-1]["t_last_key"] = time.time()

    def observe(self, screen: str, seen_at: float, now: float) -> None:
        """Mark the words on screen (at `seen_at`) or given up; erase them when all are shown."""
        for w in self.pending():
            if w["word"] in screen:
                w["latency"] = seen_at - (w["t_last_key"] if w["kind"] == "edit" else w["t_sent"])
            elif w["kind"] == "edit" and not (self.queue and w is self.words[-1]) and garbled(w["word"], screen):
                w["lost"] = w["garbled"] = True
                self.settle_until = now + EDIT_SETTLE
            elif now - w["t_last_key"] > ECHO_TIMEOUT and not (self.queue and w is self.words[-1]):
                w["lost"] = True
                (self.rundir / f"lost-{w['word']}.txt").write_text(screen)
        self.erasing = [word for word in self.erasing if word in screen]
        if not self.busy() and not self.pending() and len(self.on_prompt) >= self.erase_after:
            self.erase()

    def erase(self) -> None:
        """Backspace over the words typed since the last erase that are on the prompt: shown ones and garbled
        edits (as long as the word), not lost ones — a Backspace too many could reach the app with the next word."""
        count = sum(len(w["word"]) for w in self.on_prompt if w["latency"] is not None or w.get("garbled"))
        self.erasing = [w["word"] for w in self.on_prompt if w["latency"] is not None]
        self.on_prompt.clear()
        if count:
            self.ctl.send_keys(*(["BSpace"] * count))

    def wait_erased(self, poll: float) -> None:
        """Until the last erase shows (at most ECHO_TIMEOUT s)."""
        end = time.time() + ECHO_TIMEOUT
        while self.erasing and time.time() < end:
            time.sleep(poll)
            screen = self.ctl.capture()
            self.erasing = [word for word in self.erasing if word in screen]
        self.erasing = []
