"""Versions of a reply and edit-and-fork on the main screen: flip versions, edit a message, fork from it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from zorac_tui.core.conversation import Conversation, Message

if TYPE_CHECKING:
    from zorac_tui.ui.main_screen import MainScreen
    from zorac_tui.ui.transcript import Transcript


def flip_version(screen: MainScreen, event: Transcript.Flip) -> None:
    """Show another version of a reply; it is the one later turns send."""
    message, versions = event.message, event.message.versions
    if len(versions) < 2:
        screen.notify("This reply has one version — Ctrl+G answers the last question again.")
        return
    if screen.reply.streaming:
        screen.notify("A reply is streaming — flip versions once it is done.", severity="warning")
        return
    index = next(i for i, v in enumerate(versions) if v is message)
    target = versions[max(0, min(len(versions) - 1, index + event.step))]
    place = next((i for i, m in enumerate(screen.conversation.messages) if m is message), None)
    if target is message or place is None:
        return
    screen.conversation.messages[place] = target
    screen.persistence.show_version(target)
    screen.pane.replace_message(message, target)
    screen.recount()


def start_editing(screen: MainScreen, event: Transcript.Edit) -> None:
    """Put one of the user's messages in the prompt: sending it forks a new conversation from there."""
    if event.message.role != "user":
        screen.notify("Only your own messages can be edited (e on a “You” message).", severity="warning")
        return
    screen.editing = event.message
    screen.prompt.load_text(event.message.content)
    screen.prompt.border_title = "Editing — Enter sends it in a new conversation (forked) · Esc stops"
    screen.prompt.focus()


async def fork_with(screen: MainScreen, edited: Message, text: str) -> None:
    """A new conversation with the messages before `edited`, then `text` sent in its place; the original
    conversation stays untouched."""
    source = screen.conversation
    index = next((i for i, m in enumerate(source.messages) if m is edited), None)
    if index is None:
        screen.stop_editing()
        screen.notify("That message is no longer in this conversation.", severity="warning")
        return
    title = f"{source.title} (edited)"
    forked_id = await screen.persistence.fork(source, edited, title)
    conversation = await screen.persistence.load(forked_id) if forked_id is not None else None
    if conversation is None:  # not saved (or no database): the copy lives in memory, saved as it goes
        conversation = Conversation(title=title, messages=[m.copied() for m in source.messages[:index]],
                                    preset=source.preset, system_prompt=source.system_prompt)
    conversation.forked_from = source.db_id
    screen.stop_editing()
    screen.prompt.clear()
    await screen.show_conversation(conversation)
    screen.pane.add_notice(f"Forked from “{source.title}” at your edited message — the original is unchanged "
                         "(Ctrl+O lists both).")
    screen.send_text(text)
