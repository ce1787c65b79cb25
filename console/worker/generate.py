"""Generation's parts: the stopping criteria (the guard's, the user's stop) and the streamer
that emits one `token` event per generated token."""

from __future__ import annotations

import threading
import time
from typing import Any

from console.worker.events import Emit


class _StopOnGuard:
    """A StoppingCriteria that stops generation cleanly ("stopped by guard") when the KV cache
    growth of the next GENERATION_CHECK_EVERY_TOKENS tokens would take the model's device to
    its pause level. Checks at the first token and every that many tokens after."""

    def __init__(self, load_guard: Any, device: str, kv_bytes_per_token: int | None,
                 prompt_tokens: int) -> None:
        from console.worker.loadguard import GENERATION_CHECK_EVERY_TOKENS

        self.guard = load_guard
        self.device = device
        self.per_token = kv_bytes_per_token or 0
        self.prompt_tokens = prompt_tokens
        self.every = GENERATION_CHECK_EVERY_TOKENS
        self.next_check = 0
        self.figures: dict[str, Any] | None = None

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        generated = int(input_ids.shape[-1]) - self.prompt_tokens
        if self.figures is None and self.per_token and generated >= self.next_check:
            self.next_check = generated + self.every
            growth = self.per_token * int(input_ids.shape[0]) * self.every
            self.figures = self.guard.generation_check(self.device, growth)
            if self.figures is not None:
                self.figures["tokens"] = generated
        return torch.full((input_ids.shape[0],), self.figures is not None, dtype=torch.bool,
                          device=input_ids.device)


class _StopOnFlag:
    """A StoppingCriteria that ends generation when the engine's stop flag is set."""

    def __init__(self, flag: threading.Event) -> None:
        self.flag = flag

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        return torch.full((input_ids.shape[0],), self.flag.is_set(), dtype=torch.bool,
                          device=input_ids.device)


class _EventStreamer:
    """A transformers streamer that emits one `token` event per generated token, with the text
    that token adds (incremental detokenization: multi-byte characters wait for completion)."""

    def __init__(self, emit: Emit, reply_to: int, tokenizer: Any, kv_per_token: int | None,
                 prompt_tokens: int) -> None:
        self.emit = emit
        self.reply_to = reply_to
        self.tok = tokenizer
        self.kv_per_token = kv_per_token
        self.prompt_tokens = prompt_tokens
        self.ids: list[int] = []
        self.prefix_offset = 0
        self.read_offset = 0
        self.prompt_seen = False
        self.t0 = 0.0
        self.t_first: float | None = None
        self.t_last: float | None = None

    def put(self, value: Any) -> None:
        if not self.prompt_seen:  # the first call carries the prompt
            self.prompt_seen = True
            return
        now = time.perf_counter()
        if self.t_first is None:
            self.t_first = now
        self.t_last = now
        new = [int(x) for x in value.reshape(-1).tolist()]
        self.ids.extend(new)
        prefix = self.tok.decode(self.ids[self.prefix_offset:self.read_offset],
                                 skip_special_tokens=True)
        full = self.tok.decode(self.ids[self.prefix_offset:], skip_special_tokens=True)
        delta = ""
        if len(full) > len(prefix) and not full.endswith("\ufffd"):
            delta = full[len(prefix):]
            self.prefix_offset = self.read_offset
            self.read_offset = len(self.ids)
        n = len(self.ids)
        kv = self.kv_per_token * (self.prompt_tokens + n) if self.kv_per_token else None
        self.emit("token", self.reply_to, text=delta, token_ids=new, index=n - 1,
                  elapsed_s=now - self.t0, kv_cache_bytes=kv)

    def end(self) -> None:
        pass
