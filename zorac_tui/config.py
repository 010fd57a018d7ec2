"""Settings: defaults < TOML file in the config dir < ZORAC_* environment < command-line flags.

The file may also hold `[servers.NAME]` tables (picked with `server`; a profile's keys win over the
top-level ones, wherever those came from) and `[prompts.NAME]` presets (picked with `prompt`).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from zorac_tui import paths
from zorac_tui.profiles import (
    DEFAULT,
    PromptPreset,
    ServerProfile,
    TableError,
    has_api_key,
    names_line,
    prompts_from,
    servers_from,
    table_error,
    toml_text,
)

DEFAULT_MODEL = "stelterlab/Mistral-Small-24B-Instruct-2501-AWQ"
DEFAULT_BASE_URL = "http://localhost:8000/v1"


REASONING_CHOICES = ("collapsed", "expanded", "hidden")


def _doc(text: str, default: Any, *, secret: bool = False) -> Any:
    """A dataclass field carrying a one-line explanation; secrets stay out of repr (and tracebacks)."""
    return field(default=default, metadata={"doc": text}, repr=not secret)


def _table(text: str) -> Any:
    """A field read from the file's tables only (no environment variable or flag of its own)."""
    return field(default=(), metadata={"doc": text, "table": True}, repr=False)


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
    gpu_metrics_url: str | None = _doc(
        "GPU box's dcgm-exporter or nvitop-exporter URL, e.g. http://gpubox:9400/metrics (unset: NVML here, "
        "or the remote server's host:9400 tried once)", None)
    gpus: str = _doc("GPUs to show: comma-separated indices or UUIDs (empty: all)", "")
    show_reasoning: str = _doc("A reply's thinking: collapsed, expanded or hidden", "collapsed")
    server: str = _doc("Server profile to use: a [servers.NAME] table in the config file, or default", DEFAULT)
    prompt: str = _doc("Prompt preset for new conversations: a [prompts.NAME] table, or default", DEFAULT)
    servers: tuple[ServerProfile, ...] = _table("[servers.NAME] tables: base_url, api_key, model, "
                                               "gpu_metrics_url, context_window")
    prompts: tuple[PromptPreset, ...] = _table("[prompts.NAME] tables: system_prompt, temperature")
    top_level: ServerProfile | None = field(default=None, repr=False, compare=False,
                                            metadata={"doc": "", "table": True})
    """The top-level server (the "default" profile) as it was before a profile was applied."""

    def server_names(self) -> list[str]:
        """Every server profile's name, "default" (the top-level base_url) first."""
        return [DEFAULT, *(p.name for p in self.servers)]

    def prompt_names(self) -> list[str]:
        """Every prompt preset's name, "default" (the top-level system_prompt) first."""
        return [DEFAULT, *(p.name for p in self.prompts)]

    def default_server(self) -> ServerProfile:
        """The top-level server as a profile named "default"."""
        if self.top_level is not None:
            return self.top_level
        return ServerProfile(DEFAULT, self.base_url, self.api_key, self.model, self.gpu_metrics_url,
                             self.context_window)

    def for_server(self, name: str) -> Settings:
        """These settings with server profile `name` applied over the top-level values (ConfigError if unknown)."""
        top = self.default_server()
        if name == DEFAULT:
            profile = top
        else:
            found = [p for p in self.servers if p.name == name]
            if not found:
                raise ConfigError(f"No server named {name!r} in {paths.config_file()} — known: "
                                  f"{names_line(self.server_names())}")
            profile = found[0]
        return replace(self, **_profile_values(top, profile), server=name, top_level=top)

    def preset(self, name: str | None = None) -> PromptPreset:
        """Prompt preset `name` (default: the `prompt` setting); "default" is the top-level system_prompt."""
        name = self.prompt if name is None else name
        if name == DEFAULT:
            return PromptPreset(DEFAULT, self.system_prompt, None)
        for preset in self.prompts:
            if preset.name == name:
                return preset
        raise ConfigError(f"No prompt preset named {name!r} in {paths.config_file()} — known: "
                          f"{names_line(self.prompt_names())}")


def _profile_values(top: ServerProfile, profile: ServerProfile) -> dict[str, Any]:
    """The settings a profile gives: its own keys, the top-level ones for the rest.

    A profile with its own base_url is another server: the top-level API key and GPU exporter
    belong to the top-level server and are never sent to, or shown for, another one.
    """
    other_server = profile is not top and profile.base_url is not None
    return {
        "base_url": profile.base_url or top.base_url,
        "model": profile.model or top.model,
        "context_window": profile.context_window or top.context_window,
        "api_key": profile.api_key if other_server else profile.api_key or top.api_key,
        "gpu_metrics_url": profile.gpu_metrics_url if other_server else profile.gpu_metrics_url or top.gpu_metrics_url,
    }


class ConfigError(Exception):
    """A settings source could not be read; the message names the file or variable."""


ENV_PREFIX = "ZORAC_"


def _coerce(name: str, raw: Any, source: str) -> Any:
    """Convert a raw value to the type of field `name`, or raise ConfigError naming `source`."""
    value = _convert(name, raw, source)
    if name == "show_reasoning" and value not in REASONING_CHOICES:
        raise ConfigError(f"{source}: bad value for show_reasoning: {raw!r} — use {', '.join(REASONING_CHOICES)}")
    if name == "gpus":
        from zorac_tui.telemetry.fleet import parse_gpu_spec

        try:
            parse_gpu_spec(value)
        except ValueError as exc:
            raise ConfigError(f"{source}: bad value for gpus: {exc}") from None
    return value


def _convert(name: str, raw: Any, source: str) -> Any:
    """The raw value as the field's type (bool, int, float or str)."""
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
    if has_api_key(data):
        _keep_private(path)
    known = {f.name for f in fields(Settings) if not f.metadata.get("table")}
    values: dict[str, Any] = {}
    for key, raw in data.items():
        try:
            if key == "servers":
                values["servers"] = servers_from(raw)
                continue
            if key == "prompts":
                values["prompts"] = prompts_from(raw)
                continue
        except TableError as exc:
            raise ConfigError(table_error(path, exc)) from None
        if key not in known:
            raise ConfigError(f"Config file {path}: unknown setting {key!r}")
        if isinstance(raw, dict):
            raise ConfigError(f"Config file {path}: {key} is a setting, not a table [{key}]")
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
        if var in environ and not f.metadata.get("table"):
            values[f.name] = _coerce(f.name, environ[var], f"Environment variable {var}")
    return values


def load(flags: dict[str, Any] | None = None, *, config_path: Path | None = None,
         environ: dict[str, str] | None = None) -> Settings:
    """Merge all sources (flags with value None are ignored), then apply the chosen server profile."""
    path = config_path or paths.config_file()
    merged: dict[str, Any] = {}
    merged.update(read_file(path))
    merged.update(read_env(environ))
    merged.update({k: v for k, v in (flags or {}).items() if v is not None})
    for key in ("show_reasoning", "gpus"):
        if key in merged:
            _coerce(key, merged[key], "Command line")
    settings = replace(Settings(), **merged)
    if settings.prompt not in settings.prompt_names():
        raise ConfigError(f"No prompt preset named {settings.prompt!r} in {path} — known: "
                          f"{names_line(settings.prompt_names())}")
    if settings.server not in settings.server_names():
        raise ConfigError(f"No server named {settings.server!r} in {path} — known: "
                          f"{names_line(settings.server_names())}")
    return settings.for_server(settings.server)


def save_value(key: str, value: Any, *, config_path: Path | None = None) -> None:
    """Set one top-level key in the TOML file (created 0600), keeping every other key and table."""
    path = config_path or paths.config_file()
    read_file(path)  # a broken file is reported, never overwritten
    try:
        current = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        current = {}
    current[key] = value
    paths.ensure_private_dir(path.parent)
    text = toml_text(current)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
    os.chmod(path, 0o600)


def describe() -> list[tuple[str, str, str, str]]:
    """(name, env var, default, doc) for every setting, for --help and the README."""
    rows = []
    for f in fields(Settings):
        if not f.metadata.get("table"):
            rows.append((f.name, ENV_PREFIX + f.name.upper(), repr(f.default), f.metadata.get("doc", "")))
    return rows
