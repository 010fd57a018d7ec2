"""Token counts for the context gauge: exact from the server's /tokenize, else a calibrated estimate."""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict

from zorac_tui.core.budget import Calibration
from zorac_tui.core.tokens import Estimator
from zorac_tui.server.probe import tokenize_messages

CACHE_SIZE = 512


class TokenCounter:
    """Counts chat payloads; caches by content so each message is tokenized about once."""

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None,
                 can_tokenize: bool = False, estimator: Estimator | None = None) -> None:
        """`can_tokenize` comes from the probe; without it every figure is an estimate."""
        self.base_url = base_url
        self.model = model
        self.api_key = api_key
        self.can_tokenize = can_tokenize
        self.estimator = estimator or Estimator()
        self.calibration = Calibration()
        self._cache: OrderedDict[str, int] = OrderedDict()
        self._loading: asyncio.Future | None = None

    @property
    def source(self) -> str:
        """Where counts come from, for the gauge."""
        if self.can_tokenize:
            return "server /tokenize"
        calibrated = ", calibrated" if self.calibration.samples else ""
        return f"≈ {self.estimator.source}{calibrated}"

    async def ensure_estimator(self) -> None:
        """Load tiktoken (may try a download) in a thread, once; failure leaves chars/4."""
        if self.estimator.loaded:
            return
        if self._loading is None:
            self._loading = asyncio.ensure_future(asyncio.to_thread(self.estimator.load))
        await asyncio.shield(self._loading)

    async def count(self, messages: list[dict[str, str]]) -> tuple[int, bool]:
        """(tokens, exact) for a chat payload including the generation prompt."""
        if not messages:
            return 0, self.can_tokenize
        key = json.dumps(messages, sort_keys=True)
        if key in self._cache:  # tokenized before, or the server reported it as prompt_tokens
            self._cache.move_to_end(key)
            return self._cache[key], True
        if self.can_tokenize:
            exact = await tokenize_messages(self.base_url, messages, self.model, self.api_key)
            if exact is not None:
                self._cache[key] = exact
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
                return exact, True
        await self.ensure_estimator()
        return self.calibration.apply(self.estimator.count_messages(messages)), False

    async def observe(self, messages: list[dict[str, str]], prompt_tokens: int) -> None:
        """The server said this payload took `prompt_tokens`: remember it and calibrate the estimate."""
        key = json.dumps(messages, sort_keys=True)
        self._cache[key] = prompt_tokens
        if not self.can_tokenize:
            await self.ensure_estimator()
            self.calibration.observe(self.estimator.count_messages(messages), prompt_tokens)

    def known(self, messages: list[dict[str, str]]) -> int | None:
        """A count the server already reported for exactly this payload."""
        return self._cache.get(json.dumps(messages, sort_keys=True))
