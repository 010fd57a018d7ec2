"""A damaged database file on real files: opening moves it aside (with its -wal and -shm) and starts a new
one, says where it went, and the command line says so too; a file that is merely locked, newer, held by
another running zorac-tui or in a directory that cannot be written stays exactly where it is.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from zorac_tui import cli
from zorac_tui.store import SCHEMA_VERSION, Store, StoreError, default_db_path, opening
from zorac_tui.store import db as store_db
from zorac_tui.store.instances import InstanceLock
from zorac_tui.store.opening import aside_name

GARBAGE = b"just some notes, not SQLite\n" * 50
ASIDE = re.compile(r"conversations\.sqlite3\.corrupt-\d{8}-\d{6}(-\d+)?$")


def files(directory: Path) -> dict[str, bytes]:
    """Every file in `directory` by name, with its bytes."""
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


def filled(path: Path, messages: int = 300) -> Path:
    """A sound database at `path` holding one conversation of `messages` messages, closed (no -wal left)."""
    with Store(path) as store:
        conv = store.create_conversation("filled")
        for i in range(messages):
            store.add_message(conv, "user", "some text to fill pages " * 8 + str(i))
    return path


def opens_as_new(store: Store) -> None:
    """The store works on a new, empty database of the current schema."""
    assert store.schema_version() == SCHEMA_VERSION and store.list_conversations() == []
    conv = store.create_conversation("after the recovery")
    store.add_message(conv, "user", "saving works again")
    assert store.search("saving")[0].conversation_id == conv
    assert store.integrity_ok()


def test_a_file_that_is_not_a_database_is_moved_aside_with_its_wal_and_shm(tmp_path: Path) -> None:
    path = tmp_path / "conversations.sqlite3"
    path.write_bytes(GARBAGE)
    Path(f"{path}-wal").write_bytes(b"wal garbage")
    Path(f"{path}-shm").write_bytes(b"shm garbage")
    with Store(path) as store:
        aside = store.recovered_from
        assert aside is not None and aside.parent == tmp_path and ASIDE.search(aside.name), aside
        assert aside.read_bytes() == GARBAGE
        assert Path(f"{aside}-wal").read_bytes() == b"wal garbage"
        assert Path(f"{aside}-shm").exists()  # SQLite's shared-memory index: rebuilt from the -wal, no content
        assert store.damage == "file is not a database"
        note = store.recovery_note
        assert note == (f"The conversation database was damaged (file is not a database); it was moved aside "
                        f"to {aside} and a new one started.")
        assert "\n" not in note
        opens_as_new(store)
    with Store(path) as again:  # a sound file is left alone
        assert again.recovered_from is None and again.recovery_note is None
        assert [r.title for r in again.list_conversations()] == ["after the recovery"]


@pytest.mark.parametrize("keep", [0.5, 4096, 1000, 50])
def test_a_truncated_database_is_moved_aside(tmp_path: Path, keep: float) -> None:
    path = filled(tmp_path / "conversations.sqlite3")
    whole = path.read_bytes()
    cut = whole[: int(len(whole) * keep) if keep < 1 else int(keep)]
    path.write_bytes(cut)
    with Store(path) as store:
        assert store.recovered_from is not None and store.recovered_from.read_bytes() == cut
        assert "malformed" in store.damage or "not a database" in store.damage
        opens_as_new(store)


def damaged_page(path: Path) -> Path:
    """Give the last table page of the file (a page of messages) a page type that does not exist."""
    data = bytearray(path.read_bytes())
    page = 4096
    leaves = [n for n in range(1, len(data) // page) if data[n * page] == 0x0D]  # table leaf pages
    data[leaves[-1] * page] = 0xFF
    path.write_bytes(data)
    with sqlite3.connect(path) as raw:  # opening and reading the schema alone would not notice
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert raw.execute("SELECT title FROM conversations").fetchall() == [("filled",)]
    return path


def test_damage_only_the_quick_check_finds_is_moved_aside(tmp_path: Path) -> None:
    path = damaged_page(filled(tmp_path / "conversations.sqlite3"))
    data = path.read_bytes()
    with Store(path) as store:
        assert store.recovered_from is not None and store.recovered_from.read_bytes() == data
        opens_as_new(store)


def test_a_large_file_is_checked_in_full_after_a_run_met_damage(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Above FULL_CHECK_UP_TO opening skips quick_check; damage a read runs into leaves a mark, and the next
    open checks the whole file, finds it and moves it aside."""
    path = damaged_page(filled(tmp_path / "conversations.sqlite3"))
    monkeypatch.setattr(opening, "FULL_CHECK_UP_TO", 0)  # every file counts as large
    mark = opening.damage_mark(path)
    with Store(path) as store:
        assert store.recovered_from is None  # not noticed at open
        with pytest.raises(StoreError, match="malformed"):
            store.load_messages(1)
        assert mark.exists()
    with Store(path) as store:
        assert store.recovered_from is not None and not mark.exists()
        opens_as_new(store)
    with Store(path) as sound:  # a sound file, large and unmarked: no check, nothing moved
        assert sound.recovered_from is None and not mark.exists()


def test_two_recoveries_in_one_second_get_their_own_names(tmp_path: Path) -> None:
    path = tmp_path / "conversations.sqlite3"
    first = aside_name(path, now=1_800_000_000)
    first.write_bytes(b"x")
    second = aside_name(path, now=1_800_000_000)
    assert second.name == first.name + "-2"
    Path(f"{second}-wal").write_bytes(b"x")  # a name whose -wal is taken is taken
    assert aside_name(path, now=1_800_000_000).name == first.name + "-3"


# ------------------------------------------------------------------------------ what stays where it is


@contextmanager
def read_only(directory: Path) -> Iterator[None]:
    """`directory` made unwritable: chattr +i for root (who ignores permission bits), else chmod 0500."""
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(directory)],
                                                              capture_output=True).returncode != 0:
            pytest.skip("running as root without chattr +i: no way to make a directory read-only")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(directory)], check=True)
    else:
        directory.chmod(0o500)
        try:
            yield
        finally:
            directory.chmod(0o700)


def test_a_damaged_file_in_a_read_only_directory_stays_and_says_why(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    path = data / "conversations.sqlite3"
    path.write_bytes(GARBAGE)
    with read_only(data):
        with pytest.raises(StoreError) as err:
            Store(path)
        assert files(data) == {"conversations.sqlite3": GARBAGE}
    message = str(err.value)
    assert message.startswith(f"Cannot open the conversation database {path}: file is not a database")
    assert "could not be moved aside" in message and "\n" not in message


def test_a_locked_database_is_not_moved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = filled(tmp_path / "conversations.sqlite3", 5)
    monkeypatch.setattr(store_db, "BUSY_TIMEOUT_S", 0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("PRAGMA locking_mode = EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreError, match="locked"):
            Store(path)
        holder.execute("COMMIT")
    finally:
        holder.close()
    assert sorted(files(tmp_path)) == ["conversations.sqlite3"]
    with Store(path) as store:
        assert store.recovered_from is None and store.get_conversation(1).message_count == 5


def test_a_newer_database_is_not_moved(tmp_path: Path) -> None:
    path = filled(tmp_path / "conversations.sqlite3", 5)
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = path.read_bytes()
    with pytest.raises(StoreError, match="newer"):
        Store(path)
    assert path.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if "corrupt" in p.name]


def test_a_damaged_file_another_running_instance_holds_stays(tmp_path: Path) -> None:
    path = tmp_path / "conversations.sqlite3"
    path.write_bytes(GARBAGE)
    other = InstanceLock(path)
    other.acquire()  # what a running zorac-tui holds for its whole run
    try:
        with pytest.raises(StoreError, match="another running zorac-tui has it open"):
            Store(path)
        assert path.read_bytes() == GARBAGE
    finally:
        other.release()
    with Store(path) as store:  # once it has gone, the file is moved aside
        assert store.recovered_from is not None


# ------------------------------------------------------------------------------ the command line


@pytest.mark.parametrize("argv, out", [
    (["--list"], "No saved conversations yet."),
    (["search", "anything"], "No saved conversation matches 'anything'."),
])
def test_the_command_line_says_a_damaged_database_was_moved_aside(capsys: Any, argv: list[str], out: str) -> None:
    path = default_db_path()
    path.write_bytes(GARBAGE)
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == out
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("zorac-tui: The conversation database was damaged")
    aside = next(p for p in path.parent.iterdir() if ASIDE.search(p.name))
    assert str(aside) in err[0] and aside.read_bytes() == GARBAGE


def test_export_after_a_recovery_says_both(capsys: Any) -> None:
    default_db_path().write_bytes(GARBAGE)
    assert cli.main(["export", "1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "moved aside" in err[0] and "No conversation 1" in err[1]
