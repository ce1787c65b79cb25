"""The one interface every engine client implements, on the app side.

An engine is something that runs a model somewhere else and tells the app what happens as
typed events (`console.core.protocol`): today `LocalEngine` (`console/engines/local.py`, our
own engine process over pipes), `ReplayEngine` (`console/engines/replay.py`, recorded event
streams, for tests) and `RemoteEngine` (`console/engines/remote.py`, a vLLM / SGLang /
`transformers serve` process spoken to over HTTP). Each implements the same few members:

- `start()` brings it up (spawns, connects or attaches) and returns its pid, or None when
  there is no local process; its first event is `Hello`, then `State`.
- `send(command)` takes a typed command and returns its id; every event answering it carries
  that id as `reply_to`. An engine that cannot do a command answers it with an `Error` event
  (`error_type` "Unsupported"), never by raising; `EngineDead` is raised only when there is
  nothing to send to.
- Events reach `on_event` (given at construction), called on the engine's own threads: the
  app posts them to its UI thread; `Output` carries raw text the engine printed, `Exited` the
  end of the process (or connection).
- `stop()` asks it to end (waits up to a timeout), `kill()` ends it now (the last-resort
  unload: for a process every byte returns), `close()` stops it and releases the client.
- `pid`, `alive`, `log_path` (the session log, or None).

The `next_id()` counter is shared by the implementations here so ids are unique per client.
No torch, no textual here.
"""

from __future__ import annotations

import itertools
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from console.core.levels import GUARD_RESOURCES, Levels
from console.core.protocol import AnyCommand, AnyEvent

OnEvent = Callable[[AnyEvent], None]


class EngineDead(RuntimeError):
    """A command was sent to an engine that is not running."""


class Engine(ABC):
    """An engine client; see the module docstring for the contract."""

    def __init__(self, on_event: OnEvent | None = None) -> None:
        self.on_event = on_event
        self._ids = itertools.count(1)
        self._id_lock = threading.Lock()

    def next_id(self) -> int:
        """A fresh command id."""
        with self._id_lock:
            return next(self._ids)

    @abstractmethod
    def start(self) -> int | None:
        """Bring the engine up; its pid (None when there is no local process)."""

    @abstractmethod
    def send(self, command: AnyCommand) -> int:
        """Send one typed command; returns its id. `EngineDead` when not running."""

    @abstractmethod
    def stop(self, timeout: float = 5.0) -> None:
        """Ask the engine to end; end it by force after `timeout` seconds."""

    @abstractmethod
    def kill(self, grace_s: float = 3.0) -> None:
        """End the engine now (terminate, then kill after `grace_s`)."""

    def close(self) -> None:
        """Stop the engine and release what the client holds (logs, pipes)."""
        self.stop()

    @property
    @abstractmethod
    def pid(self) -> int | None:
        """The engine's process id, when there is a local process."""

    @property
    @abstractmethod
    def alive(self) -> bool:
        """Whether commands can be sent now."""

    @property
    def log_path(self) -> Path | None:
        """The session log this client writes, if any."""
        return None


def _levels_dict(levels: Levels | Mapping[str, Any]) -> dict[str, Any]:
    """A protocol level object from Levels, or a partial one ({"pause": 95}) as given."""
    return levels.to_wire() if isinstance(levels, Levels) else dict(levels)


def guard_settings(config: Any, *, thresholds: Mapping[str, Any] | None = None,
                   auto_resume: bool | None = None, on_pause: str = "wait",
                   stall_s: float | None = None) -> dict[str, Any]:
    """The `guard` field of a load from a `console.host.config.Config` (its thresholds, auto_resume
    and stall_s), with `thresholds` (Levels or level dicts) replacing some resources'."""
    merged = {name: config.thresholds[name] for name in GUARD_RESOURCES}
    merged.update({name: levels for name, levels in (thresholds or {}).items()
                   if name in GUARD_RESOURCES})
    return {"thresholds": {name: _levels_dict(levels) for name, levels in merged.items()},
            "auto_resume": config.auto_resume if auto_resume is None else auto_resume,
            "stall_s": config.stall_s if stall_s is None else stall_s,
            "on_pause": on_pause}
