"""Telemetry core: real psutil; NVML through recordings of the real driver's answers."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pynvml
import pytest

from console.core.sample import SCHEMA_VERSION
from console.host.nvml import RecordedNvml, RecordingNvml
from console.host.telemetry import NO_DRIVER_MESSAGE, RECORDING_ENV, Telemetry
from tests.paths import NVML_FIXTURES as FIXTURES
from tests.paths import nvml_recording

V2_KEY = "nvmlDeviceGetMemoryInfo(gpu0, version=33554472)"
HEALTHY = sorted(FIXTURES.glob("h100_*.json"))  # the hand-made one, and real ones once recorded


load = nvml_recording


def telemetry_for(recording: str | dict[str, Any], **kw: Any) -> tuple[Telemetry, RecordedNvml]:
    nvml = RecordedNvml(recording if isinstance(recording, dict) else FIXTURES / recording)
    return Telemetry(nvml=nvml, **kw), nvml


def answers(rec: dict[str, Any], key: str) -> list[Any]:
    return [a["ok"] for a in rec["calls"][key]]


class Clock:
    """An injected monotonic clock the test moves by hand."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


# -- healthy recordings -------------------------------------------------------------------


@pytest.mark.parametrize("path", HEALTHY, ids=lambda p: p.name)
def test_healthy_recording_reads_every_field(path: Path) -> None:
    rec = json.loads(path.read_text())
    telemetry, nvml = telemetry_for(rec)
    samples = [telemetry.sample() for _ in range(2)]
    assert nvml.unrecorded == [], "Telemetry asked for calls the recording lacks"
    assert telemetry.status.state == "ok"
    assert telemetry.status.driver_version == answers(rec, "nvmlSystemGetDriverVersion()")[0]
    assert telemetry.status.cuda_driver_version == "13.0"
    memory = answers(rec, V2_KEY)
    power_mw = answers(rec, "nvmlDeviceGetPowerUsage(gpu0)")
    for i, sample in enumerate(samples):
        gpu = sample.gpus[0]
        mem = memory[min(i, len(memory) - 1)]
        assert gpu.index == 0
        assert gpu.name == answers(rec, "nvmlDeviceGetName(gpu0)")[0]
        assert gpu.uuid == answers(rec, "nvmlDeviceGetUUID(gpu0)")[0]
        assert (gpu.memory_total_bytes, gpu.memory_used_bytes, gpu.memory_reserved_bytes) == (
            mem["total"], mem["used"], mem["reserved"]
        )
        assert gpu.power_draw_w == pytest.approx(power_mw[min(i, len(power_mw) - 1)] / 1000)
        assert gpu.power_limit_w == answers(rec,
                                            "nvmlDeviceGetPowerManagementLimit(gpu0)")[0] / 1000
        for field in ("utilization_gpu_pct", "temperature_c", "sm_clock_mhz"):
            assert getattr(gpu, field) is not None, field
        assert sample.nvml.ok
    assert telemetry.failures == {}
    json.dumps(samples[-1].to_json_dict())  # serialisable as it stands


@pytest.mark.parametrize("path",
                         [p for p in HEALTHY if "expected_gpus" in json.loads(p.read_text())],
                         ids=lambda p: p.name)
def test_replaying_a_real_recording_gives_the_live_numbers(path: Path) -> None:
    """gpu/record_nvml.py stores what the live Telemetry read; replay must read the same."""
    rec = json.loads(path.read_text())
    telemetry, _ = telemetry_for(rec)
    for expected in rec["expected_gpus"]:
        got = [dataclasses.asdict(g) for g in telemetry.sample().gpus]
        for g in got:
            for p in g["processes"]:
                del p["user"], p["name"]
        assert json.loads(json.dumps(got)) == expected  # tuples come back from JSON as lists


def test_the_hand_made_fixture_says_so() -> None:
    assert load("h100_handmade.json")["hand_made"] is True
    assert "HAND-MADE" in load("h100_handmade.json")["note"]


def test_recorded_errors_are_the_real_pynvml_classes() -> None:
    nvml = RecordedNvml(load("no_driver.json"))
    with pytest.raises(pynvml.NVMLError_LibraryNotFound) as info:
        nvml.nvmlInit()
    assert info.value.value == pynvml.NVML_ERROR_LIBRARY_NOT_FOUND
    assert nvml.nvmlMemory_v2 == pynvml.nvmlMemory_v2  # constants come from pynvml itself


def test_recording_and_replaying_round_trip() -> None:
    """RecordingNvml (what gpu/record_nvml.py uses on the GPU host) writes what RecordedNvml
    replays: record a replay, replay the new recording, get the same samples."""
    source = load("gpu_lost.json")
    recorder = RecordingNvml(RecordedNvml(source))
    live = Telemetry(nvml=recorder)
    first = [live.sample() for _ in range(3)]
    live.close()
    rerun, nvml = telemetry_for(recorder.recording(note="round trip"))
    second = [rerun.sample() for _ in range(3)]
    assert nvml.unrecorded == []
    assert [s.gpus for s in first] == [s.gpus for s in second]
    assert first[-1].nvml == second[-1].nvml
    assert set(recorder.costs_s) >= {"nvmlInit", "nvmlDeviceGetMemoryInfo"}


# -- the driver's failure modes ------------------------------------------------------------


def test_v1_only_driver_falls_back_per_device_and_remembers() -> None:
    rec = load("v1_memory_only.json")
    telemetry, nvml = telemetry_for(rec)
    samples = [telemetry.sample() for _ in range(3)]
    v1 = answers(rec, "nvmlDeviceGetMemoryInfo(gpu0)")
    for i, s in enumerate(samples):
        gpu = s.gpus[0]
        assert gpu.memory_reserved_bytes is None  # v1 has no reserved figure
        assert gpu.memory_used_bytes == v1[min(i, len(v1) - 1)]["used"]
        assert gpu.memory_total_bytes == v1[0]["total"]
    assert nvml.calls.count(V2_KEY) == 1  # asked once, then v1 only
    assert telemetry.status.state == "ok"  # an old driver is not a problem to report
    assert telemetry.take_notices() == []


@pytest.mark.parametrize("code", [pynvml.NVML_ERROR_LIBRARY_NOT_FOUND,
                                  pynvml.NVML_ERROR_DRIVER_NOT_LOADED])
def test_no_driver_is_a_normal_cpu_only_mode(code: int) -> None:
    rec = load("no_driver.json")
    rec["calls"]["nvmlInit()"] = [{"error": code}]
    telemetry, nvml = telemetry_for(rec)
    samples = [telemetry.sample() for _ in range(2)]
    assert telemetry.status.state == "no_driver"
    assert telemetry.status.message == NO_DRIVER_MESSAGE
    assert samples[-1].gpus == ()
    assert samples[-1].host.ram_total_bytes == psutil.virtual_memory().total
    assert samples[-1].host.cpu_percent is not None
    assert nvml.calls == ["nvmlInit()"]  # tried once, not every tick
    telemetry.close()  # nothing to shut down; must not raise


def test_real_pynvml_on_this_machine_never_raises() -> None:
    """Whatever this machine has (CI: no driver), the real path gives a sample."""
    telemetry = Telemetry()
    sample = telemetry.sample()
    assert telemetry.status.state in ("ok", "no_driver")
    if telemetry.status.state == "no_driver":
        assert telemetry.status.message == NO_DRIVER_MESSAGE
        assert sample.gpus == ()
    telemetry.close()


def test_function_not_found_is_reported_once_and_the_rest_works() -> None:
    telemetry, nvml = telemetry_for("function_not_found.json")
    first = telemetry.sample()
    notices = telemetry.take_notices()
    second = telemetry.sample()
    assert telemetry.status.state == "version_mismatch"
    assert "nvmlDeviceGetPowerManagementLimit" in telemetry.status.message
    assert "nvmlDeviceGetComputeRunningProcesses" in telemetry.status.message
    assert len(notices) == 2 and telemetry.take_notices() == []
    for s in (first, second):
        gpu = s.gpus[0]
        assert gpu.power_limit_w is None and gpu.power_draw_w is not None
        assert gpu.memory_used_bytes is not None and gpu.temperature_c is not None
    # A function the driver lacks is not asked for again.
    assert sum(k.startswith("nvmlDeviceGetPowerManagementLimit") for k in nvml.calls) == 1


def test_gpu_lost_mid_session_names_the_gpu_once() -> None:
    telemetry, nvml = telemetry_for("gpu_lost.json")
    first = telemetry.sample()
    assert telemetry.status.state == "ok"
    assert first.gpus[1].memory_total_bytes is not None
    second = telemetry.sample()
    assert telemetry.status.state == "gpu_lost"
    assert "GPU 1" in telemetry.status.message
    notices = telemetry.take_notices()
    assert len(notices) == 1 and "GPU 1" in notices[0]
    calls_before = len(nvml.calls)
    third = telemetry.sample()
    assert not any("(gpu1" in k for k in nvml.calls[calls_before:])  # a lost GPU is left alone
    assert telemetry.take_notices() == []
    for s in (second, third):
        lost, alive = s.gpus[1], s.gpus[0]
        assert lost.memory_used_bytes is None and lost.processes == ()
        assert lost.name == first.gpus[1].name and lost.uuid == first.gpus[1].uuid
        assert alive.memory_used_bytes is not None
    assert third.nvml.state == "gpu_lost"


def test_processes_with_unavailable_memory_and_duplicates() -> None:
    telemetry, _ = telemetry_for("process_memory_unavailable.json")
    procs = telemetry.sample().gpus[0].processes
    assert [p.pid for p in procs] == [4242, 4243, 4244]  # 4242 is in both lists: once
    assert [p.gpu_memory_bytes for p in procs] == [651165696, None, None]
    assert all(p.kind == "compute" and p.gpu_index == 0 for p in procs)


def test_a_broken_binding_never_raises() -> None:
    class Broken:
        def __getattr__(self, name: str) -> Any:
            raise RuntimeError(f"binding broken: {name}")

    telemetry = Telemetry(nvml=Broken())
    sample = telemetry.sample()
    assert sample.gpus == ()
    assert telemetry.status.state == "error"
    assert "cannot start" in telemetry.status.message


def test_recording_env_points_the_real_path_at_a_recording(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RECORDING_ENV, str(FIXTURES / "h100_handmade.json"))
    telemetry = Telemetry()
    assert telemetry.sample().gpus[0].name == "NVIDIA H100 80GB HBM3"
    telemetry.close()


def test_close_shuts_nvml_down_once() -> None:
    telemetry, nvml = telemetry_for("h100_handmade.json")
    telemetry.sample()
    telemetry.close()
    telemetry.close()
    assert nvml.calls.count("nvmlShutdown()") == 1


# -- host and watched processes (real psutil) ----------------------------------------------


def test_cpu_needs_two_samples_then_covers_every_core() -> None:
    telemetry, _ = telemetry_for("no_driver.json")
    first = telemetry.sample()
    assert first.host.cpu_percent is None and first.host.cpu_percent_per_core == ()
    time.sleep(0.1)
    second = telemetry.sample().host
    assert second.cpu_percent is not None and 0 <= second.cpu_percent <= 100
    assert len(second.cpu_percent_per_core) == psutil.cpu_count()
    assert second.load_average is not None and len(second.load_average) == 3
    assert second.ram_total_bytes == psutil.virtual_memory().total
    assert second.ram_available_bytes is not None and second.ram_used_bytes is not None
    assert second.swap_total_bytes == psutil.swap_memory().total


def test_disk_read_rate_from_successive_samples_with_an_injected_clock() -> None:
    """Real counters, injected time: the rate is the counter delta over the clock delta."""
    if psutil.disk_io_counters() is None:
        pytest.skip("this machine reports no disk counters")  # then the field must be None
    clock = Clock()
    telemetry, _ = telemetry_for("no_driver.json", monotonic=clock)
    before = psutil.disk_io_counters().read_bytes
    first = telemetry.sample()
    after_first = psutil.disk_io_counters().read_bytes
    assert first.host.disk_read_bytes_per_s is None and first.host.swap_in_bytes_per_s is None
    Path(__file__).read_bytes()  # some reading, maybe from cache
    clock.t += 2.0
    before_second = psutil.disk_io_counters().read_bytes
    second = telemetry.sample()
    after = psutil.disk_io_counters().read_bytes
    rate = second.host.disk_read_bytes_per_s
    assert rate is not None
    assert (before_second - after_first) / 2.0 <= rate <= (after - before) / 2.0
    assert second.monotonic == clock.t
    assert second.host.swap_in_bytes_per_s is not None  # swap counters exist even with no swap
    clock.t -= 5  # a clock that goes back gives no rate rather than a negative one
    assert telemetry.sample().host.disk_read_bytes_per_s is None


def test_swap_rates_in_bytes_per_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI machines have no swap, so the counter values are scripted here (psutil's own
    sswap tuple); the arithmetic and the first-sample None are what is checked."""
    real = psutil.swap_memory()
    readings = iter([(0, 0), (8 * 2**20, 2**20), (8 * 2**20, 2**20), (0, 0)])

    def swap_memory() -> Any:
        sin, sout = next(readings)
        return real._replace(sin=sin, sout=sout)

    monkeypatch.setattr(psutil, "swap_memory", swap_memory)
    clock = Clock()
    telemetry, _ = telemetry_for("no_driver.json", monotonic=clock)
    rates = []
    for _ in range(4):
        host = telemetry.sample().host
        rates.append((host.swap_in_bytes_per_s, host.swap_out_bytes_per_s))
        clock.t += 0.5
    # 8 MiB in and 1 MiB out over 0.5 s; then nothing; then a counter reset: no rate.
    assert rates == [(None, None), (16 * 2**20, 2 * 2**20), (0.0, 0.0), (None, None)]


def test_watched_process_rss_cpu_and_gpu_memory() -> None:
    """Our own pid appears in the recorded process list: its GPU memory is summed from there."""
    rec = load("h100_handmade.json")
    key = "nvmlDeviceGetComputeRunningProcesses(gpu0)"
    for ans in rec["calls"][key]:
        ans["ok"][0]["pid"] = os.getpid()
    telemetry, _ = telemetry_for(rec)
    telemetry.watch(os.getpid())
    first = telemetry.sample()
    sum(range(200_000))
    second = telemetry.sample()
    me1, me2 = first.watched[0], second.watched[0]
    assert me1.alive and me1.rss_bytes == pytest.approx(psutil.Process().memory_info().rss, rel=0.2)
    assert me1.cpu_percent is None and me2.cpu_percent is not None  # needs a baseline
    assert me2.gpu_memory_bytes == answers(rec, key)[1][0]["usedGpuMemory"]
    proc = second.gpus[0].processes[0]
    assert proc.pid == os.getpid()
    assert proc.name == psutil.Process().name() and proc.user == psutil.Process().username()
    telemetry.unwatch(os.getpid())
    assert telemetry.sample().watched == ()


def test_watched_process_that_dies_is_reported_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        telemetry, _ = telemetry_for("no_driver.json")
        telemetry.watch(child.pid)
        alive = telemetry.sample().watched[0]
        assert alive.alive and alive.rss_bytes and alive.gpu_memory_bytes is None  # no NVML
        child.kill()
        child.wait()
        gone = telemetry.sample().watched[0]
        assert (gone.pid, gone.alive, gone.rss_bytes) == (child.pid, False, None)
    finally:
        child.kill()


def test_watched_pid_not_on_any_gpu_uses_no_gpu_memory() -> None:
    telemetry, _ = telemetry_for("h100_handmade.json")
    telemetry.watch(os.getpid())
    assert telemetry.sample().watched[0].gpu_memory_bytes == 0


def test_sample_is_frozen_and_versioned() -> None:
    telemetry, _ = telemetry_for("h100_handmade.json")
    sample = telemetry.sample()
    assert sample.sample_cost_s is not None and sample.sample_cost_s > 0
    assert telemetry.last_nvml_cost_s is not None and telemetry.last_host_cost_s is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        sample.timestamp = 0  # type: ignore[misc]
    assert json.loads(json.dumps(sample.to_json_dict()))["schema_version"] == SCHEMA_VERSION


def test_injected_wall_clock() -> None:
    telemetry = Telemetry(nvml=RecordedNvml(load("no_driver.json")), clock=lambda: 1234.5)
    assert telemetry.sample().timestamp == 1234.5


# -- a slow driver ---------------------------------------------------------------------


class SlowNvml:
    """A driver whose every call takes `delay_s` (a hung GPU, a busy driver)."""

    def __init__(self, delay_s: float) -> None:
        self.inner = RecordedNvml(load("h100_handmade.json"))
        self.delay_s = delay_s

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr) or isinstance(attr, type):
            return attr

        def slow(*args: Any, **kwargs: Any) -> Any:
            time.sleep(self.delay_s)
            return attr(*args, **kwargs)

        return slow


def test_a_slow_nvml_call_never_blocks_the_caller() -> None:
    """watch() and status answer at once while a sample is in flight on another thread."""
    telemetry = Telemetry(nvml=SlowNvml(0.3))
    worker = threading.Thread(target=telemetry.sample, daemon=True)
    started = time.monotonic()
    worker.start()
    telemetry.watch(os.getpid())  # from the "UI thread" while a sample is in flight
    _ = telemetry.status
    assert time.monotonic() - started < 0.2
    assert worker.is_alive()  # the sample really was still in flight
    worker.join(10)


def test_derived_fixtures_are_up_to_date(tmp_path: Path) -> None:
    """The error-case recordings are what derive.py makes of the current base recording."""
    sys.path.insert(0, str(FIXTURES))
    try:
        import derive
    finally:
        sys.path.remove(str(FIXTURES))
    base_path = next(p for p in (FIXTURES / "h100_real.json",
                                 FIXTURES / "h100_handmade.json") if p.exists())
    base = json.loads(base_path.read_text())
    for filename, make in derive.DERIVED.items():
        assert load(filename) == json.loads(json.dumps(make(copy.deepcopy(base),
                                                            base_path.name))), (
            f"{filename} is stale: run python tests/fixtures/nvml/derive.py"
        )


def test_power_limit_is_reread_only_every_refresh_period() -> None:
    """The limit call costs ~0.2-0.4 ms on an H100 (most of a tick), so it is cached."""
    from console.host.telemetry import POWER_LIMIT_REFRESH_S

    clock = Clock()
    telemetry, nvml = telemetry_for("h100_real.json" if (FIXTURES / "h100_real.json").exists()
                                    else "h100_handmade.json", monotonic=clock)
    key = "nvmlDeviceGetPowerManagementLimit(gpu0)"
    for _ in range(3):
        assert telemetry.sample().gpus[0].power_limit_w is not None
        clock.t += 1.0
    assert nvml.calls.count(key) == 1
    clock.t += POWER_LIMIT_REFRESH_S
    telemetry.sample()
    assert nvml.calls.count(key) == 2


def test_close_does_not_wait_for_a_hung_sample() -> None:
    telemetry = Telemetry(nvml=SlowNvml(2.0))
    thread = threading.Thread(target=telemetry.sample, daemon=True)
    thread.start()
    time.sleep(0.1)  # the sample is now inside a slow NVML call, holding the lock
    started = time.monotonic()
    telemetry.close(timeout_s=0.2)
    assert time.monotonic() - started < 1.0
