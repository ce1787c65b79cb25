"""Every engine state in the Model tab, fast: recorded event streams through `ReplayEngine`
(console/engines/replay.py), the same `Engine` interface, decoder and session as the real
engine's. The real engine process is exercised in tests/ui/test_model_panel.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from textual.widgets import ProgressBar, Static

from console.app import ConsoleApp
from console.core import protocol
from console.engines.base import OnEvent
from console.engines.replay import ReplayEngine
from tests.ui.conftest import make_app, wait_until
from tests.ui.fakes import FixedSampler, cpu_only_sequence
from tests.ui.shown import static_text

MIB = 1024**2
LOADING = {"event": "state", "state": "loading", "model": "m", "label": "m"}
PREFLIGHT = {"event": "preflight", "ok": True, "findings": [], "verdict": "fits"}


def progress(done: int, total: int = 4) -> dict[str, Any]:
    return {"event": "progress", "tensors_done": done, "tensors_total": total,
            "bytes_done": done * MIB, "bytes_total": total * MIB, "rate_bytes_per_s": 1e9,
            "eta_s": 0.5, "current_file": "model.safetensors", "loader": "fast"}


LOADED = {"event": "loaded", "model": "m", "path": "/models/m", "label": "m",
          "model_type": "llama", "model_class": "LlamaForCausalLM", "load_s": 1.25,
          "memory": {"devices": [], "rss_bytes": 300 * MIB, "rss_baseline_bytes": 200 * MIB},
          "bytes": 4 * MIB, "param_bytes": 4 * MIB, "loader": "fast"}
REPORT = {"event": "memory_report", "devices": [], "rss_bytes": 300 * MIB,
          "rss_baseline_bytes": 200 * MIB}
LOAD_OK = [LOADING, PREFLIGHT, progress(1), progress(4), LOADED,
           {"event": "state", "state": "loaded", "model": "m", "label": "m"}]


def replay_app(script: Mapping[str, Sequence[Mapping[str, Any]]]
               ) -> tuple[ConsoleApp, list[ReplayEngine]]:
    made: list[ReplayEngine] = []

    def factory(on_event: OnEvent) -> ReplayEngine:
        engine = ReplayEngine({"memory_report": [REPORT], **script}, on_event)
        made.append(engine)
        return engine

    app = make_app(FixedSampler(cpu_only_sequence()), initial_model="m", engine_factory=factory,
                   cursor_blink=False)
    return app, made


def line(app: ConsoleApp, widget_id: str) -> str:
    return static_text(app.query_one(f"#{widget_id}", Static))


def shows(app: ConsoleApp, widget_id: str, needle: str) -> Callable[[], bool]:
    return lambda: needle in line(app, widget_id)


async def start_load(app: ConsoleApp, pilot: Any) -> None:
    await pilot.press("2")
    app.set_focus(None)
    await pilot.press("L")


async def test_not_started_then_a_load_to_loaded() -> None:
    app, engines = replay_app({"load": LOAD_OK})
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        assert "not started" in line(app, "state-line")
        assert app.session.engine == "stopped" and not engines
        app.set_focus(None)
        await pilot.press("L")
        await wait_until(pilot, shows(app, "state-line", "state: loaded"), "loaded")
        assert "[m]" in line(app, "state-line")
        assert "tensors 4/4" in line(app, "progress-text")
        assert "loader fast" in line(app, "progress-text")
        # No progress bar once nothing loads (the result line says how it went).
        assert not app.query_one("#load-progress", ProgressBar).display
        assert "loaded m (LlamaForCausalLM) in 1.25 s; loader fast" in line(app, "results")
        # The command the app sent carries the guard's settings and the device.
        load = engines[0].sent[0]
        assert isinstance(load, protocol.Load) and load.model == "m"
        assert load.device == "cpu" and load.guard is not None
        # The allocator row follows the load by itself (a memory_report).
        await wait_until(pilot, shows(app, "allocator", "engine RSS 300.0 MiB"), "allocator")


async def test_paused_then_resumed_by_the_user() -> None:
    paused = {"event": "paused", "resource": "ram", "value": 93.0, "threshold": 90.0,
              "why": "paused: host RAM 93% > 90%", "tensor_index": 2}
    app, engines = replay_app({"load": [LOADING, PREFLIGHT, progress(1), paused],
                               "resume": [{"event": "resumed", "why": "resumed by the user"},
                                          progress(4)]})
    async with app.run_test(size=(120, 40)) as pilot:
        await start_load(app, pilot)
        await wait_until(pilot, shows(app, "state-line", "state: paused"), "paused")
        assert "host RAM 93%" in line(app, "guard-state")
        assert app.session.guard_mode == "paused"
        await pilot.press("R")
        await wait_until(pilot, shows(app, "state-line", "state: loading"), "resumed")
        assert "resumed by the user" in line(app, "guard-state")
        assert "tensors 4/4" in line(app, "progress-text")
        assert [c.NAME for c in engines[0].sent] == ["load", "resume"]


async def test_stalled_then_aborted_then_idle() -> None:
    stalled = {"event": "stalled", "seconds": 21.0, "text": "no progress for 21 s",
               "current_file": "model.safetensors"}
    aborted = {"event": "aborted", "resource": None, "value": None, "threshold": None,
               "why": "aborted by the user"}
    app, _ = replay_app({"load": [LOADING, progress(1), stalled],
                         "abort": [aborted, {"event": "error", "error_type": "LoadAborted",
                                             "message": "load aborted", "traceback": ""},
                                   {"event": "state", "state": "idle"}]})
    async with app.run_test(size=(120, 40)) as pilot:
        await start_load(app, pilot)
        await wait_until(pilot, shows(app, "state-line", "state: stalled"), "stalled")
        assert "stalled 21 s: no progress for 21 s" in line(app, "guard-state")
        await pilot.press("A")
        await wait_until(pilot, shows(app, "state-line", "state: idle"), "idle")
        # Your own abort is said neutrally, not as a red error; no bar, no progress left.
        assert line(app, "guard-state") == "aborted by you"
        assert line(app, "results") == "load of m aborted by you; L loads again"
        assert not app.query_one("#results").has_class("-problem")
        assert not app.query_one("#load-progress", ProgressBar).display
        assert line(app, "progress-text") == ""


async def test_error_state_after_a_failed_load() -> None:
    failed = [LOADING, {"event": "error", "error_type": "UnknownArchitecture",
                        "message": "model_type 'xyz' is not known", "hint": "upgrade",
                        "traceback": ""}, {"event": "state", "state": "error"}]
    app, _ = replay_app({"load": failed})
    async with app.run_test(size=(120, 40)) as pilot:
        await start_load(app, pilot)
        await wait_until(pilot, shows(app, "state-line", "state: error"), "error")
        assert "UnknownArchitecture: model_type 'xyz' is not known (upgrade)" in line(
            app, "results")
        assert app.query_one("#state-line").has_class("-problem")


async def test_generating_streams_tokens_then_stats() -> None:
    tokens = [{"event": "token", "text": t, "token_ids": [i], "index": i,
               "kv_cache_bytes": 1024 * i} for i, t in enumerate(("Hel", "lo", "!"), start=1)]
    generated = {"event": "generated", "tokens": 3, "ttft_s": 0.012, "tokens_per_s": 150.0,
                 "kv_cache_bytes": 3072, "stopped": "length", "text": "Hello!"}
    app, engines = replay_app({"load": LOAD_OK, "generate": [
        {"event": "state", "state": "generating"}, *tokens, generated,
        {"event": "state", "state": "loaded"}]})
    async with app.run_test(size=(120, 40)) as pilot:
        await start_load(app, pilot)
        await wait_until(pilot, shows(app, "state-line", "state: loaded"), "loaded")
        prompt = app.query_one("#prompt")
        prompt.focus()
        prompt.value = "hi"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_until(pilot, shows(app, "gen-stats", "TTFT 12 ms"), "generated")
        assert line(app, "output") == "Hello!"
        assert "150.0 tok/s" in line(app, "gen-stats") and "stopped: length" in line(
            app, "gen-stats")
        gen = engines[0].sent[-1]
        assert isinstance(gen, protocol.Generate) and gen.prompt == "hi"


async def test_unload_gives_a_fresh_block_and_idle() -> None:
    unloaded = {"event": "unloaded", "freed_bytes": 4 * MIB, "seconds": 0.1, "held_bytes": 0,
                "held_by": {}, "message": "freed 4.0 MiB in 0.10 s"}
    app, _ = replay_app({"load": LOAD_OK, "unload": [
        {"event": "state", "state": "unloading"}, unloaded, {"event": "state", "state": "idle"}]})
    async with app.run_test(size=(120, 40)) as pilot:
        await start_load(app, pilot)
        await wait_until(pilot, shows(app, "state-line", "state: loaded"), "loaded")
        run = app.session.run
        await pilot.press("U")
        await wait_until(pilot, shows(app, "state-line", "state: idle"), "idle")
        assert "freed 4.0 MiB" in line(app, "results")
        assert app.session.run > run and app.session.loaded is None
        assert line(app, "progress-text") == ""  # the old run's progress is gone
        assert "N/A (no model loaded)" in line(app, "allocator")


async def test_dead_engine_shows_why_and_x_restarts() -> None:
    app, engines = replay_app({"load": [LOADING, progress(1)]})
    async with app.run_test(size=(120, 40)) as pilot:
        await start_load(app, pilot)
        await wait_until(pilot, shows(app, "progress-text", "tensors 1/4"), "progress")
        engines[0].die()
        await wait_until(pilot, shows(app, "state-line", "state: dead"), "dead")
        assert "killed by SIGKILL; X restarts it" in line(app, "state-line")
        assert app.query_one("#btn-restart_engine").display
        await pilot.press("X")
        await wait_until(pilot, shows(app, "state-line", "state: idle"), "restarted")
        assert not app.query_one("#btn-restart_engine").display


async def test_ping_round_trip_shows_in_the_model_view() -> None:
    app, engines = replay_app({"load": LOAD_OK, "ping": [{"event": "pong", "state": "loaded"}]})
    async with app.run_test(size=(120, 40)) as pilot:
        await start_load(app, pilot)
        await wait_until(pilot, shows(app, "state-line", "state: loaded"), "loaded")
        assert line(app, "ping") == "ping: N/A"
        # The replay does not echo the send time as the engine does: feed it the real answer.
        engines[0].script["ping"] = []
        await pilot.press("I")
        ping = engines[0].sent[-1]
        assert isinstance(ping, protocol.Ping) and ping.sent_ts is not None
        pong = protocol.to_event(protocol.event("pong", ping.id, sent_ts=ping.sent_ts),
                                 received_ts=ping.sent_ts + 0.0042)
        assert engines[0].on_event is not None
        engines[0].on_event(pong)
        await wait_until(pilot, shows(app, "ping", "ping: 4.2 ms"), "the round trip")


async def test_an_invalid_event_line_is_dropped_and_shown_not_fatal() -> None:
    bad = {"event": "progress", "tensors_done": "many"}
    app, _ = replay_app({"load": [LOADING, bad, progress(2)]})
    async with app.run_test(size=(120, 40)) as pilot:
        await start_load(app, pilot)
        await wait_until(pilot, shows(app, "progress-text", "tensors 2/4"), "progress")
        assert app.is_running
        texts = app.query_one("LogView").pane.visible_texts()  # type: ignore[attr-defined]
        assert any("[protocol] dropped a line" in t and "tensors_done" in t for t in texts)


async def test_a_recorded_session_log_replays(tmp_path: Any) -> None:
    """A stream written by the real client's session log plays back through ReplayEngine."""
    import json

    from console.engines.local import SessionLog
    from console.engines.replay import events_of

    log = SessionLog(tmp_path / "session.log")
    for wire in LOAD_OK:
        log.write("EVENT", json.dumps(protocol.event(wire["event"], 1, **{
            k: v for k, v in wire.items() if k != "event"})))
    log.write("ENGINE", "Loading weights: 100%")
    log.close()
    recorded = events_of(tmp_path / "session.log")
    assert [e["event"] for e in recorded] == [e["event"] for e in LOAD_OK]
    app, _ = replay_app({"load": recorded})
    async with app.run_test(size=(120, 40)) as pilot:
        await start_load(app, pilot)
        await wait_until(pilot, shows(app, "state-line", "state: loaded"), "loaded")
        assert "loaded m (LlamaForCausalLM)" in line(app, "results")
