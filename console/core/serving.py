"""Served engines (vLLM, SGLang, transformers serve), the pure part: command lines, the fit
advisor, the start-up timeline and the Prometheus `/metrics` reading.

No I/O here but what is handed in (config dicts, tensor specs, log lines, metrics text); the
process handling lives in `console.host.procs` and the supervisor in `console.engines.served`.

Official AutoGLM-Phone-9B serving flags (Open-AutoGLM README, ../shared/FACTS.md):
vLLM `--max-model-len 25480 --limit-mm-per-prompt '{"image":10}' --mm-processor-kwargs
'{"max_pixels":5000000}' --mm-encoder-tp-mode data --mm_processor_cache_type shm
--chat-template-content-format string --allowed-local-media-path /`; SGLang `--context-length
25480 --mm-enable-dp-encoder` (and `--enable-metrics`, without which SGLang has no `/metrics`).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from console.core import estimate as est
from console.core import vision

ENGINES = ("vllm", "sglang", "transformers")
PRESETS = ("autoglm",)

AUTOGLM_MAX_MODEL_LEN = 25480
AUTOGLM_MAX_IMAGES = 10
AUTOGLM_MAX_PIXELS = 5_000_000

# What each engine is started with when neither --engine-cmd nor the config says otherwise.
# vLLM's `vllm` console script fails in the CPU build (it looks up the distribution `vllm`),
# so the module is started directly; that works for every vLLM build.
DEFAULT_ENGINE_CMDS: dict[str, tuple[str, ...]] = {
    "vllm": ("python", "-m", "vllm.entrypoints.openai.api_server"),
    "sglang": ("python", "-m", "sglang.launch_server"),
    "transformers": ("transformers", "serve"),
}
DEFAULT_GPU_MEMORY_UTILIZATION = {"vllm": 0.9, "sglang": 0.88, "transformers": 1.0}


class ServeError(ValueError):
    """A bad serve request (names the flag or value and the fix)."""


@dataclass(frozen=True, slots=True)
class ServeSpec:
    engine: str
    model: str  # a directory (or a hub id the engine resolves)
    port: int = 8000
    host: str = "127.0.0.1"
    preset: str | None = None
    max_model_len: int | None = None
    max_images: int | None = None
    max_pixels: int | None = None
    gpu_memory_utilization: float | None = None
    engine_cmd: tuple[str, ...] = ()  # () = DEFAULT_ENGINE_CMDS[engine]
    extra_args: tuple[str, ...] = ()

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "localhost") else self.host
        return f"http://{host}:{self.port}"


def parse_engine_cmd(text: str, source: str = "--engine-cmd") -> tuple[str, ...]:
    """A command string (shell words) -> argv; one clear error when it is empty or unbalanced."""
    try:
        words = tuple(shlex.split(text))
    except ValueError as exc:
        raise ServeError(
            f"{source}: cannot split {text!r} into words ({exc}); quote it properly"
        ) from None
    if not words:
        raise ServeError(
            f"{source}: empty command; give the engine's program, e.g. "
            "'/opt/vllm/bin/python -m vllm.entrypoints.openai.api_server'"
        )
    return words


def _flag_given(args: Sequence[str], *names: str) -> bool:
    return any(a == n or a.startswith(n + "=") for a in args for n in names)


def build_command(spec: ServeSpec) -> list[str]:
    """The engine's full argv: the engine command, the model, host/port, the preset's flags,
    the fit-advised limits, then the user's extra args (which win: flags they give are not
    repeated from the preset)."""
    if spec.engine not in ENGINES:
        raise ServeError(f"--engine: {spec.engine!r} is not one of {', '.join(ENGINES)}")
    if spec.preset is not None and spec.preset not in PRESETS:
        raise ServeError(f"--preset: {spec.preset!r} is not one of {', '.join(PRESETS)}")
    cmd = list(spec.engine_cmd or DEFAULT_ENGINE_CMDS[spec.engine])
    extra = list(spec.extra_args)
    autoglm = spec.preset == "autoglm"
    max_len = spec.max_model_len or (AUTOGLM_MAX_MODEL_LEN if autoglm else None)
    images = spec.max_images or (AUTOGLM_MAX_IMAGES if autoglm else None)
    pixels = spec.max_pixels or (AUTOGLM_MAX_PIXELS if autoglm else None)
    opts: list[tuple[tuple[str, ...], list[str]]] = []
    if spec.engine == "vllm":
        cmd += ["--model", spec.model]
        opts.append((("--host",), ["--host", spec.host]))
        opts.append((("--port",), ["--port", str(spec.port)]))
        if max_len:
            opts.append((("--max-model-len",), ["--max-model-len", str(max_len)]))
        if images:
            opts.append(
                (
                    ("--limit-mm-per-prompt",),
                    ["--limit-mm-per-prompt", json.dumps({"image": images}, separators=(",", ":"))],
                )
            )
        if pixels:
            opts.append(
                (
                    ("--mm-processor-kwargs",),
                    [
                        "--mm-processor-kwargs",
                        json.dumps({"max_pixels": pixels}, separators=(",", ":")),
                    ],
                )
            )
        if spec.gpu_memory_utilization is not None:
            opts.append(
                (
                    ("--gpu-memory-utilization",),
                    ["--gpu-memory-utilization", f"{spec.gpu_memory_utilization:g}"],
                )
            )
        if autoglm:
            opts += [
                (("--mm-encoder-tp-mode",), ["--mm-encoder-tp-mode", "data"]),
                (
                    ("--mm_processor_cache_type", "--mm-processor-cache-type"),
                    ["--mm_processor_cache_type", "shm"],
                ),
                (("--chat-template-content-format",), ["--chat-template-content-format", "string"]),
                (("--allowed-local-media-path",), ["--allowed-local-media-path", "/"]),
            ]
    elif spec.engine == "sglang":
        cmd += ["--model-path", spec.model]
        opts.append((("--host",), ["--host", spec.host]))
        opts.append((("--port",), ["--port", str(spec.port)]))
        opts.append((("--enable-metrics",), ["--enable-metrics"]))
        if max_len:
            opts.append((("--context-length",), ["--context-length", str(max_len)]))
        if spec.gpu_memory_utilization is not None:
            opts.append(
                (
                    ("--mem-fraction-static",),
                    ["--mem-fraction-static", f"{spec.gpu_memory_utilization:g}"],
                )
            )
        if autoglm:
            opts.append((("--mm-enable-dp-encoder",), ["--mm-enable-dp-encoder"]))
    else:  # transformers serve: the model is its FORCE_MODEL argument
        cmd += [spec.model]
        opts.append((("--host",), ["--host", spec.host]))
        opts.append((("--port",), ["--port", str(spec.port)]))
        opts.append((("--log-level",), ["--log-level", "info"]))
    for names, words in opts:
        if not _flag_given(extra, *names):
            cmd += words
    return cmd + extra


def shell_line(argv: Sequence[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


def served_model_name(spec: ServeSpec) -> str:
    """The `model` field requests must carry."""
    args = list(spec.extra_args)
    for i, a in enumerate(args):
        if a == "--served-model-name" and i + 1 < len(args):
            return args[i + 1]
        if a.startswith("--served-model-name="):
            return a.split("=", 1)[1]
    return spec.model


# ----------------------------------------------------------------------------------------------
# Versions the model needs


@dataclass(frozen=True, slots=True)
class VersionProblem:
    package: str
    found: str | None
    need: str
    why: str

    def line(self) -> str:
        found = self.found or "not installed"
        return f"{self.package} {found}: needs {self.need} ({self.why})"


def _vtuple(version: str) -> tuple[int, ...]:
    nums: list[int] = []
    for part in re.split(r"[.+-]", version):
        m = re.match(r"\d+", part)
        if not m:
            break
        nums.append(int(m.group()))
    return tuple(nums)


MODEL_NEEDS: dict[str, dict[str, tuple[str, str]]] = {
    # model_type -> package -> (minimum version, why)
    "glm4v": {
        "transformers": ("5.0", "AutoGLM-Phone-9B (glm4v) needs transformers 5.x (Open-AutoGLM)"),
        "vllm": ("0.12", "glm4v serving with the official flags needs vLLM >= 0.12"),
        "sglang": ("0.5.6", "glm4v serving needs SGLang >= 0.5.6.post1"),
    },
    "glm4": {"transformers": ("4.51", "Glm4 classes arrived in transformers 4.51")},
}


def check_versions(
    engine: str, config: Mapping[str, Any], versions: Mapping[str, str | None], *, gpu: bool
) -> list[VersionProblem]:
    """The engine environment's package versions (`versions`: name -> version or None) against
    what the model needs. `gpu`: a GPU is to be used (the engine's torch must have CUDA)."""
    problems: list[VersionProblem] = []
    model_type = str(config.get("model_type") or "")
    needs = MODEL_NEEDS.get(model_type, {})
    engine_pkg = {"vllm": "vllm", "sglang": "sglang", "transformers": "transformers"}[engine]
    if versions.get(engine_pkg) is None:
        problems.append(
            VersionProblem(
                engine_pkg, None, "installed", "the engine command's python cannot import it"
            )
        )
    for pkg, (minimum, why) in needs.items():
        if pkg in ("vllm", "sglang") and pkg != engine_pkg:
            continue
        found = versions.get(pkg)
        if found is not None and _vtuple(found) < _vtuple(minimum):
            problems.append(VersionProblem(pkg, found, f">= {minimum}", why))
    wanted = str(config.get("transformers_version") or "")
    have = versions.get("transformers")
    if wanted and have and _vtuple(have)[:1] < _vtuple(wanted)[:1]:
        problems.append(
            VersionProblem(
                "transformers",
                have,
                f">= {wanted.split('.', maxsplit=1)[0]}.0",
                f"the checkpoint was saved by transformers {wanted}; "
                "an older major may not read it "
                f"(vLLM 0.12 pins transformers < 5)",
            )
        )
    torch_v = versions.get("torch")
    if gpu and torch_v is not None and versions.get("torch.cuda") is None:
        problems.append(
            VersionProblem(
                "torch",
                torch_v,
                "a CUDA build",
                "the engine's torch has no CUDA: it cannot use the GPU",
            )
        )
    return problems


# ----------------------------------------------------------------------------------------------
# The fit advisor

# The vision part is console.core.vision's estimate (the glm4v / qwen2-vl resize rule and the
# encoder's working set) for `max_images` images at the largest phone-shaped size `max_pixels`
# allows: the worst-case image batch an engine profiles at start-up.
# vLLM profiles one batch of `max_num_batched_tokens` tokens through the LM (v1 default 8192);
# CUDA graphs for decode batch sizes take roughly this much outside the KV pool.
PROFILE_TOKENS = 8192
CUDA_GRAPH_RESERVE_BYTES = 1 * est.GIB


@dataclass(frozen=True, slots=True)
class FitInput:
    max_model_len: int
    max_images: int
    max_pixels: int
    gpu_memory_utilization: float
    total_bytes: int  # the device's memory (NVML total; host RAM on CPU)
    used_by_others_bytes: int  # memory other processes hold now
    device: str = "cuda:0"  # "cpu": no CUDA context, no graphs
    dtype: str = "auto"


@dataclass(frozen=True, slots=True)
class FitBreakdown:
    weights_bytes: int
    kv_bytes: int
    vision_bytes: int
    activation_bytes: int
    reserve_bytes: int  # CUDA context + graphs
    kv_bytes_per_token: int

    @property
    def total_bytes(self) -> int:
        return (
            self.weights_bytes
            + self.kv_bytes
            + self.vision_bytes
            + self.activation_bytes
            + self.reserve_bytes
        )


@dataclass(frozen=True, slots=True)
class FitAdvice:
    verdict: str  # "fits" | "will_not_fit" | "cannot_fit"
    need: FitBreakdown
    budget_bytes: int  # min(total x utilization, free now)
    request: FitInput
    proposals: dict[str, int] = field(default_factory=dict)  # flag -> largest value that fits
    lines: tuple[str, ...] = ()

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "budget_bytes": self.budget_bytes,
            "need_bytes": self.need.total_bytes,
            "need": {
                "weights_bytes": self.need.weights_bytes,
                "kv_cache_bytes": self.need.kv_bytes,
                "vision_bytes": self.need.vision_bytes,
                "activation_bytes": self.need.activation_bytes,
                "reserve_bytes": self.need.reserve_bytes,
                "kv_bytes_per_token": self.need.kv_bytes_per_token,
            },
            "request": {
                "max_model_len": self.request.max_model_len,
                "max_images": self.request.max_images,
                "max_pixels": self.request.max_pixels,
                "gpu_memory_utilization": self.request.gpu_memory_utilization,
                "device": self.request.device,
            },
            "proposals": dict(self.proposals),
            "lines": list(self.lines),
        }


def vision_bytes(config: Mapping[str, Any], max_pixels: int, images: int, dtype: str) -> int:
    """The worst-case image batch through the vision encoder (console.core.vision), 0 for a
    text-only model; a vision_config the estimate cannot read raises VisionError (the caller
    reports it as the fit's reason)."""
    if images <= 0 or max_pixels <= 0 or not vision.has_vision(config):
        return 0
    limits = vision.processor_limits(config, max_pixels=max_pixels,
                                     min_pixels=min(max_pixels, 3136))
    size = vision.max_size_image(limits)
    return vision.estimate(vision.vision_geometry(config), limits, [size] * images,
                           dtype=dtype).bytes


def fit_breakdown(
    config: Mapping[str, Any], tensors: Sequence[est.TensorSpec], req: FitInput
) -> FitBreakdown:
    geo = est.geometry(config)
    weights = est.weights_breakdown(config, tensors, req.dtype)
    compute = weights.target_dtype if weights.target_dtype in ("F16", "BF16", "F32") else "BF16"
    per_token = est.kv_bytes_per_token(geo, compute)
    kv = per_token * req.max_model_len
    acts = est.activation_breakdown(
        geo, compute, min(req.max_model_len, PROFILE_TOKENS), 1, on_cpu=req.device == "cpu"
    )
    vis = vision_bytes(config, req.max_pixels, req.max_images, compute)
    reserve = (
        0 if req.device == "cpu" else est.DEFAULT_CUDA_CONTEXT_BYTES + CUDA_GRAPH_RESERVE_BYTES
    )
    return FitBreakdown(weights.bytes, kv, vis, acts.total_bytes, reserve, per_token)


def _largest(lo: int, hi: int, fits: Any) -> int | None:
    """The largest value in [lo, hi] for which fits(value) holds (monotone), or None."""
    if hi < lo or not fits(lo):
        return None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def advise(
    config: Mapping[str, Any], tensors: Sequence[est.TensorSpec], req: FitInput
) -> FitAdvice:
    """Does the engine fit under its memory fraction, and if not, the largest max-model-len,
    max_pixels and image count that do (each with the others as asked); refuses with the
    numbers when even the weights do not fit."""
    free = max(0, req.total_bytes - req.used_by_others_bytes)
    budget = min(int(req.total_bytes * req.gpu_memory_utilization), free)
    need = fit_breakdown(config, tensors, req)
    gib = est.GIB
    lines = [
        f"need {need.total_bytes / gib:.2f} GiB = weights {need.weights_bytes / gib:.2f} + "
        f"KV at {req.max_model_len} tokens {need.kv_bytes / gib:.2f} + images "
        f"({req.max_images} x {req.max_pixels} px) {need.vision_bytes / gib:.2f} + activations "
        f"{need.activation_bytes / gib:.2f} + context/graphs {need.reserve_bytes / gib:.2f}",
        f"budget {budget / gib:.2f} GiB = min({req.gpu_memory_utilization:g} x "
        f"{req.total_bytes / gib:.2f} GiB, {free / gib:.2f} GiB free now)",
    ]
    if need.total_bytes <= budget:
        return FitAdvice("fits", need, budget, req, {}, (*lines, "fits"))

    def total(**changes: int) -> int:
        r = FitInput(**{**_fields(req), **changes})
        return fit_breakdown(config, tensors, r).total_bytes

    proposals: dict[str, int] = {}
    best_len = _largest(1, req.max_model_len, lambda n: total(max_model_len=n) <= budget)
    if best_len is not None and best_len >= 256:
        proposals["max_model_len"] = best_len
    if req.max_images > 0:
        best_px = _largest(28 * 28, req.max_pixels, lambda p: total(max_pixels=p) <= budget)
        if best_px is not None:
            proposals["max_pixels"] = best_px
        best_img = _largest(0, req.max_images, lambda k: total(max_images=k) <= budget)
        if best_img is not None:
            proposals["max_images"] = best_img
    if not proposals and req.max_images > 0:
        # no single change is enough: one image at a smaller size, then the longest context
        for pixels in sorted({req.max_pixels, 2_000_000, 1_000_000, 500_000}, reverse=True):
            if pixels > req.max_pixels:
                continue
            best = _largest(
                256,
                req.max_model_len,
                lambda n, px=pixels: total(max_model_len=n, max_images=1, max_pixels=px) <= budget,
            )
            if best is not None:
                proposals = {"max_images": 1, "max_pixels": pixels, "max_model_len": best}
                break
    floor = total(max_model_len=256, max_images=0)
    if floor > budget:
        lines.append(
            f"cannot fit: even 256 tokens without images need {floor / gib:.2f} GiB "
            f"> {budget / gib:.2f} GiB; use a GPU with more free memory, raise "
            "--gpu-memory-utilization or quantize"
        )
        return FitAdvice("cannot_fit", need, budget, req, proposals, tuple(lines))
    flags = {
        "max_model_len": "--max-model-len",
        "max_pixels": "max_pixels",
        "max_images": "image count",
    }
    if len(proposals) == 3 and proposals.get("max_images") == 1:
        lines.append(
            "fits only with all of: " + ", ".join(f"{flags[k]} {v}" for k, v in proposals.items())
        )
    else:
        for key, value in proposals.items():
            lines.append(f"fits with {flags[key]} {value} (others as asked)")
    return FitAdvice("will_not_fit", need, budget, req, proposals, tuple(lines))


def _fields(req: FitInput) -> dict[str, Any]:
    return {
        "max_model_len": req.max_model_len,
        "max_images": req.max_images,
        "max_pixels": req.max_pixels,
        "gpu_memory_utilization": req.gpu_memory_utilization,
        "total_bytes": req.total_bytes,
        "used_by_others_bytes": req.used_by_others_bytes,
        "device": req.device,
        "dtype": req.dtype,
    }


# ----------------------------------------------------------------------------------------------
# The start-up timeline

PHASES = (
    "started",
    "weights_loading",
    "weights_loaded",
    "profiling",
    "kv_cache_sized",
    "cuda_graphs",
    "server_up",
)

# engine -> [(phase, pattern)], matched in order on each line. vLLM: read in its logs
# (0.32 CPU build, measured here) and in its GPU log wording; SGLang: its documented lines
# (never run here: no CPU build); transformers serve: 5.17, measured here.
_TIMELINE: dict[str, list[tuple[str, re.Pattern[str]]]] = {
    "vllm": [
        ("weights_loading", re.compile(r"Starting to load model|Loading safetensors checkpoint")),
        ("weights_loaded", re.compile(r"Loading weights took|Model loading took")),
        (
            "profiling",
            re.compile(
                r"Memory profiling takes|Warming up model|profiling/warmup run|"
                r"Available KV cache memory"
            ),
        ),
        (
            "kv_cache_sized",
            re.compile(
                r"(GPU|CPU) KV cache size:|# (GPU|CPU) blocks:|"
                r"init engine \(profile, create kv cache"
            ),
        ),
        ("cuda_graphs", re.compile(r"Capturing CUDA graph|Graph capturing finished")),
        ("server_up", re.compile(r"Uvicorn running on|Application startup complete")),
    ],
    "sglang": [
        ("weights_loading", re.compile(r"Load weight begin")),
        ("weights_loaded", re.compile(r"Load weight end")),
        ("kv_cache_sized", re.compile(r"KV Cache is allocated|Memory pool end")),
        ("cuda_graphs", re.compile(r"Capture cuda graph (begin|end)")),
        ("server_up", re.compile(r"Uvicorn running on|The server is fired up and ready to roll")),
    ],
    "transformers": [
        ("weights_loading", re.compile(r"loading weights file")),
        ("weights_loaded", re.compile(r"Loading weights: 100%")),
        ("server_up", re.compile(r"Uvicorn running on|Application startup complete")),
    ],
}


@dataclass(frozen=True, slots=True)
class PhaseMark:
    phase: str
    t_s: float  # seconds since the process started
    line: str  # the log line that marked it (cleaned, clipped)
    rss_bytes: int | None = None
    vram_bytes: int | None = None

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "t_s": round(self.t_s, 3),
            "line": self.line,
            "rss_bytes": self.rss_bytes,
            "vram_bytes": self.vram_bytes,
        }


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean_line(line: str, limit: int = 400) -> str:
    """Engine output made safe for a terminal: escapes and control characters removed."""
    text = _CONTROL.sub(
        "", _ANSI.sub("", line.rsplit("\r", maxsplit=1)[-1] if "\r" in line.rstrip("\r") else line)
    )
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Timeline:
    """Phases of one server's start-up, in order; a phase is marked once, the first time."""

    engine: str
    marks: list[PhaseMark] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.engine not in _TIMELINE:
            raise ServeError(f"engine {self.engine!r}: one of {', '.join(_TIMELINE)}")
        if not self.marks:
            self.marks.append(PhaseMark("started", 0.0, ""))

    @property
    def phase(self) -> str:
        return self.marks[-1].phase

    def seen(self, phase: str) -> bool:
        return any(m.phase == phase for m in self.marks)

    def feed(
        self, line: str, t_s: float, *, rss_bytes: int | None = None, vram_bytes: int | None = None
    ) -> PhaseMark | None:
        """One log line at `t_s`: the new phase it marks, or None."""
        for phase, pattern in _TIMELINE[self.engine]:
            if pattern.search(line) and not self.seen(phase):
                # a later phase seen first (log order varies) still counts once
                mark = PhaseMark(phase, t_s, clean_line(line, 200), rss_bytes, vram_bytes)
                self.marks.append(mark)
                return mark
        return None

    def stalled(self, now_s: float, threshold_s: float) -> str | None:
        """The phase named when the server has stayed in it past `threshold_s` (not once up)."""
        if self.phase == "server_up":
            return None
        last = self.marks[-1]
        if now_s - last.t_s > threshold_s:
            held = now_s - last.t_s
            return f"stuck in '{last.phase}' for {held:.0f} s (threshold {threshold_s:g} s)"
        return None


# ----------------------------------------------------------------------------------------------
# /metrics


@dataclass(frozen=True, slots=True)
class ServerMetrics:
    kv_cache_usage: float | None = None  # 0..1
    running: float | None = None
    waiting: float | None = None
    preemptions_total: float | None = None
    generation_tokens_total: float | None = None
    prompt_tokens_total: float | None = None
    ttft_sum_s: float | None = None
    ttft_count: float | None = None
    throughput_tok_s: float | None = None  # an engine's own gauge (SGLang)
    families: int = 0

    @property
    def ttft_mean_s(self) -> float | None:
        if self.ttft_sum_s is None or not self.ttft_count:
            return None
        return self.ttft_sum_s / self.ttft_count

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "kv_cache_usage": self.kv_cache_usage,
            "running": self.running,
            "waiting": self.waiting,
            "preemptions_total": self.preemptions_total,
            "generation_tokens_total": self.generation_tokens_total,
            "prompt_tokens_total": self.prompt_tokens_total,
            "ttft_mean_s": self.ttft_mean_s,
            "throughput_tok_s": self.throughput_tok_s,
        }


# engine -> our field -> sample names (first found wins; values summed over label sets)
_METRIC_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "vllm": {
        "kv_cache_usage": ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
        "running": ("vllm:num_requests_running",),
        "waiting": ("vllm:num_requests_waiting",),
        "preemptions_total": ("vllm:num_preemptions_total",),
        "generation_tokens_total": ("vllm:generation_tokens_total",),
        "prompt_tokens_total": ("vllm:prompt_tokens_total",),
        "ttft_sum_s": ("vllm:time_to_first_token_seconds_sum",),
        "ttft_count": ("vllm:time_to_first_token_seconds_count",),
    },
    "sglang": {
        "kv_cache_usage": ("sglang:token_usage",),
        "running": ("sglang:num_running_reqs",),
        "waiting": ("sglang:num_queue_reqs",),
        "preemptions_total": ("sglang:num_retracted_reqs", "sglang:num_retracted_requests_total"),
        "generation_tokens_total": ("sglang:generation_tokens_total",),
        "prompt_tokens_total": ("sglang:prompt_tokens_total",),
        "ttft_sum_s": ("sglang:time_to_first_token_seconds_sum",),
        "ttft_count": ("sglang:time_to_first_token_seconds_count",),
        "throughput_tok_s": ("sglang:gen_throughput",),
    },
}


class MetricsError(ValueError):
    """The /metrics text is not Prometheus exposition text."""


def parse_metrics(text: str, engine: str) -> ServerMetrics:
    """Prometheus text (prometheus_client's own parser) -> the figures the model view shows."""
    from prometheus_client.parser import text_string_to_metric_families

    sums: dict[str, float] = {}
    families = 0
    try:
        for family in text_string_to_metric_families(text):
            families += 1
            for sample in family.samples:
                sums[sample.name] = sums.get(sample.name, 0.0) + float(sample.value)
    except (ValueError, TypeError, IndexError) as exc:
        raise MetricsError(f"/metrics: not Prometheus text ({exc})") from None
    values: dict[str, float | None] = {}
    for key, names in _METRIC_NAMES.get(engine, {}).items():
        values[key] = next((sums[n] for n in names if n in sums), None)
    return ServerMetrics(families=families, **values)


def tokens_per_second(before: ServerMetrics, after: ServerMetrics, dt_s: float) -> float | None:
    """Generation throughput between two polls from the token counter."""
    if dt_s <= 0 or before.generation_tokens_total is None or after.generation_tokens_total is None:
        return None
    return max(0.0, after.generation_tokens_total - before.generation_tokens_total) / dt_s


def sse_deltas(lines: Iterable[str]) -> Iterable[dict[str, Any]]:
    """OpenAI streaming (server-sent events) lines -> each chunk's JSON; stops at [DONE]."""
    for raw in lines:
        line = raw.strip()
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            chunk = json.loads(data)
        except ValueError:
            continue
        if isinstance(chunk, dict):
            yield chunk
