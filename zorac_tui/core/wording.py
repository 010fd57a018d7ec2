"""How a failure reads: every one-line message the app shows when something goes wrong, in one place.

Pure text: no I/O, no imports of ours. The server layer words request failures with it; the UI words
what it refuses or could not do (not sent, not saved, waiting) with it too.
"""

from __future__ import annotations

import re

MAX_LINE = 240
_WS = re.compile(r"\s+")


def one_line(text: str, limit: int = MAX_LINE) -> str:
    """Collapse whitespace (newlines included) and cut to `limit` characters with an ellipsis."""
    flat = _WS.sub(" ", text).strip()
    if len(flat) <= limit:
        return flat
    return flat[: limit - 1].rstrip() + "…"


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



def exception_line(exc: BaseException) -> str:
    """An exception's own message on one line (the OS's words for an OSError), else its type's name."""
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return one_line(text, 10_000) or type(exc).__name__


RETRY_HINT = " · Ctrl+R retries"
STREAM_ENDED = "The stream ended without a result."


def not_saved(line: str) -> str:
    """The database refused a write (or could not open): nothing is lost from the screen."""
    return f"Not saved: {line} — your messages stay on screen and in memory."


def waiting_for_server(url: str) -> str:
    """Under a reply that waits for the server to (re)connect."""
    return f"waiting for the server at {url}… sent by itself once it answers · Esc cancels"


NOT_SENT = "Not sent — the server had not answered yet. Your message is kept; Ctrl+R sends it."


def unreachable_retrying(reason: str, interval: float) -> str:
    """The server does not answer at start (or after a restart); the app keeps trying."""
    return (f"{reason} · Retrying every {interval:.0f} s; type meanwhile, nothing is lost "
            "(no server? try `zorac-tui --demo`).")


def prompt_too_long(used: int, window: int, exact: bool) -> str:
    """A message that would not fit the context window: refused before the server has to."""
    approx = "" if exact else "≈"
    return (f"This message would make the prompt {approx}{used:,} tokens, over the {window:,}-token window — "
            "not sent (your text stays in the prompt). Summarize older messages with Ctrl+S or /summarize, "
            "or shorten it.")


def summary_not_applied(reason: str) -> str:
    """A summary that was cancelled, failed or came back empty."""
    return f"Summary not applied ({reason}) — the conversation is unchanged."
