"""How figures read on screen and in exports: durations, rates, memory — one formatter each."""

from __future__ import annotations

GIB = 1024**3
DASH = "—"


def duration(seconds: float | None) -> str:
    """'210 ms' under a second, '1.25 s' from one up, '—' when unknown."""
    if seconds is None:
        return DASH
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def rate(tok_s: float | None, estimated: bool = False) -> str:
    """'61.2 tok/s' ('≈' first when counted per chunk), '—' when unknown."""
    if tok_s is None:
        return DASH
    return f"{'≈' if estimated else ''}{tok_s:.1f} tok/s"


def gib(value: int | None) -> str:
    """Bytes as GiB with one decimal (as nvidia-smi's MiB figures add up), '—' when unknown."""
    return DASH if value is None else f"{value / GIB:.1f}"
