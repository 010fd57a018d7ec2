"""The header line: app name, model, server state and the DEMO badge."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive

from zorac_tui.core.text import ellipsize
from zorac_tui.ui.steady import SteadyStatic

STATE_STYLE = {"connected": "green", "connecting": "yellow", "unreachable": "red", "streaming": "cyan"}
NAME = " zorac-tui "
BADGE = " DEMO · simulated server & GPU "
SHORT_BADGE = " DEMO "
MIN_DETAIL = 8  # a server detail cut shorter than this says nothing: drop it
MIN_MODEL = 8
URL_STATES = ("unreachable", "connecting")  # states whose detail is the URL being tried


def fit_detail(detail: str, room: int) -> str:
    """The leading " · "-separated parts of `detail` that fit whole in `room` cells (the first one cut
    with "…" when only it is too long, and nothing when even that would be too short to read)."""
    parts = detail.split(" · ") if detail else []
    shown = ""
    for part in parts:
        candidate = f"{shown} · {part}" if shown else part
        if len(candidate) > room:
            break
        shown = candidate
    if not shown and parts and room >= MIN_DETAIL:
        shown = ellipsize(parts[0], room)
    return shown


def header_line(width: int, *, model: str, state: str, detail: str = "", demo: bool = False) -> Text:
    """The header fitted to `width` cells: the name, the DEMO badge and the server state always show;
    the server detail is cut first, then the badge shortens, then the model name (its org first)."""
    model = model or "model: detecting…"
    state_text = f"● {state}"
    badge = BADGE if demo else ""

    def fixed() -> int:
        """Cells taken by everything but the model and the detail."""
        return len(NAME) + (len(badge) + 1 if badge else 0) + 2 + 2 + len(state_text)

    if width > 0 and fixed() + len(model) > width and demo:
        badge = SHORT_BADGE
    if width > 0 and fixed() + len(model) > width and "/" in model:
        model = model.split("/", 1)[1]  # "org/Model-AWQ" → "Model-AWQ": the org says least
    if width > 0:
        model = ellipsize(model, max(MIN_MODEL, width - fixed()))
    room = width - fixed() - len(model) - 3 if width > 0 else len(detail)
    first = detail.split(" · ")[0] if detail else ""
    if first and len(first) > room and "/" in model and state in URL_STATES:  # the URL to fix beats the org
        model = model.split("/", 1)[1]
        room = width - fixed() - len(model) - 3
    shown_detail = fit_detail(detail, room)

    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(NAME, style="bold reverse")
    if badge:
        text.append(" ")
        text.append(badge, style="bold black on yellow")
    text.append("  ")
    text.append(model, style="bold")
    text.append("  ")
    text.append("● ", style=STATE_STYLE.get(state, "white"))
    text.append(state)
    if shown_detail:
        text.append(f" · {shown_detail}", style="dim")
    return text


class AppHeader(SteadyStatic):
    """One line at the top; every field is plain text, never markup."""

    model: reactive[str] = reactive("")
    server_state: reactive[str] = reactive("connecting")
    server_detail: reactive[str] = reactive("")
    demo: reactive[bool] = reactive(False)
    preset: reactive[str] = reactive("")  # the conversation's system-prompt preset ("" for the default)

    def render(self) -> Text:
        """Compose the line for the current width."""
        model = f"{self.model} · {self.preset}" if self.preset and self.model else self.model
        return header_line(self.content_size.width, model=model, state=self.server_state,
                           detail=self.server_detail, demo=self.demo)

    def on_resize(self) -> None:
        """Refit the line when the terminal's width changes."""
        self.refresh()
