"""Python's cycle collector around streaming replies: no full pass while one streams, one when the app is idle."""

from __future__ import annotations

import gc

NEVER = 2**30  # a full-pass threshold nothing reaches
FULL_PASS_AFTER = 1.0  # seconds after a reply ends (the reader is reading, not typing yet)
_FULL = gc.get_threshold()[2]


def hold() -> None:
    """No full pass until `full_pass`: each walks every object alive (10–50 ms, several per long reply).

    The young generations are still collected (2–6 ms each). The hold lasts past the stream's end, or the
    pass it held would run at once, in the middle of drawing the finished reply.
    """
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, NEVER)


def full_pass() -> None:
    """One full pass now, then what survived it frozen (the next passes walk only what is newer); no more hold.

    Nothing is garbage right after the pass, so the freeze keeps no garbage; what dies later in a
    reference cycle after having been frozen stays until the app ends (`thaw`): the price of passes
    that stay short however long the session (rows and pieces are freed by reference counting).
    """
    gc.collect()
    gc.freeze()
    release()


def release() -> None:
    """Full passes as Python makes them."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, _FULL)


def thaw() -> None:
    """No hold, and what was frozen is collectable again (the app ends; tests run many apps in one process)."""
    release()
    gc.unfreeze()
