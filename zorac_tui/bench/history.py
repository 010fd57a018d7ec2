"""Every bench result, one JSON document per line in <data dir>/bench/history.jsonl (dir 0700, file 0600).

Each line is the full "zorac-tui-bench/1" document (server version, model, date included), so runs
can be compared over time; `zorac-tui bench --history` prints a compact table of them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from zorac_tui import paths

FILE_NAME = "history.jsonl"


def history_dir() -> Path:
    """<data dir>/bench."""
    return paths.data_dir() / "bench"


def history_file() -> Path:
    """The JSON-lines file holding every saved result."""
    return history_dir() / FILE_NAME


def save(document: dict[str, Any]) -> Path:
    """Append one result document; creates the directory (0700) and file (0600). Raises OSError."""
    paths.ensure_private_dir(history_dir())
    target = history_file()
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n")
    return target


def load() -> tuple[list[dict[str, Any]], int]:
    """(documents oldest first, number of unreadable lines skipped); missing file → ([], 0)."""
    try:
        lines = history_file().read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return [], 0
    docs, bad = [], 0
    for line in lines:
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(doc, dict) and str(doc.get("schema", "")).startswith("zorac-tui-bench/"):
            docs.append(doc)
        else:
            bad += 1
    return docs, bad


def _num(value: Any, pattern: str) -> str:
    return pattern.format(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else "—"


def history_rows(docs: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """(date, model, server, prompt/max, TTFT, decode, best aggregate, VRAM, verdict) per saved result."""
    rows = []
    for doc in docs:
        server = doc.get("server") or {}
        settings = doc.get("settings") or {}
        req = doc.get("requirements") or {}
        gpu = doc.get("gpu") or {}
        aggregates = [((lv.get("summary") or {}).get("aggregate_tok_s") or {}).get("median")
                      for lv in doc.get("levels") or []]
        best = max((a for a in aggregates if isinstance(a, (int, float))), default=None)
        best_c = next((lv.get("concurrency") for lv, a in zip(doc.get("levels") or [], aggregates) if a == best), None)
        flavor = server.get("flavor") or "?"
        version = f"{flavor} {server['version']}" if server.get("version") else flavor
        mark = "≈" if doc.get("token_counts") == "estimated" else ""
        verdict = "PASS" if req.get("pass") else "FAIL"
        model = str(server.get("model", "?"))
        rows.append((
            str(doc.get("date", "?")).replace("T", " ")[:16],
            model.rsplit("/", 1)[-1] or model,
            "SIMULATED" if doc.get("simulated") else version,
            f"{settings.get('prompt_tokens', '?')}/{settings.get('max_tokens', '?')}",
            _num(req.get("ttft_s"), "{:.3f}"),
            mark + _num(req.get("decode_tok_s"), "{:.1f}"),
            (mark + _num(best, "{:.1f}") + (f" @{best_c}" if best_c else "")) if best is not None else "—",
            _num(gpu.get("peak_vram_gib"), "{:.1f}"),
            verdict,
        ))
    return rows


HEADERS = ("date (UTC)", "model", "server", "in/out", "TTFT s", "tok/s", "max aggr.", "GiB", "req.")


def history_table(docs: list[dict[str, Any]]) -> Table:
    """A compact table of past runs, oldest first (model without its organisation prefix)."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False,
                  caption="tok/s: decode median at the lowest concurrency; "
                  "max aggr.: highest aggregate tok/s @ its concurrency; GiB: peak VRAM", caption_justify="left")
    for i, name in enumerate(HEADERS):
        table.add_column(name, justify="left" if i < 4 else "right", no_wrap=i != 1,
                         overflow="fold" if i == 1 else "ellipsis", min_width=16 if i == 1 else None)
    for row in history_rows(docs):
        table.add_row(*(Text(cell) for cell in row))
    return table
