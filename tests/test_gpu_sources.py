"""GPU sources over real HTTP: the demo's GPU box (dcgm-exporter text), dead and vanishing exporters,
the remote auto-try, and the rules that pick a source."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fakes.fake_pynvml import FakePynvml

from zorac_tui.demo.exporter import GpuBoxThread
from zorac_tui.telemetry import (
    ExporterSampler,
    NoGpuSource,
    NvmlSampler,
    SimulatedTelemetry,
    choose_source,
    open_source,
    try_exporter,
)
from zorac_tui.telemetry.samples import TelemetrySnapshot

MIB = 1024**2


def poll(check: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    """Call `check` until it returns something truthy (or fail after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or check}")


def one_line(message: str | None) -> str:
    assert message and "\n" not in message and len(message) < 300, message
    return message


def free_port() -> int:
    """A port nobody listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def box_factory() -> Iterator[Callable[..., GpuBoxThread]]:
    """Start GpuBoxThreads on 127.0.0.1; all are stopped when the test ends."""
    started: list[GpuBoxThread] = []

    def start(gpu_count: int = 2, port: int = 0, **kwargs: Any) -> GpuBoxThread:
        box = GpuBoxThread(gpu_count, **kwargs)
        box.start(port=port)
        started.append(box)
        return box

    yield start
    for box in started:
        box.stop()


# --- the demo box over HTTP ------------------------------------------------------------------

def test_two_gpus_over_http_read_as_dcgm_exporter(box_factory):
    box = box_factory(2)
    sampler = ExporterSampler(box.url, simulated=True)
    assert sampler.label == f"GPU exporter at 127.0.0.1:{box.url.split(':')[2].split('/')[0]}"
    snap = sampler.sample()
    assert snap.ok and snap.simulated and len(snap.gpus) == 2
    assert snap.source == sampler.label == "dcgm-exporter on gpubox"
    first, second = snap.gpus
    assert first.host == "gpubox" and first.name == "NVIDIA GeForce RTX 4090"
    assert first.uuid != second.uuid
    truth = box.box.telemetry.sample().gpus  # the simulator's own figures (memory does not move)
    assert first.memory_total == truth[0].memory_total // MIB * MIB
    assert first.memory_used == truth[0].memory_used // MIB * MIB  # MiB on the wire
    assert second.memory_used == truth[1].memory_used // MIB * MIB
    assert first.power_limit_w is None and first.memory_bus_width_bits is None  # dcgm-exporter lacks them


def test_a_gpu_that_vanishes_and_comes_back(box_factory):
    box = box_factory(2)
    sampler = ExporterSampler(box.url)
    assert len(sampler.sample().gpus) == 2
    box.box.hide(1)
    snap = sampler.sample()
    assert snap.status == "gpu-lost" and [g.index for g in snap.gpus] == [0]
    assert one_line(snap.message).startswith("GPU 1 is no longer reported by dcgm-exporter on gpubox")
    box.box.show(1)
    snap = sampler.sample()
    assert snap.ok and [g.index for g in snap.gpus] == [0, 1] and snap.message is None


def test_a_stopped_exporter_is_one_line_then_recovers_on_the_same_port(box_factory):
    box = box_factory(2)
    port = int(box.url.split(":")[2].split("/")[0])
    sampler = ExporterSampler(box.url)
    assert sampler.sample().ok
    box.stop()
    snap = sampler.sample()
    assert snap.status == "unreachable" and snap.gpus == ()
    assert one_line(snap.message) == (f"Cannot read dcgm-exporter on gpubox at {box.url} (connection refused) "
                                      "— retrying")
    box_factory(2, port=port)
    assert poll(lambda: sampler.sample().ok, what="the exporter back")


def test_a_killed_exporter_process():
    proc = subprocess.Popen([sys.executable, "-m", "zorac_tui.demo.exporter", "--port", "0", "--gpus", "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        url = line.rsplit(" at ", 1)[1].strip()
        sampler = ExporterSampler(url, timeout=2.0)
        snap = sampler.sample()
        assert snap.ok and len(snap.gpus) == 3
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        snap = sampler.sample()
        assert snap.status == "unreachable" and "connection refused" in one_line(snap.message)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()


def test_an_exporter_that_never_answers_times_out():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel accepts the connection; nobody ever answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/metrics"
        snap = ExporterSampler(url, timeout=0.3).sample()
    assert snap.status == "unreachable" and "(no answer in 0.3 s)" in one_line(snap.message)


def test_the_chat_servers_metrics_are_not_gpu_figures(sim_factory):
    sim = sim_factory()
    root = sim.base_url.removesuffix("/v1")
    snap = ExporterSampler(f"{root}/metrics").sample()
    assert snap.status == "error" and snap.gpus == ()
    assert "did not send GPU exporter figures" in one_line(snap.message)
    snap = ExporterSampler(f"{root}/nothing-here").sample()
    assert snap.status == "unreachable" and "(HTTP 404)" in one_line(snap.message)


def _stream_a_reply(base_url: str) -> threading.Thread:
    """POST a streaming chat request and read it to the end, in a thread."""
    body = json.dumps({"model": "stelterlab/Mistral-Small-24B-Instruct-2501-AWQ", "stream": True,
                       "messages": [{"role": "user", "content": "hello"}]}).encode()

    def run() -> None:
        request = urllib.request.Request(f"{base_url}/chat/completions", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=30) as response:
            response.read()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_the_box_is_busy_while_the_simulator_streams(sim_factory, box_factory):
    sim = sim_factory(rate=40.0, answer_tokens=160, ttft=0.05)  # a 4 s reply
    box = box_factory(2, busy=lambda: bool(sim.simulator.active))
    sampler = ExporterSampler(box.url)
    idle = sampler.sample()
    assert all(g.gpu_util <= 10 for g in idle.gpus)
    reply = _stream_a_reply(sim.base_url)
    busy = poll(lambda: (s := sampler.sample()).ok and all(g.gpu_util >= 60 for g in s.gpus) and s,
                what="both GPUs busy while the reply streams")
    assert all(g.power_w > 100 for g in busy.gpus)
    reply.join(timeout=30)
    poll(lambda: all(g.gpu_util <= 20 for g in sampler.sample().gpus), what="the GPUs idle again")


# --- finding the source ------------------------------------------------------------------------

def test_remote_auto_try_finds_an_exporter(box_factory):
    box = box_factory(2)
    port = int(box.url.split(":")[2].split("/")[0])
    source = try_exporter("127.0.0.1", port)
    assert isinstance(source, ExporterSampler)
    snap = source.sample()
    assert snap.note == f"dcgm-exporter on 127.0.0.1:{port} — found"
    assert snap.ok and len(snap.gpus) == 2 and snap.source == "dcgm-exporter on gpubox"


def test_remote_auto_try_on_a_refused_port_says_what_was_tried():
    port = free_port()
    source = try_exporter("127.0.0.1", port)
    assert isinstance(source, NoGpuSource) and source.label == "none"
    snap = source.sample()
    url = f"http://127.0.0.1:{port}/metrics"
    assert snap.status == "remote" and snap.gpus == () and snap.source == "none"
    assert snap.note == f"no GPU exporter at {url} (connection refused) — set gpu_metrics_url"
    assert one_line(snap.message) == (
        f"The server at 127.0.0.1 is not on this machine and no GPU exporter answered at {url} "
        "(connection refused) — set gpu_metrics_url to its dcgm-exporter or nvitop-exporter")


@pytest.mark.parametrize(("base_url", "metrics_url", "demo", "kind", "url"), [
    ("http://192.0.2.10:8000/v1", "http://127.0.0.1:9400/metrics", False, "exporter", "http://127.0.0.1:9400/metrics"),
    ("http://127.0.0.1:8000/v1", "gpubox:9400", False, "exporter", "http://gpubox:9400/metrics"),
    ("http://127.0.0.1:8000/v1", "http://127.0.0.1:5050", True, "exporter", "http://127.0.0.1:5050/metrics"),
    ("http://192.0.2.10:8000/v1", None, True, "simulated", None),
    ("http://127.0.0.1:8000/v1", "  ", False, "nvml", None),
    ("http://localhost:8000/v1", None, False, "nvml", None),
    ("http://192.0.2.10:8000/v1", None, False, "try-exporter", "http://192.0.2.10:9400/metrics"),
    ("http://gpubox.invalid:8000/v1", None, False, "try-exporter", "http://gpubox.invalid:9400/metrics"),
    ("http://[2001:db8::1]:8000/v1", None, False, "try-exporter", "http://[2001:db8::1]:9400/metrics"),
    ("http://:8000/v1", None, False, "none", None),
])
def test_source_choice_rules(base_url, metrics_url, demo, kind, url):
    choice = choose_source(base_url, metrics_url, demo)
    assert (choice.kind, choice.url) == (kind, url)


def test_open_source_builds_each_kind(box_factory):
    local = open_source("http://127.0.0.1:9/v1", nvml_module=FakePynvml())
    assert isinstance(local, NvmlSampler) and local.label == "NVML"
    local.close()
    demo = open_source("http://127.0.0.1:9/v1", demo=True, simulated_gpus=2)
    assert isinstance(demo, SimulatedTelemetry) and len(demo.sample().gpus) == 2 and demo.label == "SIMULATED"
    box = box_factory(2)
    exporter = open_source("http://127.0.0.1:9/v1", gpu_metrics_url=box.url, demo=True)
    snap = exporter.sample()
    assert isinstance(snap, TelemetrySnapshot) and snap.simulated and snap.note == f"gpu_metrics_url {box.url}"
