"""Demo mode: a vLLM-compatible simulator over real HTTP on 127.0.0.1 (for --demo, tests and benchmarks)."""

from .process import SimulatorProcess
from .simulator import Faults, SimConfig, Simulator, SimulatorThread

__all__ = ["Faults", "SimConfig", "Simulator", "SimulatorProcess", "SimulatorThread"]
