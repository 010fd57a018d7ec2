"""Typed events produced by one streaming chat request (the client's only output)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts as the server reported them."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@dataclass(frozen=True, slots=True)
class Started:
    """The server accepted the request; `at` is time.perf_counter() when headers arrived."""

    model: str
    at: float


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of reply text: the model's thinking when `thinking` is set, else its answer.

    `completion_tokens` is the server's running count (thinking and answer together) when it
    sends per-chunk usage (vLLM `continuous_usage_stats`), else None; one chunk may give two
    Deltas (the end of the thinking and the start of the answer) that carry the same count.
    `at` is time.perf_counter() on arrival.
    """

    text: str
    at: float
    completion_tokens: int | None = None
    prompt_tokens: int | None = None
    thinking: bool = False


@dataclass(frozen=True, slots=True)
class Recast:
    """Everything streamed as answer so far was thinking (a reply that began inside `<think>`
    with only a closing `</think>`, as DeepSeek-R1-style templates do); at most once per reply,
    before the Deltas of the chunk that showed it."""

    at: float


@dataclass(frozen=True, slots=True)
class Finished:
    """The reply ended normally; `reason` is the server's finish_reason ("stop", "length", …)."""

    reason: str | None
    usage: Usage | None
    at: float


class FailureKind(str, Enum):
    """Why a request failed, in categories the UI can explain."""

    UNREACHABLE = "unreachable"  # could not connect at all
    DROPPED = "dropped"  # connection lost mid-reply
    HTTP = "http"  # the server answered with an HTTP error status
    CONTEXT = "context"  # HTTP 400 saying the prompt does not fit the context window
    STALLED = "stalled"  # no data for longer than the stall timeout
    MALFORMED = "malformed"  # a chunk that is not valid JSON / not the expected shape
    TRUNCATED = "truncated"  # stream closed with no finish_reason and no [DONE]
    CANCELLED = "cancelled"  # the user cancelled


@dataclass(frozen=True, slots=True)
class Failed:
    """The request failed; `message` is one line for the user, `status` the HTTP status if any."""

    kind: FailureKind
    message: str
    at: float
    status: int | None = None
    detail: str | None = None


StreamEvent = Started | Delta | Recast | Finished | Failed
