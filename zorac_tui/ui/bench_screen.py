"""The bench screen (command palette → "Benchmark the server"): `zorac-tui bench` with small defaults, live.

It measures the app's own server and model with run_bench (3 runs at concurrency 1 and 2, a
200-token prompt, 200 tokens per reply), shows a progress bar while it runs and the same table as
the CLI when done — reference rows, PASS/FAIL — and saves the result to the bench history.
Esc closes it (and stops a bench under way); r runs it again.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, ProgressBar, Static

from zorac_tui.bench.runner import BenchConfig, BenchError, BenchProgress, BenchResult, run_bench

if TYPE_CHECKING:
    from zorac_tui.ui.app import ZoracApp

APP_RUNS = 3
APP_CONCURRENCY = (1, 2)
APP_PROMPT_TOKENS = 200
APP_MAX_TOKENS = 200
IN_APP_NOTE = ("measured inside the app, whose rendering shares the event loop with the streams; "
               "`zorac-tui bench` measures with less overhead")


class BenchScreen(Screen[None]):
    """Runs the benchmark against the app's server and shows the result table."""

    DEFAULT_CSS = """
    BenchScreen { padding: 1 2; }
    BenchScreen #bench-title { text-style: bold; }
    BenchScreen #bench-status { margin: 1 0 0 0; }
    BenchScreen #bench-status.-error { color: $error; }
    BenchScreen ProgressBar { margin: 0 0 1 0; }
    BenchScreen DataTable { height: auto; max-height: 24; margin: 1 0 0 0; }
    BenchScreen #bench-verdict, BenchScreen #bench-notes { margin: 1 0 0 0; }
    """
    BINDINGS = [Binding("escape", "close", "Close"), Binding("r", "rerun", "Run again")]

    def __init__(self, config: BenchConfig) -> None:
        """`config` says what to measure (see `for_app`)."""
        super().__init__()
        self.config = config
        self.result: BenchResult | None = None
        self.error: str | None = None
        self.worker = None

    @classmethod
    def for_app(cls, app: ZoracApp) -> BenchScreen:
        """The app's server and model (as connected, else as configured) with small defaults."""
        connection = app.main.server.connection
        config = BenchConfig(base_url=app.settings.base_url, model=app.main.model,
                             model_explicit=connection is not None,
                             api_key=app.settings.api_key, runs=APP_RUNS, prompt_tokens=APP_PROMPT_TOKENS,
                             max_tokens=APP_MAX_TOKENS, concurrency=APP_CONCURRENCY, simulated=app.demo,
                             nvml_module=app.nvml_module, stall_timeout=app.settings.stall_timeout)
        return cls(config)

    def compose(self) -> ComposeResult:
        """Title, status line, progress bar, the two tables and the verdict."""
        cfg = self.config
        levels = ",".join(str(c) for c in cfg.concurrency)
        with VerticalScroll(id="bench-body"):
            yield Static(Text(f"Benchmark — {cfg.base_url} · {cfg.runs} runs at concurrency {levels} · prompt "
                              f"{cfg.prompt_tokens} tokens · {cfg.max_tokens} tokens per reply   (Esc closes)"),
                         id="bench-title")
            yield Static(Text("Starting…"), id="bench-status")
            yield ProgressBar(total=None, show_eta=False, id="bench-progress")
            yield DataTable(id="bench-table", show_cursor=False, zebra_stripes=True)
            yield DataTable(id="bench-reference", show_cursor=False)
            yield Static(id="bench-verdict")
            yield Static(id="bench-notes")
        yield Footer()

    def on_mount(self) -> None:
        """Start measuring."""
        table = self.query_one("#bench-table", DataTable)
        table.add_columns("conc.", "metric", "median", "min", "max")
        self.query_one("#bench-reference", DataTable).add_columns("setup", "decode tok/s", "TTFT", "VRAM")
        self.start()

    def start(self) -> None:
        """(Re)start the measurement in a worker owned by this screen (closing the screen cancels it)."""
        self.result = None
        self.error = None
        for table in self.query(DataTable):
            table.clear()
            table.display = False
        self.query_one("#bench-verdict", Static).update("")
        self.query_one("#bench-notes", Static).update("")
        self.query_one("#bench-progress", ProgressBar).update(total=None, progress=0)
        self._status("Starting…")
        self.worker = self.run_worker(self._measure(), exclusive=True, group="bench")

    def _status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#bench-status", Static)
        status.update(Text(text))
        status.set_class(error, "-error")

    def _progress(self, progress: BenchProgress) -> None:
        """Progress from run_bench (on this loop, at most ~10 times a second)."""
        self._status(progress.description)
        bar = self.query_one("#bench-progress", ProgressBar)
        bar.update(total=progress.total or None, progress=progress.completed)

    async def _measure(self) -> None:
        """Run the bench; show the table or one line saying what went wrong."""
        try:
            result = await run_bench(self.config, self._progress)
        except BenchError as exc:
            self._fail(exc.message)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._fail(f"Bench failed: {type(exc).__name__}: {exc}")
            return
        self.result = result
        self.show(result)
        await self._save(result)

    def _fail(self, message: str) -> None:
        from zorac_tui.core.wording import one_line

        self.error = one_line(message, 300)
        self.query_one("#bench-progress", ProgressBar).display = False
        self._status(self.error, error=True)

    def show(self, result: BenchResult) -> None:
        """Fill the tables and the verdict from `result`."""
        from zorac_tui.bench import report

        bar = self.query_one("#bench-progress", ProgressBar)
        bar.update(total=1, progress=1)
        first, second = report.header_lines(result)
        self._status(f"{first}\n{second}")
        table = self.query_one("#bench-table", DataTable)
        table.add_rows([tuple(Text(cell, justify="right" if i >= 2 else "left") for i, cell in enumerate(row))
                        for row in report.summary_rows(result)])
        table.display = True
        reference = self.query_one("#bench-reference", DataTable)
        reference.add_rows([tuple(Text(cell, style="bold" if i == 0 else "", justify="right" if j else "left")
                                  for j, cell in enumerate(row))
                            for i, row in enumerate(report.reference_rows(result))])
        reference.display = True
        verdict = Text()
        for name, ok, measured in report.requirement_lines(result):
            verdict.append(" PASS " if ok else " FAIL ", style="bold black on green" if ok else "bold white on red")
            verdict.append(f" {name}: {measured}\n")
        verdict.append(report.gpu_line(result))
        self.query_one("#bench-verdict", Static).update(verdict)
        notes = [n for n in result.notes if n != result.gpu.note] + [IN_APP_NOTE]
        self.query_one("#bench-notes", Static).update(Text("\n".join(f"note: {n}" for n in notes), style="dim"))

    async def _save(self, result: BenchResult) -> None:
        """Append to the bench history (in a thread); a failure is a notice, not an error."""
        from zorac_tui.bench import history, report

        try:
            await asyncio.to_thread(history.save, report.to_json(result))
        except OSError as exc:
            self.notify(f"Bench result not saved: {exc.strerror or exc}", severity="warning", markup=False)

    def action_rerun(self) -> None:
        """Measure again (ignored while a bench is running)."""
        if self.worker is not None and self.worker.is_running:
            return
        self.query_one("#bench-progress", ProgressBar).display = True
        self.start()

    def action_close(self) -> None:
        """Close (a bench under way is cancelled with the screen)."""
        self.dismiss()
