"""The server monitor: finds the server, keeps it connected, learns its context window and polls its /metrics."""

from __future__ import annotations

import asyncio
import importlib
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from textual import work
from textual.message import Message
from textual.widget import Widget

from zorac_tui.config import Settings

if TYPE_CHECKING:
    from zorac_tui.server.client import ChatClient
    from zorac_tui.server.counting import TokenCounter
    from zorac_tui.server.metrics import ServerStats
    from zorac_tui.server.probe import ServerInfo

RECONNECT_INTERVAL = 2.0


@dataclass(frozen=True)
class Connection:
    """What a connected server is to the rest of the app: its client, model, window and token counter."""

    info: ServerInfo
    model: str
    model_note: str  # why this model: "configured", "auto-detected (only model served)", …
    window: int
    window_source: str  # "server" (max_model_len), "from error" (a context-length error said it), "configured"
    client: ChatClient
    counter: TokenCounter

    @property
    def version(self) -> str:
        """The server's flavor and version, e.g. 'vllm 0.32.0'."""
        info = self.info
        return f"{info.flavor} {info.version}" if info.version else info.flavor

    def window_text(self) -> str:
        """The context window in words, with where it came from when not from the server's model list."""
        if self.window_source == "server":
            return f"{self.window:,} tokens"
        if self.window_source == "configured":
            return f"unknown (server does not say; assuming {self.window:,})"
        return f"{self.window:,} tokens ({self.window_source})"


class ServerMonitor(Widget):
    """Owns the connection to the server: probing until it answers, reconnecting, the window, /metrics."""

    DEFAULT_CSS = "ServerMonitor { display: none; }"

    class StateChanged(Message):
        """The server's state for the header: connecting, unreachable, connected."""

        def __init__(self, state: str, detail: str) -> None:
            """`detail` is the URL tried, or version and URL once connected."""
            super().__init__()
            self.state, self.detail = state, detail

    class Unreachable(Message):
        """The server did not answer (said once per connect attempt); retrying."""

        def __init__(self, reason: str) -> None:
            """`reason` is one line."""
            super().__init__()
            self.reason = reason

    class Connected(Message):
        """The server answered (or another of its models was picked); `connection` is what the app talks to."""

        def __init__(self, connection: Connection, *, model_switch: bool = False) -> None:
            """Carry the new connection; `model_switch`: the same server, another model."""
            super().__init__()
            self.connection, self.model_switch = connection, model_switch

    class WindowChanged(Message):
        """A context-length error taught the monitor the server's real window."""

        def __init__(self, connection: Connection, previous: int, previous_source: str) -> None:
            """The connection with the new window, and the window the gauge used before."""
            super().__init__()
            self.connection, self.previous, self.previous_source = connection, previous, previous_source

    class MetricsRead(Message):
        """A /metrics poll: the stats and the all-requests generation rate since the last poll."""

        def __init__(self, stats: ServerStats, rate: float | None) -> None:
            """Carry one poll's figures."""
            super().__init__()
            self.stats, self.rate = stats, rate

    class MetricsMissing(Message):
        """No /metrics figures, and why (one line; `short` fits the 80-column sidebar)."""

        def __init__(self, reason: str, short: str | None = None) -> None:
            """`reason` is shown in the server panel (`short` where it is narrow)."""
            super().__init__()
            self.reason, self.short = reason, short or reason

    def __init__(self, settings: Settings) -> None:
        """Monitor the server `settings` points at."""
        super().__init__()
        self.settings = settings
        self.connection: Connection | None = None
        self._client: ChatClient | None = None

    # ------------------------------------------------------------- connecting
    @work(exclusive=True, group="connect")
    async def connect(self) -> None:
        """Probe the server until it answers, then adopt it; retries by itself every RECONNECT_INTERVAL s."""
        probe_mod = await asyncio.to_thread(importlib.import_module, "zorac_tui.server.probe")
        announced = False
        url = self.settings.base_url
        while True:
            self.post_message(self.StateChanged("connecting", ""))
            info = await probe_mod.probe(url, self.settings.api_key)
            if info.reachable and info.models:
                break
            self.post_message(self.StateChanged("unreachable", url))
            if not announced:
                self.post_message(self.Unreachable(info.error or f"{url} lists no models"))
                announced = True
            await asyncio.sleep(RECONNECT_INTERVAL)
        await self._adopt(info, probe_mod)

    async def _adopt(self, info: ServerInfo, probe_mod: Any) -> None:
        """Make a Connection of the probed server (client and counter created once) and announce it."""
        model, note = probe_mod.choose_model(info, self.settings.model)
        served = info.model(model)
        window, source = self._window(served.max_model_len if served else None)
        client_mod = await asyncio.to_thread(importlib.import_module, "zorac_tui.server.client")
        counting = await asyncio.to_thread(importlib.import_module, "zorac_tui.server.counting")
        if self._client is None:
            self._client = client_mod.ChatClient(self.settings.base_url, self.settings.api_key,
                                                 stall_timeout=self.settings.stall_timeout)
            await self._client.warm_up()
        counter = counting.TokenCounter(self.settings.base_url, model, api_key=self.settings.api_key,
                                        can_tokenize=info.has_tokenize)
        self.connection = Connection(info, model, note, window, source, self._client, counter)
        where = "" if self.settings.server == "default" else f"{self.settings.server} · "
        detail = f"{where}{self.connection.version} · {self.settings.base_url}"
        self.post_message(self.StateChanged("connected", detail))
        self.post_message(self.Connected(self.connection))
        self.poll_metrics(info.has_metrics, info.flavor, model)

    def _window(self, max_model_len: int | None, learned: int | None = None) -> tuple[int, str]:
        """The context window and where it came from: the server's model list, an error, or the setting."""
        if max_model_len:
            return max_model_len, "server"
        if learned:
            return learned, "from error"
        return self.settings.context_window, "configured"

    def reconnect(self) -> None:
        """The server stopped answering mid-request: probe again until it is back."""
        self.connect()

    def switch(self, settings: Settings) -> None:
        """Talk to another server from now on (a profile from the config): probe it as at start."""
        self.settings = settings
        if self._client is not None:
            self.run_worker(self._client.aclose(), exit_on_error=False)
        self.connection, self._client = None, None
        self.workers.cancel_group(self, "metrics")
        self.connect()

    async def use_model(self, model: str) -> bool:
        """Use another model the server serves (its own window and tokenizer); False when it serves none such."""
        current = self.connection
        served = current.info.model(model) if current is not None else None
        if current is None or served is None:
            return False
        from zorac_tui.server.counting import TokenCounter

        window, source = self._window(served.max_model_len)
        counter = TokenCounter(self.settings.base_url, model, api_key=self.settings.api_key,
                               can_tokenize=current.info.has_tokenize)
        self.connection = replace(current, model=model, model_note="picked", window=window, window_source=source,
                                  counter=counter)
        self.post_message(self.Connected(self.connection, model_switch=True))
        self.poll_metrics(current.info.has_metrics, current.info.flavor, model)
        return True

    @work(exclusive=True, group="window", exit_on_error=False)
    async def learn_window(self, error: str | None) -> None:
        """After a context-length error: ask the server its window again (it may have restarted with another);
        a server that does not say (llama.cpp) states it in the error. Announce a change."""
        from zorac_tui.server.errors import context_limit
        from zorac_tui.server.probe import probe

        current = self.connection
        if current is None:
            return
        info = await probe(self.settings.base_url, self.settings.api_key)
        served = info.model(current.model)
        if served is not None and served.max_model_len:
            window, source = served.max_model_len, "server"
        elif current.window_source != "server" and (stated := context_limit(error)) is not None:
            window, source = stated, "from error"
        else:
            return
        if window == current.window:
            return
        self.connection = replace(current, window=window, window_source=source)
        self.post_message(self.WindowChanged(self.connection, current.window, current.window_source))

    # ---------------------------------------------------------------- metrics
    @work(exclusive=True, group="metrics", exit_on_error=False)
    async def poll_metrics(self, available: bool, flavor: str, model: str) -> None:
        """Poll /metrics every metrics_interval s; on servers without it, say so once and stop."""
        if not available:
            self.post_message(self.MetricsMissing(f"/metrics not exposed by this server ({flavor}) — "
                                                  "KV cache and queue figures unavailable", "no /metrics here"))
            return
        from zorac_tui.server.metrics import parse_metrics, rate_between
        from zorac_tui.server.probe import fetch_metrics_text

        previous, prev_at = None, 0.0
        while True:
            text = await fetch_metrics_text(self.settings.base_url, self.settings.api_key)
            now = time.monotonic()
            if text is None:
                self.post_message(self.MetricsMissing("/metrics did not answer — retrying", "/metrics: no answer"))
            else:
                stats = await asyncio.to_thread(parse_metrics, text, model)
                rate = rate_between(previous, stats, now - prev_at) if previous is not None else None
                self.post_message(self.MetricsRead(stats, rate))
                previous, prev_at = stats, now
            await asyncio.sleep(self.settings.metrics_interval)
