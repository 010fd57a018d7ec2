"""A BenchResult for people (a Rich table beside the design's reference figures, PASS/FAIL) and machines (JSON).

JSON schema "zorac-tui-bench/1" — keys are stable; new keys may be added, none renamed or removed
without bumping the number. Times in seconds, rates in tokens per second, memory in bytes (plus GB):

    schema              "zorac-tui-bench/1"
    zorac_tui_version   version of the tool that measured
    date                ISO 8601 UTC start time;  duration_s: wall time of the whole bench
    simulated           true when measured against the built-in simulator (--demo)
    server              {base_url, flavor ("vllm"|"llamacpp"|"openai-compatible"), version, model, max_model_len}
    settings            {runs, prompt_tokens, max_tokens, concurrency: [..], warmup, ignore_eos}
    prompt              {requested_tokens, tokens, exact, source}
    token_counts        "server" (every count from the server) | "estimated" (chunks counted)
    definitions         {ttft_s, ttfa_s, thinking_s, decode_tok_s}: what each figure measures, in words
    levels[]            {concurrency,
                         summary: {ttft_s, ttfa_s, thinking_s, decode_tok_s, e2e_s, aggregate_tok_s, prompt_tokens,
                                   completion_tokens, thinking_tokens, answer_tokens}
                                  each {median, min, max} (per stream, aggregate per run; ttfa_s/thinking_s
                                  null for a model that does not think),
                         runs[]: {run, wall_s, aggregate_tok_s, completion_tokens,
                                  streams[]: {ttft_s, ttfa_s, thinking_s, decode_tok_s, e2e_s, prompt_tokens,
                                              completion_tokens, thinking_tokens, answer_tokens,
                                              finish_reason, counts}}}
    gpu                 {available, simulated, note, name, peak_vram_bytes, peak_vram_gib, vram_total_bytes,
                         peak_server_vram_bytes, peak_power_w, power_limit_w, samples}
    requirements        {ttft_s_below: 1.0, decode_tok_s_above: 30.0, judged_at_concurrency, ttft_s, decode_tok_s,
                         ttft_pass, decode_pass, pass}
    reference[]         {setup, decode_tok_s_low, decode_tok_s_high, ttft_s, vram_gib}   (the design's seed table)
    notes[]             one-line caveats (estimates, early stops, remote GPU, SIMULATED)
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from zorac_tui import __version__
from zorac_tui.bench.results import REQUIRED_DECODE_TOK_S, REQUIRED_TTFT_S, BenchResult
from zorac_tui.bench.stats import Summary

SCHEMA = "zorac-tui-bench/1"
GIB = 1024**3

# The seed table the project's design rests on (DESIGN.md, "Facts the product is built on").
REFERENCE: tuple[dict[str, Any], ...] = (
    {"setup": "AWQ + Marlin (RTX 4090, Mistral-Small-24B)", "decode_tok_s_low": 60.0, "decode_tok_s_high": 65.0,
     "ttft_s": 0.3, "vram_gib": 22.0},
    {"setup": "GPTQ", "decode_tok_s_low": 45.0, "decode_tok_s_high": 55.0, "ttft_s": None, "vram_gib": None},
    {"setup": "bitsandbytes NF4", "decode_tok_s_low": 15.0, "decode_tok_s_high": 20.0, "ttft_s": None,
     "vram_gib": None},
    {"setup": "GGUF (generic kernels)", "decode_tok_s_low": 6.0, "decode_tok_s_high": 6.0, "ttft_s": None,
     "vram_gib": None},
)

METRICS = (  # (summary key, label, format)
    ("ttft_s", "TTFT (s)", "{:.3f}"),
    ("decode_tok_s", "decode tok/s per stream", "{:.1f}"),
    ("aggregate_tok_s", "aggregate tok/s", "{:.1f}"),
    ("e2e_s", "end-to-end (s)", "{:.2f}"),
)
THINKING_METRICS = (  # shown after TTFT when the model thinks
    ("ttfa_s", "time to first answer (s)", "{:.3f}"),
    ("thinking_s", "thinking (s)", "{:.3f}"),
)
DEFINITIONS = {
    "ttft_s": "request sent -> first token of any kind (thinking or answer)",
    "ttfa_s": "request sent -> first answer token (a model that thinks answers after its thinking)",
    "thinking_s": "first thinking token -> first answer token (or -> the last thinking token when no answer came)",
    "decode_tok_s": "every generated token after the first, thinking and answer (what the GPU decodes), "
                    "/ time from the first token to the last; TTFT excluded",
}


# ------------------------------------------------------------------------------------------ JSON
def to_json(result: BenchResult) -> dict[str, Any]:
    """The result as a document of schema "zorac-tui-bench/1"."""
    cfg, server, verdict = result.config, result.server, result.verdict()
    return {
        "schema": SCHEMA,
        "zorac_tui_version": __version__,
        "date": result.started.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "duration_s": round(result.duration_s, 3),
        "simulated": result.simulated,
        "server": {"base_url": server.base_url, "flavor": server.flavor, "version": server.version,
                   "model": server.model, "max_model_len": server.max_model_len},
        "settings": {"runs": cfg.runs, "prompt_tokens": cfg.prompt_tokens, "max_tokens": cfg.max_tokens,
                     "concurrency": list(cfg.concurrency), "warmup": cfg.warmup, "ignore_eos": result.ignore_eos},
        "prompt": {"requested_tokens": result.prompt.target, "tokens": result.prompt.tokens,
                   "exact": result.prompt.exact, "source": result.prompt.source},
        "token_counts": result.token_counts,
        "definitions": dict(DEFINITIONS),
        "levels": [
            {
                "concurrency": level.concurrency,
                "summary": {key: s.as_dict() for key, s in level.summary().items()},
                "runs": [
                    {
                        "run": run.run,
                        "wall_s": _r(run.wall_s),
                        "aggregate_tok_s": _r(run.aggregate_tok_s),
                        "completion_tokens": run.completion_tokens,
                        "streams": [
                            {"ttft_s": _r(s.ttft_s), "ttfa_s": _r(s.ttfa_s), "thinking_s": _r(s.thinking_s),
                             "decode_tok_s": _r(s.decode_tok_s), "e2e_s": _r(s.e2e_s),
                             "prompt_tokens": s.prompt_tokens, "completion_tokens": s.completion_tokens,
                             "thinking_tokens": s.thinking_tokens, "answer_tokens": s.answer_tokens,
                             "finish_reason": s.finish_reason, "counts": s.counts}
                            for s in run.streams
                        ],
                    }
                    for run in level.runs
                ],
            }
            for level in result.levels
        ],
        "gpu": result.gpu.as_dict(),
        "requirements": {"ttft_s_below": REQUIRED_TTFT_S, "decode_tok_s_above": REQUIRED_DECODE_TOK_S,
                         "judged_at_concurrency": verdict.concurrency, "ttft_s": _r(verdict.ttft_s),
                         "decode_tok_s": _r(verdict.decode_tok_s), "ttft_pass": verdict.ttft_pass,
                         "decode_pass": verdict.decode_pass, "pass": verdict.passed},
        "reference": [dict(row) for row in REFERENCE],
        "notes": list(result.notes),
    }


def _r(value: float | None) -> float | None:
    """Rounded to 4 decimals for JSON (None stays None)."""
    return None if value is None else round(value, 4)


# ------------------------------------------------------------------------------------------ rows
def _fmt(value: float | None, pattern: str) -> str:
    """A figure formatted, or a dash when there is none."""
    return "—" if value is None else pattern.format(value)


def _approx(result: BenchResult) -> str:
    """"≈" when counts are estimated."""
    return "≈" if result.token_counts != "server" else ""


def thinks(result: BenchResult) -> bool:
    """Whether the model thought in any measured stream."""
    return any(s.thinking_tokens for lv in result.levels for s in lv.streams)


def summary_rows(result: BenchResult) -> list[tuple[str, str, str, str, str]]:
    """(concurrency, metric, median, min, max) rows — the same table for the terminal and the app.

    A model that thinks gets two more rows (time to first answer, thinking time) and a third for
    its thinking / answer tokens."""
    rows: list[tuple[str, str, str, str, str]] = []
    mark = _approx(result)
    metrics = METRICS[:1] + THINKING_METRICS + METRICS[1:] if thinks(result) else METRICS
    for level in result.levels:
        summary = level.summary()
        for i, (key, label, pattern) in enumerate(metrics):
            s: Summary = summary[key]
            prefix = mark if key in ("decode_tok_s", "aggregate_tok_s") else ""
            rows.append((str(level.concurrency) if i == 0 else "", label,
                         *(prefix + _fmt(v, pattern) if v is not None else "—" for v in (s.median, s.min, s.max))))
        p, c = summary["prompt_tokens"].median, summary["completion_tokens"].median
        rows.append(("", "tokens in / out (median)", f"{_fmt(p, '{:.0f}')} / {mark}{_fmt(c, '{:.0f}')}", "", ""))
        if thinks(result):
            t, a = summary["thinking_tokens"].median, summary["answer_tokens"].median
            rows.append(("", "tokens thinking / answer (median)",
                         f"{mark}{_fmt(t, '{:.0f}')} / {mark}{_fmt(a, '{:.0f}')}", "", ""))
    return rows


def definition_lines(result: BenchResult) -> list[str]:
    """What TTFT and decode mean here (and time to first answer and thinking, for a model that thinks)."""
    lines = ["TTFT: request sent → first token of any kind (thinking or answer). Decode: every generated token "
             "after the first, thinking and answer, ÷ the time from the first token to the last (TTFT excluded)."]
    if thinks(result):
        lines.append("Time to first answer: request sent → first answer token. Thinking: first thinking token → "
                     "first answer token.")
    return lines


def reference_rows(result: BenchResult) -> list[tuple[str, str, str, str]]:
    """(setup, decode tok/s, TTFT, VRAM): the user's setup first, then the design's reference table."""
    verdict = result.verdict()
    gpu = result.gpu
    vram = f"{gpu.peak_vram_bytes / GIB:.1f} GiB" if gpu.peak_vram_bytes is not None else "—"
    who = f"yours, concurrency {verdict.concurrency}" + (" (SIMULATED)" if result.simulated else "")
    rows = [(who, _approx(result) + _fmt(verdict.decode_tok_s, "{:.1f}"),
             _fmt(verdict.ttft_s, "{:.2f} s"), vram)]
    for ref in REFERENCE:
        low, high = ref["decode_tok_s_low"], ref["decode_tok_s_high"]
        rate = f"{low:.0f}" if low == high else f"{low:.0f}–{high:.0f}"
        if low == high:
            rate = f"~{rate}"
        rows.append((f"reference: {ref['setup']}", rate,
                     f"~{ref['ttft_s']:.1f} s" if ref["ttft_s"] else "",
                     f"~{ref['vram_gib']:.0f} GiB" if ref["vram_gib"] else ""))
    return rows


def requirement_lines(result: BenchResult) -> list[tuple[str, bool, str]]:
    """(requirement, passed, measured) for TTFT and decode."""
    v = result.verdict()
    where = f"median at concurrency {v.concurrency}"
    return [
        (f"TTFT < {REQUIRED_TTFT_S:g} s", v.ttft_pass, f"{_fmt(v.ttft_s, '{:.3f} s')} ({where})"),
        (f"decode > {REQUIRED_DECODE_TOK_S:g} tok/s", v.decode_pass,
         f"{_approx(result)}{_fmt(v.decode_tok_s, '{:.1f} tok/s')} ({where}; 60 preferred)"),
    ]


def gpu_line(result: BenchResult) -> str:
    """One line on peak VRAM and power, or why there are none."""
    gpu = result.gpu
    if not gpu.available:
        return f"GPU: {gpu.note or 'no figures'}"
    parts = []
    if gpu.peak_vram_bytes is not None:
        total = f" of {gpu.vram_total_bytes / GIB:.1f}" if gpu.vram_total_bytes else ""
        parts.append(f"peak VRAM {gpu.peak_vram_bytes / GIB:.1f}{total} GiB")
    if gpu.peak_server_vram_bytes is not None:
        parts.append(f"server process {gpu.peak_server_vram_bytes / GIB:.1f} GiB")
    if gpu.peak_power_w is not None:
        limit = f" of {gpu.power_limit_w:.0f}" if gpu.power_limit_w else ""
        parts.append(f"peak power {gpu.peak_power_w:.0f}{limit} W")
    label = "SIMULATED GPU" if gpu.simulated else "GPU"
    return f"{label} ({gpu.name}): " + " · ".join(parts or ["no figures"])


def header_lines(result: BenchResult) -> list[str]:
    """What was measured: model and server; prompt and settings."""
    s, cfg = result.server, result.config
    version = f"{s.flavor} {s.version}" if s.version else s.flavor
    sim = "SIMULATED · " if result.simulated else ""
    return [f"{sim}{s.model} · {version} at {s.base_url}",
            f"{result.prompt.label} · max_tokens {cfg.max_tokens} · {cfg.runs} run(s) per level after a warm-up"]


# ------------------------------------------------------------------------------------------ Rich
def render(result: BenchResult) -> Group:
    """The terminal report: header, results table, reference table, requirements, GPU, notes."""
    first, second = header_lines(result)
    parts: list[Any] = [Text(first, style="bold"), Text(second)]
    table = Table(box=box.SIMPLE_HEAD, title="Measured", title_justify="left", pad_edge=False)
    table.add_column("conc.", justify="right")
    table.add_column("metric")
    for name in ("median", "min", "max"):
        table.add_column(name, justify="right")
    rows = summary_rows(result)
    for i, row in enumerate(rows):
        table.add_row(*(Text(cell) for cell in row), end_section=i + 1 == len(rows) or rows[i + 1][0] != "")
    parts.append(table)
    parts += [Text(line, style="dim") for line in definition_lines(result)]
    ref = Table(box=box.SIMPLE_HEAD, title="Against the reference figures", title_justify="left", pad_edge=False)
    ref.add_column("setup")
    ref.add_column("decode tok/s", justify="right")
    ref.add_column("TTFT", justify="right")
    ref.add_column("VRAM", justify="right")
    for i, row in enumerate(reference_rows(result)):
        ref.add_row(*(Text(cell, style="bold" if i == 0 else "") for cell in row), end_section=i == 0)
    parts.append(ref)
    for name, ok, measured in requirement_lines(result):
        line = Text()
        line.append(" PASS " if ok else " FAIL ", style="bold black on green" if ok else "bold white on red")
        line.append(f" {name}: {measured}")
        parts.append(line)
    parts.append(Text(gpu_line(result)))
    for note in result.notes:
        if note != result.gpu.note:
            parts.append(Text(f"note: {note}", style="dim"))
    return Group(*parts)


def print_report(result: BenchResult, console: Console) -> None:
    """Print the terminal report."""
    console.print(render(result))
