"""`ReplayEngine`: an `Engine` that plays recorded event streams (for tests and demos).

A script maps a command name to the wire objects (`{"event": "progress", ...}`, no `v`/`ts`
needed) to deliver when that command is sent; each is validated and decoded by the same
`console.core.protocol` code as the real client's, stamped, given the command's id as
`reply_to`, and delivered in order on a thread of its own (as the real client's readers do).
`start()` plays the `"start"` script (by default `hello` then `state idle`). `kill()` and
`stop()` deliver `exited`. `events_of(path)` reads a session log's EVENT lines back into wire
objects, so a stream recorded from the real engine can be replayed as it was.

Every command sent is kept in `sent`, typed. No torch, no process.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from console.core import protocol
from console.core.protocol import AnyCommand
from console.engines.base import Engine, EngineDead, OnEvent

Script = Mapping[str, Sequence[Mapping[str, Any]]]

HELLO: dict[str, Any] = {"event": "hello", "protocol": protocol.PROTOCOL_VERSION, "pid": 4242,
                         "python": "3.11", "torch": "replay", "transformers": "replay",
                         "devices": [], "offline": True}


class ReplayEngine(Engine):
    """Plays `script[command name]` for every command sent; see the module docstring."""

    def __init__(self, script: Script, on_event: OnEvent | None = None, *,
                 pid: int = 4242) -> None:
        super().__init__(on_event)
        self.script = dict(script)
        self.script.setdefault("start", [{**HELLO, "pid": pid}, {"event": "state",
                                                                 "state": "idle"}])
        self._pid = pid
        self._alive = False
        self.sent: list[AnyCommand] = []
        self._queue: queue.Queue[tuple[int | None, Mapping[str, Any]] | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def _play(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            reply_to, wire = item
            msg = {"v": protocol.PROTOCOL_VERSION, "ts": time.time(), **wire}
            if reply_to is not None and "id" not in wire:
                msg["id"] = reply_to
            if msg.get("event") == "exited":
                self._alive = False
            try:
                event = protocol.to_event(protocol.validate(msg), received_ts=time.time())
            except protocol.ProtocolError as exc:  # as the real client: dropped, shown
                event = protocol.make_event(protocol.Output,
                                            text=f"[protocol] dropped a line: {exc}")
            if self.on_event is not None:
                self.on_event(event)

    def _enqueue(self, name: str, reply_to: int | None) -> None:
        for wire in self.script.get(name, ()):
            self._queue.put((reply_to, wire))

    def start(self) -> int | None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._play, name="replay-engine",
                                            daemon=True)
            self._thread.start()
        self._alive = True
        self._enqueue("start", None)
        return self._pid

    def send(self, command: AnyCommand) -> int:
        if not self._alive:
            raise EngineDead("the engine is not running (restart it)")
        msg_id = self.next_id()
        typed = protocol.with_id(command, msg_id)
        self.sent.append(typed)
        self._enqueue(typed.NAME, msg_id)
        return msg_id

    def _end(self, expected: bool) -> None:
        if self._alive:
            self._queue.put((None, {"event": "exited", "returncode": 0 if expected else -9,
                                    "signal": None if expected else "SIGKILL",
                                    "expected": expected, "last_lines": [],
                                    "pid": self._pid}))

    def stop(self, timeout: float = 5.0) -> None:
        self._end(expected=True)

    def kill(self, grace_s: float = 3.0) -> None:
        self._end(expected=True)

    def die(self) -> None:
        """The engine ends unasked (a crash, the OOM killer)."""
        self._end(expected=False)

    def close(self) -> None:
        self.stop()
        self._queue.put(None)

    def drain(self, timeout: float = 5.0) -> None:
        """Wait until every queued event has been delivered."""
        deadline = time.monotonic() + timeout
        while not self._queue.empty() and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.01)

    @property
    def pid(self) -> int | None:
        return self._pid if self._alive else None

    @property
    def alive(self) -> bool:
        return self._alive


def events_of(path: Path) -> list[dict[str, Any]]:
    """The events of a session log (its EVENT lines), as wire objects without `v` and `id`."""
    events: list[dict[str, Any]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] == "EVENT":
            wire = json.loads(parts[2].strip())
            events.append({k: v for k, v in wire.items() if k not in ("v", "id", "ts")})
    return events
