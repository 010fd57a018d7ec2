"""Switching what the main screen talks to or shows: server profile, model, prompt preset, thinking display."""

from __future__ import annotations

from typing import TYPE_CHECKING

from zorac_tui.config import ConfigError

if TYPE_CHECKING:
    from zorac_tui.ui.main_screen import MainScreen


def switch_server(screen: MainScreen, name: str) -> None:
    """Talk to server profile `name` from now on; the conversation stays and is recounted with its tokenizer."""
    if screen.reply.streaming:
        screen.notify("A reply is streaming — switch servers once it is done (or Esc).", severity="warning")
        return
    try:
        settings = screen.settings.for_server(name)
    except ConfigError as exc:
        screen.notify(str(exc), severity="error", markup=False)
        return
    screen.settings = screen.reply.settings = screen.budget.settings = screen.persistence.settings = settings
    screen.reply.attach(None)
    screen.budget.connection = None
    screen.header.model = settings.model
    screen.server.switch(settings)
    screen.telemetry.start(settings, screen.demo, screen.nvml_module)
    screen.pane.add_notice(f"Switching to server {name} ({settings.base_url}) — the conversation stays.")


async def use_model(screen: MainScreen, model: str) -> None:
    """Use another model of this server for the next replies."""
    if screen.reply.streaming:
        screen.notify("A reply is streaming — pick the model once it is done (or Esc).", severity="warning")
    elif not await screen.server.use_model(model):
        screen.notify(f"The server does not serve {model!r}.", severity="warning", markup=False)


def show_reasoning(screen: MainScreen, mode: str) -> None:
    """Show replies' thinking collapsed, expanded or not at all (this session)."""
    screen.pane.set_show_reasoning(mode)
    screen.notify(f"Thinking is shown {mode} (set show_reasoning in the config file to keep it).")



def use_preset(screen: MainScreen, name: str) -> None:
    """Give this conversation another system-prompt preset (stored with it; sent from the next request)."""
    try:
        preset = screen.settings.preset(name)
    except ConfigError as exc:
        screen.notify(str(exc), severity="error", markup=False)
        return
    default = name == "default"
    screen.conversation.preset = None if default else name
    screen.conversation.system_prompt = None if default else preset.system_prompt
    screen.persistence.remember_preset(screen.conversation)
    screen.header.preset = screen.conversation.preset or ""
    screen.recount()
    screen.notify(f"System prompt: {name} for this conversation (sent from the next message).", markup=False)
