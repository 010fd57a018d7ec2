"""zorac-tui: a full-screen terminal client for a local vLLM server."""

__version__ = "0.1.0"
