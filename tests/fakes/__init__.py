"""Stand-ins for hardware the tests cannot assume (only pynvml)."""
