#!/usr/bin/env python3
"""GPU check for the fast guarded loader (issue 6, console/worker/fastload.py), standalone:

    python3 gpu/check_loader.py --out DIR                  # on the H100 host, ~1-2 min
    python3 gpu/check_loader.py --out DIR --device cpu     # a dry run of the flow on the CPU

1. Parity on the GPU, in this process: tiny random-weight models of every tiny arch (llama,
   qwen2, mistral, glm, glm4, gpt2, gemma, glm4v; mixtral must fall back with its reason)
   loaded by `from_pretrained(device_map=DEVICE)` and by the fast path with every method
   (staging, safe_open, mmap, register; staging also with 1 and 16 tensors in flight), 3 threads,
   4 KiB chunks (every tensor split over several threads and chunks); bf16 checkpoints loaded
   as fp32 and fp32 ones as bf16 (the cast on the device); tied and untied embeddings; sharded
   files. Every parameter and buffer (non-persistent ones included) must be torch.equal with
   the same dtype and device, tied weights the same tensor, eval() and generation config equal,
   and the logits of one forward equal.
2. A mid-size Llama (~1 GB bf16), default options: parity as above; VRAM grows tensor by
   tensor (torch's allocated bytes at each tensor's hook = the bytes of the tensors before it,
   reserved never ahead of it by more than 64 MiB: no up-front reservation); while a hook
   blocks for 1 s (the guard's pause) neither torch's allocated bytes nor NVML's used figure
   move (within 64 MiB); host RSS growth while streaming within the staging buffers + 64 MiB.
3. Through the real engine on the GPU: loader auto picks "fast" (loaded.loader), the engine's
   model fingerprint equals a plain from_pretrained's; an abort mid-load (slowed with the test
   knob), after one whole load and unload, ends with LoadAborted and the engine back at its
   NVML baseline within 64 MiB.
Writes DIR/loader.json; prints a summary; exits 1 if any check failed (each is caught and
reported on its own).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "gpu"))
from check_engine import Checks, log  # noqa: E402  (one check runner for every GPU script)

MIB = 1024**2
TOLERANCE_BYTES = 64 * MIB
INPUT_IDS = [5, 17, 42, 9, 100, 3, 77, 12]
GPU_METHODS = ("staging", "safe_open", "mmap", "register")
CPU_METHODS = ("direct", "staging", "safe_open", "mmap")
MID = {"hidden_size": 2048, "num_hidden_layers": 8, "num_attention_heads": 16,
       "num_key_value_heads": 4, "intermediate_size": 5632, "vocab_size": 32000,
       "head_dim": 128}




def load(path: Path, loader: str, device: str, *, dtype: Any = "auto", hook: Any = None,
         **options: Any) -> tuple[Any, Any]:
    from transformers import AutoConfig

    from console.worker import fastload, tinymodels

    cls = tinymodels.model_class_for(AutoConfig.from_pretrained(path))
    opts = fastload.Options(loader=loader, **options)
    with fastload.installed(opts, hook or (lambda step: None)) as outcome:
        model = cls.from_pretrained(str(path), device_map=device, dtype=dtype)
    return model, outcome


def differences(stock: Any, fast: Any) -> list[str]:
    """What differs between two loaded models (empty: identical)."""
    import torch

    out: list[str] = []
    for kind in ("named_parameters", "named_buffers"):
        a = dict(getattr(stock, kind)(remove_duplicate=False))
        b = dict(getattr(fast, kind)(remove_duplicate=False))
        if a.keys() != b.keys():
            out.append(f"{kind}: names differ {sorted(set(a) ^ set(b))[:3]}")
            continue
        for name, ta in a.items():
            tb = b[name]
            if (ta.dtype, ta.device, tuple(ta.shape)) != (tb.dtype, tb.device, tuple(tb.shape)):
                out.append(f"{name}: {ta.dtype}/{ta.device} vs {tb.dtype}/{tb.device}")
            elif ta.requires_grad != tb.requires_grad or not torch.equal(ta, tb):
                out.append(f"{name}: values differ")
    pa = {n: p.data_ptr() for n, p in stock.named_parameters(remove_duplicate=False)}
    pb = {n: p.data_ptr() for n, p in fast.named_parameters(remove_duplicate=False)}
    tied_a = sorted(sorted(n for n in pa if pa[n] == v) for v in set(pa.values()))
    tied_b = sorted(sorted(n for n in pb if pb[n] == v) for v in set(pb.values()))
    if tied_a != tied_b:
        out.append("tied weights differ")
    if [m.training for m in stock.modules()] != [m.training for m in fast.modules()]:
        out.append("train/eval state differs")
    if stock.generation_config.to_dict() != fast.generation_config.to_dict():
        out.append("generation config differs")
    ids = torch.tensor([INPUT_IDS], device=stock.device)
    with torch.inference_mode():
        la, lb = stock(input_ids=ids).logits, fast(input_ids=ids).logits
    if la.dtype != lb.dtype or not torch.equal(la, lb):
        out.append("logits differ")
    return out


def build_tiny(root: Path) -> dict[str, Path]:
    from console.worker import tinymodels

    out: dict[str, Path] = {}

    def build(name: str, arch: str, **kw: Any) -> None:
        dest = root / name
        if not (dest / ".built").is_file():
            tinymodels.build(arch, dest, with_tokenizer=False, **kw)
            (dest / ".built").write_text("ok\n")
        out[name] = dest

    for arch in tinymodels.ARCHS:
        build(arch, arch, max_shard_size="60KB")
    build("llama-tied", "llama", tie_word_embeddings=True)
    build("llama-bf16", "llama", dtype="bfloat16")
    build("glm4v-bf16", "glm4v", dtype="bfloat16", max_shard_size="60KB")
    return out


def parity_tiny(models: dict[str, Path], device: str, checks: Checks) -> None:
    import torch

    methods = GPU_METHODS if device.startswith("cuda") else CPU_METHODS
    cases: list[tuple[str, str, Any, dict[str, Any]]] = []
    for name in models:
        for method in methods:
            cases.append((name, method, "auto", {}))
    cases += [(name, "staging", "auto", extra) for name in ("llama", "glm4v", "gpt2")
              for extra in ({"window": 1, "readahead_bytes": 0}, {"window": 16})]
    for name, dtype in (("llama-bf16", torch.float32), ("glm4v-bf16", torch.float32),
                        ("llama", torch.bfloat16), ("glm4v", torch.bfloat16)):
        cases += [(name, method, dtype, {}) for method in methods]
    stock_cache: dict[tuple[str, str], Any] = {}
    failures: list[str] = []
    fallbacks: list[str] = []
    for name, method, dtype, extra in cases:
        label = f"{name} {method} {dtype} {extra or ''}".strip()
        try:
            key = (name, str(dtype))
            if key not in stock_cache:
                stock_cache[key] = load(models[name], "stock", device, dtype=dtype)[0]
            loader = "auto" if name == "mixtral" else "fast"  # auto: the fallback's reason
            fast, outcome = load(models[name], loader, device, dtype=dtype, method=method,
                                 threads=3, chunk_bytes=4096, **extra)
            if name == "mixtral":
                if outcome.loader != "stock" or "experts" not in (outcome.fallback_reason or ""):
                    failures.append(f"{label}: expected the stock path with the experts reason, "
                                    f"got {outcome.loader} ({outcome.fallback_reason})")
                fallbacks.append(f"{label}: {outcome.fallback_reason}")
            elif outcome.loader != "fast":
                failures.append(f"{label}: fell back: {outcome.fallback_reason}")
            diff = differences(stock_cache[key], fast)
            if diff:
                failures.append(f"{label}: {'; '.join(diff[:3])}")
            del fast
        except Exception as exc:
            failures.append(f"{label}: {type(exc).__name__}: {exc}")
    stock_cache.clear()
    checks.add("parity of tiny models (every arch x method, casts, tied, sharded)",
               not failures, f"{len(cases)} loads, {len(failures)} failed: {failures[:6]}",
               failures=failures, fallbacks=fallbacks[:3])


def mid_size(root: Path, device: str, checks: Checks) -> None:
    import torch

    from console.worker import tinymodels
    from console.worker.hooks import TensorStep

    dest = root / "llama-mid"
    if not (dest / ".built").is_file():
        tinymodels.build("llama", dest, dtype="bfloat16", max_shard_size="300MB",
                         overrides=dict(MID), with_tokenizer=False, device=device)
        (dest / ".built").write_text("ok\n")
    cuda = device.startswith("cuda")
    stock, _ = load(dest, "stock", device)
    nvml = None
    if cuda:
        import pynvml

        pynvml.nvmlInit()
        nvml = pynvml.nvmlDeviceGetHandleByIndex(torch.device(device).index or 0)
    allocated_before = torch.cuda.memory_allocated(device) if cuda else 0
    seen: list[tuple[TensorStep, int, int]] = []
    pause_at = 40
    pause: dict[str, Any] = {}

    def hook(step: TensorStep) -> None:
        if cuda:
            torch.cuda.synchronize(device)
            seen.append((step, torch.cuda.memory_allocated(device),
                         torch.cuda.memory_reserved(device)))
        else:
            seen.append((step, 0, 0))
        if step.index == pause_at:  # the guard's pause: block, then look again
            a0 = torch.cuda.memory_allocated(device) if cuda else 0
            n0 = int(pynvml.nvmlDeviceGetMemoryInfo(nvml).used) if nvml else 0
            time.sleep(1.0)
            a1 = torch.cuda.memory_allocated(device) if cuda else 0
            n1 = int(pynvml.nvmlDeviceGetMemoryInfo(nvml).used) if nvml else 0
            pause.update(allocated_moved=a1 - a0, nvml_moved=n1 - n0)

    fast, outcome = load(dest, "fast", device, hook=hook)
    diff = differences(stock, fast)
    checks.add("mid-size parity (default options)", outcome.loader == "fast" and not diff,
               f"{outcome.method} x{outcome.threads}, {outcome.tensors} tensors, "
               f"{outcome.bytes / 1e9:.2f} GB in {outcome.stream_s:.2f} s; differences: {diff[:3]}",
               outcome=outcome.to_dict())
    if cuda:
        # allocated at each hook = the tensors before it (tensor-by-tensor growth)
        # reserved ahead: what torch reserved since the first hook beyond what it allocated
        # since then (the stock model loaded above left its own slack in the cache before).
        placed = 0
        worst = 0
        reserved_ahead = 0
        _, allocated0, reserved0 = seen[0] if seen else (None, 0, 0)
        for step, allocated, reserved in seen:
            grown = allocated - allocated_before
            worst = max(worst, abs(grown - placed))
            reserved_ahead = max(reserved_ahead,
                                 (reserved - reserved0) - (allocated - allocated0))
            placed += step.nbytes
        checks.add("VRAM grows tensor by tensor",
                   worst <= TOLERANCE_BYTES and reserved_ahead <= TOLERANCE_BYTES,
                   f"allocated vs the tensors placed before each hook: worst {worst / MIB:.1f} "
                   f"MiB off; reserved ahead of allocated at most {reserved_ahead / MIB:.1f} "
                   f"MiB of growth (scratch for casts, allocator rounding)",
                   worst_bytes=worst, reserved_ahead_bytes=reserved_ahead)
        checks.add("a blocking hook holds VRAM still (pause)",
                   abs(pause.get("allocated_moved", 1 << 40)) == 0
                   and abs(pause.get("nvml_moved", 1 << 40)) <= TOLERANCE_BYTES,
                   f"during 1 s blocked at tensor {pause_at}: torch allocated moved "
                   f"{pause.get('allocated_moved')} B, NVML used moved "
                   f"{(pause.get('nvml_moved') or 0) / MIB:.1f} MiB", **pause)
        bound = outcome.staging_bytes + TOLERANCE_BYTES
        checks.add("host RSS growth within the staging buffers",
                   outcome.rss_growth_bytes is not None and outcome.rss_growth_bytes <= bound,
                   f"RSS +{(outcome.rss_growth_bytes or 0) / MIB:.0f} MiB (anon "
                   f"+{(outcome.anon_growth_bytes or 0) / MIB:.0f} MiB) while streaming "
                   f"{outcome.bytes / MIB:.0f} MiB; staging {outcome.staging_bytes / MIB:.0f} "
                   f"MiB (+64 MiB slack)")
    del stock, fast


def engine_checks(root: Path, device: str, checks: Checks) -> None:
    from console.core.protocol import AnyEvent
    from console.engines.local import EngineClient
    from console.worker import tinymodels
    from console.worker.parity import fingerprint

    dest = root / "llama-mid-tok"
    if not (dest / ".built").is_file():
        tinymodels.build("llama", dest, dtype="bfloat16", max_shard_size="300MB",
                         overrides=dict(MID), device=device)
        (dest / ".built").write_text("ok\n")
    client = EngineClient()
    client.start()
    try:
        client.wait_for("hello", timeout=300)
        loaded = client.wait_for(("loaded", "error"), reply_to=client.load(
            str(dest), device=device), timeout=600)
        ok = loaded["event"] == "loaded" and loaded.get("loader") == (
            "fast" if device.startswith("cuda") else "stock")
        checks.add("engine: loader auto", ok,
                   f"{loaded.get('loader')} ({loaded.get('fallback_reason')}); "
                   f"{loaded.get('error_type')} {loaded.get('message', '')[:200]}",
                   fast_load=loaded.get("fast_load"))
        if loaded["event"] == "loaded":
            fp = client.wait_for(("fingerprint", "error"), reply_to=client.fingerprint(
                input_ids=INPUT_IDS), timeout=300)
            stock, _ = load(dest, "stock", device)
            ref = fingerprint(stock, input_ids=INPUT_IDS)
            del stock
            checks.add("engine: model equals from_pretrained (fingerprint)",
                       fp.get("tensors") == ref["tensors"]
                       and (fp.get("logits") or {}).get("sha256") == ref["logits"]["sha256"],
                       f"{len(ref['tensors'])} tensors and the logits compared")
            client.wait_for(("unloaded", "error"), reply_to=client.unload(), timeout=120)
    finally:
        client.close()

    slow = EngineClient(env={"AUTOGLM_ENGINE_TEST_SLOW_LOAD_S": "0.02"})
    slow.start()
    try:
        slow.wait_for("hello", timeout=300)
        # One whole load and unload first: the CUDA context grows once on first use (kernels,
        # cuBLAS); the engine rebases its baseline then, so the abort below is held to it.
        slow.wait_for(("loaded", "error"), reply_to=slow.load(str(dest), device=device,
                                                              loader="fast"), timeout=600)
        slow.wait_for(("unloaded", "error"), reply_to=slow.unload(), timeout=120)
        msg_id = slow.load(str(dest), device=device, loader="fast")
        while True:
            msg = slow.wait_for(("progress", "loaded", "error"), reply_to=msg_id, timeout=300)
            if msg["event"] != "progress" or msg["tensors_done"] >= 20:
                break
        slow.abort()
        seen: list[AnyEvent] = []
        end = slow.wait_for(("loaded", "error"), reply_to=msg_id, timeout=300, seen=seen)
        unloaded = next((m for m in seen if m["event"] == "unloaded"), None)
        held = unloaded.get("held_bytes") if unloaded else None
        checks.add("engine: abort mid-load on the fast path frees everything",
                   end.get("error_type") == "LoadAborted" and held is not None
                   and (held <= TOLERANCE_BYTES or not device.startswith("cuda")),
                   f"{end.get('error_type')}; held above baseline after: "
                   f"{(held or 0) / MIB:.1f} MiB ({unloaded.get('message') if unloaded else ''})")
    finally:
        slow.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/autoglm-check/loader"))
    parser.add_argument("--device", default="cuda:0")
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("AUTOGLM_CONSOLE_LOG_DIR", str(out / "logs"))
    os.environ.setdefault("AUTOGLM_CONSOLE_CACHE_DIR", str(args.workdir / "console-cache"))
    os.environ["HF_HUB_OFFLINE"] = "1"
    t0 = time.monotonic()
    checks = Checks()
    results: dict[str, Any] = {"device": args.device}
    try:
        import torch
        import transformers

        results.update(torch=torch.__version__, transformers=transformers.__version__,
                       cuda=torch.version.cuda,
                       cuda_available=torch.cuda.is_available())
        if args.device.startswith("cuda"):
            torch.zeros(1, device=args.device)
    except Exception as exc:
        checks.add("environment", False, f"{type(exc).__name__}: {exc}")
    log(f"torch {results.get('torch')}, transformers {results.get('transformers')}, "
        f"device {args.device}")
    root = args.workdir / ("gpu" if args.device.startswith("cuda") else "cpu")
    models = checks.run("build tiny models", build_tiny, root)
    if models:
        checks.run("parity of tiny models", parity_tiny, models, args.device, checks)
    checks.run("mid-size model", mid_size, root, args.device, checks)
    checks.run("engine", engine_checks, root, args.device, checks)
    results["checks"] = checks.items
    results["seconds"] = time.monotonic() - t0
    (out / "loader.json").write_text(json.dumps(results, indent=2, default=str))
    failed = [c for c in checks.items if not c["ok"]]
    print(f"\nloader: {len(checks.items) - len(failed)}/{len(checks.items)} checks passed in "
          f"{results['seconds']:.0f} s; results in {out / 'loader.json'}")
    for c in failed:
        print(f"  FAIL {c['name']}: {c['detail'][:300]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
