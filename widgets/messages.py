"""Messages from worker threads to the app: telemetry samples, engine messages, results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.message import Message

from console.core.protocol import AnyEvent, Token
from console.core.sample import Sample


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


class EngineMessage(Message):
    """One typed event an engine client delivered (an event, an `output` line or `exited`),
    posted from its threads; the app folds it into its session on the UI thread."""

    def __init__(self, event: AnyEvent, run: list[Token] | None = None) -> None:
        super().__init__()
        self.event = event
        # Token events that arrived before the UI thread took this message (the first one is
        # `event`): they are shown as one (ConsoleApp._deliver_engine_message).
        self.run = run


class CheckDone(Message):
    """The pre-flight of `model` (from a thread worker): `result` (a CheckResult) or None,
    `text` to show, `verdict` fits | tight | will_not_fit | broken | unknown."""

    def __init__(self, model: str, result: Any, text: str, verdict: str,
                 options: tuple[Any, ...] = ()) -> None:
        super().__init__()
        self.options = options
        self.model = model
        self.result = result
        self.text = text
        self.verdict = verdict


class BundleWritten(Message):
    def __init__(self, path: str | None, error: str | None = None) -> None:
        super().__init__()
        self.path = path
        self.error = error


class FingerprintRecorded(Message):
    """The TUI's fingerprint of the loaded model (V) was written to `path`, or failed
    (`problem`, one line)."""

    def __init__(self, path: Path | None, problem: str | None = None, *,
                 seconds: float | None = None) -> None:
        super().__init__()
        self.path = path
        self.problem = problem
        self.seconds = seconds


class VerdictReady(Message):
    """Two fingerprints compared (C): `verdict` (console.core.fingerprint.Verdict), or the one
    line saying why not (`problem`)."""

    def __init__(self, verdict: Any, reference: Path, recorded: Path,
                 problem: str | None = None) -> None:
        super().__init__()
        self.verdict = verdict
        self.reference = reference
        self.recorded = recorded
        self.problem = problem
