"""The guard's decisions as tables: levels, hysteresis, auto-resume, the per-tensor look-ahead,
the why-text's attribution, stall detection. Pure functions: samples are built here."""

from __future__ import annotations

import pytest

from console.core import guard
from console.core.guard import RUNNING, GuardState, Reading, evaluate
from console.core.sample import (
    GpuProcessSample,
    GpuSample,
    HostSample,
    NvmlStatus,
    ProcSample,
    Sample,
)
from console.host.config import DEFAULT_LEVELS, ConfigError

GIB = 1024**3
MIB = 1024**2
H100 = 85520809984  # bytes
LEVELS = dict(DEFAULT_LEVELS)  # vram 80/92/97 resume 88; ram 80/90/95 r85; swap 25/50/75 r40;
# swap_in 10/50/none r5


def gpu(used: int, index: int = 0, total: int = H100,
        processes: tuple[tuple[int, int, str], ...] = ()) -> GpuSample:
    return GpuSample(
        index=index, name="H100", uuid=None, memory_total_bytes=total, memory_used_bytes=used,
        memory_reserved_bytes=None, utilization_gpu_pct=None, utilization_memory_pct=None,
        temperature_c=None, power_draw_w=None, power_limit_w=None, sm_clock_mhz=None,
        processes=tuple(GpuProcessSample(index, pid, "me", name, mem, "compute")
                        for pid, mem, name in processes),
    )


def host(ram_used_pct: float = 30.0, swap_used_pct: float = 0.0, swap_in: float | None = 0.0,
         disk_read: float | None = 0.0) -> HostSample:
    total = 64 * GIB
    return HostSample(
        cpu_percent=10.0, cpu_percent_per_core=(10.0,), load_average=None,
        ram_total_bytes=total, ram_available_bytes=int(total * (1 - ram_used_pct / 100)),
        ram_used_bytes=None, swap_total_bytes=8 * GIB,
        swap_used_bytes=int(8 * GIB * swap_used_pct / 100), swap_in_bytes_per_s=swap_in,
        swap_out_bytes_per_s=0.0, disk_read_bytes_per_s=disk_read,
    )


def sample(t: float, gpus: tuple[GpuSample, ...] = (), h: HostSample | None = None,
           watched: tuple[ProcSample, ...] = ()) -> Sample:
    return Sample(timestamp=1e9 + t, monotonic=t, nvml=NvmlStatus("ok"), gpus=gpus,
                  host=h or host(), watched=watched)


def vram(pct: float, device: str = "cuda:0") -> Reading:
    return Reading("vram", pct, device)


def host_readings(ram: float = 30.0, swap: float = 0.0, swap_in: float = 0.0) -> list[Reading]:
    return [Reading("ram", ram), Reading("swap", swap), Reading("swap_in", swap_in)]


# ---------------------------------------------------------------------------------------------
# Levels


@pytest.mark.parametrize("readings,action,first", [
    ([vram(50), *host_readings()], "continue", None),
    ([vram(85), *host_readings()], "warn", ("vram", "warn", 80.0)),
    ([vram(92), *host_readings()], "pause", ("vram", "pause", 92.0)),
    ([vram(96.9), *host_readings()], "pause", ("vram", "pause", 92.0)),
    ([vram(97), *host_readings()], "abort", ("vram", "abort", 97.0)),
    ([vram(50), *host_readings(ram=91)], "pause", ("ram", "pause", 90.0)),
    ([vram(50), *host_readings(swap=76)], "abort", ("swap", "abort", 75.0)),
    ([vram(50), *host_readings(swap_in=60)], "pause", ("swap_in", "pause", 50.0)),
    ([vram(50), *host_readings(swap_in=5000)], "pause", ("swap_in", "pause", 50.0)),  # no abort
    ([vram(50), *host_readings(swap_in=12)], "warn", ("swap_in", "warn", 10.0)),
    ([vram(50), vram(93, "cuda:1"), *host_readings()], "pause", ("vram", "pause", 92.0)),
    ([Reading("vram", None, "cuda:0"), Reading("ram", None)], "continue", None),  # unknown
])
def test_levels_from_running(readings: list[Reading], action: str,
                             first: tuple[str, str, float] | None) -> None:
    v = evaluate(readings, LEVELS, RUNNING, now=100.0)
    assert v.action == action
    if first is None:
        assert v.crossings == ()
    else:
        c = v.crossings[0]
        assert (c.resource, c.level, c.threshold) == first
    expected_mode = {"pause": "paused", "abort": "aborted"}.get(action, "running")
    assert v.state.mode == expected_mode


def test_the_worst_crossing_comes_first_and_names_the_gpu() -> None:
    v = evaluate([vram(85), vram(94, "cuda:1"), *host_readings(ram=91)], LEVELS, RUNNING,
                 now=5.0)
    assert [(c.label, c.level) for c in v.crossings] == [
        ("GPU1 VRAM", "pause"), ("host RAM", "pause"), ("GPU0 VRAM", "warn")]
    assert v.why == "paused: GPU1 VRAM 94% > 92%; host RAM 91% > 90%"
    assert v.state.since == 5.0


# ---------------------------------------------------------------------------------------------
# Hysteresis and resume


def paused_by_vram() -> GuardState:
    return evaluate([vram(93), *host_readings()], LEVELS, RUNNING, now=10.0).state


@pytest.mark.parametrize("vram_pct,ram_pct,auto,action,can_resume", [
    (93, 30, False, "stay_paused", False),  # still over pause
    (90, 30, False, "stay_paused", False),  # under pause, over resume (88): hysteresis
    (88, 30, True, "stay_paused", False),  # at resume is not under it
    (87, 30, False, "stay_paused", True),  # every resource under resume: the user may resume
    (87, 30, True, "resume", False),  # ... or it resumes by itself
    (87, 86, True, "stay_paused", False),  # RAM over its resume level (85) blocks it
    (87, 84, True, "resume", False),
    (97, 30, True, "abort", False),  # the abort level while paused
])
def test_hysteresis_and_auto_resume(vram_pct: float, ram_pct: float, auto: bool, action: str,
                                    can_resume: bool) -> None:
    state = paused_by_vram()
    v = evaluate([vram(vram_pct), *host_readings(ram=ram_pct)], LEVELS, state, now=20.0,
                 auto_resume=auto)
    assert v.action == action
    assert v.can_resume is can_resume
    if action == "stay_paused":
        assert v.state is state
    if action == "resume":
        assert v.state.mode == "running" and v.state.since == 20.0


def test_paused_why_lists_what_it_waits_for() -> None:
    v = evaluate([vram(90), *host_readings(ram=86)], LEVELS, paused_by_vram(), now=20.0)
    assert v.why == ("paused: waiting for GPU0 VRAM 90% to drop under 88%; host RAM 86% to drop "
                     "under 85% (paused by GPU0 VRAM 93% > 92%)")


def test_a_user_pause_does_not_auto_resume() -> None:
    state = guard.pause_by_user(RUNNING, now=3.0)
    assert state.mode == "paused" and state.by_user
    v = evaluate([vram(10), *host_readings()], LEVELS, state, now=4.0, auto_resume=True)
    assert v.action == "stay_paused" and v.can_resume


def test_aborted_stays_aborted() -> None:
    state = guard.abort_by_user(now=1.0)
    v = evaluate([vram(10), *host_readings()], LEVELS, state, now=2.0, auto_resume=True)
    assert v.action == "abort" and v.state is state


@pytest.mark.parametrize("vram_pct,force,action", [
    (93, False, "stay_paused"),  # still at the pause level: refused
    (93, True, "resume"),
    (90, False, "resume"),  # between resume and pause: the user decides
])
def test_request_resume(vram_pct: float, force: bool, action: str) -> None:
    v = guard.request_resume([vram(vram_pct), *host_readings()], LEVELS, paused_by_vram(),
                             now=30.0, force=force)
    assert v.action == action
    if action == "stay_paused":
        assert v.why.startswith("cannot resume: GPU0 VRAM 93% > 92%")


def test_raising_the_threshold_releases_a_pause() -> None:
    raised = guard.with_threshold(LEVELS, "vram", pause=96.0, resume=94.0)
    assert raised["vram"].pause == 96.0 and LEVELS["vram"].pause == 92.0  # a copy
    v = evaluate([vram(93), *host_readings()], raised, paused_by_vram(), now=40.0,
                 auto_resume=True)
    assert v.action == "resume"
    with pytest.raises(ConfigError, match="resume"):
        guard.with_threshold(LEVELS, "vram", resume=95.0)


def test_events_carry_resource_value_and_threshold() -> None:
    v = evaluate([vram(93.5), *host_readings()], LEVELS, RUNNING, now=1.0)
    assert v.event() == {"event": "paused", "resource": "vram", "device": "cuda:0",
                         "value": 93.5, "threshold": 92.0, "why": v.why}
    r = evaluate([vram(50), *host_readings()], LEVELS, v.state, now=2.0, auto_resume=True)
    assert r.event() is not None and r.event()["event"] == "resumed"  # type: ignore[index]
    assert evaluate([vram(50)], LEVELS, RUNNING, now=3.0).event() is None


# ---------------------------------------------------------------------------------------------
# Readings from a Sample


def test_readings_from_a_sample() -> None:
    s = sample(0.0, gpus=(gpu(int(H100 * 0.5)), gpu(int(H100 * 0.25), index=1)),
               h=host(ram_used_pct=40, swap_used_pct=10, swap_in=3 * MIB))
    values = {(r.resource, r.device): r.value for r in guard.readings_from_sample(s)}
    assert values[("vram", "cuda:0")] == pytest.approx(50.0)
    assert values[("vram", "cuda:1")] == pytest.approx(25.0)
    assert values[("ram", None)] == pytest.approx(40.0, abs=0.01)
    assert values[("swap", None)] == pytest.approx(10.0, abs=0.01)
    assert values[("swap_in", None)] == pytest.approx(3.0)


def test_no_swap_is_zero_not_unknown() -> None:
    h = host()
    h = HostSample(**{**{f: getattr(h, f) for f in h.__slots__}, "swap_total_bytes": 0,
                      "swap_used_bytes": 0, "swap_in_bytes_per_s": None})
    values = {r.resource: r.value for r in guard.readings_from_sample(sample(0.0, h=h))}
    assert values["swap"] == 0.0 and values["swap_in"] is None


# ---------------------------------------------------------------------------------------------
# Why: who grew


def growing_history(grower_pid: int = 4121, growth: int = int(6.2 * GIB),
                    start: float = 80.0) -> list[Sample]:
    """Samples every 5 s from `start`: pid 4121 grows by `growth` over 20 s, pid 77 is flat."""
    out = []
    for i in range(5):
        t = start + 5 * i
        used_grower = 10 * GIB + growth * i // 4
        procs = ((grower_pid, used_grower, "python"), (77, 20 * GIB, "other"))
        out.append(sample(t, gpus=(gpu(used_grower + 20 * GIB, processes=procs),)))
    return out


def test_why_names_the_process_that_grew() -> None:
    history = growing_history()
    v = evaluate([vram(93), *host_readings()], LEVELS, RUNNING, now=100.0, history=history)
    assert v.why == (
        "paused: GPU0 VRAM 93% > 92%; pid 4121 (python) grew by 6.2 GiB in the last 20 s")


def test_why_says_when_the_engine_itself_grew() -> None:
    v = evaluate([vram(93), *host_readings()], LEVELS, RUNNING, now=100.0,
                 history=growing_history(), engine_pid=4121)
    assert "pid 4121 (the engine) grew by 6.2 GiB" in v.why


@pytest.mark.parametrize("history,expected", [
    (growing_history(growth=100 * MIB), ""),  # too small to name
    (growing_history(start=0.0), ""),  # all older than the 20 s window
    ([], ""),
])
def test_attribution_only_when_it_means_something(history: list[Sample], expected: str) -> None:
    c = evaluate([vram(93)], LEVELS, RUNNING, now=100.0).crossings[0]
    assert guard.attribute(history, c, now=100.0) == expected


def test_ram_attribution_uses_the_watched_processes() -> None:
    history = [sample(90.0 + i, watched=(ProcSample(555, True, (2 + i) * GIB, 50.0),))
               for i in range(0, 11, 5)]
    v = evaluate([Reading("ram", 91.0)], LEVELS, RUNNING, now=100.0, history=history,
                 engine_pid=555)
    assert v.why == (
        "paused: host RAM 91% > 90%; pid 555 (the engine) grew by 10.0 GiB in the last 10 s")


# ---------------------------------------------------------------------------------------------
# Stall


def test_progress_moves_only_when_bytes_or_tensors_do() -> None:
    p = guard.advance(None, 0, 0, now=1.0, current_file="a.safetensors")
    p = guard.advance(p, 100, 1, now=2.0)
    assert p.changed_at == 2.0 and p.current_file == "a.safetensors"
    p = guard.advance(p, 100, 1, now=9.0, current_file="b.safetensors")
    assert p.changed_at == 2.0 and p.current_file == "b.safetensors"


@pytest.mark.parametrize("h,cpu,likely", [
    (host(swap_in=80 * MIB, disk_read=5 * MIB), 5.0, "the host is swapping"),
    (host(swap_in=0.0, disk_read=3 * MIB), 5.0, "waiting on the disk"),
    (host(swap_in=0.0, disk_read=0.0), 99.0, "the engine is busy on the CPU"),
    (host(swap_in=0.0, disk_read=0.0), 1.0, "nothing is moving"),
])
def test_stall_with_evidence(h: HostSample, cpu: float, likely: str) -> None:
    progress = guard.Progress(1000, 10, changed_at=50.0,
                              current_file="model-00002-of-00004.safetensors")
    s = sample(80.0, h=h, watched=(ProcSample(4121, True, GIB, cpu),))
    assert guard.detect_stall(progress, now=69.9, stall_s=20.0, sample=s, engine_pid=4121) is None
    stall = guard.detect_stall(progress, now=80.0, stall_s=20.0, sample=s, engine_pid=4121)
    assert stall is not None
    assert stall.seconds == 30.0 and likely in stall.likely
    assert stall.text.startswith("stalled: no progress for 30 s; disk read ")
    assert f"engine CPU {cpu:.0f}%" in stall.text
    assert "reading model-00002-of-00004.safetensors" in stall.text
    assert stall.event()["event"] == "stalled"


def test_stall_without_a_sample_still_reports() -> None:
    stall = guard.detect_stall(guard.Progress(0, 0, 0.0), now=25.0, stall_s=20.0)
    assert stall is not None
    assert "disk read N/A, swap-in N/A, engine CPU N/A" in stall.text
