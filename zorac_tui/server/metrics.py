"""vLLM's Prometheus `/metrics` text → ServerStats (None for whatever the server does not expose).

Works on samples, not families: prometheus_client's parser names a counter family
without its `_total` suffix (`vllm:generation_tokens`), while the sample keeps it
(`vllm:generation_tokens_total`); histograms come as `<name>_sum` / `_count` samples.
Names that vLLM renamed are accepted in both spellings. Series are summed over
engines (data parallel); a gauge that is a fraction (KV-cache usage) is averaged.
When `model` is given and some series carry `model_name=model`, only those count.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

KV_USAGE = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")
RUNNING = ("vllm:num_requests_running",)
WAITING = ("vllm:num_requests_waiting",)
PREEMPTIONS = ("vllm:num_preemptions_total",)
PREFIX_QUERIES = ("vllm:prefix_cache_queries_total", "vllm:gpu_prefix_cache_queries_total")
PREFIX_HITS = ("vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total")
PREFIX_HIT_RATE_GAUGE = ("vllm:gpu_prefix_cache_hit_rate",)  # vLLM V0
PROMPT_TOKENS = ("vllm:prompt_tokens_total",)
GENERATION_TOKENS = ("vllm:generation_tokens_total",)
TTFT = ("vllm:time_to_first_token_seconds",)
ITL = ("vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds")
E2E = ("vllm:e2e_request_latency_seconds",)
CACHE_CONFIG = ("vllm:cache_config_info",)


@dataclass(frozen=True)
class ServerStats:
    """What the server's /metrics says; every field is None when the server does not expose it."""

    kv_cache_usage: float | None = None  # 0..1 fraction of the KV cache in use
    requests_running: int | None = None
    requests_waiting: int | None = None
    preemptions_total: int | None = None
    prefix_cache_queries: int | None = None
    prefix_cache_hits: int | None = None
    prefix_cache_hit_rate: float | None = None  # hits / queries; None when no queries yet
    prompt_tokens_total: int | None = None
    generation_tokens_total: int | None = None
    ttft_mean_s: float | None = None
    ttft_count: int | None = None
    inter_token_latency_mean_s: float | None = None
    e2e_latency_mean_s: float | None = None
    block_size: int | None = None
    num_gpu_blocks: int | None = None
    kv_capacity_tokens: int | None = None  # num_gpu_blocks × block_size
    kv_cache_memory_bytes: int | None = None
    gpu_memory_utilization: float | None = None
    cache_dtype: str | None = None
    kv_cache_max_concurrency: float | None = None
    is_vllm: bool = False  # any `vllm:` series present
    error: str | None = None  # one line when the text could not be parsed


_Samples = dict[str, list[tuple[dict[str, str], float]]]

_READ = (KV_USAGE + RUNNING + WAITING + PREEMPTIONS + PREFIX_QUERIES + PREFIX_HITS + PREFIX_HIT_RATE_GAUGE
         + PROMPT_TOKENS + GENERATION_TOKENS + TTFT + ITL + E2E + CACHE_CONFIG)
# The sample lines of the series above (a histogram's `_sum` and `_count`, never its buckets), at a line start.
_NAMES = "|".join(map(re.escape, _READ))
_READ_LINE = re.compile(rf"^(?:{_NAMES})(?:_sum|_count)?[{{ \t][^\n]*", re.MULTILINE)


def _read_lines(text: str) -> str:
    """Only the sample lines parse_metrics reads: a vLLM /metrics is ~650 lines, mostly histogram buckets.

    Parsing those alone is ~10× cheaper (the poll runs every few seconds, streaming or not). Without
    their `# TYPE` lines the parser keeps each sample under its own name, which is what `_collect` uses.
    """
    return "\n".join(match.group(0) for match in _READ_LINE.finditer(text))


def _collect(text: str) -> _Samples:
    """Every sample by name: [(labels, value)]; only the series read, unless the text has none of them."""
    from prometheus_client.parser import text_string_to_metric_families  # ~25 ms: not before the first poll

    read = _read_lines(text)
    if read:
        text = read  # else the whole text: another server's series, or garbage that deserves its error line
    out: _Samples = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name].append((dict(sample.labels), float(sample.value)))
    return out


def _filter_model(samples: _Samples, model: str | None) -> _Samples:
    """Keep series of `model` (and unlabelled ones) when some series carry model_name=model."""
    if not model:
        return samples
    if not any(lab.get("model_name") == model for rows in samples.values() for lab, _ in rows):
        return samples
    return {
        name: [(lab, v) for lab, v in rows if lab.get("model_name", model) == model]
        for name, rows in samples.items()
    }


def _first(samples: _Samples, names: tuple[str, ...], suffix: str = "") -> list[tuple[dict[str, str], float]] | None:
    """The rows of the first of `names` (+suffix) that is present."""
    for name in names:
        rows = samples.get(name + suffix)
        if rows:
            return rows
    return None


def _sum(samples: _Samples, names: tuple[str, ...], suffix: str = "") -> float | None:
    """Sum of a series over engines (None when absent)."""
    rows = _first(samples, names, suffix)
    return None if rows is None else sum(v for _, v in rows)


def _mean_gauge(samples: _Samples, names: tuple[str, ...]) -> float | None:
    """Average of a gauge over engines (for fractions)."""
    rows = _first(samples, names)
    return None if rows is None else sum(v for _, v in rows) / len(rows)


def _int(value: float | None) -> int | None:
    """A float count as int."""
    return None if value is None else round(value)


def _hist_mean(samples: _Samples, names: tuple[str, ...]) -> tuple[float | None, int | None]:
    """(sum / count, count) of a histogram; mean None when count is 0 or absent."""
    for name in names:
        total, count = _sum(samples, (name,), "_sum"), _sum(samples, (name,), "_count")
        if count is not None:
            return (total / count if total is not None and count > 0 else None), _int(count)
    return None, None


def _label_int(value: str | None) -> int | None:
    """A numeric label as int ("None" and garbage → None)."""
    try:
        return int(float(value)) if value not in (None, "", "None") else None
    except ValueError:
        return None


def _label_float(value: str | None) -> float | None:
    """A numeric label as float ("None" and garbage → None)."""
    try:
        return float(value) if value not in (None, "", "None") else None
    except ValueError:
        return None


def _cache_config(samples: _Samples) -> dict[str, object]:
    """Fields from vllm:cache_config_info labels (blocks and bytes summed over engines)."""
    rows = _first(samples, CACHE_CONFIG)
    if not rows:
        return {}
    first = rows[0][0]
    block_size = _label_int(first.get("block_size"))
    blocks = [_label_int(lab.get("num_gpu_blocks")) for lab, _ in rows]
    mem = [_label_int(lab.get("kv_cache_memory_bytes")) for lab, _ in rows]
    num_gpu_blocks = sum(b for b in blocks if b is not None) if any(b is not None for b in blocks) else None
    memory = sum(m for m in mem if m is not None) if any(m is not None for m in mem) else None
    capacity = num_gpu_blocks * block_size if num_gpu_blocks is not None and block_size is not None else None
    dtype = first.get("cache_dtype")
    return {
        "block_size": block_size,
        "num_gpu_blocks": num_gpu_blocks,
        "kv_capacity_tokens": capacity,
        "kv_cache_memory_bytes": memory,
        "gpu_memory_utilization": _label_float(first.get("gpu_memory_utilization")),
        "cache_dtype": dtype if dtype not in (None, "", "None") else None,
        "kv_cache_max_concurrency": _label_float(first.get("kv_cache_max_concurrency")),
    }


def parse_metrics(text: str, model: str | None = None) -> ServerStats:
    """Parse Prometheus exposition text from vLLM's /metrics; never raises."""
    try:
        samples = _filter_model(_collect(text), model)
    except Exception as exc:
        msg = " ".join(str(exc).split())[:160]
        return ServerStats(error=f"Could not parse the server's /metrics: {msg or type(exc).__name__}")
    queries = _int(_sum(samples, PREFIX_QUERIES))
    hits = _int(_sum(samples, PREFIX_HITS))
    if queries is not None and hits is not None:
        hit_rate = hits / queries if queries > 0 else None
    else:
        hit_rate = _mean_gauge(samples, PREFIX_HIT_RATE_GAUGE)
    ttft_mean, ttft_count = _hist_mean(samples, TTFT)
    itl_mean, _ = _hist_mean(samples, ITL)
    e2e_mean, _ = _hist_mean(samples, E2E)
    return ServerStats(
        kv_cache_usage=_mean_gauge(samples, KV_USAGE),
        requests_running=_int(_sum(samples, RUNNING)),
        requests_waiting=_int(_sum(samples, WAITING)),
        preemptions_total=_int(_sum(samples, PREEMPTIONS)),
        prefix_cache_queries=queries,
        prefix_cache_hits=hits,
        prefix_cache_hit_rate=hit_rate,
        prompt_tokens_total=_int(_sum(samples, PROMPT_TOKENS)),
        generation_tokens_total=_int(_sum(samples, GENERATION_TOKENS)),
        ttft_mean_s=ttft_mean,
        ttft_count=ttft_count,
        inter_token_latency_mean_s=itl_mean,
        e2e_latency_mean_s=e2e_mean,
        is_vllm=any(name.startswith("vllm:") for name in samples),
        **_cache_config(samples),  # type: ignore[arg-type]
    )


def rate_between(prev: ServerStats, cur: ServerStats, dt: float) -> float | None:
    """Generation tokens/s between two scrapes `dt` seconds apart (None if unknown or reset)."""
    a, b = prev.generation_tokens_total, cur.generation_tokens_total
    if a is None or b is None or dt <= 0 or b < a:
        return None
    return (b - a) / dt
