"""`--demo --demo-box` and `python -m zorac_tui.demo --gpu-box N`: the simulated GPU box beside the chat simulator."""

from __future__ import annotations

import subprocess
import sys

from zorac_tui.cli import start_demo
from zorac_tui.config import Settings
from zorac_tui.demo.exporter import FIELDS, render_dcgm
from zorac_tui.telemetry import ExporterSampler, open_source
from zorac_tui.telemetry.exporter_text import parse_exporter_text
from zorac_tui.telemetry.simulated import SimulatedTelemetry


def test_rendered_text_reads_back_as_the_same_gpus():
    gpus = SimulatedTelemetry(gpu_count=2).sample().gpus
    text = render_dcgm(gpus)
    assert text.count("# TYPE ") == len(FIELDS)
    assert 'Hostname="gpubox"' in text and 'DCGM_FI_DRIVER_VERSION="550.54.14"' in text
    back = parse_exporter_text(text).gpus
    for sent, read in zip(gpus, back):
        assert (read.index, read.uuid, read.name) == (sent.index, sent.uuid, sent.name)
        assert read.memory_used == sent.memory_used // 1024**2 * 1024**2
        assert (read.gpu_util, read.temperature_c, read.sm_clock_mhz) == (sent.gpu_util, sent.temperature_c,
                                                                          sent.sm_clock_mhz)


def test_start_demo_with_the_box_points_gpu_metrics_url_at_it():
    settings, servers = start_demo(Settings(demo=True, api_key="sk-not-for-the-demo"), demo_box=True)
    try:
        assert settings.base_url.startswith("http://127.0.0.1:") and settings.api_key is None
        assert settings.gpu_metrics_url.startswith("http://127.0.0.1:") and settings.gpu_metrics_url.endswith("/metrics")
        source = open_source(settings.base_url, gpu_metrics_url=settings.gpu_metrics_url, demo=True)
        assert isinstance(source, ExporterSampler)
        snap = source.sample()
        assert snap.ok and snap.simulated and len(snap.gpus) == 2
        assert snap.source == "dcgm-exporter on gpubox"
    finally:
        for server in servers:
            server.stop()
    assert ExporterSampler(settings.gpu_metrics_url, timeout=1.0).sample().status == "unreachable"


def test_start_demo_without_the_box_leaves_gpu_metrics_url_alone():
    settings, servers = start_demo(Settings(demo=True))
    try:
        assert settings.gpu_metrics_url is None and len(servers) == 1
    finally:
        for server in servers:
            server.stop()


def test_standalone_simulator_with_a_gpu_box():
    proc = subprocess.Popen([sys.executable, "-m", "zorac_tui.demo", "--port", "0", "--gpu-box", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        chat_line, box_line = proc.stdout.readline(), proc.stdout.readline()
        assert "/v1" in chat_line
        url = box_line.rsplit(" at ", 1)[1].strip()
        snap = ExporterSampler(url).sample()
        assert snap.ok and len(snap.gpus) == 2
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()
