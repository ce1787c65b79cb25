"""Messages between the sampler thread and the app (and, later, the engine client)."""

from __future__ import annotations

from textual.message import Message

from console.sample import Sample


class SampleReady(Message):
    """A new telemetry sample, posted by the sampler worker thread.

    A newer SampleReady waiting in the queue replaces this one: when the UI falls behind it
    shows the latest sample instead of replaying stale ones.
    """

    def __init__(self, sample: Sample) -> None:
        super().__init__()
        self.sample = sample

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SampleReady)


class SamplerFailed(Message):
    """The sampler raised (its contract is never to): shown once, sampling goes on."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error
