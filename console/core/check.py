"""The pre-flight's verdict for one model: the report (`console.core.preflight`), the estimate
and the fit against the memory of a telemetry sample (`console.core.estimate`). One object,
`CheckResult`, for `autoglm-console check`, the TUI's pre-flight and the engine's pre-load gate.
Pure: files are read by the caller (the report); no host I/O, no CLI.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.core.devices import default_device
from console.core.hints import fixes_once
from console.core.levels import Levels
from console.core.units import fmt_bytes

SCHEMA_VERSION = 1
DEFAULT_CONTEXT = 4096


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
    vision: Any = None  # console.core.vision.VisionEstimate with --images (issue 16)
    image_fit: Any = None  # console.core.vision.ImageFit

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
            "estimate": self._estimate_json(),
            "estimate_problem": self.estimate_problem,
            "fit": self.fit.to_json_dict() if self.fit is not None else None,
            "memory_now": [{"device": m.device, "total_bytes": m.total_bytes,
                            "used_bytes": m.used_bytes, "free_bytes": m.free_bytes}
                           for m in self.memory],
            "notes": list(self.notes),
            "load_time": self.load_time.to_json_dict() if self.load_time is not None else None,
        }

    def _estimate_json(self) -> dict[str, Any] | None:
        if self.estimate is None:
            return None
        data: dict[str, Any] = self.estimate.to_json_dict()
        if self.vision is not None:  # issue 16
            data["vision"] = {**self.vision.to_json_dict(),
                              "fit": self.image_fit.to_json_dict() if self.image_fit else None}
        return data


def plan_images(cfg: Mapping[str, Any], pre: Mapping[str, Any], estimate: Any,
                memory: list[Any], *, images: int, max_pixels: int | None,
                image_size: tuple[int, int] | None, attn: str,
                pause_pct: float) -> tuple[Any, Any, Any]:
    """(estimate with the images, VisionEstimate, ImageFit) for `images` per prompt (issue 16),
    from the model's config and its preprocessor_config.json (`pre`). Raises
    console.core.vision.VisionError (one line) for a text-only model or bad limits."""
    from console.core import vision

    geo = vision.vision_geometry(cfg)
    limits = vision.processor_limits(cfg, pre, max_pixels=max_pixels)
    size = image_size or vision.max_size_image(limits)
    kv = estimate.kv_bytes_per_token
    dtype = estimate.dtype if estimate.dtype in ("F32", "F16", "BF16") else "BF16"
    on_cpu = estimate.device == "cpu"
    v = vision.estimate(geo, limits, [size] * images, dtype=dtype,
                        kv_bytes_per_token=kv, attn_implementation=attn, on_cpu=on_cpu)
    one = vision.estimate(geo, limits, [size], dtype=dtype,
                          kv_bytes_per_token=kv, attn_implementation=attn, on_cpu=on_cpu)
    budget = None
    first = estimate.devices[0] if estimate.devices else None
    mem = next((m for m in memory if first is not None and m.device == first.device), None)
    if mem is not None and first is not None:
        level = 100.0 if first.device == "cpu" else pause_pct
        budget = int(mem.total_bytes * level / 100) - mem.used_bytes - first.total_bytes
    fit = vision.images_that_fit(one.image_tokens, estimate.context,
                                 bytes_per_image=one.bytes if budget is not None else None,
                                 budget_bytes=budget)
    return vision.with_images(estimate, v), v, fit


def assess(
    model: str, model_dir: Path, report: Any, sample: Any, thresholds: Mapping[str, Levels], *,
    dtype: str = "auto", context: int | None = None, batch: int = 1, device: str | None = None,
    attn: str = "sdpa", load_time: Callable[..., Any] | None = None, images: int = 0,
    max_pixels: int | None = None, image_size: tuple[int, int] | None = None,
    preprocessor: Callable[[Path], Mapping[str, Any]] | None = None,
) -> CheckResult:
    """The estimate and the fit for a pre-flight report, against the memory in `sample` (the
    fit's budget ends at the VRAM pause level of `thresholds`). `load_time(files,
    device_kind=...)`: the expected time to load here (the host side passes
    `console.host.loadspeed.time_to_load`), or None. `images` (issue 16): plan for that many
    images per prompt of `image_size` (default: the largest phone screenshot the processor
    takes unshrunk) at `max_pixels`; `preprocessor(model_dir)` reads the model's
    preprocessor_config.json (the host side passes it; it raises VisionError)."""
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
    vision_est = image_fit = None
    if images and estimate is not None:  # issue 16: the vision part
        from console.core.vision import VisionError

        try:
            pre = preprocessor(model_dir) if preprocessor is not None else {}
            estimate, vision_est, image_fit = plan_images(
                report.config, pre, estimate, memory, images=images, max_pixels=max_pixels,
                image_size=image_size, attn=attn, pause_pct=thresholds["vram"].pause)
        except VisionError as exc:
            estimate_problem = f"--images: {exc}"
    if estimate is not None and device_problem is None:
        verdict = est_mod.fit(estimate, memory, pause_pct=thresholds["vram"].pause,
                              config=report.config, tensors=report.tensors)
    expected = None
    if report.weight_files and load_time is not None:
        expected = load_time([model_dir / f for f in report.weight_files],
                             device_kind="cpu" if device == "cpu" else "cuda")
    return CheckResult(model, str(model_dir), report, device, device_problem, estimate,
                       estimate_problem, verdict, tuple(memory), tuple(notes), expected,
                       vision_est, image_fit)


def _gib(n: int | float) -> str:
    return fmt_bytes(n, digits=2)


def _params(n: int) -> str:
    return f"{n / 1e9:.2f} B parameters" if n >= 1e8 else f"{n / 1e6:.2f} M parameters"


def vision_rows(result: CheckResult) -> list[tuple[str, int, str]]:
    """The breakdown's rows for the images (issue 16), and what fits."""
    v = result.vision
    if v is None:
        return []
    h, w = v.resized[0] if v.resized else (0, 0)
    from console.core.vision import added_peak_bytes

    added = added_peak_bytes(v, result.estimate.activations.total_bytes)
    return [("vision", added, f"{v.images} image(s) at {w}x{h}: {v.image_tokens} tokens, "
             f"{v.patches} patches; pass {_gib(v.bytes)} (encoder {_gib(v.encoder_bytes)}, "
             f"pixels {_gib(v.pixel_bytes)}); their KV {_gib(v.kv_bytes)} is in the KV cache")]


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
    # A fix is said once, after the first finding it covers ("(x16)": sixteen share it).
    lines.extend(f"    {line}" for line in fixes_once(
        [(f.problem_line(), f.fix) for f in report.findings]))
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
            *vision_rows(result),
            ("CUDA context", estimate.cuda_context_bytes + estimate.runtime_bytes,
             "context, kernels, cuBLAS" if estimate.cuda_context_bytes else ""),
            ("slack", estimate.slack_bytes, "allocator"),
        ]
        lines.extend(f"    {name:<13}{_gib(value):>12}  {extra}".rstrip()
                     for name, value, extra in rows)
        lines.extend(f"    {'peak':<13}{_gib(share.total_bytes):>12}  on {share.device}"
                     for share in estimate.devices)
        if result.image_fit is not None:  # issue 16
            f = result.image_fit
            lines.append(f"    {'images fit':<13}{f.max_images:>12}  of {f.tokens_per_image} "
                         f"tokens each; {f.reason}")
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
