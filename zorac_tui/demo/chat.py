"""POST /v1/chat/completions of the simulator: validation, reply planning and precisely paced streaming."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import answers, formats, thinking, tokens
from .simulator import MAX_RECORDED, Faults, SimConfig, json_response

if TYPE_CHECKING:
    from .simulator import Simulator

COARSE_S = 0.0015       # loop-sleep until this close to a deadline, then sleep precisely
YIELD_EVERY = 16        # when behind schedule, give the loop a turn every this many tokens
MALFORMED = b"data: {not json\n\n"
_perf = time.perf_counter


class Disconnected(Exception):
    """The client went away (or a fault closed the connection)."""


@dataclass
class Plan:
    """What one chat request will produce: one piece per token; `kinds` has a letter per piece
    ("t" thinking, "s" a token with no text of its own, "a" answer) and `field` names the delta
    field thinking goes in (None: no thinking, or thinking inline in content)."""

    model: str
    prompt_ids: list[int]
    pieces: list[str]
    finish: str
    max_tokens: int
    stream: bool
    include_usage: bool
    continuous: bool
    kinds: str = ""
    field: str | None = None

    @property
    def prompt_tokens(self) -> int:
        """Prompt tokens after the chat template."""
        return len(self.prompt_ids)


def last_user_text(messages: list[dict]) -> str:
    """Text of the last user message (or of the last message of any role)."""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return tokens.content_text(message.get("content"))
    return tokens.content_text(messages[-1].get("content")) if messages else ""


def reply_pieces(cfg: SimConfig, messages: list[dict], eos: int, model: str = "",
                 llamacpp: bool = False) -> tuple[list[str], str, str | None]:
    """(pieces, kinds, thinking field) of the reply before max_tokens applies (see Plan)."""
    question = last_user_text(messages)
    text = cfg.reply_text if cfg.reply_text is not None else answers.choose(question)
    pieces = tokens.split(text)
    if cfg.answer_tokens is not None:
        pieces = tokens.take(pieces, max(0, cfg.answer_tokens - eos))
    n = cfg.thinking_tokens
    if n == 0 or (n is None and model not in cfg.reasoning_models):
        return pieces, "a" * len(pieces), None
    thought = tokens.split(thinking.thinking_for(question, text))
    if n is not None:
        thought = tokens.take(thought, n)
    # Qwen3 and DeepSeek-R1 end their thinking so, then answer; a reply with no answer ends inside its thinking.
    end = ["</think>", "\n\n"] if pieces else []
    if cfg.thinking_format in ("tags", "close-tag"):
        head = ["<think>", "\n"] if cfg.thinking_format == "tags" else []
        inline = head + thought + end + pieces
        return inline, "a" * len(inline), None
    field = cfg.thinking_format if cfg.thinking_format != "field" else (
        "reasoning_content" if llamacpp else "reasoning")
    # With a reasoning parser, vLLM sends no chunk for the `</think>` token itself; its count shows on the next.
    return thought + end + pieces, "t" * len(thought) + ("s" + "a" * (1 + len(pieces)) if pieces else ""), field


def _bad(body: dict, status: int = 400) -> web.Response:
    """A compact JSON error response."""
    return json_response(body, status)


def _validate_vllm(sim: Simulator, cfg: SimConfig, body: Any) -> Plan | web.Response:
    """vLLM's checks, in its order; a Plan when the request is served."""
    if not isinstance(body, dict):
        return _bad(formats.validation_error("model_attributes_type", "body",
                                             "Input should be a valid dictionary", body))
    messages = body.get("messages")
    if "messages" not in body:
        return _bad(formats.validation_error("missing", "body.messages", "Field required", body))
    if not isinstance(messages, list):
        return _bad(formats.validation_error("list_type", "body.messages", "Input should be a valid list",
                                             messages))
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m:
            return _bad(formats.validation_error("model_attributes_type", f"body.messages.{i}",
                                                 "Input should be a valid dictionary", m))
    if body.get("stream_options") and not body.get("stream"):
        msg = "Stream options can only be defined when `stream=True`."
        return _bad(formats.vllm_error(msg, "Bad Request", "stream_options", 400))
    model = body.get("model") or cfg.model
    if model not in cfg.served_models():
        return sim.model_not_found(model)
    requested = body.get("max_completion_tokens", body.get("max_tokens"))
    if requested is not None and (not isinstance(requested, int) or isinstance(requested, bool) or requested < 1):
        return _bad(formats.vllm_error(f"max_tokens must be at least 1, got {requested}.",
                                       "BadRequestError", "max_tokens", 400))
    prompt_ids = tokens.ids(tokens.split_template(tokens.render_template(messages)))
    limit = cfg.max_model_len
    if len(prompt_ids) >= limit:
        msg = (f"This model's maximum context length is {limit} tokens. However, your prompt contains at least "
               f"{limit + 1} input tokens, which exceeds this limit even without any output tokens. Please "
               f"reduce the length of the input prompt. (parameter=input_tokens, value={limit + 1})")
        return _bad(formats.vllm_error(msg, "BadRequestError", "input_tokens", 400))
    if requested is not None and requested > limit:
        msg = (f"max_tokens={requested} cannot be greater than max_model_len={limit}. Please request fewer "
               f"output tokens. (parameter=max_tokens, value={requested})")
        return _bad(formats.vllm_error(msg, "BadRequestError", "max_tokens", 400))
    max_tokens = min(requested or limit, limit - len(prompt_ids))
    options = body.get("stream_options") or {}
    stream = bool(body.get("stream"))
    no_usage = cfg.faults.no_usage
    return _finish_plan(cfg, model, messages, prompt_ids, max_tokens, stream,
                        include_usage=stream and not no_usage and bool(options.get("include_usage")),
                        continuous=stream and not no_usage and bool(options.get("continuous_usage_stats")),
                        eos=1)


def _validate_llamacpp(cfg: SimConfig, body: Any) -> Plan | web.Response:
    """llama-cpp-python's checks: few, and its failures are 500s."""
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        detail = {"type": "list_type", "loc": ("body", "messages"), "msg": "Input should be a valid list",
                  "input": messages}
        msg = (f"1 validation error:\n  {detail!r}\n\n  File \"llama_cpp/server/app.py\", line 376, in "
               "create_chat_completion\n    POST /v1/chat/completions")
        return _bad({"error": {"message": msg, "type": "internal_server_error", "param": None, "code": None}}, 500)
    model = body.get("model") or cfg.model
    requested = body.get("max_tokens")
    prompt_ids = tokens.ids(tokens.split_template(tokens.render_template(messages)))
    n_ctx = cfg.max_model_len
    stream = bool(body.get("stream"))
    if len(prompt_ids) >= n_ctx:
        if stream:
            return Plan(model, prompt_ids, [], "overflow", 0, True, False, False, "")
        total = (requested or 0) + len(prompt_ids)
        msg = (f"This model's maximum context length is {n_ctx} tokens. However, you requested {total} tokens "
               f"({len(prompt_ids)} in the messages, {requested} in the completion). Please reduce the length "
               "of the messages or completion.")
        return _bad({"error": {"message": msg, "type": "invalid_request_error", "param": "messages",
                               "code": "context_length_exceeded"}})
    if not isinstance(requested, int) or requested < 1:
        requested = n_ctx
    max_tokens = min(requested, n_ctx - len(prompt_ids))
    return _finish_plan(cfg, model, messages, prompt_ids, max_tokens, stream, False, False, eos=0, llamacpp=True)


def _finish_plan(cfg: SimConfig, model: str, messages: list[dict], prompt_ids: list[int], max_tokens: int,
                 stream: bool, include_usage: bool, continuous: bool, eos: int, llamacpp: bool = False) -> Plan:
    """Cut the reply to max_tokens (thinking included) and decide the finish reason."""
    pieces, kinds, field = reply_pieces(cfg, messages, eos, model, llamacpp)
    if max_tokens < len(pieces) + 1:
        pieces, kinds, finish = pieces[:max_tokens], kinds[:max_tokens], "length"
    else:
        finish = "stop"
    return Plan(model, prompt_ids, pieces, finish, max_tokens, stream, include_usage, continuous, kinds, field)


async def handle_chat(sim: Simulator, request: web.Request) -> web.StreamResponse:
    """Serve one chat completion request."""
    t0 = _perf()
    cfg = sim.config
    faults = cfg.faults
    if faults.once:
        cfg.faults = Faults()
    raw = await request.read()
    try:
        body = json.loads(raw)
    except ValueError as exc:
        if not sim.is_vllm:
            return web.Response(status=500, text="Internal Server Error")
        return _bad(formats.validation_error(
            "json_invalid", f"body.{getattr(exc, 'pos', 0)}", "JSON decode error", "<dict of 0 items>",
            {"error": getattr(exc, "msg", str(exc))}))
    if isinstance(body, dict):
        sim.requests.append(body)
        if len(sim.requests) > MAX_RECORDED:
            del sim.requests[: len(sim.requests) - MAX_RECORDED]
    if faults.http_status is not None:
        return json_response(faults.http_body or formats.default_fault_body(faults.http_status),
                             faults.http_status)
    plan = _validate_vllm(sim, cfg, body) if sim.is_vllm else _validate_llamacpp(cfg, body)
    if isinstance(plan, web.StreamResponse):
        return plan
    task = asyncio.current_task()
    if task is not None:
        sim.active.add(task)
    try:
        return await Reply(sim, request, cfg, faults, plan, t0).run()
    finally:
        sim.active.discard(task)  # type: ignore[arg-type]


class Reply:
    """One reply being generated: timing, faults, metrics and the writes."""

    def __init__(self, sim: Simulator, request: web.Request, cfg: SimConfig, faults: Faults, plan: Plan,
                 t0: float):
        self.sim, self.request, self.faults, self.plan, self.t0 = sim, request, faults, plan, t0
        self.rate = max(float(cfg.rate), 1e-6)
        self.t_first = t0 + max(float(cfg.ttft), 0.0)
        self.shift = 0.0
        self.sent = 0
        self.resp: web.StreamResponse | None = None
        self.pending = b""
        self.vllm = sim.is_vllm
        rid = formats.vllm_chat_id() if self.vllm else formats.llamacpp_chat_id()
        self.rid, self.created = rid, int(time.time())
        if self.vllm:
            self.fmt: Any = formats.VllmStream(rid, self.created, plan.model, plan.prompt_tokens,
                                               plan.include_usage, plan.continuous, parser=plan.field is not None)
        else:
            self.fmt = formats.LlamaCppStream(rid, self.created, plan.model)
        self.tracked = sim.metrics.admit(plan.prompt_tokens, plan.max_tokens, t0) if self.vllm else None
        self.completion = 0

    async def run(self) -> web.StreamResponse:
        """Generate, stream (or hold back) and account for the reply."""
        plan, reason = self.plan, "abort"
        try:
            if plan.stream:
                await self._open_stream()
                if plan.finish == "overflow":
                    raise self._drop()
            await self._generate()
            reason = plan.finish
            if plan.stream:
                await self._write(self._tail(), flush=True)
                await self.resp.write_eof()  # type: ignore[union-attr]
                return self.resp  # type: ignore[return-value]
            return self._whole_reply()
        except (Disconnected, ConnectionResetError):
            return self.resp or web.Response(status=499)
        finally:
            if self.tracked is not None:
                ids = plan.prompt_ids + tokens.ids(plan.pieces[: self.sent])
                self.sim.metrics.finish(self.tracked, reason, ids, _perf())

    async def _open_stream(self) -> None:
        """Send the 200 status and SSE headers."""
        headers = {"Content-Type": "text/event-stream; charset=utf-8"}
        if not self.vllm:
            headers.update({"cache-control": "no-store", "x-accel-buffering": "no",
                            "openai-processing-ms": "1", "x-request-id": self.rid[9:].replace("-", "")})
        self.resp = web.StreamResponse(status=200, headers=headers)
        await self.resp.prepare(self.request)

    def _drop(self) -> Disconnected:
        """Close the connection abruptly: no terminating chunk, no [DONE]."""
        transport = self.request.transport
        if transport is not None:
            transport.close()
        return Disconnected()

    async def _write(self, data: bytes, flush: bool = False) -> None:
        """Queue bytes for the client and send them now when flush is set (non-streams: no-op)."""
        if self.resp is None:
            return
        self.pending += data
        if flush and self.pending:
            data, self.pending = self.pending, b""
            await self.resp.write(data)

    async def _wait(self, target: float) -> None:
        """Wait for target on the absolute schedule: loop sleep for the bulk, a blocking sleep for the last ms."""
        transport = self.request.transport
        if transport is None or transport.is_closing():
            raise Disconnected()
        delay = target - _perf()
        if delay <= 0:
            if self.sent % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)
            return
        if delay > COARSE_S:
            await asyncio.sleep(delay - COARSE_S)
        else:
            await asyncio.sleep(0)
        remaining = target - _perf()
        if remaining > 0:
            time.sleep(remaining)  # noqa: ASYNC251 - sub-millisecond pacing; under 2 ms, releases the GIL

    async def _faults_at(self, final: bool = False) -> None:
        """Apply the faults due after `sent` content tokens (final: no token slot follows)."""
        f, n = self.faults, self.sent
        if f.malformed_at_token == n and self.plan.stream:
            await self._write(MALFORMED)
        if f.stall_at_token == n and f.stall_seconds > 0:
            self.shift += f.stall_seconds
            if final:
                await asyncio.sleep(f.stall_seconds)
        if f.drop_at_token == n:
            raise self._drop()

    async def _generate(self) -> None:
        """Produce every token slot on schedule: t_first + shift + i / rate."""
        plan, fmt = self.plan, self.fmt
        eos_slot = self.vllm and plan.finish == "stop"
        slots = len(plan.pieces) + (1 if eos_slot else 0)
        if plan.stream:
            self.pending = fmt.role()
        for i in range(slots):
            await self._faults_at()
            await self._wait(self.t_first + self.shift + i / self.rate)
            self.completion += 1
            if i < len(plan.pieces):
                await self._token(i, plan.finish if i == slots - 1 and plan.finish == "length" else None)
            else:
                await self._write(fmt.stop(self.completion, empty=plan.kinds[-1:] == "t"), flush=True)
            self._account(i, _perf())
        if not eos_slot:
            await self._faults_at(final=True)

    async def _token(self, i: int, finish: str | None) -> None:
        """Send the chunk of token i: answer, thinking, or none for a token with no text of its own."""
        plan, fmt = self.plan, self.fmt
        kind = plan.kinds[i] if i < len(plan.kinds) else "a"
        if kind == "s":
            if finish is not None and plan.stream and self.vllm:
                await self._write(fmt.stop(self.completion, finish, empty=True), flush=True)
            return
        key = plan.field if kind == "t" and plan.field else "content"
        if plan.stream:
            if self.vllm:
                await self._write(fmt.content(plan.pieces[i], self.completion, finish, key), flush=True)
            else:
                await self._write(fmt.content(plan.pieces[i], key), flush=True)
        self.sent += 1
        now = _perf()
        self.sim.last_token_sent_at = now
        if i == 0:
            self.sim.first_token_sent_at = now

    def _account(self, i: int, now: float) -> None:
        """Engine metrics for the token in slot i."""
        if self.tracked is None:
            return
        if i == 0:
            self.sim.metrics.first_token(self.tracked, self.plan.prompt_ids, now)
        else:
            self.sim.metrics.token(self.tracked, now)

    def _tail(self) -> bytes:
        """Everything after the last token: finish chunk (llama.cpp), usage chunk (vLLM), [DONE]."""
        self.sim.finish_sent_at = _perf()
        if self.vllm:
            return self.fmt.usage(self.completion) + formats.DONE
        return self.fmt.finish(self.plan.finish) + formats.DONE

    def _whole_reply(self) -> web.Response:
        """The non-streaming response body (thinking in `message.reasoning` when a parser would split it)."""
        plan = self.plan
        kinds = plan.kinds or "a" * len(plan.pieces)
        text = "".join(p for p, k in zip(plan.pieces, kinds) if k == "a")
        thought = "".join(p for p, k in zip(plan.pieces, kinds) if k == "t") or None
        if self.vllm:
            body = formats.vllm_completion(self.rid, self.created, plan.model, text, plan.finish,
                                           plan.prompt_tokens, self.completion, not self.faults.no_usage, thought)
            return json_response(body)
        body = formats.llamacpp_completion(self.rid, self.created, plan.model, text, plan.finish,
                                           plan.prompt_tokens, self.completion)
        if thought is not None:
            body["choices"][0]["message"]["reasoning_content"] = thought
        rid_hex = self.rid[9:].replace("-", "")
        return json_response(body, headers={"openai-processing-ms": str(int((_perf() - self.t0) * 1000)),
                                            "x-request-id": rid_hex})
