"""GPU figures from a GPU box's Prometheus exporter (dcgm-exporter, nvitop-exporter) over HTTP.

`ExporterSampler.sample()` blocks (one GET with a short timeout) and belongs in a thread worker,
like NVML. It never raises: a dead exporter, an answer that is not exporter text, or a GPU the
exporter stopped reporting each become a snapshot with one line saying so; a GPU that comes back
reappears in the next snapshot.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from zorac_tui.net import host_and_port, is_loopback
from zorac_tui.telemetry.exporter_text import ExporterTextError, Flavour, parse_exporter_text
from zorac_tui.telemetry.samples import GpuSample, TelemetrySnapshot, TelemetryStatus

DEFAULT_TIMEOUT_S = 2.0
DCGM_PORT = 9400
MAX_BODY = 16 * 1024**2  # an 8-GPU dcgm-exporter page is ~100 kB; anything far bigger is not one


def metrics_url(url: str) -> str:
    """The exporter's metrics URL: scheme added if missing, `/metrics` when no path is given."""
    url = url.strip()
    parts = urlsplit(url if "://" in url else f"http://{url}")
    path = parts.path if parts.path not in ("", "/") else "/metrics"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def where(url: str) -> str:
    """host:port of a URL, for one-line messages."""
    host, port = host_and_port(url)
    return f"{host or url}:{port}"


def fetch_text(url: str, timeout: float = DEFAULT_TIMEOUT_S) -> str:
    """GET the URL and return its body as text (blocking); proxies are skipped for loopback."""
    handlers = [urllib.request.ProxyHandler({})] if is_loopback(url) else []
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(url, headers={"Accept": "text/plain", "User-Agent": "zorac-tui"})
    with opener.open(request, timeout=timeout) as response:
        body = response.read(MAX_BODY + 1)
        charset = response.headers.get_content_charset() or "utf-8"
    if len(body) > MAX_BODY:
        raise ExporterTextError(f"answer larger than {MAX_BODY // 1024**2} MiB")
    return body.decode(charset, errors="replace")


def why_unreachable(exc: BaseException, timeout: float = DEFAULT_TIMEOUT_S) -> str:
    """A few words for a failed GET: 'connection refused', 'no answer in 2 s', 'HTTP 404', …"""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, TimeoutError):
        return f"no answer in {timeout:g} s"
    if isinstance(reason, socket.gaierror):
        return "unknown host"
    if isinstance(reason, ConnectionResetError):
        return "connection reset"
    if isinstance(reason, ExporterTextError):
        return str(reason)
    text = " ".join(str(reason).split()) or type(reason).__name__
    return text[:80]


class ExporterSampler:
    """Blocking sampler over a dcgm-exporter or nvitop-exporter URL; one GET per `sample()`."""

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT_S, simulated: bool = False,
                 note: str | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        """`url` may omit `/metrics`; `simulated` marks the built-in demo box; `note` says how it was found."""
        self.url = metrics_url(url)
        self.timeout = timeout
        self.simulated = simulated
        self.note = note
        self._clock = clock
        self._lock = threading.Lock()
        self._flavour: Flavour | None = None
        self._host: str | None = None
        self._known: dict[str, GpuSample] = {}  # every GPU seen so far, by UUID (or index)

    @property
    def label(self) -> str:
        """Where figures come from: 'dcgm-exporter on gpubox' (once it has answered), else the URL's host."""
        if self._flavour is None:
            return f"GPU exporter at {where(self.url)}"
        return f"{self._flavour} on {self._host or where(self.url)}"

    def sample(self) -> TelemetrySnapshot:
        """One scrape → one snapshot (blocking; never raises)."""
        with self._lock:
            try:
                text = fetch_text(self.url, self.timeout)
            except Exception as exc:
                why = why_unreachable(exc, self.timeout)
                return self._snapshot((), "unreachable", f"Cannot read {self.label} at {self.url} ({why}) — retrying")
            try:
                reading = parse_exporter_text(text, self._clock())
            except ExporterTextError as exc:
                return self._snapshot((), "error", f"{self.url} did not send GPU exporter figures ({exc}) "
                                                   "— is gpu_metrics_url a dcgm-exporter or nvitop-exporter?")
            self._flavour = reading.flavour
            self._host = reading.host or self._host
            return self._with_missing(reading.gpus)

    def close(self) -> None:
        """Nothing held between samples (each GET opens and closes its connection)."""

    def __enter__(self) -> ExporterSampler:
        """Use as a context manager that closes on exit."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close on leaving the with-block."""
        self.close()

    def _with_missing(self, gpus: tuple[GpuSample, ...]) -> TelemetrySnapshot:
        """The snapshot for this reading; GPUs seen before but absent now make it "gpu-lost"."""
        present = {gpu.key for gpu in gpus}
        missing = [gpu for key, gpu in self._known.items() if key not in present]
        self._known.update((gpu.key, gpu) for gpu in gpus)
        if not gpus and not missing:
            return self._snapshot((), "no-gpu", f"{self.label} reports no GPU")
        if not missing:
            return self._snapshot(gpus, "ok", None)
        names = ", ".join(f"GPU {gpu.index}" for gpu in sorted(missing, key=lambda g: g.index))
        verb = "is" if len(missing) == 1 else "are"
        rest = f"showing the other {len(gpus)}" if gpus else "no GPU left to show"
        return self._snapshot(gpus, "gpu-lost", f"{names} {verb} no longer reported by {self.label} — {rest}; "
                                                "it reappears when the exporter reports it again")

    def _snapshot(self, gpus: tuple[GpuSample, ...], status: TelemetryStatus,
                  message: str | None) -> TelemetrySnapshot:
        """A snapshot labelled with this source."""
        return TelemetrySnapshot(gpus=gpus, status=status, message=message, simulated=self.simulated,
                                 at=self._clock(), source=self.label, note=self.note)


def probe_exporter(url: str, timeout: float = DEFAULT_TIMEOUT_S) -> tuple[Flavour | None, str]:
    """Try an exporter URL once: (its flavour, '') when it answers with GPU figures, else (None, why not)."""
    try:
        text = fetch_text(metrics_url(url), timeout)
    except Exception as exc:
        return None, why_unreachable(exc, timeout)
    try:
        return parse_exporter_text(text).flavour, ""
    except ExporterTextError as exc:
        return None, f"answered, but {exc}"
