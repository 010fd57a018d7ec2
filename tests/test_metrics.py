"""parse_metrics on real vLLM 0.32 /metrics captures, older metric names, several engines."""

from __future__ import annotations

import pytest
from replay import fixture_bytes

from zorac_tui.server import metrics
from zorac_tui.server.metrics import ServerStats, parse_metrics, rate_between


def load(name: str) -> str:
    """A metrics fixture as text."""
    return fixture_bytes("vllm", name).decode()


def test_idle_capture() -> None:
    s = parse_metrics(load("metrics_idle.txt"), model="smollm2")
    assert s.is_vllm and s.error is None
    assert s.kv_cache_usage == 0.0
    assert s.requests_running == 0 and s.requests_waiting == 0
    assert s.preemptions_total == 0
    assert s.prefix_cache_queries == 0 and s.prefix_cache_hits == 0
    assert s.prefix_cache_hit_rate is None  # no queries yet
    assert s.prompt_tokens_total == 0 and s.generation_tokens_total == 0
    assert s.ttft_count == 0 and s.ttft_mean_s is None
    assert s.inter_token_latency_mean_s is None and s.e2e_latency_mean_s is None
    assert s.block_size == 128
    assert s.num_gpu_blocks == 728
    assert s.kv_capacity_tokens == 93_184
    assert s.kv_cache_memory_bytes == 2_147_483_648
    assert s.gpu_memory_utilization == 0.92
    assert s.cache_dtype == "auto"
    assert s.kv_cache_max_concurrency == 22.75


def test_after_capture() -> None:
    s = parse_metrics(load("metrics_after.txt"), model="smollm2")
    assert s.kv_cache_usage == 0.0
    assert s.requests_running == 0 and s.requests_waiting == 0
    assert s.prefix_cache_queries == 3283 and s.prefix_cache_hits == 0
    assert s.prefix_cache_hit_rate == 0.0
    assert s.prompt_tokens_total == 3283
    assert s.generation_tokens_total == 1106
    assert s.ttft_count == 7
    assert s.ttft_mean_s == pytest.approx(3.8228209018707275 / 7)
    assert s.inter_token_latency_mean_s == pytest.approx(26.484678996000184 / 1099)
    assert s.e2e_latency_mean_s == pytest.approx(30.306214809417725 / 7)
    assert s.kv_capacity_tokens == 93_184


def test_model_filter_unknown_model_keeps_everything() -> None:
    a = parse_metrics(load("metrics_after.txt"), model="not-served")
    b = parse_metrics(load("metrics_after.txt"))
    assert a == b and a.generation_tokens_total == 1106


OLD_AND_MULTI = """\
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{model_name="m"} 0.25
vllm:gpu_cache_usage_perc{model_name="other"} 0.9
# TYPE vllm:gpu_prefix_cache_queries counter
vllm:gpu_prefix_cache_queries_total{engine="0",model_name="m"} 100.0
vllm:gpu_prefix_cache_queries_total{engine="1",model_name="m"} 100.0
# TYPE vllm:gpu_prefix_cache_hits counter
vllm:gpu_prefix_cache_hits_total{engine="0",model_name="m"} 30.0
vllm:gpu_prefix_cache_hits_total{engine="1",model_name="m"} 20.0
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 2.0
vllm:num_requests_running{engine="1",model_name="m"} 1.0
vllm:num_requests_running{engine="0",model_name="other"} 5.0
# TYPE vllm:time_per_output_token_seconds histogram
vllm:time_per_output_token_seconds_bucket{le="+Inf",model_name="m"} 4.0
vllm:time_per_output_token_seconds_count{model_name="m"} 4.0
vllm:time_per_output_token_seconds_sum{model_name="m"} 0.1
# TYPE vllm:generation_tokens counter
vllm:generation_tokens_total{engine="0",model_name="m"} 500.0
vllm:generation_tokens_total{engine="1",model_name="m"} 700.0
# TYPE vllm:cache_config_info gauge
vllm:cache_config_info{block_size="16",num_gpu_blocks="1000",kv_cache_memory_bytes="None",cache_dtype="fp8",engine="0"} 1.0
vllm:cache_config_info{block_size="16",num_gpu_blocks="1000",kv_cache_memory_bytes="None",cache_dtype="fp8",engine="1"} 1.0
"""


def test_older_names_and_engine_sums() -> None:
    s = parse_metrics(OLD_AND_MULTI, model="m")
    assert s.kv_cache_usage == 0.25
    assert s.prefix_cache_queries == 200 and s.prefix_cache_hits == 50
    assert s.prefix_cache_hit_rate == 0.25
    assert s.requests_running == 3
    assert s.inter_token_latency_mean_s == pytest.approx(0.025)
    assert s.generation_tokens_total == 1200
    assert s.num_gpu_blocks == 2000 and s.block_size == 16 and s.kv_capacity_tokens == 32_000
    assert s.kv_cache_memory_bytes is None and s.cache_dtype == "fp8"
    assert s.requests_waiting is None and s.ttft_mean_s is None  # absent → None


def test_not_vllm_and_garbage() -> None:
    plain = parse_metrics("# TYPE process_cpu_seconds counter\nprocess_cpu_seconds_total 3.0\n")
    assert not plain.is_vllm and plain.kv_cache_usage is None and plain.error is None
    bad = parse_metrics("this is {{ not prometheus")
    assert bad.error is not None and "\n" not in bad.error and not bad.is_vllm


@pytest.mark.parametrize("name", ["metrics_idle.txt", "metrics_after.txt"])
def test_reading_only_the_series_used_changes_nothing(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    text = load(name)
    fast = parse_metrics(text, model="smollm2")
    assert len(metrics._read_lines(text).splitlines()) < len(text.splitlines()) / 10  # buckets and the rest gone
    monkeypatch.setattr(metrics, "_read_lines", lambda text: "")  # the whole text through the parser
    assert parse_metrics(text, model="smollm2") == fast


def test_rate_between() -> None:
    a = ServerStats(generation_tokens_total=1000)
    b = ServerStats(generation_tokens_total=1130)
    assert rate_between(a, b, 2.0) == 65.0
    assert rate_between(b, a, 2.0) is None  # counter reset (server restarted)
    assert rate_between(a, b, 0.0) is None
    assert rate_between(ServerStats(), b, 1.0) is None
