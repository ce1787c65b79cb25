"""What the console knows live changes the answer; the streaming entry the log pane uses."""

from __future__ import annotations

import time
from pathlib import Path

from console.core.diagnose import DiagnosisContext, StreamingDiagnoser, diagnose_text
from console.core.sample import GpuProcessSample, GpuSample, HostSample, NvmlStatus, Sample
from console.core.units import GIB

LOADING = (
    "engine: loading /models/glm-4-9b\n"
    "Loading checkpoint shards:  40%|████      | 2/5 [00:31<00:47, 15.80s/it]\n"
)


def test_no_traceback_sigkill_and_full_ram_is_host_oom() -> None:
    ctx = DiagnosisContext(exit_code=-9, exit_signal=9, ram_used_fraction=0.98,
                           swap_used_fraction=0.93)
    causes = diagnose_text(LOADING, ctx)
    assert [c.id for c in causes] == ["host_oom"]
    assert causes[0].confidence >= 0.9
    assert any("SIGKILL" in e for e in causes[0].evidence)
    assert dict(causes[0].facts)["RAM used"] == "98%"


def test_sigkill_with_plenty_of_ram_and_no_oom_kill_is_a_signal_from_outside() -> None:
    """RAM 35% used and the kernel's OOM-kill counter still: no host_oom card."""
    ctx = DiagnosisContext(exit_code=-9, exit_signal=9, ram_used_fraction=0.35,
                           swap_used_fraction=0.0)
    assert diagnose_text(LOADING, ctx) == []
    # the shell's "Killed" alone, RAM fine at the time: still low
    low = diagnose_text(LOADING + "Killed\n", DiagnosisContext(ram_used_fraction=0.3))
    assert low[0].id == "host_oom" and low[0].confidence < 0.6


def test_sigkill_with_unknown_ram_needs_evidence() -> None:
    assert diagnose_text(LOADING, DiagnosisContext(exit_code=137)) == []
    evidence = "the kernel's OOM-kill counter rose: /proc/vmstat oom_kill 3 -> 4"
    causes = diagnose_text(LOADING, DiagnosisContext(exit_code=137, oom_kill_evidence=evidence))
    assert causes[0].id == "host_oom" and causes[0].confidence >= 0.9
    assert evidence in causes[0].evidence


def test_oom_kill_counters_are_read_and_compared(tmp_path: Path) -> None:
    from console.host import oomkill

    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "vmstat").write_text("nr_free_pages 10\noom_kill 3\n")
    (proc / "self" / "cgroup").write_text("0::/job\n")
    cgroup = tmp_path / "cg"
    (cgroup / "job").mkdir(parents=True)
    (cgroup / "job" / "memory.events").write_text("low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n")
    before = oomkill.counts(proc, cgroup)
    assert before == {"/proc/vmstat oom_kill": 3,
                      f"{cgroup / 'job' / 'memory.events'} oom_kill": 1}
    assert oomkill.evidence(before, before) is None
    (cgroup / "job" / "memory.events").write_text("oom_kill 2\n")
    moved = oomkill.evidence(before, oomkill.counts(proc, cgroup))
    assert moved is not None and "memory.events oom_kill 1 -> 2" in moved
    assert "vmstat" not in moved


def test_killed_by_the_console_itself_is_not_a_failure() -> None:
    ctx = DiagnosisContext(exit_code=-9, exit_signal=9, killed_by_console=True,
                           ram_used_fraction=0.99)
    assert diagnose_text(LOADING + "Killed\n", ctx) == []


def test_memory_pressure_raises_a_logged_kill() -> None:
    plain = diagnose_text(LOADING + "Killed\n")[0].confidence
    pressed = diagnose_text(LOADING + "Killed\n",
                            DiagnosisContext(ram_used_fraction=0.97))[0].confidence
    assert pressed > plain


def test_other_signals_name_no_cause() -> None:
    assert diagnose_text(LOADING, DiagnosisContext(exit_code=-11, exit_signal=11)) == []
    assert diagnose_text(LOADING, DiagnosisContext(ram_used_fraction=0.99)) == []


def _gpu(*processes: GpuProcessSample) -> GpuSample:
    return GpuSample(
        index=0, name="NVIDIA H100 80GB HBM3", uuid=None, memory_total_bytes=80 * GIB,
        memory_used_bytes=79 * GIB, memory_reserved_bytes=None, utilization_gpu_pct=None,
        utilization_memory_pct=None, temperature_c=None, power_draw_w=None, power_limit_w=None,
        sm_clock_mhz=None, processes=processes,
    )


OOM_LINE = ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.16 GiB. GPU 0 has a "
            "total capacity of 79.19 GiB of which 310.00 MiB is free. Including non-PyTorch "
            "memory, this process has 20.80 GiB memory in use. Of the allocated memory 19.90 GiB "
            "is allocated by PyTorch, and 210.00 MiB is reserved by PyTorch but unallocated.")


def test_oom_names_the_other_process_from_nvml() -> None:
    gpus = (_gpu(GpuProcessSample(0, 100, "me", "python", 21 * GIB, "compute"),
                 GpuProcessSample(0, 3141, "bob", "ollama", 57 * GIB, "compute")),)
    cause = diagnose_text(OOM_LINE, DiagnosisContext(gpus=gpus, engine_pid=100))[0]
    assert cause.id == "cuda_oom"
    assert "57.0 GiB" in cause.title
    assert "ollama (pid 3141, user bob)" in cause.explanation
    assert any("ollama" in fix for fix in cause.fixes)


def test_oom_at_load_with_the_estimate_says_the_weights_do_not_fit() -> None:
    ctx = DiagnosisContext(phase="load", weights_bytes=int(90 * GIB))
    cause = diagnose_text(OOM_LINE, ctx)[0]
    assert "do not fit" in cause.title and "90.0 GiB" in cause.explanation


def test_oom_while_generating_says_kv_cache() -> None:
    ctx = DiagnosisContext(phase="generate", kv_bytes_per_token=40 * 1024, context_tokens=131072)
    cause = diagnose_text(OOM_LINE, ctx)[0]
    assert "KV cache" in cause.title and "131072 tokens" in cause.explanation


def test_context_from_a_telemetry_sample() -> None:
    host = HostSample(
        cpu_percent=None, cpu_percent_per_core=(), load_average=None, ram_total_bytes=64 * GIB,
        ram_available_bytes=GIB, ram_used_bytes=63 * GIB, swap_total_bytes=8 * GIB,
        swap_used_bytes=8 * GIB, swap_in_bytes_per_s=None, swap_out_bytes_per_s=None,
        disk_read_bytes_per_s=None,
    )
    sample = Sample(timestamp=time.time(), monotonic=0.0, nvml=NvmlStatus("ok"), gpus=(_gpu(),),
                    host=host)
    ctx = DiagnosisContext.from_sample(sample, exit_code=-9, exit_signal=9)
    assert ctx.ram_used_fraction is not None and ctx.ram_used_fraction > 0.98
    assert ctx.swap_used_fraction == 1.0 and ctx.gpus == sample.gpus
    assert diagnose_text("", ctx)[0].id == "host_oom"


# -- streaming ---------------------------------------------------------------------------------

TRACEBACK = ['Traceback (most recent call last):', '  File "/srv/engine.py", line 40, in load',
    '    model = AutoModelForCausalLM.from_pretrained(path)',
    '  File "/venv/lib/python3.11/site-packages/safetensors/torch.py", line 311, in load_file',
    '    with safe_open(filename, framework="pt", device=device) as f:',
    'safetensors_rust.SafetensorError: Error while deserializing header: MetadataIncompleteBuffer']


def test_streaming_reports_a_traceback_when_it_completes() -> None:
    diagnoser = StreamingDiagnoser()
    out = []
    for line in ["engine: loading", *TRACEBACK]:
        out.extend(diagnoser.feed(line))
    assert out == []  # the message might still go on
    done = diagnoser.feed("2026-01-05 10:00:01 INFO engine idle")  # a new log record ends it
    assert len(done) == 1
    error = done[0]
    assert error.kind == "traceback" and error.first_line == 1 and error.last_line == 6
    assert error.summary.startswith("safetensors_rust.SafetensorError")
    assert error.causes[0].id == "corrupt_checkpoint"


def test_streaming_flush_closes_an_open_traceback() -> None:
    diagnoser = StreamingDiagnoser()
    for line in TRACEBACK:
        assert diagnoser.feed(line) == []
    done = diagnoser.flush()
    assert [e.causes[0].id for e in done] == ["corrupt_checkpoint"]
    assert diagnoser.flush() == []


def test_streaming_reports_a_telling_line_at_once_and_once() -> None:
    diagnoser = StreamingDiagnoser()
    assert diagnoser.feed("Loading checkpoint shards:  40%|####  | 2/5") == []
    first = diagnoser.feed("Killed")
    assert [e.kind for e in first] == ["line"] and first[0].causes[0].id == "host_oom"
    assert diagnoser.feed("Killed") == []  # the same cause on the next line: one card


def test_streaming_hints_support_a_later_error() -> None:
    diagnoser = StreamingDiagnoser()
    warning = ("Token indices sequence length is longer than the specified maximum sequence length "
               "for this model (1300 > 1024). Running this sequence through the model will result "
               "in indexing errors")
    assert diagnoser.feed(warning) == []  # a warning alone makes no card
    lines = ['Traceback (most recent call last):', '  File "/srv/x.py", line 3, in f',
             '    return self.wte(input_ids)', 'IndexError: index out of range in self']
    for line in lines:
        diagnoser.feed(line)
    done = diagnoser.flush()
    assert done[0].causes[0].id == "context_too_long" and done[0].causes[0].confidence >= 0.85


def test_streaming_flush_with_exit_facts_explains_a_silent_death() -> None:
    diagnoser = StreamingDiagnoser()
    diagnoser.feed_text(LOADING)
    done = diagnoser.flush(DiagnosisContext(exit_code=-9, exit_signal=9, ram_used_fraction=0.97))
    assert [e.kind for e in done] == ["exit"]
    assert done[0].causes[0].id == "host_oom" and done[0].causes[0].confidence >= 0.9


def test_streaming_feed_text_handles_partial_lines_and_carriage_returns() -> None:
    diagnoser = StreamingDiagnoser()
    assert diagnoser.feed_text("Loading:  10%|#\rLoading:  60%|###") == []
    out = diagnoser.feed_text("\rKilled\n")
    assert out and out[0].causes[0].id == "host_oom" and out[0].summary == "Killed"


def test_streaming_matches_whole_log_diagnosis() -> None:
    """The same log, fed line by line, gives the same top causes per error as the batch path."""
    text = "\n".join(TRACEBACK) + "\nretrying\n" + OOM_LINE + "\n"
    diagnoser = StreamingDiagnoser()
    errors = []
    for line in text.split("\n"):
        errors.extend(diagnoser.feed(line))
    errors.extend(diagnoser.flush())
    # The whole log's named causes (its weak leads filling the top-3 aside).
    named = {c.id for c in diagnose_text(text) if not c.lead}
    assert {e.causes[0].id for e in errors} == named


def test_streaming_reads_a_wrapped_warning_once_as_the_whole_log_does() -> None:
    # Round 67: a warning wrapped over three lines names its cause only read as one line.
    lines = ["/venv/lib/python3.11/site-packages/torch/cuda/__init__.py:215: UserWarning: NVIDIA "
             "GeForce RTX 5070 with CUDA capability sm_120 is not compatible",
             "with the current PyTorch installation. The current PyTorch install supports",
             "CUDA capabilities sm_50 sm_60 sm_70 sm_75 sm_80 sm_86 sm_90.", "loading model"]
    diagnoser = StreamingDiagnoser()
    assert diagnoser.feed(lines[0]) == []
    cards = diagnoser.feed(lines[1])
    assert [(e.kind, e.first_line, e.causes[0].id) for e in cards] == [
        ("line", 0, "cuda_driver_mismatch")]  # the warning's line
    assert diagnoser.feed(lines[2]) == [] and diagnoser.feed(lines[3]) == []  # one card
    assert diagnoser.flush() == []
    whole = diagnose_text("\n".join(lines))
    assert whole[0].id == "cuda_driver_mismatch" and not whole[0].lead
    # A line indented further than the warning (the source line Python prints under it) is
    # not joined to it.
    assert StreamingDiagnoser().feed_text(
        "/srv/app.py:3: UserWarning: NVIDIA A2 with CUDA capability sm_86 is not compatible\n"
        "  with the current pytorch installation(...)\n") == []


def test_streaming_memory_is_bounded() -> None:
    diagnoser = StreamingDiagnoser(window=50)
    for i in range(5000):
        diagnoser.feed(f"step {i} loss 1.23")
    assert len(diagnoser._recent) == 50
