"""ChatClient against replayed real vLLM 0.32 / llama-cpp-python responses over real HTTP."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest
from replay import SSE_TYPE, ReplayServer, Reply, fixture_bytes, sse_reply, sse_text, wrapped_reply

from zorac_tui.server.client import ChatClient
from zorac_tui.server.events import Delta, Failed, FailureKind, Finished, Recast, Started, Usage

MESSAGES = [
    {"role": "system", "content": "You are helpful."},
    {"role": "user", "content": "Write one short sentence about the sea."},
]
KEY = "sk-SECRET-0123456789"
CHAT = "/v1/chat/completions"


async def collect(reply: Reply, api_key: str | None = KEY, **kw: object) -> tuple[list, ReplayServer]:
    """Serve `reply` on the chat route and collect every event of one stream."""
    async with ReplayServer() as srv:
        srv.set("POST", CHAT, reply)
        client = ChatClient(srv.base_url, api_key, **kw)  # type: ignore[arg-type]
        try:
            events = [e async for e in client.stream(MESSAGES, model="smollm2", max_tokens=40, temperature=0)]
        finally:
            await client.aclose()
    return events, srv


def chunk_start(data: bytes, marker: bytes) -> int:
    """Offset of the `data: ` line holding `marker`."""
    return data.rindex(b"data: ", 0, data.index(marker))


def text_of(events: list) -> str:
    """The reply text: all Delta texts joined."""
    return "".join(e.text for e in events if isinstance(e, Delta))


def check_shape(events: list) -> None:
    """Exactly one terminal event, last; Started (if any) first; times non-decreasing."""
    terminal = [e for e in events if isinstance(e, (Finished, Failed))]
    assert len(terminal) == 1 and events[-1] is terminal[0]
    starts = [e for e in events if isinstance(e, Started)]
    assert len(starts) <= 1
    if starts:
        assert events[0] is starts[0]
    times = [e.at for e in events]
    assert times == sorted(times)
    for e in events:
        if isinstance(e, Delta):
            assert e.text  # never an empty piece
        if isinstance(e, Failed):
            assert "\n" not in e.message and e.message
            assert KEY not in e.message and KEY not in (e.detail or "")


STREAMS = [
    ("vllm", "chat_stream_usage.sse", "stop", Usage(26, 26, 52)),
    ("vllm", "chat_stream_include_usage_only.sse", "stop", Usage(26, 26, 52)),
    ("vllm", "chat_stream_plain.sse", "stop", None),
    ("vllm", "chat_stream_stop.sse", "stop", Usage(43, 8, 51)),
    ("vllm", "chat_stream_length.sse", "length", Usage(26, 8, 34)),
    ("llamacpp", "chat_stream_usage.sse", "stop", None),
    ("llamacpp", "chat_stream_plain.sse", "stop", None),
    ("llamacpp", "chat_stream_stop.sse", "stop", None),
    ("llamacpp", "chat_stream_length.sse", "length", None),
]


@pytest.mark.parametrize(("flavor", "name", "reason", "usage"), STREAMS)
async def test_captured_streams(flavor: str, name: str, reason: str, usage: Usage | None) -> None:
    events, _ = await collect(sse_reply(flavor, name))
    check_shape(events)
    assert isinstance(events[0], Started) and events[0].model == "smollm2"
    assert text_of(events) == sse_text(fixture_bytes(flavor, name))
    assert text_of(events).startswith("The sea is") or name == "chat_stream_stop.sse"
    end = events[-1]
    assert isinstance(end, Finished)
    assert end.reason == reason
    assert end.usage == usage


async def test_length_text_by_eye() -> None:
    events, _ = await collect(sse_reply("vllm", "chat_stream_length.sse"))
    assert text_of(events) == "The sea is a vast and mysterious realm"
    assert len([e for e in events if isinstance(e, Delta)]) == 8


async def test_continuous_usage_on_every_delta() -> None:
    events, _ = await collect(sse_reply("vllm", "chat_stream_usage.sse"))
    deltas = [e for e in events if isinstance(e, Delta)]
    assert [d.completion_tokens for d in deltas] == list(range(1, len(deltas) + 1))
    assert {d.prompt_tokens for d in deltas} == {26}


async def test_no_running_usage_without_continuous_stats() -> None:
    events, _ = await collect(sse_reply("vllm", "chat_stream_include_usage_only.sse"))
    deltas = [e for e in events if isinstance(e, Delta)]
    assert deltas and all(d.completion_tokens is None and d.prompt_tokens is None for d in deltas)


async def test_request_body_and_auth_header() -> None:
    _, srv = await collect(sse_reply("vllm", "chat_stream_usage.sse"))
    (req,) = srv.requests
    body = req.json()
    assert body["stream"] is True and body["model"] == "smollm2"
    assert body["messages"] == MESSAGES
    assert body["stream_options"] == {"include_usage": True, "continuous_usage_stats": True}
    assert body["max_tokens"] == 40 and body["temperature"] == 0
    assert req.headers["Authorization"] == f"Bearer {KEY}"


async def test_no_key_does_not_send_openai_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    events, srv = await collect(sse_reply("vllm", "chat_stream_plain.sse"), api_key=None)
    assert isinstance(events[-1], Finished)
    assert "sk-from-env" not in srv.requests[0].headers.get("Authorization", "")
    body = srv.requests[0].json()
    assert "max_tokens" in body


async def test_base_url_without_v1_and_proxy_env_ignored_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:1")
    async with ReplayServer() as srv:
        srv.set("POST", CHAT, sse_reply("vllm", "chat_stream_length.sse"))
        client = ChatClient(srv.root_url + "/")
        events = [e async for e in client.stream(MESSAGES, model="smollm2")]
        await client.aclose()
    assert isinstance(events[-1], Finished), events[-1]
    assert "max_tokens" not in srv.requests[0].json()


# --- HTTP error fixtures -------------------------------------------------------------------


async def test_vllm_context_length_stream_is_context() -> None:
    for name in ("error_context_length_stream.json", "error_context_length.json"):
        events, _ = await collect(wrapped_reply("vllm", name))
        check_shape(events)
        assert len(events) == 1  # no Started: the headers carried an error status
        fail = events[0]
        assert fail.kind is FailureKind.CONTEXT and fail.status == 400
        assert "maximum context length is 4096 tokens" in fail.message
        assert fail.detail is not None and fail.detail.endswith("(parameter=input_tokens, value=4097)")


async def test_llamacpp_context_length_json_is_context() -> None:
    events, _ = await collect(wrapped_reply("llamacpp", "error_context_length.json"))
    fail = events[-1]
    assert fail.kind is FailureKind.CONTEXT and fail.status == 400
    assert "you requested 56070 tokens" in fail.message


async def test_llamacpp_overflow_stream_ends_without_any_event() -> None:
    events, _ = await collect(wrapped_reply("llamacpp", "error_context_length_stream.json"))
    check_shape(events)
    assert isinstance(events[0], Started)
    fail = events[-1]
    assert fail.kind is FailureKind.TRUNCATED
    assert "closed the stream without a reply" in fail.message
    assert "context window" in fail.message


async def test_vllm_max_tokens_is_http_400() -> None:
    events, _ = await collect(wrapped_reply("vllm", "error_max_tokens_stream.json"))
    fail = events[-1]
    assert fail.kind is FailureKind.HTTP and fail.status == 400
    assert fail.message.startswith("HTTP 400: max_tokens=100000 cannot be greater than max_model_len=4096.")


async def test_vllm_bad_model_is_404_with_server_list() -> None:
    events, _ = await collect(wrapped_reply("vllm", "error_bad_model.json"))
    fail = events[-1]
    assert fail.kind is FailureKind.HTTP and fail.status == 404
    assert "The model `no-such-model` does not exist. Valid aliases: smollm2." in fail.message
    assert "model name" in fail.message


@pytest.mark.parametrize("name", ["error_validation.json", "error_invalid_json.json"])
async def test_vllm_bad_request(name: str) -> None:
    events, _ = await collect(wrapped_reply("vllm", name))
    check_shape(events)
    fail = events[-1]
    assert fail.kind is FailureKind.HTTP and fail.status == 400
    assert fail.message.startswith("HTTP 400: 1 validation error: {")
    assert "rejected" in fail.message


async def test_llamacpp_plain_text_500() -> None:
    events, _ = await collect(wrapped_reply("llamacpp", "error_invalid_json.json"))
    fail = events[-1]
    assert fail.kind is FailureKind.HTTP and fail.status == 500
    assert fail.message == "HTTP 500: Internal Server Error — server error; see the server's log"


async def test_llamacpp_traceback_500_is_one_line_with_full_detail() -> None:
    events, _ = await collect(wrapped_reply("llamacpp", "error_validation.json"))
    check_shape(events)
    fail = events[-1]
    assert fail.kind is FailureKind.HTTP and fail.status == 500
    assert "Input should be a valid list" in fail.message and len(fail.message) < 300
    assert "llama_cpp/server/app.py" in (fail.detail or "")


@pytest.mark.parametrize(
    ("status", "body", "ctype", "words"),
    [
        (401, b'{"error": "Unauthorized"}', "application/json", ["HTTP 401: Unauthorized", "ZORAC_API_KEY"]),
        (403, b"", "text/plain", ["HTTP 403", "API key"]),
        (429, b'{"error": {"message": "Too many requests"}}', "application/json", ["busy"]),
        (503, b"Service Unavailable", "text/plain", ["HTTP 503: Service Unavailable", "server's log"]),
        (404, b'{"detail": "Not Found"}', "application/json", ["HTTP 404: Not Found", "/v1"]),
        (502, b"<html><body>Bad gateway</body></html>", "text/html", ["HTTP 502 —"]),
    ],
)
async def test_status_hints(status: int, body: bytes, ctype: str, words: list[str]) -> None:
    events, _ = await collect(Reply(body=body, status=status, content_type=ctype))
    check_shape(events)
    fail = events[-1]
    assert fail.kind is FailureKind.HTTP and fail.status == status
    for word in words:
        assert word in fail.message


# --- transport faults ----------------------------------------------------------------------


def free_port() -> int:
    """A TCP port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_connection_refused() -> None:
    base = f"http://127.0.0.1:{free_port()}/v1"
    client = ChatClient(base, KEY)
    events = [e async for e in client.stream(MESSAGES, model="smollm2")]
    await client.aclose()
    check_shape(events)
    (fail,) = events
    assert fail.kind is FailureKind.UNREACHABLE and fail.status is None
    assert fail.message.startswith(f"Cannot reach the server at {base} — is vLLM running?")


async def test_bad_url_is_unreachable_not_exception() -> None:
    client = ChatClient("localhost:8000", KEY)
    events = [e async for e in client.stream(MESSAGES, model="smollm2")]
    await client.aclose()
    assert len(events) == 1 and events[0].kind is FailureKind.UNREACHABLE


async def test_dropped_mid_reply_counts_server_tokens() -> None:
    data = fixture_bytes("vllm", "chat_stream_usage.sse")
    cut = data.index(b'"content":" realm"')  # inside the 9th chunk: 8 tokens arrived whole
    events, _ = await collect(sse_reply("vllm", "chat_stream_usage.sse", cut_after=cut))
    check_shape(events)
    assert text_of(events) == "The sea is a vast and mysterious"
    fail = events[-1]
    assert fail.kind is FailureKind.DROPPED
    assert "after 7 tokens" in fail.message and "partial reply is kept" in fail.message


async def test_dropped_without_server_counts_says_approx() -> None:
    data = fixture_bytes("llamacpp", "chat_stream_plain.sse")
    cut = data.index(b'"content": " vast"')
    events, _ = await collect(sse_reply("llamacpp", "chat_stream_plain.sse", cut_after=cut))
    fail = events[-1]
    assert fail.kind is FailureKind.DROPPED and "after ≈4 tokens" in fail.message


async def test_cut_after_finish_reason_is_still_finished() -> None:
    data = fixture_bytes("vllm", "chat_stream_length.sse")
    cut = data.index(b'data: {"id":"chatcmpl-852930895d54d66d","object":"chat.completion.chunk","created":1795439151,"model":"smollm2","choices":[],')
    events, _ = await collect(sse_reply("vllm", "chat_stream_length.sse", cut_after=cut))
    end = events[-1]
    assert isinstance(end, Finished) and end.reason == "length" and end.usage is None


async def test_clean_end_without_finish_is_truncated() -> None:
    data = fixture_bytes("vllm", "chat_stream_plain.sse")
    cut = chunk_start(data, b'"content":" realm"')
    events, _ = await collect(Reply(body=data[:cut], content_type=SSE_TYPE))
    fail = events[-1]
    assert fail.kind is FailureKind.TRUNCATED
    assert fail.message.startswith("The stream ended without a finish reason after ≈7 tokens")


async def test_stall_mid_reply() -> None:
    data = fixture_bytes("vllm", "chat_stream_usage.sse")
    cut = chunk_start(data, b'"content":" realm"')
    t0 = time.perf_counter()
    events, _ = await collect(sse_reply("vllm", "chat_stream_usage.sse", stall_after=cut), stall_timeout=0.3)
    assert time.perf_counter() - t0 < 3
    check_shape(events)
    assert text_of(events) == "The sea is a vast and mysterious"
    fail = events[-1]
    assert fail.kind is FailureKind.STALLED
    assert fail.message.startswith("No tokens for 0.3 s — the server may be overloaded")
    assert "7 tokens" in fail.message


async def test_stall_before_headers() -> None:
    t0 = time.perf_counter()
    events, _ = await collect(sse_reply("vllm", "chat_stream_usage.sse", delay_headers=5), stall_timeout=0.3)
    assert time.perf_counter() - t0 < 3
    (fail,) = events
    assert fail.kind is FailureKind.STALLED and fail.message.startswith("No tokens for 0.3 s")


async def test_stall_before_first_token() -> None:
    events, _ = await collect(sse_reply("vllm", "chat_stream_usage.sse", stall_after=0), stall_timeout=0.3)
    assert isinstance(events[0], Started)
    assert events[-1].kind is FailureKind.STALLED and len(events) == 2


async def test_malformed_json_keeps_partial_text() -> None:
    data = fixture_bytes("vllm", "chat_stream_usage.sse")
    at = chunk_start(data, b'"content":" vast"')
    body = data[:at] + b"data: {not json\n\n" + data[at:]
    events, _ = await collect(Reply(body=body, content_type=SSE_TYPE))
    check_shape(events)
    assert text_of(events) == "The sea is a"
    fail = events[-1]
    assert fail.kind is FailureKind.MALFORMED
    assert fail.message == "The server sent a chunk that is not valid JSON after 4 tokens; the partial reply is kept"
    assert "{not json" in (fail.detail or "")


@pytest.mark.parametrize(
    "line",
    [
        b"data: [1, 2]",
        b'data: {"choices": "x"}',
        b'data: {"choices": [{"delta": {"content": 5}}]}',
        b'data: {"choices": [7]}',
        b'data: {"choices": [], "usage": {"completion_tokens": "many"}}',
    ],
)
async def test_wrong_shape_is_malformed(line: bytes) -> None:
    events, _ = await collect(Reply(body=line + b"\n\ndata: [DONE]\n\n", content_type=SSE_TYPE))
    check_shape(events)
    assert events[-1].kind is FailureKind.MALFORMED
    assert events[-1].message.startswith("The server sent a")


async def test_error_event_mid_stream() -> None:
    data = fixture_bytes("vllm", "chat_stream_plain.sse")
    at = chunk_start(data, b'"content":" vast"')
    err = {"error": {"message": "engine dead", "type": "InternalServerError", "code": 500}}
    body = data[:at] + b"data: " + json.dumps(err).encode() + b"\n\n"
    events, _ = await collect(Reply(body=body, content_type=SSE_TYPE))
    fail = events[-1]
    assert text_of(events) == "The sea is a"
    assert fail.kind is FailureKind.HTTP and fail.status == 500
    assert "engine dead" in fail.message


async def test_json_instead_of_stream_is_malformed() -> None:
    events, _ = await collect(Reply(body=b'{"choices": []}', content_type="application/json"))
    assert isinstance(events[0], Started) and events[-1].kind is FailureKind.MALFORMED


# --- cancellation and secrets --------------------------------------------------------------


async def test_cancel_propagates_and_closes_response() -> None:
    async with ReplayServer() as srv:
        srv.set("POST", CHAT, sse_reply("vllm", "chat_stream_usage.sse", piece_delay=0.2))
        client = ChatClient(srv.base_url, KEY)
        got: list = []
        first = asyncio.Event()

        async def consume() -> None:
            async for event in client.stream(MESSAGES, model="smollm2"):
                got.append(event)
                if isinstance(event, Delta):
                    first.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(first.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not any(isinstance(e, (Finished, Failed)) for e in got)
        for _ in range(50):
            if srv.disconnects:
                break
            await asyncio.sleep(0.05)
        assert srv.disconnects == 1
        # the client stays usable after a cancel
        srv.set("POST", CHAT, sse_reply("vllm", "chat_stream_length.sse"))
        events = [e async for e in client.stream(MESSAGES, model="smollm2")]
        assert isinstance(events[-1], Finished)
        await client.aclose()


async def test_breaking_out_early_closes_response() -> None:
    async with ReplayServer() as srv:
        srv.set("POST", CHAT, sse_reply("vllm", "chat_stream_usage.sse", piece_delay=0.2))
        client = ChatClient(srv.base_url, KEY)
        gen = client.stream(MESSAGES, model="smollm2")
        async for event in gen:
            if isinstance(event, Delta):
                break
        await gen.aclose()
        for _ in range(50):
            if srv.disconnects:
                break
            await asyncio.sleep(0.05)
        assert srv.disconnects == 1
        await client.aclose()


async def test_api_key_never_leaks() -> None:
    echo = json.dumps({"error": {"message": f"Invalid API key {KEY}\nfor user"}}).encode()
    events, _ = await collect(Reply(body=echo, status=401))
    fail = events[-1]
    assert fail.kind is FailureKind.HTTP and fail.status == 401
    assert KEY not in fail.message and KEY not in (fail.detail or "")
    assert "***" in fail.message
    assert KEY not in repr(ChatClient("http://127.0.0.1:1/v1", KEY))


# --- thinking (reasoning models) -----------------------------------------------------------


def thinking_of(events: list) -> str:
    """The thinking text: Delta texts marked thinking, joined (a Recast moves the answer so far over)."""
    thinking, answer = "", ""
    for e in events:
        if isinstance(e, Recast):
            thinking, answer = thinking + answer, ""
        elif isinstance(e, Delta):
            if e.thinking:
                thinking += e.text
            else:
                answer += e.text
    return thinking


def answer_of(events: list) -> str:
    """The answer text once every Recast is applied."""
    answer = ""
    for e in events:
        if isinstance(e, Recast):
            answer = ""
        elif isinstance(e, Delta) and not e.thinking:
            answer += e.text
    return answer


def reasoning_chunks() -> list[dict]:
    """The JSON chunks of the captured vLLM reasoning stream."""
    data = fixture_bytes("vllm", "chat_stream_reasoning.sse")
    return [json.loads(b[6:]) for b in data.split(b"\n\n") if b.startswith(b"data: {")]


def body_from(chunks: list[dict]) -> bytes:
    """An SSE body of compact JSON chunks, ending in [DONE]."""
    events = [b"data: " + json.dumps(c, separators=(",", ":")).encode() + b"\n\n" for c in chunks]
    return b"".join(events) + b"data: [DONE]\n\n"


def content_stream(pieces: list[str]) -> bytes:
    """The captured reasoning stream with its thinking replaced by `pieces` sent as `content`, counts kept per
    chunk (the shape of a server without a reasoning parser)."""
    chunks = reasoning_chunks()
    role, template, stop, usage = chunks[0], chunks[1], chunks[-2], chunks[-1]
    out = [role]
    for i, piece in enumerate(pieces, 1):
        chunk = json.loads(json.dumps(template))
        chunk["choices"][0]["delta"] = {"content": piece}
        chunk["usage"].update(completion_tokens=i, total_tokens=40 + i)
        out.append(chunk)
    n = len(pieces) + 1
    for end in (stop, usage):
        end = json.loads(json.dumps(end))
        end["usage"].update(completion_tokens=n, total_tokens=40 + n)
        out.append(end)
    return body_from(out)


async def test_vllm_reasoning_field_is_thinking_and_counts_add_up() -> None:
    events, _ = await collect(sse_reply("vllm", "chat_stream_reasoning.sse"))
    check_shape(events)
    deltas = [e for e in events if isinstance(e, Delta)]
    assert deltas and all(d.thinking for d in deltas)
    assert thinking_of(events) == "The capital of Italy is Rome." and answer_of(events) == ""
    assert [d.completion_tokens for d in deltas] == list(range(1, 8))
    end = events[-1]
    # The server says reasoning_tokens 0 although all 8 were reasoning: only its completion count is used.
    assert isinstance(end, Finished) and end.reason == "stop" and end.usage == Usage(40, 8, 48)


async def test_reasoning_content_field_is_thinking_too() -> None:
    chunks = reasoning_chunks()
    for chunk in chunks:
        for choice in chunk["choices"]:
            if "reasoning" in choice["delta"]:
                choice["delta"] = {"reasoning_content": choice["delta"]["reasoning"]}
    chunks.insert(-2, {**chunks[-3], "choices": [{"index": 0, "delta": {"content": "Rome."}}]})
    events, _ = await collect(Reply(body=body_from(chunks), content_type=SSE_TYPE))
    check_shape(events)
    assert thinking_of(events) == "The capital of Italy is Rome." and answer_of(events) == "Rome."


async def test_inline_tags_split_across_chunks() -> None:
    pieces = ["<thi", "nk>\n", "Italy", "'s capital", " is Rome.", "\n</", "think", ">\n\n", "Rome", "."]
    events, _ = await collect(Reply(body=content_stream(pieces), content_type=SSE_TYPE))
    check_shape(events)
    assert thinking_of(events) == "Italy's capital is Rome.\n" and answer_of(events) == "Rome."
    assert not any(isinstance(e, Recast) for e in events)
    first_answer = next(e for e in events if isinstance(e, Delta) and not e.thinking)
    assert first_answer.completion_tokens == 9  # the "\n\n" after the tag was dropped, its count was not


async def test_thinking_end_and_answer_in_one_chunk_share_its_count() -> None:
    events, _ = await collect(Reply(body=content_stream(["<think>Hmm", ".</think>Rome", " it is."]),
                                    content_type=SSE_TYPE))
    deltas = [(e.thinking, e.text, e.completion_tokens) for e in events if isinstance(e, Delta)]
    assert deltas == [(True, "Hmm", 1), (True, ".", 2), (False, "Rome", 2), (False, " it is.", 3)]


async def test_a_reply_that_starts_inside_thinking_is_recast() -> None:
    events, _ = await collect(Reply(body=content_stream(["Okay", ", Rome", ".\n</think>", "\n\n", "Rome", "."]),
                                    content_type=SSE_TYPE))
    check_shape(events)
    recasts = [i for i, e in enumerate(events) if isinstance(e, Recast)]
    assert len(recasts) == 1
    before = [e for e in events[: recasts[0]] if isinstance(e, Delta)]
    assert "".join(d.text for d in before) == "Okay, Rome" and not any(d.thinking for d in before)
    assert thinking_of(events) == "Okay, Rome.\n" and answer_of(events) == "Rome."


async def test_an_all_thinking_reply_cut_mid_tag_keeps_the_held_text() -> None:
    body = content_stream(["<think>", "Rome", " </th"])
    cut = body.index(b'"finish_reason":"stop"')  # the connection drops before the finish chunk
    events, _ = await collect(Reply(body=body, content_type=SSE_TYPE, cut_after=cut))
    check_shape(events)
    assert thinking_of(events) == "Rome </th" and answer_of(events) == ""
    fail = events[-1]
    assert fail.kind is FailureKind.DROPPED and "after 3 tokens" in fail.message


async def test_thinking_stopped_by_max_tokens_is_finished_length() -> None:
    chunks = reasoning_chunks()[:-2]
    chunks[-1]["choices"][0]["finish_reason"] = "length"
    events, _ = await collect(Reply(body=body_from(chunks), content_type=SSE_TYPE))
    end = events[-1]
    assert isinstance(end, Finished) and end.reason == "length"
    assert thinking_of(events) == "The capital of Italy is Rome." and answer_of(events) == ""


async def test_captured_inline_closing_tag_split_over_three_tokens_is_recast() -> None:
    events, _ = await collect(sse_reply("vllm", "chat_stream_reasoning_inline_close.sse"))
    check_shape(events)
    assert sum(isinstance(e, Recast) for e in events) == 1
    assert thinking_of(events) == "I think."
    assert answer_of(events).startswith("This is a common idiomatic expression")  # the blank lines dropped
    deltas = [e for e in events if isinstance(e, Delta)]
    assert [d.completion_tokens for d in deltas] == sorted(d.completion_tokens for d in deltas)
    assert isinstance(events[-1], Finished) and events[-1].usage.completion_tokens == 34
