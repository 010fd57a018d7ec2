"""The zorac-tui application: start-up, settings, themes, the main screen, and what happens on a crash."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from pathlib import Path
from typing import Any

from textual.app import App, SystemCommand
from textual.binding import Binding

from zorac_tui.config import Settings
from zorac_tui.ui import compat
from zorac_tui.ui.main_screen import MainScreen

STYLES = Path(__file__).resolve().parent.parent / "styles"


def _scrub_trace(trace: Any, secret: str | None) -> None:
    """Replace `secret` with *** in a rich Trace's messages, notes and lines (chained and grouped included)."""
    if not secret:
        return
    for stack in trace.stacks:
        stack.exc_value = stack.exc_value.replace(secret, "***")
        stack.notes = [note.replace(secret, "***") for note in stack.notes]
        if stack.syntax_error is not None:
            stack.syntax_error.msg = stack.syntax_error.msg.replace(secret, "***")
            stack.syntax_error.line = stack.syntax_error.line.replace(secret, "***")
        for frame in stack.frames:
            frame.line = frame.line.replace(secret, "***")
        for group in stack.exceptions:
            _scrub_trace(group, secret)


_startup_frozen = False


def freeze_startup_objects() -> None:
    """Keep what is alive once connected (modules, classes, the widget tree) out of the cycle collector's
    full passes, which otherwise stall the UI 50-90 ms about once a second while a reply streams
    (benchmarks/README.md). Once per process; after that, `ui/collector.py` freezes what survives a reply."""
    global _startup_frozen
    if not _startup_frozen:
        _startup_frozen = True
        gc.freeze()


class ZoracApp(App):
    """Chat with a local inference server while watching GPU, throughput and context."""

    CSS_PATH = [STYLES / "app.tcss"]
    TITLE = "zorac-tui"
    # The main screen shows ctrl+q in its footer; this one serves every other screen (no ctrl+c help_quit:
    # ctrl+c copies in the prompt).
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", show=False, priority=True)]

    def __init__(self, settings: Settings, *, demo: bool = False, nvml_module: Any = None,
                 store_path: Path | None = None, persist: bool = True, continue_last: bool = False,
                 offer_import_from: Path | None = None) -> None:
        """Create the app for `settings`; `demo` marks the simulated server and GPU.

        `nvml_module` stands in for `pynvml` (tests and benchmarks on machines without a GPU);
        `store_path` overrides the database location, `persist=False` keeps everything in memory;
        `continue_last` reopens the most recent conversation; `offer_import_from` is a home directory
        whose upstream Zorac session may be imported on first run.
        """
        super().__init__()
        self.settings = settings
        self.demo = demo or settings.demo
        self.nvml_module = nvml_module
        self.main = MainScreen(settings, demo=self.demo, nvml_module=nvml_module, store_path=store_path,
                               persist=persist, continue_last=continue_last, offer_import_from=offer_import_from)

    def get_default_screen(self) -> MainScreen:
        """The main screen is the app's first screen."""
        return self.main

    def on_mount(self) -> None:
        """Apply the saved theme; stop cleanly on SIGTERM and SIGHUP."""
        self.theme = self.settings.theme if self.settings.theme in self.available_themes else "textual-dark"
        self.theme_changed_signal.subscribe(self, self.remember_theme)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGHUP):
            try:
                loop.add_signal_handler(signum, self.stop_on_signal, signum)
            except (NotImplementedError, RuntimeError, ValueError):  # not on this platform, or not the main thread
                pass

    def stop_on_signal(self, signum: int) -> None:
        """SIGTERM or SIGHUP: a streaming reply is saved as interrupted at once, then the app exits (code 0)."""
        name = signal.Signals(signum).name
        logging.getLogger("zorac_tui").info("stopping on %s", name)
        self.main.reply.interrupt(f"stopped by {name}")
        self.exit(return_code=0)

    def close_store(self) -> None:
        """Finish pending writes and close the database (after the app stopped)."""
        self.main.persistence.close()

    def remember_theme(self, theme: Any) -> None:
        """Save a theme picked in the command palette so the next start uses it."""
        if theme.name == self.settings.theme:
            return
        from zorac_tui import config

        try:
            config.save_value("theme", theme.name)
        except (OSError, config.ConfigError) as exc:
            self.notify(f"Theme not saved: {exc}", severity="warning", markup=False)  # holds a path

    def get_system_commands(self, screen: Any) -> Any:
        """Textual's own commands, then every zorac-tui action, so the palette (Ctrl+P) offers them all."""
        yield from super().get_system_commands(screen)
        if isinstance(screen, MainScreen):
            yield from screen.palette_commands()
        yield SystemCommand("Benchmark the server", "Measure TTFT and decode tok/s like `zorac-tui bench`",
                            self.action_bench)

    def action_bench(self) -> None:
        """Open the bench screen: TTFT, decode tok/s and aggregate throughput of this server, live."""
        from zorac_tui.ui.bench_screen import BenchScreen

        self.push_screen(BenchScreen.for_app(self))

    def _fatal_error(self) -> None:
        """Log an unexpected error (key scrubbed) and show it without local variables, which may hold secrets."""
        import sys

        from rich.console import Group
        from rich.segment import Segments
        from rich.text import Text as RichText
        from rich.traceback import Traceback

        error = sys.exc_info()[1] or compat.pending_exception(self)
        logging.getLogger("zorac_tui").error("unexpected error", exc_info=error)
        self.bell()
        trace = None
        if error is not None:  # the exception's own words may hold the key: scrubbed as in the log
            trace = Traceback.extract(type(error), error, error.__traceback__, show_locals=False)
            _scrub_trace(trace, self.settings.api_key)
        compat.report_fatal(self, Group(Segments(self.console.render(
            Traceback(trace, show_locals=False, width=None, suppress=[]), self.console.options)), RichText(
            "zorac-tui stopped on an unexpected error (logged in the state dir: zorac-tui.log). "
            "Saved conversations are intact; `zorac-tui --continue` reopens the last one.")))
