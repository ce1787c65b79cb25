"""The session model: typed protocol decoding and `apply`, pure (no textual, no engine)."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from console.core import protocol
from console.core.levels import DEFAULT_LEVELS, Levels
from console.core.session import (
    AutoResumeSet,
    LevelsSet,
    LoadRequested,
    Notice,
    Session,
    apply,
)


def ev(name: str, reply_to: int | None = None, **fields: typing.Any) -> protocol.AnyEvent:
    return protocol.to_event(protocol.event(name, reply_to, **fields), received_ts=100.0)


def fold(*events: typing.Any, session: Session | None = None) -> Session:
    s = session or Session()
    for e in events:
        s = apply(s, e)
    return s


def test_every_event_and_command_has_one_class_and_round_trips() -> None:
    union_events = set(typing.get_args(protocol.AnyEvent))
    assert union_events == set(protocol.EVENT_TYPES.values())
    assert set(typing.get_args(protocol.AnyCommand)) == set(protocol.COMMAND_TYPES.values())
    for cls in union_events:
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
        own = {f.name for f in dataclasses.fields(cls)} - {"wire", "ts", "reply_to",
                                                            "received_ts"}
        assert own <= set(cls.REQUIRED) | set(cls.OPTIONAL), cls


def test_decode_once_at_the_edge_typed() -> None:
    line = protocol.encode(protocol.event("progress", 7, tensors_done=1, tensors_total=2,
                                          bytes_done=10, bytes_total=20, rate_bytes_per_s=None,
                                          eta_s=None, current_file="a", loader="fast"))
    event = protocol.decode_event(line, received_ts=5.0)
    assert isinstance(event, protocol.Progress)
    assert (event.reply_to, event.tensors_done, event.loader, event.received_ts) == (7, 1,
                                                                                     "fast", 5.0)
    cmd = protocol.decode_command(protocol.encode(
        protocol.command("generate", 3, prompt="hi", max_new_tokens=8)))
    assert isinstance(cmd, protocol.Generate)
    assert (cmd.id, cmd.prompt, cmd.max_new_tokens, cmd.temperature) == (3, "hi", 8, 0.0)


@pytest.mark.parametrize(("line", "problem"), [
    (protocol.encode(protocol.command("gc", 1)), "takes events"),
    ('{"v": 1, "event": "output", "ts": 1, "text": "x"}', "made by the client"),
    ('{"v": 1, "event": "progress", "ts": 1}', "missing field"),
])
def test_the_client_edge_refuses(line: str, problem: str) -> None:
    with pytest.raises(protocol.ProtocolError, match=problem):
        protocol.decode_event(line)


def test_the_engine_edge_refuses_events_and_bad_optional_fields() -> None:
    with pytest.raises(protocol.ProtocolError, match="takes commands"):
        protocol.decode_command(protocol.encode(protocol.event("bye")))
    with pytest.raises(protocol.ProtocolError, match="'force' is str"):
        protocol.decode_command('{"v": 1, "cmd": "resume", "id": 1, "force": "yes"}')


def test_a_load_run_is_a_fresh_block() -> None:
    s = fold(LoadRequested("a"), ev("state", 1, state="loading", model="a"),
             ev("progress", 1, tensors_done=1, tensors_total=2, bytes_done=1, bytes_total=2,
                rate_bytes_per_s=None, eta_s=None, current_file=None),
             ev("error", 1, error_type="X", message="boom", traceback=""))
    assert s.progress is not None and s.result is not None and s.result.level == "error"
    s2 = apply(s, LoadRequested("b"))
    assert s2.run == s.run + 1 and s2.progress is None and s2.result is None
    assert s2.model == "b"


def test_guard_mode_and_shown_state() -> None:
    s = fold(ev("state", 1, state="loading"),
             ev("paused", 1, resource="ram", value=93.0, threshold=90.0, why="w", tensor_index=1))
    assert s.guard_mode == "paused" and s.shown_state == "paused"
    s = fold(ev("resumed", 1, why="ok"), session=s)
    assert s.shown_state == "loading" and s.guard_events == ("paused", "resumed")
    s = fold(ev("stalled", 1, seconds=20.0, text="slow", current_file=None), session=s)
    assert s.shown_state == "stalled"
    s = fold(ev("state", 2, state="loading"), session=s)
    assert s.shown_state == "loading" and s.guard_mode == "running"


def test_one_levels_type_from_config_app_and_engine() -> None:
    s = fold(LevelsSet({"vram": Levels(80.0, 94.0, 97.0, 88.0)}), AutoResumeSet(True))
    assert s.levels["vram"].pause == 94.0 and s.auto_resume
    s = fold(ev("guard", 3, mode="running", thresholds={"ram": {"pause": 99.0, "resume": 98.0},
                                                        "vram": {"warn": 50}},
                auto_resume=False), session=s)
    assert isinstance(s.levels["ram"], Levels)
    assert s.levels["ram"] == Levels(DEFAULT_LEVELS["ram"].warn, 99.0,
                                     DEFAULT_LEVELS["ram"].abort, 98.0)
    assert s.levels["vram"] == Levels(50.0, 94.0, 97.0, 88.0)
    assert not s.auto_resume


def test_exit_expected_or_not() -> None:
    exited = protocol.make_event(protocol.Exited, returncode=-9, signal="SIGKILL",
                                 expected=False, last_lines=["x"], pid=4)
    s = fold(ev("hello", protocol=1, pid=4, python="3", torch="t", transformers="t",
                devices=[], offline=True), exited)
    assert s.engine == "dead" and s.exited is exited and not s.alive
    calm = protocol.make_event(protocol.Exited, returncode=0, signal=None, expected=True,
                               last_lines=[])
    assert apply(s, calm).engine == "stopped"


def test_ping_round_trip_from_the_two_clocks() -> None:
    pong = protocol.to_event(protocol.event("pong", 1, sent_ts=10.0), received_ts=10.25)
    assert apply(Session(), pong).ping_rtt_s == pytest.approx(0.25)
    assert apply(Session(), ev("pong", 1)).ping_rtt_s is None  # an old engine: no echo


def test_notices_are_results() -> None:
    s = apply(Session(), Notice("Load: type a model", "warning"))
    assert s.result is not None and s.result.text == "Load: type a model"


# -- issue 13: honest state ---------------------------------------------------------------------

def _progress(done: int) -> protocol.AnyEvent:
    return ev("progress", 1, tensors_done=done, tensors_total=4, bytes_done=done,
              bytes_total=4, rate_bytes_per_s=None, eta_s=None, current_file=None)


def test_your_own_pause_and_abort_are_neutral() -> None:
    from console.core.session import Line

    s = fold(LoadRequested("m"), ev("state", 1, state="loading", model="m"), _progress(1),
             ev("paused", 1, resource=None, value=None, threshold=None,
                why="paused by the user", tensor_index=1))
    assert s.guard_by_user and s.shown_state == "paused by you"
    assert s.guard_line == Line("paused by you — R resumes, A aborts")
    guard = fold(ev("paused", 1, resource="ram", value=93.0, threshold=90.0,
                    why="host RAM 93% > 90%", tensor_index=1), session=s)
    assert not guard.guard_by_user and guard.guard_line.level == "warning"
    s = fold(ev("aborted", 1, resource=None, value=None, threshold=None,
                why="aborted by the user"),
             ev("error", 1, error_type="LoadAborted", message="load aborted", traceback=""),
             ev("state", 1, state="idle"), session=s)
    assert s.guard_line == Line("aborted by you")
    assert s.result == Line("load of m aborted by you; L loads again")
    assert s.progress is None  # no bar, no figures left from the aborted run


def test_a_load_sent_while_the_engine_starts_is_pending_until_it_begins() -> None:
    from console.core.session import EngineStarted

    s = fold(EngineStarted(11), LoadRequested("m"))
    assert s.engine == "starting" and s.load_pending
    s = fold(ev("hello", None, protocol=protocol.PROTOCOL_VERSION, pid=11, python="3.11",
                torch="2.13.0+cpu", transformers="5", devices=[], offline=True,
                cuda_available=False, cuda=None),
             ev("state", None, state="idle"), session=s)
    assert s.engine == "idle" and s.load_pending  # the engine reads the load after its hello
    assert s.hello is not None and s.hello.cuda_available is False
    assert not fold(ev("state", 1, state="loading", model="m"), session=s).load_pending
    refused = fold(ev("error", 1, error_type="ModelNotFound", message="no m",
                      traceback=""), session=s)
    assert not refused.load_pending and refused.result is not None


def test_an_ended_engine_and_another_model_leave_no_stale_result() -> None:
    from console.core.session import Check, CheckDone

    loaded = ev("loaded", 1, model="m", path="/m", label="m", model_type="llama",
                model_class="X", load_s=0.05, memory={}, bytes=4, param_bytes=4)
    s = fold(LoadRequested("m"), ev("state", 1, state="loading", model="m"), loaded)
    assert s.result is not None and s.result.text.startswith("loaded m")
    ended = fold(ev("exited", None, returncode=0, signal=None, expected=True, last_lines=[]),
                 session=s)
    assert ended.result is not None and "loaded m" not in ended.result.text
    assert ended.loaded is None and ended.progress is None
    other = fold(ev("error", 2, error_type="X", message="old", traceback=""),
                 ev("state", 2, state="idle"),
                 CheckDone(Check("n", None, "pre-flight: n", "fits")), session=ended)
    assert other.result is None  # the old model's error is not the new model's
