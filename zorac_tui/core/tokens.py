"""Token counting when the server cannot tokenize: tiktoken if it loads offline, else characters/4."""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

MESSAGE_OVERHEAD = 4  # template tokens per chat message (role markers), a typical figure
CHARS_PER_TOKEN = 4.0


class Estimator:
    """Counts tokens approximately; `source` says how. Thread-safe lazy tiktoken load."""

    def __init__(self, loader: Callable[[], Any] | None = None) -> None:
        """`loader` returns a tiktoken-like encoding or raises; default loads cl100k_base."""
        self._loader = loader or _load_tiktoken
        self._encoding: Any = None
        self._lock = threading.Lock()
        self.load_error: str | None = None
        self.loaded = False

    def load(self) -> None:
        """Try the encoding once (blocking: call from a thread); failure keeps chars/4."""
        with self._lock:
            if self.loaded:
                return
            try:
                self._encoding = self._loader()
            except Exception as exc:  # offline, missing cache, broken install: all mean chars/4
                self.load_error = f"{type(exc).__name__}: {exc}".splitlines()[0][:160]
            self.loaded = True

    @property
    def source(self) -> str:
        """Where the estimate comes from, for the gauge."""
        return "tiktoken cl100k" if self._encoding is not None else "4 chars/token"

    def count(self, text: str) -> int:
        """Approximate tokens in `text`."""
        if self._encoding is not None:
            return len(self._encoding.encode(text, disallowed_special=()))
        return int(len(text) / CHARS_PER_TOKEN + 0.5)

    def count_messages(self, messages: list[dict[str, str]]) -> int:
        """Approximate tokens of a chat payload including per-message template overhead."""
        return sum(self.count(m["content"]) + MESSAGE_OVERHEAD for m in messages) + 3 if messages else 0


CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"


def tiktoken_cache_path(url: str = CL100K_URL) -> Path:
    """Where tiktoken caches an encoding file (same rule as tiktoken.load.read_file_cached)."""
    cache_dir = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR") or os.path.join(
        tempfile.gettempdir(), "data-gym-cache")
    return Path(cache_dir) / hashlib.sha1(url.encode()).hexdigest()


def _load_tiktoken() -> Any:
    """Load cl100k_base from tiktoken's cache; download it only if ZORAC_OFFLINE is not set.

    tiktoken fetches encodings from the internet on first use; offline that fails (quickly,
    in this worker thread) and the estimator keeps counting characters.
    """
    if not tiktoken_cache_path().exists() and os.environ.get("ZORAC_OFFLINE", "") not in ("", "0"):
        raise RuntimeError("cl100k_base not in tiktoken's cache and ZORAC_OFFLINE is set")
    import tiktoken

    return tiktoken.get_encoding("cl100k_base")
