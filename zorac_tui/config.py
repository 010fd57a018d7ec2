"""Settings: defaults < TOML file in the config dir < ZORAC_* environment < command-line flags."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from zorac_tui import paths

DEFAULT_MODEL = "stelterlab/Mistral-Small-24B-Instruct-2501-AWQ"
DEFAULT_BASE_URL = "http://localhost:8000/v1"


def _doc(text: str, default: Any, *, secret: bool = False) -> Any:
    """A dataclass field carrying a one-line explanation; secrets stay out of repr (and tracebacks)."""
    return field(default=default, metadata={"doc": text}, repr=not secret)


@dataclass(frozen=True)
class Settings:
    """Every user-settable option; each has a default and a one-line explanation."""

    base_url: str = _doc("OpenAI-compatible API root of the server", DEFAULT_BASE_URL)
    model: str = _doc("Model to use when the server serves several (auto-detected if one)", DEFAULT_MODEL)
    api_key: str | None = _doc("API key sent as a Bearer token (vLLM --api-key); never shown in full", None,
                               secret=True)
    temperature: float = _doc("Sampling temperature", 0.15)
    max_tokens: int = _doc("Maximum tokens per reply (also the reply reserve in the context gauge)", 2048)
    system_prompt: str = _doc("System prompt sent first in every conversation", "You are a helpful assistant.")
    stall_timeout: float = _doc("Seconds without a token before a reply is reported as stalled", 30.0)
    context_window: int = _doc("Context window used when the server does not report max_model_len", 16384)
    telemetry_interval: float = _doc("Seconds between GPU samples", 1.0)
    metrics_interval: float = _doc("Seconds between server /metrics polls", 2.0)
    auto_summarize: bool = _doc("Summarize old messages automatically near the context limit", True)
    summarize_threshold: float = _doc("Fraction of (window - reply reserve) that triggers auto-summary", 0.8)
    keep_recent: int = _doc("Messages kept verbatim when summarizing", 6)
    summary_prompt: str = _doc(
        "Instruction used to summarize old messages",
        "Summarize the conversation so far for your own later use. Keep every fact, decision, "
        "number, name, code snippet and open question; drop pleasantries. Use concise Markdown.",
    )
    weights_gb: float = _doc("Model weight size in GB for the memory budget and decode efficiency (0 = unknown)", 0.0)
    theme: str = _doc("Textual theme name", "textual-dark")
    demo: bool = _doc("Run against the built-in simulator with simulated GPU telemetry", False)


class ConfigError(Exception):
    """A settings source could not be read; the message names the file or variable."""


ENV_PREFIX = "ZORAC_"


def _coerce(name: str, raw: Any, source: str) -> Any:
    """Convert a raw value to the type of field `name`, or raise ConfigError naming `source`."""
    default = Settings.__dataclass_fields__[name].default
    try:
        if isinstance(default, bool):
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError(f"expected true/false, got {raw!r}")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        return None if raw is None else str(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: bad value for {name}: {exc}") from None


def read_file(path: Path) -> dict[str, Any]:
    """Read the TOML settings file; missing is empty, broken raises ConfigError with file and line."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {path} is not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Config file {path} cannot be read: {exc}") from None
    if "api_key" in data:
        _keep_private(path)
    known = {f.name for f in fields(Settings)}
    values = {}
    for key, raw in data.items():
        if key not in known:
            raise ConfigError(f"Config file {path}: unknown setting {key!r}")
        values[key] = _coerce(key, raw, f"Config file {path}")
    return values


def _keep_private(path: Path) -> None:
    """A file holding the API key is made 0600 if others could read it."""
    try:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
    except OSError:
        pass


def read_env(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Read ZORAC_<NAME> variables for every setting."""
    environ = os.environ if environ is None else environ
    values = {}
    for f in fields(Settings):
        var = ENV_PREFIX + f.name.upper()
        if var in environ:
            values[f.name] = _coerce(f.name, environ[var], f"Environment variable {var}")
    return values


def load(flags: dict[str, Any] | None = None, *, config_path: Path | None = None,
         environ: dict[str, str] | None = None) -> Settings:
    """Merge all sources; flags with value None are ignored."""
    merged: dict[str, Any] = {}
    merged.update(read_file(config_path or paths.config_file()))
    merged.update(read_env(environ))
    merged.update({k: v for k, v in (flags or {}).items() if v is not None})
    return replace(Settings(), **merged)


def save_value(key: str, value: Any, *, config_path: Path | None = None) -> None:
    """Set one key in the TOML file (created 0600), keeping the others."""
    path = config_path or paths.config_file()
    current = read_file(path)
    current[key] = value
    paths.ensure_private_dir(path.parent)
    text = "".join(f"{k} = {_toml_value(v)}\n" for k, v in current.items() if v is not None)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
    os.chmod(path, 0o600)


def _toml_value(value: Any) -> str:
    """Render a scalar as TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    import json

    return json.dumps(str(value))


def mask_secret(secret: str | None) -> str:
    """Show a key as its last four characters only."""
    if not secret:
        return "none"
    return "…" + secret[-4:] if len(secret) > 8 else "set (hidden)"


def describe() -> list[tuple[str, str, str, str]]:
    """(name, env var, default, doc) for every setting, for --help and the README."""
    rows = []
    for f in fields(Settings):
        rows.append((f.name, ENV_PREFIX + f.name.upper(), repr(f.default), f.metadata.get("doc", "")))
    return rows
