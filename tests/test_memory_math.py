"""Memory-budget arithmetic, checked against hand-computed figures and a real vLLM capture; bandwidth by card."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from zorac_tui.telemetry.bandwidth import Bandwidth, bandwidth_from_name, memory_bandwidth
from zorac_tui.telemetry.memory import (
    MemorySegment,
    decode_efficiency,
    ideal_decode_tok_s,
    memory_budget,
    peak_bandwidth_bytes_per_s,
)
from zorac_tui.telemetry.samples import GpuSample

GB = 1_000_000_000
GIB = 1024**3
METRICS = Path(__file__).parent / "fixtures" / "vllm" / "metrics_after.txt"


@pytest.fixture(scope="module")
def cache_config() -> dict[str, str]:
    """Labels of vllm:cache_config_info in the real capture."""
    line = next(line for line in METRICS.read_text().splitlines()
                if line.startswith("vllm:cache_config_info{"))
    return dict(re.findall(r'(\w+)="([^"]*)"', line))


def test_budget_of_the_reference_4090():
    # 24 GiB card; server holds 14 GB weights + 8 GB KV + 2 GB overhead; a desktop holds 0.25 GB.
    total, server, desktop = 24 * GIB, 24 * GB, 250_000_000
    b = memory_budget(total, server + desktop, server, 8 * GB, 14 * GB)
    assert b.total == 25_769_803_776
    assert b.weights == MemorySegment(14 * GB, "measured")
    assert b.kv_cache == MemorySegment(8 * GB, "measured")
    assert b.other == MemorySegment(2 * GB, "derived")
    assert b.other_processes == MemorySegment(250_000_000, "derived")
    assert b.free == MemorySegment(25_769_803_776 - 24_250_000_000, "derived")
    assert b.free.bytes == 1_519_803_776
    parts = sum(seg.bytes for _name, seg in b.segments())
    assert parts == total
    assert [name for name, _ in b.segments()] == [
        "weights", "kv_cache", "other", "other_processes", "free"]


def test_budget_never_guesses_what_is_unknown():
    b = memory_budget(24 * GIB, 22 * GB, None, 8 * GB, None)
    assert b.weights == MemorySegment(None, "unknown") and not b.weights.known
    assert b.kv_cache.bytes == 8 * GB
    assert b.other.bytes is None and b.other.source == "unknown"
    assert b.other_processes.bytes is None
    assert b.free == MemorySegment(24 * GIB - 22 * GB, "derived")

    nothing = memory_budget(None, None, None, None, None)
    assert all(seg == MemorySegment(None, "unknown") for _n, seg in nothing.segments())
    assert nothing.total is None


def test_budget_inputs_that_disagree_stay_unknown():
    # Weights + KV larger than the whole server process: the figures cannot all be right.
    b = memory_budget(24 * GIB, 20 * GB, 20 * GB, 8 * GB, 14 * GB)
    assert b.other == MemorySegment(None, "unknown")
    assert b.other_processes == MemorySegment(0, "derived")


def test_budget_source_labels_can_say_derived():
    b = memory_budget(24 * GIB, 22 * GB, 22 * GB, 8 * GB, 14 * GB, kv_cache_source="derived")
    assert b.kv_cache.source == "derived" and b.weights.source == "measured"


def test_real_fixture_cache_config(cache_config):
    blocks, block_size = int(cache_config["num_gpu_blocks"]), int(cache_config["block_size"])
    assert (blocks, block_size) == (728, 128)
    assert blocks * block_size == 93_184 == int(cache_config["kv_cache_size_tokens"])
    # kv_cache_max_concurrency 22.75 = 93,184 / 4,096: what the gauge's KV note divides by.
    assert float(cache_config["kv_cache_max_concurrency"]) == 93_184 / 4_096


def test_peak_bandwidth_of_a_4090():
    bw = peak_bandwidth_bytes_per_s(384, 10_501)
    assert bw == 48 * 10_501e6 * 2 == 1_008_096_000_000
    assert peak_bandwidth_bytes_per_s(None, 10_501) is None
    assert peak_bandwidth_bytes_per_s(384, None) is None
    assert peak_bandwidth_bytes_per_s(0, 10_501) is None


def test_ideal_decode_and_efficiency():
    ideal = ideal_decode_tok_s(1_008_096_000_000, 14 * GB)
    assert ideal == pytest.approx(72.0069, abs=1e-3)
    # The reference setup decodes at 60–65 tok/s: 83–90 % of the bandwidth bound.
    assert decode_efficiency(60, ideal) == pytest.approx(0.8333, abs=1e-3)
    assert decode_efficiency(65, ideal) == pytest.approx(0.9027, abs=1e-3)
    assert ideal_decode_tok_s(None, 14 * GB) is None
    assert ideal_decode_tok_s(1e12, None) is None
    assert ideal_decode_tok_s(1e12, 0) is None
    assert decode_efficiency(None, 72.0) is None
    assert decode_efficiency(60, None) is None
    assert decode_efficiency(60, 0) is None


# --- bandwidth from the card's name (exporters report no bus width or max memory clock) ----------

@pytest.mark.parametrize(("name", "gb_per_s"), [
    ("NVIDIA GeForce RTX 4090", 1008), ("NVIDIA GeForce RTX 4090 D", 1008), ("NVIDIA GeForce RTX 3090", 936.2),
    ("NVIDIA GeForce RTX 3090 Ti", 1008), ("NVIDIA GeForce RTX 4080", 716.8), ("NVIDIA GeForce RTX 4080 SUPER", 736),
    ("NVIDIA GeForce RTX 5090", 1792), ("NVIDIA A100-PCIE-40GB", 1555), ("NVIDIA A100-SXM4-40GB", 1555),
    ("NVIDIA A100 80GB PCIe", 1935), ("NVIDIA A100-SXM4-80GB", 2039), ("NVIDIA H100 PCIe", 2000),
    ("NVIDIA H100 80GB HBM3", 3352), ("NVIDIA H100 NVL", 3938), ("NVIDIA H200", 4800), ("NVIDIA H200 NVL", 4800),
    ("NVIDIA L40S", 864), ("NVIDIA L40", 864), ("NVIDIA L4", 300), ("NVIDIA A10", 600), ("NVIDIA A10G", 600),
    ("NVIDIA RTX A6000", 768), ("NVIDIA RTX 6000 Ada Generation", 960), ("Quadro RTX 6000", 672),
    ("Tesla T4", 320), ("Tesla V100-SXM2-32GB", 900), ("Tesla V100-PCIE-16GB", 900), ("Tesla V100S-PCIE-32GB", 1134),
    ("NVIDIA RTX PRO 6000 Blackwell Server Edition", 1792), ("NVIDIA A30", 933), ("NVIDIA A40", 696),
])
def test_bandwidth_table_by_nvml_name(name, gb_per_s):
    assert bandwidth_from_name(name) == pytest.approx(gb_per_s * 1e9)


@pytest.mark.parametrize("name", ["NVIDIA RTX 2000 Ada Generation", "GPU 0", "", None, "AMD Instinct MI300X"])
def test_cards_not_in_the_table_are_unknown(name):
    assert bandwidth_from_name(name) is None


def _gpu(name: str, bus: int | None = None, clock: int | None = None) -> GpuSample:
    return GpuSample(index=0, name=name, uuid=None, memory_used=None, memory_total=None, server_process_memory=None,
                     processes=None, gpu_util=None, mem_util=None, temperature_c=None, power_w=None,
                     power_limit_w=None, sm_clock_mhz=None, mem_clock_mhz=None, max_mem_clock_mhz=clock,
                     memory_bus_width_bits=bus, at=0.0)


def test_memory_bandwidth_prefers_nvml_then_the_table():
    from_nvml = memory_bandwidth(_gpu("NVIDIA GeForce RTX 4090", 384, 10_501))
    assert from_nvml.source == "NVML" and round(from_nvml.bytes_per_s / 1e9) == 1008
    from_table = memory_bandwidth(_gpu("NVIDIA GeForce RTX 4090"))
    assert from_table == Bandwidth(1008e9, "spec table")
    assert memory_bandwidth(_gpu("NVIDIA RTX 2000 Ada Generation")) is None
