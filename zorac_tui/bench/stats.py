"""Median, minimum and maximum of a list of measurements (None values are skipped)."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Summary:
    """Median/min/max over `n` values; every figure is None when there were none."""

    median: float | None
    min: float | None
    max: float | None
    n: int

    def as_dict(self) -> dict[str, float | None]:
        """The JSON form: {"median", "min", "max"} (rounded to 4 decimals)."""
        return {"median": _round(self.median), "min": _round(self.min), "max": _round(self.max)}


def summarize(values: Iterable[float | None]) -> Summary:
    """Summary of the values that are not None."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return Summary(None, None, None, 0)
    return Summary(statistics.median(present), min(present), max(present), len(present))


def _round(value: float | None) -> float | None:
    """Round for JSON without turning ints into noise."""
    return None if value is None else round(value, 4)
