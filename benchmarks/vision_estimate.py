#!/usr/bin/env python3
"""The vision estimate (console/core/vision.py) against measured peaks, by image count and size.

    python3 benchmarks/vision_estimate.py                       # CPU, demo-vl
    python3 benchmarks/vision_estimate.py --model glm4v-small   # CPU dry run of the GPU case
    python3 benchmarks/vision_estimate.py --model glm4v-9b --device cuda:0 \
        --workdir /tmp/autoglm-check --out $OUT/vision_9b.json  # issue 19, on the H200

--model: demo-vl, a model directory, or one this script builds in --workdir when missing
(console/worker/glm4v_build.py, in a child process on --device, bf16, 5 GB shards, a working
processor with size.longest_edge = --max-pixels):
- glm4v-9b: AutoGLM-Phone-9B's shape (transformers' Glm4vConfig defaults, mrope [8, 12, 12],
  partial rotary 0.5, patch 14, merge 2, temporal patch 2): 10.29 B parameters, 20.6 GB.
  Defaults: max_pixels 5,000,000, sizes 1080x2400 (a phone screenshot) and 1600x3120, counts
  1, 4, 10. glm4v counts temporal_patch_size (2) x height x width against max_pixels, so both
  sizes are scaled to ~2.5 MP: ~3,110 image tokens each, ~31k for 10 images;
- glm4v-small: the same builder and processor at a small geometry (for the CPU; vocabulary
  larger than the tokenizer, as the 9B's), max_pixels 320,000.

One engine process (console/worker) loads the model; noise PNGs of each size (made here, in
--workdir) are sent `count` at a time with a one-token generate. Before each prompt the
estimate for exactly those images (console/core/vision.py, with the prefill over the prompt)
is compared with the free memory (NVML's free bytes of the GPU; available RAM on the CPU): a
prompt that does not fit with a 10% margin is skipped, and its row says so with the numbers
("as many as fit"). Rows also stop starting once --budget-s has passed (listed as skipped).
--remove-built deletes the built model at the end (22 GB of disk for glm4v-9b).

What is measured:
- CUDA: the engine PROCESS's used GPU memory from NVML's running-process list (its pid; in a
  PID namespace, the one process that appeared on the GPU since the engine started; the
  device's used bytes only when neither is found, and then each row says `nvml_source:
  device`), sampled every millisecond from here while the generate runs, minus the figure
  before the command. The engine hands the allocator's cached blocks back after every image
  prompt on CUDA (torch.cuda.empty_cache), so each prompt starts from what is live. The
  engine's own allocator peaks (`cuda_peak_allocated_growth_bytes`, `..._reserved_...`) are
  kept beside it in the JSON. Each row's baseline must be free of the previous row's cached
  blocks (a cached block is reused without NVML growing: the row under-measures; the H200
  run of session 6 had ~530 MB cached at the 1600x3120 rows' start): before each row the
  engine's empty_cache runs and its pool is read (reserved - allocated, `pool_at_start`,
  beside the post-load figure `pool_after_load`); a row with more cached than 1% of its
  estimate (8 MiB at least, vision_check.baseline_check) is flagged `baseline: not clean`
  and gets no pass / fail. Rows run in count order within each size (fewest images first);
- CPU: the engine's peak RSS growth over the generate (`rss_peak_growth_bytes`: VmHWM reset
  after the inputs are built, freed heap pages trimmed first).

The estimate compared (console/core/vision_check.py, prompt_peak_bytes): the larger of the
encoder's working set and the prefill's activations over the whole prompt
(console/core/estimate.py activation_breakdown), plus the merged embeddings and the prompt's
KV, plus pixel_values on CUDA (the NVML base is read before they exist). One warm-up generate
with one image of the largest size runs first (the first generate of a process allocates
caches and loads kernels of its own). The target is the estimate within 5% of the measured
peak (issue 19): each row says pass or fail. Prints a table; --out FILE writes the JSON.

    python3 benchmarks/vision_estimate.py --rescore FILE.json [--fit-size 1080x2400]

(no GPU, no engine): the vision slack factor (console/core/vision.py VISION_SLACK_BLOCKS) fitted
on the saved rows of --fit-size only and every row re-scored with it, each marked in or out of
sample, with its baseline's state (a file from before `pool_at_start`: the rise of the row's
NVML base over the first row's stands in for the cached bytes, and a reserved growth below the
allocated one marks the row invalid).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from console.core import estimate as est_mod  # noqa: E402
from console.core import vision  # noqa: E402
from console.core import vision_check as vc  # noqa: E402
from console.engines.local import EngineClient  # noqa: E402
from console.host.nvml import VALUE_NOT_AVAILABLE, nvml  # noqa: E402

GIB = 1024**3
MIB = 1024**2
SMALL_TEXT = {"hidden_size": 128, "intermediate_size": 384, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32,
              "vocab_size": 4096, "max_position_embeddings": 32768,
              "partial_rotary_factor": 0.5,
              "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                  "mrope_section": [2, 2, 4], "partial_rotary_factor": 0.5}}
SMALL_VISION = {"hidden_size": 64, "depth": 2, "num_heads": 2, "intermediate_size": 384,
                "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
                "out_hidden_size": 128, "image_size": 56}
# name -> (directory name in --workdir, max_pixels, sizes, counts, disk bytes it needs)
BUILT = {
    "glm4v-9b": ("glm4v-9b-vl", 5_000_000, "1080x2400,1600x3120", "1,4,10", 22 * GIB),
    "glm4v-small": ("glm4v-small-vl", 320_000, "270x600,400x780", "1,4,10", 64 * MIB),
}
BUILD_CHILD = r"""
import json, sys, time
args = json.loads(sys.argv[1])
t0 = time.perf_counter()
from console.worker import glm4v_build
if args["geometry"] == "autoglm-phone-9b":
    text, vision = glm4v_build.autoglm_phone_9b()
else:
    text, vision = args["text"], args["vision"]
from pathlib import Path
dest, what = glm4v_build.ensure(Path(args["dest"]), text=text, vision=vision,
                                dtype=args["dtype"], device=args["device"],
                                max_shard_size=args["shard"], max_pixels=args["max_pixels"])
print("BUILD " + json.dumps({"what": what, "seconds": time.perf_counter() - t0}), flush=True)
"""


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def build_model(name: str, workdir: Path, device: str, max_pixels: int) -> tuple[Path, dict[str,
                                                                                         Any]]:
    """The built model's directory (glm4v_build.ensure in a child process: this one never
    creates a CUDA context) and what the build did."""
    dirname, _pixels, _sizes, _counts, need = BUILT[name]
    dest = workdir / dirname
    workdir.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(workdir).free
    if not (dest / ".autoglm-glm4v.json").is_file() and free < need:
        raise SystemExit(f"--workdir {workdir}: {free / GIB:.1f} GiB free, {name} needs "
                         f"{need / GIB:.1f} GiB; free some or pick another --workdir")
    arg = json.dumps({"geometry": "autoglm-phone-9b" if name == "glm4v-9b" else "small",
                      "text": SMALL_TEXT, "vision": SMALL_VISION, "dest": str(dest),
                      "dtype": "bfloat16" if name == "glm4v-9b" else "float32",
                      "device": device, "shard": "5GB" if name == "glm4v-9b" else "40MB",
                      "max_pixels": max_pixels})
    log(f"{name}: building or checking {dest} on {device} ...")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", BUILD_CHILD, arg], capture_output=True,
                          text=True, check=False, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"building {name} in {dest} failed:\n{proc.stderr[-3000:]}")
    done: dict[str, Any] = next((json.loads(line[6:]) for line in proc.stdout.splitlines()
                 if line.startswith("BUILD ")), {})
    done["wall_s"] = time.perf_counter() - t0
    log(f"{name}: {done.get('what')} in {done['wall_s']:.1f} s")
    return dest, done


def make_image(directory: Path, width: int, height: int, index: int) -> str:
    import numpy as np
    from PIL import Image

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"img_{width}x{height}_{index}.png"
    if not path.exists():
        rng = np.random.default_rng(index)
        tmp = path.with_suffix(".tmp.png")
        Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(
            tmp, compress_level=1)
        tmp.rename(path)
    return str(path)


class Gpu:
    """NVML (console.host.nvml) for one GPU: free bytes, the process list, a peak sampler."""

    def __init__(self, index: int) -> None:
        self.nv = nvml()
        failed = self.nv.start()
        if failed is not None:
            raise SystemExit(f"NVML: {failed[1]}")
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
        entry = visible.split(",")[index].strip() if visible else str(index)
        self.handle = (self.nv.call("nvmlDeviceGetHandleByIndex", int(entry))
                       if entry.isdigit() else
                       self.nv.call("nvmlDeviceGetHandleByUUID", entry))
        if self.handle is None:
            raise SystemExit(f"NVML: no handle for cuda:{index} (CUDA_VISIBLE_DEVICES "
                             f"{visible or 'unset'})")
        name = self.nv.call("nvmlDeviceGetName", self.handle)
        self.name = name.decode() if isinstance(name, bytes) else str(name)

    def memory(self) -> tuple[int, int, int] | None:
        mem = self.nv.call("nvmlDeviceGetMemoryInfo", self.handle)
        return None if mem is None else (int(mem.used), int(mem.free), int(mem.total))

    def processes(self) -> list[tuple[int, int | None]]:
        procs = self.nv.call("nvmlDeviceGetComputeRunningProcesses", self.handle) or []
        return [(int(p.pid), None if p.usedGpuMemory in (None, VALUE_NOT_AVAILABLE)
                 else int(p.usedGpuMemory)) for p in procs]


class NvmlPeak:
    """The engine process's NVML used bytes (vision_check.engine_entry; the device's used
    bytes where it cannot be told apart), sampled every millisecond on a thread: the base
    before, the peak during, the number of samples."""

    def __init__(self, gpu: Gpu, pid: int, pids_before: list[int]) -> None:
        self.gpu, self.pid, self.pids_before = gpu, pid, pids_before
        self.sources: set[str] = set()
        self.samples = 0
        self.base = self.peak = 0
        self.device_base = self.device_peak = 0
        self.t0 = self.seconds = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def read(self) -> tuple[int | None, int | None]:
        """(the engine's used bytes, the device's used bytes)."""
        mem = self.gpu.memory()
        device_used = mem[0] if mem else None
        used, source = vc.engine_entry(self.gpu.processes(), self.pid, self.pids_before)
        if used is None:
            used = device_used
        self.sources.add(source)
        return used, device_used

    def _run(self) -> None:
        while not self.stop.is_set():
            used, device_used = self.read()
            self.samples += 1
            self.peak = max(self.peak, used or 0)
            self.device_peak = max(self.device_peak, device_used or 0)
            time.sleep(0.001)

    def __enter__(self) -> NvmlPeak:
        base, device_base = self.read()
        self.base = self.peak = base or 0
        self.device_base = self.device_peak = device_base or 0
        self.t0 = time.perf_counter()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.seconds = time.perf_counter() - self.t0

    @property
    def source(self) -> str:
        for name in ("device", "process-new", "process"):  # the weakest one seen
            if name in self.sources:
                return name
        return "none"


def generate(client: EngineClient, images: list[str], timeout: float) -> dict[str, Any]:
    msg_id = client.generate("describe the screen", images=images, max_new_tokens=1)
    result = client.wait_for(("generated", "error"), reply_to=msg_id, timeout=timeout)
    if result["event"] == "error":
        raise SystemExit(f"generate failed: {result['message']}")
    return dict(result)


def pool_state(client: EngineClient, timeout: float) -> dict[str, int] | None:
    """The engine's empty_cache, then its first CUDA device's pool: reserved, allocated and
    cached (reserved - allocated). None on the CPU."""
    reply = client.wait_for(("empty_cache", "error"), reply_to=client.empty_cache(),
                            timeout=timeout)
    devices = (reply.get("after") or {}).get("devices") or [] if reply["event"] != "error" else []
    if not devices:
        return None
    reserved, allocated = int(devices[0]["reserved_bytes"]), int(devices[0]["allocated_bytes"])
    return {"reserved_bytes": reserved, "allocated_bytes": allocated,
            "cached_bytes": reserved - allocated}


def slack_rows(data: dict[str, Any]) -> list[tuple[dict[str, Any], vc.SlackRow]]:
    """The saved measured rows as SlackRows: the estimate without its slack term and the
    largest block tensor (recorded, or for a file from before it: patches x the MLP width of
    the model glm4v-9b is built with x the dtype's bytes)."""
    width: int | None = None
    out: list[tuple[dict[str, Any], vc.SlackRow]] = []
    e = {"float32": 4, "bfloat16": 2, "float16": 2}.get(str(data.get("dtype")), 2)
    for row in data.get("rows", []):
        if row.get("status") != "measured" or not row.get("measured_bytes"):
            continue
        largest = row.get("largest_tensor_bytes")
        if largest is None:
            if data.get("model") != "glm4v-9b":
                raise vc.CheckError(f"row {row.get('size')} x{row.get('images')}: no "
                                    "largest_tensor_bytes and not the built glm4v-9b: re-run "
                                    "the benchmark with this version")
            if width is None:
                from console.worker import glm4v_build

                text, vis = glm4v_build.autoglm_phone_9b()
                width = vision.vision_geometry({"model_type": "glm4v", "vision_config": vis,
                                                "text_config": text}).mlp_width
            largest = int(row["patches"]) * width * e
        out.append((row, vc.SlackRow(f"{row['size']} x{row['images']}",
                                     int(row["estimate_bytes"]) - int(row.get("slack_bytes") or 0),
                                     int(largest), int(row["measured_bytes"]))))
    return out


def row_baseline(row: dict[str, Any], first_base: int | None) -> vc.Baseline:
    """The row's baseline: its pool at the start when recorded, else the rise of its NVML base
    over the first row's (a file from before `pool_at_start`)."""
    pool = row.get("pool_at_start")
    if isinstance(pool, dict):
        return vc.baseline_check(int(pool["cached_bytes"]), int(row["estimate_bytes"]))
    base = row.get("nvml_base_bytes")
    rise = int(base) - first_base if base is not None and first_base is not None else 0
    return vc.baseline_check(rise, int(row["estimate_bytes"]))


def rescore(path: Path, fit_size: str) -> int:
    """--rescore: fit the vision slack on the --fit-size rows, score every row."""
    try:
        data = json.loads(path.read_text())
        pairs = slack_rows(data)
    except (OSError, ValueError) as exc:
        print(f"{path}: {exc}")
        return 2
    fit_rows = [sr for row, sr in pairs if row["size"] == fit_size]
    if not fit_rows:
        print(f"{path}: no measured row of size {fit_size} to fit on: give --fit-size one of "
              f"{', '.join(sorted({row['size'] for row, _ in pairs}))}")
        return 2
    factor, feasible = vc.fit_slack(fit_rows)
    scored = vc.rescore([sr for _, sr in pairs], factor, [r.label for r in fit_rows])
    first_base = next((row.get("nvml_base_bytes") for row, _ in pairs), None)
    infeasible = "" if feasible else "; a row is under by more than 2% whatever the factor"
    print(f"vision slack fitted on the {fit_size} rows of {path}: {factor:.4f} x the largest "
          f"block tensor (shipped: {vision.VISION_SLACK_BLOCKS}){infeasible}")
    print("| row | fitted on it | baseline | estimate before MiB | estimate now MiB | "
          "measured MiB | error before | error now |")
    print("|---|---|---|---|---|---|---|---|")
    for (row, sr), new in zip(pairs, scored, strict=True):
        base = row_baseline(row, first_base)
        allocated = row.get("cuda_peak_allocated_growth_bytes")
        reserved = row.get("cuda_peak_reserved_growth_bytes")
        state = "clean" if base.clean else f"not clean: {base.cached_bytes / MIB:.0f} MiB cached"
        if allocated is not None and reserved is not None and reserved < allocated:
            state += "; reserved growth < allocated: invalid"
        err_before = 100 * (sr.estimate_bytes - sr.measured_bytes) / sr.measured_bytes
        print(f"| {sr.label} | {'yes' if new['in_sample'] else 'no'} | {state} | "
              f"{sr.estimate_bytes / MIB:.1f} | {new['estimate_bytes'] / MIB:.1f} | "
              f"{sr.measured_bytes / MIB:.1f} | {err_before:+.1f}% | "
              f"{100 * new['error']:+.1f}% |")
    return 0


def free_bytes(gpu: Gpu | None) -> tuple[int | None, str]:
    """Free memory where the prompt runs: NVML's free bytes of the GPU, available RAM."""
    if gpu is not None:
        mem = gpu.memory()
        return (mem[1] if mem else None), f"{gpu.name} (NVML free)"
    try:
        import psutil

        return int(psutil.virtual_memory().available), "the host (available RAM)"
    except ImportError:
        return None, "the host"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--model", default="demo-vl",
                        help="demo-vl, glm4v-9b, glm4v-small (both built in --workdir when "
                             "missing) or a model directory")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/autoglm-check"),
                        help="where glm4v-9b / glm4v-small and the test images are made")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--attn", default=None, help="attention implementation (eager, sdpa)")
    parser.add_argument("--max-pixels", type=int, default=None,
                        help="the built model's processor size.longest_edge (glm4v-9b: "
                             "5,000,000; glm4v-small: 320,000)")
    parser.add_argument("--sizes", default=None,
                        help="WIDTHxHEIGHT,... (default: per model; demo-vl: tiny to over "
                             "its max_pixels)")
    parser.add_argument("--counts", default=None, help="images per prompt (default 1,4,10 for "
                        "the built models, 1,2,4 otherwise)")
    parser.add_argument("--target", type=float, default=vc.DEFAULT_TARGET,
                        help="pass when |estimate - measured| <= target x measured (0.05)")
    parser.add_argument("--fit-margin", type=float, default=vc.DEFAULT_FIT_MARGIN)
    parser.add_argument("--budget-s", type=float, default=420,
                        help="start no new prompt after this many seconds, the build "
                             "included (default 420: one device call is 600 s at most)")
    parser.add_argument("--timeout", type=float, default=300,
                        help="seconds to wait for the load and for each generate")
    parser.add_argument("--remove-built", action="store_true",
                        help="delete the model built in --workdir at the end (disk room for "
                             "the next check)")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON here")
    parser.add_argument("--rescore", type=Path, default=None, metavar="JSON",
                        help="no engine: fit the vision slack on a saved run's --fit-size rows "
                             "and re-score every row")
    parser.add_argument("--fit-size", default="1080x2400",
                        help="with --rescore: the size whose rows the slack is fitted on")
    args = parser.parse_args(argv)
    if args.rescore is not None:
        return rescore(args.rescore, args.fit_size)
    t_start = time.monotonic()
    cuda = args.device.startswith("cuda")
    gpu_index = int(args.device.split(":")[1]) if ":" in args.device else 0
    built = BUILT.get(args.model)
    try:
        sizes = vc.parse_sizes(args.sizes or (built[2] if built else
                                              "96x96,270x600,540x1200,900x900"))
        counts = vc.parse_counts(args.counts or (built[3] if built else "1,2,4"))
    except vc.CheckError as exc:
        parser.error(str(exc))
    os.environ.setdefault("AUTOGLM_CONSOLE_CACHE_DIR", str(args.workdir / "console-cache"))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("AUTOGLM_CONSOLE_LOG_DIR", str(args.out.parent / "logs"))
    build_info: dict[str, Any] | None = None
    model = args.model
    if built:
        max_pixels = args.max_pixels or built[1]
        path, build_info = build_model(args.model, args.workdir, args.device, max_pixels)
        model = str(path)
    elif args.max_pixels:
        parser.error("--max-pixels applies to the models built here (glm4v-9b, glm4v-small); "
                     "another model's limit is its preprocessor_config.json size.longest_edge")
    image_dir = args.workdir / "vision-images"
    gpu = Gpu(gpu_index) if cuda else None
    pids_before = [p for p, _ in gpu.processes()] if gpu else []
    # A fixed mmap threshold: glibc's dynamic one keeps freed tensor blocks in the heap, where
    # the next generate reuses them unseen by VmHWM; fixed, every block over 64 KiB is mapped
    # and unmapped, so RSS follows the live tensors.
    env = {} if cuda else {"MALLOC_MMAP_THRESHOLD_": "65536"}
    client = EngineClient(env=env)
    client.start()
    client.wait_for("hello", timeout=120)
    t_load = time.perf_counter()
    loaded = client.wait_for(("loaded", "error"), reply_to=client.load(
        model, device=args.device, dtype=args.dtype, attn_implementation=args.attn),
        timeout=args.timeout)
    load_s = time.perf_counter() - t_load
    if loaded["event"] == "error":
        raise SystemExit(f"load failed: {loaded['message']}")
    log(f"loaded {loaded['path']} ({loaded.get('dtype')}) in {load_s:.1f} s")
    pool_after_load = pool_state(client, args.timeout) if cuda else None
    mdir = Path(loaded["path"])
    cfg = json.loads((mdir / "config.json").read_text())
    pre_path = mdir / "preprocessor_config.json"
    pre = json.loads(pre_path.read_text()) if pre_path.is_file() else None
    geo = est_mod.geometry(cfg)
    vgeo = vision.vision_geometry(cfg)
    limits = vision.processor_limits(cfg, pre)
    dtype_code = {"float32": "F32", "bfloat16": "BF16", "float16": "F16"}.get(
        loaded["dtype"], "BF16")
    attn = args.attn or "sdpa"
    kv_per_token = int(loaded.get("kv_bytes_per_token") or 0)
    rows: list[dict[str, Any]] = []
    try:
        big_w, big_h = max(sizes, key=lambda s: s[0] * s[1])
        warm = generate(client, [make_image(image_dir, big_w, big_h, 999)], args.timeout)
        # the prompt's text tokens beside one image's (its begin/end markers included)
        text_tokens = int(warm["prompt_tokens"]) - int(warm["image_tokens"])
        counts = sorted(counts)  # fewest images first: a row never follows a larger one
        for width, height in sizes:
            for count in counts:
                row: dict[str, Any] = {"size": f"{width}x{height}", "images": count}
                rows.append(row)
                planned = vision.estimate(vgeo, limits, [(height, width)] * count,
                                          dtype=dtype_code, kv_bytes_per_token=kv_per_token,
                                          attn_implementation=attn)
                prompt_pred = planned.image_tokens + text_tokens + 2 * (count - 1)
                text_pred = est_mod.activation_breakdown(
                    geo, dtype_code, prompt_pred, 1, attn_implementation=attn,
                    on_cpu=not cuda).total_bytes
                need = vc.prompt_peak_bytes(planned.to_json_dict(), text_pred,
                                            kv_per_token * (prompt_pred + 1),
                                            pixels_in_measurement=cuda)
                free, where = free_bytes(gpu)
                fit = vc.fits(need, free, args.fit_margin, where)
                row.update(planned_image_tokens=planned.image_tokens,
                           planned_prompt_tokens=prompt_pred, fit=fit.to_json_dict())
                elapsed = time.monotonic() - t_start
                if elapsed > args.budget_s:
                    row.update(status="skipped", why=f"budget: {elapsed:.0f} s of "
                               f"--budget-s {args.budget_s:.0f} used")
                    continue
                if not fit.ok:
                    row.update(status="skipped", why=fit.reason)
                    continue
                paths = [make_image(image_dir, width, height, i) for i in range(count)]
                baseline: vc.Baseline | None = None
                if cuda:
                    pool = pool_state(client, args.timeout)
                    if pool is not None:
                        baseline = vc.baseline_check(pool["cached_bytes"], need)
                        row.update(pool_at_start=pool, baseline=baseline.to_json_dict())
                t0 = time.perf_counter()
                peak: NvmlPeak | None = None
                if gpu is not None:
                    pid = client.pid
                    assert pid is not None
                    with NvmlPeak(gpu, pid, pids_before) as peak:
                        result = generate(client, paths, args.timeout)
                    measured: int | None = peak.peak - peak.base
                else:
                    result = generate(client, paths, args.timeout)
                    measured = result.get("rss_peak_growth_bytes")
                est = result.get("vision_estimate") or {}
                prompt_tokens = int(result["prompt_tokens"])
                text = est_mod.activation_breakdown(
                    geo, dtype_code, prompt_tokens, 1, attn_implementation=attn,
                    on_cpu=not cuda).total_bytes
                expected = vc.prompt_peak_bytes(est, text, kv_per_token * (prompt_tokens + 1),
                                                pixels_in_measurement=cuda)
                error, passed = vc.verdict(expected, measured, args.target)
                if baseline is not None and not baseline.clean:
                    passed = None  # under-measured: neither pass nor fail
                row.update(
                    status="measured", image_tokens=result["image_tokens"],
                    image_tokens_per_image=result.get("image_tokens_per_image"),
                    resized=est.get("resized"), prompt_tokens=prompt_tokens,
                    patches=est.get("patches"), pixel_bytes=est.get("pixel_bytes"),
                    encoder_bytes=est.get("encoder_bytes"),
                    largest_tensor_bytes=est.get("largest_tensor_bytes"),
                    slack_bytes=est.get("slack_bytes"),
                    embeddings_bytes=est.get("embeddings_bytes"), prefill_bytes=text,
                    kv_bytes=kv_per_token * (prompt_tokens + 1), estimate_bytes=expected,
                    measured_bytes=measured, error=error, passed=passed,
                    generate_s=time.perf_counter() - t0, ttft_s=result.get("ttft_s"),
                    image_processor=result.get("image_processor"))
                if peak is not None:
                    row.update(nvml_source=peak.source, nvml_samples=peak.samples,
                               nvml_base_bytes=peak.base, nvml_peak_bytes=peak.peak,
                               device_used_growth_bytes=peak.device_peak - peak.device_base,
                               cuda_peak_allocated_growth_bytes=result.get(
                                   "cuda_peak_allocated_growth_bytes"),
                               cuda_peak_reserved_growth_bytes=result.get(
                                   "cuda_peak_reserved_growth_bytes"))
                notes: list[str] = []
                if peak is not None and peak.source != "process":
                    notes.append(f"NVML source {peak.source}: not the engine's own pid entry "
                                 "(see the docstring)")
                if planned.image_tokens != result["image_tokens"]:
                    notes.append(f"the pure rule planned {planned.image_tokens} image tokens, "
                                 f"the processor made {result['image_tokens']}")
                if notes:
                    row["notes"] = notes
                log(f"{row['size']} x{count}: {result['image_tokens']} image tokens, "
                    f"estimate {expected / MIB:.1f} MiB, measured "
                    f"{(measured or 0) / MIB:.1f} MiB")
    finally:
        client.unload()
        client.close()
        if built and args.remove_built:
            shutil.rmtree(model, ignore_errors=True)
            log(f"removed {model}")
    what = (f"the engine process's NVML used peak on {args.device}" if cuda
            else "the engine's RSS peak growth (VmHWM)")
    measured_rows = [r for r in rows if r.get("status") == "measured"]
    n_pass = sum(1 for r in measured_rows if r.get("passed"))
    print(f"vision estimate vs {what}; model {args.model} ({mdir}), {loaded.get('dtype')}, "
          f"attention {args.attn or 'default'}, max_pixels {limits.max_pixels}, target "
          f"{args.target:.0%}")
    print(f"{'size':>10} {'images':>6} {'img tok':>8} {'patches':>8} {'encoder MiB':>12} "
          f"{'prefill MiB':>12} {'estimate MiB':>13} {'measured MiB':>13} {'error':>8} "
          f"{'verdict':>7}")
    for r in rows:
        if r.get("status") != "measured":
            print(f"{r['size']:>10} {r['images']:>6} {r['planned_image_tokens']:>8}  "
                  f"skipped: {r['why']}")
            continue
        err = f"{100 * r['error']:+.1f}%" if r["error"] is not None else "n/a"
        verdict = "n/a" if r["passed"] is None else ("pass" if r["passed"] else "FAIL")
        if not (r.get("baseline") or {}).get("clean", True):
            verdict = "unclean"  # cached blocks at its start: under-measured
        measured_text = f"{r['measured_bytes'] / MIB:.2f}" if r["measured_bytes"] else "n/a"
        print(f"{r['size']:>10} {r['images']:>6} {r['image_tokens']:>8} {r['patches']:>8} "
              f"{(r['encoder_bytes'] or 0) / MIB:>12.2f} {r['prefill_bytes'] / MIB:>12.2f} "
              f"{r['estimate_bytes'] / MIB:>13.2f} {measured_text:>13} {err:>8} "
              f"{verdict:>7}")
    print(f"{n_pass} of {len(measured_rows)} measured rows within {args.target:.0%}; "
          f"{len(rows) - len(measured_rows)} skipped; {time.monotonic() - t_start:.0f} s")
    if args.out:
        data = {"device": args.device, "gpu": gpu.name if gpu else None, "model": args.model,
                "path": str(mdir), "dtype": loaded.get("dtype"), "attention": attn,
                "max_pixels": limits.max_pixels, "limits_source": limits.source,
                "build": build_info, "load_s": load_s, "target": args.target,
                "fit_margin": args.fit_margin, "budget_s": args.budget_s,
                "measured": what, "pool_after_load": pool_after_load,
                "warm_up": {"size": f"{big_w}x{big_h}", "image_tokens": warm["image_tokens"]},
                "rows": rows, "passed": n_pass, "measured_rows": len(measured_rows),
                "seconds": time.monotonic() - t_start}
        tmp = Path(tempfile.mkstemp(dir=args.out.parent, suffix=".json")[1])
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(args.out)
    return 0


if __name__ == "__main__":
    # server logs, model text and child stderr are printed: made terminal-safe
    from console.core.termsafe import safe_std_streams

    with safe_std_streams():
        raise SystemExit(main())
