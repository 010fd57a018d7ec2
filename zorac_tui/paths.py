"""Where zorac-tui keeps its files: config, data (database) and state (logs)."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "zorac-tui"


def _dir(kind: str) -> Path:
    """Return a platformdirs directory, honouring ZORAC_HOME for tests and portable installs."""
    override = os.environ.get("ZORAC_HOME")
    if override:
        return Path(override) / kind
    import platformdirs

    getter = {
        "config": platformdirs.user_config_dir,
        "data": platformdirs.user_data_dir,
        "state": platformdirs.user_state_dir,
    }[kind]
    return Path(getter(APP_NAME))


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) with mode 0700 if missing; return it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def config_dir() -> Path:
    """Directory holding config.toml."""
    return _dir("config")


def config_file() -> Path:
    """The TOML settings file."""
    return config_dir() / "config.toml"


def data_dir() -> Path:
    """Directory holding the conversation database and bench results."""
    return _dir("data")


def state_dir() -> Path:
    """Directory holding the log file."""
    return _dir("state")
