"""The sidebar panels in the running app: GPU, throughput, memory budget, server; toggling and narrow layouts.

The app runs for real against the simulator on 127.0.0.1; the GPU is a FakePynvml (the only stand-in).
The simulator listens in this very process, so this process is "the server" whose VRAM NVML reports.
"""

from __future__ import annotations

import asyncio
import os

import pytest
from appdriver import (
    SIZE,
    Status,
    ask,
    connected,
    gauge_text,
    header_text,
    is_streaming,
    make_app,
    messages,
    panel,
    panel_text,
    quiet_gc,
    region,
    running_simulator,
    send,
    sidebar,
    wait_for,
)
from fakes.fake_pynvml import (
    GIB,
    FakeGpu,
    FakePynvml,
    NVMLError_LibraryNotFound,
    NVMLError_NotSupported,
)
from textual.app import App, ComposeResult

from zorac_tui.demo.simulator import SimConfig
from zorac_tui.telemetry import nvml
from zorac_tui.telemetry.simulated import SimulatedTelemetry
from zorac_tui.ui.gpu_panel import GpuPanel
from zorac_tui.ui.memory_panel import MemoryPanel
from zorac_tui.ui.server_panel import ServerPanel
from zorac_tui.ui.telemetry_feed import make_source
from zorac_tui.ui.throughput_panel import ThroughputPanel


async def first_sample(pilot, panel_type=GpuPanel) -> str:
    """Wait for the first telemetry snapshot in the GPU and memory panels; `panel_type`'s text."""
    app = pilot.app
    await wait_for(pilot, lambda: panel(app, GpuPanel).snapshot is not None
                   and panel(app, MemoryPanel).snapshot is not None, what="a GPU sample in both panels")
    return panel_text(app, panel_type)


# --------------------------------------------------------------------------- GPU


async def test_gpu_panel_one_gpu():
    card = FakeGpu(name="NVIDIA GeForce RTX 4090", memory_total=24 * GIB, memory_used=22 * GIB, gpu_util=87,
                   mem_util=61, temperature=66, power_mw=310_000, power_limit_mw=450_000)
    with running_simulator() as sim:
        app = make_app(sim, nvml=FakePynvml([card]))
        async with app.run_test(size=SIZE) as pilot:
            text = await first_sample(pilot)
            gpu = panel(app, GpuPanel)
            assert gpu.border_title == "GPU"
            assert "0 NVIDIA GeForce RTX 4090" in text
            assert "22.0 / 24.0 GiB (92%)" in text
            assert "util 87%  mem 61%  66°C" in text
            assert "power 310/450 W" in text
            assert "clock SM 2520 · mem" in text and "MHz" in text  # one card: the full block


async def test_gpu_panel_two_gpus_two_blocks():
    cards = [FakeGpu(name="NVIDIA RTX A6000", memory_total=48 * GIB, memory_used=12 * GIB, gpu_util=10),
             FakeGpu(name="NVIDIA GeForce RTX 3090", memory_total=24 * GIB, memory_used=18 * GIB, gpu_util=70)]
    with running_simulator() as sim:
        app = make_app(sim, nvml=FakePynvml(cards))
        async with app.run_test(size=SIZE) as pilot:
            text = await first_sample(pilot)
            lines = text.splitlines()
            assert lines[0] == "NVML" and "Σ 2 GPUs 30.0/72.0 GiB 42%" in lines  # two different cards: no "2×"
            gpu0 = next(line for line in lines if line.startswith("0 "))
            gpu1 = next(line for line in lines if line.startswith("1 "))
            assert gpu0.endswith("10% n/aW") or "10%" in gpu0
            assert "70%" in gpu1 and lines.index(gpu0) < lines.index(gpu1)
            assert "clock" not in text  # one line per card when there are several
            memory = panel_text(app, MemoryPanel)
            assert memory.startswith("2 GPUs together") and "weights" in memory


@pytest.mark.parametrize(
    ("fake", "message"),
    [
        (FakePynvml(gpus=[]), nvml.MSG_NO_GPU),
        (FakePynvml(init_error=NVMLError_LibraryNotFound), nvml.MSG_NO_LIBRARY),
    ],
    ids=["no-gpu", "no-driver-library"],
)
async def test_gpu_panel_says_why_there_is_nothing(fake, message):
    with running_simulator() as sim:
        app = make_app(sim, nvml=fake)
        async with app.run_test(size=SIZE) as pilot:
            text = await first_sample(pilot)
            assert text.splitlines() == ["NVML", message]  # the source tried, then why it has nothing
            assert "\n" not in message
            assert panel_text(app, MemoryPanel) == message
            # The rest of the app works: a reply still streams and settles.
            reply = await ask(pilot, "Does chat still work without a GPU?")
            assert reply.status is Status.COMPLETE


def test_remote_server_gets_no_local_sampler():
    # A server on another host: local NVML would show the wrong GPU, so its host's exporter is tried instead.
    from zorac_tui.config import Settings
    from zorac_tui.telemetry.source import choose_source

    assert choose_source("http://192.0.2.10:8000/v1").kind == "try-exporter"
    assert choose_source("http://192.0.2.10:8000/v1", demo=True).kind == "simulated"
    assert isinstance(make_source(Settings(base_url="http://192.0.2.10:8000/v1"), demo=True), SimulatedTelemetry)
    local = make_source(Settings(base_url="http://127.0.0.1:9/v1"), demo=False, nvml_module=FakePynvml())
    assert isinstance(local, nvml.NvmlSampler)
    snap = nvml.remote_snapshot("http://192.0.2.10:8000/v1")
    assert snap.status == "remote" and not snap.gpus
    assert "192.0.2.10 is not on this machine" in (snap.message or "")


class PanelHarness(App):
    """The two GPU-fed panels alone, to show a snapshot no local server can produce."""

    def compose(self) -> ComposeResult:
        yield GpuPanel(id="gpu")
        yield MemoryPanel(id="memory")


async def test_remote_server_panels_say_not_on_this_machine():
    app = PanelHarness()
    async with app.run_test(size=(60, 20)):
        snap = nvml.remote_snapshot("http://gpu-box.example:8000/v1")
        panel(app, GpuPanel).show(snap)
        panel(app, MemoryPanel).show(snap)
        for kind in (GpuPanel, MemoryPanel):
            text = panel_text(app, kind)
            assert "The server at gpu-box.example is not on this machine" in text
            assert "\n" not in text


# -------------------------------------------------------------------- throughput


async def test_throughput_panel_live_and_after_a_reply():
    # 400 tokens at 200 tok/s from a child process: two seconds of decode. The figures are the app's
    # measurement of a real stream, so they are checked with tolerances a loaded machine meets (the
    # meter's arithmetic is checked exactly with a hand-wound clock in test_core.py).
    with running_simulator(SimConfig(rate=200, ttft=0.05, answer_tokens=400), process=True) as sim:
        app = make_app(sim)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            throughput = panel(app, ThroughputPanel)
            assert "now   idle" in panel_text(app, ThroughputPanel)
            seen: list[tuple[float, str]] = []  # (live tok/s, panel text) while the reply streams

            async def watch() -> None:
                # Pilot's waits for an idle app would last past most of the stream: watch it as it goes.
                while True:
                    if throughput.streaming and throughput.live is not None and throughput.live.live_tok_s:
                        seen.append((throughput.live.live_tok_s, panel_text(app, ThroughputPanel)))
                    await asyncio.sleep(0.02)

            watcher = asyncio.create_task(watch())
            try:
                with quiet_gc():
                    send(pilot, "Stream four hundred tokens, please.")
                    await wait_for(pilot, lambda: not is_streaming(app) and throughput.last is not None,
                                   what="the reply to end")
            finally:
                watcher.cancel()
            assert seen, "no live reading was shown during the stream"
            live_rate, live_text = seen[len(seen) // 2]
            assert "(this reply)" in live_text and "tok/s" in live_text and "idle" not in live_text
            assert 100 < live_rate < 400  # about the simulator's 200 tok/s
            last = throughput.last
            assert last.tokens == 400  # the server's own count from the usage chunk
            assert not last.estimated
            assert last.average_tok_s == pytest.approx(200, rel=0.15)  # decode rate, TTFT excluded
            assert 0.05 <= last.ttft_s < 1.0  # the simulator waits 50 ms before the first token
            text = panel_text(app, ThroughputPanel)
            assert "now   idle" in text
            assert f"last  {last.average_tok_s:.1f} tok/s · 400 tok\nTTFT  {last.ttft_s * 1000:.0f} ms" in text
            reply = messages(app)[-1]
            assert reply.stats is not None and reply.stats.completion_tokens == 400
            assert reply.stats.decode_tok_s == last.average_tok_s


# ------------------------------------------------------------------------ server


async def test_server_panel_shows_kv_cache_and_queue():
    with running_simulator(rate=40, answer_tokens=400) as sim:
        cache = sim.simulator.metrics.cache
        capacity = cache.num_gpu_blocks * cache.block_size
        app = make_app(sim, metrics_interval=0.1)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            server = panel(app, ServerPanel)
            await wait_for(pilot, lambda: server.stats is not None, what="first /metrics poll")
            text = panel_text(app, ServerPanel)
            assert f"KV cache 0.0% of {capacity:,} tok" in text
            assert "requests 0 running · 0 waiting" in text
            assert "vllm 0.32.0" in text and "context 16,384 tokens" in text
            assert sidebar(app).kv_capacity_tokens == capacity
            send(pilot, "A long answer, please.")
            await wait_for(pilot, lambda: "requests 1 running · 0 waiting" in panel_text(app, ServerPanel),
                           what="the running request in /metrics")
            assert server.stats.kv_cache_usage > 0
            await pilot.press("escape")
            await wait_for(pilot, lambda: "requests 0 running" in panel_text(app, ServerPanel),
                           what="the queue to empty")


async def test_server_panel_without_metrics_says_so():
    with running_simulator(profile="llamacpp") as sim:
        app = make_app(sim)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            server = panel(app, ServerPanel)
            await wait_for(pilot, lambda: server.reason and "not exposed" in server.reason, what="the no-metrics line")
            text = panel_text(app, ServerPanel)
            assert "/metrics not exposed by this server (llamacpp)" in text
            assert "KV cache and queue figures unavailable" in text
            assert "running" not in text and "%" not in text


# ------------------------------------------------------------------------ memory


async def test_memory_panel_one_gpu_with_sources():
    server_vram = 22 * GIB
    card = FakeGpu(memory_total=24 * GIB, memory_used=23 * GIB, compute_processes=[(os.getpid(), server_vram)])
    with running_simulator() as sim:
        kv_bytes = sim.simulator.metrics.cache.kv_cache_memory_bytes
        app = make_app(sim, nvml=FakePynvml([card]), weights_gb=14)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            memory = panel(app, MemoryPanel)
            await wait_for(pilot, lambda: memory.snapshot is not None and memory.kv_cache_bytes, what="GPU and KV")
            text = panel_text(app, MemoryPanel)
            runtime = server_vram - kv_bytes - 14 * 10**9
            assert memory.border_title == "Memory budget"
            assert f"weights {14e9 / GIB:.1f} GiB (config)" in text
            assert f"KV cache {kv_bytes / GIB:.1f} GiB (/metrics)" in text
            assert f"runtime {runtime / GIB:.1f} GiB (derived)" in text
            assert "others 1.0 GiB (derived)" in text  # 23 GiB used − 22 GiB by the server
            assert "free 1.0 GiB (derived)" in text
            assert "unknown" not in text
            assert "bandwidth 1,008 GB/s" in text  # 384-bit bus at 10,501 MHz
            assert f"ideal {1008e9 / 14e9:.0f} tok/s" in text
            bar = text.splitlines()[0]
            assert set(bar) <= {"█", "░", "·"} and len(bar) >= 10


async def test_decode_faster_than_the_bandwidth_ideal_says_check_weights_gb():
    # 14 GB of weights on a 1,008 GB/s card: 72 tok/s at most. A 400 tok/s reply means the weights are
    # smaller than configured (or the server speculates): the panel says so instead of a bare 500 %.
    card = FakeGpu(memory_total=24 * GIB, memory_used=23 * GIB, compute_processes=[(os.getpid(), 22 * GIB)])
    with running_simulator(SimConfig(rate=400, ttft=0.05, answer_tokens=120)) as sim:
        app = make_app(sim, nvml=FakePynvml([card]), weights_gb=14)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot)
            await ask(pilot, "fast")
            memory = panel(app, MemoryPanel)
            await wait_for(pilot, lambda: "achieved" in panel_text(app, MemoryPanel), what="decode efficiency")
            assert memory.achieved_tok_s > 72
            assert "over the ideal: check weights_gb" in panel_text(app, MemoryPanel)
            memory.show(achieved_tok_s=36.0)  # half the ideal: a plausible figure carries no note
            await wait_for(pilot, lambda: "achieved 50%" in panel_text(app, MemoryPanel), what="50 %")
            assert "weights_gb" not in panel_text(app, MemoryPanel)


async def test_memory_panel_says_unknown_without_weights():
    card = FakeGpu(memory_total=24 * GIB, memory_used=20 * GIB)  # no process list: server VRAM unknown
    with running_simulator() as sim:
        app = make_app(sim, nvml=FakePynvml([card]), weights_gb=0)
        async with app.run_test(size=SIZE) as pilot:
            memory = panel(app, MemoryPanel)
            await wait_for(pilot, lambda: memory.snapshot is not None and memory.kv_cache_bytes,
                           what="the GPU sample and the KV cache size from /metrics")
            text = panel_text(app, MemoryPanel)
            assert "weights unknown ?" in text
            assert "runtime unknown ?" in text
            assert "free 4.0 GiB (derived)" in text
            assert "unknown: weights, runtime, others (set weights_gb)" in text
            assert "ideal n/a (weights unknown)" in text


async def test_memory_and_gpu_panels_with_missing_figures():
    card = FakeGpu(fail={"nvmlDeviceGetMemoryInfo": NVMLError_NotSupported,
                         "nvmlDeviceGetPowerUsage": NVMLError_NotSupported,
                         "nvmlDeviceGetMemoryBusWidth": NVMLError_NotSupported})
    with running_simulator() as sim:
        app = make_app(sim, nvml=FakePynvml([card]), weights_gb=14)
        async with app.run_test(size=SIZE) as pilot:
            gpu_text = await first_sample(pilot)
            await wait_for(pilot, lambda: panel(app, MemoryPanel).snapshot is not None, what="memory sample")
            assert "— / — GiB" in gpu_text
            assert "power n/a/450 W" in gpu_text
            memory = panel_text(app, MemoryPanel)
            assert "free unknown ?" in memory
            assert "bandwidth 1,008 GB/s (spec)" in memory  # NVML cannot say: NVIDIA's figure for the card
            assert "ideal 72 tok/s" in memory  # 1,008 GB/s ÷ 14 GB of weights
            assert memory.splitlines()[0].strip("·") == ""  # no card size: the bar is all unknown


# -------------------------------------------------------------------------- demo


async def test_demo_mode_labels_gpu_and_memory_simulated():
    with running_simulator() as sim:
        app = make_app(sim, demo=True)
        async with app.run_test(size=SIZE) as pilot:
            await first_sample(pilot)
            await wait_for(pilot, lambda: panel(app, MemoryPanel).snapshot is not None, what="memory sample")
            assert panel(app, GpuPanel).border_title == "GPU · SIMULATED"
            assert panel(app, MemoryPanel).border_title == "Memory budget · SIMULATED"
            assert "(SIMULATED)" in panel_text(app, MemoryPanel)  # the weights figure says where it came from
            assert "DEMO" in header_text(app)


# ------------------------------------------------------------------------ layout


async def test_ctrl_b_hides_and_shows_the_sidebar():
    with running_simulator() as sim:
        app = make_app(sim)
        async with app.run_test(size=SIZE) as pilot:
            bar = sidebar(app)
            await wait_for(pilot, lambda: bar.display and bar.region.width > 0, what="the sidebar laid out")
            await pilot.press("ctrl+b")
            await wait_for(pilot, lambda: not bar.display and bar.region.width == 0, what="the sidebar hidden")
            assert region(app, "center").width == SIZE[0]
            await pilot.press("ctrl+b")
            await wait_for(pilot, lambda: bar.display and bar.region.width > 0, what="the sidebar back")


async def test_80_columns_narrows_the_sidebar():
    with running_simulator() as sim:
        app = make_app(sim)
        async with app.run_test(size=(80, 24)) as pilot:
            await connected(pilot)
            assert app.screen.has_class("-narrow") and not app.screen.has_class("-tiny")
            bar = sidebar(app)
            narrow = bar.region.width
            assert bar.display and narrow > 0
            assert region(app, "center").width == 80 - narrow
            for part in ("conversation", "gauge", "prompt"):
                area = region(app, part)
                assert area.width > 0 and area.height > 0, part
            assert "tokens" in gauge_text(app)
            assert "GPU" in panel(app, GpuPanel).border_title
            await pilot.resize_terminal(120, 40)
            await wait_for(pilot, lambda: not app.screen.has_class("-narrow") and bar.region.width > narrow,
                           what="the wide sidebar at 120 columns")  # the sidebar was narrower at 80 columns


async def test_below_70_columns_the_sidebar_hides_and_ctrl_b_brings_it_back():
    with running_simulator() as sim:
        app = make_app(sim)
        async with app.run_test(size=(66, 24)) as pilot:
            await connected(pilot)
            assert app.screen.has_class("-tiny")
            bar = sidebar(app)
            assert bar.region.width == 0
            assert region(app, "center").width == 66
            await pilot.press("ctrl+b")
            await wait_for(pilot, lambda: bar.region.width > 0, what="the sidebar back")
