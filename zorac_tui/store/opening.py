"""Opening the database file: the connection's settings, a check for damage, a damaged file moved aside, and
the schema brought up to date.

Only damage moves a file: SQLite saying the file is not a database or is malformed, or a failing
`PRAGMA quick_check`. A busy or locked file, one written by a newer zorac-tui, or one in a directory
that cannot be written stays where it is, and so does a damaged file another running zorac-tui holds.
The file keeps its -wal and -shm beside it under the new name, so SQLite tools can still read what
is left in it.

quick_check reads the whole file (about 1.3 ms per MB here), so opening runs it on files up to
FULL_CHECK_UP_TO, and on a larger one only after a run met damage in it: the Store then leaves a
`<database>.damaged` mark beside it (see note_damage), and the next open checks in full.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from zorac_tui.store.instances import in_use_elsewhere
from zorac_tui.store.schema import migrate

DAMAGE_CODES = ("SQLITE_CORRUPT", "SQLITE_NOTADB")  # extended codes (SQLITE_CORRUPT_VTAB, …) start so too
DAMAGE_WORDS = ("file is not a database", "malformed")
COMPANIONS = ("-wal", "-shm")
FULL_CHECK_UP_TO = 64 * 2**20  # bytes: quick_check at every open costs at most ~0.1 s


class DamagedDatabase(Exception):
    """SQLite's own check of the file found damage."""


class NotMovedAside(Exception):
    """A damaged database that had to stay where it is; the message says why."""


def is_damaged(exc: BaseException) -> bool:
    """Whether an error from opening the database means the file itself is damaged."""
    if isinstance(exc, DamagedDatabase):
        return True
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    name = getattr(exc, "sqlite_errorname", None)
    if name:
        return name.startswith(DAMAGE_CODES)
    return any(words in str(exc) for words in DAMAGE_WORDS)


def damage_mark(path: Path) -> Path:
    """The file that says a run met damage in the database `path`."""
    return path.with_name(path.name + ".damaged")


def note_damage(path: Path) -> None:
    """Leave the mark that makes the next open check the whole file (nothing if it cannot be written)."""
    try:
        os.close(os.open(damage_mark(path), os.O_WRONLY | os.O_CREAT, 0o600))
    except OSError:
        pass


def check_file(conn: sqlite3.Connection, path: Path) -> None:
    """Raise DamagedDatabase unless SQLite's quick_check passes; on a large file only when it is marked."""
    mark = damage_mark(path)
    if path.stat().st_size > FULL_CHECK_UP_TO and not mark.exists():
        return
    first = conn.execute("PRAGMA quick_check").fetchone()
    if first is None or first[0] != "ok":
        raise DamagedDatabase(f"quick_check: {' '.join(str(first[0] if first else 'no answer').split())}")
    mark.unlink(missing_ok=True)


def aside_name(path: Path, now: float | None = None) -> Path:
    """Where a damaged `path` goes: `<name>.corrupt-YYYYmmdd-HHMMSS` (-2, -3, … if taken)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 2
    while any(Path(f"{target}{suffix}").exists() for suffix in ("", *COMPANIONS)):
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    return target


def move_aside(path: Path, reason: str) -> Path:
    """Move a damaged database and its -wal/-shm aside; returns the new path, or raises NotMovedAside."""
    if in_use_elsewhere(path):
        raise NotMovedAside(f"{reason} — another running zorac-tui has it open; close it and start again "
                            "to move the damaged file aside")
    target = aside_name(path)
    try:
        os.rename(path, target)
        # the -wal must go with it: left behind, SQLite would replay its pages into the new database
        for suffix in COMPANIONS:
            if Path(f"{path}{suffix}").exists():
                os.rename(f"{path}{suffix}", f"{target}{suffix}")
    except OSError as exc:
        raise NotMovedAside(f"{reason} — it could not be moved aside: {exc.strerror or exc}") from None
    damage_mark(path).unlink(missing_ok=True)
    return target


@dataclass
class Opened:
    """An open, checked, current database; where a damaged file went if one was moved aside, and why."""

    conn: sqlite3.Connection
    found_version: int  # the schema version the file had before this open
    recovered_from: Path | None = None
    damage: str | None = None


def open_database(path: Path, busy_timeout_s: float) -> Opened:
    """Open `path` (created 0600 if new); a damaged file is moved aside and a new one started.

    Raises sqlite3.Error, OSError, NewerSchemaError, DamagedDatabase or NotMovedAside when it cannot."""
    aside = damage = None
    conn = connect(path, busy_timeout_s)
    try:
        try:
            prepare_when_free(conn, path, busy_timeout_s)
        except (sqlite3.DatabaseError, DamagedDatabase) as exc:
            if not is_damaged(exc):
                raise
            damage = " ".join(str(exc).split())
            # moved while still open: closing a connection deletes the -wal and -shm by name, and they
            # must go with the file, not be lost
            aside = move_aside(path, damage)
            conn.close()
            conn = connect(path, busy_timeout_s)
            prepare_when_free(conn, path, busy_timeout_s)
        return Opened(conn, migrate(conn), aside, damage)
    except BaseException:
        conn.close()
        raise


def connect(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    """A connection to `path` (the file created 0600 if it is new), rows as sqlite3.Row."""
    new = not path.exists()
    conn = sqlite3.connect(path, timeout=busy_timeout_s, check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
    if new:
        try:
            conn.execute("PRAGMA user_version")  # the file exists once SQLite has read it
            os.chmod(path, 0o600)
        except BaseException:
            conn.close()
            raise
    return conn


def prepare_when_free(conn: sqlite3.Connection, path: Path, busy_timeout_s: float) -> None:
    """`prepare`, tried again while another connection holds the file for up to `busy_timeout_s`.

    Two processes opening one old file at once both read it, then both ask for the write lock that switching
    to WAL needs: SQLite answers one of them "database is locked" at once, without its busy timeout (it
    would otherwise wait on a reader that waits on it)."""
    deadline = time.monotonic() + busy_timeout_s
    while True:
        try:
            prepare(conn, path)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def prepare(conn: sqlite3.Connection, path: Path) -> None:
    """WAL, foreign keys, the durability level, and the damage check."""
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA foreign_keys = ON")
    # In WAL mode NORMAL loses nothing a process crash could take; only power loss risks the last commit.
    conn.execute("PRAGMA synchronous = NORMAL")
    check_file(conn, path)
