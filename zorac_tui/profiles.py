"""Named servers and prompt presets from the config file's `[servers.NAME]` and `[prompts.NAME]` tables.

A server profile bundles what differs between inference servers (URL, key, model, GPU exporter,
context window); a prompt preset is a system prompt (and optionally a temperature) to start new
conversations with. The name "default" means the top-level settings in both cases.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

DEFAULT = "default"
"""The name of the top-level server and of the top-level system prompt."""


@dataclass(frozen=True)
class ServerProfile:
    """One `[servers.NAME]` table; a key left out is None. The API key stays out of repr."""

    name: str
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    model: str | None = None
    gpu_metrics_url: str | None = None
    context_window: int | None = None


@dataclass(frozen=True)
class PromptPreset:
    """One `[prompts.NAME]` table: the system prompt for new conversations, and a temperature if set."""

    name: str
    system_prompt: str
    temperature: float | None = None


SERVER_KEYS = tuple(f.name for f in fields(ServerProfile) if f.name != "name")
PROMPT_KEYS = ("system_prompt", "temperature")


class TableError(ValueError):
    """A table in the config file is malformed; the message says which table and key."""


def _typed(table: str, key: str, raw: Any, kind: type) -> Any:
    """`raw` checked to be a `kind` (str, int, or float which also takes an int), or TableError."""
    ok = isinstance(raw, kind) if kind is not float else isinstance(raw, (int, float))
    if not ok or isinstance(raw, bool):
        wanted = {str: "a string", int: "a whole number", float: "a number"}[kind]
        raise TableError(f"[{table}] {key} must be {wanted}, not {raw!r}")
    return kind(raw)


def _tables(data: Any, group: str) -> dict[str, dict[str, Any]]:
    """The `[group.NAME]` tables, checked to be tables with a usable name."""
    if not isinstance(data, dict):
        raise TableError(f"{group} must be tables like [{group}.NAME], not {data!r}")
    for name, body in data.items():
        if not isinstance(body, dict):
            raise TableError(f"{group}.{name} must be a table [{group}.{name}] with keys, not a value")
        if name == DEFAULT:
            raise TableError(f"[{group}.{DEFAULT}]: the name {DEFAULT!r} means the top-level settings; pick another")
    return data


def _unknown(table: str, body: dict[str, Any], known: tuple[str, ...]) -> None:
    """TableError when `body` has a key outside `known`."""
    for key in body:
        if key not in known:
            raise TableError(f"[{table}] unknown key {key!r} — known keys: {', '.join(known)}")


def servers_from(data: Any) -> tuple[ServerProfile, ...]:
    """`[servers.NAME]` tables → profiles, in file order."""
    profiles = []
    for name, body in _tables(data, "servers").items():
        table = f"servers.{name}"
        _unknown(table, body, SERVER_KEYS)
        values = {key: _typed(table, key, raw, int if key == "context_window" else str) for key, raw in body.items()}
        profiles.append(ServerProfile(name=name, **values))
    return tuple(profiles)


def prompts_from(data: Any) -> tuple[PromptPreset, ...]:
    """`[prompts.NAME]` tables → presets, in file order; each needs a system_prompt."""
    presets = []
    for name, body in _tables(data, "prompts").items():
        table = f"prompts.{name}"
        _unknown(table, body, PROMPT_KEYS)
        if "system_prompt" not in body:
            raise TableError(f"[{table}] needs system_prompt = \"…\"")
        temperature = body.get("temperature")
        presets.append(PromptPreset(name, _typed(table, "system_prompt", body["system_prompt"], str),
                                    None if temperature is None else _typed(table, "temperature", temperature, float)))
    return tuple(presets)


def has_api_key(data: dict[str, Any]) -> bool:
    """True when the file's data holds an API key, at the top or in a server table."""
    servers = data.get("servers")
    in_tables = isinstance(servers, dict) and any(
        isinstance(body, dict) and "api_key" in body for body in servers.values())
    return "api_key" in data or in_tables


# -- writing TOML back (the file holds only scalars and one level of named tables) -----------------

_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def toml_key(key: str) -> str:
    """A key as TOML writes it: bare when it can be, else quoted."""
    return key if key and set(key) <= _BARE else toml_string(key)


def toml_string(text: str) -> str:
    """A TOML basic string; control characters (and DEL) escaped, everything else as is."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def toml_value(value: Any) -> str:
    """A scalar as TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return toml_string(str(value))


def toml_text(data: dict[str, Any]) -> str:
    """Top-level scalars first, then each `[group.NAME]` table; None values are left out."""
    lines = [f"{toml_key(k)} = {toml_value(v)}" for k, v in data.items()
             if v is not None and not isinstance(v, dict)]
    for group, tables in data.items():
        if not isinstance(tables, dict):
            continue
        for name, body in tables.items():
            lines.append("")
            lines.append(f"[{toml_key(group)}.{toml_key(name)}]")
            lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in body.items() if v is not None]
    return "\n".join(lines) + "\n"


def names_line(names: list[str]) -> str:
    """'default, gpubox, laptop' for error messages."""
    return ", ".join(names) if names else "(none)"


def table_error(path: Path, exc: TableError) -> str:
    """One line naming the file for a malformed table."""
    return f"Config file {path}: {exc}"
