"""Prometheus metrics of the simulated vLLM engine, with the family names, labels and buckets of vLLM 0.32."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

LABELS = ("engine", "model_name")
_FLOPS = "(for Model Flops Utilization calculations)."
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
                10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)
ITL_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
               20.0, 40.0, 80.0)
LATENCY_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0,
                   240.0, 480.0, 960.0, 1920.0, 7680.0)
ITERATION_BUCKETS = (1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)
FINISH_REASONS = ("stop", "length", "abort", "error", "repetition")


@dataclass
class CacheSetup:
    """KV-cache configuration reported in cache_config_info (defaults: RTX 4090, Mistral Small 24B AWQ)."""

    block_size: int = 16
    num_gpu_blocks: int = 3276  # 8 GiB / 160 KiB per token = 52,428 tokens -> 3,276 blocks of 16
    kv_cache_memory_bytes: int = 8 * 1024**3
    gpu_memory_utilization: float = 0.92

    @property
    def capacity_tokens(self) -> int:
        """Tokens the KV cache can hold."""
        return self.block_size * self.num_gpu_blocks


def one_two_five(limit: int) -> list[float]:
    """vLLM's 1-2-5 bucket series up to limit."""
    out, exp = [], 0
    while True:
        for m in (1, 2, 5):
            v = m * 10**exp
            if v > limit:
                return out
            out.append(float(v))
        exp += 1


@dataclass
class Tracked:
    """One request the engine is working on."""

    prompt_tokens: int
    max_tokens: int
    arrived: float = field(default_factory=time.perf_counter)
    first_at: float | None = None
    last_at: float | None = None
    generated: int = 0


class PrefixCache:
    """LRU set of hashed full KV blocks, to count prefix-cache hits the way vLLM does."""

    def __init__(self, block_size: int, capacity_blocks: int):
        self.block_size = block_size
        self.capacity = capacity_blocks
        self.blocks: OrderedDict[int, None] = OrderedDict()

    def _hashes(self, ids: Sequence[int]) -> list[int]:
        """Chained hashes of the full blocks of ids."""
        out, h, bs = [], 0, self.block_size
        for start in range(0, len(ids) - bs + 1, bs):
            h = hash((h, tuple(ids[start:start + bs])))
            out.append(h)
        return out

    def lookup(self, ids: Sequence[int]) -> int:
        """Cached prompt tokens (whole leading blocks, leaving at least one token to compute)."""
        hit = 0
        for h in self._hashes(ids):
            if h not in self.blocks:
                break
            self.blocks.move_to_end(h)
            hit += 1
        max_hit = (len(ids) - 1) // self.block_size if ids else 0
        return min(hit, max_hit) * self.block_size

    def insert(self, ids: Sequence[int]) -> None:
        """Remember the full blocks of a finished sequence."""
        for h in self._hashes(ids):
            self.blocks[h] = None
            self.blocks.move_to_end(h)
        while len(self.blocks) > self.capacity:
            self.blocks.popitem(last=False)


class EngineMetrics:
    """All /metrics families plus the bookkeeping that drives them."""

    def __init__(self, model_name: str, max_model_len: int, cache: CacheSetup | None = None):
        self.model_name = model_name
        self.max_model_len = max_model_len
        self.cache = cache or CacheSetup()
        self.running: list[Tracked] = []
        self.prefix = PrefixCache(self.cache.block_size, self.cache.num_gpu_blocks)
        r = self.registry = CollectorRegistry()
        GCCollector(registry=r)
        PlatformCollector(registry=r)
        ProcessCollector(registry=r)

        def c(name: str, doc: str, extra: tuple[str, ...] = (), labels: tuple[str, ...] = LABELS) -> Counter:
            return Counter(name, doc, labels + extra, registry=r)

        def g(name: str, doc: str, extra: tuple[str, ...] = ()) -> Gauge:
            return Gauge(name, doc, LABELS + extra, registry=r)

        def h(name: str, doc: str, buckets: Sequence[float]) -> Histogram:
            return Histogram(name, doc, LABELS, buckets=buckets, registry=r)

        self.flops = c("vllm:estimated_flops_per_gpu",
                       f"Estimated number of floating point operations per GPU {_FLOPS}")
        self.read_bytes = c("vllm:estimated_read_bytes_per_gpu",
                            f"Estimated number of bytes read from memory per GPU {_FLOPS}")
        self.write_bytes = c("vllm:estimated_write_bytes_per_gpu",
                             f"Estimated number of bytes written to memory per GPU {_FLOPS}")
        self.num_running = g("vllm:num_requests_running", "Number of requests in model execution batches.")
        self.num_waiting = g("vllm:num_requests_waiting", "Number of requests waiting to be processed.")
        self.waiting_by_reason = g(
            "vllm:num_requests_waiting_by_reason",
            "Number of waiting requests by reason. Reason labels: 'capacity' = waiting for scheduling capacity; "
            "'deferred' = deferred by transient constraints (LoRA budget, KV transfer, blocked status). "
            "Sum of all reasons equals vllm:num_requests_waiting.", ("reason",))
        self.sleep_state = g(
            "vllm:engine_sleep_state",
            "Engine sleep state; awake = 0 means engine is sleeping; awake = 1 means engine is awake; "
            "weights_offloaded = 1 means sleep level 1; discard_all = 1 means sleep level 2.", ("sleep_state",))
        self.kv_usage = g("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.")
        self.pc_queries = c("vllm:prefix_cache_queries", "Prefix cache queries, in terms of number of queried tokens.")
        self.pc_hits = c("vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens.")
        c("vllm:external_prefix_cache_queries", "External prefix cache queries from KV connector cross-instance "
          "cache sharing, in terms of number of queried tokens.")
        c("vllm:external_prefix_cache_hits", "External prefix cache hits from KV connector cross-instance "
          "cache sharing, in terms of number of cached tokens.")
        c("vllm:mm_cache_queries", "Multi-modal cache queries, in terms of number of queried items.")
        c("vllm:mm_cache_hits", "Multi-modal cache hits, in terms of number of cached items.")
        self.preemptions = c("vllm:num_preemptions", "Cumulative number of preemption from the engine.")
        self.prompt_tokens = c("vllm:prompt_tokens", "Number of prefill tokens processed.")
        self.prompt_by_source = c("vllm:prompt_tokens_by_source", "Number of prompt tokens by source.", ("source",))
        self.prompt_cached = c("vllm:prompt_tokens_cached", "Number of cached prompt tokens (local + external).")
        self.cached_by_source = c(
            "vllm:prompt_tokens_cached_by_source",
            "Prefix-cache hit tokens by the cache tier that supplied them: device (local HBM), host (offloaded to "
            "DRAM), disk, p2p (transferred from another vLLM instance) or external_unspecified. Counted at "
            "admission; sums to vllm:prefix_cache_hits + vllm:external_prefix_cache_hits.", ("source",))
        self.generation_tokens = c("vllm:generation_tokens", "Number of generation tokens processed.")
        self.success = c("vllm:request_success", "Count of successfully processed requests.", ("finished_reason",))
        self.rejections = c("vllm:admission_rejections",
                            "Number of admission attempts rejected by a queue limit, by reason.",
                            labels=("model_name", "reason"))
        token_buckets = one_two_five(max_model_len)
        self.h_prompt = h("vllm:request_prompt_tokens", "Number of prefill tokens processed.", token_buckets)
        self.h_generation = h("vllm:request_generation_tokens", "Number of generation tokens processed.",
                              token_buckets)
        self.h_iteration = h("vllm:iteration_tokens_total", "Histogram of number of tokens per engine_step.",
                             ITERATION_BUCKETS)
        self.h_max_gen = h("vllm:request_max_num_generation_tokens",
                           "Histogram of maximum number of requested generation tokens.", token_buckets)
        self.h_n = h("vllm:request_params_n", "Histogram of the n request parameter.", (1, 2, 5, 10, 20))
        self.h_max_tokens = h("vllm:request_params_max_tokens", "Histogram of the max_tokens request parameter.",
                              token_buckets)
        self.h_ttft = h("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.",
                        TTFT_BUCKETS)
        self.h_itl = h("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.",
                       ITL_BUCKETS)
        self.h_tpot = h("vllm:request_time_per_output_token_seconds",
                        "Histogram of time_per_output_token_seconds per request.", ITL_BUCKETS)
        self.h_e2e = h("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.",
                       LATENCY_BUCKETS)
        self.h_queue = h("vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.",
                         LATENCY_BUCKETS)
        self.h_inference = h("vllm:request_inference_time_seconds",
                             "Histogram of time spent in RUNNING phase for request.", LATENCY_BUCKETS)
        self.h_prefill = h("vllm:request_prefill_time_seconds",
                           "Histogram of time spent in PREFILL phase for request.", LATENCY_BUCKETS)
        self.h_decode = h("vllm:request_decode_time_seconds", "Histogram of time spent in DECODE phase for request.",
                          LATENCY_BUCKETS)
        self.h_preempt = h("vllm:request_num_preemptions",
                           "Histogram of the number of times a request was preempted.", (1, 2, 3, 4, 5, 10, 20))
        self.h_kv_computed = h("vllm:request_prefill_kv_computed_tokens",
                               "Histogram of new KV tokens computed during prefill (excluding cached tokens).",
                               token_buckets)
        cfg = self._cache_labels()
        Gauge("vllm:cache_config_info", "Information of the LLMEngine CacheConfig", tuple(cfg),
              registry=r).labels(**cfg).set(1)
        self.http = Counter("http_requests", "Total number of requests by method, status and handler.",
                            ("handler", "method", "status"), registry=r)
        self._init_children()

    def _cache_labels(self) -> dict[str, str]:
        """Labels of cache_config_info, as vLLM 0.32 prints them."""
        cs = self.cache
        return {
            "_block_size_resolved": "True", "block_size": str(cs.block_size), "cache_dtype": "auto",
            "cache_hit_alignment_tokens": "None", "effective_attention_block_size": str(cs.block_size),
            "enable_mamba_shared_prefix_checkpoint": "False", "enable_prefix_caching": "True", "engine": "0",
            "gpu_memory_utilization": str(cs.gpu_memory_utilization), "hash_block_size": "None",
            "is_attention_free": "False", "kv_cache_dtype_skip_layers": "[]", "kv_cache_layout": "None",
            "kv_cache_max_concurrency": str(round(cs.capacity_tokens / self.max_model_len, 2)),
            "kv_cache_memory_bytes": str(cs.kv_cache_memory_bytes), "kv_cache_size_tokens": str(cs.capacity_tokens),
            "kv_offloading_backend": "native", "kv_offloading_size": "None", "kv_sharing_fast_prefill": "False",
            "mamba_block_size": "None", "mamba_cache_dtype": "auto", "mamba_cache_mode": "none",
            "mamba_page_size_padded": "None", "mamba_ssm_cache_dtype": "float32", "num_cpu_blocks": "None",
            "num_gpu_blocks": str(cs.num_gpu_blocks), "num_gpu_blocks_override": "None",
            "prefix_cache_retention_interval": "0", "prefix_caching_hash_algo": "sha256",
            "prefix_match_unit": "None", "replayssm_buffer_len": "16", "skip_page_size_padded": "None",
            "sliding_window": "None", "swa_bounded_replay": "True", "use_kda_recoverssm": "False",
            "use_replayssm": "False", "user_specified_block_size": "False",
        }

    def _init_children(self) -> None:
        """Create every labelled series so an idle server already shows zeros, like vLLM."""
        m = ("0", self.model_name)
        for coll in self.registry._collector_to_names:
            if isinstance(coll, (Counter, Gauge, Histogram)) and coll._labelnames == LABELS:
                coll.labels(*m)
        for reason in ("capacity", "deferred"):
            self.waiting_by_reason.labels(*m, reason)
        for state, v in (("awake", 1), ("weights_offloaded", 0), ("discard_all", 0)):
            self.sleep_state.labels(*m, state).set(v)
        for src in ("local_compute", "local_cache_hit", "external_kv_transfer"):
            self.prompt_by_source.labels(*m, src)
        for src in ("device", "host", "p2p", "disk", "external_unspecified"):
            self.cached_by_source.labels(*m, src)
        for reason in FINISH_REASONS:
            self.success.labels(*m, reason)
        for reason in ("max_num_queued_reqs", "max_num_queued_tokens"):
            self.rejections.labels(self.model_name, reason)

    # -- request lifecycle -------------------------------------------------------------

    def admit(self, prompt_tokens: int, max_tokens: int, arrived: float | None = None) -> Tracked:
        """A request enters the running batch (arrived: its perf_counter arrival time)."""
        req = Tracked(prompt_tokens, max_tokens)
        if arrived is not None:
            req.arrived = arrived
        self.running.append(req)
        return req

    def first_token(self, req: Tracked, prompt_ids: Sequence[int], now: float) -> None:
        """Prefill is done and the first token exists."""
        m = ("0", self.model_name)
        hit = self.prefix.lookup(prompt_ids)
        req.first_at = req.last_at = now
        req.generated = 1
        self.pc_queries.labels(*m).inc(req.prompt_tokens)
        self.pc_hits.labels(*m).inc(hit)
        self.prompt_tokens.labels(*m).inc(req.prompt_tokens)
        self.prompt_by_source.labels(*m, "local_compute").inc(req.prompt_tokens - hit)
        self.prompt_by_source.labels(*m, "local_cache_hit").inc(hit)
        self.prompt_cached.labels(*m).inc(hit)
        self.cached_by_source.labels(*m, "device").inc(hit)
        self.generation_tokens.labels(*m).inc()
        self.h_ttft.labels(*m).observe(now - req.arrived)
        self.h_iteration.labels(*m).observe(req.prompt_tokens - hit)
        self.h_kv_computed.labels(*m).observe(req.prompt_tokens - hit)

    def token(self, req: Tracked, now: float) -> None:
        """One more decoded token."""
        m = ("0", self.model_name)
        self.generation_tokens.labels(*m).inc()
        self.h_itl.labels(*m).observe(now - (req.last_at or now))
        self.h_iteration.labels(*m).observe(1)
        req.last_at = now
        req.generated += 1

    def finish(self, req: Tracked, reason: str, sequence_ids: Sequence[int], now: float) -> None:
        """The request left the batch (reason: stop, length or abort)."""
        if req in self.running:
            self.running.remove(req)
        m = ("0", self.model_name)
        self.success.labels(*m, reason).inc()
        self.h_e2e.labels(*m).observe(now - req.arrived)
        self.h_queue.labels(*m).observe(0.0)
        self.h_inference.labels(*m).observe(now - req.arrived)
        self.h_prompt.labels(*m).observe(req.prompt_tokens)
        self.h_generation.labels(*m).observe(req.generated)
        self.h_max_gen.labels(*m).observe(req.max_tokens)
        self.h_max_tokens.labels(*m).observe(req.max_tokens)
        self.h_n.labels(*m).observe(1)
        self.h_preempt.labels(*m).observe(0)
        if req.first_at is not None:
            self.h_prefill.labels(*m).observe(req.first_at - req.arrived)
            decode = (req.last_at or now) - req.first_at
            self.h_decode.labels(*m).observe(decode)
            if req.generated > 1:
                self.h_tpot.labels(*m).observe(decode / (req.generated - 1))
        if sequence_ids:
            self.prefix.insert(sequence_ids)

    def kv_usage_fraction(self) -> float:
        """Share of KV blocks held by running requests (0..1)."""
        bs = self.cache.block_size
        used = sum(-(-(r.prompt_tokens + r.generated) // bs) for r in self.running)
        return min(1.0, used / self.cache.num_gpu_blocks)

    def count_http(self, handler: str, method: str, status: int) -> None:
        """Count one HTTP request like prometheus-fastapi-instrumentator."""
        self.http.labels(handler, method, f"{status // 100}xx").inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of everything."""
        m = ("0", self.model_name)
        self.num_running.labels(*m).set(len(self.running))
        self.kv_usage.labels(*m).set(self.kv_usage_fraction())
        return generate_latest(self.registry)
