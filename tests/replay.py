"""Replay server for tests: serves captured vLLM / llama.cpp responses over real HTTP.

Routes map (method, path) to a `Reply`: raw bytes with a status and content type,
optionally with faults (cut the connection after N bytes, stall after N bytes,
send in small pieces). SSE bodies are written event by event, byte-exact.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

FIXTURES = Path(__file__).parent / "fixtures"
SSE_TYPE = "text/event-stream; charset=utf-8"


@dataclass
class Reply:
    """What the replay server answers on one route."""

    body: bytes = b""
    status: int = 200
    content_type: str = "application/json"
    cut_after: int | None = None  # abort the TCP connection after this many body bytes
    stall_after: int | None = None  # stop sending (but keep the socket open) after N bytes
    stall_seconds: float = 3600.0
    delay_headers: float = 0.0  # sleep before sending headers
    piece_delay: float = 0.0  # sleep between SSE events


@dataclass
class Recorded:
    """One request as the replay server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The request body parsed as JSON."""
        return json.loads(self.body)


def fixture_bytes(flavor: str, name: str) -> bytes:
    """The raw bytes of tests/fixtures/<flavor>/<name>."""
    return (FIXTURES / flavor / name).read_bytes()


def sse_reply(flavor: str, name: str, **faults: Any) -> Reply:
    """An SSE fixture served byte-exact with the captured content type."""
    return Reply(body=fixture_bytes(flavor, name), content_type=SSE_TYPE, **faults)


def raw_reply(flavor: str, name: str, content_type: str = "application/json", status: int = 200) -> Reply:
    """A non-wrapped fixture (e.g. models.json, version.json) served as-is."""
    return Reply(body=fixture_bytes(flavor, name), status=status, content_type=content_type)


def wrapped_reply(flavor: str, name: str, **faults: Any) -> Reply:
    """A capture-script *.json wrapper ({request,status,content_type,body}) as status + body."""
    doc = json.loads(fixture_bytes(flavor, name))
    body = doc["body"]
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return Reply(body=raw, status=doc["status"], content_type=doc["content_type"], **faults)


def sse_text(data: bytes) -> str:
    """The concatenated delta.content of every chunk in an SSE body (the expected reply text)."""
    out: list[str] = []
    for block in data.split(b"\n\n"):
        line = block.strip()
        if not line.startswith(b"data: ") or line == b"data: [DONE]":
            continue
        chunk = json.loads(line[6:])
        for choice in chunk.get("choices") or []:
            out.append((choice.get("delta") or {}).get("content") or "")
    return "".join(out)


@dataclass
class ReplayServer:
    """aiohttp server on 127.0.0.1 with an ephemeral port; use as `async with`."""

    routes: dict[tuple[str, str], Reply] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    disconnects: int = 0  # responses whose client went away before the body was fully sent
    _runner: web.AppRunner | None = None
    port: int = 0

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL (with /v1)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def root_url(self) -> str:
        """The server root (no /v1)."""
        return f"http://127.0.0.1:{self.port}"

    def set(self, method: str, path: str, reply: Reply) -> None:
        """Serve `reply` for `method path`."""
        self.routes[(method.upper(), path)] = reply

    async def __aenter__(self) -> ReplayServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(Recorded(request.method, request.path, dict(request.headers), body))
        reply = self.routes.get((request.method, request.path))
        if reply is None and request.method == "HEAD":
            reply = self.routes.get(("GET", request.path))
        if reply is None:
            return web.json_response({"detail": "Not Found"}, status=404)
        if reply.delay_headers:
            await asyncio.sleep(reply.delay_headers)
        faulty = reply.cut_after is not None or reply.stall_after is not None
        if not faulty and not reply.content_type.startswith("text/event-stream"):
            return web.Response(body=reply.body, status=reply.status, headers={"Content-Type": reply.content_type})
        resp = web.StreamResponse(status=reply.status, headers={"Content-Type": reply.content_type})
        await resp.prepare(request)
        data = reply.body
        limit = len(data)
        if reply.cut_after is not None:
            limit = min(limit, reply.cut_after)
        if reply.stall_after is not None:
            limit = min(limit, reply.stall_after)
        pos = 0
        try:
            while pos < limit:
                end = data.find(b"\n\n", pos)
                end = limit if end < 0 else min(end + 2, limit)
                await resp.write(data[pos:end])
                pos = end
                if reply.piece_delay:
                    await asyncio.sleep(reply.piece_delay)
        except (ConnectionError, asyncio.CancelledError):
            self.disconnects += 1
            raise
        if reply.cut_after is not None and reply.cut_after < len(data):
            await asyncio.sleep(0.05)
            if request.transport is not None:
                request.transport.abort()
            return resp
        if reply.stall_after is not None and reply.stall_after < len(data):
            await asyncio.sleep(reply.stall_seconds)
        await resp.write_eof()
        return resp
