"""The terminal benchmark's figures: one row per run, the table, the target verdicts and new ÷ old ratios."""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

LATE_MS = 200.0
SATURATED = 90.0  # % of a window the event loop was busy: beyond it, it falls behind and batches
FAST = (500.0, 2000.0)  # the rates the long-reply targets are for
LONG = 8000


def pct(values: list[float], q: float) -> float | None:
    """The q-quantile (0..1), nearest rank; None when empty."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def ratio(a: float | None, b: float | None) -> float | None:
    """a ÷ b, None when either is unknown or b is 0."""
    return a / b if a is not None and b else None


def trend(values: list[float | None]) -> float | None:
    """Last ÷ first of the least-squares line through `values` (at least 3): a less noisy last ÷ first."""
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(points) < 3:
        return None
    n = len(points)
    mx, my = sum(i for i, _ in points) / n, sum(v for _, v in points) / n
    slope = sum((i - mx) * (v - my) for i, v in points) / sum((i - mx) ** 2 for i, _ in points)
    first, last = my + slope * (points[0][0] - mx), my + slope * (points[-1][0] - mx)
    return last / first if first > 0 else None


def figures(row: dict) -> dict:
    """The table's figures of one run."""
    f: dict[str, Any] = {k: row.get(k) for k in ("messages", "tokens", "rate", "runner", "variant", "lag_ms",
                                                  "cpu_pct", "other_pct", "load1", "noisy", "error", "at")}
    if row.get("runner") == "tmux":
        every: list[float | None] = []
        for phase in ("stream", "finish"):
            values = row.get(f"echo_{phase}_ms") or []
            every += values
            shown = [v for v in values if v is not None]
            f[f"{phase}_n"] = len(values)
            for name, q in (("p50", 0.5), ("p95", 0.95), ("max", 1.0)):
                f[f"{phase}_{name}"] = pct(shown, q)
        f["lost"] = sum(v is None for v in every)
        f["edits"] = sum(row.get(f"edits_{p}") or 0 for p in ("stream", "finish"))
        f["garbled"] = sum(row.get(f"edits_{p}_garbled") or 0 for p in ("stream", "finish"))
        f["late"] = sum(v is not None and v > LATE_MS for v in every)
        f["idle_p50"] = pct([v for v in row.get("echo_idle_ms") or [] if v is not None], 0.5)
    else:
        per = "flush" if row.get("first_flushes") and row.get("last_flushes") else "1000"  # per token without the hook
        f["flush_per"] = per
        f["flush_ratio"] = ratio(row.get(f"last_cpu_ms_per_{per}"), row.get(f"first_cpu_ms_per_{per}"))
        f["busy_ratio"] = ratio(row.get(f"last_busy_ms_per_{per}"), row.get(f"first_busy_ms_per_{per}"))
        f["flush_first_ms"], f["flush_last_ms"] = row.get("first_flush_ms"), row.get("last_flush_ms")
        f["flush_trend"] = trend(row.get("cpu_ms_per_flush_by_1000") or [])
        f["saturated"] = max(row.get("first_busy_pct") or 0, row.get("last_busy_pct") or 0) >= SATURATED
        f["longest_busy_ms"] = row.get("longest_busy_ms")
    return f


def num(value: float | None, spec: str = ".0f") -> str:
    """A figure, or — when unknown."""
    return "—" if value is None else format(value, spec)


COLUMNS = (("msgs", 4), ("tokens", 6), ("tok/s", 6), ("runner", 8), ("checkout", 22), ("lag ms", 6),
           ("echo streaming", 21), ("echo at finish", 21), ("lost late garbled", 17), ("CPU%", 4), ("flush l÷f", 17),
           ("flush() ms", 12), ("other%  load at", 19))
SUBHEADS = ("", "", "", "", "", "", "p50/ p95/  max (n)", "p50/ p95/  max (n)", "keys >200  edits", "core",
            "cpu / busy  fit", "first→last", "")


def line(cells: list[str]) -> str:
    """Cells padded to their columns (text left, figures right)."""
    out = []
    for (name, width), cell in zip(COLUMNS, cells):
        out.append(cell.ljust(width) if name in ("runner", "checkout") else cell.rjust(width))
    return " ".join(out[:6]) + " │ " + " │ ".join(out[6:])


def table_line(f: dict) -> str:
    """One row of the table."""
    lead = [str(f["messages"]), f"{f['tokens']:,}", f"{f['rate']:,.0f}", f["runner"], f["variant"][:22],
            num(f["lag_ms"])]
    if f.get("error"):
        return line(lead) + " │ error: " + str(f["error"]).splitlines()[-1][:100]
    if f["runner"] == "tmux":
        echo = [f"{num(f[p + '_p50'])}/{num(f[p + '_p95']):>4}/{num(f[p + '_max']):>5} ({f[p + '_n']})"
                for p in ("stream", "finish")]
        rest = [f"{f['lost']:>4} {f['late']:>4} {f['garbled']:>3}/{f['edits']:<3}", num(f["cpu_pct"]), "", ""]
    else:
        echo = ["", ""]
        mark = "!" if f["saturated"] else " "
        fit = f"~{num(f['flush_trend'], '.2f')}" if f["flush_trend"] is not None else ""
        rest = ["", num(f["cpu_pct"]),
                f"{num(f['flush_ratio'], '.2f')}/{num(f['busy_ratio'], '.2f')}{mark}{fit:>6}",
                f"{num(f['flush_first_ms'], '.1f')}→{num(f['flush_last_ms'], '.1f')}"]
    tail = f"{num(f['other_pct']):>5}{'*' if f.get('noisy') else ' '} {num(f['load1'], '.1f'):>4} {f.get('at') or ''}"
    return line(lead + echo + rest + [tail])


HEADER = line([name for name, _ in COLUMNS]) + "\n" + line(list(SUBHEADS))


# ----------------------------------------------------------------------------------------------- targets
def fast_long(f: dict) -> bool:
    """8,000 tokens at 500 or 2,000 tok/s (the long-reply targets)."""
    return f["tokens"] == LONG and f["rate"] in FAST


TARGETS: list[tuple[str, Callable[[dict], bool], tuple[str, ...], str, float]] = [
    ("lag <= 100 ms (8,000 tokens at 500/2,000 tok/s)", fast_long, ("tmux", "pty", "headless"), "lag_ms", 100),
    ("key echo p95 <= 50 ms while streaming", fast_long, ("tmux",), "stream_p95", 50),
    ("key echo p95 <= 50 ms at the finish", fast_long, ("tmux",), "finish_p95", 50),
    ("no key lost", fast_long, ("tmux",), "lost", 0),
    ("no key later than 200 ms", fast_long, ("tmux",), "late", 0),
    ("no edit garbled (keys applied out of order)", fast_long, ("tmux",), "garbled", 0),
    ("flush cost last 1,000 ÷ first 1,000 tokens <= 1.2 (CPU per flush, 8,000 tokens, every rate)",
     lambda f: f["tokens"] == LONG, ("pty", "headless"),
     "flush_ratio", 1.2),
    ("60 tok/s app CPU <= 15 % of one core", lambda f: f["rate"] == 60, ("tmux", "pty", "headless"), "cpu_pct", 15),
]


def medians(figs: list[dict]) -> list[dict]:
    """One row per cell, runner and checkout: the median of each figure over its repeats (errors left out)."""
    groups: dict[tuple, list[dict]] = {}
    for f in figs:
        if not f.get("error"):
            groups.setdefault((f["messages"], f["tokens"], f["rate"], f["runner"], f["variant"]), []).append(f)
    out = []
    for rows in groups.values():
        merged = dict(rows[0])
        for key, value in rows[0].items():
            values = [r.get(key) for r in rows]
            if isinstance(value, (int, float)) and not isinstance(value, bool) and None not in values:
                merged[key] = statistics.median(values)
        merged["noisy"] = all(r.get("noisy") for r in rows)
        merged["repeats"] = len(rows)
        out.append(merged)
    return out


def verdicts(rows: list[dict], variant: str) -> list[str]:
    """One line per target for one checkout: met / MISSED, the worst figure and where, every figure (medians
    of repeats)."""
    lines: list[str] = []
    for name, wanted, runners, key, limit in TARGETS:
        got = [f for f in rows if f["variant"] == variant and f["runner"] in runners and wanted(f)
               and not f.get("error") and f.get(key) is not None]
        if not got:
            lines.append(f"  {name}: not measured")
            continue
        worst = max(got, key=lambda f: f[key])
        spec = ".2f" if key == "flush_ratio" else ".0f"
        every = ", ".join(f"{f['runner']} {f['tokens'] / 1000:g}k@{f['rate']:g}/{f['messages']}: {num(f[key], spec)}"
                          f"{'*' if f.get('noisy') else ''}{'!' if f.get('saturated') else ''}" for f in got)
        where = f"{worst['runner']}, {worst['tokens']:,} tokens at {worst['rate']:,.0f} tok/s, {worst['messages']} msgs"
        lines.append(f"  {name}: {'met' if worst[key] <= limit else 'MISSED'} — worst {num(worst[key], spec)} "
                     f"({where})\n      all (runner tokens@tok/s/messages): {every}")
    return lines


def ratios(rows: list[dict], labels: list[str]) -> list[str]:
    """New ÷ old per cell and runner, for each older checkout."""
    keys = (("lag", "lag_ms"), ("echo p95", "stream_p95"), ("finish p95", "finish_p95"), ("CPU", "cpu_pct"),
            ("flush l÷f", "flush_ratio"))
    index = {(f["messages"], f["tokens"], f["rate"], f["runner"], f["variant"]): f for f in rows}
    lines = []
    for old in labels[1:]:
        lines.append(f"{labels[0]} ÷ {old} (below 1: the first is better):")
        for (m, n, r, runner, v), f in index.items():
            other = index.get((m, n, r, runner, old))
            if v != labels[0] or other is None:
                continue
            parts = [f"{label} {ratio(f.get(k), other.get(k)):.2f}×" for label, k in keys
                     if ratio(f.get(k), other.get(k)) is not None]
            lines.append(f"  {m:>4} msgs {n:>6,} tok {r:>6,.0f} tok/s {runner:<8} " + ", ".join(parts))
    return lines


# ----------------------------------------------------------------------------------------------- output
def machine(args: Any, labels: list[str]) -> dict:
    """Where and how it runs."""
    try:
        import textual

        textual_version = textual.__version__
    except ImportError:
        textual_version = "?"
    tmux = "—"
    if shutil.which("tmux"):
        tmux = subprocess.run(["tmux", "-V"], capture_output=True, text=True).stdout.strip()
    return {"date": time.strftime("%Y-%m-%d %H:%M"), "cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "textual": textual_version, "tmux": tmux,
            "load_at_start": os.getloadavg(), "checkouts": labels, "terminal": "160x50",
            "command": " ".join(["python", "benchmarks/terminal.py", *sys.argv[1:]])}


def describe(header: dict, estimate_s: float) -> str:
    """What is about to run."""
    return (f"terminal: {header['date']}, {header['cpus']} CPUs, {header['platform']}, Python {header['python']}, "
            f"Textual {header['textual']}, {header['tmux']}, terminal {header['terminal']}; load average "
            f"{header['load_at_start'][0]:.2f}\n  checkouts: {', '.join(header['checkouts'])}\n"
            f"  about {estimate_s / 60:.0f} minutes on a quiet machine; up to about 2.5× that on a busy one "
            f"(waits for quiet, reruns)")


def progress_line(row: dict) -> str:
    """A short line per finished run."""
    f = figures(row)
    extra = (f"echo p95 {num(f.get('stream_p95'))}/{num(f.get('finish_p95'))} ms lost {f.get('lost')}"
             if f["runner"] == "tmux" else f"flush l÷f {num(f.get('flush_ratio'), '.2f')}")
    return (f"{f['runner']:<8} {f['messages']:>3} msgs {f['tokens']:>5} tok {f['rate']:>5,.0f} tok/s {f['variant']}: "
            f"lag {num(f['lag_ms'])} ms, {extra}, CPU {num(f['cpu_pct'])}%, other {num(f['other_pct'])}%"
            + (f" ERROR {str(f['error']).splitlines()[-1][:120]}" if f.get("error") else ""))


LEGEND = ("(ms; tmux: lag = last token written → on screen, echo = word typed → on screen, lost = not on screen "
          "after 3 s, garbled = edits (typo, Backspace, more) shown out of order; pty/headless: lag = last token → "
          "drawn by the live reply's flush(), or by its finish when no flush had it (JSON: settled_lag_ms, to the "
          "finished view on screen), nobody types; "
          "flush l÷f = last 1,000 tokens ÷ first 1,000, CPU (all threads) / loop busy time per flush (per token "
          "when the flush hook is missing), ~fit = the same from a line through every 1,000-token window's CPU per "
          "flush (8,000 tokens: less noisy), ! = the loop was busy >= 90 % of a window: it fell behind and batched "
          "tokens; flush() = the live reply's draw call alone (CPU ms); other% = other processes' CPU meanwhile, "
          "* = still above --max-other after retries)")


def report(rows: list[dict], labels: list[str], header: dict) -> list[dict]:
    """Print the table, the verdicts and the ratios; the figures."""
    def order(f: dict) -> tuple:
        """Messages, tokens, rate, runner, checkout."""
        return (f["messages"], f["tokens"], f["rate"], ("tmux", "pty", "headless").index(f["runner"]),
                labels.index(f["variant"]) if f["variant"] in labels else 0)

    figs = sorted((figures(r) for r in rows), key=order)
    print("\n" + HEADER)
    for f in figs:
        print(table_line(f))
    print(LEGEND)
    for label in labels:
        lines = verdicts(medians(figs), label)
        if all(line.endswith("not measured") for line in lines):
            print(f"\ntargets — {label}: not in this matrix (8,000 tokens at 500 and 2,000 tok/s; 60 tok/s)")
            continue
        print(f"\ntargets — {label}:")
        print("\n".join(lines))
    if len(labels) > 1:
        print("\n" + "\n".join(ratios(medians(figs), labels)))
    if header.get("duration_s"):
        print(f"\nmeasured in {header['duration_s'] / 60:.1f} minutes; load average now "
              f"{os.getloadavg()[0]:.2f} (at start {header['load_at_start'][0]:.2f})")
    return figs
