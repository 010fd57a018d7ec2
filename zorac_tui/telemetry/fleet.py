"""Several GPUs: which ones to show (the `gpus` setting, the server's own) and their totals.

Totals let the memory budget and decode efficiency work over a tensor-parallel server on 2–8 GPUs.
A total is known only when every GPU's figure is: a sum over some GPUs would pass for the whole.

Bandwidth: with tensor parallelism each GPU holds 1/N of the weights and, for every token, all
GPUs read their shard at the same time, so the ideal decode rate is (sum of the GPUs' peak
bandwidths) / (total weight bytes) — `FleetTotals.bandwidth_bytes_per_s` is that sum. (With
pipeline parallelism the GPUs take turns and one GPU's bandwidth would be the figure; vLLM on one
box uses tensor parallelism unless told otherwise.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from zorac_tui.telemetry.bandwidth import BandwidthSource, memory_bandwidth
from zorac_tui.telemetry.samples import GpuSample, TelemetrySnapshot, free_bytes, used_fraction

GpuRef = int | str
"""One entry of the `gpus` setting: an index, or a UUID ("GPU-…", "MIG-…")."""


def parse_gpu_spec(spec: str | None) -> tuple[GpuRef, ...]:
    """'0,2' or 'GPU-5a1e…, 1' → (0, 2) / ('GPU-5a1e…', 1); empty means every GPU. ValueError says what is wrong."""
    if not spec or not spec.strip():
        return ()
    refs: list[GpuRef] = []
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            raise ValueError(f"empty entry in {spec!r}; use indices or UUIDs separated by commas, e.g. 0,1")
        if item.isdigit():
            refs.append(int(item))
        elif item.upper().startswith(("GPU-", "MIG-")):
            refs.append(item)
        else:
            raise ValueError(f"{item!r} is neither a GPU index (0, 1, …) nor a UUID (GPU-…); e.g. gpus = \"0,1\"")
    return tuple(refs)


def _matches(gpu: GpuSample, ref: GpuRef) -> bool:
    """True when the GPU is the one `ref` names (UUIDs compare case-insensitively)."""
    if isinstance(ref, int):
        return gpu.index == ref
    return gpu.uuid is not None and gpu.uuid.lower() == ref.lower()


def select_gpus(snapshot: TelemetrySnapshot, spec: str | Sequence[GpuRef] | None = None,
                serving_only: bool = False) -> TelemetrySnapshot:
    """The snapshot with only the GPUs the `gpus` setting names (all when empty), optionally only the server's.

    `serving_only` keeps the GPUs the inference server uses; when none is known to (an exporter cannot
    tell, or the server's processes were not found on any), all are kept. Named GPUs the source does not
    report are listed in `note`.
    """
    refs = parse_gpu_spec(spec) if isinstance(spec, str) or spec is None else tuple(spec)
    gpus = list(snapshot.gpus)
    note = snapshot.note
    if refs:
        gpus = [gpu for gpu in gpus if any(_matches(gpu, ref) for ref in refs)]
        absent = [str(ref) for ref in refs if not any(_matches(gpu, ref) for gpu in snapshot.gpus)]
        if absent and snapshot.gpus:
            said = f"gpus setting: {', '.join(absent)} not reported by {snapshot.source or 'the GPU source'}"
            note = f"{note} · {said}" if note else said
    if serving_only and any(gpu.serving for gpu in gpus):
        gpus = [gpu for gpu in gpus if gpu.serving]
    if len(gpus) == len(snapshot.gpus) and note == snapshot.note:
        return snapshot
    return replace(snapshot, gpus=tuple(gpus), note=note)


@dataclass(frozen=True, slots=True)
class FleetTotals:
    """Several GPUs added up; a figure is None unless every GPU reports it."""

    count: int
    memory_used: int | None
    memory_total: int | None
    server_process_memory: int | None
    power_w: float | None
    power_limit_w: float | None
    gpu_util: float | None
    """Mean over the GPUs, percent."""
    mem_util: float | None
    """Mean over the GPUs, percent."""
    bandwidth_bytes_per_s: float | None
    """Sum of the GPUs' peak memory bandwidths (the tensor-parallel aggregate; see the module doc)."""
    bandwidth_source: BandwidthSource | None
    """"NVML" when every figure came from NVML, "spec table" when any came from the table."""

    @property
    def memory_free(self) -> int | None:
        """VRAM not in use over all GPUs, bytes."""
        return free_bytes(self.memory_used, self.memory_total)

    @property
    def memory_fraction(self) -> float | None:
        """Share of all the GPUs' VRAM in use, 0..1."""
        return used_fraction(self.memory_used, self.memory_total)


def _total(values: Iterable[float | None]) -> float | None:
    """Sum when every value is known (and there is at least one), else None."""
    known = list(values)
    if not known or any(v is None for v in known):
        return None
    return sum(v for v in known if v is not None)


def _mean(values: Iterable[float | None]) -> float | None:
    """Mean when every value is known, else None."""
    known = list(values)
    total = _total(known)
    return None if total is None else total / len(known)


def _as_int(value: float | None) -> int | None:
    """A byte total as an int, keeping None."""
    return None if value is None else int(value)


def fleet_totals(gpus: Sequence[GpuSample]) -> FleetTotals:
    """Totals over `gpus` (pass `snapshot.gpus`, or a `select_gpus` result's)."""
    bandwidths = [memory_bandwidth(gpu) for gpu in gpus]
    known_bw = [bw for bw in bandwidths if bw is not None]
    bw_total = sum(bw.bytes_per_s for bw in known_bw) if gpus and len(known_bw) == len(gpus) else None
    bw_source: BandwidthSource | None = None
    if bw_total is not None:
        bw_source = "NVML" if all(bw.source == "NVML" for bw in known_bw) else "spec table"
    return FleetTotals(
        count=len(gpus),
        memory_used=_as_int(_total(g.memory_used for g in gpus)),
        memory_total=_as_int(_total(g.memory_total for g in gpus)),
        server_process_memory=_as_int(_total(g.server_process_memory for g in gpus if g.serving is not False)),
        power_w=_total(g.power_w for g in gpus),
        power_limit_w=_total(g.power_limit_w for g in gpus),
        gpu_util=_mean(g.gpu_util for g in gpus),
        mem_util=_mean(g.mem_util for g in gpus),
        bandwidth_bytes_per_s=bw_total,
        bandwidth_source=bw_source,
    )
