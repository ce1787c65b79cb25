"""The fixed, versioned probe set of the migration check.

Changing a prompt, its order, the number of new tokens or the top-k changes what a fingerprint
means: bump `PROBE_SET` whenever any of it changes, so that two fingerprints of different probe
sets are reported as incomparable instead of as a divergence.

Text probes run on every model; image probes (the bundled probe screenshots of the vision
demo) only on a model that takes images. Prompts are sent through the model's chat template
(the in-process engine) or /v1/chat/completions (a served engine), greedy, with log-probs.
"""

from __future__ import annotations

from dataclasses import dataclass

PROBE_SET = "v1"
TOP_K = 5


@dataclass(frozen=True, slots=True)
class Probe:
    id: str
    prompt: str
    max_new_tokens: int
    images: tuple[str, ...] = ()  # names of bundled probe images (console/assets/probes)


_LONG = (
    "You are a careful assistant. Read the following notes and answer the question at the end.\n"
    + "\n".join(
        f"Note {i}: the warehouse in district {i % 7} received {17 * i % 101} crates of "
        f"{('apples', 'bolts', 'cables', 'drills', 'engines')[i % 5]} on day {3 * i % 29}."
        for i in range(1, 21)
    )
    + "\nQuestion: which district received the most crates of cables, and on which days?"
)

TEXT_PROBES: tuple[Probe, ...] = (
    Probe("short-fact", "What is the capital of France? Answer in one word.", 16),
    Probe("short-count", "Count from one to ten, separated by commas.", 24),
    Probe("code", "Write a Python function that returns the n-th Fibonacci number.", 32),
    Probe("translate", "Translate to German: The weather is nice today.", 16),
    Probe("long-context", _LONG, 24),
)

IMAGE_PROBES: tuple[Probe, ...] = (
    Probe("screen-tap", "Open the Settings app. What is the next action?", 24,
          ("phone_home.png",)),
    Probe("screen-two", "Compare the two screenshots. What changed?", 24,
          ("phone_home.png", "phone_settings.png")),
)


def probes_for(vision: bool) -> tuple[Probe, ...]:
    return TEXT_PROBES + (IMAGE_PROBES if vision else ())
