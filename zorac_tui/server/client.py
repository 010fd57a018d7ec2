"""Streaming chat client: one request in, typed events out (Started, Delta…, Finished | Failed).

Built on the openai SDK's AsyncOpenAI (3.x, on httpx2) with `max_retries=0` for transport,
timeouts and HTTP-error classification, but the body is read raw (`with_streaming_response`)
and parsed here (server/sse.py + json.loads): the SDK's per-chunk pydantic objects cost about
half of the client's CPU per chunk (benchmarks/client_cost.py). Tested against replayed vLLM 0.32 /
llama-cpp-python captures, every failure this client must tell apart is distinguishable:

* HTTP errors come as `APIStatusError` with the (already read) response: we extract
  the server's own message ourselves from `response.text` (JSON or plain text).
* A stall (no bytes for `stall_timeout` s) is httpx2's read timeout: `APITimeoutError` before
  the headers, `httpx2.TimeoutException` while reading the body.
* A connection cut mid-body is httpx2's `RemoteProtocolError` ("incomplete chunked read", a
  `RequestError`); a refused connection is `APIConnectionError` caused by `ConnectError`.
* A chunk that is not JSON is a `json.JSONDecodeError`; one that is not UTF-8 a
  `UnicodeDecodeError`. A chunk that is JSON but of the wrong shape is checked here.
* A body that ends without `[DONE]` is TRUNCATED when no finish_reason was seen (llama.cpp's
  over-long prompt in streaming mode gives 200 + SSE headers and an empty body). Reading stops at
  `[DONE]`, so a stream with [DONE] but no finish_reason is also TRUNCATED.
* A `data: {"error": …}` event mid-stream is the server's error (HTTP, or CONTEXT by its words).

Once a finish_reason has arrived, a later failure (cut before the usage chunk or
[DONE]) still ends in Finished: the reply itself is complete. Cancellation
(`asyncio.CancelledError`) is never swallowed; the HTTP response is closed first.
Proxy variables (HTTP_PROXY…) are ignored for loopback URLs.

Thinking (reasoning models) is read in all three shapes servers send it: `delta.reasoning`
(vLLM ≥ 0.10 with `--reasoning-parser`), `delta.reasoning_content` (llama.cpp's server, older
vLLM, hosted APIs) and `<think>…</think>` inline in `delta.content` (core/reasoning.py). The
server's `reasoning_tokens` figure is not used (vLLM 0.32 reports 0 for all-thinking replies).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator
from typing import Any

import openai

try:  # openai >= 3 runs on httpx2; older releases on httpx (same class names)
    import httpx2
except ImportError:  # pragma: no cover - depends on the installed openai
    import httpx as httpx2  # type: ignore[no-redef]

from zorac_tui import net
from zorac_tui.core import wording as W
from zorac_tui.server import errors as E
from zorac_tui.server.chunks import ChunkReader, Malformed, ServerError
from zorac_tui.server.events import Failed, FailureKind, Finished, Started, StreamEvent
from zorac_tui.server.sse import SseDecoder

_NO_KEY = "EMPTY"  # vLLM's convention when the server runs without --api-key
_CONNECT_ERRORS = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.UnsupportedProtocol, httpx2.InvalidURL)
_DRAIN_S = 0.1  # after [DONE], read the body's end this long so the connection can be reused
try:  # the SDK maps these to "connection lost" as well (TLS and AnyIO stream ends)
    from anyio import EndOfStream as _EndOfStream
except ImportError:  # pragma: no cover - anyio comes with httpx2
    _EndOfStream = ssl.SSLError  # type: ignore[assignment,misc]
_LOST = (httpx2.RequestError, ssl.SSLError, _EndOfStream)


class ChatClient:
    """Streams chat completions from an OpenAI-compatible server as typed events."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        stall_timeout: float = 30.0,
        connect_timeout: float = 5.0,
    ) -> None:
        """Remember the settings; the HTTP client is created on first use."""
        self.base_url = net.api_base(base_url)
        self._api_key = api_key or None
        self.stall_timeout = stall_timeout
        self.connect_timeout = connect_timeout
        self._sdk: openai.AsyncOpenAI | None = None

    def __repr__(self) -> str:
        """Never show the API key."""
        return f"ChatClient(base_url={self.base_url!r}, api_key={'***' if self._api_key else None})"

    def _client(self) -> openai.AsyncOpenAI:
        """The AsyncOpenAI instance (created once, no retries)."""
        if self._sdk is None:
            timeout = httpx2.Timeout(
                connect=self.connect_timeout,
                read=self.stall_timeout,
                write=max(self.stall_timeout, 10.0),
                pool=self.connect_timeout,
            )
            factory = getattr(openai, "DefaultAsyncHttpx2Client", None) or openai.DefaultAsyncHttpxClient
            http = factory(timeout=timeout, trust_env=not net.is_loopback(self.base_url))
            self._sdk = openai.AsyncOpenAI(
                base_url=self.base_url,
                api_key=self._api_key or _NO_KEY,
                max_retries=0,
                timeout=timeout,
                http_client=http,
            )
        return self._sdk

    async def warm_up(self) -> None:
        """Make one cheap request (GET /models) so the SDK's lazy imports and connection setup
        do not land inside the first reply's time to first token."""
        try:
            await self._client().models.list()
        except Exception:  # a warm-up that fails changes nothing: the real request reports errors
            pass

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        if self._sdk is not None:
            sdk, self._sdk = self._sdk, None
            await sdk.close()

    def _failed(
        self, kind: FailureKind, message: str, *, status: int | None = None, detail: str | None = None
    ) -> Failed:
        """A Failed event with the API key scrubbed from its text."""
        return Failed(
            kind=kind,
            message=E.scrub(W.one_line(message, 400), self._api_key) or "",
            at=time.perf_counter(),
            status=status,
            detail=E.scrub(detail, self._api_key),
        )

    async def stream(
        self,
        messages: list[dict],
        *,
        model: str,
        max_tokens: int | None = None,
        temperature: float | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Send one chat request and yield its events; never raises except CancelledError.

        `extra_body` carries server-specific sampling parameters (e.g. vLLM's `ignore_eos`).
        """
        kwargs = _request(messages, model, max_tokens, temperature, extra_body)
        try:
            raw = await self._client().chat.completions.with_streaming_response.create(**kwargs).__aenter__()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            yield self._before_start(exc)
            return
        response = raw.http_response
        progress = ChunkReader()
        chunks = response.aiter_bytes()
        try:
            yield Started(model=model, at=time.perf_counter())
            if response.headers.get("content-type", "").startswith("application/json"):
                body = (await response.aread()).decode("utf-8", "replace")
                said, _code = E.server_message(body)
                yield self._failed(
                    FailureKind.MALFORMED,
                    f"The server answered with JSON instead of an event stream: {said or 'no message'}",
                    detail=body[:2000],
                )
                return
            async for event in self._read(chunks, progress):
                yield event
            for event in progress.flush():
                yield event
            if progress.reason is not None:
                yield Finished(reason=progress.reason, usage=progress.usage(), at=time.perf_counter())
            else:
                yield self._failed(FailureKind.TRUNCATED, W.truncated_message(progress.count, progress.exact))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            for event in progress.flush():  # text held back for a possible tag is kept too
                yield event
            if progress.reason is not None:
                yield Finished(reason=progress.reason, usage=progress.usage(), at=time.perf_counter())
            else:
                yield self._during(exc, progress)
        finally:
            await _close(chunks, response)

    async def _read(self, chunks: AsyncIterator[bytes], progress: ChunkReader) -> AsyncIterator[StreamEvent]:
        """Every event of the body up to [DONE] (then its end is drained for connection reuse)."""
        decoder = SseDecoder()
        async for data in chunks:
            for text in decoder.feed(data):
                if text.startswith("[DONE]"):
                    await _drain(chunks)
                    return
                for event in progress.events(json.loads(text)):
                    yield event

    def _before_start(self, exc: Exception) -> Failed:
        """The Failed event for an exception raised before the response headers arrived."""
        if isinstance(exc, openai.APIStatusError):
            return self._status_failure(exc)
        cause = exc.__cause__ or exc.__context__
        if isinstance(exc, openai.APITimeoutError) and not isinstance(cause, httpx2.ConnectTimeout):
            return self._failed(
                FailureKind.STALLED, W.stalled_message(self.stall_timeout, 0, False), detail=repr(cause)
            )
        if isinstance(exc, openai.APIConnectionError):
            if isinstance(cause, _CONNECT_ERRORS):
                return self._failed(
                    FailureKind.UNREACHABLE,
                    W.unreachable_message(self.base_url, _reason(cause)),
                    detail=repr(cause),
                )
            return self._failed(FailureKind.DROPPED, W.dropped_message(0, False), detail=repr(cause))
        if isinstance(exc, _CONNECT_ERRORS):
            return self._failed(
                FailureKind.UNREACHABLE, W.unreachable_message(self.base_url, _reason(exc)), detail=repr(exc)
            )
        return self._failed(
            FailureKind.UNREACHABLE,
            W.unreachable_message(self.base_url, f"unexpected client error: {type(exc).__name__}: {exc}"),
            detail=repr(exc),
        )

    def _status_failure(self, exc: openai.APIStatusError) -> Failed:
        """HTTP or CONTEXT from an HTTP error status, with the server's own message."""
        status = exc.status_code
        try:
            body: str | None = exc.response.text
        except Exception:
            body = exc.body if isinstance(exc.body, str) else json.dumps(exc.body) if exc.body else None
        said, code = E.server_message(body)
        if 400 <= status < 500 and E.is_context_error(said, code):
            return self._failed(FailureKind.CONTEXT, W.context_message(said), status=status, detail=said)
        return self._failed(FailureKind.HTTP, W.http_message(status, said), status=status, detail=body)

    def _during(self, exc: Exception, progress: ChunkReader) -> Failed:
        """The Failed event for an exception raised while reading the stream."""
        n, exact = progress.count, progress.exact
        if isinstance(exc, httpx2.TimeoutException):
            return self._failed(FailureKind.STALLED, W.stalled_message(self.stall_timeout, n, exact), detail=repr(exc))
        if isinstance(exc, _LOST):
            return self._failed(FailureKind.DROPPED, W.dropped_message(n, exact), detail=repr(exc))
        if isinstance(exc, json.JSONDecodeError):
            return self._failed(
                FailureKind.MALFORMED,
                W.malformed_message("a chunk that is not valid JSON", n, exact),
                detail=f"{exc}: {exc.doc[:2000]}",
            )
        if isinstance(exc, Malformed):
            return self._failed(FailureKind.MALFORMED, W.malformed_message(str(exc), n, exact))
        if isinstance(exc, UnicodeDecodeError):
            what = "a chunk that is not valid UTF-8"
            return self._failed(FailureKind.MALFORMED, W.malformed_message(what, n, exact), detail=repr(exc))
        if isinstance(exc, ServerError):
            return self._server_error(exc.body)
        return self._failed(
            FailureKind.MALFORMED,
            W.malformed_message(f"something unexpected ({type(exc).__name__}: {exc})", n, exact),
            detail=repr(exc),
        )

    def _server_error(self, body: Any) -> Failed:
        """HTTP or CONTEXT for a `data: {"error": …}` event, in the server's words."""
        said, code = E.message_from_doc({"error": body})
        said = said or "An error occurred during streaming"
        status = code if isinstance(code, int) and not isinstance(code, bool) else None
        if E.is_context_error(said, code):
            return self._failed(FailureKind.CONTEXT, W.context_message(said), status=status, detail=said)
        return self._failed(
            FailureKind.HTTP,
            f"The server reported an error mid-reply: {W.one_line(said, 180)} — see the server's log",
            status=status,
            detail=said,
        )


def _request(messages: list[dict], model: str, max_tokens: int | None, temperature: float | None,
             extra_body: dict[str, Any] | None) -> dict[str, Any]:
    """The SDK arguments of one streamed chat request (with per-chunk usage)."""
    kwargs: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True, "continuous_usage_stats": True},
    }
    if max_tokens is not None:
        kwargs["max_tokens"] = max_tokens
    if temperature is not None:
        kwargs["temperature"] = temperature
    if extra_body:
        kwargs["extra_body"] = extra_body
    return kwargs


def _reason(exc: BaseException) -> str:
    """A short reason for a connection failure."""
    text = str(exc).strip()
    if isinstance(exc, httpx2.ConnectTimeout):
        return f"timed out connecting{': ' + text if text else ''}"
    return text or type(exc).__name__


async def _drain(chunks: AsyncIterator[bytes]) -> None:
    """Read what follows [DONE] (normally just the end of the body) for at most _DRAIN_S."""
    try:
        async with asyncio.timeout(_DRAIN_S):
            async for _ in chunks:
                pass
    except (TimeoutError, *_LOST):
        pass


async def _close(chunks: AsyncIterator[bytes], response: Any) -> None:
    """Close the body iterator and the HTTP response (also when cancelled)."""
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:
            pass
    try:
        await response.aclose()
    except Exception:
        pass
