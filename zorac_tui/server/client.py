"""Streaming chat client: one request in, typed events out (Started, Delta…, Finished | Failed).

Built on the openai SDK's AsyncOpenAI (3.x, on httpx2) with `max_retries=0`. Tested
against replayed vLLM 0.32 / llama-cpp-python captures, the SDK is reliable enough
for every failure this client must tell apart, so no hand-written SSE reader is needed:

* HTTP errors come as `APIStatusError` with the (already read) response: we extract
  the server's own message ourselves from `response.text` (JSON or plain text).
* A stall (no bytes for `stall_timeout` s, before or after the headers) is httpx2's
  read timeout, surfaced as `APITimeoutError` — a subclass of `APIConnectionError`,
  so it is checked first.
* A connection cut mid-body is `APIConnectionError` caused by httpx2's
  `RemoteProtocolError` ("incomplete chunked read"); a refused connection is
  `APIConnectionError` caused by `ConnectError`.
* A chunk that is not JSON escapes the SDK as a bare `json.JSONDecodeError`. A chunk
  that is JSON but of the wrong shape is NOT rejected by the SDK (it builds models
  without validation and passes lists/strings through), so we check the shape here.
* A body that ends without `[DONE]` just ends the SDK iterator silently; we call that
  TRUNCATED when no finish_reason was seen (llama.cpp's over-long prompt in streaming
  mode gives 200 + SSE headers and an empty body). The SDK stops at `[DONE]`, so a
  stream with [DONE] but no finish_reason is also TRUNCATED.
* A `data: {"error": …}` event mid-stream is raised as a plain `APIError`.

Once a finish_reason has arrived, a later failure (cut before the usage chunk or
[DONE]) still ends in Finished: the reply itself is complete. Cancellation
(`asyncio.CancelledError`) is never swallowed; the HTTP response is closed first.
Proxy variables (HTTP_PROXY…) are ignored for loopback URLs.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import openai

try:  # openai >= 3 runs on httpx2; older releases on httpx (same class names)
    import httpx2
except ImportError:  # pragma: no cover - depends on the installed openai
    import httpx as httpx2  # type: ignore[no-redef]
from openai.types.chat import ChatCompletionChunk

from zorac_tui.server import errors as E
from zorac_tui.server.events import Delta, Failed, FailureKind, Finished, Started, StreamEvent, Usage

_NO_KEY = "EMPTY"  # vLLM's convention when the server runs without --api-key
_CONNECT_ERRORS = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.UnsupportedProtocol, httpx2.InvalidURL)


@dataclass
class _Progress:
    """What has arrived so far in one stream."""

    pieces: int = 0
    server_completion: int | None = None
    prompt: int | None = None
    total: int | None = None
    reason: str | None = None

    @property
    def count(self) -> int:
        """Tokens so far: the server's count when known, else the number of text pieces."""
        return self.server_completion if self.server_completion is not None else self.pieces

    @property
    def exact(self) -> bool:
        """Whether `count` comes from the server."""
        return self.server_completion is not None

    def usage(self) -> Usage | None:
        """The last usage the server reported, if any."""
        if self.server_completion is None or self.prompt is None:
            return None
        total = self.total if self.total is not None else self.prompt + self.server_completion
        return Usage(prompt_tokens=self.prompt, completion_tokens=self.server_completion, total_tokens=total)


class _Malformed(Exception):
    """A chunk of the wrong shape; the argument says what was wrong."""


def _get(obj: Any, name: str) -> Any:
    """A field of an SDK model or a plain dict (None when absent)."""
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _int(value: Any) -> int | None:
    """An int field, None when absent; a non-integer is a shape error."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Malformed(f"a usage count that is not an integer ({value!r})")
    return value


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
        self.base_url = E.api_base(base_url)
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
            http = factory(timeout=timeout, trust_env=not E.is_loopback(self.base_url))
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
            message=E.scrub(E.one_line(message, 400), self._api_key) or "",
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
        try:
            sdk_stream = await self._client().chat.completions.create(**kwargs)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            yield self._before_start(exc)
            return
        progress = _Progress()
        chunks = sdk_stream.__aiter__()
        try:
            yield Started(model=model, at=time.perf_counter())
            ctype = sdk_stream.response.headers.get("content-type", "")
            if ctype.startswith("application/json"):
                body = (await sdk_stream.response.aread()).decode("utf-8", "replace")
                said, _code = E.server_message(body)
                yield self._failed(
                    FailureKind.MALFORMED,
                    f"The server answered with JSON instead of an event stream: {said or 'no message'}",
                    detail=body[:2000],
                )
                return
            async for chunk in chunks:
                for event in self._events(chunk, progress):
                    yield event
            if progress.reason is not None:
                yield Finished(reason=progress.reason, usage=progress.usage(), at=time.perf_counter())
            else:
                yield self._failed(FailureKind.TRUNCATED, E.truncated_message(progress.count, progress.exact))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if progress.reason is not None:
                yield Finished(reason=progress.reason, usage=progress.usage(), at=time.perf_counter())
            else:
                yield self._during(exc, progress)
        finally:
            await _close(chunks, sdk_stream)

    def _events(self, chunk: Any, progress: _Progress) -> list[StreamEvent]:
        """Turn one SDK chunk into Delta events, updating `progress`; raises _Malformed."""
        if not isinstance(chunk, ChatCompletionChunk):
            raise _Malformed(f"a chunk that is not a JSON object ({type(chunk).__name__})")
        usage = _get(chunk, "usage")
        if usage is not None:
            if not isinstance(usage, (dict, openai.BaseModel)):
                raise _Malformed("a usage field that is not an object")
            completion = _int(_get(usage, "completion_tokens"))
            prompt = _int(_get(usage, "prompt_tokens"))
            if completion is not None:
                progress.server_completion = completion
            if prompt is not None:
                progress.prompt = prompt
            progress.total = _int(_get(usage, "total_tokens"))
        choices = _get(chunk, "choices")
        if choices is None:
            choices = []
        if not isinstance(choices, list):
            raise _Malformed("a chunk whose choices is not a list")
        events: list[StreamEvent] = []
        for choice in choices[:1]:  # one reply per request (n=1)
            if not isinstance(choice, (dict, openai.BaseModel)):
                raise _Malformed("a choice that is not an object")
            delta = _get(choice, "delta")
            content = _get(delta, "content") if delta is not None else None
            if content is not None and not isinstance(content, str):
                raise _Malformed("a delta whose content is not text")
            if content:
                progress.pieces += 1
                events.append(
                    Delta(
                        text=content,
                        at=time.perf_counter(),
                        completion_tokens=progress.server_completion if usage is not None else None,
                        prompt_tokens=progress.prompt if usage is not None else None,
                    )
                )
            reason = _get(choice, "finish_reason")
            if reason is not None:
                if not isinstance(reason, str):
                    raise _Malformed("a finish_reason that is not text")
                progress.reason = reason
        return events

    def _before_start(self, exc: Exception) -> Failed:
        """The Failed event for an exception raised before the response headers arrived."""
        if isinstance(exc, openai.APIStatusError):
            return self._status_failure(exc)
        cause = exc.__cause__ or exc.__context__
        if isinstance(exc, openai.APITimeoutError) and not isinstance(cause, httpx2.ConnectTimeout):
            return self._failed(
                FailureKind.STALLED, E.stalled_message(self.stall_timeout, 0, False), detail=repr(cause)
            )
        if isinstance(exc, openai.APIConnectionError):
            if isinstance(cause, _CONNECT_ERRORS):
                return self._failed(
                    FailureKind.UNREACHABLE,
                    E.unreachable_message(self.base_url, _reason(cause)),
                    detail=repr(cause),
                )
            return self._failed(FailureKind.DROPPED, E.dropped_message(0, False), detail=repr(cause))
        if isinstance(exc, _CONNECT_ERRORS):
            return self._failed(
                FailureKind.UNREACHABLE, E.unreachable_message(self.base_url, _reason(exc)), detail=repr(exc)
            )
        return self._failed(
            FailureKind.UNREACHABLE,
            E.unreachable_message(self.base_url, f"unexpected client error: {type(exc).__name__}: {exc}"),
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
            return self._failed(FailureKind.CONTEXT, E.context_message(said), status=status, detail=said)
        return self._failed(FailureKind.HTTP, E.http_message(status, said), status=status, detail=body)

    def _during(self, exc: Exception, progress: _Progress) -> Failed:
        """The Failed event for an exception raised while reading the stream."""
        n, exact = progress.count, progress.exact
        cause = exc.__cause__ or exc.__context__
        if isinstance(exc, openai.APITimeoutError):
            return self._failed(
                FailureKind.STALLED, E.stalled_message(self.stall_timeout, n, exact), detail=repr(cause)
            )
        if isinstance(exc, openai.APIConnectionError):
            return self._failed(FailureKind.DROPPED, E.dropped_message(n, exact), detail=repr(cause))
        if isinstance(exc, json.JSONDecodeError):
            return self._failed(
                FailureKind.MALFORMED,
                E.malformed_message("a chunk that is not valid JSON", n, exact),
                detail=f"{exc}: {exc.doc[:2000]}",
            )
        if isinstance(exc, _Malformed):
            return self._failed(FailureKind.MALFORMED, E.malformed_message(str(exc), n, exact))
        if isinstance(exc, UnicodeDecodeError):  # the SDK decodes each SSE line strictly
            what = "a chunk that is not valid UTF-8"
            return self._failed(FailureKind.MALFORMED, E.malformed_message(what, n, exact), detail=repr(exc))
        if isinstance(exc, openai.APIError):  # a `data: {"error": …}` event mid-stream
            said, code = E.message_from_doc({"error": exc.body} if exc.body is not None else exc.message)
            said = said or exc.message
            status = code if isinstance(code, int) and not isinstance(code, bool) else None
            if E.is_context_error(said, code):
                return self._failed(FailureKind.CONTEXT, E.context_message(said), status=status, detail=said)
            return self._failed(
                FailureKind.HTTP,
                f"The server reported an error mid-reply: {E.one_line(said, 180)} — see the server's log",
                status=status,
                detail=said,
            )
        return self._failed(
            FailureKind.MALFORMED,
            E.malformed_message(f"something unexpected ({type(exc).__name__}: {exc})", n, exact),
            detail=repr(exc),
        )


def _reason(exc: BaseException) -> str:
    """A short reason for a connection failure."""
    text = str(exc).strip()
    if isinstance(exc, httpx2.ConnectTimeout):
        return f"timed out connecting{': ' + text if text else ''}"
    return text or type(exc).__name__


async def _close(chunks: AsyncIterator[Any], sdk_stream: openai.AsyncStream[Any]) -> None:
    """Close the SDK's iterators and the HTTP response (also when cancelled)."""
    for gen in (chunks, getattr(sdk_stream, "_iterator", None)):
        aclose = getattr(gen, "aclose", None)
        if aclose is not None:
            try:
                await aclose()
            except Exception:
                pass
    try:
        await sdk_stream.close()
    except Exception:
        pass
