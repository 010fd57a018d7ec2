"""Command-line entry point `zorac-tui`: launch the app (optionally against the built-in simulator)."""

from __future__ import annotations

import argparse
import sys

from zorac_tui import __version__


def build_parser() -> argparse.ArgumentParser:
    """Flags override ZORAC_* environment variables, which override the config file."""
    parser = argparse.ArgumentParser(
        prog="zorac-tui",
        description="Full-screen chat for a local vLLM server with live GPU, throughput and context panes.",
        epilog="Settings: defaults < config file < ZORAC_* environment < these flags. "
               "Run `zorac-tui config` to see every setting, its env name and the file location.",
    )
    parser.add_argument("--version", action="version", version=f"zorac-tui {__version__}")
    parser.add_argument("--demo", action="store_true", default=None,
                        help="use the built-in vLLM simulator and simulated GPU telemetry (no GPU needed)")
    parser.add_argument("--base-url", help="server API root (default http://localhost:8000/v1)")
    parser.add_argument("--model", help="model id (auto-detected when the server serves one)")
    parser.add_argument("--temperature", type=float)
    parser.add_argument("--max-tokens", type=int, help="maximum tokens per reply")
    parser.add_argument("--system-prompt")
    parser.add_argument("--stall-timeout", type=float, help="seconds without tokens before a reply counts as stalled")
    parser.add_argument("--theme", help="Textual theme name")
    parser.add_argument("--server", metavar="NAME",
                        help="server profile: a [servers.NAME] table in the config file (default: the top-level one)")
    parser.add_argument("--prompt", metavar="NAME", help="prompt preset for new conversations ([prompts.NAME])")
    parser.add_argument("--gpu-metrics-url", metavar="URL",
                        help="the GPU box's dcgm-exporter or nvitop-exporter, e.g. http://gpubox:9400/metrics")
    parser.add_argument("--gpus", metavar="LIST", help="GPUs to show: comma-separated indices or UUIDs")
    parser.add_argument("--show-reasoning", choices=("collapsed", "expanded", "hidden"),
                        help="how a reply's thinking is shown")
    parser.add_argument("--demo-box", action="store_true",
                        help="with --demo: also start a simulated 2-GPU box reached over HTTP (dcgm-exporter format)")
    parser.add_argument("--continue", dest="continue_last", action="store_true",
                        help="reopen the most recent conversation")
    parser.add_argument("--list", dest="list_conversations", action="store_true",
                        help="print saved conversations (id, date, messages, title) and exit")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("config", help="show every setting, its environment variable and the config file path")
    from zorac_tui.bench.command import add_arguments as add_bench_arguments

    add_bench_arguments(sub.add_parser("bench", help="measure TTFT and decode tok/s against the reference figures"))
    export = sub.add_parser("export", help="write one conversation out as Markdown or JSON")
    export.add_argument("id", type=int, help="conversation id (see --list)")
    export.add_argument("--format", choices=("md", "json"), default="md")
    export.add_argument("-o", "--output", help="file to write (default: standard output)")
    search = sub.add_parser("search", help="find words in every saved conversation (titles, messages, thinking)")
    search.add_argument("words", nargs="+", help="every word must match; the last one also as a prefix")
    search.add_argument("-n", "--limit", type=int, default=50, help="at most this many hits (default 50)")
    return parser


def flags_from(args: argparse.Namespace) -> dict:
    """Settings given on the command line."""
    keys = ("demo", "base_url", "model", "temperature", "max_tokens", "system_prompt", "stall_timeout", "theme",
            "server", "prompt", "gpu_metrics_url", "gpus", "show_reasoning")
    return {k: getattr(args, k, None) for k in keys}


def show_config() -> int:
    """Print the settings table."""
    from zorac_tui import config, paths
    from zorac_tui.profiles import SERVER_KEYS

    print(f"config file: {paths.config_file()}")
    for name, env, default, doc in config.describe():
        print(f"  {name:<20} {env:<28} {default:<40.40} {doc}")
    try:
        settings = config.load()
    except config.ConfigError as exc:
        print(f"zorac-tui: {exc}", file=sys.stderr)
        return 2
    print(f"servers ([servers.NAME]: {', '.join(SERVER_KEYS)}): {', '.join(settings.server_names())}")
    print(f"prompts ([prompts.NAME]: system_prompt, temperature): {', '.join(settings.prompt_names())}")
    return 0


def open_store():
    """The conversation database (StoreError if it cannot be opened); says so on stderr if a damaged file
    was moved aside to open it."""
    from zorac_tui.store import Store, default_db_path

    store = Store(default_db_path())
    if store.recovery_note:
        print(f"zorac-tui: {store.recovery_note}", file=sys.stderr)
    return store


def list_conversations() -> int:
    """`--list`: one line per saved conversation, newest first."""
    import time

    from zorac_tui.store import StoreError

    try:
        rows = open_store().list_conversations()
    except StoreError as exc:
        print(f"zorac-tui: {exc}", file=sys.stderr)
        return 1
    if not rows:
        print("No saved conversations yet.")
    for row in rows:
        stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(row.updated))
        print(f"{row.id:>6}  {stamp}  {row.message_count:>5} msgs  {row.title}")
    return 0


def export_conversation(conversation_id: int, fmt: str, output: str | None) -> int:
    """`export ID`: Markdown for people, JSON with every stat for machines."""
    import json

    from zorac_tui.store import StoreError, export_json, export_markdown

    try:
        store = open_store()
        text = export_markdown(store, conversation_id) if fmt == "md" else (
            json.dumps(export_json(store, conversation_id), indent=2, ensure_ascii=False) + "\n")
    except StoreError as exc:
        print(f"zorac-tui: {exc}", file=sys.stderr)
        return 1
    if output:
        try:
            with open(output, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            print(f"zorac-tui: cannot write {output}: {exc.strerror or exc}", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    return 0


def search_conversations(words: list[str], limit: int) -> int:
    """`search WORDS`: each hit as id, date, title, then where it matched and the passage."""
    import time

    from zorac_tui.store import StoreError

    query = " ".join(words)
    try:
        hits = open_store().search(query, limit=limit)
    except StoreError as exc:
        print(f"zorac-tui: {exc}", file=sys.stderr)
        return 1
    if not hits:
        print(f"No saved conversation matches {query!r}." if any(ch.isalnum() for ch in query)
              else f"Nothing to search for in {query!r}: give at least one word.")
        return 0
    bold = sys.stdout.isatty()
    for hit in hits:
        stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(hit.created))
        passage = "".join(f"\x1b[1m{printable(text)}\x1b[22m" if matched and bold else printable(text)
                          for text, matched in hit.snippet)
        where = hit.where if hit.role is None else f"{hit.where}, {hit.role}"
        print(f"{hit.conversation_id:>6}  {stamp}  {printable(hit.title)}")
        print(f"        {where}: {passage}")
    return 0


def printable(text: str) -> str:
    """Stored text safe to print on a terminal: control characters (an escape sequence's ESC) become �."""
    return "".join(ch if ch.isprintable() else "\ufffd" for ch in text)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns an exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "config":
        return show_config()
    if args.command == "bench":
        from zorac_tui.bench.command import run as run_bench

        return run_bench(args)
    if args.command == "export":
        return export_conversation(args.id, args.format, args.output)
    if args.command == "search":
        return search_conversations(args.words, args.limit)
    if args.list_conversations:
        return list_conversations()
    from zorac_tui import config

    try:
        settings = config.load(flags_from(args))
    except config.ConfigError as exc:
        print(f"zorac-tui: {exc}", file=sys.stderr)
        return 2
    if args.demo_box and not settings.demo:
        print("zorac-tui: --demo-box starts a simulated GPU box for the demo; use it with --demo", file=sys.stderr)
        return 2
    return run_app(settings, continue_last=args.continue_last, demo_box=args.demo_box)


def start_demo(settings, *, demo_box: bool = False):
    """Start the simulator (and with `demo_box` a simulated 2-GPU box beside it); settings pointed at them."""
    from dataclasses import replace

    from zorac_tui.demo.simulator import SimulatorThread

    simulator = SimulatorThread()
    settings = replace(settings, base_url=simulator.start(), api_key=None)
    box = None
    if demo_box:
        from zorac_tui.demo.exporter import GpuBoxThread

        # The box is busy while the simulator streams a reply, as a real GPU would be.
        box = GpuBoxThread(2, busy=lambda: bool(simulator.simulator.active))
        settings = replace(settings, gpu_metrics_url=box.start())
    return settings, [s for s in (box, simulator) if s is not None]


def run_app(settings, *, continue_last: bool = False, demo_box: bool = False) -> int:
    """Start the simulator if asked, then the app; always stop the simulator."""
    demo_servers = []
    if settings.demo:
        settings, demo_servers = start_demo(settings, demo_box=demo_box)
    import logging

    from zorac_tui.logs import setup_logging

    log_path = setup_logging([settings.api_key or ""])
    log = logging.getLogger("zorac_tui")
    log.info("start: %s demo=%s", settings.base_url, settings.demo)
    try:
        from pathlib import Path

        from zorac_tui.ui.app import ZoracApp

        app = ZoracApp(settings, demo=settings.demo, continue_last=continue_last, offer_import_from=Path.home())
        try:
            app.run()
        finally:
            app.close_store()  # pending writes finish before the process ends
    except Exception:  # Textual restores the terminal before this point
        log.exception("crash outside the app loop")
        print(f"zorac-tui: unexpected error — see {log_path or 'the log'}", file=sys.stderr)
        return 1
    finally:
        for server in demo_servers:
            server.stop()
    return app.return_code or 0
