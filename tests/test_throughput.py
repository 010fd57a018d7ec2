"""ThroughputMeter with injected times: the thinking/answer split, TTFT vs time to first answer, one decode rate."""

from __future__ import annotations

import pytest

from zorac_tui.core.throughput import ThroughputMeter

RATE = 50.0


def test_thinking_then_answer_with_server_counts():
    meter = ThroughputMeter(started_at=10.0)
    for i in range(20):  # thinking: tokens 1..20 from 10.5 s
        meter.add(10.5 + i / RATE, i + 1, thinking=True)
    # token 21 is the silent </think> (no text); the first answer delta shows count 22
    for i in range(21, 51):
        meter.add(10.5 + i / RATE, i + 1)
    r = meter.reading()
    assert r.ttft_s == pytest.approx(0.5)
    assert r.ttfa_s == pytest.approx(0.5 + 21 / RATE)
    assert r.thinking_s == pytest.approx(21 / RATE)
    assert (r.thinking_tokens, r.answer_tokens, r.tokens) == (20, 31, 51)
    # every generated token counts, thinking and answer alike; TTFT is not inside
    assert r.average_tok_s == pytest.approx(RATE)
    assert not r.estimated and not r.split_estimated


def test_two_deltas_of_one_chunk_count_the_increase_once():
    meter = ThroughputMeter(started_at=0.0)
    meter.add(1.0, 1, thinking=True)
    meter.add(1.1, 3, thinking=True)  # "…</think>" end of the thinking
    meter.add(1.1, 3)  # "Answer" from the same chunk, same running count
    meter.add(1.2, 4)
    assert (meter.thinking_tokens, meter.answer_tokens) == (3, 1)
    assert meter.ttfa_s == pytest.approx(1.1) and meter.thinking_s == pytest.approx(0.1)


def test_final_usage_gives_the_end_of_sequence_token_to_the_last_channel():
    meter = ThroughputMeter(started_at=0.0)
    for i in range(7):
        meter.add(1.0 + i / RATE, i + 1, thinking=True)
    meter.correct_total(8)  # vLLM: the stop chunk counts the end-of-sequence token
    r = meter.reading()
    assert (r.thinking_tokens, r.answer_tokens, r.tokens) == (8, 0, 8)
    assert r.ttfa_s is None and r.thinking_s == pytest.approx(6 / RATE)  # to the last thinking token
    assert r.average_tok_s == pytest.approx(RATE)  # the final count corrects totals, not the rate


def test_recast_moves_the_answer_so_far_to_thinking():
    meter = ThroughputMeter(started_at=0.0)
    for i in range(10):  # streamed as answer: the reply began inside <think>
        meter.add(0.4 + i / RATE, i + 1)
    meter.recast()
    meter.add(0.4 + 10 / RATE, 11, thinking=True)  # the thinking's tail, then "</think>" and the answer
    meter.add(0.4 + 11 / RATE, 12)
    meter.add(0.4 + 12 / RATE, 13)
    r = meter.reading()
    assert (r.thinking_tokens, r.answer_tokens) == (11, 2)
    assert r.ttft_s == pytest.approx(0.4)
    assert r.ttfa_s == pytest.approx(0.4 + 11 / RATE)
    assert r.thinking_s == pytest.approx(11 / RATE)


def test_without_server_counts_each_delta_is_one_token_and_the_split_is_shared_out():
    meter = ThroughputMeter(started_at=0.0)
    for i in range(30):
        meter.add(1.0 + i / 30, None, thinking=i < 10)
    r = meter.reading(now=2.0)
    assert r.estimated and r.split_estimated
    assert (r.thinking_tokens, r.answer_tokens) == (10, 20)
    assert r.average_tok_s == pytest.approx(30.0)
    meter.correct_total(45)  # the server's total, with no per-chunk counts: shared 1 : 2
    r = meter.reading()
    assert not r.estimated and r.split_estimated
    assert (r.thinking_tokens, r.answer_tokens, r.tokens) == (15, 30, 45)
    assert r.average_tok_s == pytest.approx(30.0)


def test_no_thinking_leaves_the_thinking_figures_empty():
    meter = ThroughputMeter(started_at=0.0)
    for i in range(5):
        meter.add(0.2 + i / RATE, i + 1)
    r = meter.reading()
    assert r.thinking_tokens == 0 and r.thinking_s is None and r.ttfa_s == r.ttft_s == pytest.approx(0.2)


def test_one_token_has_no_rate():
    meter = ThroughputMeter(started_at=0.0)
    meter.add(0.3, 1, thinking=True)
    assert meter.average_tok_s() is None and meter.thinking_s == 0.0
