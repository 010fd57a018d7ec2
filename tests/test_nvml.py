"""NvmlSampler over a stand-in pynvml, plus server-PID discovery and local-URL checks."""

from __future__ import annotations

import inspect
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from fakes import fake_pynvml
from fakes.fake_pynvml import FakeGpu, FakePynvml

from zorac_tui.telemetry import nvml as nvml_mod
from zorac_tui.telemetry.nvml import (
    MSG_DRIVER_NOT_LOADED,
    MSG_MISMATCH,
    MSG_NO_GPU,
    MSG_NO_LIBRARY,
    MSG_NO_PACKAGE,
    MSG_PERMISSION,
    NvmlSampler,
    find_server_pid,
    is_local_url,
    parent_pid,
    remote_snapshot,
)

GB = 1_000_000_000


class Clock:
    """A hand-wound monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def sampler_for(*gpus: FakeGpu, server_pid: int | None = None, **fake_kwargs) -> tuple[
        NvmlSampler, FakePynvml]:
    fake = FakePynvml(list(gpus) if gpus else None, **fake_kwargs)
    return NvmlSampler(fake, server_pid=server_pid, clock=Clock()), fake


def assert_one_line(message: str | None) -> None:
    assert message and "\n" not in message and len(message) < 200


# --- the fake is faithful to nvidia-ml-py --------------------------------------------------

def test_fake_mirrors_real_pynvml_names_values_and_hierarchy():
    real = pytest.importorskip("pynvml")
    for name in fake_pynvml.CONSTANTS:
        assert getattr(real, name) == getattr(fake_pynvml, name), name
    for name in fake_pynvml.FUNCTIONS:
        assert callable(getattr(real, name)), name
        assert callable(getattr(FakePynvml(), name)), name
    for cls in fake_pynvml.ERROR_CLASSES:
        real_cls = getattr(real, cls.__name__)
        assert issubclass(real_cls, real.NVMLError)
        if cls is not fake_pynvml.NVMLError:
            assert real_cls(0).value == cls().value, cls.__name__
            assert str(real_cls(0)) == str(cls()), cls.__name__


def test_sampler_only_calls_names_the_fake_mirrors():
    source = inspect.getsource(nvml_mod)
    import re
    used = set(re.findall(r"\bnvml(?:Device|Init|Shutdown)\w*", source)) - {"nvml_module"}
    used |= set(re.findall(r"\bNVML_[A-Z_]+", source))
    used |= set(re.findall(r"\bNVMLError_\w+", source))
    fake = FakePynvml()
    missing = {name for name in used if not hasattr(fake, name)}
    # FunctionNotFound etc. are looked up with getattr and may be absent from old bindings.
    assert missing == set(), missing


def test_real_pynvml_on_this_machine_degrades_or_works():
    """With the real binding: no driver here gives a clear line; a real GPU gives figures."""
    pytest.importorskip("pynvml")
    sampler = NvmlSampler()
    try:
        snap = sampler.sample()
    finally:
        sampler.close()
    assert snap.simulated is False
    if snap.ok:
        assert snap.gpus and snap.gpus[0].memory_total
    else:
        assert snap.status in {"no-library", "no-gpu", "driver-mismatch", "permission"}
        assert_one_line(snap.message)


# --- figures -------------------------------------------------------------------------------

def test_one_gpu_all_fields():
    gpu = FakeGpu(name=b"NVIDIA GeForce RTX 4090", uuid="GPU-abc",
                  compute_processes=[(4242, 23 * GB)], graphics_processes=[(1337, 150_000_000)])
    sampler, fake = sampler_for(gpu, server_pid=4242)
    snap = sampler.sample()
    assert snap.status == "ok" and snap.message is None and snap.simulated is False
    assert snap.at == 100.0
    (s,) = snap.gpus
    assert s.index == 0 and s.name == "NVIDIA GeForce RTX 4090" and s.uuid == "GPU-abc"
    assert s.memory_total == 25_757_220_864 and s.memory_used == 24 * GB
    assert s.memory_free == 25_757_220_864 - 24 * GB
    assert s.gpu_util == 95 and s.mem_util == 80 and s.temperature_c == 65
    assert s.power_w == 300.0 and s.power_limit_w == 450.0
    assert s.sm_clock_mhz == 2520 and s.mem_clock_mhz == 10_501
    assert s.max_mem_clock_mhz == 10_501 and s.memory_bus_width_bits == 384
    assert s.processes == ((1337, 150_000_000), (4242, 23 * GB))
    assert s.server_process_memory == 23 * GB
    assert s.serving is True and s.host is None
    assert snap.source == "NVML" == sampler.label
    assert fake.init_calls == 1


def test_two_gpus_and_init_only_once():
    a = FakeGpu(name="GPU A", memory_used=1 * GB, compute_processes=[(10, 1 * GB)])
    b = FakeGpu(name="GPU B", memory_used=5 * GB, temperature=40,
                compute_processes=[(10, 4 * GB)])
    sampler, fake = sampler_for(a, b, server_pid=10)
    for _ in range(3):
        snap = sampler.sample()
    assert [g.index for g in snap.gpus] == [0, 1]
    assert [g.name for g in snap.gpus] == ["GPU A", "GPU B"]
    assert [g.server_process_memory for g in snap.gpus] == [1 * GB, 4 * GB]
    assert snap.gpus[1].temperature_c == 40
    assert fake.init_calls == 1
    sampler.close()
    sampler.close()
    assert fake.shutdown_calls == 1


def test_which_gpus_the_server_uses():
    serving = FakeGpu(name="GPU A", compute_processes=[(10, 20 * GB)])
    desktop = FakeGpu(name="GPU B", graphics_processes=[(1337, 1 * GB)])
    idle = FakeGpu(name="GPU C")
    sampler, _ = sampler_for(serving, desktop, idle, server_pid=10)
    snap = sampler.sample()
    assert [g.serving for g in snap.gpus] == [True, False, False]
    assert [g.server_process_memory for g in snap.gpus] == [20 * GB, None, None]
    sampler.server_pid = None  # server process not found: nobody can say
    assert [g.serving for g in sampler.sample().gpus] == [None, None, None]


def test_failures_are_labelled_nvml_too():
    sampler, _ = sampler_for(init_error=fake_pynvml.NVMLError_LibraryNotFound)
    snap = sampler.sample()
    assert snap.status == "no-library" and snap.source == "NVML"


def test_not_supported_fields_become_none():
    unsupported = {name: fake_pynvml.NVMLError_NotSupported for name in (
        "nvmlDeviceGetPowerUsage", "nvmlDeviceGetEnforcedPowerLimit", "nvmlDeviceGetClockInfo",
        "nvmlDeviceGetMaxClockInfo", "nvmlDeviceGetUtilizationRates", "nvmlDeviceGetUUID",
        "nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses",
        "nvmlDeviceGetTemperature")}
    unsupported["nvmlDeviceGetMemoryBusWidth"] = fake_pynvml.NVMLError_FunctionNotFound
    sampler, _ = sampler_for(FakeGpu(fail=unsupported), server_pid=1)
    snap = sampler.sample()
    assert snap.status == "ok"
    (s,) = snap.gpus
    assert s.memory_used == 24 * GB  # what is supported is still there
    for field in ("power_w", "power_limit_w", "sm_clock_mhz", "mem_clock_mhz",
                  "max_mem_clock_mhz", "gpu_util", "mem_util", "uuid", "processes",
                  "server_process_memory", "temperature_c", "memory_bus_width_bits"):
        assert getattr(s, field) is None, field


def test_memory_info_not_supported_gives_unknown_memory():
    sampler, _ = sampler_for(FakeGpu(fail={"nvmlDeviceGetMemoryInfo":
                                           fake_pynvml.NVMLError_NotSupported}))
    (s,) = sampler.sample().gpus
    assert s.memory_used is None and s.memory_total is None
    assert s.memory_free is None and s.memory_fraction is None


def test_used_gpu_memory_none_leaves_server_memory_unknown():
    gpu = FakeGpu(compute_processes=[(4242, None), (7, 2 * GB)])
    sampler, _ = sampler_for(gpu, server_pid=4242)
    (s,) = sampler.sample().gpus
    assert s.processes == ((7, 2 * GB), (4242, None))
    assert s.server_process_memory is None


def test_server_pid_matching():
    gpu = FakeGpu(compute_processes=[(4242, 20 * GB), (99, 1 * GB)],
                  graphics_processes=[(4242, 20 * GB)])  # both contexts: counted once
    sampler, _ = sampler_for(gpu, server_pid=4242)
    assert sampler.sample().gpus[0].server_process_memory == 20 * GB
    sampler.server_pid = 5  # not on the GPU
    assert sampler.sample().gpus[0].server_process_memory is None
    sampler.server_pid = None
    assert sampler.sample().gpus[0].server_process_memory is None


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_server_child_process_counts_as_server():
    """vLLM's engine runs in a child of the API server: its VRAM is the server's."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert parent_pid(child.pid) == os.getpid()
        gpu = FakeGpu(compute_processes=[(child.pid, 18 * GB), (os.getpid(), 1 * GB),
                                         (1, 3 * GB)])
        sampler, _ = sampler_for(gpu, server_pid=os.getpid())
        assert sampler.sample().gpus[0].server_process_memory == 19 * GB
    finally:
        child.kill()
        child.wait()


def test_name_and_uuid_as_str_or_bytes():
    sampler, _ = sampler_for(FakeGpu(name="RTX A", uuid=b"GPU-1"))
    (s,) = sampler.sample().gpus
    assert (s.name, s.uuid) == ("RTX A", "GPU-1")


# --- failures ------------------------------------------------------------------------------

def test_pynvml_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` raise ImportError
    sampler = NvmlSampler()
    snap = sampler.sample()
    assert (snap.status, snap.message) == ("no-library", MSG_NO_PACKAGE)
    assert snap.gpus == ()
    sampler.close()


@pytest.mark.parametrize(("error", "status", "message"), [
    (fake_pynvml.NVMLError_LibraryNotFound, "no-library", MSG_NO_LIBRARY),
    (fake_pynvml.NVMLError_DriverNotLoaded, "driver-mismatch", MSG_DRIVER_NOT_LOADED),
    (fake_pynvml.NVMLError_LibRmVersionMismatch, "driver-mismatch", MSG_MISMATCH),
    (fake_pynvml.NVMLError_NoPermission, "permission", MSG_PERMISSION),
])
def test_init_failures(error, status, message):
    sampler, fake = sampler_for(init_error=error)
    snap = sampler.sample()
    assert (snap.status, snap.message, snap.gpus) == (status, message, ())
    assert_one_line(snap.message)
    # A failed init is retried, so fixing the cause (loading the driver) needs no restart.
    fake.init_error = None
    assert sampler.sample().status == "ok"
    assert fake.init_calls == 2


def test_mismatch_reported_by_message_text():
    class Odd(fake_pynvml.NVMLError):
        def __str__(self) -> str:
            return "Failed to initialize NVML: Driver/library version mismatch"

    sampler, _ = sampler_for(init_error=Odd(999))
    assert sampler.sample().status == "driver-mismatch"


def test_no_gpu():
    sampler, _ = sampler_for()
    sampler._nvml.gpus.clear()
    snap = sampler.sample()
    assert (snap.status, snap.message, snap.gpus) == ("no-gpu", MSG_NO_GPU, ())


def test_permission_denied_while_sampling():
    sampler, _ = sampler_for(FakeGpu(fail={"nvmlDeviceGetMemoryInfo":
                                           fake_pynvml.NVMLError_NoPermission}))
    snap = sampler.sample()
    assert (snap.status, snap.message) == ("permission", MSG_PERMISSION)


def test_process_list_denied_is_not_a_failure():
    denied = fake_pynvml.NVMLError_NoPermission
    sampler, _ = sampler_for(FakeGpu(fail={"nvmlDeviceGetComputeRunningProcesses": denied,
                                           "nvmlDeviceGetGraphicsRunningProcesses": denied}),
                             server_pid=4242)
    snap = sampler.sample()
    assert snap.ok
    assert snap.gpus[0].processes is None and snap.gpus[0].server_process_memory is None
    assert snap.gpus[0].serving is None  # which GPUs the server uses cannot be known
    assert snap.gpus[0].memory_used == 24 * GB


def test_other_nvml_error_is_one_line():
    class Weird(fake_pynvml.NVMLError):
        def __str__(self) -> str:
            return "Timeout\nwhile talking to the GPU"

    sampler, _ = sampler_for(FakeGpu(fail={"nvmlDeviceGetMemoryInfo": Weird}))
    snap = sampler.sample()
    assert snap.status == "error"
    assert snap.message == "NVML error: Timeout while talking to the GPU — GPU figures unavailable; retrying"


def test_non_nvml_exception_does_not_escape():
    sampler, fake = sampler_for()
    fake.nvmlDeviceGetCount = lambda: (_ for _ in ()).throw(RuntimeError("boom"))
    snap = sampler.sample()
    assert snap.status == "error" and snap.message == "GPU telemetry failed: RuntimeError: boom"


def test_gpu_lost_then_recovered():
    sampler, fake = sampler_for(FakeGpu(name="A"), FakeGpu(name="B"))
    assert sampler.sample().ok
    fake.lose_gpu(1)
    snap = sampler.sample()
    assert snap.status == "gpu-lost"
    assert snap.message == ("GPU 1 stopped responding (GPU is lost) — retrying; if it stays lost, "
                            "check `dmesg` and reboot")
    assert [g.name for g in snap.gpus] == ["A"]  # the healthy card is still shown
    assert fake.shutdown_calls == 1
    assert sampler.sample().status == "gpu-lost"  # still gone, re-initialised each time
    fake.restore_gpu(1)
    snap = sampler.sample()
    assert snap.ok and [g.name for g in snap.gpus] == ["A", "B"]
    assert fake.init_calls == 3


@pytest.mark.parametrize("error", [fake_pynvml.NVMLError_Unknown, fake_pynvml.NVMLError_NotFound,
                                   fake_pynvml.NVMLError_GpuIsLost])
def test_lost_errors_anywhere_reinitialise(error):
    sampler, fake = sampler_for(FakeGpu(fail={"nvmlDeviceGetTemperature": error}))
    snap = sampler.sample()
    assert snap.status == "gpu-lost" and snap.message.startswith("GPU 0 stopped responding")
    fake.gpus[0].fail.clear()
    assert sampler.sample().ok
    assert fake.init_calls == 2


def test_lost_during_device_count():
    sampler, fake = sampler_for()
    assert sampler.sample().ok
    fake.nvmlDeviceGetCount = lambda: (_ for _ in ()).throw(fake_pynvml.NVMLError_GpuIsLost())
    snap = sampler.sample()
    assert snap.status == "gpu-lost" and snap.message.startswith("A GPU stopped responding")
    del fake.nvmlDeviceGetCount
    assert sampler.sample().ok


# --- where the server is (the URL rules themselves: tests/test_net.py) ----------------------

def test_is_local_url_is_nets_this_machine_rule():
    assert is_local_url("http://127.0.0.1:8000/v1") and is_local_url(f"http://{socket.gethostname()}:8000")
    assert not is_local_url("http://192.0.2.10:8000/v1")


def test_remote_snapshot_message():
    snap = remote_snapshot("http://192.0.2.10:8000/v1", clock=lambda: 5.0)
    assert snap.status == "remote" and snap.gpus == () and snap.at == 5.0
    assert snap.message == ("The server at 192.0.2.10 is not on this machine — local GPU figures "
                            "would be the wrong GPU; showing server-side metrics only")


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs /proc/net/tcp")
def test_find_server_pid_finds_this_process():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert find_server_pid(f"http://127.0.0.1:{port}/v1") == os.getpid()
        assert find_server_pid(f"localhost:{port}") == os.getpid()
    assert find_server_pid(f"http://127.0.0.1:{port}/v1") is None


@pytest.mark.skipif(not Path("/proc/net/tcp6").exists(), reason="needs /proc/net/tcp6")
def test_find_server_pid_ipv6_listener():
    try:
        server = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        server.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    with server:
        server.listen()
        port = server.getsockname()[1]
        assert find_server_pid(f"http://[::1]:{port}") == os.getpid()


def test_find_server_pid_connected_not_listening_is_ignored():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]  # bound but not listening
        assert find_server_pid(f"http://127.0.0.1:{port}") is None


def test_telemetry_imports_neither_textual_nor_pynvml():
    code = ("import sys, zorac_tui.telemetry, zorac_tui.telemetry.memory; "
            "print('textual' in sys.modules, 'pynvml' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
