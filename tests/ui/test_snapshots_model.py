"""Snapshots of the model view in every engine state, and of the Log tab with a cause card, at
80x24 and 160x48 (pytest-textual-snapshot). The engine is a `ReplayEngine` (pid 48213, the
engine row of the recorded H100 telemetry), the history is pre-filled, the clock frozen and
the pre-flight folded in by hand, so every run draws the same screen. Regenerate after a
deliberate change with `--snapshot-update`, then look at the SVGs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from console.app import ConsoleApp
from console.core.sample import ProcSample, Sample
from console.core.session import Check, CheckDone
from console.engines.base import OnEvent
from console.engines.replay import ReplayEngine
from console.host import kernellog
from console.host.config import Config
from tests.ui.conftest import wait_until
from tests.ui.fakes import GIB, MIB, STEPS, T0, FixedSampler, FrozenClock, h100_at
from tests.ui.test_engine_states import LOADED, PREFLIGHT, progress

SIZES = {"80x24": (80, 24), "160x48": (160, 48)}
SnapCompare = Callable[..., bool]
PID = 48213
LOADING = {"event": "state", "state": "loading", "model": "m", "label": "m"}
LOADED_STATE = {"event": "state", "state": "loaded", "model": "m", "label": "m"}
CHECK = Check("m", None, "pre-flight: m is whole: 1 shard, 4 tensors, 4.0 MiB\n"
              "fits: 4.0 MiB of weights, 79.0 GiB free on cuda:0\n"
              "KV cache: 64 KiB per 1,000 tokens", "fits",
              options=("auto", None, None, 1))  # the panel's defaults: no re-check on L


def engine_sample(step: int) -> Sample:
    base = h100_at(step)
    engine_vram = max(0, base.gpus[0].memory_used_bytes - GIB)
    return replace(base, watched=(ProcSample(PID, True, (900 + 10 * step) * MIB, 35.0,
                                             gpu_memory_bytes=engine_vram),))


def snapshot_app(script: Mapping[str, Sequence[Mapping[str, Any]]], *,
                 prestart: bool = False) -> tuple[ConsoleApp, list[ReplayEngine]]:
    samples = [engine_sample(step) for step in range(STEPS)]
    made: list[ReplayEngine] = []

    def factory(on_event: OnEvent) -> ReplayEngine:
        engine = ReplayEngine({"memory_report": [], **script}, on_event, pid=PID)
        made.append(engine)
        return engine

    app = ConsoleApp(Config(), FixedSampler(samples[-1:]), clock=FrozenClock(samples[-1].timestamp),
                     hostname="gpu-box", cursor_blink=False, engine_factory=factory,
                     prestart=prestart)
    for sample in samples[:-1]:
        app.history.append(sample)
    return app, made


def model_view(then: Callable[[Pilot[Any], ConsoleApp], Awaitable[None]] | None = None
               ) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, ConsoleApp)
        await wait_until(pilot, lambda: app.samples_received >= 1, "the sample")
        await pilot.press("2")
        app.model_panel.set_model("m")
        app.fold(CheckDone(CHECK))
        if then is not None:
            await then(pilot, app)
        await pilot.pause()
    return run_before


def until(state: Callable[[ConsoleApp], bool], keys: Sequence[str] = ("L",)
          ) -> Callable[[Pilot[Any], ConsoleApp], Awaitable[None]]:
    async def drive(pilot: Pilot[Any], app: ConsoleApp) -> None:
        app.set_focus(None)
        for key in keys:
            await pilot.press(key)
        await wait_until(pilot, lambda: state(app), "the state")
    return drive


@pytest.mark.parametrize("size", SIZES)
def test_model_idle(snap_compare: SnapCompare, size: str) -> None:
    app, _ = snapshot_app({}, prestart=True)

    async def idle(pilot: Pilot[Any], app: ConsoleApp) -> None:
        await wait_until(pilot, lambda: app.session.engine == "idle", "idle")
    assert snap_compare(app, terminal_size=SIZES[size], run_before=model_view(idle))


@pytest.mark.parametrize("size", SIZES)
def test_model_starting(snap_compare: SnapCompare, size: str) -> None:
    app, _ = snapshot_app({"start": [], "load": []}, prestart=True)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=model_view(
        until(lambda a: a.session.load_pending)))


@pytest.mark.parametrize("size", SIZES)
def test_model_loading(snap_compare: SnapCompare, size: str) -> None:
    app, _ = snapshot_app({"load": [LOADING, PREFLIGHT, progress(1), progress(2)]})
    assert snap_compare(app, terminal_size=SIZES[size], run_before=model_view(
        until(lambda a: a.session.progress is not None
              and a.session.progress.tensors_done == 2)))


@pytest.mark.parametrize("size", SIZES)
def test_model_paused_by_you(snap_compare: SnapCompare, size: str) -> None:
    paused = {"event": "paused", "resource": None, "value": None, "threshold": None,
              "why": "paused by the user", "tensor_index": 2}
    app, _ = snapshot_app({"load": [LOADING, PREFLIGHT, progress(2)], "pause": [paused]})

    async def pause(pilot: Pilot[Any], app: ConsoleApp) -> None:
        await until(lambda a: a.session.progress is not None)(pilot, app)
        await pilot.press("P")
        await wait_until(pilot, lambda: app.session.guard_mode == "paused", "paused")
    assert snap_compare(app, terminal_size=SIZES[size], run_before=model_view(pause))


@pytest.mark.parametrize("size", SIZES)
def test_model_loaded(snap_compare: SnapCompare, size: str) -> None:
    app, _ = snapshot_app({"load": [LOADING, PREFLIGHT, progress(4), LOADED, LOADED_STATE]})
    assert snap_compare(app, terminal_size=SIZES[size], run_before=model_view(
        until(lambda a: a.session.engine == "loaded")))


@pytest.mark.parametrize("size", SIZES)
def test_model_generating(snap_compare: SnapCompare, size: str) -> None:
    tokens = [{"event": "token", "text": t, "token_ids": [i], "index": i,
               "kv_cache_bytes": 1024 * i}
              for i, t in enumerate(("The ", "screen ", "shows ", "the ", "load."), start=1)]
    app, _ = snapshot_app({"load": [LOADING, PREFLIGHT, progress(4), LOADED, LOADED_STATE],
                           "generate": [{"event": "state", "state": "generating"}, *tokens]})

    async def generate(pilot: Pilot[Any], app: ConsoleApp) -> None:
        await until(lambda a: a.session.engine == "loaded")(pilot, app)
        await pilot.press("i", *"what does it show?", "enter")
        await wait_until(pilot, lambda: app.session.generation.tokens == 5, "tokens")
    assert snap_compare(app, terminal_size=SIZES[size], run_before=model_view(generate))


@pytest.mark.parametrize("size", SIZES)
def test_model_error(snap_compare: SnapCompare, size: str) -> None:
    failed = [LOADING, {"event": "error", "error_type": "UnknownArchitecture",
                        "message": "model_type 'xyz' is not known to transformers 4.57",
                        "hint": "upgrade transformers", "traceback": ""},
              {"event": "state", "state": "error"}]
    app, _ = snapshot_app({"load": failed})
    assert snap_compare(app, terminal_size=SIZES[size], run_before=model_view(
        until(lambda a: a.session.engine == "error")))


@pytest.mark.parametrize("size", SIZES)
def test_model_engine_killed(snap_compare: SnapCompare, size: str,
                             monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The same kernel log on every machine: none readable (the screen says so).
    monkeypatch.setattr(kernellog, "KMSG", tmp_path / "no-kmsg")
    monkeypatch.setattr(kernellog, "KERNEL_LOG_COMMANDS", ())
    app, engines = snapshot_app({"load": [LOADING, PREFLIGHT, progress(1)]})

    async def kill(pilot: Pilot[Any], app: ConsoleApp) -> None:
        await until(lambda a: a.session.progress is not None)(pilot, app)
        app._oom_before = {"/proc/vmstat oom_kill": 0}
        engines[0].die()
        await wait_until(pilot, lambda: app.session.engine == "dead", "dead")
        app.clear_notifications()  # the toast's timing is not the screen's
    assert snap_compare(app, terminal_size=SIZES[size], run_before=model_view(kill))


OOM_TRACEBACK = (
    "Traceback (most recent call last):",
    '  File "/srv/engine.py", line 40, in load',
    "    model = AutoModelForCausalLM.from_pretrained(path, device_map='cuda:0')",
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total "
    "capacity of 79.19 GiB of which 1.06 GiB is free. Of the allocated memory 76.1 GiB is "
    "allocated by PyTorch, and 512.0 MiB is reserved by PyTorch but unallocated.",
)


@pytest.mark.parametrize("size", SIZES)
def test_log_with_a_cause_card(snap_compare: SnapCompare, size: str) -> None:
    app, _ = snapshot_app({})

    async def card(pilot: Pilot[Any]) -> None:
        await wait_until(pilot, lambda: app.samples_received >= 1, "the sample")
        view = app.log_view
        view.add_event("load started: m", ts=T0 + 50)
        for n, text in enumerate(OOM_TRACEBACK):
            view.add_engine_output(text, ts=T0 + 51 + n / 10)
        view.add_event("engine idle", ts=T0 + 53)
        await wait_until(pilot, lambda: bool(view.errors), "the card", 10)
        app.clear_notifications()
        await pilot.press("3")
        await pilot.pause()
    assert snap_compare(app, terminal_size=SIZES[size], run_before=card)
