"""CPU per streamed chunk on the client side: the openai SDK's chunk objects vs reading the raw body ourselves.

    python benchmarks/client_cost.py                       # 6,000 chunks at 2,000 tok/s, 3 rounds
    python benchmarks/client_cost.py --chunks 10000 --rounds 5

The simulator runs in a child process (SimulatorProcess) so that only the client's work is in this
process's CPU time (time.process_time: all threads of this process). Each option streams the same
reply (vLLM format with per-chunk usage) over real HTTP on 127.0.0.1, in turn, round after round, so
machine load hits all of them alike; figures are the median over rounds, in µs of CPU per SSE event,
and as ratios to the SDK's objects. The options:

- sdk:       `chat.completions.create(stream=True)`: one pydantic ChatCompletionChunk per chunk
             (the client's path before), reading delta.content and usage.completion_tokens.
- raw-lines: `with_streaming_response` + httpx's `aiter_lines()` + json.loads, same fields.
- raw:       `with_streaming_response` + server/sse.py's SseDecoder on `aiter_bytes()` + json.loads.
- client:    ChatClient.stream() as shipped (raw + shape checks + Delta events), the app's real cost.

The SDK stays in every option for transport, timeouts and HTTP-error classification.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable

import openai

from zorac_tui.demo.process import SimulatorProcess
from zorac_tui.demo.simulator import SimConfig
from zorac_tui.server.client import ChatClient
from zorac_tui.server.events import Delta
from zorac_tui.server.sse import SseDecoder

MODEL = SimConfig.model
MESSAGES = [{"role": "user", "content": "Write a long story."}]
USAGE = {"include_usage": True, "continuous_usage_stats": True}


def request(chunks: int) -> dict:
    """The chat request every option sends."""
    return {"model": MODEL, "messages": MESSAGES, "stream": True, "max_tokens": chunks, "stream_options": USAGE}


async def via_sdk(sdk: openai.AsyncOpenAI, chunks: int) -> int:
    """The SDK's objects; returns SSE events read."""
    n = 0
    stream = await sdk.chat.completions.create(**request(chunks))
    async for chunk in stream:
        n += 1
        if chunk.choices:
            _ = chunk.choices[0].delta.content
        if chunk.usage is not None:
            _ = chunk.usage.completion_tokens
    return n + 1  # [DONE]


def fields(doc: dict) -> None:
    """Read what the client reads from a chunk."""
    choices = doc.get("choices")
    if choices:
        _ = choices[0].get("delta", {}).get("content")
    usage = doc.get("usage")
    if usage is not None:
        _ = usage.get("completion_tokens")


async def via_raw_lines(sdk: openai.AsyncOpenAI, chunks: int) -> int:
    """httpx's line iterator and json.loads."""
    n = 0
    async with sdk.chat.completions.with_streaming_response.create(**request(chunks)) as raw:
        async for line in raw.http_response.aiter_lines():
            if line.startswith("data: "):
                n += 1
                if line != "data: [DONE]":
                    fields(json.loads(line[6:]))
    return n


async def via_raw(sdk: openai.AsyncOpenAI, chunks: int) -> int:
    """SseDecoder on the raw bytes and json.loads."""
    n = 0
    decoder = SseDecoder()
    async with sdk.chat.completions.with_streaming_response.create(**request(chunks)) as raw:
        async for data in raw.http_response.aiter_bytes():
            for text in decoder.feed(data):
                n += 1
                if text != "[DONE]":
                    fields(json.loads(text))
    return n


def via_client(client: ChatClient) -> Callable[[openai.AsyncOpenAI, int], Awaitable[int]]:
    """ChatClient.stream() as the app uses it; counts its Deltas (+ the role and usage chunks and [DONE]: the
    reply is cut by max_tokens, so its finish rides on the last content chunk)."""

    async def run(_sdk: openai.AsyncOpenAI, chunks: int) -> int:
        """Stream one reply of `chunks` tokens; returns SSE events read."""
        deltas = sum([isinstance(e, Delta) async for e in client.stream(MESSAGES, model=MODEL, max_tokens=chunks)])
        return deltas + 3

    return run


async def measure(url: str, chunks: int, rounds: int) -> dict[str, list[float]]:
    """CPU µs per event of every option, per round."""
    sdk = openai.AsyncOpenAI(base_url=url, api_key="EMPTY", max_retries=0)
    client = ChatClient(url)
    options = {"sdk": via_sdk, "raw-lines": via_raw_lines, "raw": via_raw, "client": via_client(client)}
    figures: dict[str, list[float]] = {name: [] for name in options}
    try:
        await sdk.models.list()
        await client.warm_up()
        for run in options.values():  # warm every path once (imports, connections)
            await run(sdk, 200)
        for r in range(rounds):
            for name, run in options.items():
                cpu, wall = time.process_time(), time.perf_counter()
                events = await run(sdk, chunks)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                figures[name].append(cpu / events * 1e6)
                print(f"round {r + 1} {name:>9}: {events:,} events in {wall:.2f} s, "
                      f"{figures[name][-1]:.1f} µs CPU/event ({cpu / wall:.0%} of a core)", flush=True)
    finally:
        await client.aclose()
        await sdk.close()
    return figures


def main() -> None:
    """Run every option against one simulator process and print the medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=6000, help="tokens (one chunk each) per reply")
    parser.add_argument("--rate", type=float, default=2000.0, help="simulated decode tok/s")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sim = SimulatorProcess(SimConfig(rate=args.rate, ttft=0.01, answer_tokens=args.chunks + 10))
    url = sim.start()
    try:
        figures = asyncio.run(measure(url, args.chunks, args.rounds))
    finally:
        sim.stop()
    base = statistics.median(figures["sdk"])
    print(f"\n{args.chunks:,} chunks at {args.rate:,.0f} tok/s, median of {args.rounds} rounds:")
    print(f"{'option':>10}  {'µs CPU/event':>12}  {'÷ sdk':>6}")
    for name, values in figures.items():
        median = statistics.median(values)
        print(f"{name:>10}  {median:12.1f}  {median / base:6.2f}")


if __name__ == "__main__":
    main()
