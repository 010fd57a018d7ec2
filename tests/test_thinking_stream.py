"""Thinking end to end: the simulator's every wire format → ChatClient over real HTTP → ThroughputMeter; counts add up."""

from __future__ import annotations

import pytest

from zorac_tui.core.throughput import ThroughputMeter
from zorac_tui.demo import tokens
from zorac_tui.demo.simulator import SimConfig, Simulator
from zorac_tui.demo.thinking import thinking_for
from zorac_tui.server.client import ChatClient
from zorac_tui.server.events import Delta, Failed, Finished, Recast

SEA = "The sea is a vast and mysterious realm that exists beneath the waves."
QUESTION = "Write one short sentence about the sea."
MESSAGES = [{"role": "user", "content": QUESTION}]
THINK = 24


async def reply(config: SimConfig, max_tokens: int = 400) -> tuple[str, str, ThroughputMeter, list]:
    """(thinking, answer, meter, events) of one streamed reply from a simulator with `config`."""
    sim = Simulator(config)
    await sim.start()
    client = ChatClient(sim.base_url)
    meter = ThroughputMeter(0.0)
    text = {True: "", False: ""}
    events = []
    try:
        async for event in client.stream(MESSAGES, model=config.model, max_tokens=max_tokens):
            events.append(event)
            if isinstance(event, Recast):
                meter.recast()
                text[True], text[False] = text[True] + text[False], ""
            elif isinstance(event, Delta):
                meter.add(event.at, event.completion_tokens, thinking=event.thinking)
                text[event.thinking] += event.text
            elif isinstance(event, Finished) and event.usage is not None:
                meter.correct_total(event.usage.completion_tokens)
    finally:
        await client.aclose()
        await sim.stop()
    assert not isinstance(events[-1], Failed), events[-1]
    return text[True], text[False], meter, events


def fast(**overrides) -> SimConfig:
    """A fast simulator that answers SEA after THINK tokens of thinking."""
    return SimConfig(**{"rate": 5000.0, "ttft": 0.0, "reply_text": SEA, "thinking_tokens": THINK, **overrides})


def thought() -> str:
    """The first THINK tokens of the simulator's thinking about QUESTION."""
    return "".join(tokens.take(tokens.split(thinking_for(QUESTION, SEA)), THINK))


ANSWER_TOKENS = tokens.count(SEA)


@pytest.mark.parametrize("fmt", ["field", "reasoning_content"])
async def test_vllm_thinking_fields(fmt):
    thinking, answer, meter, events = await reply(fast(thinking_format=fmt))
    assert (thinking, answer) == (thought(), SEA)  # the blank line after the thinking is not in the answer
    r = meter.reading()
    # `</think>` and the blank line have no text of their own: the server's count gives them to the answer
    assert (r.thinking_tokens, r.answer_tokens, r.tokens) == (THINK, ANSWER_TOKENS + 3, THINK + ANSWER_TOKENS + 3)
    assert not r.estimated and not r.split_estimated
    assert r.ttfa_s > r.ttft_s and r.thinking_s == pytest.approx(r.ttfa_s - r.ttft_s)
    assert not any(isinstance(e, Recast) for e in events)


async def test_vllm_inline_tags():
    thinking, answer, meter, _ = await reply(fast(thinking_format="tags"))
    assert (thinking, answer) == (thought(), SEA)
    r = meter.reading()
    assert (r.thinking_tokens, r.tokens) == (THINK + 2, THINK + ANSWER_TOKENS + 5)  # + `<think>` and its newline


async def test_a_reply_that_starts_inside_thinking_is_recast_once():
    thinking, answer, meter, events = await reply(fast(thinking_format="close-tag"))
    assert (thinking, answer) == (thought(), SEA)
    assert sum(isinstance(e, Recast) for e in events) == 1
    r = meter.reading()
    assert (r.thinking_tokens, r.answer_tokens) == (THINK, ANSWER_TOKENS + 3)
    assert r.ttft_s < r.ttfa_s


async def test_llamacpp_reasoning_content_without_counts_is_estimated():
    thinking, answer, meter, _ = await reply(fast(profile="llamacpp"))
    assert (thinking, answer) == (thought(), SEA)
    r = meter.reading()
    assert r.estimated and r.split_estimated and (r.thinking_tokens, r.answer_tokens) == (THINK, ANSWER_TOKENS)


async def test_a_reply_stopped_while_thinking_is_all_thinking():
    thinking, answer, meter, events = await reply(fast(), max_tokens=10)
    assert answer == "" and thinking == "".join(tokens.take(tokens.split(thought()), 10))
    assert isinstance(events[-1], Finished) and events[-1].reason == "length"
    r = meter.reading()
    assert (r.thinking_tokens, r.answer_tokens) == (10, 0) and r.ttfa_s is None and r.thinking_s > 0


async def test_the_demo_reasoning_model_thinks_and_mistral_does_not():
    cfg = SimConfig.demo()
    cfg.rate, cfg.ttft = 5000.0, 0.0
    thinking, answer, meter, _ = await reply(cfg)
    assert thinking == "" and meter.thinking_tokens == 0 and answer
    cfg.model = cfg.reasoning_models[0]
    thinking, answer, meter, _ = await reply(cfg, max_tokens=2000)
    assert 150 <= meter.thinking_tokens <= 400 and thinking.startswith("Okay, the user is asking")
    assert answer and meter.answer_tokens > 100
