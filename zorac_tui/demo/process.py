"""Runs the simulator in a child process, so that a CPU-busy client process (and its GIL) cannot skew its timing.

Use it for benchmarks at high token rates. The config is fixed at start: changes made in
the parent afterwards do not reach the child, and `requests` is not recorded here.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys

from .simulator import SimConfig

_URL = re.compile(r"http://\S+/v1")


class SimulatorProcess:
    """`python -m zorac_tui.demo` as a child process, with SimulatorThread's start/stop API."""

    def __init__(self, config: SimConfig | None = None):
        self.config = config or SimConfig()
        self.base_url = ""
        self._proc: subprocess.Popen[str] | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start the child, wait until it prints its URL, and return that URL."""
        cmd = [sys.executable, "-m", "zorac_tui.demo", "--host", host, "--port", str(port),
               "--config-json", json.dumps(dataclasses.asdict(self.config))]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        line = self._proc.stdout.readline() if self._proc.stdout else ""
        match = _URL.search(line)
        if match is None:
            err = self._proc.stderr.read() if self._proc.stderr and self._proc.poll() is not None else ""
            self.stop()
            raise RuntimeError(f"the simulator process did not start: {line.strip()} {err.strip()}".strip())
        self.base_url = match.group(0)
        return self.base_url

    def stop(self) -> None:
        """Terminate the child and reap it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
