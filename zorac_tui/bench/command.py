"""`zorac-tui bench`: the command-line front of the bench (flags, progress bar, table, JSON, history).

Exit codes (each failure is one line on stderr, starting "zorac-tui bench:"):
    0  measured — the table says PASS or FAIL against the requirements; a FAIL is a result, not an error
    1  a request failed mid-bench, or the --json file could not be written
    2  usage: bad flags or a broken config file
    3  server unreachable (or answering /v1/models with an error)
    4  model not served
    5  context too small: --prompt-tokens + --max-tokens exceeds the model's max_model_len
  130  interrupted (Ctrl+C)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from zorac_tui.bench.results import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    WARMUP_MAX_TOKENS,
    BenchConfig,
    BenchError,
    BenchProgress,
    BenchResult,
)

PREFIX = "zorac-tui bench"
EPILOG = ("Exit codes: 0 measured (see PASS/FAIL), 1 a request failed, 2 usage, 3 server unreachable, "
          "4 model not served, 5 context too small for --prompt-tokens + --max-tokens.")


def _positive(text: str) -> int:
    """An integer ≥ 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _levels(text: str) -> tuple[int, ...]:
    """A comma-separated list of concurrency levels, e.g. 1,2,4,8 (duplicates dropped, order kept)."""
    levels: list[int] = []
    for part in text.split(","):
        if not part.strip():
            continue
        value = _positive(part.strip())
        if value not in levels:
            levels.append(value)
    if not levels:
        raise argparse.ArgumentTypeError("expected concurrency levels such as 1,2,4,8")
    return tuple(levels)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The bench subcommand's flags (dests prefixed so they never clash with the top-level flags)."""
    parser.description = ("Measure time to first token, decode tok/s and aggregate throughput of the server, "
                           "beside the reference figures (AWQ+Marlin 60–65 tok/s …) and the requirements "
                           "(TTFT < 1 s, decode > 30 tok/s). Results are saved for --history.")
    parser.epilog = EPILOG
    parser.add_argument("--base-url", dest="bench_base_url", metavar="URL",
                        help="server API root (default: the configured one)")
    parser.add_argument("--model", dest="bench_model", metavar="MODEL",
                        help="model to measure (default: the only one served)")
    parser.add_argument("--runs", type=_positive, default=5, metavar="N",
                        help="measured runs per concurrency level (default 5)")
    parser.add_argument("--prompt-tokens", type=_positive, default=200, metavar="N",
                        help="prompt size in tokens (default 200)")
    parser.add_argument("--max-tokens", dest="bench_max_tokens", type=_positive, default=500, metavar="N",
                        help="tokens to generate per request (default 500)")
    parser.add_argument("--concurrency", type=_levels, default=(1, 2, 4, 8), metavar="LEVELS",
                        help="comma-separated concurrent streams per run (default 1,2,4,8)")
    parser.add_argument("--json", dest="json_file", metavar="FILE",
                        help="also write the result as JSON (schema zorac-tui-bench/1); '-' for stdout only")
    parser.add_argument("--demo", dest="bench_demo", action="store_true",
                        help="measure the built-in simulator (results labelled SIMULATED)")
    parser.add_argument("--history", action="store_true", help="print past bench results and exit")


def _fail(code: int, message: str) -> int:
    """One line on stderr; returns `code`."""
    from zorac_tui.core.wording import one_line

    print(f"{PREFIX}: {one_line(message, 400)}", file=sys.stderr)
    return code


def _console(stderr: bool = False) -> Any:
    """A Rich console; at least 100 columns when not a terminal, so the table does not wrap in a file."""
    from rich.console import Console

    console = Console(stderr=stderr)
    if not console.is_terminal and console.width < 100:
        console = Console(stderr=stderr, width=100)
    return console


def show_history() -> int:
    """`--history`: one row per saved result, oldest first."""
    from zorac_tui.bench import history

    docs, bad = history.load()
    console = _console()
    if not docs:
        console.print(f"No saved bench results yet ({history.history_file()}). Run `zorac-tui bench`.",
                      markup=False, highlight=False)
    else:
        console.print(history.history_table(docs))
        console.print(f"{len(docs)} result(s) in {history.history_file()}", markup=False, highlight=False)
    if bad:
        print(f"{PREFIX}: skipped {bad} unreadable line(s) in {history.history_file()}", file=sys.stderr)
    return EXIT_OK


def settings_from(args: argparse.Namespace) -> tuple[str, str, bool, str | None]:
    """(base_url, model, model given on the command line, api_key): flags over env over config file."""
    from zorac_tui import config

    base_url = args.bench_base_url or getattr(args, "base_url", None)
    model = args.bench_model or getattr(args, "model", None)
    settings = config.load({"base_url": base_url, "model": model})
    return settings.base_url, settings.model, model is not None, settings.api_key


async def _measure(cfg: BenchConfig, show_progress: bool) -> BenchResult:
    """run_bench under a Rich progress bar on stderr (terminal only)."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn

    from zorac_tui.bench.runner import run_bench

    console = _console(stderr=True)
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                        TimeElapsedColumn(), console=console, transient=True,
                        disable=not (show_progress and console.is_terminal))
    task = progress.add_task("Starting", total=None)

    def update(p: BenchProgress) -> None:
        total = p.total or None
        progress.update(task, description=p.description, total=total, completed=p.completed)

    with progress:
        return await run_bench(cfg, update)


def run(args: argparse.Namespace) -> int:
    """The bench subcommand; returns the exit code."""
    if args.history:
        return show_history()
    from zorac_tui import config

    try:
        base_url, model, explicit, api_key = settings_from(args)
    except config.ConfigError as exc:
        return _fail(EXIT_USAGE, str(exc))
    simulator = None
    demo = bool(args.bench_demo or getattr(args, "demo", None))
    try:
        if demo:
            from zorac_tui.demo.simulator import SimConfig, SimulatorThread

            # Replies long enough to reach --max-tokens, like a server honouring ignore_eos; the demo's
            # reasoning model (--model Qwen/Qwen3-14B-AWQ) thinks first.
            answer = max(args.bench_max_tokens, WARMUP_MAX_TOKENS) + 2
            lineup = SimConfig.demo()
            simulator = SimulatorThread(SimConfig(answer_tokens=answer, reasoning_models=lineup.reasoning_models))
            base_url, api_key = simulator.start(), None
        cfg = BenchConfig(base_url=base_url, model=model, model_explicit=explicit, api_key=api_key, runs=args.runs,
                          prompt_tokens=args.prompt_tokens, max_tokens=args.bench_max_tokens,
                          concurrency=tuple(args.concurrency), simulated=demo)
        try:
            result = asyncio.run(_measure(cfg, show_progress=args.json_file != "-"))
        except BenchError as exc:
            return _fail(exc.code, exc.message)
        except KeyboardInterrupt:
            return _fail(130, "interrupted")
    finally:
        if simulator is not None:
            simulator.stop()
    return _output(result, args.json_file)


def _output(result: BenchResult, json_file: str | None) -> int:
    """Save to history, print the table (unless --json -), write the JSON."""
    from zorac_tui.bench import history, report

    doc = report.to_json(result)
    code = EXIT_OK
    try:
        history.save(doc)
    except OSError as exc:
        print(f"{PREFIX}: result not saved to history ({history.history_file()}): {exc.strerror or exc}",
              file=sys.stderr)
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if json_file == "-":
        sys.stdout.write(text)
        return code
    report.print_report(result, _console())
    if json_file:
        try:
            with open(json_file, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            code = _fail(EXIT_FAILED, f"cannot write {json_file}: {exc.strerror or exc}")
    return code
