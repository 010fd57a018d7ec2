"""What this server can do: models (+max_model_len), /version, /health, /metrics, /tokenize.

vLLM has all of these; llama-cpp-python answers 404 on every extra (see
tests/fixtures/llamacpp/endpoint_status.txt), so each one is probed separately and a
missing one is simply reported absent. The extras live on the server root, i.e. the
API base URL without its trailing `/v1`. Nothing here raises for network trouble.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from zorac_tui import net
from zorac_tui.core import wording as W
from zorac_tui.server import errors as E

# Seconds a probe or /metrics request may take: a busy server (or a loaded machine) can be slow to answer a
# GET, and a probe that gives up too soon says "cannot reach" about a server that is there.
PROBE_TIMEOUT = 5.0


@dataclass(frozen=True)
class ModelInfo:
    """One entry of GET /v1/models."""

    id: str
    max_model_len: int | None = None
    owned_by: str | None = None
    root: str | None = None


@dataclass
class ServerInfo:
    """The result of probing a server; `error` is one line when something went wrong."""

    base_url: str
    reachable: bool = False
    error: str | None = None
    models: list[ModelInfo] = field(default_factory=list)
    version: str | None = None
    has_tokenize: bool = False
    has_metrics: bool = False
    has_health: bool = False
    flavor: str = "openai-compatible"  # "vllm" | "llamacpp" | "openai-compatible"

    def model(self, model_id: str) -> ModelInfo | None:
        """The served model with this id, if any."""
        return next((m for m in self.models if m.id == model_id), None)


@dataclass(frozen=True)
class _Answer:
    """Status and body of one HTTP exchange."""

    status: int
    body: bytes

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def _session(api_key: str | None, timeout: float) -> aiohttp.ClientSession:
    """A session with the bearer header (if any) and a total timeout per request."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=timeout))


async def _call(session: aiohttp.ClientSession, method: str, url: str, body: Any = None) -> _Answer:
    """One request; network errors propagate to the caller."""
    async with session.request(method, url, json=body) as resp:
        return _Answer(resp.status, await resp.read())


async def _try(session: aiohttp.ClientSession, method: str, url: str, body: Any = None) -> _Answer | None:
    """One request, None on any network failure."""
    try:
        return await _call(session, method, url, body)
    except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
        return None


def _network_reason(exc: BaseException, timeout: float) -> str:
    """Why a request did not get an answer, in a few words."""
    if isinstance(exc, asyncio.TimeoutError):
        return f"no answer within {timeout:g} s"
    text = str(exc).strip()
    return text or type(exc).__name__


def _int_or_none(value: Any) -> int | None:
    """An int field (bools and others → None)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str_or_none(value: Any) -> str | None:
    """A str field (others → None)."""
    return value if isinstance(value, str) else None


def parse_models(doc: Any) -> list[ModelInfo] | None:
    """ModelInfo list from a /v1/models document; None when it is not a model list."""
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        return None
    models = []
    for item in doc["data"]:
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            models.append(
                ModelInfo(
                    id=item["id"],
                    max_model_len=_int_or_none(item.get("max_model_len")),
                    owned_by=_str_or_none(item.get("owned_by")),
                    root=_str_or_none(item.get("root")),
                )
            )
    return models


def _flavor(info: ServerInfo, metrics_text: str) -> str:
    """Guess the server kind from what it answered."""
    owners = {m.owned_by for m in info.models}
    if "vllm" in owners or "vllm:" in metrics_text or (info.version and info.has_tokenize):
        return "vllm"
    if owners & {"llamacpp", "me"} or "llamacpp:" in metrics_text:
        return "llamacpp"
    return "openai-compatible"


async def probe(base_url: str, api_key: str | None = None, timeout: float = PROBE_TIMEOUT) -> ServerInfo:
    """Find out what the server at `base_url` serves and which extra endpoints it has."""
    api, root = net.api_base(base_url), net.server_root(base_url)
    info = ServerInfo(base_url=api)
    try:
        async with _session(api_key, timeout) as session:
            try:
                answer = await _call(session, "GET", f"{api}/models")
            except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
                info.error = E.scrub(W.unreachable_message(api, _network_reason(exc, timeout)), api_key)
                return info
            info.reachable = True
            if answer.status != 200:
                said, _ = E.server_message(answer.body)
                info.error = E.scrub(W.http_message(answer.status, said), api_key)
            else:
                models = parse_models(answer.json())
                if models is None:
                    info.error = f"The server's {api}/models answer is not a model list"
                else:
                    info.models = models
            first = info.models[0].id if info.models else ""
            version, health, metrics, tokenize = await asyncio.gather(
                _try(session, "GET", f"{root}/version"),
                _try(session, "GET", f"{root}/health"),
                _try(session, "GET", f"{root}/metrics"),
                _try(session, "POST", f"{root}/tokenize", {"model": first, "prompt": "hi"}),
            )
    except Exception as exc:
        info.error = info.error or W.one_line(f"Probe failed: {type(exc).__name__}: {exc}")
        return info
    if version is not None and version.status == 200:
        doc = version.json()
        info.version = _str_or_none(doc.get("version")) if isinstance(doc, dict) else None
    info.has_health = health is not None and health.status == 200
    metrics_text = ""
    if metrics is not None and metrics.status == 200:
        metrics_text = metrics.body.decode("utf-8", "replace")
        info.has_metrics = "# TYPE" in metrics_text or "# HELP" in metrics_text
    info.has_tokenize = _tokenize_present(tokenize)
    info.flavor = _flavor(info, metrics_text)
    return info


def _tokenize_present(answer: _Answer | None) -> bool:
    """Whether POST /tokenize exists (404/405 or no answer → absent)."""
    if answer is None:
        return False
    doc = answer.json()
    if answer.status == 200:
        return isinstance(doc, dict) and ("count" in doc or "tokens" in doc)
    return answer.status in (400, 422) and isinstance(doc, dict)


def choose_model(info: ServerInfo, configured: str) -> tuple[str, str]:
    """(model id, why): the only served model, else the configured one (explained)."""
    ids = [m.id for m in info.models]
    if len(ids) == 1:
        if ids[0] == configured:
            return configured, "configured"
        if configured:
            return ids[0], f"configured model {configured!r} not served; using {ids[0]} (the only model served)"
        return ids[0], "auto-detected (only model served)"
    if configured in ids:
        return configured, "configured"
    if ids:
        listed = ", ".join(ids[:6]) + (", …" if len(ids) > 6 else "")
        return configured, f"configured, but the server does not list it (it serves: {listed})"
    return configured, "configured (the server did not list its models)"


async def tokenize_messages(
    base_url: str, messages: list[dict], model: str, api_key: str | None = None, timeout: float = 5.0
) -> int | None:
    """Exact prompt tokens via vLLM's POST /tokenize (chat template applied); None when unavailable."""
    body = {"model": model, "messages": messages, "add_generation_prompt": True}
    try:
        async with _session(api_key, timeout) as session:
            answer = await _try(session, "POST", f"{net.server_root(base_url)}/tokenize", body)
    except Exception:
        return None
    if answer is None or answer.status != 200:
        return None
    doc = answer.json()
    return _int_or_none(doc.get("count")) if isinstance(doc, dict) else None


async def fetch_metrics_text(base_url: str, api_key: str | None = None,
                             timeout: float = PROBE_TIMEOUT) -> str | None:
    """The Prometheus text of GET /metrics on the server root; None when unavailable."""
    try:
        async with _session(api_key, timeout) as session:
            answer = await _try(session, "GET", f"{net.server_root(base_url)}/metrics")
    except Exception:
        return None
    if answer is None or answer.status != 200:
        return None
    return answer.body.decode("utf-8", "replace")
