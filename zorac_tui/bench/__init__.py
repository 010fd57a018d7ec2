"""`zorac-tui bench`: measure TTFT, decode tok/s and aggregate throughput against the design's reference table.

Pure measurement (runner, prompt, stats, gpu) knows nothing of Rich or Textual; report.py and
history.py turn a BenchResult into a terminal table, JSON and a history line. The CLI
(command.py) and the app's bench screen (ui/bench_screen.py) both call `run_bench`.
"""

from zorac_tui.bench.runner import BenchConfig, BenchError, BenchProgress, BenchResult, run_bench

__all__ = ["BenchConfig", "BenchError", "BenchProgress", "BenchResult", "run_bench"]
