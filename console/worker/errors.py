"""The engine's error taxonomy: each failure it explains without a traceback is one class,
whose `error_type` names it in the `error` event (docs/engine.md, "Error types")."""

from __future__ import annotations

import contextlib


class EngineError(Exception):
    """A failure with a clear message (and the fix) that needs no traceback to explain."""

    error_type = "EngineError"

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class ModelNotFound(EngineError):
    error_type = "ModelNotFound"


class NoWeights(EngineError):
    error_type = "NoWeights"


class UnknownArchitecture(EngineError):
    error_type = "UnknownArchitecture"


class RemoteCodeRefused(EngineError):
    error_type = "RemoteCodeRefused"


class Busy(EngineError):
    error_type = "Busy"


class NotLoaded(EngineError):
    error_type = "NotLoaded"


class BadCommand(EngineError):
    error_type = "BadCommand"


class LoadAborted(EngineError):
    error_type = "LoadAborted"


class PreflightFailed(EngineError):
    """The pre-load gate found the checkpoint broken: nothing was placed."""

    error_type = "PreflightFailed"


class WillNotFit(EngineError):
    """The pre-load gate's estimate does not fit; `force` overrides it."""

    error_type = "WillNotFit"


class ResumeRefused(EngineError):
    error_type = "ResumeRefused"


class LoaderUnavailable(EngineError):
    """`loader: fast` was asked for, but the checkpoint needs the stock path (the reason)."""

    error_type = "LoaderUnavailable"


def _strip(exc: BaseException) -> BaseException:
    """Cut the exception loose from its frames (they pin tensors); keep message and hint."""
    text = str(exc)
    if not getattr(exc, "hint", "") and ("weights_only" in text or "Unpickl" in type(exc).__name__):
        with contextlib.suppress(AttributeError, TypeError):
            exc.hint = ("this .bin checkpoint needs full unpickling, which can run arbitrary "  # type: ignore[attr-defined]
                        "code: opt in for this model with --allow-pickle only if you trust it")
    exc.__traceback__ = None
    exc.__context__ = None
    exc.__cause__ = None
    return exc
