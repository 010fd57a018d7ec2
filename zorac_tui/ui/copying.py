"""Copying from the conversation: a whole message, or one code block (nearest the bottom of the view first)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from zorac_tui.core.conversation import Message

if TYPE_CHECKING:
    from zorac_tui.ui.main_screen import MainScreen


def copy_reply(screen: MainScreen) -> None:
    """Copy the focused message, or else the last reply, to the clipboard."""
    message: Message | None = None
    if screen.focused is screen.pane:
        message = screen.pane.cursor_message
    if message is None:
        message = next((m for m in reversed(screen.conversation.messages)
                        if m.role == "assistant" and m.content), None)
    if message is None:
        screen.notify("No reply to copy yet.", severity="warning")
        return
    screen.app.copy_to_clipboard(message.content)
    screen.notify(f"Copied {len(message.content):,} characters")


def copy_code_block(screen: MainScreen) -> None:
    """Copy the code block nearest the bottom of the view; press again for the one above."""
    view = (screen.pane.scroll_y, screen.pane.virtual_size.height)
    above = screen._code_at[0] if screen._code_at is not None and screen._code_at[1] == view else None
    blocks = screen.pane.code_blocks_above(above)
    if not blocks:
        screen._code_at = None
        screen.notify("No code block above." if above is not None else "No code block in view yet.",
                    severity="warning")
        return
    row, _message, code = blocks[0]
    copy_code(screen, code.code, code.title())
    screen._code_at = (row, view)


def copy_code(screen: MainScreen, code: str, title: str) -> None:
    """Put `code` on the clipboard and say which block it was."""
    screen.app.copy_to_clipboard(code)
    screen.notify(f"Copied {title} — Ctrl+T again copies the block above", markup=False)
