"""Canned Markdown answers the demo simulator streams, chosen deterministically from the prompt."""

from __future__ import annotations

import zlib

VLLM_SERVING = """\
## Serving Mistral Small 24B with vLLM on one RTX 4090

The AWQ build fits a 24 GB card comfortably if you let the Marlin kernels do the work:

```bash
pip install vllm
vllm serve stelterlab/Mistral-Small-24B-Instruct-2501-AWQ \\
  --quantization awq_marlin \\
  --max-model-len 16384 \\
  --gpu-memory-utilization 0.92 \\
  --port 8000
```

### What each flag does

1. `--quantization awq_marlin` picks the fast Marlin kernels for 4-bit AWQ weights \
(roughly 60 tok/s decode instead of ~25 with the generic AWQ path).
2. `--max-model-len 16384` caps the context so the KV cache pool can hold several requests.
3. `--gpu-memory-utilization 0.92` leaves a little headroom for the desktop and CUDA graphs.

Once it prints `Application startup complete`, check it from another terminal:

```bash
curl -s http://localhost:8000/v1/models | python -m json.tool
curl -s http://localhost:8000/metrics | grep kv_cache_usage_perc
```

Any OpenAI-compatible client works against `http://localhost:8000/v1`:

```python
from openai import OpenAI

client = OpenAI(base_url="http://localhost:8000/v1", api_key="unused")
stream = client.chat.completions.create(
    model="stelterlab/Mistral-Small-24B-Instruct-2501-AWQ",
    messages=[{"role": "user", "content": "Say hello in three languages."}],
    stream=True,
    stream_options={"include_usage": True},
)
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        print(chunk.choices[0].delta.content, end="", flush=True)
```

> **Tip:** if start-up fails with an out-of-memory error, lower `--max-model-len` \
before touching `--gpu-memory-utilization`.
"""

KV_CACHE = """\
## How the KV cache limits your context

During decoding, every layer stores a **key** and a **value** vector for each token it has \
seen, so the model never recomputes attention over the prompt. That store is the KV cache, \
and on a single GPU it is usually what runs out first.

### Size per token

For Mistral Small 24B in fp16:

| quantity | value |
| --- | --- |
| layers | 40 |
| KV heads (GQA) | 8 |
| head dimension | 128 |
| bytes per element | 2 |
| **per token** | 2 × 40 × 8 × 128 × 2 = **160 KiB** |

With about 8 GiB left for the cache after the weights, that is roughly **52,000 tokens** \
in total, shared by every request in flight.

### What that means in practice

- One 16k-token conversation uses about 31% of the pool.
- vLLM hands out memory in *blocks* of 16 tokens (PagedAttention), so little is wasted.
- When the pool is full, new requests wait and long ones may be **preempted** and recomputed.
- Prefix caching lets follow-up turns reuse the blocks of the shared history.

You can watch it live:

```bash
watch -n1 "curl -s localhost:8000/metrics | grep -E 'kv_cache_usage_perc|num_requests'"
```

If `vllm:kv_cache_usage_perc` sits near 1.0 and `num_requests_waiting` climbs, shorten the \
context or summarise older turns.
"""

QUANTIZATION = """\
## AWQ, GPTQ, NF4 or GGUF on a 24 GB GPU?

Short version: **AWQ with the Marlin kernel** is the fastest 4-bit option in vLLM today, \
and quality is within a point or two of fp16 on most benchmarks.

| method | typical decode (24B, RTX 4090) | weights | notes |
| --- | --- | --- | --- |
| AWQ + Marlin | 60–65 tok/s | ~14 GB | activation-aware, best speed |
| GPTQ + Marlin | 45–55 tok/s | ~14 GB | widely available, slightly slower |
| bitsandbytes NF4 | 15–20 tok/s | ~13 GB | easy to load, slow kernels |
| GGUF (generic kernels) | ~6 tok/s | ~14 GB | great in llama.cpp, poor in vLLM |

### Things to check before you pick one

1. **Kernel support** – your GPU needs compute capability 8.0+ for Marlin.
2. **Calibration data** – AWQ and GPTQ checkpoints were calibrated on a dataset; \
a domain far from it can lose a little accuracy.
3. **Chat template** – quantized models are touchy about template mismatches, so always \
send structured `messages`, never a hand-built prompt string.

To confirm which kernel vLLM chose, look for this line at start-up:

```bash
vllm serve model-awq --quantization awq_marlin 2>&1 | grep -i marlin
```

If the log says it fell back to plain `awq`, expect about half the speed.
"""

PYTHON_ASYNC = """\
## Streaming many requests concurrently with asyncio

Use one `AsyncOpenAI` client and `asyncio.gather`; the server batches the requests \
for you, so total throughput goes up even though each stream gets a little slower.

```python
import asyncio
import time

from openai import AsyncOpenAI

client = AsyncOpenAI(base_url="http://localhost:8000/v1", api_key="unused")


async def ask(question: str) -> tuple[str, float]:
    start = time.perf_counter()
    parts: list[str] = []
    stream = await client.chat.completions.create(
        model="stelterlab/Mistral-Small-24B-Instruct-2501-AWQ",
        messages=[{"role": "user", "content": question}],
        stream=True,
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
    return "".join(parts), time.perf_counter() - start


async def main() -> None:
    questions = ["What is PagedAttention?", "Explain AWQ.", "What is a KV cache?"]
    results = await asyncio.gather(*(ask(q) for q in questions))
    for question, (answer, seconds) in zip(questions, results):
        print(f"{question!r}: {len(answer)} chars in {seconds:.1f}s")


asyncio.run(main())
```

A few rules that save debugging time:

- Never call blocking code (`requests`, `time.sleep`) inside a coroutine; use \
`asyncio.to_thread` for it.
- Bound concurrency with an `asyncio.Semaphore` if you fire hundreds of requests.
- Cancel cleanly: wrap the loop in `try/finally` and close the stream on exit.
"""

GIT_UNDO = """\
## Undoing the last commit

It depends on whether you already pushed it.

**Not pushed yet** – keep the changes, drop the commit:

```bash
git reset --soft HEAD~1     # changes stay staged
git reset HEAD~1            # changes stay, unstaged
git reset --hard HEAD~1     # throws the changes away (careful!)
```

**Already pushed** – do not rewrite shared history; add a commit that reverses it:

```bash
git revert HEAD
git push
```

If you only want to fix the message or add a forgotten file:

```bash
git add forgotten_file.py
git commit --amend -m "Better message"
```

And if a reset went wrong, `git reflog` lists every position `HEAD` has been at, \
so you can get back with `git reset --hard HEAD@{1}`.
"""

CONTEXT_BUDGET = """\
## Why my long chat suddenly got an error

Every request sends the **whole conversation** again, so the prompt grows with each turn. \
When prompt tokens plus the room left for the reply exceed `max_model_len` (16,384 here), \
the server refuses the request with a 400 error.

### Ways to stay inside the window

1. **Summarise older turns** – replace the first half of the chat with a short summary; \
this usually frees 60–80% of the tokens.
2. **Trim pasted material** – logs and code dumps are the usual culprits.
3. **Lower `max_tokens`** – the reply budget counts against the same window.
4. **Start a new conversation** for a new topic.

### Counting tokens correctly

Word counts and `len(text) / 4` are only estimates; the exact figure comes from the \
server's own tokenizer and chat template:

```bash
curl -s localhost:8000/tokenize -H 'content-type: application/json' -d '{
  "model": "stelterlab/Mistral-Small-24B-Instruct-2501-AWQ",
  "messages": [{"role": "user", "content": "Hello there"}],
  "add_generation_prompt": true
}'
```

The answer's `count` includes the template's special tokens, which a plain \
tokenizer would miss.
"""

GPU_MEMORY = """\
## Where the 22 GB of VRAM go

On the reference setup (RTX 4090, Mistral Small 24B AWQ) `nvidia-smi` shows about 22 GB \
in use even when nothing is running. That is expected:

- **Weights: ~14 GB** – 24B parameters at 4 bits, plus fp16 scales and the embedding table.
- **KV cache: ~8 GB** – vLLM reserves it up front, sized by `--gpu-memory-utilization`.
- **CUDA context, graphs and activations: ~2 GB.**

vLLM grabs the memory at start-up on purpose, so the usage figure barely moves while you \
chat. The numbers that *do* move are:

1. GPU utilisation, which jumps to 90–100% during decoding;
2. power draw, from ~30 W idle to 350–420 W under load;
3. `vllm:kv_cache_usage_perc`, which grows with the tokens in flight.

If another program needs the GPU, restart vLLM with a lower \
`--gpu-memory-utilization`, for example `0.80`.
"""

SHORT = """\
Hello! I'm a language model running locally on your own GPU through vLLM, so nothing you \
type here leaves this machine and there is no per-token bill to worry about. I can help \
with code, explain error messages, draft or edit text, summarise long documents, or just \
talk an idea through with you.

While I answer, the panes beside this conversation show what the hardware is doing: how \
much VRAM is in use, how many tokens per second the GPU is producing, how long the first \
token took to arrive, and how much of the context window this conversation has already \
used. If the chat grows long, older turns can be summarised to make room.

What would you like to work on?
"""

ANSWERS: tuple[str, ...] = (
    VLLM_SERVING, KV_CACHE, QUANTIZATION, PYTHON_ASYNC, GIT_UNDO, CONTEXT_BUDGET, GPU_MEMORY, SHORT,
)

KEYWORDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("git", "commit", "rebase", "revert"), GIT_UNDO),
    (("kv", "cache", "paged"), KV_CACHE),
    (("quant", "awq", "gptq", "gguf", "nf4", "bits"), QUANTIZATION),
    (("async", "asyncio", "await", "concurren", "python"), PYTHON_ASYNC),
    (("vram", "memory", "nvidia", "gpu"), GPU_MEMORY),
    (("context", "token", "window", "long", "summar"), CONTEXT_BUDGET),
    (("vllm", "serve", "server", "install", "deploy"), VLLM_SERVING),
    (("hello", "hi", "hey", "thanks", "who are you"), SHORT),
)


def summary_of(prompt: str) -> str:
    """A plausible summary for a summarization request: one bullet per user turn, in order."""
    asks = [block.split("\n", 1)[1].strip().splitlines()[0][:120]
            for block in prompt.split("### ")[1:] if block.startswith("User") and "\n" in block]
    lines = ["**Summary of the earlier conversation**", ""]
    lines += [f"- The user asked: {ask}" for ask in asks if ask]
    lines += ["- The assistant answered each point with figures for the reference setup "
              "(RTX 4090, Mistral-Small-24B AWQ, ~62 tok/s, 16k context).",
              "- Open question: none recorded."]
    return "\n".join(lines) + "\n"


def choose(prompt: str) -> str:
    """The canned answer for a user message: keyword match first, else a stable hash pick."""
    if "conversation to summarize" in prompt[:200]:
        return summary_of(prompt)
    lowered = prompt.lower()
    words = set(lowered.replace("?", " ").replace(",", " ").replace(".", " ").split())
    for keys, answer in KEYWORDS:
        for key in keys:
            if " " in key:
                hit = key in lowered
            elif len(key) <= 3:
                hit = key in words
            else:
                hit = any(w.startswith(key) for w in words)
            if hit:
                return answer
    return ANSWERS[zlib.crc32(prompt.encode("utf-8")) % len(ANSWERS)]
