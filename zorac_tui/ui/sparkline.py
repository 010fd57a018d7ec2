"""Text sparklines and bars for the sidebar (Rich Text, no widgets)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

BLOCKS = "▁▂▃▄▅▆▇█"
NARROW = 26  # panel text columns below which a panel uses its short layout (the 80-column sidebar has 20)


def is_narrow(width: int) -> bool:
    """Whether a panel `width` columns wide (0: not laid out yet) takes its short layout."""
    return 0 < width < NARROW


def sparkline(values: Sequence[float | None], width: int, *, top: float | None = None,
              style: str = "cyan") -> Text:
    """The last `width` values as block characters scaled to `top` (default: their max)."""
    recent = list(values)[-width:]
    known = [v for v in recent if v is not None]
    peak = top if top else (max(known) if known else 0.0)
    text = Text()
    for v in recent:
        if v is None or peak <= 0:
            text.append(" ")
            continue
        idx = min(len(BLOCKS) - 1, max(0, round(v / peak * (len(BLOCKS) - 1))))
        text.append(BLOCKS[idx], style=style)
    return text


def bar(fraction: float | None, width: int, *, style: str = "green", empty_style: str = "grey30") -> Text:
    """A horizontal bar filled to `fraction` (0..1), with eighth-block precision."""
    text = Text()
    if fraction is None:
        text.append("·" * width, style=empty_style)
        return text
    fraction = min(1.0, max(0.0, fraction))
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    text.append("█" * full, style=style)
    if part and full < width:
        text.append(" ▏▎▍▌▋▊▉"[part], style=style)
        full += 1
    text.append("░" * (width - full), style=empty_style)
    return text
