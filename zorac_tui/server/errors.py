"""One-line failure wording and server-URL helpers shared by the client and the probe.

Everything here is pure: no I/O, no third-party imports, so it is cheap to import.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit, urlunsplit

MAX_LINE = 240
_WS = re.compile(r"\s+")
_CONTEXT_PATTERNS = (
    "maximum context length",
    "context_length_exceeded",
    "context length exceeded",
    "exceeds the context window",
    "exceed context window",
    "exceeds the available context size",
)


_CONTEXT_LIMIT = re.compile(r"maximum context length is ([\d,]+) tokens")


def context_limit(message: str | None) -> int | None:
    """The context window a context-length error states (vLLM and llama.cpp word it alike), if any."""
    found = _CONTEXT_LIMIT.search(message or "")
    return int(found.group(1).replace(",", "")) if found else None


def one_line(text: str, limit: int = MAX_LINE) -> str:
    """Collapse whitespace (newlines included) and cut to `limit` characters with an ellipsis."""
    flat = _WS.sub(" ", text).strip()
    if len(flat) <= limit:
        return flat
    return flat[: limit - 1].rstrip() + "…"


def scrub(text: str | None, secret: str | None) -> str | None:
    """Replace every occurrence of `secret` (the API key) in `text` with ***."""
    if text is None or not secret:
        return text
    return text.replace(secret, "***")


def api_base(base_url: str) -> str:
    """The OpenAI-style API root: trailing slash removed, `/v1` appended to a bare host URL."""
    url = base_url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme and parts.netloc and parts.path in ("", "/"):
        return urlunsplit((parts.scheme, parts.netloc, "/v1", "", ""))
    return url


def server_root(base_url: str) -> str:
    """The server root that carries /health, /version, /metrics, /tokenize (a trailing /v1 removed)."""
    url = api_base(base_url)
    return url[: -len("/v1")] if url.endswith("/v1") else url


def is_loopback(base_url: str) -> bool:
    """Whether the URL points at this machine (then proxy environment variables are ignored)."""
    host = (urlsplit(base_url.strip()).hostname or "").lower()
    return host in ("localhost", "::1", "0.0.0.0") or host.startswith("127.")


def server_message(body: str | bytes | None) -> tuple[str | None, object]:
    """The server's own error message and code from an error body (vLLM, llama.cpp, FastAPI, plain text)."""
    if body is None:
        return None, None
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = text.strip()
    if not text:
        return None, None
    try:
        doc = json.loads(text)
    except ValueError:
        if text.lstrip().startswith("<"):  # an HTML error page: not worth showing
            return None, None
        return text, None
    return message_from_doc(doc)


def message_from_doc(doc: object) -> tuple[str | None, object]:
    """Message and code from a parsed error document of any of the known shapes."""
    if isinstance(doc, dict):
        err = doc.get("error", doc)
        if isinstance(err, str):
            return err, doc.get("code")
        if isinstance(err, dict):
            msg = err.get("message") or err.get("msg") or err.get("detail")
            if isinstance(msg, str) and msg:
                return msg, err.get("code")
        detail = doc.get("detail")
        if isinstance(detail, str):
            return detail, None
        if isinstance(detail, list) and detail:  # FastAPI validation errors
            first = detail[0]
            if isinstance(first, dict) and isinstance(first.get("msg"), str):
                return first["msg"], None
        msg = doc.get("message")
        if isinstance(msg, str):
            return msg, doc.get("code")
    if isinstance(doc, str) and doc:
        return doc, None
    return None, None


def is_context_error(message: str | None, code: object = None) -> bool:
    """Whether an error says the prompt does not fit the model's context window."""
    if code == "context_length_exceeded":
        return True
    low = (message or "").lower()
    return any(p in low for p in _CONTEXT_PATTERNS)


def status_hint(status: int, server_msg: str | None = None) -> str:
    """A short hint for an HTTP status."""
    if status in (401, 403):
        return "check the API key (ZORAC_API_KEY or api_key in the config file)"
    if status == 404:
        if server_msg and "model" in server_msg.lower():
            return "the model name looks wrong; use one the server lists (ZORAC_MODEL / --model)"
        return "is the URL right? It usually ends in /v1"
    if status == 429:
        return "the server is busy; try again in a moment"
    if status >= 500:
        return "server error; see the server's log"
    if status in (400, 413, 422):
        return "the server rejected the request"
    return "unexpected answer from the server"


def http_message(status: int, server_msg: str | None) -> str:
    """One line for an HTTP error status: the server's words, then a hint."""
    said = one_line(server_msg, 180) if server_msg else None
    head = f"HTTP {status}: {said}" if said else f"HTTP {status}"
    return f"{head} — {status_hint(status, server_msg)}"


def context_message(server_msg: str | None) -> str:
    """One line for a prompt that does not fit the context window."""
    said = one_line(server_msg, 180) if server_msg else "the server refused the prompt as too long"
    return f"The conversation does not fit the model's context window: {said}"


def unreachable_message(base_url: str, reason: str | None = None) -> str:
    """One line for a server that cannot be connected to."""
    why = f" ({one_line(reason, 100)})" if reason else ""
    return (
        f"Cannot reach the server at {base_url} — is vLLM running? "
        f"Start it with `vllm serve <model>` or check the URL (ZORAC_BASE_URL / --base-url){why}"
    )


def tokens_phrase(count: int, exact: bool) -> str:
    """'26 tokens' when the server counted them, '≈26 tokens' when counted by text pieces."""
    unit = "token" if count == 1 else "tokens"
    return f"{count} {unit}" if exact else f"≈{count} {unit}"


def dropped_message(count: int, exact: bool) -> str:
    """One line for a connection lost mid-reply."""
    if count == 0:
        return ("The connection to the server was lost before the first token arrived — if the prompt is long, "
                "it may exceed the server's context window (llama.cpp closes the stream then); see its log")
    return (
        f"The connection to the server was lost mid-reply after {tokens_phrase(count, exact)}"
        " — the partial reply is kept"
    )


def stalled_message(seconds: float, count: int, exact: bool) -> str:
    """One line for a stream with no data for `seconds`."""
    base = f"No tokens for {seconds:g} s — the server may be overloaded or stuck"
    if count == 0:
        return f"{base} (no reply started; is it still loading the model?)"
    return f"{base}; stopped after {tokens_phrase(count, exact)}, the partial reply is kept"


def truncated_message(count: int, exact: bool) -> str:
    """One line for a stream that ended without a finish reason or [DONE]."""
    if count == 0:
        return (
            "The server closed the stream without a reply — the prompt may exceed its context window "
            "(llama.cpp does this); see the server's log"
        )
    return (
        f"The stream ended without a finish reason after {tokens_phrase(count, exact)}"
        " — the reply may be incomplete"
    )


def malformed_message(what: str, count: int, exact: bool) -> str:
    """One line for a chunk that could not be understood."""
    after = f" after {tokens_phrase(count, exact)}; the partial reply is kept" if count else ""
    return f"The server sent {what}{after}"
