"""Wire formats of the simulated servers: SSE chunks, replies and errors as vLLM 0.32 and llama-cpp-python send them."""

from __future__ import annotations

import json
import secrets
import uuid
from http import HTTPStatus
from typing import Any

SYSTEM_FINGERPRINT = "vllm-0.32.0-3acbd06e"
DONE = b"data: [DONE]\n\n"
_ERROR_TYPES = {400: "BadRequestError", 401: "UnauthorizedError", 403: "PermissionDeniedError",
                404: "NotFoundError", 409: "ConflictError", 422: "UnprocessableEntityError",
                429: "RateLimitError", 500: "InternalServerError", 501: "NotImplementedError",
                503: "ServiceUnavailableError"}


def compact(obj: Any) -> str:
    """JSON the way vLLM (pydantic / starlette) writes it: no spaces, UTF-8 kept."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def vllm_error(message: str, type_: str, param: str | None, code: int) -> dict:
    """A vLLM error body."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def default_fault_body(status: int) -> dict:
    """vLLM-shaped error body for an injected HTTP status."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    type_ = _ERROR_TYPES.get(status, phrase.replace(" ", "") + "Error")
    return vllm_error(f"{phrase} (simulated fault)", type_, None, status)


def validation_error(kind: str, loc: str, msg: str, value: Any, ctx: dict | None = None) -> dict:
    """vLLM's 400 body for a request-schema error."""
    detail: dict[str, Any] = {"type": kind, "loc": loc, "msg": msg, "input": value}
    if ctx is not None:
        detail["ctx"] = ctx
    return vllm_error(f"1 validation error:\n  {detail!r}", "Bad Request", loc, 400)


def vllm_chat_id() -> str:
    """vLLM's completion id: chatcmpl-<16 hex>."""
    return "chatcmpl-" + secrets.token_hex(8)


def llamacpp_chat_id() -> str:
    """llama-cpp-python's completion id: chatcmpl-<uuid4>."""
    return f"chatcmpl-{uuid.uuid4()}"


class VllmStream:
    """Builds the SSE events of one vLLM streamed reply.

    With `parser` set (a server started with --reasoning-parser), every usage object carries
    `completion_tokens_details: {"reasoning_tokens": 0}` — 0 however much was reasoning, as vLLM 0.32
    sends it — and the separate finish chunk of a reply that ended in its reasoning has an empty delta
    (`chat_stream_reasoning.sse`; one that ended in content has `{"content":""}`).
    """

    def __init__(self, rid: str, created: int, model: str, prompt_tokens: int,
                 include_usage: bool, continuous: bool, parser: bool = False):
        """Prepare the parts every chunk of this reply shares."""
        self.prompt_tokens = prompt_tokens
        self.include_usage = include_usage
        self.continuous = include_usage and continuous
        self.parser = parser
        self.head = (f'data: {{"id":"{rid}","object":"chat.completion.chunk","created":{created},'
                     f'"model":{compact(model)},"choices":')
        self._choice_head = self.head + '[{"index":0,"delta":'

    def _usage(self, completion: int, details: bool) -> str:
        """The usage object for a running count."""
        p = self.prompt_tokens
        if self.parser:
            tail = ',"completion_tokens_details":{"reasoning_tokens":0}'
        else:
            tail = ',"completion_tokens_details":null' if details else ""
        return f'{{"prompt_tokens":{p},"total_tokens":{p + completion},"completion_tokens":{completion}{tail}}}'

    def role(self) -> bytes:
        """The first chunk: role and empty content."""
        usage = f',"usage":{self._usage(0, True)}' if self.continuous else ""
        return (self.head + '[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,'
                f'"finish_reason":null}}]{usage},"prompt_token_ids":null,"prompt_text":null}}\n\n').encode()

    def content(self, text: str, completion: int, finish: str | None = None, key: str = "content") -> bytes:
        """A content chunk (or a `key` chunk: "reasoning", "reasoning_content"); completion is the running
        completion token count after it."""
        return self._chunk(f'{{"{key}":{json.dumps(text, ensure_ascii=False)}}}', completion, finish)

    def _chunk(self, delta: str, completion: int, finish: str | None) -> bytes:
        """A chunk with one choice holding `delta` (JSON text)."""
        if finish is None:
            mid = '},"logprobs":null,"finish_reason":null,"token_ids":null}]'
        else:
            mid = f'}},"logprobs":null,"finish_reason":"{finish}","stop_reason":null,"token_ids":null}}]'
        if self.continuous:
            tail = f',"usage":{self._usage(completion, True)}}}\n\n'
        elif finish is not None and not self.include_usage:
            tail = f',"system_fingerprint":"{SYSTEM_FINGERPRINT}"}}\n\n'
        else:
            tail = "}\n\n"
        return (self._choice_head + delta[:-1] + mid + tail).encode()

    def stop(self, completion: int, reason: str = "stop", empty: bool = False) -> bytes:
        """The separate finish chunk of a reply that ended by itself (or by `reason` on a token with no text);
        `empty`: a reasoning parser had nothing to say for it (the reply ended in thinking, or on `</think>`)."""
        return self._chunk("{}" if empty and self.parser else '{"content":""}', completion, reason)

    def usage(self, completion: int) -> bytes:
        """The final include_usage chunk with empty choices."""
        if not self.include_usage:
            return b""
        return (self.head + f'[],"usage":{self._usage(completion, False)},'
                f'"system_fingerprint":"{SYSTEM_FINGERPRINT}"}}\n\n').encode()


class LlamaCppStream:
    """Builds the SSE events of one llama-cpp-python streamed reply (json.dumps default style)."""

    def __init__(self, rid: str, created: int, model: str):
        """Prepare the parts every chunk of this reply shares."""
        self.head = (f'data: {{"id": "{rid}", "model": {json.dumps(model)}, "created": {created}, '
                     '"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": ')

    def role(self) -> bytes:
        """The first chunk: role only."""
        return (self.head + '{"role": "assistant"}, "logprobs": null, "finish_reason": null}]}\n\n').encode()

    def content(self, text: str, key: str = "content") -> bytes:
        """A content chunk (or a `key` chunk: "reasoning_content")."""
        return (self.head + f'{{"{key}": ' + json.dumps(text)
                + '}, "logprobs": null, "finish_reason": null}]}\n\n').encode()

    def finish(self, reason: str) -> bytes:
        """The separate finish chunk with an empty delta."""
        return (self.head + f'{{}}, "logprobs": null, "finish_reason": "{reason}"}}]}}\n\n').encode()


def vllm_completion(rid: str, created: int, model: str, text: str, finish: str,
                    prompt: int, completion: int, with_usage: bool = True, reasoning: str | None = None) -> dict:
    """A vLLM non-streaming chat completion."""
    usage = {"prompt_tokens": prompt, "total_tokens": prompt + completion, "completion_tokens": completion,
             "prompt_tokens_details": None, "completion_tokens_details": None} if with_usage else None
    return {
        "id": rid, "object": "chat.completion", "created": created, "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text, "refusal": None, "annotations": None,
                        "audio": None, "function_call": None, "reasoning": reasoning},
            "logprobs": None, "finish_reason": finish, "stop_reason": None, "token_ids": None,
            "routed_experts": None,
        }],
        "service_tier": None, "system_fingerprint": SYSTEM_FINGERPRINT, "usage": usage,
        "prompt_logprobs": None, "prompt_token_ids": None, "prompt_text": None,
        "kv_transfer_params": None, "ec_transfer_params": None, "metrics": None,
    }


def llamacpp_completion(rid: str, created: int, model: str, text: str, finish: str,
                        prompt: int, completion: int) -> dict:
    """A llama-cpp-python non-streaming chat completion."""
    return {
        "id": rid, "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": 0, "message": {"content": text, "role": "assistant"},
                     "logprobs": None, "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }


def vllm_models(ids: list[str], created: int, max_model_len: int) -> dict:
    """GET /v1/models as vLLM answers it."""
    data = []
    for mid in ids:
        data.append({
            "id": mid, "object": "model", "created": created, "owned_by": "vllm", "root": mid,
            "parent": None, "max_model_len": max_model_len,
            "permission": [{
                "id": "modelperm-" + secrets.token_hex(8), "object": "model_permission", "created": created,
                "allow_create_engine": False, "allow_sampling": True, "allow_logprobs": True,
                "allow_search_indices": False, "allow_view": True, "allow_fine_tuning": False,
                "organization": "*", "group": None, "is_blocking": False,
            }],
        })
    return {"object": "list", "data": data}


def llamacpp_models(ids: list[str]) -> dict:
    """GET /v1/models as llama-cpp-python answers it (no max_model_len)."""
    return {"object": "list",
            "data": [{"id": mid, "object": "model", "owned_by": "me", "permissions": []} for mid in ids]}
