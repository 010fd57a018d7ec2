"""A stand-in for the `pynvml` module (hardware is the one thing the tests may fake).

It mirrors nvidia-ml-py's names exactly — functions, constants, and the NVMLError class
hierarchy — and `tests/test_nvml.py` checks every name against the real module, so the
sampler cannot pass here while calling something pynvml does not have.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import ModuleType, SimpleNamespace

NVML_TEMPERATURE_GPU = 0
NVML_CLOCK_GRAPHICS = 0
NVML_CLOCK_SM = 1
NVML_CLOCK_MEM = 2

NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18
NVML_ERROR_GPU_NOT_FOUND = 28
NVML_ERROR_UNKNOWN = 999

_MESSAGES = {
    NVML_ERROR_UNINITIALIZED: "Uninitialized",
    NVML_ERROR_NOT_SUPPORTED: "Not Supported",
    NVML_ERROR_NO_PERMISSION: "Insufficient Permissions",
    NVML_ERROR_NOT_FOUND: "Not Found",
    NVML_ERROR_DRIVER_NOT_LOADED: "Driver Not Loaded",
    NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
    NVML_ERROR_FUNCTION_NOT_FOUND: "Function Not Found",
    NVML_ERROR_GPU_IS_LOST: "GPU is lost",
    NVML_ERROR_LIB_RM_VERSION_MISMATCH: "RM has detected an NVML/RM version mismatch.",
    NVML_ERROR_UNKNOWN: "Unknown Error",
}


class NVMLError(Exception):
    """Base of every NVML error, carrying the NVML return code as `value`."""

    value: int = NVML_ERROR_UNKNOWN

    def __init__(self, value: int | None = None) -> None:
        """Like pynvml, a subclass knows its own code; the base takes one."""
        if value is not None:
            self.value = value
        super().__init__(self.value)

    def __str__(self) -> str:
        """The same wording pynvml uses for the code."""
        return _MESSAGES.get(self.value, f"NVML Error with code {self.value}")


def _error(name: str, code: int) -> type[NVMLError]:
    """A subclass named as pynvml names it, bound to its code."""
    return type(name, (NVMLError,), {"value": code, "__module__": __name__})


NVMLError_Uninitialized = _error("NVMLError_Uninitialized", NVML_ERROR_UNINITIALIZED)
NVMLError_NotSupported = _error("NVMLError_NotSupported", NVML_ERROR_NOT_SUPPORTED)
NVMLError_NoPermission = _error("NVMLError_NoPermission", NVML_ERROR_NO_PERMISSION)
NVMLError_NotFound = _error("NVMLError_NotFound", NVML_ERROR_NOT_FOUND)
NVMLError_DriverNotLoaded = _error("NVMLError_DriverNotLoaded", NVML_ERROR_DRIVER_NOT_LOADED)
NVMLError_LibraryNotFound = _error("NVMLError_LibraryNotFound", NVML_ERROR_LIBRARY_NOT_FOUND)
NVMLError_FunctionNotFound = _error("NVMLError_FunctionNotFound", NVML_ERROR_FUNCTION_NOT_FOUND)
NVMLError_GpuIsLost = _error("NVMLError_GpuIsLost", NVML_ERROR_GPU_IS_LOST)
NVMLError_LibRmVersionMismatch = _error("NVMLError_LibRmVersionMismatch",
                                        NVML_ERROR_LIB_RM_VERSION_MISMATCH)
NVMLError_GpuNotFound = _error("NVMLError_GpuNotFound", NVML_ERROR_GPU_NOT_FOUND)
NVMLError_Unknown = _error("NVMLError_Unknown", NVML_ERROR_UNKNOWN)

ERROR_CLASSES = (NVMLError, NVMLError_Uninitialized, NVMLError_NotSupported,
                 NVMLError_NoPermission, NVMLError_NotFound, NVMLError_DriverNotLoaded,
                 NVMLError_LibraryNotFound, NVMLError_FunctionNotFound, NVMLError_GpuIsLost,
                 NVMLError_LibRmVersionMismatch, NVMLError_GpuNotFound, NVMLError_Unknown)
CONSTANTS = ("NVML_TEMPERATURE_GPU", "NVML_CLOCK_GRAPHICS", "NVML_CLOCK_SM", "NVML_CLOCK_MEM")
FUNCTIONS = ("nvmlInit", "nvmlShutdown", "nvmlDeviceGetCount", "nvmlDeviceGetHandleByIndex",
             "nvmlDeviceGetName", "nvmlDeviceGetUUID", "nvmlDeviceGetMemoryInfo",
             "nvmlDeviceGetUtilizationRates", "nvmlDeviceGetTemperature",
             "nvmlDeviceGetPowerUsage", "nvmlDeviceGetEnforcedPowerLimit",
             "nvmlDeviceGetClockInfo", "nvmlDeviceGetMaxClockInfo",
             "nvmlDeviceGetMemoryBusWidth", "nvmlDeviceGetComputeRunningProcesses",
             "nvmlDeviceGetGraphicsRunningProcesses")

GIB = 1024**3


@dataclass
class FakeGpu:
    """What one fake card reports; `fail` maps a function name to the error it raises."""

    name: str | bytes = "NVIDIA GeForce RTX 4090"
    uuid: str | bytes = "GPU-00000000-0000-0000-0000-000000000000"
    memory_total: int = 25_757_220_864
    memory_used: int = 24_000_000_000
    gpu_util: int = 95
    mem_util: int = 80
    temperature: int = 65
    power_mw: int = 300_000
    power_limit_mw: int = 450_000
    sm_clock: int = 2520
    mem_clock: int = 10_501
    max_mem_clock: int = 10_501
    max_sm_clock: int = 3120
    bus_width: int = 384
    compute_processes: list[tuple[int, int | None]] = field(default_factory=list)
    graphics_processes: list[tuple[int, int | None]] = field(default_factory=list)
    fail: dict[str, type[NVMLError]] = field(default_factory=dict)


@dataclass(frozen=True)
class FakeHandle:
    """What nvmlDeviceGetHandleByIndex returns."""

    index: int


class FakePynvml(ModuleType):
    """A module object with pynvml's API over a list of FakeGpu cards."""

    def __init__(self, gpus: list[FakeGpu] | None = None, *,
                 init_error: type[NVMLError] | NVMLError | None = None,
                 delay_s: float = 0.0) -> None:
        """Cards to report, an error nvmlInit raises (if any), a delay added to every call."""
        super().__init__("pynvml")
        self.gpus = list(gpus) if gpus is not None else [FakeGpu()]
        self.init_error = init_error
        self.delay_s = delay_s
        self.initialized = False
        self.init_calls = 0
        self.shutdown_calls = 0
        self.calls: list[str] = []
        self.lost: set[int] = set()
        for cls in ERROR_CLASSES:
            setattr(self, cls.__name__, cls)
        for name in CONSTANTS:
            setattr(self, name, globals()[name])

    def lose_gpu(self, index: int = 0) -> None:
        """Make card `index` answer every call with NVMLError_GpuIsLost."""
        self.lost.add(index)

    def restore_gpu(self, index: int = 0) -> None:
        """Bring card `index` back."""
        self.lost.discard(index)

    def _enter(self, name: str, handle: FakeHandle | None = None) -> FakeGpu | None:
        """Bookkeeping shared by every call: delay, record, checks, per-card failures."""
        if self.delay_s:
            time.sleep(self.delay_s)
        self.calls.append(name)
        if name != "nvmlInit" and not self.initialized:
            raise NVMLError_Uninitialized()
        if handle is None:
            return None
        if handle.index in self.lost:
            raise NVMLError_GpuIsLost()
        gpu = self.gpus[handle.index]
        if name in gpu.fail:
            raise gpu.fail[name]()
        return gpu

    def nvmlInit(self) -> None:
        """Start NVML, or raise the configured init error."""
        self._enter("nvmlInit")
        self.init_calls += 1
        if self.init_error is not None:
            raise self.init_error() if isinstance(self.init_error, type) else self.init_error
        self.initialized = True

    def nvmlShutdown(self) -> None:
        """Stop NVML."""
        self._enter("nvmlShutdown")
        self.shutdown_calls += 1
        self.initialized = False

    def nvmlDeviceGetCount(self) -> int:
        """Number of cards."""
        self._enter("nvmlDeviceGetCount")
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeHandle:
        """Handle of card `index` (a lost card cannot be opened)."""
        self._enter("nvmlDeviceGetHandleByIndex")
        if index in self.lost:
            raise NVMLError_GpuIsLost()
        if not 0 <= index < len(self.gpus):
            raise NVMLError(2)
        return FakeHandle(index)

    def _gpu(self, name: str, handle: FakeHandle) -> FakeGpu:
        """The card behind `handle` after the shared checks."""
        gpu = self._enter(name, handle)
        assert gpu is not None
        return gpu

    def nvmlDeviceGetName(self, handle: FakeHandle) -> str | bytes:
        """Product name (str or bytes, as bindings differ)."""
        return self._gpu("nvmlDeviceGetName", handle).name

    def nvmlDeviceGetUUID(self, handle: FakeHandle) -> str | bytes:
        """Card UUID."""
        return self._gpu("nvmlDeviceGetUUID", handle).uuid

    def nvmlDeviceGetMemoryInfo(self, handle: FakeHandle) -> SimpleNamespace:
        """total/free/used in bytes."""
        gpu = self._gpu("nvmlDeviceGetMemoryInfo", handle)
        return SimpleNamespace(total=gpu.memory_total, used=gpu.memory_used,
                               free=gpu.memory_total - gpu.memory_used)

    def nvmlDeviceGetUtilizationRates(self, handle: FakeHandle) -> SimpleNamespace:
        """gpu and memory-controller utilisation, percent."""
        gpu = self._gpu("nvmlDeviceGetUtilizationRates", handle)
        return SimpleNamespace(gpu=gpu.gpu_util, memory=gpu.mem_util)

    def nvmlDeviceGetTemperature(self, handle: FakeHandle, sensor: int) -> int:
        """Die temperature, °C."""
        gpu = self._gpu("nvmlDeviceGetTemperature", handle)
        if sensor != NVML_TEMPERATURE_GPU:
            raise NVMLError(2)
        return gpu.temperature

    def nvmlDeviceGetPowerUsage(self, handle: FakeHandle) -> int:
        """Board power, milliwatts."""
        return self._gpu("nvmlDeviceGetPowerUsage", handle).power_mw

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: FakeHandle) -> int:
        """Power limit, milliwatts."""
        return self._gpu("nvmlDeviceGetEnforcedPowerLimit", handle).power_limit_mw

    def nvmlDeviceGetClockInfo(self, handle: FakeHandle, clock: int) -> int:
        """Current clock, MHz."""
        gpu = self._gpu("nvmlDeviceGetClockInfo", handle)
        return {NVML_CLOCK_SM: gpu.sm_clock, NVML_CLOCK_GRAPHICS: gpu.sm_clock,
                NVML_CLOCK_MEM: gpu.mem_clock}[clock]

    def nvmlDeviceGetMaxClockInfo(self, handle: FakeHandle, clock: int) -> int:
        """Maximum clock, MHz."""
        gpu = self._gpu("nvmlDeviceGetMaxClockInfo", handle)
        return {NVML_CLOCK_SM: gpu.max_sm_clock, NVML_CLOCK_GRAPHICS: gpu.max_sm_clock,
                NVML_CLOCK_MEM: gpu.max_mem_clock}[clock]

    def nvmlDeviceGetMemoryBusWidth(self, handle: FakeHandle) -> int:
        """Memory bus width, bits."""
        return self._gpu("nvmlDeviceGetMemoryBusWidth", handle).bus_width

    def nvmlDeviceGetComputeRunningProcesses(self, handle: FakeHandle) -> list[SimpleNamespace]:
        """CUDA processes; usedGpuMemory may be None (as on WDDM or without permission)."""
        gpu = self._gpu("nvmlDeviceGetComputeRunningProcesses", handle)
        return [SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in gpu.compute_processes]

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle: FakeHandle) -> list[SimpleNamespace]:
        """Graphics processes, same shape as the compute list."""
        gpu = self._gpu("nvmlDeviceGetGraphicsRunningProcesses", handle)
        return [SimpleNamespace(pid=pid, usedGpuMemory=used)
                for pid, used in gpu.graphics_processes]
