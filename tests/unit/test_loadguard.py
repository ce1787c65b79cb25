"""The engine-side guard without the engine: settings, level derivation, the headless flags,
and LoadGuard's VRAM path (this machine has no GPU: the device's memory is a recorded answer
the test changes, as if another process allocated; host RAM and telemetry are real)."""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

import pytest

from console.commands.load import guard_field, parse_levels_spec
from console.core.guard import derive_levels
from console.host.config import DEFAULT_LEVELS, Config, ConfigError, Levels
from console.worker.hooks import TensorStep
from console.worker.loadguard import GuardSettings, LoadGuard, parse_settings

GIB = 1024**3


@pytest.mark.parametrize(("base", "given", "want"), [
    # a pause alone: warn down to it, abort up to it, resume keeps its distance
    (DEFAULT_LEVELS["ram"], {"pause": 40.0}, {"pause": 40.0, "warn": 40.0, "abort": 95.0,
                                              "resume": 35.0}),
    (DEFAULT_LEVELS["vram"], {"pause": 99.0}, {"pause": 99.0, "warn": 80.0, "abort": 99.0,
                                               "resume": 95.0}),
    (DEFAULT_LEVELS["ram"], {"pause": 1.0}, {"pause": 1.0, "warn": 1.0, "abort": 95.0,
                                             "resume": 0.0}),
    # an abort under the pause brings the pause down
    (DEFAULT_LEVELS["ram"], {"abort": 60.0}, {"abort": 60.0, "pause": 60.0, "warn": 60.0,
                                              "resume": 55.0}),
    # an abort above the pause leaves the rest alone
    (DEFAULT_LEVELS["vram"], {"abort": 99.0}, {"abort": 99.0, "warn": 80.0}),
    # explicit levels are kept
    (DEFAULT_LEVELS["ram"], {"pause": 50.0, "resume": 20.0}, {"pause": 50.0, "resume": 20.0,
                                                               "warn": 50.0, "abort": 95.0}),
])
def test_derive_levels(base: Levels, given: dict[str, float], want: dict[str, float]) -> None:
    assert derive_levels(base, given) == want


@pytest.mark.parametrize(("data", "problem"), [
    ({"thresholds": {"gpu": {"pause": 5}}}, "'gpu' is not one of"),
    ({"thresholds": {"ram": {"pause": "high"}}}, "guard.thresholds.ram.pause: expected a number"),
    ({"thresholds": {"ram": {"pause": 50, "resume": 60}}}, "thresholds.ram.resume: must be below"),
    ({"thresholds": {"vram": {"pause": 150}}}, "thresholds.vram.pause: is a percentage"),
    ({"on_pause": "panic"}, "guard.on_pause: expected wait or abort"),
    ({"stall_s": 0}, "guard.stall_s: expected seconds > 0"),
    ({"auto_resume": "yes"}, "guard.auto_resume: expected true or false"),
    ({"pause_at": 5}, "unknown key(s) pause_at"),
])
def test_parse_settings_names_the_bad_key(data: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        parse_settings(data, GuardSettings())


def test_parse_settings_merges_onto_the_base() -> None:
    settings = parse_settings({"thresholds": {"ram": {"pause": 40}}, "auto_resume": True,
                               "on_pause": "abort", "stall_s": 5}, GuardSettings())
    assert settings.thresholds["ram"] == Levels(warn=40.0, pause=40.0, abort=95.0, resume=35.0)
    assert settings.thresholds["vram"] == DEFAULT_LEVELS["vram"]
    assert (settings.auto_resume, settings.on_pause, settings.stall_s) == (True, "abort", 5.0)
    assert parse_settings(None, settings) is settings


def test_pause_at_spec() -> None:
    assert parse_levels_spec("--pause-at", "85", "pause") == {"vram": {"pause": 85.0}}
    assert parse_levels_spec("--pause-at", "vram=85, ram=90%", "pause") == {
        "vram": {"pause": 85.0}, "ram": {"pause": 90.0}}
    for bad in ("ram", "ram=x", "gpu=5", "85,ram=90", "vram=-1"):
        with pytest.raises(ConfigError, match="--pause-at"):
            parse_levels_spec("--pause-at", bad, "pause")


def _args(**kw: Any) -> argparse.Namespace:
    base = {"pause_at": None, "abort_at": None, "auto_resume": None, "on_pause": "wait"}
    return argparse.Namespace(**{**base, **kw})


def test_guard_field_from_config_and_flags() -> None:
    config = Config(auto_resume=True, stall_s=7.0)
    field = guard_field(_args(pause_at="vram=70", abort_at="ram=88"), config)
    assert field["thresholds"]["vram"] == {"warn": 70.0, "pause": 70.0, "abort": 97.0,
                                           "resume": 66.0}
    assert field["thresholds"]["ram"]["abort"] == 88.0
    assert field["thresholds"]["ram"]["pause"] == 88.0  # the abort pulled the pause down
    assert set(field["thresholds"]) == {"vram", "ram", "swap", "swap_in"}
    assert (field["auto_resume"], field["stall_s"], field["on_pause"]) == (True, 7.0, "wait")
    # what the engine accepts
    parse_settings(field, GuardSettings())
    with pytest.raises(ConfigError, match=r"--pause-at: thresholds.ram.abort"):
        guard_field(_args(pause_at="ram=90", abort_at="ram=80"), config)


class RecordedGpu:
    """A GPU's (used, total) as NVML would answer, changed by the test; host RAM is real."""

    def __init__(self) -> None:
        self.used = 10 * GIB
        self.total = 80 * GIB

    def __call__(self, device: str) -> tuple[int, int] | None:
        if device == "cuda:0":
            return self.used, self.total
        if device == "cpu":
            import psutil

            vm = psutil.virtual_memory()
            return vm.total - vm.available, vm.total
        return None


class Aborted(Exception):
    pass


def test_vram_look_ahead_pause_auto_resume_and_abort() -> None:
    gpu = RecordedGpu()
    events: list[tuple[str, dict[str, Any]]] = []
    guard = LoadGuard(lambda name, reply_to=None, **f: events.append((name, f)), gpu,
                      aborted_error=Aborted)
    guard.configure(parse_settings({"thresholds": {"vram": {"pause": 50, "resume": 40},
                                                   "ram": {"pause": 100}},
                                    "auto_resume": True}, GuardSettings()))
    guard.begin(7, lambda: (0, 0, None))
    placed: list[int] = []
    failure: list[BaseException] = []

    def load(steps: list[int]) -> None:
        try:
            for i, nbytes in enumerate(steps):
                guard.before_tensor(TensorStep(f"w{i}", nbytes, "a.safetensors", i,
                                               len(steps), "cuda:0"))
                placed.append(i)
                gpu.used += nbytes
        except BaseException as exc:
            failure.append(exc)

    # 10 GiB used of 80, tensors of 10 GiB: 25%, 37.5% pass; the 3rd would reach 50%: pause.
    thread = threading.Thread(target=load, args=([10 * GIB] * 6,))
    thread.start()
    deadline = time.monotonic() + 5
    while not any(n == "paused" for n, _ in events) and time.monotonic() < deadline:
        time.sleep(0.01)
    paused = next(f for n, f in events if n == "paused")
    assert placed == [0, 1]
    assert paused["resource"] == "vram" and paused["device"] == "cuda:0"
    assert paused["value"] == 50.0 and paused["previous_value"] == 37.5
    assert paused["why"].startswith("paused: GPU0 VRAM 50% >= 50%")
    time.sleep(0.6)  # held: the monitor samples meanwhile, nothing moves
    assert placed == [0, 1]
    # Another process frees some memory: 25 GiB + the next tensor = 43.75%, not under the
    # resume level (40%): still paused. At 15 GiB: 31.25% with the tensor: it resumes itself.
    gpu.used = 25 * GIB
    time.sleep(0.6)
    assert placed == [0, 1]
    gpu.used = 15 * GIB
    deadline = time.monotonic() + 5
    while len(placed) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    resumed = next(f for n, f in events if n == "resumed")
    assert resumed["by_user"] is False and placed[:4] == [0, 1, 2, 3]
    # 15 + 10 + 10 = 35 GiB placed; the 5th would reach 56%: paused again, and the user
    # aborts while it is paused.
    deadline = time.monotonic() + 5
    while sum(n == "paused" for n, _ in events) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert guard.abort()
    thread.join(timeout=5)
    guard.end()
    assert failure and isinstance(failure[0], Aborted)
    aborted = next(f for n, f in events if n == "aborted")
    assert aborted["why"] == "aborted by the user" and aborted["by_user"] is True
