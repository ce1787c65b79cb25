"""Events out: the engine's side of the protocol edge (one JSON line per event)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, BinaryIO

from console.core import protocol


class EventWriter:
    """Writes events to the events pipe, one JSON line each, from any thread."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def __call__(self, name: str, reply_to: int | None = None, **fields: Any) -> None:
        line = protocol.encode(protocol.event(name, reply_to, **fields)).encode("utf-8")
        with self._lock:
            try:
                self._stream.write(line)
                self._stream.flush()
            except (BrokenPipeError, ValueError, OSError):
                os._exit(0)  # the app is gone: nothing left to serve


Emit = Callable[..., None]
