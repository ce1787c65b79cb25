"""Diagnosed errors as plain text, with the live facts that support them.

Shared by the log pane's cause cards (what `c` copies) and the bundle, so both say the same
thing. `live_facts` turns what the console knew at the moment of an error (the telemetry in a
`DiagnosisContext`, the doctor's report, the current model's pre-flight check) into short lines,
the ones relevant to the cause first. No textual, no torch; the doctor and check types are
only read through their attributes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from console.core.diagnose import Cause, DiagnosedError, DiagnosisContext
from console.core.hints import drop_hint, fixes_once
from console.core.units import fmt_bytes, fmt_pct

# Doctor checks that bear on each cause (console/core/doctor_judge.py ids; `pkg_*` matches every
# package).
DOCTOR_CHECKS_FOR_CAUSE: dict[str, tuple[str, ...]] = {
    "cuda_unavailable": ("nvidia_driver", "torch", "cuda_visible_devices"),
    "cuda_driver_mismatch": ("nvidia_driver", "torch", "cuda_compat", "arch"),
    "dtype_unsupported": ("bf16", "torch"),
    "flash_attention": ("flash_attn", "torch"),
    "missing_dependency": ("pkg_*", "optional_packages"),
    "version_mismatch": ("pkg_transformers", "pkg_tokenizers", "pkg_accelerate",
                         "pkg_safetensors", "pkg_huggingface_hub", "python"),
    "tokenizer_error": ("pkg_tokenizers", "optional_packages"),
    "quantization_error": ("optional_packages", "torch"),
    "permission_or_disk": ("hf_cache", "dev_shm"),
    "missing_file": ("hf_cache",),
    "host_oom": ("swap", "dev_shm"),
    "cuda_oom": ("alloc_conf",),
    "nccl_distributed": ("cuda_visible_devices", "dev_shm", "memlock"),
}
# Causes for which the memory estimate and fit are evidence.
MEMORY_CAUSES = ("cuda_oom", "host_oom", "context_too_long")
MAX_GPU_PROCESSES = 3


@dataclass(frozen=True)
class ErrorRecord:
    """One diagnosed error as the console saw it: when, and the live facts at that moment."""

    error: DiagnosedError
    ts: float  # wall clock when it was diagnosed
    facts: tuple[str, ...] = ()  # live_facts(...) at that moment

    @property
    def top(self) -> Cause | None:
        return self.error.causes[0] if self.error.causes else None


def telemetry_facts(context: DiagnosisContext | None, cause_id: str | None = None) -> list[str]:
    """RAM, swap and each GPU's memory (with its biggest processes for GPU memory causes)."""
    if context is None:
        return []
    lines: list[str] = []
    host = []
    if context.ram_used_fraction is not None:
        host.append(f"RAM {fmt_pct(100 * context.ram_used_fraction)} used")
    if context.swap_used_fraction is not None:
        host.append(f"swap {fmt_pct(100 * context.swap_used_fraction)} used")
    elif context.ram_used_fraction is not None:
        host.append("no swap")
    if host:
        lines.append(", ".join(host))
    for gpu in context.gpus:
        frac = gpu.memory_used_fraction
        line = (f"GPU {gpu.index} ({gpu.name or 'N/A'}): {fmt_bytes(gpu.memory_used_bytes)} of "
                f"{fmt_bytes(gpu.memory_total_bytes)} used"
                + (f" ({fmt_pct(100 * frac)})" if frac is not None else ""))
        lines.append(line)
        if cause_id in (None, "cuda_oom") and gpu.processes:
            biggest = sorted(gpu.processes, key=lambda p: -(p.gpu_memory_bytes or 0))
            for proc in biggest[:MAX_GPU_PROCESSES]:
                mine = " (the engine)" if context.engine_pid == proc.pid else ""
                lines.append(f"  pid {proc.pid} {proc.name or 'N/A'}{mine}: "
                             f"{fmt_bytes(proc.gpu_memory_bytes)}")
    if context.exit_signal is not None or context.exit_code is not None:
        how = (f"signal {context.exit_signal}" if context.exit_signal is not None
               else f"exit code {context.exit_code}")
        who = " (sent by the console)" if context.killed_by_console else ""
        lines.append(f"engine ended: {how}{who}")
    if context.kernel_oom_line or context.kernel_log_note:
        lines.append(context.kernel_oom_line or context.kernel_log_note or "")
    return lines


def _relevant(check_id: str, wanted: Sequence[str]) -> bool:
    return any(check_id == w or (w.endswith("*") and check_id.startswith(w[:-1])) for w in wanted)


def doctor_facts(report: Any, cause_id: str | None) -> list[str]:
    """The doctor's checks that bear on the cause (whatever their status), then the other
    failures. `report`: console.core.doctor_judge.Report or None."""
    if report is None:
        return []
    wanted = DOCTOR_CHECKS_FOR_CAUSE.get(cause_id or "", ())
    lines: list[str] = []
    for check in report.checks:
        if _relevant(check.id, wanted) or check.status == "fail":
            fix = f" (fix: {check.fix})" if check.fix and check.status != "pass" else ""
            lines.append(f"doctor {check.status.upper()} {check.title}: {check.detail}{fix}")
    return lines


def check_facts(result: Any, cause_id: str | None) -> list[str]:
    """The current model's pre-flight findings for this cause, and the estimate and fit for
    memory causes. `result`: console.commands.check.CheckResult or None."""
    if result is None:
        return []
    lines: list[str] = []
    report = result.report
    findings = [f for f in report.findings if f.severity in ("error", "warning")]
    matching = [f for f in findings if cause_id and f.cause == cause_id]
    shown = matching or findings[:3]
    lines.extend(f"pre-flight of {result.model}: {line}"
                 for line in fixes_once([(f.problem_line(), f.fix) for f in shown]))
    if not findings:
        lines.append(f"pre-flight of {result.model}: no problems found")
    if cause_id in MEMORY_CAUSES or cause_id is None:
        estimate = result.estimate
        if estimate is not None:
            lines.append(f"estimate for {result.model}: peak {fmt_bytes(estimate.peak_bytes)} "
                         f"({estimate.dtype}, context {estimate.context}, "
                         f"KV {fmt_bytes(estimate.kv_bytes_per_token)}/token)")
        elif result.estimate_problem:
            lines.append(f"estimate for {result.model}: {result.estimate_problem}")
        fit = result.fit
        if fit is not None:
            lines.append(f"fit: {fit.verdict.replace('_', ' ')}: {fit.reason}")
    return lines


def live_facts(cause_id: str | None, context: DiagnosisContext | None, doctor_report: Any = None,
               check_result: Any = None) -> tuple[str, ...]:
    """Every live fact for a card about `cause_id`, telemetry first."""
    return (*telemetry_facts(context, cause_id), *doctor_facts(doctor_report, cause_id),
            *check_facts(check_result, cause_id))


def without_fixes(text: str, fixes: Sequence[str]) -> str:
    """`text` with the fixes cut out: a card says its fixes once, in its fixes list."""
    for fix in fixes:
        text = drop_hint(text, fix)
    return text


def format_cause(cause: Cause, rank: int | None = None, *, full: bool = True) -> list[str]:
    """A cause as indented lines: title, then (full) why, evidence, facts and fixes (said
    once: the evidence lines do not repeat them)."""
    head = f"{rank}. " if rank is not None else ""
    lines = [f"{head}{cause.title} [{cause.id}, confidence {cause.confidence:.2f}]"]
    if not full:
        return lines
    lines.append(f"   why: {cause.explanation}")
    if cause.evidence:
        lines.append("   evidence:")
        lines.extend(f"     | {without_fixes(line, cause.fixes)}" for line in cause.evidence)
    if cause.facts:
        lines.append("   figures: " + "; ".join(f"{k} {v}" for k, v in cause.facts))
    if cause.fixes:
        lines.append("   fixes:")
        lines.extend(f"     - {fix}" for fix in cause.fixes)
    return lines


def format_record(record: ErrorRecord | DiagnosedError, *, alternatives: int = 2) -> str:
    """One error: what surfaced, the best cause in full, the next ones in a line each, and the
    live facts. The text a cause card copies and the bundle lists."""
    if isinstance(record, DiagnosedError):
        record = ErrorRecord(record, ts=0.0)
    error = record.error
    fixes = error.causes[0].fixes if error.causes else ()
    when = time.strftime("%Y-%m-%d %H:%M:%S ", time.localtime(record.ts)) if record.ts else ""
    lines = [f"{when}{error.kind}: {without_fixes(error.summary, fixes)}"]
    if not error.causes:
        lines.append("  no known cause recognised (an empty answer beats a wrong one)")
    for rank, cause in enumerate(error.causes[: 1 + alternatives], start=1):
        lines.extend("  " + line for line in format_cause(cause, rank, full=rank == 1))
    if record.facts:
        lines.append("  live facts at the time:")
        lines.extend(f"    {without_fixes(fact, fixes)}" for fact in record.facts)
    return "\n".join(lines)
