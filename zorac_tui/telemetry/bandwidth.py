"""Peak memory bandwidth of a GPU: from NVML's bus width and clock when known, else from the card's name.

An exporter (dcgm-exporter, nvitop-exporter) reports the card's name but not its bus width or
maximum memory clock, so the decode-efficiency figure would be lost on a remote GPU box. The
table below holds the figure NVIDIA publishes for each card, matched on the name NVML reports
("NVIDIA GeForce RTX 4090", "NVIDIA A100-SXM4-80GB", "NVIDIA H100 80GB HBM3", "Tesla T4", …).

Sources (NVIDIA's product pages and datasheets, read 2026-12):
  GeForce: nvidia.com/en-us/geforce/graphics-cards/{50-series/rtx-5090, 40-series/rtx-4090,
    40-series/rtx-4080-family, 30-series/rtx-3090-3090ti} (memory speed × interface width)
  A100: nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf
  H100: nvidia.com/en-us/data-center/h100 (SXM 3.35 TB/s, NVL 3.9 TB/s); H100 PCIe product brief
    PB-11133-001 (2,000 GB/s)
  H200: nvidia.com/en-us/data-center/h200 (SXM and NVL 4.8 TB/s)
  L40S / L40: nvidia.com/en-us/data-center/l40s, /l40 (864 GB/s); L4: /l4 (300 GB/s)
  A10: nvidia.com/en-us/data-center/products/a10-gpu (600 GB/s); A30 (933 GB/s); A40 (696 GB/s)
  RTX A6000 / A5000: nvidia.com/en-us/design-visualization/rtx-a6000, rtx-a5000 (768 GB/s)
  RTX 6000 Ada: nvidia.com/en-us/design-visualization/rtx-6000 (960 GB/s)
  RTX PRO 6000 Blackwell: nvidia.com/en-us/data-center/rtx-pro-6000-blackwell-server-edition (1,792 GB/s)
  Quadro RTX 6000: (672 GB/s); T4: nvidia.com/en-us/data-center/tesla-t4 (320 GB/s)
  V100: nvidia.com/en-us/data-center/v100 (900 GB/s; V100S 1,134 GB/s)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from zorac_tui.telemetry.memory import peak_bandwidth_bytes_per_s
from zorac_tui.telemetry.samples import GpuSample

BandwidthSource = Literal["NVML", "spec table"]

# (words that must all be in the card's name, GB/s); the first match wins,
# so a more specific row comes before a general one ("3090 ti" before "3090", "a100 80gb pcie" before "a100").
_TABLE: tuple[tuple[tuple[str, ...], float], ...] = (
    (("rtx", "5090"), 1792.0),
    (("rtx", "4090"), 1008.0),
    (("rtx", "4080", "super"), 736.0),
    (("rtx", "4080"), 716.8),
    (("rtx", "3090", "ti"), 1008.0),
    (("rtx", "3090"), 936.2),
    (("rtx", "pro", "6000"), 1792.0),
    (("rtx", "6000", "ada"), 960.0),
    (("rtx", "a6000"), 768.0),
    (("rtx", "a5000"), 768.0),
    (("quadro", "rtx", "6000"), 672.0),
    (("a100", "80gb", "pcie"), 1935.0),
    (("a100", "80gb"), 2039.0),
    (("a100",), 1555.0),
    (("h100", "nvl"), 3938.0),
    (("h100", "pcie"), 2000.0),
    (("h100",), 3352.0),
    (("h200",), 4800.0),
    (("l40s",), 864.0),
    (("l40",), 864.0),
    (("l4",), 300.0),
    (("a10g",), 600.0),
    (("a10",), 600.0),
    (("a30",), 933.0),
    (("a40",), 696.0),
    (("t4",), 320.0),
    (("v100s",), 1134.0),
    (("v100",), 900.0),
)


@dataclass(frozen=True, slots=True)
class Bandwidth:
    """A card's peak memory bandwidth in bytes/s and where the figure came from."""

    bytes_per_s: float
    source: BandwidthSource


def _words(name: str) -> set[str]:
    """The card name as lower-case words: 'NVIDIA A100-SXM4-80GB' → {'nvidia', 'a100', 'sxm4', '80gb'}."""
    return set(re.split(r"[^a-z0-9]+", name.lower())) - {""}


def bandwidth_from_name(name: str | None) -> float | None:
    """Peak memory bandwidth (bytes/s) NVIDIA publishes for a card of this name, or None if not in the table."""
    if not name:
        return None
    words = _words(name)
    for needed, gb_per_s in _TABLE:
        if words.issuperset(needed):
            return gb_per_s * 1e9
    return None


def memory_bandwidth(gpu: GpuSample) -> Bandwidth | None:
    """NVML's bus width × max memory clock when both are known, else the spec table, else None."""
    measured = peak_bandwidth_bytes_per_s(gpu.memory_bus_width_bits, gpu.max_mem_clock_mhz)
    if measured is not None:
        return Bandwidth(measured, "NVML")
    from_table = bandwidth_from_name(gpu.name)
    if from_table is not None:
        return Bandwidth(from_table, "spec table")
    return None
