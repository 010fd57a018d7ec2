"""The header line: app name, model, server state and the DEMO badge."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive

from zorac_tui.ui.steady import SteadyStatic

STATE_STYLE = {"connected": "green", "connecting": "yellow", "unreachable": "red", "streaming": "cyan"}


class AppHeader(SteadyStatic):
    """One line at the top; every field is plain text, never markup."""

    model: reactive[str] = reactive("")
    server_state: reactive[str] = reactive("connecting")
    server_detail: reactive[str] = reactive("")
    demo: reactive[bool] = reactive(False)

    def render(self) -> Text:
        """Compose the line."""
        text = Text()
        text.append(" zorac-tui ", style="bold reverse")
        if self.demo:
            text.append(" ")
            text.append(" DEMO · simulated server & GPU ", style="bold black on yellow")
        text.append("  ")
        text.append(self.model or "model: detecting…", style="bold")
        text.append("  ")
        text.append("● ", style=STATE_STYLE.get(self.server_state, "white"))
        text.append(self.server_state)
        if self.server_detail:
            text.append(f" · {self.server_detail}", style="dim")
        return text
