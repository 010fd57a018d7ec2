"""What the command palette (Ctrl+P) and the prompt's slash commands offer on the main screen."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING

from textual.app import SystemCommand

from zorac_tui.core.code_blocks import code_blocks
from zorac_tui.ui import copying, switching

if TYPE_CHECKING:
    from zorac_tui.ui.main_screen import MainScreen

SLASH_COMMANDS = {
    "/summarize": ("summarize", "summarize older messages"),
    "/new": ("new_conversation", "start a new conversation"),
    "/retry": ("retry", "send the last message again"),
    "/regenerate": ("regenerate", "answer the last question again (earlier versions are kept)"),
    "/copy": ("copy_reply", "copy the last reply"),
    "/help": ("help", "list keys and commands"),
}
ACTION_TITLES = {
    "new_conversation": "New conversation",
    "cancel_reply": "Cancel the streaming reply",
    "retry": "Retry the last message",
    "regenerate": "Regenerate the last reply (earlier versions are kept)",
    "summarize": "Summarize older messages",
    "copy_reply": "Copy the last reply",
    "copy_code": "Copy the code block nearest the bottom of the view",
    "toggle_sidebar": "Show or hide the sidebar",
    "toggle_conversations": "Conversation list",
    "help": "Help: keys, commands and what the numbers mean",
}
REASONING_MODES = ("collapsed", "expanded", "hidden")


def commands(screen: MainScreen) -> Iterator[SystemCommand]:
    """Every action with a key, then the server, model and display choices that apply now."""
    for binding in screen.BINDINGS:
        if binding.action.startswith("app.") or "(" in binding.action:
            continue
        method = getattr(screen, f"action_{binding.action}")
        title = ACTION_TITLES.get(binding.action, binding.description)
        yield SystemCommand(f"{title} ({binding.key})", (method.__doc__ or "").strip(), method)
    settings = screen.settings
    for name in settings.server_names():
        if name != settings.server:
            url = settings.for_server(name).base_url
            yield SystemCommand(f"Switch server: {name}", f"Talk to {url} (the conversation stays)",
                                partial(switching.switch_server, screen, name))
    connection = screen.server.connection
    if connection is not None:
        for model in connection.info.models:
            if model.id != connection.model:
                window = f" · context {model.max_model_len:,}" if model.max_model_len else ""
                yield SystemCommand(f"Use model: {model.id}", f"Served by {settings.base_url}{window}",
                                    partial(switching.use_model, screen, model.id))
    message = screen.pane.cursor_message if screen.focused is screen.pane else None
    message = message or next((m for m in reversed(screen.conversation.messages) if m.role == "assistant"), None)
    if message is not None:
        for code in code_blocks(message.content):
            yield SystemCommand(f"Copy code: {code.title()}", "A code block of the focused message (or the last "
                                "reply)", partial(copying.copy_code, screen, code.code, code.title()))
    current = screen.conversation.preset or "default"
    for name in settings.prompt_names():
        if name != current:
            prompt = settings.preset(name).system_prompt
            yield SystemCommand(f"System prompt: {name}", prompt[:80] + ("…" if len(prompt) > 80 else ""),
                                partial(switching.use_preset, screen, name))
    for mode in REASONING_MODES:
        if mode != screen.pane.show_reasoning:
            yield SystemCommand(f"Thinking: show {mode}", "How a reasoning model's thinking is shown "
                                "(collapsed to one line, expanded, or hidden)",
                                partial(switching.show_reasoning, screen, mode))
