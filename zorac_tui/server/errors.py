"""Reading a server's errors: its own message out of any error body, whether it means "context full", and
keeping the API key out of every message (the wording itself is core/wording.py)."""

from __future__ import annotations

import json
import re

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


def scrub(text: str | None, secret: str | None) -> str | None:
    """Replace every occurrence of `secret` (the API key) in `text` with ***."""
    if text is None or not secret:
        return text
    return text.replace(secret, "***")


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


