"""Protocol messages: encode/decode round trips and refusal of invalid lines."""

from __future__ import annotations

import json

import pytest

from console.core import protocol
from console.core.protocol import ProtocolError
from tests.fresh_python import fresh_python


def test_round_trip_command_and_event() -> None:
    cmd = protocol.command("load", 7, model="demo", dtype="bf16")
    assert protocol.decode(protocol.encode(cmd)) == cmd
    ev = protocol.event("progress", 7, tensors_done=1, tensors_total=2, bytes_done=10,
                        bytes_total=20, rate_bytes_per_s=None, eta_s=None, current_file="a")
    line = protocol.encode(ev)
    assert line.endswith("\n") and "\n" not in line[:-1]
    back = protocol.decode(line.encode())
    assert back["id"] == 7 and back["event"] == "progress" and back["ts"] == ev["ts"]


def test_non_finite_floats_become_null() -> None:
    ev = protocol.event("progress", None, tensors_done=0, tensors_total=0, bytes_done=0,
                        bytes_total=0, rate_bytes_per_s=float("inf"), eta_s=float("nan"),
                        current_file=None)
    back = protocol.decode(protocol.encode(ev))
    assert back["rate_bytes_per_s"] is None and back["eta_s"] is None


def test_unknown_extra_fields_are_allowed() -> None:
    msg = {"v": 1, "event": "state", "ts": 1.0, "state": "idle", "newer_field": [1, 2]}
    assert protocol.decode(json.dumps(msg))["newer_field"] == [1, 2]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        ('{"v": 2, "cmd": "gc", "id": 1}', "protocol version 2"),
        ('{"v": 1, "cmd": "launch_rockets", "id": 1}', "unknown command"),
        ('{"v": 1, "cmd": "gc"}', "'id' must be an integer"),
        ('{"v": 1, "cmd": "gc", "id": true}', "'id' must be an integer"),
        ('{"v": 1, "cmd": "load", "id": 1}', "missing field 'model'"),
        ('{"v": 1, "cmd": "load", "id": 1, "model": 3}', "field 'model' is int"),
        ('{"v": 1, "event": "nope", "ts": 1}', "unknown event"),
        ('{"v": 1, "event": "state", "ts": "x", "state": "idle"}', "'ts' must be a number"),
        ('{"v": 1, "event": "state", "ts": 1, "state": "dancing"}', "unknown state"),
        ('{"v": 1, "event": "gc", "ts": 1, "collected": true, "before": {}, "after": {}}',
         "must not be a bool"),
        ('{"v": 1}', "either 'cmd'"),
    ],
)
def test_invalid_lines(line: str, problem: str) -> None:
    with pytest.raises(ProtocolError, match=problem):
        protocol.decode(line)


def test_every_command_and_event_has_a_spec() -> None:
    for name in ("load", "unload", "gc", "empty_cache", "memory_report", "generate",
                 "stop_generation", "shutdown", "pause", "resume", "abort"):
        assert name in protocol.COMMANDS
    for name in ("hello", "state", "progress", "loaded", "token", "generated", "unloaded",
                 "gc", "empty_cache", "memory_report", "error", "log", "output", "exited"):
        assert name in protocol.EVENTS


def test_protocol_module_is_light() -> None:
    code = ("import sys, console.core.protocol, console.engines.local; "
            "print(sorted(m for m in ('torch', 'transformers', 'textual', 'safetensors') "
            "if m in sys.modules))")
    assert fresh_python(code) == "[]"
