"""A vLLM-compatible chat server simulator on real HTTP (127.0.0.1), used by --demo, the tests and benchmarks.

`Simulator` runs on the caller's event loop; `SimulatorThread` runs one on its own loop in
a thread so that UI work in the caller never disturbs its timing.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from . import formats, tokens
from .metrics import EngineMetrics

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEMO_REASONING_MODEL = "Qwen/Qwen3-14B-AWQ"
THINKING_FORMATS = ("field", "reasoning", "reasoning_content", "tags", "close-tag")
VLLM_VERSION = "0.32.0"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Faults:
    """Failures to inject into chat replies (token positions count content tokens already sent)."""

    drop_at_token: int | None = None
    http_status: int | None = None
    http_body: dict | None = None
    stall_at_token: int | None = None
    stall_seconds: float = 0.0
    malformed_at_token: int | None = None
    no_usage: bool = False
    once: bool = False


@dataclass
class SimConfig:
    """What the simulated server is and how fast it answers; read anew at each request."""

    profile: str = "vllm"
    model: str = "stelterlab/Mistral-Small-24B-Instruct-2501-AWQ"
    extra_models: list[str] = field(default_factory=list)
    max_model_len: int = 16384
    rate: float = 62.0
    ttft: float = 0.3
    answer_tokens: int | None = None
    reply_text: str | None = None
    faults: Faults = field(default_factory=Faults)
    api_key: str | None = None
    reasoning_models: list[str] = field(default_factory=list)
    """Served models that think before they answer (besides `model` and `extra_models`)."""
    thinking_tokens: int | None = None
    """Thinking per reply: None = a reasoning model thinks about the question (a few hundred tokens) and the
    others do not; a number = exactly that many thinking tokens in every reply, whatever the model (0: none).
    Two tokens end it (`</think>` and a blank line) before the answer; a reply with no answer tokens
    (`answer_tokens` 1 on vLLM: only end-of-sequence) stops inside its thinking, as the captured one does."""
    thinking_format: str = "field"
    """How thinking goes on the wire: "field" = the profile's own (vLLM `delta.reasoning` with usage
    `completion_tokens_details`, as vLLM 0.32 with --reasoning-parser; llamacpp `reasoning_content`),
    "reasoning" / "reasoning_content" = that delta field, "tags" = `<think>…</think>` inline in content
    (no reasoning parser), "close-tag" = content that starts inside thinking: only `</think>`."""

    def __post_init__(self) -> None:
        """Refuse a thinking format the simulator does not know."""
        if self.thinking_format not in THINKING_FORMATS:
            raise ValueError(f"thinking_format must be one of {', '.join(THINKING_FORMATS)}, "
                             f"not {self.thinking_format!r}")

    @classmethod
    def demo(cls) -> SimConfig:
        """The --demo lineup: the reference Mistral model, and a reasoning model beside it."""
        return cls(reasoning_models=[DEMO_REASONING_MODEL])

    def served_models(self) -> list[str]:
        """Every model id the server answers to."""
        ids = [self.model]
        for m in [*self.extra_models, *self.reasoning_models]:
            if m not in ids:
                ids.append(m)
        return ids


def json_response(obj: object, status: int = 200, compact: bool = True,
                  headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response with the exact content-type the real servers send."""
    text = formats.compact(obj) if compact else json.dumps(obj)
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    return web.Response(body=text.encode("utf-8"), status=status, headers=all_headers)


NOT_FOUND = {"detail": "Not Found"}


MAX_RECORDED = 1000


class Simulator:
    """The simulated server: endpoints, engine metrics and the record of chat requests."""

    def __init__(self, config: SimConfig | None = None):
        self.config = config or SimConfig()
        self.requests: list[dict] = []
        self.last_token_sent_at: float | None = None
        self.first_token_sent_at: float | None = None
        self.finish_sent_at: float | None = None
        self.base_url = ""
        self.metrics = EngineMetrics(self.config.model, self.config.max_model_len)
        self.created = int(time.time())
        self._runner: web.AppRunner | None = None
        self.active: set[asyncio.Task] = set()

    # -- lifecycle ---------------------------------------------------------------------

    def make_app(self) -> web.Application:
        """The aiohttp application with every route of both profiles."""
        from .chat import handle_chat

        async def chat(request: web.Request) -> web.StreamResponse:
            return await handle_chat(self, request)

        app = web.Application(middlewares=[self._errors_mw, self._auth_mw, self._count_mw],
                              client_max_size=256 * 1024**2)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/health", self._health)
        app.router.add_get("/version", self._version)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_post("/tokenize", self._tokenize)
        app.router.add_post("/extras/tokenize", self._extras_tokenize)
        app.router.add_post("/extras/tokenize/count", self._extras_tokenize)
        app.router.add_post("/v1/chat/completions", chat)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on host:port (0 = any free port) and return the base URL ending in /v1."""
        self._runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        await web.SockSite(self._runner, sock).start()
        self.base_url = f"http://{host}:{sock.getsockname()[1]}/v1"
        return self.base_url

    async def stop(self) -> None:
        """Stop listening and end every open reply."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            for task in list(self.active):
                task.cancel()
            await runner.cleanup()

    @property
    def is_vllm(self) -> bool:
        """True when imitating vLLM, False for llama-cpp-python."""
        return self.config.profile != "llamacpp"

    # -- middlewares -------------------------------------------------------------------

    @web.middleware
    async def _errors_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Unknown routes and methods answer like FastAPI."""
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return json_response(NOT_FOUND, 404)
        except web.HTTPMethodNotAllowed:
            return json_response({"detail": "Method Not Allowed"}, 405)

    @web.middleware
    async def _auth_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """With an api_key, /v1 routes need `Authorization: Bearer <key>` (vLLM's middleware)."""
        key = self.config.api_key
        if key is not None and (request.path.startswith("/v1") or request.path.startswith("/extras")):
            scheme, _, given = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or given != key:
                if self.is_vllm:
                    return json_response({"error": "Unauthorized"}, 401)
                return json_response({"detail": "Invalid API key"}, 401)
        return await handler(request)

    @web.middleware
    async def _count_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Count handled requests in http_requests_total (not /health or /metrics)."""
        resp = await handler(request)
        info = request.match_info.route.resource
        path = info.canonical if info is not None else None
        if path and path not in ("/health", "/metrics") and self.is_vllm:
            self.metrics.count_http(path, request.method, resp.status)
        return resp

    # -- simple endpoints --------------------------------------------------------------

    async def _models(self, request: web.Request) -> web.Response:
        """GET /v1/models."""
        cfg = self.config
        if self.is_vllm:
            return json_response(formats.vllm_models(cfg.served_models(), self.created, cfg.max_model_len))
        return json_response(formats.llamacpp_models(cfg.served_models()))

    async def _health(self, request: web.Request) -> web.Response:
        """GET /health: 200 with an empty body (vLLM only)."""
        if not self.is_vllm:
            return json_response(NOT_FOUND, 404)
        return web.Response(status=200)

    async def _version(self, request: web.Request) -> web.Response:
        """GET /version (vLLM only)."""
        if not self.is_vllm:
            return json_response(NOT_FOUND, 404)
        return json_response({"version": VLLM_VERSION})

    async def _metrics(self, request: web.Request) -> web.Response:
        """GET /metrics: Prometheus text (vLLM only)."""
        if not self.is_vllm:
            return json_response(NOT_FOUND, 404)
        return web.Response(body=self.metrics.render(), headers={"Content-Type": METRICS_CONTENT_TYPE})

    def model_not_found(self, model: object) -> web.Response:
        """vLLM's 404 for an unknown model."""
        aliases = ", ".join(self.config.served_models())
        body = formats.vllm_error(f"The model `{model}` does not exist. Valid aliases: {aliases}.",
                                  "NotFoundError", "model", 404)
        return json_response(body, 404)

    async def _tokenize(self, request: web.Request) -> web.Response:
        """POST /tokenize with a prompt or chat messages; never enforces max_model_len (vLLM only)."""
        if not self.is_vllm:
            return json_response(NOT_FOUND, 404)
        try:
            body = json.loads(await request.read())
        except ValueError as exc:
            return json_response(formats.validation_error(
                "json_invalid", f"body.{getattr(exc, 'pos', 0)}", "JSON decode error", "<dict of 0 items>",
                {"error": getattr(exc, "msg", str(exc))}), 400)
        if not isinstance(body, dict):
            return json_response(formats.validation_error(
                "model_attributes_type", "body", "Input should be a valid dictionary", body), 400)
        model = body.get("model")
        if model is not None and model not in self.config.served_models():
            return self.model_not_found(model)
        if isinstance(body.get("messages"), list):
            text = tokens.render_template(body["messages"], bool(body.get("add_generation_prompt", True)))
            pieces = tokens.split_template(text)
        elif isinstance(body.get("prompt"), str):
            pieces = tokens.split(body["prompt"])
        else:
            return json_response(formats.validation_error(
                "missing", "body.prompt", "Field required", body), 400)
        strs = pieces if body.get("return_token_strs") else None
        return json_response({"count": len(pieces), "max_model_len": self.config.max_model_len,
                              "tokens": tokens.ids(pieces), "token_strs": strs})

    async def _extras_tokenize(self, request: web.Request) -> web.Response:
        """POST /extras/tokenize[/count] (llama-cpp-python only)."""
        if self.is_vllm:
            return json_response(NOT_FOUND, 404)
        try:
            body = json.loads(await request.read())
            text = body["input"]
            pieces = tokens.split(text if isinstance(text, str) else "")
        except (ValueError, KeyError, TypeError):
            return web.Response(status=500, text="Internal Server Error")
        if request.path.endswith("/count"):
            return json_response({"count": len(pieces)})
        return json_response({"tokens": tokens.ids(pieces)})


class SimulatorThread:
    """A Simulator on its own event loop in a daemon thread."""

    def __init__(self, config: SimConfig | None = None):
        """`config` None serves the --demo lineup (SimConfig.demo())."""
        self.simulator = Simulator(config or SimConfig.demo())
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The running simulator's base URL."""
        return self.simulator.base_url

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start the thread, block until the server listens, and return its base URL."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.simulator.start(host, port))
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.simulator.stop())
                loop.close()

        self._thread = threading.Thread(target=run, name="zorac-simulator", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self.simulator.base_url

    def stop(self) -> None:
        """Stop the server and join the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.simulator.stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._thread = None
