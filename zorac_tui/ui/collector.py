"""Python's cycle collector around a streaming reply: no full pass while it streams, one when the app is idle."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

NEVER = 2**30  # a full-pass threshold no reply reaches
FULL_PASS_AFTER = 1.0  # seconds after a reply ends (the reader is reading, not typing yet)
_FULL = gc.get_threshold()[2]


@contextmanager
def no_full_passes() -> Iterator[None]:
    """No full pass while the block runs: each walks every object alive (10–50 ms, several per long reply).

    The young generations are still collected (2–6 ms each); only the passes over everything wait.
    """
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, NEVER)
    try:
        yield
    finally:
        gc.set_threshold(young, middle, _FULL)


def full_pass() -> None:
    """One full pass now, then what survived it frozen: the next passes walk only what is newer.

    Nothing is garbage right after the pass, so the freeze keeps no garbage; what dies later in a
    reference cycle after having been frozen stays until the app ends (`thaw`): the price of passes
    that stay short however long the session (rows and pieces are freed by reference counting).
    """
    gc.collect()
    gc.freeze()


def thaw() -> None:
    """What was frozen is collectable again (the app ends; tests run many apps in one process)."""
    gc.unfreeze()
