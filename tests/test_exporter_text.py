"""Exporter text from dcgm-exporter and nvitop-exporter → GpuSamples (fixtures: tests/fixtures/exporters/)."""

from __future__ import annotations

import pytest
from conftest import FIXTURES

from zorac_tui.telemetry.exporter_text import ExporterTextError, parse_exporter_text

MIB = 1024**2
EXPORTERS = FIXTURES / "exporters"


def read(name: str) -> str:
    return (EXPORTERS / name).read_text(encoding="utf-8")


def test_dcgm_four_a100s_every_field_and_label():
    reading = parse_exporter_text(read("dcgm_4xA100_v4.txt"), at=5.0)
    assert reading.flavour == "dcgm-exporter" and reading.host == "dgx-a100-07"
    assert [g.index for g in reading.gpus] == [0, 1, 2, 3]
    g = reading.gpus[1]
    assert g.name == "NVIDIA A100-SXM4-80GB" and g.uuid == "GPU-8f0d7a3c-41e2-4c59-b0a4-9e6b2d1c7a22"
    assert g.host == "dgx-a100-07" and g.at == 5.0
    # used counts reserved memory: used + free = total (81,920 MiB on an A100 80GB)
    assert g.memory_used == (73917 + 590) * MIB and g.memory_total == 81920 * MIB
    assert g.memory_free == 7413 * MIB
    assert (g.gpu_util, g.mem_util, g.temperature_c) == (98, 73, 64)
    assert g.power_w == pytest.approx(330.112)
    assert (g.sm_clock_mhz, g.mem_clock_mhz) == (1410, 1593)
    assert reading.gpus[3].sm_clock_mhz == 1395
    # dcgm-exporter's default counters carry none of these: unknown, never guessed
    assert g.power_limit_w is None and g.max_mem_clock_mhz is None and g.memory_bus_width_bits is None
    assert g.server_process_memory is None and g.processes is None and g.serving is None


def test_dcgm_after_the_hostname_rename_with_missing_fields():
    reading = parse_exporter_text(read("dcgm_2xRTX4090_hostname.txt"))
    assert reading.host == "gpubox"
    busy, idle = reading.gpus
    assert busy.memory_total == idle.memory_total == 24564 * MIB  # 22264 + 675 + 1625
    assert idle.memory_used == (1 + 380) * MIB and idle.gpu_util == 0
    assert busy.power_limit_w == 450.0  # DCGM_FI_DEV_POWER_MGMT_LIMIT from a custom counters CSV
    assert busy.temperature_c == 66 and busy.name == "NVIDIA GeForce RTX 4090"


def test_dcgm_readme_sample_blank_sentinel_is_unknown():
    reading = parse_exporter_text(read("dcgm_readme_sample.txt"))
    (g,) = reading.gpus
    assert g.uuid == "GPU-604ac76c-d9cf-fef3-62e9-d92044ab6e52" and g.name == "GPU 0"
    assert (g.sm_clock_mhz, g.mem_clock_mhz) == (139, 405)
    assert g.temperature_c is None and g.memory_used is None and g.memory_total is None
    assert reading.host is None


def test_dcgm_mig_instances_add_up_to_the_gpu():
    (g,) = parse_exporter_text(read("dcgm_H100_mig.txt")).gpus
    assert g.name == "NVIDIA H100 80GB HBM3"
    assert g.memory_used == 28003 * MIB
    assert g.memory_total == (28003 + 12210 + 40213) * MIB
    assert g.temperature_c == 58 and g.gpu_util is None


def test_nvitop_two_gpus_processes_and_nan():
    reading = parse_exporter_text(read("nvitop_2xRTX3090.txt"))
    assert reading.flavour == "nvitop-exporter" and reading.host == "192.168.1.50"
    first, second = reading.gpus
    assert first.name == "NVIDIA GeForce RTX 3090" and first.uuid == "GPU-3c1d7e9a-2b4f-4a6c-9d8e-5f7a1b3c9d88"
    assert first.memory_total == 24576 * MIB and first.memory_used == 22990 * MIB
    assert (first.gpu_util, first.mem_util, first.temperature_c) == (93, 81, 71)
    assert (first.sm_clock_mhz, first.mem_clock_mhz) == (1905, 9751)
    assert first.power_w == pytest.approx(318.27) and first.power_limit_w == 350.0
    assert second.power_limit_w is None  # "N/A" arrives as NaN
    assert first.processes == ((1711, 310 * MIB), (48211, 22672 * MIB))
    assert second.processes == ((48388, 22816 * MIB),)
    assert first.server_process_memory is None and first.serving is None  # the box's pids are not ours


def test_exporter_with_no_gpu_left_is_still_an_exporter():
    text = "".join(line + "\n" for line in read("dcgm_4xA100_v4.txt").splitlines() if line.startswith("#"))
    reading = parse_exporter_text(text)
    assert reading.flavour == "dcgm-exporter" and reading.gpus == ()


def test_vllm_metrics_are_not_gpu_figures():
    with pytest.raises(ExporterTextError, match="no dcgm-exporter or nvitop-exporter"):
        parse_exporter_text((FIXTURES / "vllm" / "metrics_idle.txt").read_text(encoding="utf-8"))


@pytest.mark.parametrize("text", ["<html><body>Not Found</body></html>", 'DCGM_FI_DEV_GPU_UTIL{gpu="0" 5\n'])
def test_text_that_is_not_prometheus(text):
    with pytest.raises(ExporterTextError):
        parse_exporter_text(text)
