"""Read live GPU figures through NVML (nvidia-ml-py), and find the local server's process.

Every call here blocks (NVML and /proc reads): the app runs them in a thread worker,
never on the event loop. Failures become a snapshot with a one-line message, never an
exception, so the GPU pane can say what it cannot show and the rest of the app works.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from zorac_tui.core.wording import one_line
from zorac_tui.net import host_and_port, is_this_machine
from zorac_tui.telemetry.samples import GpuSample, TelemetrySnapshot, TelemetryStatus

MSG_NO_PACKAGE = (
    "Python package nvidia-ml-py is not installed — install it (pip install nvidia-ml-py) "
    "to see GPU figures"
)
MSG_NO_LIBRARY = "NVIDIA driver library (libnvidia-ml) not found — no NVIDIA driver on this machine"
MSG_NO_GPU = "NVML found no NVIDIA GPU on this machine — nothing to show here"
MSG_DRIVER_NOT_LOADED = (
    "NVIDIA driver is not loaded — load it (sudo modprobe nvidia) or reboot"
)
MSG_MISMATCH = (
    "NVIDIA driver/library version mismatch (driver updated without a reboot) — "
    "reboot, or reload the driver (sudo rmmod nvidia_uvm nvidia_drm nvidia_modeset nvidia; "
    "sudo modprobe nvidia)"
)
MSG_PERMISSION = (
    "No permission to query the GPU through NVML — run as a user with access to /dev/nvidia* "
    "(e.g. the video group)"
)
MSG_GPU_LOST = (
    "{gpu} stopped responding ({error}) — retrying; if it stays lost, check "
    "`dmesg` and reboot"
)
MSG_REMOTE = (
    "The server at {host} is not on this machine — local GPU figures would be the wrong GPU; "
    "showing server-side metrics only"
)

# Errors that mean "this GPU went away"; the sampler re-initialises NVML after them.
_LOST_ERRORS = ("NVMLError_GpuIsLost", "NVMLError_Unknown", "NVMLError_NotFound",
                "NVMLError_GpuNotFound", "NVMLError_Uninitialized")
# Errors that mean "this card cannot report this field": the field becomes None.
_UNSUPPORTED_ERRORS = ("NVMLError_NotSupported", "NVMLError_FunctionNotFound")


def _errors(nvml: ModuleType, names: tuple[str, ...]) -> tuple[type[BaseException], ...]:
    """The exception classes among `names` that this NVML module defines."""
    return tuple(cls for name in names if isinstance(cls := getattr(nvml, name, None), type))


def describe_nvml_error(nvml: ModuleType, exc: BaseException) -> tuple[TelemetryStatus, str]:
    """Map an NVML exception to a status and a one-line message saying what to do."""

    def is_a(name: str) -> bool:
        cls = getattr(nvml, name, None)
        return isinstance(cls, type) and isinstance(exc, cls)

    if is_a("NVMLError_LibraryNotFound"):
        return "no-library", MSG_NO_LIBRARY
    if is_a("NVMLError_LibRmVersionMismatch") or "driver/library" in str(exc).lower():
        return "driver-mismatch", MSG_MISMATCH
    if is_a("NVMLError_DriverNotLoaded"):
        return "driver-mismatch", MSG_DRIVER_NOT_LOADED
    if is_a("NVMLError_NoPermission"):
        return "permission", MSG_PERMISSION
    if isinstance(exc, _errors(nvml, _LOST_ERRORS)):
        return "gpu-lost", MSG_GPU_LOST.format(gpu="A GPU", error=one_line(str(exc)))
    return "error", one_line(f"NVML error: {exc} — GPU figures unavailable; retrying")


def parent_pid(pid: int) -> int | None:
    """The parent of `pid` from /proc/<pid>/stat, or None when it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        # The command name may contain spaces and parentheses: fields start after the last ")".
        return int(stat[stat.rindex(b")") + 2:].split()[1])
    except (OSError, ValueError, IndexError):
        return None


class NvmlSampler:
    """Blocking NVML sampler: one `sample()` per tick, from a worker thread."""

    label = "NVML"

    def __init__(self, nvml_module: ModuleType | None = None, server_pid: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """Use `nvml_module` (default: import pynvml on first sample); match `server_pid`."""
        self._nvml = nvml_module
        self._import_failed = False
        self._initialized = False
        self._clock = clock
        self._lock = threading.Lock()
        self.server_pid = server_pid
        self._ancestry: dict[tuple[int, int], bool] = {}

    def sample(self) -> TelemetrySnapshot:
        """Take one snapshot of every GPU (blocking; never raises)."""
        with self._lock:
            nvml = self._module()
            if nvml is None:
                return self._failed("no-library", MSG_NO_PACKAGE)
            try:
                return self._sample_all(nvml)
            except Exception as exc:
                nvml_error = getattr(nvml, "NVMLError", None)
                if isinstance(nvml_error, type) and isinstance(exc, nvml_error):
                    status, message = describe_nvml_error(nvml, exc)
                else:
                    status = "error"
                    message = one_line(f"GPU telemetry failed: {type(exc).__name__}: {exc}")
                if status == "gpu-lost":
                    self._shutdown(nvml)
                return self._failed(status, message)

    def close(self) -> None:
        """Shut NVML down if this sampler initialised it (idempotent)."""
        with self._lock:
            if self._nvml is not None:
                self._shutdown(self._nvml)

    def __enter__(self) -> NvmlSampler:
        """Use as a context manager that closes on exit."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close on leaving the with-block."""
        self.close()

    def _module(self) -> ModuleType | None:
        """The NVML module, importing pynvml once on first use."""
        if self._nvml is None and not self._import_failed:
            try:
                import pynvml
            except ImportError:
                self._import_failed = True
            else:
                self._nvml = pynvml
        return self._nvml

    def _shutdown(self, nvml: ModuleType) -> None:
        """nvmlShutdown, ignoring errors; the next sample re-initialises."""
        if self._initialized:
            self._initialized = False
            try:
                nvml.nvmlShutdown()
            except Exception:
                pass

    def _failed(self, status: TelemetryStatus, message: str,
                gpus: tuple[GpuSample, ...] = ()) -> TelemetrySnapshot:
        """A snapshot that explains missing data in one line."""
        return TelemetrySnapshot(gpus=gpus, status=status, message=message, simulated=False,
                                 at=self._clock(), source=self.label)

    def _sample_all(self, nvml: ModuleType) -> TelemetrySnapshot:
        """Initialise if needed and sample every GPU; NVML errors propagate."""
        if not self._initialized:
            nvml.nvmlInit()
            self._initialized = True
        count = nvml.nvmlDeviceGetCount()
        if count == 0:
            return self._failed("no-gpu", MSG_NO_GPU)
        lost = _errors(nvml, _LOST_ERRORS)
        gpus: list[GpuSample] = []
        for index in range(count):
            try:
                gpus.append(self._sample_gpu(nvml, index))
            except lost as exc:
                self._shutdown(nvml)
                message = MSG_GPU_LOST.format(gpu=f"GPU {index}", error=one_line(str(exc)))
                return self._failed("gpu-lost", message, tuple(gpus))
        return TelemetrySnapshot(gpus=tuple(gpus), status="ok", message=None, simulated=False,
                                 at=self._clock(), source=self.label)

    def _sample_gpu(self, nvml: ModuleType, index: int) -> GpuSample:
        """Read one GPU; fields the card cannot report become None."""
        unsupported = _errors(nvml, _UNSUPPORTED_ERRORS)

        def get(fn_name: str, *args: Any, tolerate: tuple[type[BaseException], ...] = ()) -> Any:
            fn = getattr(nvml, fn_name, None)
            if fn is None:
                return None
            try:
                return fn(*args)
            except unsupported + tolerate:
                return None

        h = nvml.nvmlDeviceGetHandleByIndex(index)
        memory = get("nvmlDeviceGetMemoryInfo", h)
        util = get("nvmlDeviceGetUtilizationRates", h)
        power_mw = get("nvmlDeviceGetPowerUsage", h)
        limit_mw = get("nvmlDeviceGetEnforcedPowerLimit", h)
        processes = self._processes(nvml, h, get)
        return GpuSample(
            index=index,
            name=_text(get("nvmlDeviceGetName", h)) or f"GPU {index}",
            uuid=_text(get("nvmlDeviceGetUUID", h)),
            memory_used=None if memory is None else int(memory.used),
            memory_total=None if memory is None else int(memory.total),
            server_process_memory=self._server_memory(processes),
            processes=processes,
            gpu_util=None if util is None else int(util.gpu),
            mem_util=None if util is None else int(util.memory),
            temperature_c=get("nvmlDeviceGetTemperature", h, nvml.NVML_TEMPERATURE_GPU),
            power_w=None if power_mw is None else power_mw / 1000.0,
            power_limit_w=None if limit_mw is None else limit_mw / 1000.0,
            sm_clock_mhz=get("nvmlDeviceGetClockInfo", h, nvml.NVML_CLOCK_SM),
            mem_clock_mhz=get("nvmlDeviceGetClockInfo", h, nvml.NVML_CLOCK_MEM),
            max_mem_clock_mhz=get("nvmlDeviceGetMaxClockInfo", h, nvml.NVML_CLOCK_MEM),
            memory_bus_width_bits=get("nvmlDeviceGetMemoryBusWidth", h) or None,
            at=self._clock(),
            serving=self._serving(processes),
        )

    def _processes(self, nvml: ModuleType, handle: Any,
                   get: Callable[..., Any]) -> tuple[tuple[int, int | None], ...] | None:
        """Compute and graphics processes on one GPU, one entry per pid."""
        # Containers often may read the card but not its process list: that is no failure.
        denied = _errors(nvml, ("NVMLError_NoPermission",))
        lists = [get(name, handle, tolerate=denied)
                 for name in ("nvmlDeviceGetComputeRunningProcesses",
                              "nvmlDeviceGetGraphicsRunningProcesses")]
        if all(found is None for found in lists):
            return None
        by_pid: dict[int, int | None] = {}
        for found in lists:
            for proc in found or ():
                used = getattr(proc, "usedGpuMemory", None)
                # A process with both contexts shows up twice with the same memory.
                if proc.pid not in by_pid or (used is not None and used > (by_pid[proc.pid] or 0)):
                    by_pid[proc.pid] = None if used is None else int(used)
        return tuple(sorted(by_pid.items()))

    def _server_memory(self, processes: tuple[tuple[int, int | None], ...] | None) -> int | None:
        """VRAM held by the server and its child processes (vLLM's engine runs in a child)."""
        root = self.server_pid
        if root is None or processes is None:
            return None
        matched = [used for pid, used in processes if self._belongs_to_server(pid, root)]
        if not matched or any(used is None for used in matched):
            return None
        return sum(used for used in matched if used is not None)

    def _serving(self, processes: tuple[tuple[int, int | None], ...] | None) -> bool | None:
        """Whether a server process runs on this GPU; None when the server or the process list is unknown."""
        root = self.server_pid
        if root is None or processes is None:
            return None
        return any(self._belongs_to_server(pid, root) for pid, _used in processes)

    def _belongs_to_server(self, pid: int, root: int) -> bool:
        """True when `pid` is `root` or one of its descendants (cached per pair)."""
        if pid == root:
            return True
        key = (pid, root)
        if key not in self._ancestry:
            if len(self._ancestry) > 1024:
                self._ancestry.clear()
            self._ancestry[key] = _is_descendant(pid, root)
        return self._ancestry[key]


def _is_descendant(pid: int, root: int) -> bool:
    """Walk /proc parent links from `pid` up, looking for `root`."""
    current: int | None = pid
    for _ in range(64):
        current = parent_pid(current) if current is not None else None
        if current is None or current <= 1:
            return False
        if current == root:
            return True
    return False


def _text(value: object) -> str | None:
    """NVML strings arrive as str or bytes depending on the binding version."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def is_local_url(base_url: str) -> bool:
    """True when the server URL points at this machine (kept for callers not yet on zorac_tui.net)."""
    return is_this_machine(base_url)


def remote_snapshot(base_url: str, clock: Callable[[], float] = time.monotonic) -> TelemetrySnapshot:
    """The snapshot to show instead of local GPU figures when the server is elsewhere."""
    host, _port = host_and_port(base_url)
    return TelemetrySnapshot(gpus=(), status="remote",
                             message=MSG_REMOTE.format(host=host or base_url),
                             simulated=False, at=clock(), source="none")


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on `port`, from /proc/net/tcp and tcp6."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != "0A":  # 0A = LISTEN
                continue
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    inodes.discard("0")
    return inodes


def find_server_pid(base_url: str) -> int | None:
    """PID of the process listening on the URL's port (lowest when shared); None if unknown."""
    _host, port = host_and_port(base_url)
    targets = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not targets:
        return None
    try:
        pids = sorted(int(name) for name in os.listdir("/proc") if name.isdigit())
    except OSError:
        return None
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"{fd_dir}/{fd}") in targets:
                    return pid
            except OSError:
                continue
    return None
