"""The log file: rotating, private (0600), in the platformdirs state dir, with the API key scrubbed."""

from __future__ import annotations

import logging
import os
from logging.handlers import RotatingFileHandler
from pathlib import Path

from zorac_tui import paths

LOG_NAME = "zorac-tui.log"
MAX_BYTES = 1_000_000
BACKUPS = 3


class PrivateRotatingFileHandler(RotatingFileHandler):
    """A RotatingFileHandler whose every file, the ones started by a rollover included, is created 0600."""

    def _open(self):
        """Open (creating 0600, whatever the umask) for appending."""
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)


class SecretFilter(logging.Filter):
    """Replaces every occurrence of the secrets in a record's final text with ***."""

    def __init__(self, secrets: list[str]) -> None:
        """Scrub these strings (empty ones are ignored)."""
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message once, scrubbed."""
        if self.secrets:
            text = record.getMessage()
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            for secret in self.secrets:
                text = text.replace(secret, "***")
                if record.exc_text:
                    record.exc_text = record.exc_text.replace(secret, "***")
            record.msg, record.args = text, None
        return True


def setup_logging(secrets: list[str] | None = None, directory: Path | None = None) -> Path | None:
    """Log to the state dir; returns the file path, or None when it cannot be written (logging is optional)."""
    try:
        folder = paths.ensure_private_dir(directory or paths.state_dir())
        path = folder / LOG_NAME
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        elif path.stat().st_mode & 0o077:  # left readable by an older version or by hand
            os.chmod(path, 0o600)
        handler = PrivateRotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretFilter(secrets or []))
    root = logging.getLogger("zorac_tui")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    return path
