"""Whether other zorac-tui instances use the same database: an advisory file lock each running app holds."""

from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; every start then counts as the only one (the old behaviour)
    fcntl = None  # type: ignore[assignment]


class InstanceLock:
    """A shared lock on `<database>.lock`, held for an app's whole run and released by the OS if it dies."""

    def __init__(self, db_path: Path) -> None:
        """The lock beside the database file `db_path`."""
        self.path = Path(db_path).with_name(Path(db_path).name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Hold the lock (shared); True when no other running instance held it, i.e. this one is alone."""
        if fcntl is None:
            return True
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:  # the database itself reports an unusable directory
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            alone = True
        except OSError:
            alone = False
        fcntl.flock(fd, fcntl.LOCK_SH)  # waits only while another instance is at this very step
        self._fd = fd
        return alone

    def release(self) -> None:
        """Let go of the lock (closing the file does)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> InstanceLock:
        """Acquire on entry (the answer of acquire() is then in `alone`)."""
        self.alone = self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        """Release on exit."""
        self.release()


def in_use_elsewhere(db_path: Path) -> bool:
    """Whether a running zorac-tui holds the instance lock of the database `db_path` (asks, holds nothing)."""
    if fcntl is None:
        return False
    try:
        fd = os.open(InstanceLock(db_path).path, os.O_RDONLY)
    except OSError:  # no lock file: no instance ever ran here
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)
