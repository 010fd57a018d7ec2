"""What a user sees in a real terminal during long replies: the whole matrix in one command, one table, the targets.

    python benchmarks/terminal.py                 # the full matrix (about 20 minutes on 2 cores)
    python benchmarks/terminal.py --quick         # smoke run: 1,500 tokens at 500 tok/s (about 2 minutes)
    python benchmarks/terminal.py --ref 8a698d9   # also an older checkout, alternated cell by cell: new ÷ old
    python benchmarks/terminal.py --json out.json --tuibench ../shared/tuibench

Matrix: 1,500- and 8,000-token replies at 60 / 500 / 2,000 tok/s, into an empty conversation and into a
300-message one (realistic Markdown replies with code, reopened with --continue). Every run is a fresh app
(sidebar on, its GPU sampler at the default 1 s on a stand-in NVML — see terminal_app.py), a fresh home,
auto-summary off (it would stream a second reply), max_tokens = reply + 100. Each cell goes through:

- tmux (terminal_tmux.py, on tuibench: ../shared/tuibench, outside the repository): `zorac-tui` in tmux
  160×50 against a paced fake vLLM. lag = the server writing the last token → it on screen (polled every
  15 ms); key echo = a word typed → on screen, while it streams (40 words spread over the stream) and at
  the finish (one every 100 ms from 0.5 s before the last token until 0.5 s after it shows); lost = not on
  screen 3 s later; late = over 200 ms; CPU = the app's process over Enter → last token on screen.
- pty / headless (terminal_flush.py): the app in-process on a pseudo-terminal / under App.run_test against
  the project's simulator in its own process, nobody typing: lag to the reply settled on screen, the app's
  CPU, and the flush cost: CPU (all threads) per token in the last 1,000 tokens ÷ the first 1,000, windows
  cut by the text the app had received, measured outside in at the event loop's selector (no hook in the
  renderer); also the loop's busy wall time the same way, and the live reply's flush() alone (hooked).

Targets (benchmark, not tests), for 8,000 tokens at 500 and 2,000 tok/s, empty and 300 messages: lag <= 100
ms, key echo p95 <= 50 ms, no key lost or later than 200 ms, flush cost last ÷ first <= 1.2; and at 60 tok/s
the app's CPU <= 15 % of one core.

Shared machines: before each run it waits (up to --wait-max s) for the machine to be quieter than
--quiet-below % of one core; a run during which other processes used more than --max-other % is redone
(--retries) and the quietest kept; rows still disturbed are marked "*". Per row: load average and the
other processes' CPU. --ref REF (git) or --app-path DIR runs another checkout of zorac_tui in the same
session (PYTHONPATH), each cell alternating which goes first, and prints new ÷ old.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import terminal_flush  # noqa: E402
import terminal_report  # noqa: E402
import terminal_tmux  # noqa: E402

RUNNERS = ("tmux", "pty", "headless")
SETUP_S = {"tmux": 9.0, "pty": 6.0, "headless": 6.0}  # per run beyond the stream, for the estimate


@dataclass
class Variant:
    """A checkout of zorac_tui to measure: its label and the folder put on PYTHONPATH."""

    label: str
    path: Path


def git(*args: str) -> str:
    """A git command in this repository; its output."""
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True).stdout.strip()


def variants(args: argparse.Namespace, scratch: Path) -> list[Variant]:
    """This working tree (labelled with the last commit that changed zorac_tui), each --ref, each --app-path."""
    try:
        dirty = "+changes" if git("status", "--porcelain", "zorac_tui") else ""
        found = [Variant(f"this ({git('log', '-1', '--format=%h', '--', 'zorac_tui')}{dirty})", ROOT)]
    except (subprocess.CalledProcessError, FileNotFoundError):
        found = [Variant("this", ROOT)]
    for ref in args.ref:
        short = git("rev-parse", "--short", ref)
        target = scratch / f"ref-{short}"
        target.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "zorac_tui"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
        found.append(Variant(f"{ref} ({short})", target))
    found += [Variant(Path(p).resolve().name, Path(p).resolve()) for p in args.app_path]
    for v in found:
        out = subprocess.run([sys.executable, "-c", "import zorac_tui; print(zorac_tui.__file__)"],
                             env={**os.environ, "PYTHONPATH": str(v.path)}, capture_output=True, text=True,
                             cwd=scratch)  # not the repository root: "-c" puts the working directory first
        if not out.stdout.strip().startswith(str(v.path)):
            raise SystemExit(f"terminal: {v.label}: zorac_tui does not import from {v.path}: "
                             f"{(out.stdout + out.stderr).strip()[-300:]}")
    return found


def machine_busy(seconds: float = 1.0) -> float:
    """The whole machine's busy CPU over `seconds`, in % of one core."""
    a = terminal_flush.machine_ticks()
    time.sleep(seconds)
    b = terminal_flush.machine_ticks()
    return 100 * (b[0] - a[0]) / max(1, b[1] - a[1]) * (os.cpu_count() or 1)


def wait_quiet(below: float, max_wait: float) -> tuple[float, float]:
    """Wait until the machine is busy less than `below` % of one core (at most `max_wait` s): (busy, waited)."""
    start = time.monotonic()
    busy = machine_busy(0.5)
    while busy > below and time.monotonic() - start < max_wait:
        busy = machine_busy(1.0)
    return busy, time.monotonic() - start


def run_once(runner: str, cell: dict, variant: Variant, args: argparse.Namespace, tb: Any, outdir: Path) -> dict:
    """One run of one cell with one checkout."""
    env = {"PYTHONPATH": str(variant.path)}
    if runner == "tmux":
        return terminal_tmux.TmuxRun(tb, cell["tokens"], cell["rate"], cell["messages"], env, outdir,
                                     echo_tries=args.echo_tries).run()
    return terminal_flush.run_inproc(cell["tokens"], cell["rate"], cell["messages"], runner, env, args.flush_hook)


def measured(runner: str, cell: dict, variant: Variant, args: argparse.Namespace, tb: Any, outdir: Path) -> dict:
    """Run until undisturbed (or out of retries); the quietest run, with every attempt's load."""
    attempts = []
    for attempt in range(args.retries + 1):
        busy, waited = wait_quiet(args.quiet_below, args.wait_max)
        try:
            result = run_once(runner, cell, variant, args, tb, outdir)
        except Exception as exc:  # one broken run must not end the whole matrix
            result = {"error": f"{type(exc).__name__}: {exc}"}
        result.update(cell, runner=runner, variant=variant.label, attempt=attempt + 1, busy_before_pct=busy,
                      waited_s=waited, at=time.strftime("%H:%M:%S"))
        attempts.append(result)
        other = result.get("other_pct")
        if "error" not in result and (other is None or other <= args.max_other):
            break
        why = str(result.get("error") or f"other processes used {other or 0:.0f}% of a core")
        print(f"    {runner} {variant.label}: {why.splitlines()[-1][:160]} — "
              f"{'again' if attempt < args.retries else 'keeping the quietest'}", file=sys.stderr)
    ok = [r for r in attempts if "error" not in r] or attempts
    best = min(ok, key=lambda r: r.get("other_pct") or 0.0)
    best["noisy"] = "error" not in best and (best.get("other_pct") or 0.0) > args.max_other
    best["attempts_other_pct"] = [round(r.get("other_pct") or 0.0) for r in attempts]
    return best


def cells(args: argparse.Namespace) -> list[dict]:
    """The matrix, in the order it runs."""
    return [{"messages": m, "tokens": n, "rate": r} for m in args.messages for n in args.tokens for r in args.rates]


def estimate_s(matrix: list[dict], runners: list[str], runs: int, retries_hint: float = 1.15) -> float:
    """Rough wall time of the whole run on a quiet machine."""
    per = sum(c["tokens"] / c["rate"] + SETUP_S[r] + (2 if c["messages"] else 0) for c in matrix for r in runners)
    return per * runs * retries_hint


def default_tuibench() -> Path:
    """$TUIBENCH, else the first of ../shared/tuibench and ../../shared/tuibench that exists."""
    if os.environ.get("TUIBENCH"):
        return Path(os.environ["TUIBENCH"])
    candidates = [ROOT.parent / "shared" / "tuibench", ROOT.parent.parent / "shared" / "tuibench"]
    return next((c for c in candidates if c.is_dir()), candidates[0])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: 1,500 tokens at 500 tok/s, 0 and 300 messages")
    p.add_argument("--tokens", type=int, nargs="+", default=[1500, 8000])
    p.add_argument("--rates", type=float, nargs="+", default=[60.0, 500.0, 2000.0])
    p.add_argument("--messages", type=int, nargs="+", default=[0, 300], help="conversation sizes loaded")
    p.add_argument("--runners", default=",".join(RUNNERS), help="comma list of tmux, pty, headless")
    p.add_argument("--tuibench", type=Path, default=default_tuibench(),
                   help="tuibench's folder (default: $TUIBENCH, else ../shared/tuibench from the repository root, "
                        "else ../../shared/tuibench for a worktree one level down)")
    p.add_argument("--ref", action="append", default=[], help="also measure this git ref's zorac_tui")
    p.add_argument("--app-path", action="append", default=[], help="also measure the zorac_tui in this folder")
    p.add_argument("--json", help="write every run and the summary here")
    p.add_argument("--echo-tries", type=int, default=40, help="words typed while a reply streams (tmux)")
    p.add_argument("--repeats", type=int, default=1, help="runs of each cell and runner (targets use medians)")
    p.add_argument("--retries", type=int, default=1, help="reruns of a disturbed run")
    p.add_argument("--max-other", type=float, default=50.0, help="other processes' %% of a core that disturbs")
    p.add_argument("--quiet-below", type=float, default=60.0, help="wait for the machine below this %% of a core")
    p.add_argument("--wait-max", type=float, default=90.0, help="longest wait for a quiet machine (s)")
    p.add_argument("--outdir", type=Path, help="tmux runs' screens and logs (default: a temporary folder)")
    p.add_argument("--flush-hook", default=terminal_flush.FLUSH_HOOK,
                   help="the live reply's draw method, module:Class.method (default %(default)s)")
    args = p.parse_args(argv)
    if args.quick:
        args.tokens, args.rates = [1500], [500.0]
    args.runners = [r.strip() for r in args.runners.split(",") if r.strip()]
    if unknown := set(args.runners) - set(RUNNERS):
        p.error(f"unknown runner(s): {', '.join(sorted(unknown))}")
    return args


def stop(signum: int, frame: Any) -> None:
    """SIGTERM: stop like Ctrl+C (the run in progress cleans up; the runs so far are reported)."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Run the matrix and print the table."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, stop)  # a run in the background ignores Ctrl+C's SIGINT: end it cleanly
    tb = terminal_tmux.load_tuibench(args.tuibench.resolve()) if "tmux" in args.runners else None
    scratch = Path(tempfile.mkdtemp(prefix="zorac-terminal-bench-"))
    outdir = args.outdir or scratch
    outdir.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    try:
        checkouts = variants(args, scratch)
        matrix = cells(args)
        header = terminal_report.machine(args, [v.label for v in checkouts])
        runs = len(checkouts) * args.repeats
        print(terminal_report.describe(header, estimate_s(matrix, args.runners, runs)), flush=True)
        started = time.monotonic()
        for i, cell in enumerate(matrix):
            for j, runner in enumerate(args.runners):
                for k in range(args.repeats):
                    order = checkouts if (i + j + k) % 2 == 0 else checkouts[::-1]
                    for variant in order:
                        row = measured(runner, cell, variant, args, tb, outdir)
                        rows.append(row)
                        print("  " + terminal_report.progress_line(row), file=sys.stderr, flush=True)
        header["duration_s"] = time.monotonic() - started
    except KeyboardInterrupt:
        print("terminal: interrupted — the runs so far:", file=sys.stderr)
        header = locals().get("header", {})
    finally:
        if args.outdir is None:
            shutil.rmtree(scratch, ignore_errors=True)
    summary = terminal_report.report(rows, [v.label for v in locals().get("checkouts", [])], header)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": header, "runs": rows, "summary": summary}, handle, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
