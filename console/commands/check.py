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
from pathlib import Path
from typing import Any, TextIO

from console.core.check import (
    DEFAULT_CONTEXT,
    SCHEMA_VERSION,
    CheckResult,
    format_text,
    memory_now,
)
from console.core.check import assess as core_assess
from console.host.config import Config

DTYPES = ("auto", "bf16", "bfloat16", "fp16", "float16", "fp32", "float32")

__all__ = ["DEFAULT_CONTEXT", "SCHEMA_VERSION", "CheckResult", "assess", "format_text",
           "memory_now", "resolve_model", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL",
                        help="a model directory, a hub id (org/name) in the local HF cache, "
                        "'demo' or 'demo-vl'")
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
    parser.add_argument("--images", type=int, default=0, metavar="N",
                        help="plan for N images per prompt (vision models: the vision tower's "
                        "activations, the image tokens; default 0)")
    parser.add_argument("--max-pixels", type=int, default=None, metavar="P",
                        help="the image processor's max_pixels (default: the model's "
                        "preprocessor_config.json)")
    parser.add_argument("--image-size", default=None, metavar="WxH",
                        help="size of each image (default: the largest phone screenshot, "
                        "9:20, that max_pixels lets through unshrunk)")
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
    from console.host import demo, demo_vl

    if name in (demo.DEMO_NAME, demo_vl.DEMO_VL_NAME):  # the same MODEL forms as `load`
        from console.host.demo_model import resolve_demo

        return resolve_demo(name=name)
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


def assess(
    model: str, model_dir: Path, report: Any, sample: Any, config: Config, *,
    dtype: str = "auto", context: int | None = None, batch: int = 1, device: str | None = None,
    attn: str = "sdpa", images: int = 0, max_pixels: int | None = None,
    image_size: tuple[int, int] | None = None,
) -> CheckResult:
    """`console.core.check.assess` with the expected load time on this machine."""
    from console.host import loadspeed

    return core_assess(model, model_dir, report, sample, config.thresholds, dtype=dtype,
                       context=context, batch=batch, device=device, attn=attn,
                       load_time=loadspeed.time_to_load, images=images,
                       max_pixels=max_pixels, image_size=image_size,
                       preprocessor=read_preprocessor)


def read_preprocessor(model_dir: Path) -> dict[str, Any]:
    """The model's preprocessor_config.json ({} when it has none); invalid JSON is a
    VisionError naming the file (issue 16)."""
    from console.core.vision import VisionError

    pre_path = model_dir / "preprocessor_config.json"
    if not pre_path.is_file():
        return {}
    try:
        data = json.loads(pre_path.read_text())
    except (OSError, ValueError) as exc:
        raise VisionError(f"{pre_path}: unreadable ({exc}); fix or remove the file") from None
    if not isinstance(data, dict):
        raise VisionError(f"{pre_path}: a JSON object is expected; fix or remove the file")
    return data


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
    if args.images < 0:
        return _usage(f"--images: must be 0 or more, got {args.images}")
    if args.max_pixels is not None and args.max_pixels < 1:
        return _usage(f"--max-pixels: must be at least 1, got {args.max_pixels}")
    image_size = None
    if args.image_size is not None:
        w, sep, h = args.image_size.lower().partition("x")
        if not sep or not w.isdigit() or not h.isdigit() or int(w) < 1 or int(h) < 1:
            return _usage(f"--image-size: {args.image_size!r}: use WIDTHxHEIGHT, e.g. 1080x2400")
        image_size = (int(h), int(w))
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
                    context=args.context, batch=args.batch, device=device, attn=args.attn,
                    images=args.images, max_pixels=args.max_pixels, image_size=image_size)
    if args.images and result.vision is None and result.estimate_problem and \
            result.estimate_problem.startswith("--images"):
        return _usage(f"{args.model}: {result.estimate_problem}")
    if args.json:
        print(json.dumps(result.to_json_dict(), indent=2, default=str))
    else:
        print(format_text(result))
    return result.exit_code
