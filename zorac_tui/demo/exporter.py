"""The demo's GPU box: a dcgm-exporter look-alike over real HTTP (127.0.0.1) for N simulated GPUs.

It serves `/metrics` with dcgm-exporter's names, labels and units (the template in
NVIDIA/dcgm-exporter `internal/pkg/rendermetrics/render_metrics.go`, HELP texts from
`etc/default-counters.csv`, `Hostname="gpubox"`), driven by `SimulatedTelemetry`. The GPUs are busy
while the chat simulator streams a reply: the box is given a `busy()` callable — beside the
simulator that is "the simulator has an active request" — and reads it at every scrape, so nothing
in the app has to tell it. Tests can hide a GPU (`hide`) or stop the box to see what the app says.

Run alone: `python -m zorac_tui.demo.exporter --gpus 2 --port 9400`.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import threading
from collections.abc import Callable

from aiohttp import web

from zorac_tui.telemetry.samples import GpuSample
from zorac_tui.telemetry.simulated import SimulatedTelemetry

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
HOSTNAME = "gpubox"
DRIVER_VERSION = "550.54.14"
RESERVED_MIB = 380  # what the driver keeps on a 24 GB card; dcgm-exporter reports it apart from "used"
MIB = 1024**2

# (field, Prometheus type, HELP text as in etc/default-counters.csv)
FIELDS = (
    ("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz)."),
    ("DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock frequency (in MHz)."),
    ("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C)."),
    ("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W)."),
    ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter", "Total energy consumption since boot (in mJ)."),
    ("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "counter", "Total number of PCIe retries."),
    ("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %)."),
    ("DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "Memory utilization (in %)."),
    ("DCGM_FI_DEV_ENC_UTIL", "gauge", "Encoder utilization (in %)."),
    ("DCGM_FI_DEV_DEC_UTIL", "gauge", "Decoder utilization (in %)."),
    ("DCGM_FI_DEV_XID_ERRORS", "gauge", "Value of the last XID error encountered."),
    ("DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB)."),
    ("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB)."),
    ("DCGM_FI_DEV_FB_RESERVED", "gauge", "Framebuffer memory reserved (in MiB)."),
)


def _labels(gpu: GpuSample, field: str) -> str:
    """dcgm-exporter's label set, in its template's order."""
    text = (f'gpu="{gpu.index}",UUID="{gpu.uuid}",pci_bus_id="00000000:{gpu.index + 1:02X}:00.0",'
            f'device="nvidia{gpu.index}",modelName="{gpu.name}",Hostname="{HOSTNAME}",'
            f'DCGM_FI_DRIVER_VERSION="{DRIVER_VERSION}"')
    if field == "DCGM_FI_DEV_XID_ERRORS":
        text += ',err_code="0",err_msg="No Error"'
    return text


def _values(gpu: GpuSample, energy_mj: int) -> dict[str, str]:
    """Each field's value as dcgm-exporter prints it: int64 fields "%d", doubles "%f"."""
    used_mib = (gpu.memory_used or 0) // MIB
    total_mib = (gpu.memory_total or 0) // MIB
    return {
        "DCGM_FI_DEV_SM_CLOCK": f"{gpu.sm_clock_mhz or 0:d}",
        "DCGM_FI_DEV_MEM_CLOCK": f"{gpu.mem_clock_mhz or 0:d}",
        "DCGM_FI_DEV_GPU_TEMP": f"{gpu.temperature_c or 0:d}",
        "DCGM_FI_DEV_POWER_USAGE": f"{gpu.power_w or 0.0:f}",
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": f"{energy_mj:d}",
        "DCGM_FI_DEV_PCIE_REPLAY_COUNTER": "0",
        "DCGM_FI_DEV_GPU_UTIL": f"{gpu.gpu_util or 0:d}",
        "DCGM_FI_DEV_MEM_COPY_UTIL": f"{gpu.mem_util or 0:d}",
        "DCGM_FI_DEV_ENC_UTIL": "0",
        "DCGM_FI_DEV_DEC_UTIL": "0",
        "DCGM_FI_DEV_XID_ERRORS": "0",
        "DCGM_FI_DEV_FB_FREE": f"{max(total_mib - used_mib, 0):d}",
        "DCGM_FI_DEV_FB_USED": f"{max(used_mib - RESERVED_MIB, 0):d}",
        "DCGM_FI_DEV_FB_RESERVED": f"{RESERVED_MIB:d}",
    }


def render_dcgm(gpus: tuple[GpuSample, ...], energy_mj: dict[int, int] | None = None) -> str:
    """The /metrics text dcgm-exporter would serve for these GPUs."""
    values = {gpu.index: _values(gpu, (energy_mj or {}).get(gpu.index, 0)) for gpu in gpus}
    lines: list[str] = []
    for field, kind, help_text in FIELDS:
        lines += [f"# HELP {field} {help_text}", f"# TYPE {field} {kind}"]
        lines += [f"{field}{{{_labels(gpu, field)}}} {values[gpu.index][field]}" for gpu in gpus]
    return "\n".join(lines) + "\n"


class GpuBox:
    """The exporter on the caller's event loop: `await start()` → URL, `await stop()`."""

    def __init__(self, gpu_count: int = 2, *, card: str = "rtx4090", busy: Callable[[], bool] | None = None,
                 telemetry: SimulatedTelemetry | None = None) -> None:
        """`busy()` says whether a reply is streaming right now (read at every scrape)."""
        self.telemetry = telemetry or SimulatedTelemetry(gpu_count=gpu_count, card=card)
        self.busy = busy
        self.hidden: set[int] = set()
        self.scrapes = 0
        self.url = ""
        self._energy_mj: dict[int, float] = {}
        self._last_at: float | None = None
        self._runner: web.AppRunner | None = None

    def hide(self, index: int) -> None:
        """Stop reporting GPU `index` (as an exporter does when a GPU falls off the bus)."""
        self.hidden.add(index)

    def show(self, index: int) -> None:
        """Report GPU `index` again."""
        self.hidden.discard(index)

    def metrics_text(self) -> str:
        """One scrape: load from busy(), a fresh simulated sample, energy integrated since the last."""
        if self.busy is not None:
            self.telemetry.set_load(bool(self.busy()))
        snapshot = self.telemetry.sample()
        dt = 0.0 if self._last_at is None else max(snapshot.at - self._last_at, 0.0)
        self._last_at = snapshot.at
        for gpu in snapshot.gpus:
            self._energy_mj[gpu.index] = self._energy_mj.get(gpu.index, 0.0) + (gpu.power_w or 0.0) * dt * 1000
        shown = tuple(gpu for gpu in snapshot.gpus if gpu.index not in self.hidden)
        self.scrapes += 1
        return render_dcgm(shown, {i: int(e) for i, e in self._energy_mj.items()})

    async def _metrics(self, request: web.Request) -> web.Response:
        """GET /metrics."""
        return web.Response(body=self.metrics_text().encode("utf-8"), headers={"Content-Type": CONTENT_TYPE})

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on host:port (0 = any free port) and return the metrics URL."""
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://{host}:{sock.getsockname()[1]}/metrics"
        return self.url

    async def stop(self) -> None:
        """Stop listening (a later scrape gets "connection refused")."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()


class GpuBoxThread:
    """A GpuBox on its own event loop in a daemon thread (beside the app or the tests)."""

    def __init__(self, gpu_count: int = 2, **kwargs) -> None:
        """Same options as GpuBox."""
        self.box = GpuBox(gpu_count, **kwargs)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The running box's metrics URL."""
        return self.box.url

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start the thread, block until the box listens, and return its metrics URL."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        started = asyncio.run_coroutine_threadsafe(self.box.start(host, port), loop)
        self._thread = threading.Thread(target=loop.run_forever, name="zorac-gpu-box", daemon=True)
        self._thread.start()
        try:
            return started.result(timeout=10)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the box and join the thread (idempotent)."""
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None or thread is None:
            return
        if thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.box.stop(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
        loop.close()


async def _serve(args: argparse.Namespace) -> None:
    """Start the box, print its URL, run until interrupted."""
    box = GpuBox(args.gpus, card=args.card)
    url = await box.start(args.host, args.port)
    print(f"Simulated GPU box ({args.gpus} × {box.telemetry.card.name}, dcgm-exporter format) at {url}",
          flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await box.stop()


def main(argv: list[str] | None = None) -> None:
    """`python -m zorac_tui.demo.exporter`: the GPU box alone, in the foreground."""
    from zorac_tui.telemetry.simulated import CARDS

    p = argparse.ArgumentParser(prog="python -m zorac_tui.demo.exporter",
                                description="Simulated GPU box serving dcgm-exporter text on 127.0.0.1.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9400, help="0 picks a free port")
    p.add_argument("--gpus", type=int, default=2)
    p.add_argument("--card", choices=sorted(CARDS), default="rtx4090")
    try:
        asyncio.run(_serve(p.parse_args(argv)))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
