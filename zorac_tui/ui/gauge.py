"""The context-budget strip under the conversation: a segmented bar, the figures and their sources."""

from __future__ import annotations

from rich.text import Text

from zorac_tui.core.budget import ContextBudget
from zorac_tui.ui.steady import Fitted, SteadyStatic

SEGMENT_STYLE = {
    "system": "magenta",
    "summary": "blue",
    "history": "cyan",
    "draft": "bright_white",
}
LEVEL_STYLE = {"ok": "green", "warning": "yellow", "over": "bold red"}
MIN_BAR, MAX_BAR = 8, 40  # cells of the bar: it takes what the figures leave of the line


def budget_bar(budget: ContextBudget, width: int) -> Text:
    """Segments in their colours, then the reply reserve as shaded cells, then free space."""
    text = Text()
    used_cells = 0
    for name, tokens in budget.segments():
        if name == "reserve" or not tokens:
            continue
        cells = max(1, round(tokens / budget.window * width))
        cells = min(cells, width - used_cells)
        text.append("█" * cells, style=SEGMENT_STYLE[name])
        used_cells += cells
    reserve_cells = min(width - used_cells, round(budget.reserve / budget.window * width))
    over = budget.used + budget.reserve > budget.window
    text.append("▒" * reserve_cells, style="red" if over else "grey50")
    text.append("░" * (width - used_cells - reserve_cells), style="grey30")
    return text


class ContextGauge(SteadyStatic):
    """Two lines: bar with `used / window · %`, then segment sizes and where each number came from."""

    def __init__(self, **kwargs) -> None:
        """Unknown until the server answers."""
        super().__init__(**kwargs)
        self.budget: ContextBudget | None = None
        self.note = ""

    def on_mount(self) -> None:
        """Waiting state."""
        self.update(Fitted(self.render_text))

    def show_budget(self, budget: ContextBudget, note: str = "") -> None:
        """Show a new measurement."""
        self.budget = budget
        self.note = note
        self.set_class(budget.level() == "warning", "-warning")
        self.set_class(budget.level() == "over", "-over")
        self.update(Fitted(self.render_text))

    def render_text(self, columns: int | None = None) -> Text:
        """The two lines, for `columns` (default: the gauge's width now)."""
        budget = self.budget
        if budget is None:
            return Text("context: counting starts once the server answers…", style="dim")
        columns = columns or self.size.width or 80
        label, reserve = f" {budget.label()}", f" +{budget.reserve:,} reserve"
        widest = len(f" ≈{budget.window:,} / {budget.window:,} tokens · 100%")  # the bar keeps its width as
        room = columns - len("context ") - max(widest, len(label)) - 1  # the figures change
        reserve_above = room - len(reserve) >= MIN_BAR  # else the reserve opens the second line
        width = max(MIN_BAR, min(MAX_BAR, room - (len(reserve) if reserve_above else 0)))
        text = Text()
        text.append("context ", style="bold")
        text.append_text(budget_bar(budget, width))
        text.append(label, style=LEVEL_STYLE[budget.level()])
        text.append(f"{reserve}\n" if reserve_above else "\n", style="dim")
        if not reserve_above:
            text.append(f"{reserve.strip()} · ", style="dim")
        for name, tokens in budget.segments():
            if name == "reserve":
                continue
            text.append("■", style=SEGMENT_STYLE[name])
            text.append(f"{name} {tokens:,} ", style="dim")
        text.append(f"· {budget.count_source} · window {budget.window_source}", style="dim")
        if self.note:
            text.append(f" · {self.note}", style="dim")
        return text
