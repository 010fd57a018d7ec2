"""A GPU exporter's Prometheus text → one GpuSample per GPU (dcgm-exporter and nvitop-exporter).

Pure: text in, samples out. Names, units and labels are the exporters' own:

- NVIDIA dcgm-exporter (`etc/default-counters.csv`, `internal/pkg/rendermetrics`): one series per
  GPU labelled `gpu` (index), `UUID` (`uuid` with its 1.x-compatible names), `device`, `modelName`,
  `Hostname` (renamed `hostname` in 2026), `DCGM_FI_DRIVER_VERSION`, … Memory in MiB
  (`DCGM_FI_DEV_FB_USED`/`_FREE`/`_RESERVED`), power in W, clocks in MHz, utilisation in %.
  Before 4.5 a field the card cannot report came as DCGM's "blank" sentinel (e.g.
  9223372036854775794); those become None. MIG instances repeat a GPU with `GPU_I_ID`: the
  whole-GPU series wins, else memory is summed over the instances.
- nvitop-exporter (`nvitop_exporter/exporter.py`): prometheus_client gauges whose unit is appended
  to the name (`gpu_memory_used_MiB`, `gpu_utilization_Percentage`, `gpu_power_usage_W`,
  `gpu_clock_sm_MHz`, `gpu_temperature_C`), labelled `hostname`, `index`, `devicename`, `uuid`;
  "N/A" arrives as NaN and becomes None; `process_gpu_memory_MiB{pid}` lists the processes.

Used memory counts reserved memory (as NVML's memory info does), so used + free = total.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Literal

from zorac_tui.telemetry.samples import GpuSample

MIB = 1024**2
Flavour = Literal["dcgm-exporter", "nvitop-exporter"]
_Series = list[tuple[dict[str, str], float]]

# DCGM's "no value" sentinels (dcgm_structs.h): INT32/INT64 BLANK, NOT_FOUND, NOT_SUPPORTED,
# NOT_PERMISSIONED are BLANK+0..3; FP64 BLANK is 2**47. Real GPU figures never come near them.
_INT32_BLANK = 0x7FFFFFF0
_FP64_BLANK = 140737488355328.0


class ExporterTextError(ValueError):
    """The text is not Prometheus exposition format, or carries no GPU figures."""


@dataclass(frozen=True, slots=True)
class ExporterReading:
    """What one scrape said: which exporter, the machine it names, and its GPUs in index order."""

    flavour: Flavour
    host: str | None
    gpus: tuple[GpuSample, ...]


def _is_blank(value: float) -> bool:
    """True for NaN and DCGM's blank / not-supported sentinels."""
    if math.isnan(value) or math.isinf(value):
        return True
    return _INT32_BLANK <= value <= _INT32_BLANK + 3 or value >= _FP64_BLANK


def _collect(text: str) -> tuple[dict[str, _Series], set[str]]:
    """Every sample by name: [(labels, value)], and the family names (present even with no GPU)."""
    from prometheus_client.parser import text_string_to_metric_families  # ~25 ms: not before the first sample

    out: dict[str, _Series] = defaultdict(list)
    names: set[str] = set()
    try:
        for family in text_string_to_metric_families(text):
            names.add(family.name)
            for sample in family.samples:
                out[sample.name].append((dict(sample.labels), float(sample.value)))
    except (ValueError, TypeError, IndexError) as exc:
        raise ExporterTextError(f"not Prometheus text ({' '.join(str(exc).split())[:80]})") from None
    return out, names


def _whole_gpu(rows: _Series) -> _Series:
    """The whole-GPU series when there are any, else the MIG instances' series."""
    whole = [(lab, v) for lab, v in rows if "GPU_I_ID" not in lab]
    return whole or rows


def _per_gpu(samples: dict[str, _Series], name: str, index_label: str, *, summed: bool = False
             ) -> dict[int, float | None]:
    """One value per GPU index for metric `name`: first series, or the sum over MIG instances."""
    by_gpu: dict[int, _Series] = defaultdict(list)
    for labels, value in samples.get(name, ()):
        index = _index(labels.get(index_label))
        if index is not None:
            by_gpu[index].append((labels, value))
    out: dict[int, float | None] = {}
    for index, rows in by_gpu.items():
        rows = _whole_gpu(rows)
        values = [v for _lab, v in rows if not _is_blank(v)]
        if not values:
            out[index] = None
        elif summed and all("GPU_I_ID" in lab for lab, _v in rows):
            out[index] = sum(values)
        else:
            out[index] = values[0]
    return out


def _index(raw: str | None) -> int | None:
    """A GPU index label as an int ('0', or nvitop's '0:1' for a MIG device → 0)."""
    if raw is None:
        return None
    try:
        return int(raw.split(":", 1)[0])
    except ValueError:
        return None


def _labels_by_gpu(samples: dict[str, _Series], index_label: str) -> dict[int, dict[str, str]]:
    """The labels of each GPU's first series (name, UUID, host), over every metric."""
    out: dict[int, dict[str, str]] = {}
    for rows in samples.values():
        for labels, _value in rows:
            index = _index(labels.get(index_label))
            if index is not None and index not in out:
                out[index] = labels
    return out


def _int(value: float | None) -> int | None:
    """A figure as a whole number, keeping None."""
    return None if value is None else round(value)


def _mib(value: float | None) -> int | None:
    """MiB as bytes, keeping None."""
    return None if value is None else round(value * MIB)


def _first(*values: float | None) -> float | None:
    """The first value that is known."""
    return next((v for v in values if v is not None), None)


def _dcgm(samples: dict[str, _Series], at: float) -> ExporterReading:
    """dcgm-exporter series → GPUs."""
    def get(field: str, summed: bool = False) -> dict[int, float | None]:
        """One DCGM field per GPU index."""
        return _per_gpu(samples, f"DCGM_FI_DEV_{field}", "gpu", summed=summed)

    used, free, reserved, total = get("FB_USED", True), get("FB_FREE", True), get("FB_RESERVED", True), \
        get("FB_TOTAL", True)
    util, mem_util, temp, power = get("GPU_UTIL"), get("MEM_COPY_UTIL"), get("GPU_TEMP"), get("POWER_USAGE")
    sm_clock, mem_clock, max_mem_clock = get("SM_CLOCK"), get("MEM_CLOCK"), get("MAX_MEM_CLOCK")
    limit, enforced = get("POWER_MGMT_LIMIT"), get("ENFORCED_POWER_LIMIT")
    labels = _labels_by_gpu({k: v for k, v in samples.items() if k.startswith("DCGM_FI_")}, "gpu")
    gpus = []
    for index in sorted(labels):
        lab = labels[index]
        fb_used, fb_free, fb_reserved = used.get(index), free.get(index), reserved.get(index)
        mem_used = None if fb_used is None else fb_used + (fb_reserved or 0.0)
        mem_total = total.get(index)
        if mem_total is None and mem_used is not None and fb_free is not None:
            mem_total = mem_used + fb_free
        gpus.append(GpuSample(
            index=index, name=lab.get("modelName") or f"GPU {index}", uuid=lab.get("UUID") or lab.get("uuid"),
            memory_used=_mib(mem_used), memory_total=_mib(mem_total), server_process_memory=None,
            processes=None, gpu_util=_int(util.get(index)), mem_util=_int(mem_util.get(index)),
            temperature_c=_int(temp.get(index)), power_w=power.get(index),
            power_limit_w=_first(enforced.get(index), limit.get(index)),
            sm_clock_mhz=_int(sm_clock.get(index)), mem_clock_mhz=_int(mem_clock.get(index)),
            max_mem_clock_mhz=_int(max_mem_clock.get(index)), memory_bus_width_bits=None, at=at,
            host=lab.get("Hostname") or lab.get("hostname"), serving=None,
        ))
    host = next((g.host for g in gpus if g.host), None)
    return ExporterReading("dcgm-exporter", host, tuple(gpus))


def _nvitop_processes(samples: dict[str, _Series]) -> dict[int, tuple[tuple[int, int | None], ...]]:
    """(pid, VRAM bytes) per GPU from process_gpu_memory_MiB, one entry per pid."""
    by_gpu: dict[int, dict[int, int | None]] = defaultdict(dict)
    for labels, value in samples.get("process_gpu_memory_MiB", ()):
        index, pid = _index(labels.get("index")), labels.get("pid", "")
        if index is not None and pid.isdigit():
            by_gpu[index][int(pid)] = None if _is_blank(value) else _mib(value)
    return {index: tuple(sorted(procs.items())) for index, procs in by_gpu.items()}


def _nvitop(samples: dict[str, _Series], at: float) -> ExporterReading:
    """nvitop-exporter series → GPUs."""
    def get(name: str) -> dict[int, float | None]:
        """One nvitop gauge per GPU index."""
        return _per_gpu(samples, f"gpu_{name}", "index")

    used, free, total = get("memory_used_MiB"), get("memory_free_MiB"), get("memory_total_MiB")
    util, mem_util, temp = get("utilization_Percentage"), get("memory_utilization_Percentage"), \
        get("temperature_C")
    power, limit = get("power_usage_W"), get("power_limit_W")
    sm_clock, mem_clock = get("clock_sm_MHz"), get("clock_memory_MHz")
    processes = _nvitop_processes(samples)
    labels = _labels_by_gpu({k: v for k, v in samples.items() if k.startswith("gpu_")}, "index")
    gpus = []
    for index in sorted(labels):
        lab = labels[index]
        mem_total = total.get(index)
        if mem_total is None and used.get(index) is not None and free.get(index) is not None:
            mem_total = used[index] + free[index]  # type: ignore[operator]
        gpus.append(GpuSample(
            index=index, name=lab.get("devicename") or f"GPU {index}", uuid=lab.get("uuid"),
            memory_used=_mib(used.get(index)), memory_total=_mib(mem_total), server_process_memory=None,
            processes=processes.get(index, ()) if "process_gpu_memory_MiB" in samples else None,
            gpu_util=_int(util.get(index)), mem_util=_int(mem_util.get(index)),
            temperature_c=_int(temp.get(index)), power_w=power.get(index), power_limit_w=limit.get(index),
            sm_clock_mhz=_int(sm_clock.get(index)), mem_clock_mhz=_int(mem_clock.get(index)),
            max_mem_clock_mhz=None, memory_bus_width_bits=None, at=at,
            host=lab.get("hostname"), serving=None,
        ))
    host = next((g.host for g in gpus if g.host), None)
    if host is None:
        host = next((lab.get("hostname") for lab, _v in samples.get("nvitop_info", ())), None)
    return ExporterReading("nvitop-exporter", host, tuple(gpus))


def parse_exporter_text(text: str, at: float = 0.0) -> ExporterReading:
    """Read a scrape of either exporter; ExporterTextError when it is neither (or not Prometheus text)."""
    samples, names = _collect(text)
    if any(name.startswith("DCGM_FI_") for name in names):
        return _dcgm(samples, at)
    if "nvitop_info" in names or any(name.startswith("gpu_memory_") for name in names):
        return _nvitop(samples, at)
    raise ExporterTextError("no dcgm-exporter or nvitop-exporter GPU figures in it")
