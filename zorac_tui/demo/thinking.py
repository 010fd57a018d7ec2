"""What the demo's reasoning model thinks before it answers: a few hundred tokens about the question, by topic."""

from __future__ import annotations

from . import answers

OPENING = ("Okay, the user is asking: \"{question}\". Let me think about what they actually need before I write "
           "anything.")

TOPICS: dict[str, tuple[str, ...]] = {
    answers.VLLM_SERVING: (
        "They want to serve Mistral Small 24B with vLLM on one RTX 4090. That card has 24 GB, and the AWQ "
        "weights take about 14 GB, so it fits, but only with a sensible context limit.",
        "Which flags matter? The quantization method first: awq_marlin, because the Marlin kernels are roughly "
        "twice as fast as the plain AWQ path. Then max-model-len, since the KV cache pool is what runs out. "
        "16k tokens is a good default here. gpu-memory-utilization around 0.92 leaves room for the desktop.",
        "I should also show how to check that the server works: curl the models endpoint and the metrics. "
        "And a short Python client with streaming, since that is what they will do next.",
    ),
    answers.KV_CACHE: (
        "This is about the KV cache and why it limits the context. I should explain what is stored: a key "
        "and a value vector per layer per token, so attention never recomputes the prompt.",
        "Let me work out the size per token for Mistral Small 24B: 40 layers, 8 KV heads with grouped query "
        "attention, head dimension 128, two bytes in fp16. Two times 40 times 8 times 128 times 2 is 163,840 "
        "bytes, so 160 KiB per token. With about 8 GiB for the cache that is roughly 52,000 tokens in total.",
        "A table would make the arithmetic easy to follow. Then the practical side: blocks of 16 tokens in "
        "PagedAttention, preemption when the pool is full, prefix caching, and the metric to watch.",
    ),
    answers.QUANTIZATION: (
        "They are choosing between AWQ, GPTQ, NF4 and GGUF on a 24 GB card. The honest answer depends on the "
        "kernels more than on the format.",
        "AWQ with Marlin is the fastest in vLLM, around 60 to 65 tokens per second for a 24B model. GPTQ with "
        "Marlin is close but a bit slower. bitsandbytes NF4 is easy to load but the kernels are slow, 15 to 20 "
        "tokens per second. GGUF is great in llama.cpp, but the generic kernels in vLLM give only about 6.",
        "A comparison table, then the things to check: compute capability for Marlin, calibration data, and the "
        "chat template, because quantized models are sensitive to template mismatches.",
    ),
    answers.PYTHON_ASYNC: (
        "They want to stream many requests at once with asyncio. One AsyncOpenAI client and asyncio.gather is "
        "the simplest correct pattern; the server batches the requests itself.",
        "I should write a complete example: a coroutine that streams one answer and times it, and a main that "
        "gathers three of them. Keep it runnable as is.",
        "Then the usual traps: blocking calls inside coroutines, unbounded concurrency without a semaphore, and "
        "closing the stream when the loop is cancelled.",
    ),
    answers.GIT_UNDO: (
        "Undoing the last commit. The key question is whether it was already pushed, because rewriting shared "
        "history causes trouble for everyone else.",
        "If not pushed: git reset with soft, mixed or hard, and I should say what each keeps. If pushed: git "
        "revert, which adds a new commit instead of rewriting. Amend is worth a mention for a wrong message.",
        "And reflog as the safety net, since a hard reset that went wrong can still be recovered from it.",
    ),
    answers.CONTEXT_BUDGET: (
        "Their long chat suddenly failed with an error. That is almost certainly the context window: every "
        "request sends the whole conversation, so the prompt grows with each turn until it no longer fits.",
        "The limit is max-model-len, 16,384 tokens here, and the reply budget counts against it too. Ways out: "
        "summarise older turns, trim pasted logs, lower max_tokens, or start a new conversation.",
        "I should also explain why word counts are only estimates and show the tokenize endpoint, which applies "
        "the server's own tokenizer and chat template.",
    ),
    answers.GPU_MEMORY: (
        "They see about 22 GB of VRAM in use even when idle. That is expected with vLLM: it reserves the KV "
        "cache up front.",
        "The breakdown: weights about 14 GB for 24B parameters at 4 bits, KV cache about 8 GB sized by "
        "gpu-memory-utilization, and roughly 2 GB for the CUDA context, graphs and activations.",
        "Since the memory figure barely moves, I should point them at what does move: utilisation, power "
        "draw and the KV cache usage metric. And how to give memory back to other programs.",
    ),
}
GENERIC = (
    "This looks like a general question, so a short and friendly answer is best. I should say what I am: a "
    "model running locally on their own GPU, so nothing leaves the machine.",
    "It would help to mention what the panes beside the chat show, the VRAM, the tokens per second, the time "
    "to first token and the context gauge, and to ask what they want to work on.",
)
CLOSING = ("Let me check the figures once more so nothing contradicts itself: the reference setup is the RTX 4090 "
           "with Mistral Small 24B in AWQ, about 62 tokens per second and a 16k context. Good. I will use headings, "
           "a short list where it helps and a code block for anything they need to type. Alright, let me write it.")


def thinking_for(question: str, answer: str) -> str:
    """Plausible thinking about `question` on the way to `answer` (a few hundred tokens)."""
    asked = " ".join(question.split())
    asked = asked if len(asked) <= 90 else asked[:87].rstrip() + "..."
    paragraphs = (OPENING.format(question=asked or "hello"), *TOPICS.get(answer, GENERIC), CLOSING)
    return "\n\n".join(paragraphs) + "\n"
