"""Generation settings and their defaults, in one place (the prompt panel, `load --prompt`, the
engine client and the engine read these).

Pure: `GenerationSettings.generate_kwargs()` is what the engine hands `model.generate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_MAX_NEW_TOKENS = 64
DEFAULT_TEMPERATURE = 0.0  # greedy


@dataclass(frozen=True, slots=True)
class GenerationSettings:
    """What one generate asks for; the defaults are the console's everywhere."""

    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    temperature: float = DEFAULT_TEMPERATURE
    top_p: float | None = None  # only with sampling (temperature > 0)
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be 0 or more, got {self.temperature}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")

    @classmethod
    def from_message(cls, msg: dict[str, Any]) -> GenerationSettings:
        """From a generate command's fields; a missing or null field takes its default."""
        return cls(
            max_new_tokens=int(msg.get("max_new_tokens") or DEFAULT_MAX_NEW_TOKENS),
            temperature=float(msg.get("temperature") or DEFAULT_TEMPERATURE),
            top_p=None if msg.get("top_p") is None else float(msg["top_p"]),
            seed=None if msg.get("seed") is None else int(msg["seed"]),
        )

    @property
    def sampling(self) -> bool:
        return self.temperature > 0

    def generate_kwargs(self) -> dict[str, Any]:
        """`model.generate` keyword arguments: greedy at temperature 0 (top_p then unused)."""
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "do_sample": self.sampling}
        if self.sampling:
            kwargs["temperature"] = self.temperature
            if self.top_p is not None:
                kwargs["top_p"] = self.top_p
        return kwargs


DEFAULT_GENERATION = GenerationSettings()
