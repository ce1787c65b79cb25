"""The messages between the app and the engine process (JSON lines), versioned.

Both directions carry one JSON object per line. Every message has `v` (the protocol version)
and a kind: commands (app -> engine) carry `cmd` and an integer `id`; events (engine -> app)
carry `event`, a wall-clock timestamp `ts` (seconds since the epoch) and, when they answer a
command, that command's `id`. Unknown extra fields are allowed (newer peers may add them);
unknown command or event names and missing or mistyped required fields are `ProtocolError`s.

Two events never cross the pipe: the client makes `output` (one raw line the engine printed on
stdout/stderr) and `exited` (the engine process ended) so the app sees one ordered stream.

Documented in docs/engine.md. No torch, no transformers here.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

PROTOCOL_VERSION = 1

# Engine states, as carried by the `state` event.
STATES = ("idle", "loading", "loaded", "generating", "unloading", "error")

_NUM = (int, float)
_OPT_NUM = (int, float, type(None))
_OPT_STR = (str, type(None))
_OPT_INT = (int, type(None))

# Command name -> required fields and their types. Optional fields are listed in docs/engine.md.
COMMANDS: dict[str, dict[str, tuple[type, ...]]] = {
    "load": {"model": (str,)},
    "unload": {},
    "gc": {},
    "empty_cache": {},
    "memory_report": {},
    "generate": {"prompt": (str,)},
    "stop_generation": {},
    "shutdown": {},
    "ping": {},
    # The load guard (docs/engine.md, "Guard").
    "pause": {},
    "resume": {},
    "abort": {},
    "set_thresholds": {},
    # sha256 of the loaded model's tensors and logits (parity checks).
    "fingerprint": {},
}

# Event name -> required fields and their types.
EVENTS: dict[str, dict[str, tuple[type, ...]]] = {
    "hello": {"protocol": (int,), "pid": (int,), "python": (str,), "torch": (str,),
              "transformers": (str,), "devices": (list,), "offline": (bool,)},
    "state": {"state": (str,)},
    "progress": {"tensors_done": (int,), "tensors_total": (int,), "bytes_done": (int,),
                 "bytes_total": (int,), "rate_bytes_per_s": _OPT_NUM, "eta_s": _OPT_NUM,
                 "current_file": _OPT_STR},
    "loaded": {"model": (str,), "path": (str,), "label": (str,), "model_type": (str,),
               "model_class": (str,), "load_s": _NUM, "memory": (dict,)},
    "token": {"text": (str,), "token_ids": (list,), "index": (int,)},
    "generated": {"tokens": (int,), "ttft_s": _OPT_NUM, "tokens_per_s": _OPT_NUM,
                  "kv_cache_bytes": _OPT_INT, "stopped": (str,), "text": (str,)},
    "unloaded": {"freed_bytes": (int,), "seconds": _NUM, "held_bytes": (int,),
                 "held_by": (dict,), "message": (str,)},
    "gc": {"collected": (int,), "before": (dict,), "after": (dict,)},
    "empty_cache": {"before": (dict,), "after": (dict,)},
    "memory_report": {"devices": (list,)},
    "error": {"error_type": (str,), "message": (str,), "traceback": (str,)},
    "log": {"level": (str,), "message": (str,)},
    "pong": {},
    "bye": {},
    # The load guard: state changes of a load (answering the load's id), its settings.
    "preflight": {"ok": (bool,), "findings": (list,), "verdict": _OPT_STR},
    "paused": {"resource": _OPT_STR, "value": _OPT_NUM, "threshold": _OPT_NUM, "why": (str,),
               "tensor_index": (int,)},
    "resumed": {"why": (str,)},
    "aborted": {"resource": _OPT_STR, "value": _OPT_NUM, "threshold": _OPT_NUM, "why": (str,)},
    "stalled": {"seconds": _NUM, "text": (str,), "current_file": _OPT_STR},
    "guard": {"mode": (str,), "thresholds": (dict,)},
    "fingerprint": {"tensors": (dict,), "logits": (dict, type(None))},
    # Made by the client, never sent by the engine.
    "output": {"text": (str,)},
    "exited": {"returncode": _OPT_INT, "signal": _OPT_STR, "expected": (bool,),
               "last_lines": (list,)},
}

CLIENT_EVENTS = frozenset({"output", "exited"})


class ProtocolError(ValueError):
    """A line that is not a valid message of this protocol version."""


def command(name: str, msg_id: int, **fields: Any) -> dict[str, Any]:
    """A command message, validated."""
    msg = {"v": PROTOCOL_VERSION, "cmd": name, "id": msg_id, **fields}
    validate(msg)
    return msg


def event(name: str, reply_to: int | None = None, **fields: Any) -> dict[str, Any]:
    """An event message stamped now, validated."""
    msg: dict[str, Any] = {"v": PROTOCOL_VERSION, "event": name, "ts": time.time(), **fields}
    if reply_to is not None:
        msg["id"] = reply_to
    validate(msg)
    return msg


def _check_fields(kind: str, name: str, msg: dict[str, Any],
                  spec: dict[str, tuple[type, ...]]) -> None:
    for field, types in spec.items():
        if field not in msg:
            raise ProtocolError(f"{kind} {name!r}: missing field {field!r}")
        value = msg[field]
        # bool is an int subclass: don't let True pass as a count.
        if isinstance(value, bool) and bool not in types:
            raise ProtocolError(f"{kind} {name!r}: field {field!r} must not be a bool")
        if not isinstance(value, types):
            want = " or ".join(t.__name__ for t in types)
            raise ProtocolError(
                f"{kind} {name!r}: field {field!r} is {type(value).__name__}, expected {want}"
            )


def validate(msg: Any) -> dict[str, Any]:
    """Return `msg` if it is a valid command or event, else raise `ProtocolError`."""
    if not isinstance(msg, dict):
        raise ProtocolError(f"a message is a JSON object, got {type(msg).__name__}")
    if msg.get("v") != PROTOCOL_VERSION:
        raise ProtocolError(
            f"protocol version {msg.get('v')!r} is not {PROTOCOL_VERSION} "
            "(app and engine come from different versions of autoglm-console)"
        )
    if "event" in msg:
        name = msg["event"]
        if name not in EVENTS:
            raise ProtocolError(f"unknown event {name!r}")
        if not isinstance(msg.get("ts"), _NUM):
            raise ProtocolError(f"event {name!r}: field 'ts' must be a number")
        _check_fields("event", name, msg, EVENTS[name])
        if name == "state" and msg["state"] not in STATES:
            raise ProtocolError(f"event 'state': unknown state {msg['state']!r}")
    elif "cmd" in msg:
        name = msg["cmd"]
        if name not in COMMANDS:
            raise ProtocolError(f"unknown command {name!r}; known: {', '.join(COMMANDS)}")
        if not isinstance(msg.get("id"), int) or isinstance(msg.get("id"), bool):
            raise ProtocolError(f"command {name!r}: field 'id' must be an integer")
        _check_fields("command", name, msg, COMMANDS[name])
    else:
        raise ProtocolError("a message has either 'cmd' (a command) or 'event' (an event)")
    return msg


def encode(msg: dict[str, Any]) -> str:
    """One line of JSON (ends with a newline). Non-finite floats become null."""
    return json.dumps(_finite(msg), separators=(",", ":"), ensure_ascii=False) + "\n"


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def decode(line: str | bytes) -> dict[str, Any]:
    """Parse and validate one line; raise `ProtocolError` when it is not a valid message."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    try:
        msg = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"not JSON: {exc.msg} at column {exc.colno}: {line[:80]!r}") from None
    except (RecursionError, ValueError) as exc:  # deep nesting, a 5,000-digit integer (fuzz)
        raise ProtocolError(f"not a usable JSON line ({type(exc).__name__}): {line[:80]!r}"
                            ) from None
    return validate(msg)
