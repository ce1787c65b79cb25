"""`autoglm-console check MODEL [--dtype D] [--context N] [--batch N] [--device D] [--json]
[--verify-hashes]`: is the checkpoint whole, and does it fit here now?

Exit 0: whole and fits (or fits tightly); 1: broken, or will not fit, or the requested device
is not here; 2: usage errors (bad flags, a MODEL that is neither a directory nor a cached hub
id). Reads headers and metadata only (`console.core.preflight`), estimates the memory
(`console.core.estimate`) and compares it with what NVML says is free now
(`console.host.telemetry`).
The JSON schema is in docs/check.md. Light at import: the work happens in `run`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from console.core.devices import default_device
from console.core.units import fmt_bytes
from console.host.config import Config

SCHEMA_VERSION = 1
DTYPES = ("auto", "bf16", "bfloat16", "fp16", "float16", "fp32", "float32")
DEFAULT_CONTEXT = 4096


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL",
                        help="a model directory, or a hub id (org/name) in the local HF cache")
    parser.add_argument("--dtype", default="auto", choices=DTYPES,
                        help="dtype the weights load as (default: auto = the checkpoint's)")
    parser.add_argument("--context", type=int, metavar="N",
                        help=f"tokens of prompt + output to plan for (default {DEFAULT_CONTEXT}, "
                        "or the model's maximum when smaller)")
    parser.add_argument("--batch", type=int, default=1, metavar="N",
                        help="sequences generated at once (default 1)")
    parser.add_argument("--device", metavar="D",
                        help="cuda, cuda:N, auto (spread over the GPUs) or cpu "
                        "(default: cuda:0 when there is a GPU, else cpu)")
    parser.add_argument("--attn", default="sdpa", choices=("sdpa", "eager", "flash_attention_2"),
                        help="attention implementation to plan for (default sdpa)")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="this model may run the code it ships (auto_map)")
    parser.add_argument("--json", action="store_true", help="one JSON object (docs/check.md)")
    parser.add_argument("--verify-hashes", action="store_true",
                        help="also hash every file of a model in the HF cache (reads every byte)")


def _usage(message: str) -> int:
    print(f"autoglm-console check: {message}", file=sys.stderr)
    return 2


def resolve_model(name: str, config: Config) -> Path:
    """MODEL -> a local directory (console.core.hfcache: a directory, or a hub id from the
    local cache, offline). Raises LookupError with the reason."""
    from console.core.hfcache import resolve

    cache = Path(config.hf_cache).expanduser() if config.hf_cache else None
    return resolve(name, cache)


class _ProgressBar:
    """A one-line progress bar on a stream, redrawn at most every 0.1 s."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last = 0.0

    def __call__(self, done: int, total: int, current: str) -> None:
        now = time.monotonic()
        if current and now - self.last < 0.1 and done < total:
            return
        self.last = now
        frac = done / total if total else 1.0
        filled = int(frac * 30)
        name = current[-40:] if current else "done"
        self.stream.write(f"\rverify hashes [{'#' * filled}{'.' * (30 - filled)}] "
                          f"{frac * 100:5.1f}% {done / 2**30:6.2f}/{total / 2**30:.2f} GiB "
                          f"{name:<40}")
        if not current:
            self.stream.write("\n")
        self.stream.flush()


def memory_now(sample: Any) -> tuple[list[Any], str | None]:
    """DeviceMemory for each GPU (NVML) and the host; a note when there is no GPU."""
    from console.core.estimate import DeviceMemory

    memory: list[Any] = []
    for gpu in sample.gpus:
        if gpu.memory_total_bytes and gpu.memory_used_bytes is not None:
            memory.append(DeviceMemory(f"cuda:{gpu.index}", gpu.memory_total_bytes,
                                       gpu.memory_used_bytes))
    host = sample.host
    if host.ram_total_bytes and host.ram_available_bytes is not None:
        memory.append(DeviceMemory("cpu", host.ram_total_bytes,
                                   host.ram_total_bytes - host.ram_available_bytes))
    note = None
    if not any(m.device.startswith("cuda") for m in memory):
        note = f"no GPU: {sample.nvml.message or sample.nvml.state}"
    return memory, note


@dataclass(frozen=True)
class CheckResult:
    """Everything `check` found: the pre-flight report, the estimate, the fit. The TUI shows
    the same object when a model is picked."""

    model: str
    model_dir: str
    report: Any  # console.core.preflight.PreflightReport
    device: str
    device_problem: str | None
    estimate: Any  # console.core.estimate.Estimate | None
    estimate_problem: str | None
    fit: Any  # console.core.estimate.FitVerdict | None
    memory: tuple[Any, ...]  # console.core.estimate.DeviceMemory now
    notes: tuple[str, ...]
    load_time: Any = None  # console.host.loadspeed.LoadTime: expected seconds to load here now

    @property
    def exit_code(self) -> int:
        broken = not self.report.ok or self.device_problem is not None
        return 1 if broken or (self.fit is not None and self.fit.verdict == "will_not_fit") else 0

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "model": self.model,
            "model_dir": self.model_dir,
            "ok": self.exit_code == 0,
            "exit_code": self.exit_code,
            "device": self.device,
            "device_problem": self.device_problem,
            "preflight": self.report.to_json_dict(),
            "estimate": self.estimate.to_json_dict() if self.estimate is not None else None,
            "estimate_problem": self.estimate_problem,
            "fit": self.fit.to_json_dict() if self.fit is not None else None,
            "memory_now": [{"device": m.device, "total_bytes": m.total_bytes,
                            "used_bytes": m.used_bytes, "free_bytes": m.free_bytes}
                           for m in self.memory],
            "notes": list(self.notes),
            "load_time": self.load_time.to_json_dict() if self.load_time is not None else None,
        }


def assess(
    model: str, model_dir: Path, report: Any, sample: Any, config: Config, *,
    dtype: str = "auto", context: int | None = None, batch: int = 1, device: str | None = None,
    attn: str = "sdpa",
) -> CheckResult:
    """The estimate and the fit for a pre-flight report, against the memory in `sample`."""
    from console.core import estimate as est_mod

    notes: list[str] = []
    memory, no_gpu = memory_now(sample)
    gpus = [m for m in memory if m.device.startswith("cuda")]
    if device is None and no_gpu:
        notes.append(f"{no_gpu}; checked against host RAM (device cpu)")
    device = default_device(device, len(gpus))
    device_problem = None
    if device != "cpu" and not gpus:
        device_problem = f"no GPU: cannot check fit on {device} ({no_gpu})"
    elif device.startswith("cuda:") and all(m.device != device for m in gpus):
        device_problem = f"{device}: no such GPU here ({len(gpus)} GPU(s) found)"

    estimate = verdict = None
    estimate_problem = None
    if report.config is not None and report.weight_format == "safetensors" and report.tensors:
        try:
            geo = est_mod.geometry(report.config)
            if context is None:
                context = min(DEFAULT_CONTEXT, geo.max_positions or DEFAULT_CONTEXT)
            estimate = est_mod.estimate(
                report.config, report.tensors, dtype=dtype, context=context, batch=batch,
                device=device, attn_implementation=attn, gpu_count=max(1, len(gpus)),
            )
        except est_mod.EstimateError as exc:
            estimate_problem = str(exc)
    elif report.weight_format == "pickle":
        estimate_problem = "pickle weights have no headers: no estimate before loading"
    elif report.ok:
        estimate_problem = "no estimate: nothing to read the tensor sizes from"
    if estimate is not None and device_problem is None:
        verdict = est_mod.fit(estimate, memory, pause_pct=config.thresholds["vram"].pause,
                              config=report.config, tensors=report.tensors)
    load_time = None
    if report.weight_files:
        from console.host import loadspeed

        load_time = loadspeed.time_to_load([model_dir / f for f in report.weight_files],
                                           device_kind="cpu" if device == "cpu" else "cuda")
    return CheckResult(model, str(model_dir), report, device, device_problem, estimate,
                       estimate_problem, verdict, tuple(memory), tuple(notes), load_time)


def run(args: argparse.Namespace, config: Config) -> int:
    from console.core.preflight import check_model_dir, verify_hashes, with_hashes
    from console.host.telemetry import Telemetry

    if args.batch < 1:
        return _usage(f"--batch: must be at least 1, got {args.batch}")
    if args.context is not None and args.context < 1:
        return _usage(f"--context: must be at least 1, got {args.context}")
    device = args.device
    if device is not None and device not in ("cuda", "auto", "cpu") and not (
        device.startswith("cuda:") and device[5:].isdigit()
    ):
        return _usage(f"--device: {device!r}: use cuda, cuda:N, auto or cpu")
    try:
        model_dir = resolve_model(args.model, config)
    except LookupError as exc:
        return _usage(str(exc.args[0]) if exc.args else str(exc))

    report = check_model_dir(model_dir, trust_remote_code=args.trust_remote_code)
    if args.verify_hashes:
        hashes, findings = verify_hashes(model_dir, progress=_ProgressBar(sys.stderr))
        report = with_hashes(report, hashes, findings)
    telemetry = Telemetry()
    try:
        sample = telemetry.sample()
    finally:
        telemetry.close()
    result = assess(args.model, model_dir, report, sample, config, dtype=args.dtype,
                    context=args.context, batch=args.batch, device=device, attn=args.attn)
    if args.json:
        print(json.dumps(result.to_json_dict(), indent=2, default=str))
    else:
        print(format_text(result))
    return result.exit_code


def _gib(n: int | float) -> str:
    return fmt_bytes(n, digits=2)


def _params(n: int) -> str:
    return f"{n / 1e9:.2f} B parameters" if n >= 1e8 else f"{n / 1e6:.2f} M parameters"


def format_text(result: CheckResult) -> str:
    """The human report."""
    report, estimate, verdict = result.report, result.estimate, result.fit
    lines = [f"check {result.model}"
             + (f"  ({result.model_dir})" if result.model_dir != result.model else "")]
    cfg = report.config or {}
    facts = [str(cfg.get("model_type", "?"))]
    if estimate is not None:
        facts.append(_params(estimate.weights.parameters))
    if report.weight_files:
        facts.append(f"{len(report.weight_files)} {report.weight_format} file(s), "
                     f"{report.checkpoint_bytes / 1e9:.2f} GB")
    facts.append(f"transformers {report.transformers_version or 'not installed'}")
    lines.append("  model     " + " · ".join(facts))
    lines.append(f"  checks    {len(report.errors)} error(s), {len(report.warnings)} warning(s) "
                 f"({report.elapsed_s * 1000:.0f} ms)")
    lines.extend(f"    {f.line()}" for f in report.findings)
    if report.hashes is not None:
        h = report.hashes
        lines.append(f"  hashes    {h.files} file(s), {_gib(h.bytes)} read, "
                     f"{len(h.mismatched)} mismatched")
    if estimate is not None:
        geo = estimate.geometry
        lines.append(
            f"  estimate  {estimate.torch_dtype} · context {estimate.context} x batch "
            f"{estimate.batch} · {estimate.attn_implementation} "
            f"({estimate.activations.attention_kernel}) · {geo.layers} layers, {geo.heads} heads"
            f" / {geo.kv_heads} KV, head_dim {geo.head_dim}"
        )
        w = estimate.weights
        rows = [
            ("weights", w.reserved_bytes, f"{w.bytes / 2**30:.2f} GiB live"
             + (f", {w.kept_fp32_tensors} kept fp32" if w.kept_fp32_tensors else "")),
            ("KV cache", estimate.kv_cache_bytes,
             f"{estimate.kv_bytes_per_token / 1024:.1f} KiB/token"),
            ("activations", estimate.activations.total_bytes, "prefill, last logits only"),
            ("CUDA context", estimate.cuda_context_bytes + estimate.runtime_bytes,
             "context, kernels, cuBLAS" if estimate.cuda_context_bytes else ""),
            ("slack", estimate.slack_bytes, "allocator"),
        ]
        lines.extend(f"    {name:<13}{_gib(value):>12}  {extra}".rstrip()
                     for name, value, extra in rows)
        lines.extend(f"    {'peak':<13}{_gib(share.total_bytes):>12}  on {share.device}"
                     for share in estimate.devices)
        lines.extend(f"    note: {note}" for note in estimate.notes)
    elif result.estimate_problem:
        lines.append(f"  estimate  {result.estimate_problem}")
    lines.extend(f"  memory    {m.device}: {_gib(m.used_bytes)} used of {_gib(m.total_bytes)}, "
                 f"{_gib(m.free_bytes)} free" for m in result.memory)
    lines.extend(f"  note      {note}" for note in result.notes)
    if result.load_time is not None:
        lines.append(f"  load time {result.load_time.line()}")
    if result.device_problem:
        lines.append(f"  fit       {result.device_problem}")
    elif verdict is not None:
        lines.append(f"  fit       {verdict.verdict.replace('_', ' ')}: {verdict.reason}")
        lines.extend(f"    to fit: {s.text}" for s in verdict.suggestions)
    code = result.exit_code
    lines.append(f"  result    {'OK' if code == 0 else 'NOT OK'} (exit {code})")
    return "\n".join(lines)
