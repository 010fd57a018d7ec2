"""What the main screen does when another zorac-tui window changed the conversation it shows."""

from __future__ import annotations

from typing import TYPE_CHECKING

from zorac_tui.ui.conversation_list import ConversationList

if TYPE_CHECKING:
    from zorac_tui.ui.main_screen import MainScreen
    from zorac_tui.ui.persistence import Persistence


async def foreign_changes(screen: MainScreen, event: Persistence.ForeignChanges) -> None:
    """Another window changed what is shown: redraw its replies; reload or re-save the conversation."""
    if screen.query_one(ConversationList).display:  # another window's conversations appear as they change
        screen.persistence.refresh_list()
    changed = event.changed
    if changed is not None and changed is screen.conversation:
        if screen.reply.streaming:
            screen.persistence.look_again()  # after this window's reply
        elif event.gone:
            screen.persistence.save_again(changed, screen.model)
            screen.notify("This conversation was deleted in another zorac-tui window; it is saved again from "
                        "this one (a summary's archived originals are not).", severity="warning", timeout=10)
        else:
            screen.persistence.open_conversation(changed.db_id)
            return
    for message in event.updated:
        screen.pane.refresh_message(message)
    if event.updated and not screen.reply.streaming:
        screen.recount()  # the gauge counts the other window's reply as it grows
