#!/usr/bin/env python3
"""The vision estimate (console/core/vision.py) against measured peaks, by image count and size.

    python3 benchmarks/vision_estimate.py                       # CPU, demo-vl
    python3 benchmarks/vision_estimate.py --device cuda:0 --model /path/to/AutoGLM-Phone-9B \
        --sizes 1080x2400,720x1600 --counts 1,2,4,10 --max-pixels 5000000

One engine process (console/worker) loads the model; images of each size (noise, PNG, made here)
are sent `count` at a time with a one-token generate. The engine reports `image_tokens`, its
vision estimate for exactly those images (`vision_estimate`) and, on the CPU, the peak RSS growth
over the generate (`rss_peak_growth_bytes`: VmHWM reset after the inputs are built, freed heap
pages trimmed first), which holds the encoder's working set, the merged embeddings, the
language model's prefill over the prompt and its KV. The encoder's working set is freed before
that prefill runs, so the estimate compared is the larger of the encoder's working set
(console/core/vision.py) and the prefill's activations over the whole prompt
(console/core/estimate.py, activation_breakdown), plus the embeddings and the prompt's KV on the
CPU (pixel_values are already resident when the peak is reset), plus pixel_values on CUDA, where
the peak is the engine process's NVML used bytes sampled every millisecond from here, minus the
figure before the command. One warm-up generate with the
largest image runs first (the first generate of a process allocates caches of its own).
Prints a table; --out writes JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from console.core import estimate as est_mod  # noqa: E402
from console.engines.local import EngineClient  # noqa: E402


def make_image(directory: Path, width: int, height: int, index: int) -> str:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(index)
    path = directory / f"img_{width}x{height}_{index}.png"
    if not path.exists():
        Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(path)
    return str(path)


class NvmlPeak:
    """The engine process's NVML used GPU memory (the running-processes list; the whole GPU's
    used bytes where the list does not show the pid, e.g. in a PID namespace), sampled every
    millisecond on a thread: the peak."""

    def __init__(self, index: int, pid: int | None) -> None:
        import pynvml

        pynvml.nvmlInit()
        self.nvml = pynvml
        self.handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        self.pid = pid
        self.source = "process"
        self.peak = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def used(self) -> int:
        if self.source == "process":
            for proc in self.nvml.nvmlDeviceGetComputeRunningProcesses(self.handle):
                if proc.pid == self.pid and proc.usedGpuMemory is not None:
                    return int(proc.usedGpuMemory)
            self.source = "device"
        return int(self.nvml.nvmlDeviceGetMemoryInfo(self.handle).used)

    def _run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, self.used())
            time.sleep(0.001)

    def __enter__(self) -> NvmlPeak:
        self.base = self.used()
        self.peak = self.base
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def generate(client: EngineClient, images: list[str], timeout: float) -> dict[str, Any]:
    msg_id = client.generate("describe the screen", images=images, max_new_tokens=1)
    result = client.wait_for(("generated", "error"), reply_to=msg_id, timeout=timeout)
    if result["event"] == "error":
        raise SystemExit(f"generate failed: {result['message']}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="demo-vl")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--attn", default=None, help="attention implementation (eager, sdpa)")
    parser.add_argument("--sizes", default="96x96,270x600,540x1200,900x900",
                        help="WIDTHxHEIGHT,... (default: tiny to over demo-vl's max_pixels)")
    parser.add_argument("--counts", default="1,2,4")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    sizes: list[tuple[int, int]] = []
    for text in args.sizes.split(","):
        w, _, h = text.partition("x")
        sizes.append((int(w), int(h)))
    counts = [int(c) for c in args.counts.split(",")]
    cuda = args.device.startswith("cuda")
    gpu_index = int(args.device.split(":")[1]) if ":" in args.device else 0
    workdir = Path(tempfile.mkdtemp(prefix="vision-bench-"))
    # A fixed mmap threshold: glibc's dynamic one keeps freed tensor blocks in the heap, where
    # the next generate reuses them unseen by VmHWM; fixed, every block over 64 KiB is mapped
    # and unmapped, so RSS follows the live tensors.
    env = {} if cuda else {"MALLOC_MMAP_THRESHOLD_": "65536"}
    client = EngineClient(env=env)
    client.start()
    client.wait_for("hello", timeout=120)
    loaded = client.wait_for(("loaded", "error"), reply_to=client.load(
        args.model, device=args.device, dtype=args.dtype, attn_implementation=args.attn),
        timeout=args.timeout)
    if loaded["event"] == "error":
        raise SystemExit(f"load failed: {loaded['message']}")
    cfg = json.loads((Path(loaded["path"]) / "config.json").read_text())
    geo = est_mod.geometry(cfg)
    dtype_code = {"float32": "F32", "bfloat16": "BF16", "float16": "F16"}.get(
        loaded["dtype"], "BF16")
    rows: list[dict[str, Any]] = []
    try:
        big_w, big_h = max(sizes, key=lambda s: s[0] * s[1])
        generate(client, [make_image(workdir, big_w, big_h, 999)], args.timeout)  # warm-up
        for width, height in sizes:
            for count in counts:
                paths = [make_image(workdir, width, height, i) for i in range(count)]
                if cuda:
                    with NvmlPeak(gpu_index, client.pid) as peak:
                        result = generate(client, paths, args.timeout)
                    measured: int | None = peak.peak - peak.base
                else:
                    result = generate(client, paths, args.timeout)
                    measured = result.get("rss_peak_growth_bytes")
                est = result.get("vision_estimate") or {}
                kv = (loaded.get("kv_bytes_per_token") or 0) * (result["prompt_tokens"] + 1)
                # The encoder's working set is freed before the language model's prefill over
                # the whole prompt runs: the peak is the larger of the two (vision.py,
                # added_peak_bytes), the embeddings and the KV on top.
                text = est_mod.activation_breakdown(
                    geo, dtype_code, result["prompt_tokens"], 1,
                    attn_implementation=args.attn or "sdpa", on_cpu=not cuda).total_bytes
                expected = (max(est.get("encoder_bytes", 0), text)
                            + est.get("embeddings_bytes", 0) + kv)
                if cuda:
                    expected += est.get("pixel_bytes", 0)
                error = (expected - measured) / measured if measured else None
                rows.append({"size": f"{width}x{height}", "images": count,
                             "image_tokens": result["image_tokens"],
                             "encoder_bytes": est.get("encoder_bytes"), "prefill_bytes": text,
                             "patches": est.get("patches"), "estimate_bytes": expected,
                             "measured_bytes": measured, "error": error})
                print(".", end="", flush=True, file=sys.stderr)
    finally:
        client.unload()
        client.close()
    print(file=sys.stderr)
    what = f"NVML used peak on {args.device} (engine process)" if cuda else \
        "engine RSS peak growth (VmHWM)"
    print(f"vision estimate vs {what}; model {args.model}, {loaded.get('dtype')}, "
          f"attention {args.attn or 'default'}")
    print(f"{'size':>10} {'images':>6} {'img tok':>8} {'patches':>8} {'encoder MiB':>12} "
          f"{'prefill MiB':>12} {'estimate MiB':>13} {'measured MiB':>13} {'error':>8}")
    for r in rows:
        err = f"{100 * r['error']:+.1f}%" if r["error"] is not None else "n/a"
        measured_text = f"{r['measured_bytes'] / 2**20:.2f}" if r["measured_bytes"] else "n/a"
        print(f"{r['size']:>10} {r['images']:>6} {r['image_tokens']:>8} {r['patches']:>8} "
              f"{(r['encoder_bytes'] or 0) / 2**20:>12.2f} {r['prefill_bytes'] / 2**20:>12.2f} "
              f"{r['estimate_bytes'] / 2**20:>13.2f} {measured_text:>13} {err:>8}")
    if args.out:
        Path(args.out).write_text(json.dumps({"device": args.device, "model": args.model,
                                              "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
