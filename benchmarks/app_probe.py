"""What the benchmarks read from and hook into the running app, for this tree and for an older one.

The benchmarks measure the app before and after a change in the same session (`--ref`, `--app-path`):
the app of 2026-11 kept its state on ZoracApp (`app.pane`, `app.streaming`, …) and drew the live reply
as a `StreamingReply` widget; now a MainScreen holds collaborators and the transcript draws the live
reply as its last block. Every access goes through here, so one benchmark measures either.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def is_new(app: Any) -> bool:
    """Whether `app` is the MainScreen-and-collaborators app."""
    return hasattr(app, "main")


def messages(app: Any) -> list[Any]:
    """The messages of the conversation on screen."""
    return app.main.conversation.messages if is_new(app) else app.pane.conversation.messages


def streaming(app: Any) -> bool:
    """Whether a reply streams."""
    return app.main.reply.streaming if is_new(app) else app.streaming


def meter(app: Any) -> Any:
    """The streaming reply's ThroughputMeter, or None."""
    return app.main.reply.meter if is_new(app) else app.meter


def connected(app: Any) -> bool:
    """Whether the app has its client and token counter."""
    if is_new(app):
        return app.main.server.connection is not None
    return app.client is not None and app.counter is not None


def budget(app: Any) -> Any:
    """The last measured ContextBudget, or None."""
    return app.main.budget.budget if is_new(app) else app.budget


def store(app: Any) -> Any:
    """The open Store, or None."""
    return app.main.persistence.store if is_new(app) else app.store


def pane(app: Any) -> Any:
    """The conversation's widget (the transcript, or the old pane)."""
    return app.main.pane if is_new(app) else app.pane


def drawn_messages(app: Any) -> int:
    """How many settled messages the conversation's widget draws (widgets mounted, in the old app)."""
    if is_new(app):
        from zorac_tui.ui.transcript_blocks import LiveBlock, MessageBlock

        return sum(isinstance(b, MessageBlock) and not isinstance(b, LiveBlock) for b in app.main.pane.blocks)
    from zorac_tui.ui.messages import MessageView

    return len(app.pane.query(MessageView))


def replace_sampler(factory: Callable[[], Any]) -> None:
    """Make the app sample GPUs with `factory()` (call before the app starts)."""
    try:
        from zorac_tui.ui import telemetry_feed
    except ImportError:  # the older app
        from zorac_tui.ui import sidebar

        sidebar.make_sampler = lambda base_url, demo, nvml_module=None: factory()
    else:
        telemetry_feed.make_source = lambda settings, demo, nvml_module=None: factory()


def no_telemetry() -> None:
    """Start no GPU sampling at all (call before the app starts)."""
    try:
        from zorac_tui.ui.telemetry_feed import TelemetryFeed
    except ImportError:  # the older app
        from zorac_tui.ui import sidebar

        sidebar.Sidebar.start_telemetry = lambda self, *args, **kwargs: None
    else:
        TelemetryFeed.start = lambda self, *args, **kwargs: None


def hook_live_reply(app: Any, on_flush: Callable[[int], None],
                    on_settled: Callable[[], None]) -> Callable[[], None]:
    """Call `on_flush(characters drawn)` after each flush of the live reply that drew new text, and
    `on_settled()` when the reply has settled into its finished view; returns what takes the hooks off."""
    if is_new(app):
        transcript = app.main.pane
        original_flush, original_settle = transcript.flush, transcript.settle_reply
        drawn = [0]

        def flush() -> None:
            original_flush()
            live = transcript.live
            n = len(live.shown_text) if live is not None else drawn[0]
            if n != drawn[0]:
                drawn[0] = n
                on_flush(n)

        def settle_reply(message: Any) -> Any:
            result = original_settle(message)
            drawn[0] = 0
            on_settled()
            return result

        transcript.flush, transcript.settle_reply = flush, settle_reply

        def unhook() -> None:
            transcript.flush, transcript.settle_reply = original_flush, original_settle

        return unhook
    pane = app.pane
    original_start, original_settle = pane.start_reply, pane.settle_reply

    async def start_reply(*args: Any, **kwargs: Any) -> Any:
        live = await original_start(*args, **kwargs)
        original_live_flush, drawn = live.flush, [0]

        def live_flush() -> None:
            original_live_flush()
            n = len(live.shown_text)
            if n != drawn[0]:
                drawn[0] = n
                on_flush(n)

        live.flush = live_flush
        return live

    async def settle_old(live: Any) -> Any:
        view = await original_settle(live)
        on_settled()
        return view

    pane.start_reply, pane.settle_reply = start_reply, settle_old

    def unhook_old() -> None:
        pane.start_reply, pane.settle_reply = original_start, original_settle

    return unhook_old


def live_flush_hook() -> str:
    """The live reply's draw method as 'module:Class.method' (for wrapping it at class level)."""
    try:
        import zorac_tui.ui.transcript  # noqa: F401
    except ImportError:
        return "zorac_tui.ui.messages:StreamingReply.flush"
    return "zorac_tui.ui.transcript:Transcript.flush"
