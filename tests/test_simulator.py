"""The demo simulator against the captured vLLM 0.32 and llama-cpp-python responses in tests/fixtures."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from zorac_tui.demo import answers, tokens
from zorac_tui.demo.simulator import Faults, SimConfig, Simulator, SimulatorThread

FIX = Path(__file__).resolve().parent / "fixtures"
MODEL = "stelterlab/Mistral-Small-24B-Instruct-2501-AWQ"
SEA = "The sea is a vast and mysterious realm that exists beneath the waves."
MESSAGES = [{"role": "system", "content": "You are helpful."},
            {"role": "user", "content": "Write one short sentence about the sea."}]
USAGE_OPTS = {"include_usage": True, "continuous_usage_stats": True}


# -- helpers ---------------------------------------------------------------------------


def fixture_events(profile: str, name: str) -> list[Any]:
    """Parsed events of a captured SSE body."""
    return parse_sse((FIX / profile / name).read_text())


def fixture_body(profile: str, name: str) -> dict:
    """A wrapped capture: request/status/content_type/body."""
    return json.loads((FIX / profile / name).read_text())


def parse_sse(text: str) -> list[Any]:
    """Events of an SSE body: parsed JSON, or the string "[DONE]" (asserts the framing)."""
    assert text == "" or text.endswith("\n\n")
    out: list[Any] = []
    for block in text.split("\n\n")[:-1]:
        assert block.startswith("data: "), block
        payload = block[6:]
        out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


def raw_lines(text: str) -> list[str]:
    """The JSON payloads of an SSE body as sent."""
    return [b[6:] for b in text.split("\n\n")[:-1] if b != "data: [DONE]"]


def skeleton(value: Any) -> Any:
    """Key names in order and value types, recursively; list items by their first element."""
    if isinstance(value, dict):
        return [(k, skeleton(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [skeleton(value[0])] if value else []
    return type(value).__name__


def kind(chunk: dict) -> str:
    """role / content / stop / length / usage."""
    if not chunk["choices"]:
        return "usage"
    choice = chunk["choices"][0]
    if "role" in choice["delta"]:
        return "role"
    return choice["finish_reason"] or "content"


def by_kind(events: list[Any]) -> dict[str, dict]:
    """First chunk of each kind."""
    out: dict[str, dict] = {}
    for e in events:
        if isinstance(e, dict):
            out.setdefault(kind(e), e)
    return out


def shape_kinds(events: list[Any]) -> list[str]:
    """Sequence of kinds with runs of content collapsed."""
    seq: list[str] = []
    for e in events:
        k = e if isinstance(e, str) else kind(e)
        if not (seq and seq[-1] == k == "content"):
            seq.append(k)
    return seq


def body(stream: bool = True, **extra: Any) -> dict:
    """A chat request like the captured ones."""
    return {"model": MODEL, "messages": MESSAGES, "max_tokens": 40, "temperature": 0, "stream": stream, **extra}


@pytest.fixture
async def sim():
    """A fast simulator on the test's event loop."""
    s = Simulator(SimConfig(rate=20000, ttft=0.0, reply_text=SEA))
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
async def http():
    """An aiohttp client session."""
    async with aiohttp.ClientSession() as session:
        yield session


async def post(http: aiohttp.ClientSession, url: str, payload: Any) -> tuple[int, str, str]:
    """POST JSON (or raw text) and return status, content-type, body text."""
    data = payload if isinstance(payload, str) else json.dumps(payload)
    async with http.post(url, data=data, headers={"Content-Type": "application/json"}) as r:
        return r.status, r.headers.get("Content-Type", ""), await r.text()


def root(s: Simulator) -> str:
    """Server root without /v1."""
    return s.base_url[: -len("/v1")]


async def metric(http: aiohttp.ClientSession, s: Simulator, name: str, **labels: str) -> float:
    """One sample from /metrics."""
    async with http.get(root(s) + "/metrics") as r:
        text = await r.text()
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} {labels} not in /metrics")


async def metric_until(http: aiohttp.ClientSession, s: Simulator, name: str, ok: Any, timeout: float = 5.0,
                       **labels: str) -> float:
    """Poll one sample from /metrics until `ok(value)`; the value (fail after `timeout` s)."""
    deadline = time.monotonic() + timeout
    while not ok(value := await metric(http, s, name, **labels)):
        assert time.monotonic() < deadline, f"{name} {labels} stayed at {value}"
        await asyncio.sleep(0.02)
    return value


# -- vLLM streaming shape ----------------------------------------------------------------


@pytest.mark.parametrize("fixture,opts", [
    ("chat_stream_usage.sse", USAGE_OPTS),
    ("chat_stream_include_usage_only.sse", {"include_usage": True}),
    ("chat_stream_plain.sse", None),
])
async def test_vllm_stream_matches_fixture(sim, http, fixture, opts):
    extra = {"stream_options": opts} if opts else {}
    async with http.post(sim.base_url + "/chat/completions", json=body(**extra)) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        assert r.headers.get("Transfer-Encoding") == "chunked"
        text = await r.text()
    ours, theirs = parse_sse(text), fixture_events("vllm", fixture)
    assert shape_kinds(ours) == shape_kinds(theirs)
    mine, real = by_kind(ours), by_kind(theirs)
    assert set(mine) == set(real)
    for k in real:
        assert skeleton(mine[k]) == skeleton(real[k]), k
    for line in raw_lines(text):  # compact JSON, UTF-8 kept, exactly as pydantic writes it
        assert line == json.dumps(json.loads(line), separators=(",", ":"), ensure_ascii=False)
    ids = {e["id"] for e in ours if isinstance(e, dict)}
    assert len(ids) == 1 and re.fullmatch(r"chatcmpl-[0-9a-f]{16}", ids.pop())
    text_out = "".join(e["choices"][0]["delta"].get("content", "") for e in ours
                       if isinstance(e, dict) and e["choices"])
    assert text_out == SEA
    assert all(e["choices"][0]["delta"]["content"] for e in ours if isinstance(e, dict) and kind(e) == "content")


async def test_vllm_continuous_usage_counts(sim, http):
    async with http.post(sim.base_url + "/chat/completions", json=body(stream_options=USAGE_OPTS)) as r:
        events = [e for e in parse_sse(await r.text()) if isinstance(e, dict)]
    assert all("usage" in e for e in events)
    counts = [e["usage"]["completion_tokens"] for e in events]
    assert counts[0] == 0 and counts[:-1] == list(range(len(counts) - 1))
    final = events[-1]["usage"]
    content_chunks = sum(1 for e in events if kind(e) == "content")
    assert final["completion_tokens"] == counts[-2] == content_chunks + 1  # the EOS token counts, like vLLM
    assert final["prompt_tokens"] == tokens.count_messages(MESSAGES)
    assert final["total_tokens"] == final["prompt_tokens"] + final["completion_tokens"]
    assert "completion_tokens_details" not in final and events[0]["usage"]["completion_tokens_details"] is None


async def test_vllm_stop_and_length_placement(sim, http):
    async with http.post(sim.base_url + "/chat/completions", json=body(stream_options={"include_usage": True})) as r:
        stop = parse_sse(await r.text())
    assert shape_kinds(stop) == shape_kinds(fixture_events("vllm", "chat_stream_stop.sse"))
    finish = by_kind(stop)["stop"]["choices"][0]
    assert finish["delta"] == {"content": ""} and finish["stop_reason"] is None
    async with http.post(sim.base_url + "/chat/completions",
                         json=body(max_tokens=8, stream_options={"include_usage": True})) as r:
        length = parse_sse(await r.text())
    real = fixture_events("vllm", "chat_stream_length.sse")
    assert shape_kinds(length) == shape_kinds(real) == ["role", "content", "length", "usage", "[DONE]"]
    assert skeleton(by_kind(length)["length"]) == skeleton(by_kind(real)["length"])
    assert by_kind(length)["length"]["choices"][0]["delta"]["content"]  # finish rides on a content chunk
    assert length[-2]["usage"]["completion_tokens"] == 8
    assert sum(1 for e in length if isinstance(e, dict) and e["choices"] and e["choices"][0]["delta"].get("content")) == 8


async def test_vllm_nonstream_and_models_shape(sim, http):
    status, ctype, text = await post(http, sim.base_url + "/chat/completions", body(stream=False))
    assert status == 200 and ctype == "application/json"
    real = json.loads((FIX / "vllm" / "chat_nonstream.json").read_text())
    mine = json.loads(text)
    assert skeleton(mine) == skeleton(real)
    assert mine["choices"][0]["message"]["content"] == SEA and mine["choices"][0]["finish_reason"] == "stop"
    assert mine["usage"]["completion_tokens"] == tokens.count(SEA) + 1
    async with http.get(sim.base_url + "/models") as r:
        models = await r.json()
    assert skeleton(models) == skeleton(json.loads((FIX / "vllm" / "models.json").read_text()))
    assert models["data"][0]["max_model_len"] == 16384 and models["data"][0]["owned_by"] == "vllm"
    async with http.get(root(sim) + "/health") as r:
        assert r.status == 200 and await r.read() == b""
    async with http.get(root(sim) + "/version") as r:
        assert await r.text() == (FIX / "vllm" / "version.json").read_text().strip()


# -- vLLM errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
async def test_vllm_context_length_error(sim, http, stream):
    sim.config.max_model_len = 4096
    long_messages = [{"role": "user", "content": "word " * 5000}]
    status, ctype, text = await post(http, sim.base_url + "/chat/completions",
                                     {"model": MODEL, "messages": long_messages, "max_tokens": 40, "stream": stream})
    name = "error_context_length_stream.json" if stream else "error_context_length.json"
    real = fixture_body("vllm", name)
    assert status == real["status"] == 400 and ctype == real["content_type"]
    assert json.loads(text) == real["body"]  # same limit, same words: byte-equal message


@pytest.mark.parametrize("stream", [False, True])
async def test_vllm_max_tokens_error(sim, http, stream):
    sim.config.max_model_len = 4096
    status, ctype, text = await post(http, sim.base_url + "/chat/completions", body(stream=stream, max_tokens=100000))
    real = fixture_body("vllm", "error_max_tokens_stream.json" if stream else "error_max_tokens.json")
    assert status == real["status"] and ctype == real["content_type"]
    assert json.loads(text) == real["body"]


async def test_vllm_bad_model_validation_and_invalid_json(sim, http):
    url = sim.base_url + "/chat/completions"
    status, _, text = await post(http, url, {**body(), "model": "no-such-model"})
    real = fixture_body("vllm", "error_bad_model.json")
    assert status == 404
    assert json.loads(text) == json.loads(json.dumps(real["body"]).replace("smollm2", MODEL))
    status, _, text = await post(http, url, {**body(), "messages": "not-a-list"})
    assert status == 400 and json.loads(text) == fixture_body("vllm", "error_validation.json")["body"]
    status, ctype, text = await post(http, url, json.dumps(body())[:34])
    real = fixture_body("vllm", "error_invalid_json.json")
    err = json.loads(text)["error"]
    assert status == 400 and ctype == "application/json"
    assert skeleton(json.loads(text)) == skeleton(real["body"])
    assert err["type"] == "Bad Request" and err["param"].startswith("body.") and "JSON decode error" in err["message"]


async def test_vllm_max_tokens_clamped_to_context(sim, http):
    sim.config.max_model_len = 300
    sim.config.answer_tokens = 1000
    msgs = [{"role": "user", "content": "tell me more " * 60}]
    prompt = tokens.count_messages(msgs)
    assert 150 < prompt < 300
    status, _, text = await post(http, sim.base_url + "/chat/completions",
                                 {"model": MODEL, "messages": msgs, "max_tokens": 200})
    usage = json.loads(text)["usage"]
    real = fixture_body("vllm", "prompt_plus_max_tokens_over_limit.json")["body"]
    assert status == 200 and json.loads(text)["choices"][0]["finish_reason"] == real["choices"][0]["finish_reason"]
    assert usage["completion_tokens"] == 300 - prompt and usage["total_tokens"] == 300


async def test_vllm_tokenize(sim, http):
    status, _, text = await post(http, root(sim) + "/tokenize", {"model": MODEL, "prompt": "Hello world"})
    real = json.loads((FIX / "vllm" / "tokenize_prompt.raw.json").read_text())
    mine = json.loads(text)
    assert status == 200 and skeleton(mine) == skeleton(real)
    assert mine["count"] == real["count"] == 2 and len(mine["tokens"]) == 2
    msgs = {"model": MODEL, "messages": MESSAGES, "add_generation_prompt": True}
    _, _, text = await post(http, root(sim) + "/tokenize", msgs)
    count = json.loads(text)["count"]
    async with http.post(sim.base_url + "/chat/completions",
                         json=body(stream_options={"include_usage": True})) as r:
        usage = parse_sse(await r.text())[-2]["usage"]
    assert count == usage["prompt_tokens"]
    sim.config.max_model_len = 4096  # /tokenize never enforces max_model_len
    _, _, text = await post(http, root(sim) + "/tokenize",
                            {"model": MODEL, "messages": [{"role": "user", "content": "word " * 5000}]})
    assert json.loads(text)["count"] > 4096
    assert json.loads(text)["max_model_len"] == 4096


async def test_api_key(http):
    s = Simulator(SimConfig(api_key="sekrit", rate=20000, ttft=0))
    await s.start()
    try:
        async with http.get(s.base_url + "/models") as r:
            assert r.status == 401 and await r.text() == '{"error":"Unauthorized"}'
        async with http.get(root(s) + "/health") as r:
            assert r.status == 200
        async with http.get(s.base_url + "/models", headers={"Authorization": "Bearer sekrit"}) as r:
            assert r.status == 200
    finally:
        await s.stop()


# -- metrics ------------------------------------------------------------------------------


async def test_metrics_families_and_counters(sim, http):
    async with http.get(root(sim) + "/metrics") as r:
        text = await r.text()
    real = (FIX / "vllm" / "metrics_after.txt").read_text()
    families = {ln.split()[2] for ln in real.splitlines() if ln.startswith("# TYPE vllm:")}
    assert families <= {ln.split()[2] for ln in text.splitlines() if ln.startswith("# TYPE vllm:")}
    info = next(ln for ln in text.splitlines() if ln.startswith("vllm:cache_config_info{"))
    real_info = next(ln for ln in real.splitlines() if ln.startswith("vllm:cache_config_info{"))
    keys = re.compile(r'(\w+)="')
    assert keys.findall(info) == keys.findall(real_info)
    assert 'block_size="16"' in info and 'num_gpu_blocks="3276"' in info
    assert 'kv_cache_memory_bytes="8589934592"' in info and 'gpu_memory_utilization="0.92"' in info
    assert f'model_name="{MODEL}"' in text and 'engine="0"' in text

    before_gen = await metric(http, sim, "vllm:generation_tokens_total")
    before_prompt = await metric(http, sim, "vllm:prompt_tokens_total")
    before_stop = await metric(http, sim, "vllm:request_success_total", finished_reason="stop")
    async with http.post(sim.base_url + "/chat/completions", json=body(stream_options={"include_usage": True})) as r:
        usage = parse_sse(await r.text())[-2]["usage"]
    assert await metric(http, sim, "vllm:generation_tokens_total") == before_gen + usage["completion_tokens"]
    assert await metric(http, sim, "vllm:prompt_tokens_total") == before_prompt + usage["prompt_tokens"]
    assert await metric(http, sim, "vllm:request_success_total", finished_reason="stop") == before_stop + 1
    assert await metric(http, sim, "vllm:time_to_first_token_seconds_count") == 1
    assert await metric(http, sim, "vllm:inter_token_latency_seconds_count") == usage["completion_tokens"] - 1
    assert await metric(http, sim, "vllm:e2e_request_latency_seconds_count") == 1
    assert await metric(http, sim, "vllm:prefix_cache_queries_total") == usage["prompt_tokens"]
    assert await metric(http, sim, "http_requests_total", handler="/v1/chat/completions", status="2xx") == 1


async def test_metrics_running_kv_usage_and_prefix_hits(sim, http):
    sim.config.rate, sim.config.answer_tokens = 200, 400
    big = [{"role": "user", "content": "explain the kv cache " * 200}]
    async with http.post(sim.base_url + "/chat/completions", json={"model": MODEL, "messages": big, "stream": True}) as r:
        await r.content.readline()
        assert await metric(http, sim, "vllm:num_requests_running") == 1
        prompt = tokens.count_messages(big)
        usage = await metric_until(http, sim, "vllm:kv_cache_usage_perc", lambda v: v > prompt / 52416)
        assert usage < (prompt + 400) / 52416 + 0.01  # the prompt and some generated tokens
    # the client left early: the server counts an abort
    await metric_until(http, sim, "vllm:num_requests_running", lambda v: v == 0)
    assert await metric(http, sim, "vllm:kv_cache_usage_perc") == 0
    assert await metric(http, sim, "vllm:request_success_total", finished_reason="abort") == 1
    sim.config.rate = 20000
    for _ in range(2):  # the same prompt twice: the second one hits the prefix cache
        await post(http, sim.base_url + "/chat/completions", {"model": MODEL, "messages": big, "max_tokens": 5})
    hits = await metric(http, sim, "vllm:prefix_cache_hits_total")
    assert hits >= (prompt // 16 - 1) * 16


# -- llama-cpp-python profile -------------------------------------------------------------------


@pytest.fixture
async def llama():
    """A fast simulator with the llama-cpp-python profile."""
    s = Simulator(SimConfig(profile="llamacpp", rate=20000, ttft=0.0, reply_text=SEA, max_model_len=4096))
    await s.start()
    yield s
    await s.stop()


async def test_llamacpp_endpoints(llama, http):
    for line in (FIX / "llamacpp" / "endpoint_status.txt").read_text().split("\n"):
        if not line.strip():
            continue
        path, code = line.split()
        method = http.post if path == "/tokenize" else http.get
        url = (llama.base_url + path[3:]) if path.startswith("/v1") else root(llama) + path
        async with method(url) as r:
            assert r.status == int(code), path
    async with http.get(llama.base_url + "/models") as r:
        models = await r.json()
    assert skeleton(models) == skeleton(json.loads((FIX / "llamacpp" / "models.json").read_text()))
    assert "max_model_len" not in models["data"][0]
    _, _, text = await post(http, root(llama) + "/extras/tokenize", {"input": "Hello world"})
    assert json.loads(text).keys() == fixture_body("llamacpp", "tokenize_prompt.json")["body"].keys()
    _, _, text = await post(http, root(llama) + "/extras/tokenize/count", {"input": "Hello world"})
    assert json.loads(text) == fixture_body("llamacpp", "tokenize_count.json")["body"]


@pytest.mark.parametrize("fixture,max_tokens", [("chat_stream_stop.sse", 40), ("chat_stream_length.sse", 8)])
async def test_llamacpp_stream_matches_fixture(llama, http, fixture, max_tokens):
    payload = body(max_tokens=max_tokens, stream_options=USAGE_OPTS)  # stream_options is ignored
    async with http.post(llama.base_url + "/chat/completions", json=payload) as r:
        assert r.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        assert r.headers["x-accel-buffering"] == "no"
        text = await r.text()
    ours, theirs = parse_sse(text), fixture_events("llamacpp", fixture)
    assert shape_kinds(ours) == shape_kinds(theirs)
    for k, real in by_kind(theirs).items():
        assert skeleton(by_kind(ours)[k]) == skeleton(real), k
    assert not any("usage" in e for e in ours if isinstance(e, dict))
    assert ours[-2]["choices"][0]["delta"] == {}
    for line in raw_lines(text):
        assert line == json.dumps(json.loads(line))
    assert re.fullmatch(r"chatcmpl-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", ours[0]["id"])


async def test_llamacpp_nonstream_and_errors(llama, http):
    url = llama.base_url + "/chat/completions"
    status, _, text = await post(http, url, body(stream=False))
    real = json.loads((FIX / "llamacpp" / "chat_nonstream.json").read_text())
    assert status == 200 and skeleton(json.loads(text)) == skeleton(real)
    status, _, text = await post(http, url, {**body(stream=False), "model": "no-such-model", "max_tokens": 5})
    assert status == 200 and json.loads(text)["model"] == "no-such-model"
    assert json.loads(text)["choices"][0]["finish_reason"] == "length"
    long_req = {"model": MODEL, "messages": [{"role": "user", "content": "word " * 5000}], "max_tokens": 40}
    status, _, text = await post(http, url, long_req)
    real = fixture_body("llamacpp", "error_context_length.json")["body"]
    mine = json.loads(text)
    assert status == 400 and skeleton(mine) == skeleton(real)
    assert mine["error"]["code"] == "context_length_exceeded"
    assert re.fullmatch(r"This model's maximum context length is 4096 tokens\. However, you requested \d+ tokens "
                        r"\(\d+ in the messages, 40 in the completion\)\. Please reduce the length of the messages "
                        r"or completion\.", mine["error"]["message"])
    with pytest.raises(aiohttp.ClientPayloadError):  # 200 + SSE headers, then the body just ends
        async with http.post(url, json={**long_req, "stream": True}) as r:
            assert r.status == 200 and r.headers["Content-Type"] == "text/event-stream; charset=utf-8"
            await r.read()
    status, ctype, text = await post(http, url, json.dumps(body())[:34])
    assert (status, ctype, text) == (500, "text/plain; charset=utf-8", "Internal Server Error")
    status, _, text = await post(http, url, {**body(), "messages": "not-a-list"})
    assert status == 500 and skeleton(json.loads(text)) == skeleton(fixture_body("llamacpp", "error_validation.json")["body"])


# -- faults ------------------------------------------------------------------------------------


async def stream_events(http: aiohttp.ClientSession, s: Simulator) -> tuple[list[tuple[float, bytes]], Exception | None]:
    """Raw SSE blocks with arrival times, and the error that ended the stream if any."""
    got: list[tuple[float, bytes]] = []
    try:
        async with http.post(s.base_url + "/chat/completions", json=body(stream_options={"include_usage": True})) as r:
            async for line in r.content:
                if line.strip():
                    got.append((time.perf_counter(), line.strip()))
    except aiohttp.ClientError as exc:
        return got, exc
    return got, None


def contents(got: list[tuple[float, bytes]]) -> list[str]:
    """Non-empty content deltas among raw SSE lines."""
    out = []
    for _, line in got:
        try:
            e = json.loads(line[6:])
        except ValueError:
            continue
        if isinstance(e, dict) and e["choices"] and e["choices"][0]["delta"].get("content"):
            out.append(e["choices"][0]["delta"]["content"])
    return out


async def test_fault_drop(sim, http):
    sim.config.faults = Faults(drop_at_token=3, once=True)
    got, err = await stream_events(http, sim)
    assert isinstance(err, aiohttp.ClientPayloadError)
    assert len(contents(got)) == 3 and got[-1][1] != b"data: [DONE]"
    got, err = await stream_events(http, sim)  # once: the next request is normal again
    assert err is None and got[-1][1] == b"data: [DONE]"


async def test_fault_http_status(sim, http):
    sim.config.faults = Faults(http_status=503)
    status, ctype, text = await post(http, sim.base_url + "/chat/completions", body())
    err = json.loads(text)["error"]
    assert status == 503 and ctype == "application/json"
    assert set(err) == {"message", "type", "param", "code"} and err["code"] == 503
    sim.config.faults = Faults(http_status=429, http_body={"error": "slow down"})
    status, _, text = await post(http, sim.base_url + "/chat/completions", body())
    assert status == 429 and json.loads(text) == {"error": "slow down"}
    assert len(sim.requests) == 2 and sim.requests[0]["max_tokens"] == 40


async def test_fault_stall_malformed_no_usage(sim, http):
    sim.config.faults = Faults(stall_at_token=2, stall_seconds=0.25, once=True)
    got, err = await stream_events(http, sim)
    times = [t for t, line in got]
    assert err is None and max(b - a for a, b in zip(times, times[1:])) >= 0.24
    sim.config.faults = Faults(malformed_at_token=2, once=True)
    got, err = await stream_events(http, sim)
    lines = [line for _, line in got]
    bad = lines.index(b"data: {not json")
    assert len(contents([(0, ln) for ln in lines[:bad]])) == 2 and lines[-1] == b"data: [DONE]"
    assert "".join(contents(got)) == SEA
    sim.config.faults = Faults(no_usage=True)
    async with http.post(sim.base_url + "/chat/completions", json=body(stream_options=USAGE_OPTS)) as r:
        events = parse_sse(await r.text())
    assert not any("usage" in e for e in events if isinstance(e, dict))
    assert sim.requests[-1]["stream_options"] == USAGE_OPTS


# -- timing -------------------------------------------------------------------------------------


async def measure(http: aiohttp.ClientSession, url: str) -> tuple[float, float, int]:
    """Seconds from sending the request to the first content token and to the last chunk, and the completion
    tokens, as a client sees them."""
    sent = time.perf_counter()
    first = last = None
    usage = None
    async with http.post(url + "/chat/completions", json=body(max_tokens=None, stream_options={"include_usage": True})) as r:
        async for line in r.content:
            if not line.startswith(b"data: {"):
                continue
            now, e = time.perf_counter(), json.loads(line[6:])
            if e["choices"]:
                if first is None and e["choices"][0]["delta"].get("content"):
                    first = now
                last = now
            usage = e.get("usage") or usage
    return first - sent, last - sent, usage["completion_tokens"]


@pytest.mark.parametrize(("rate", "count"), [(60.0, 60), (2000.0, 2000)])
async def test_tokens_keep_the_schedule_of_the_configured_rate(http, rate, count):
    """Token i is sent at ttft + i / rate after the request (an absolute schedule: a late token does not delay
    the ones after it). Never early, whatever the load: strict lower bounds. Late only by what a busy machine
    adds at the end: upper bounds of a second, for streams of a second (so the rate is right to within half even
    on a loaded machine; the exact pacing arithmetic is the schedule itself)."""
    thread = SimulatorThread(SimConfig(rate=rate, ttft=0.3, answer_tokens=count))
    url = thread.start()
    try:
        ttft, total, n = await measure(http, url)
    finally:
        thread.stop()
    assert n == count
    scheduled = 0.3 + (n - 1) / rate  # the last slot (the end-of-sequence chunk)
    assert 0.3 <= ttft < 0.3 + 1.0
    assert scheduled <= total < scheduled + 1.0, (total, scheduled)
    assert thread.simulator.last_token_sent_at is not None


async def test_concurrent_streams_and_answers(sim, http):
    sim.config.reply_text = None
    sim.config.rate = 5000
    results = await asyncio.gather(*(
        post(http, sim.base_url + "/chat/completions",
             {"model": MODEL, "messages": [{"role": "user", "content": q}], "max_tokens": 2000})
        for q in ("How do I undo a git commit?", "What is the KV cache?", "hello")))
    texts = [json.loads(t)["choices"][0]["message"]["content"] for _, _, t in results]
    assert texts[0] == answers.GIT_UNDO and texts[1] == answers.KV_CACHE and texts[2] == answers.SHORT
    for a in answers.ANSWERS:
        assert 150 <= tokens.count(a) <= 700


def test_tokenizer_roundtrip_and_template():
    text = "Hello, wörld!  Ünïcode 12345 and `code_here()`\n\n- item\r\n"
    assert "".join(tokens.split(text)) == text
    assert tokens.count("Hello world") == 2
    assert tokens.count_messages(MESSAGES) == len(tokens.split_template(tokens.render_template(MESSAGES)))
    assert tokens.take(["a", "b"], 5) == ["a", "b", "\n\n", "a", "b"]


async def test_simulator_process(http):
    from zorac_tui.demo import SimulatorProcess

    proc = SimulatorProcess(SimConfig(rate=20000, ttft=0.0, answer_tokens=20, faults=Faults(no_usage=True)))
    url = proc.start()
    try:
        status, _, text = await post(http, url + "/chat/completions", {"model": MODEL, "messages": MESSAGES})
        reply = json.loads(text)
        assert status == 200 and reply["usage"] is None
        assert tokens.count(reply["choices"][0]["message"]["content"]) == 19  # + EOS = 20 completion tokens
    finally:
        proc.stop()


# -- thinking (reasoning models) -------------------------------------------------------------

QWEN = "Qwen/Qwen3-14B-AWQ"


def delta_texts(events: list[Any], key: str) -> str:
    """The joined `key` texts of every chunk's delta."""
    return "".join(e["choices"][0]["delta"].get(key, "") for e in events if isinstance(e, dict) and e["choices"])


async def stream_of(s: Simulator, http: aiohttp.ClientSession, **extra: Any) -> tuple[list[Any], str]:
    """(parsed events, raw body) of one streamed request with per-chunk usage."""
    async with http.post(s.base_url + "/chat/completions", json=body(stream_options=USAGE_OPTS, **extra)) as r:
        assert r.status == 200
        text = await r.text()
    return parse_sse(text), text


async def test_vllm_thinking_matches_the_captured_reasoning_stream_field_by_field(http):
    # The capture: 7 reasoning tokens, then the model stopped before answering (8 completion tokens).
    s = Simulator(SimConfig(rate=20000, ttft=0.0, thinking_tokens=7, answer_tokens=1))
    await s.start()
    try:
        ours, text = await stream_of(s, http)
    finally:
        await s.stop()
    theirs = fixture_events("vllm", "chat_stream_reasoning.sse")
    assert len(ours) == len(theirs)
    for mine, real in zip(ours, theirs):
        if isinstance(real, str):
            assert mine == real == "[DONE]"
            continue
        assert skeleton(mine) == skeleton(real)  # every key, in order, with its type
        if real["choices"]:
            assert mine["choices"][0]["delta"].keys() == real["choices"][0]["delta"].keys()
            assert mine["choices"][0]["finish_reason"] == real["choices"][0]["finish_reason"]
        assert mine["usage"]["completion_tokens"] == real["usage"]["completion_tokens"]
        assert mine["usage"]["completion_tokens_details"] == real["usage"]["completion_tokens_details"]
        assert mine["usage"]["total_tokens"] == mine["usage"]["prompt_tokens"] + mine["usage"]["completion_tokens"]
    assert by_kind(ours)["stop"]["choices"][0]["delta"] == {} == by_kind(theirs)["stop"]["choices"][0]["delta"]
    for line in raw_lines(text):
        assert line == json.dumps(json.loads(line), separators=(",", ":"), ensure_ascii=False)


async def test_a_reasoning_model_thinks_about_the_question_then_answers(http):
    from zorac_tui.demo.thinking import thinking_for

    s = Simulator(SimConfig(rate=20000, ttft=0.0, reasoning_models=[QWEN]))
    await s.start()
    try:
        question = "What is the KV cache?"
        messages = [{"role": "user", "content": question}]
        events, _ = await stream_of(s, http, model=QWEN, messages=messages, max_tokens=4000)
        plain, _ = await stream_of(s, http, messages=messages, max_tokens=4000)
    finally:
        await s.stop()
    thought = delta_texts(events, "reasoning")
    assert thought == thinking_for(question, answers.KV_CACHE) and 150 <= tokens.count(thought) <= 400
    assert delta_texts(events, "content") == "\n\n" + answers.KV_CACHE
    chunks = [e for e in events if isinstance(e, dict) and e["choices"]]
    keys = [next(iter(e["choices"][0]["delta"])) for e in chunks[1:-1]]
    n = tokens.count(thought)
    assert keys == ["reasoning"] * n + ["content"] * (len(keys) - n)  # all thinking first, then the answer
    counts = [e["usage"]["completion_tokens"] for e in chunks]
    assert counts[n + 1] == n + 2  # no chunk for the `</think>` token: its count shows on the next
    assert all(e["usage"]["completion_tokens_details"] == {"reasoning_tokens": 0} for e in chunks)
    # it ended in content: the finish chunk says so, as in the captured chat_stream_reasoning_inline_close.sse
    assert by_kind(events)["stop"]["choices"][0]["delta"] == {"content": ""}
    assert by_kind(fixture_events("vllm", "chat_stream_reasoning_inline_close.sse"))["stop"]["choices"][0]["delta"] \
        == {"content": ""}
    assert delta_texts(plain, "reasoning") == "" and delta_texts(plain, "content") == answers.KV_CACHE


async def test_max_tokens_can_stop_a_reply_while_it_thinks(sim, http):
    sim.config.thinking_tokens = 30
    events, _ = await stream_of(sim, http, max_tokens=10)
    chunks = [e for e in events if isinstance(e, dict) and e["choices"]]
    assert [next(iter(e["choices"][0]["delta"])) for e in chunks[1:]] == ["reasoning"] * 10
    assert chunks[-1]["choices"][0]["finish_reason"] == "length" and chunks[-1]["choices"][0]["delta"]["reasoning"]
    assert events[-2]["usage"]["completion_tokens"] == 10 and delta_texts(events, "content") == ""


@pytest.mark.parametrize(("fmt", "starts"), [("tags", "<think>\n"), ("close-tag", "")])
async def test_inline_tags_go_in_content_without_parser_fields(sim, http, fmt, starts):
    sim.config.thinking_tokens, sim.config.thinking_format = 12, fmt
    events, _ = await stream_of(sim, http)
    content = delta_texts(events, "content")
    thought = "".join(tokens.take(tokens.split(content[len(starts):]), 12))
    assert content == starts + thought + "</think>\n\n" + SEA and "<think>" not in thought
    assert delta_texts(events, "reasoning") == ""
    assert all(e["usage"]["completion_tokens_details"] is None for e in events[:-2] if isinstance(e, dict))


async def test_older_vllm_field_and_the_non_streamed_reply(sim, http):
    sim.config.thinking_tokens, sim.config.thinking_format = 5, "reasoning_content"
    events, _ = await stream_of(sim, http)
    assert tokens.count(delta_texts(events, "reasoning_content")) == 5 and delta_texts(events, "content")
    sim.config.thinking_format = "field"
    status, _, text = await post(http, sim.base_url + "/chat/completions", body(stream=False))
    message = json.loads(text)["choices"][0]["message"]
    assert status == 200 and tokens.count(message["reasoning"]) == 5 and message["content"] == "\n\n" + SEA


async def test_llamacpp_thinking_is_reasoning_content(llama, http):
    llama.config.thinking_tokens = 6
    async with http.post(llama.base_url + "/chat/completions", json=body()) as r:
        text = await r.text()
    events = parse_sse(text)
    assert tokens.count(delta_texts(events, "reasoning_content")) == 6
    assert delta_texts(events, "content") == "\n\n" + SEA
    assert '{"reasoning_content": "' in text  # llama-cpp-python's json.dumps style
    for line in raw_lines(text):
        assert line == json.dumps(json.loads(line))


def test_the_demo_lineup_serves_a_reasoning_model_beside_mistral():
    cfg = SimConfig.demo()
    assert cfg.served_models() == [MODEL, QWEN] and cfg.reasoning_models == [QWEN]
    with pytest.raises(ValueError, match="thinking_format"):
        SimConfig(thinking_format="xml")
