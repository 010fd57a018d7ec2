"""The measurement: warm-up, then N runs per concurrency level of streamed chat requests via ChatClient.

Per stream, the events go into the app's own ThroughputMeter (core/throughput.py), so the bench and
the app share one definition of every figure (all times from time.perf_counter()):
* TTFT = request sent → first token of any kind, thinking or answer (queueing + prefill + the first token).
* time to first answer = request sent → first answer token; thinking = first thinking token → first
  answer token (both only for a model that thinks).
* decode tok/s = every generated token after the first (thinking and answer: what the GPU decodes) ÷
  time from the first to the last token, with the server's running counts (vLLM
  `continuous_usage_stats`), else one token per chunk (labelled "estimated"). TTFT is never inside it.
* end-to-end = last event − request sent.

Per run at concurrency c, c streams start together; aggregate tok/s = all their completion tokens ÷
the wall time of the batch (first request sent → last stream finished).

Nothing here prints; `progress_callback(BenchProgress)` is called on the event loop at most ~10 times
a second and at every phase change. Failures raise BenchError with an exit code and one line.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from zorac_tui.bench.gpu import GpuWatch, make_watch
from zorac_tui.bench.prompt import build_prompt
from zorac_tui.bench.results import (
    EXIT_CONTEXT,
    EXIT_FAILED,
    EXIT_MODEL,
    EXIT_UNREACHABLE,
    WARMUP_MAX_TOKENS,
    BenchConfig,
    BenchError,
    BenchProgress,
    BenchResult,
    LevelResult,
    RunResult,
    ServerDescription,
    StreamResult,
)
from zorac_tui.core.throughput import ThroughputMeter
from zorac_tui.server.events import Delta, Failed, FailureKind, Finished, Recast, StreamEvent

__all__ = ["BenchConfig", "BenchError", "BenchProgress", "BenchResult", "measure_stream", "run_bench",
           "stream_result"]

PROGRESS_INTERVAL_S = 0.1


# ------------------------------------------------------------------------------------------ progress
class _Tracker:
    """Counts tokens and requests; calls the callback at most every PROGRESS_INTERVAL_S (or when forced)."""

    def __init__(self, callback: Callable[[BenchProgress], Any] | None) -> None:
        """Nothing counted yet; `callback` gets each BenchProgress (None: nobody listens)."""
        self.callback = callback
        self.phase = "probe"
        self.description = ""
        self.completed = 0
        self.total = 0
        self.requests_done = 0
        self.requests_total = 0
        self._last = 0.0

    def emit(self, phase: str | None = None, description: str | None = None, *, force: bool = True) -> None:
        """Report progress now (unless `force` is off and the last report was under PROGRESS_INTERVAL_S ago)."""
        if phase is not None:
            self.phase = phase
        if description is not None:
            self.description = description
        if self.callback is None:
            return
        now = time.perf_counter()
        if not force and now - self._last < PROGRESS_INTERVAL_S:
            return
        self._last = now
        self.callback(BenchProgress(self.phase, self.description, min(self.completed, self.total), self.total,
                                    self.requests_done, self.requests_total))

    def tokens(self, n: int) -> None:
        """Count `n` more tokens received."""
        if n > 0:
            self.completed += n
            self.emit(force=False)


# ------------------------------------------------------------------------------------------ checks
async def preflight(config: BenchConfig) -> tuple[Any, ServerDescription]:
    """Probe the server; raise BenchError for unreachable (3), model not served (4), context too small (5)."""
    from zorac_tui.server.probe import choose_model, probe

    info = await probe(config.base_url, config.api_key)
    if not info.reachable:
        raise BenchError(EXIT_UNREACHABLE, info.error or f"Cannot reach the server at {info.base_url}")
    if info.error and not info.models:
        raise BenchError(EXIT_UNREACHABLE, f"The server at {info.base_url} answered, but not usefully: {info.error}")
    ids = [m.id for m in info.models]
    if not ids:
        raise BenchError(EXIT_MODEL, f"The server at {info.base_url} serves no model — is a model loaded?")
    served = ", ".join(ids[:6]) + (", …" if len(ids) > 6 else "")
    if config.model_explicit:
        if config.model not in ids:
            raise BenchError(EXIT_MODEL,
                             f"Model {config.model!r} is not served at {info.base_url} (it serves: {served})")
        model, note = str(config.model), "requested"
    else:
        model, note = choose_model(info, config.model or "")
        if model not in ids:
            raise BenchError(EXIT_MODEL, f"Model {model!r} is not served at {info.base_url} (it serves: {served}) "
                                         "— pick one with --model")
    entry = info.model(model)
    max_len = entry.max_model_len if entry is not None else None
    need = config.prompt_tokens + config.max_tokens
    if max_len is not None and need > max_len:
        raise BenchError(EXIT_CONTEXT, f"Context too small: --prompt-tokens {config.prompt_tokens:,} + --max-tokens "
                                       f"{config.max_tokens:,} = {need:,} tokens, but {model} takes at most "
                                       f"{max_len:,} (max_model_len) — lower one of them")
    server = ServerDescription(info.base_url, info.flavor, info.version, model, note, max_len)
    return info, server


def _failure(event: Failed) -> BenchError:
    """The BenchError for a request that failed mid-bench."""
    if event.kind is FailureKind.UNREACHABLE:
        return BenchError(EXIT_UNREACHABLE, event.message)
    if event.kind is FailureKind.CONTEXT:
        return BenchError(EXIT_CONTEXT, event.message)
    if event.kind is FailureKind.HTTP and event.status == 404:
        return BenchError(EXIT_MODEL, event.message)
    return BenchError(EXIT_FAILED, f"A bench request failed: {event.message}")


# ------------------------------------------------------------------------------------------ measuring
async def measure_stream(client: Any, model: str, messages: list[dict], max_tokens: int,
                         tracker: _Tracker | None = None, extra: dict | None = None) -> StreamResult:
    """Send one request and time it; raise BenchError when it fails."""
    kwargs: dict[str, Any] = {"model": model, "max_tokens": max_tokens}
    if extra:
        kwargs["extra_body"] = extra
    sent = time.perf_counter()
    return await stream_result(client.stream(messages, **kwargs), sent, max_tokens, tracker)


async def stream_result(events: AsyncIterator[StreamEvent], sent: float, max_tokens: int,
                        tracker: _Tracker | None = None) -> StreamResult:
    """One stream's figures, read by a ThroughputMeter from its events; raise BenchError when it failed."""
    meter = ThroughputMeter(sent)
    prompt_tokens: int | None = None
    finished: Finished | None = None
    counted = 0
    async for event in events:
        if isinstance(event, Delta):
            meter.add(event.at, event.completion_tokens, thinking=event.thinking)
            if event.prompt_tokens is not None:
                prompt_tokens = event.prompt_tokens
            if tracker is not None:
                tracker.tokens(meter.tokens - counted)
                counted = max(counted, meter.tokens)
        elif isinstance(event, Recast):
            meter.recast()
        elif isinstance(event, Finished):
            finished = event
            if event.usage is not None:
                meter.correct_total(event.usage.completion_tokens)
                prompt_tokens = event.usage.prompt_tokens
        elif isinstance(event, Failed):
            raise _failure(event)
    assert finished is not None  # the client ends every stream with Finished or Failed
    if tracker is not None:
        tracker.tokens(max_tokens - counted)  # a reply that stopped early still completes its share
        tracker.requests_done += 1
        tracker.emit(force=False)
    return StreamResult(meter.ttft_s, meter.average_tok_s(), finished.at - sent, prompt_tokens, meter.tokens,
                        finished.reason, "estimated" if meter.estimated else "server", finished.at,
                        thinking_tokens=meter.thinking_tokens, ttfa_s=meter.ttfa_s, thinking_s=meter.thinking_s)


async def measure_batch(client: Any, model: str, prompts: list[list[dict]], max_tokens: int, run: int,
                        tracker: _Tracker | None = None, extra: dict | None = None) -> RunResult:
    """Start one stream per prompt together; the wall time runs until the last one ends."""
    start = time.perf_counter()
    tasks = [asyncio.ensure_future(measure_stream(client, model, p, max_tokens, tracker, extra)) for p in prompts]
    try:
        streams = await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    wall = max(s.ended_at for s in streams) - start
    return RunResult(run, len(prompts), wall, tuple(streams))


async def run_bench(config: BenchConfig,
                    progress_callback: Callable[[BenchProgress], Any] | None = None) -> BenchResult:
    """Probe, check, build the prompt, warm up, then measure every concurrency level."""
    from zorac_tui.server.client import ChatClient

    config.check()
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    tracker = _Tracker(progress_callback)
    tracker.emit("probe", f"Probing {config.base_url}")
    info, server = await preflight(config)
    tracker.emit("prompt", f"Building a {config.prompt_tokens:,}-token prompt")
    prompt = await build_prompt(config.prompt_tokens, base_url=config.base_url, model=server.model,
                                api_key=config.api_key, can_tokenize=info.has_tokenize)
    if server.max_model_len is not None and prompt.tokens + config.max_tokens > server.max_model_len:
        raise BenchError(EXIT_CONTEXT, f"Context too small: the prompt takes {prompt.tokens:,} tokens + --max-tokens "
                                       f"{config.max_tokens:,} > {server.max_model_len:,} (max_model_len)")
    ignore_eos = server.flavor == "vllm"  # generate exactly max_tokens, as benchmarks should
    extra = {"ignore_eos": True} if ignore_eos else None
    warm_tokens = min(config.max_tokens, WARMUP_MAX_TOKENS) if config.warmup else 0
    per_level = config.runs * config.max_tokens
    tracker.total = warm_tokens + sum(c * per_level for c in config.concurrency)
    tracker.requests_total = (1 if config.warmup else 0) + config.runs * sum(config.concurrency)
    if config.gpu:
        watch = await asyncio.to_thread(make_watch, config.base_url, demo=config.simulated,
                                        nvml_module=config.nvml_module)
    else:
        watch = GpuWatch(None, note="GPU sampling off")
    client = ChatClient(config.base_url, config.api_key, stall_timeout=config.stall_timeout)
    tag = 0
    levels: list[LevelResult] = []
    try:
        await client.warm_up()
        watch.start()
        watch.set_busy(True)
        if config.warmup:
            tracker.emit("warmup", "Warm-up request")
            await measure_stream(client, server.model, prompt.messages(tag), warm_tokens, tracker, extra)
            tag += 1
        for c in config.concurrency:
            runs: list[RunResult] = []
            for r in range(config.runs):
                tracker.emit("measure", f"Concurrency {c}: run {r + 1} of {config.runs}")
                prompts = [prompt.messages(tag + i) for i in range(c)]
                tag += c
                runs.append(await measure_batch(client, server.model, prompts, config.max_tokens, r + 1,
                                                tracker, extra))
            levels.append(LevelResult(c, tuple(runs)))
    finally:
        peaks = await asyncio.to_thread(watch.stop)
        await client.aclose()
    tracker.completed = tracker.total
    tracker.emit("done", "Done")
    result = BenchResult(config, server, prompt, tuple(levels), peaks, started, time.perf_counter() - t0,
                         ignore_eos=ignore_eos)
    return _with_notes(result)


def _with_notes(result: BenchResult) -> BenchResult:
    """Add the one-line caveats a reader needs to trust the figures."""
    from dataclasses import replace

    notes: list[str] = []
    if result.simulated:
        notes.append("SIMULATED: measured against the built-in simulator, not a real server or GPU")
    if not result.prompt.exact:
        notes.append(f"The prompt size is an estimate ({result.prompt.source}): the server has no /tokenize")
    streams = [s for lv in result.levels for s in lv.streams]
    if any(s.counts != "server" for s in streams):
        notes.append("The server sent no token counts: completion tokens are chunks counted (≈ estimated)")
    short = [s for s in streams if s.completion_tokens < result.config.max_tokens]
    if short:
        how = "" if result.ignore_eos else " (ChatClient cannot send ignore_eos, so the model may stop by itself)"
        notes.append(f"{len(short)} of {len(streams)} replies ended before --max-tokens "
                     f"{result.config.max_tokens}{how}; decode rates are still per token")
    if result.server.max_model_len is None:
        notes.append("The server does not report max_model_len: the context check was skipped")
    if not result.gpu.available and result.gpu.note:
        notes.append(result.gpu.note)
    return replace(result, notes=tuple(notes))
