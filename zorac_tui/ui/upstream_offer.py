"""At start-up: reopen the last conversation (--continue), or offer to import the upstream Zorac session once."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from zorac_tui.ui.conversation_list import Confirm

if TYPE_CHECKING:
    from zorac_tui.ui.main_screen import MainScreen


async def open_last(screen: MainScreen) -> None:
    """`--continue`: the most recently updated conversation."""
    last = await screen.persistence.read(lambda store: store.last_conversation_id())
    if last is None:
        screen.notify("No saved conversation to continue yet.")
    else:
        screen.persistence.open_conversation(last)


async def offer_upstream_import(screen: MainScreen, home: Path) -> None:
    """First run: offer to import ~/.zorac/session.json from the upstream client, once."""
    from zorac_tui import paths
    from zorac_tui import store as export

    marker = paths.data_dir() / "upstream-import-offered"
    session = export.find_upstream_session(home)
    if session is None or marker.exists():
        return
    try:
        paths.ensure_private_dir(marker.parent)
        marker.touch()
    except OSError:
        return

    async def _answer(yes: bool | None) -> None:
        if not yes:
            return
        conv_id = await screen.persistence.read(export.import_upstream_session, session)
        if conv_id is not None:
            screen.persistence.refresh_list()
            screen.persistence.open_conversation(conv_id)
            screen.notify(f"Imported {session}", markup=False)

    screen.app.push_screen(Confirm(f"Import your Zorac session from {session}? (y/n)"), _answer)
