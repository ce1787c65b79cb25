#!/usr/bin/env python3
"""GPU check for the model engine (issue 3), standalone:

    python3 gpu/check_engine.py --out DIR              # on the H100 host, ~5-7 min
    python3 gpu/check_engine.py --out DIR --small      # tiny shapes on CPU: a dry run of the flow
    python3 gpu/check_engine.py --out DIR --small --device cuda:0 --workdir /tmp/agc-smoke
                                                       # tiny shapes on the GPU (~1 min)

1. Builds random-weight models on the GPU and saves them (bf16, ~5 GB shards) to --workdir:
   a Llama-3-8B shape (hidden 4096, 32 layers, 32 heads, 8 KV heads, intermediate 14336,
   vocab 128256) and a GLM-4-9B shape (glm4: hidden 4096, 40 layers, 32 heads, 2 KV heads,
   intermediate 13696, vocab 151552). The shapes are checked in the saved config.json.
2. Load/unload cycles through the real engine client (--cycles for the 8B, default 20;
   --cycles-9b for the 9B, default 8 to fit the time budget): after each unload the engine's
   NVML usage (read here, independently, for the engine's pid) must be back within 64 MiB of
   its baseline (its CUDA context before the first load).
3. Generation through the engine (greedy, and sampled with a seed) must equal a plain
   `model.generate` in a separate fresh process, token for token.
4. Hard unload with a model loaded: the engine process is gone and its NVML usage is 0.
Writes DIR/engine.json (every figure and every check) and DIR/logs/ (session logs); prints a
summary; exits 1 if any check failed. Each check is caught and reported on its own.
The models stay in --workdir for benchmarks/load_generate.py (--clean removes them).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MIB = 1024**2
GIB = 1024**3
TOLERANCE_BYTES = 64 * MIB

SHAPES: dict[str, dict[str, Any]] = {
    "llama-8b": {"arch": "llama", "overrides": {
        "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
        "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 128256,
        "head_dim": 128, "max_position_embeddings": 8192}},
    "glm4-9b": {"arch": "glm4", "overrides": {
        "hidden_size": 4096, "num_hidden_layers": 40, "num_attention_heads": 32,
        "num_key_value_heads": 2, "intermediate_size": 13696, "vocab_size": 151552,
        "head_dim": 128, "max_position_embeddings": 8192}},
}
SMALL_SHAPES: dict[str, dict[str, Any]] = {
    "llama-8b": {"arch": "llama", "overrides": {
        "hidden_size": 128, "num_hidden_layers": 3, "num_attention_heads": 4,
        "num_key_value_heads": 2, "intermediate_size": 256, "vocab_size": 1000,
        "head_dim": 32}},
    "glm4-9b": {"arch": "glm4", "overrides": {
        "hidden_size": 128, "num_hidden_layers": 3, "num_attention_heads": 4,
        "num_key_value_heads": 1, "intermediate_size": 200, "vocab_size": 1200,
        "head_dim": 32}},
}
PROMPT = "Write one sentence about the sea."
SAMPLING = {"temperature": 0.8, "top_p": 0.95, "seed": 1234}

BUILD = r"""
import json, sys, time
args = json.loads(sys.argv[1])
from console.worker import tinymodels
t0 = time.perf_counter()
tinymodels.build(args["arch"], args["dest"], dtype=args["dtype"], device=args["device"],
                 max_shard_size=args["shard"], overrides=args["overrides"])
print("BUILT", time.perf_counter() - t0)
"""

PLAIN_GENERATE = r"""
import json, sys
args = json.loads(sys.argv[1])
import torch, transformers
from transformers import AutoConfig, AutoTokenizer
config = AutoConfig.from_pretrained(args["path"])
cls = (transformers.AutoModelForImageTextToText if config.model_type == "glm4v"
       else transformers.AutoModelForCausalLM)
model = cls.from_pretrained(args["path"], dtype=getattr(torch, args["dtype"]),
                            device_map=args["device"])
tok = AutoTokenizer.from_pretrained(args["path"])
enc = tok.apply_chat_template([{"role": "user", "content": args["prompt"]}],
                              add_generation_prompt=True, return_tensors="pt", return_dict=True)
enc = {k: v.to(model.device) for k, v in enc.items()}
n = enc["input_ids"].shape[-1]
out = {}
greedy = model.generate(**enc, max_new_tokens=args["max_new_tokens"], do_sample=False)
out["greedy"] = greedy[0, n:].tolist()
s = args["sampling"]
torch.manual_seed(s["seed"])
sampled = model.generate(**enc, max_new_tokens=args["max_new_tokens"], do_sample=True,
                         temperature=s["temperature"], top_p=s["top_p"])
out["sampled"] = sampled[0, n:].tolist()
print("RESULT " + json.dumps(out))
"""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Nvml:
    """The engine's own GPU memory, read from this process (independent of the engine)."""

    def __init__(self, index: int) -> None:
        import pynvml

        pynvml.nvmlInit()
        self.nv = pynvml
        self.handle = pynvml.nvmlDeviceGetHandleByIndex(index)

    def process_used(self, pid: int) -> int | None:
        """Bytes the pid uses on the GPU; 0 when it is not on the GPU; None if unreadable."""
        procs = self.nv.nvmlDeviceGetComputeRunningProcesses(self.handle)
        for p in procs:
            if p.pid == pid:
                return int(p.usedGpuMemory) if p.usedGpuMemory is not None else None
        return 0

    def device_used(self) -> int:
        return int(self.nv.nvmlDeviceGetMemoryInfo(self.handle).used)


class Checks:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, name: str, ok: bool, detail: str = "", **figures: Any) -> bool:
        self.items.append({"name": name, "ok": bool(ok), "detail": detail, **figures})
        log(f"{'PASS' if ok else 'FAIL'} {name}: {detail}")
        return ok

    def run(self, name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run one step; an exception becomes a failed check and the script goes on."""
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            self.add(name, False, f"{type(exc).__name__}: {exc}",
                     traceback=traceback.format_exc())
            return None


def build_model(name: str, spec: dict[str, Any], dest: Path, device: str, small: bool,  # noqa: PLR0917
                results: dict[str, Any], checks: Checks) -> Path | None:
    config_path = dest / "config.json"
    marker = dest / ".built"
    if not marker.is_file():
        shutil.rmtree(dest, ignore_errors=True)
        arg = json.dumps({"arch": spec["arch"], "dest": str(dest), "overrides": spec["overrides"],
                          "dtype": "float32" if small else "bfloat16",
                          "device": device,
                          "shard": "200KB" if small else "5GB"})
        log(f"building {name} in {dest} ...")
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", BUILD, arg], capture_output=True,
                              text=True, check=False, env=child_env())
        if proc.returncode != 0:
            checks.add(f"build {name}", False, proc.stderr[-3000:])
            return None
        marker.write_text("ok\n")
        results.setdefault("build_s", {})[name] = time.perf_counter() - t0
    config = json.loads(config_path.read_text())
    wrong = {k: (config.get(k), v) for k, v in spec["overrides"].items()
             if k in config and config[k] != v}
    missing = [k for k in spec["overrides"] if k not in config]
    size = sum(p.stat().st_size for p in dest.glob("*.safetensors"))
    shards = len(list(dest.glob("*.safetensors")))
    checks.add(f"shape {name}", not wrong and not missing,
               f"{shards} shards, {size / GIB:.2f} GiB; wrong {wrong}, missing {missing}",
               size_bytes=size, shards=shards)
    return dest


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["HF_HUB_OFFLINE"] = "1"
    env["TRANSFORMERS_OFFLINE"] = "1"
    return env


def wait(client: Any, names: tuple[str, ...], msg_id: int, timeout: float = 600) -> dict[str, Any]:
    msg = client.wait_for((*names, "error"), reply_to=msg_id, timeout=timeout)
    if msg["event"] not in names:
        raise RuntimeError(f"{msg['event']}: {msg.get('error_type')}: {msg.get('message')} "
                           f"{msg.get('signal') or ''}\n{msg.get('traceback', '')[-2000:]}")
    return msg


def engine_usage_after_unload(nvml: Nvml | None, pid: int, baseline: int | None,
                              timeout_s: float = 5.0) -> int | None:
    """Poll briefly: NVML's per-process figure can trail the engine's free by a moment."""
    if nvml is None:
        return None
    deadline = time.monotonic() + timeout_s
    used = nvml.process_used(pid)
    while (used is not None and baseline is not None and used - baseline > TOLERANCE_BYTES
           and time.monotonic() < deadline):
        time.sleep(0.1)
        used = nvml.process_used(pid)
    return used


def cycles(client: Any, name: str, path: Path, n: int, device: str, dtype: str,  # noqa: PLR0917
           nvml: Nvml | None, deadline: float, results: dict[str, Any], checks: Checks,
           max_new_tokens: int) -> None:
    rows: list[dict[str, Any]] = []
    results["cycles"][name] = rows
    generated: dict[str, Any] = {}
    for i in range(n):
        if time.monotonic() > deadline:
            checks.add(f"{name} cycles", False,
                       f"time budget (--budget-s) reached after {i} of {n} cycles")
            break
        row: dict[str, Any] = {"cycle": i}
        t0 = time.perf_counter()
        loaded = wait(client, ("loaded",), client.load(str(path), dtype=dtype, device=device))
        row["wall_load_s"] = time.perf_counter() - t0
        row["load_s"] = loaded["load_s"]
        row["weights_s"] = loaded["weights_s"]
        mem = loaded["memory"]["devices"]
        row["loaded_memory"] = mem
        # The context baseline: the CUDA context before the first load, then what is left
        # after the first unload (the context grows once as kernels and libraries load on
        # first use; a leak would show as growth in every later cycle).
        baseline = (rows[0]["nvml_after_unload_bytes"] if rows
                    else (mem[0]["nvml_baseline_bytes"] if mem else None))
        row["baseline_bytes"] = baseline
        row["context_initial_bytes"] = mem[0].get("nvml_context_initial_bytes") if mem else None
        if i == 0:
            generated["engine_greedy"] = wait(client, ("generated",), client.generate(
                PROMPT, max_new_tokens=max_new_tokens), timeout=600)
            generated["engine_sampled"] = wait(client, ("generated",), client.generate(
                PROMPT, max_new_tokens=max_new_tokens, **SAMPLING), timeout=600)
            for key in ("engine_greedy", "engine_sampled"):
                g = generated[key]
                row[key] = {k: g.get(k) for k in ("tokens", "ttft_s", "tokens_per_s",
                                                  "decode_tokens_per_s", "kv_cache_bytes",
                                                  "kv_cache_bytes_estimate", "stopped")}
        unloaded = wait(client, ("unloaded",), client.unload())
        row["unload_s"] = unloaded["seconds"]
        row["unload_message"] = unloaded["message"]
        row["engine_held_bytes"] = unloaded["held_bytes"]
        row["held_by"] = unloaded["held_by"]
        used = engine_usage_after_unload(nvml, client.pid, baseline if rows else None)
        if not rows and used is not None and baseline is not None:
            row["context_growth_bytes"] = used - baseline
            row["allocator_empty_after_unload"] = all(
                d["allocated_bytes"] == 0 and d["reserved_bytes"] == 0
                for d in unloaded["after"]["devices"])
            checks.add(f"{name} first unload leaves only the CUDA context",
                       row["allocator_empty_after_unload"],
                       f"allocator empty; context grew {(used - baseline) / MIB:.1f} MiB on "
                       f"first use (kernels, cuBLAS)", context_growth_bytes=used - baseline)
            baseline = used
        row["nvml_after_unload_bytes"] = used
        row["above_baseline_bytes"] = (
            (used - baseline) if used is not None and baseline is not None else None)
        rows.append(row)
        above = row["above_baseline_bytes"]
        log(f"{name} cycle {i + 1}/{n}: load {row['load_s']:.2f} s, unload "
            f"{row['unload_s']:.2f} s, above baseline "
            f"{'N/A' if above is None else f'{above / MIB:.1f} MiB'}; {unloaded['message']}")
    if nvml is not None and rows:
        worst = max((r["above_baseline_bytes"] or 0) for r in rows)
        checks.add(f"{name} back to baseline after every unload",
                   all(r["above_baseline_bytes"] is not None
                       and r["above_baseline_bytes"] <= TOLERANCE_BYTES for r in rows),
                   f"{len(rows)} cycles, worst {worst / MIB:.1f} MiB above the context baseline "
                   f"(limit 64 MiB)", worst_above_baseline_bytes=worst)
    if generated:
        results["generation"][name] = {k: {kk: v.get(kk) for kk in (
            "tokens", "ttft_s", "tokens_per_s", "kv_cache_bytes", "output_ids", "text")}
            for k, v in generated.items()}


def plain_generate(name: str, path: Path, device: str, dtype: str, results: dict[str, Any],  # noqa: PLR0917
                   checks: Checks, max_new_tokens: int) -> None:
    arg = json.dumps({"path": str(path), "device": device, "dtype": dtype, "prompt": PROMPT,
                      "max_new_tokens": max_new_tokens, "sampling": SAMPLING})
    log(f"{name}: plain model.generate in a fresh process ...")
    proc = subprocess.run([sys.executable, "-c", PLAIN_GENERATE, arg], capture_output=True,
                          text=True, check=False, env=child_env(), timeout=900)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        checks.add(f"{name} plain generate", False, proc.stderr[-3000:])
        return
    plain = json.loads(line[7:])
    engine = results["generation"].get(name, {})
    for key in ("greedy", "sampled"):
        ours = engine.get(f"engine_{key}", {}).get("output_ids")
        checks.add(f"{name} generation ({key}) equals plain model.generate", ours == plain[key],
                   f"engine {ours[:12] if ours else ours}... plain {plain[key][:12]}...",
                   engine_ids=ours, plain_ids=plain[key])


def hard_unload_check(client: Any, path: Path, device: str, dtype: str, nvml: Nvml | None,  # noqa: PLR0917
                      results: dict[str, Any], checks: Checks) -> None:
    wait(client, ("loaded",), client.load(str(path), dtype=dtype, device=device))
    pid = client.pid
    before = nvml.process_used(pid) if nvml else None
    t0 = time.perf_counter()
    info = client.hard_unload(grace_s=5.0)
    gone_s = time.perf_counter() - t0
    used = nvml.process_used(pid) if nvml else None
    deadline = time.monotonic() + 10
    while nvml is not None and used and time.monotonic() < deadline:
        time.sleep(0.1)
        used = nvml.process_used(pid)
    alive = True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        alive = False
    results["hard_unload"] = {"nvml_before_bytes": before, "nvml_after_bytes": used,
                              "seconds": gone_s, "exit": dict(info) if info is not None else None}
    checks.add("hard unload: process gone and its VRAM back to 0",
               not alive and (used == 0 if nvml else True),
               f"held {before} bytes before; after: {used} bytes in {gone_s:.2f} s; "
               f"exit {info.get('signal') if info else None}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/autoglm-check"))
    parser.add_argument("--device", default=None,
                        help="default cuda:0 (cpu with --small; --small --device cuda:0 is a "
                             "one-minute GPU smoke run)")
    parser.add_argument("--cycles", type=int, default=20, help="load/unload cycles, 8B")
    parser.add_argument("--cycles-9b", type=int, default=8, help="load/unload cycles, 9B")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--budget-s", type=float, default=390.0,
                        help="stop starting new cycles after this many seconds")
    parser.add_argument("--small", action="store_true",
                        help="tiny shapes on the CPU: a dry run of the whole flow")
    parser.add_argument("--clean", action="store_true", help="remove the models at the end")
    args = parser.parse_args()
    t_start = time.monotonic()
    deadline = t_start + args.budget_s
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("AUTOGLM_CONSOLE_LOG_DIR", str(out / "logs"))
    os.environ.setdefault("AUTOGLM_CONSOLE_CACHE_DIR", str(args.workdir / "console-cache"))
    device = args.device or ("cpu" if args.small else "cuda:0")
    dtype = "fp32" if args.small else "bf16"
    plain_dtype = "float32" if args.small else "bfloat16"
    shapes = SMALL_SHAPES if args.small else SHAPES
    checks = Checks()
    results: dict[str, Any] = {"device": device, "small": args.small, "cycles": {},
                               "generation": {}, "tolerance_bytes": TOLERANCE_BYTES}
    nvml: Nvml | None = None
    if device.startswith("cuda"):
        index = int(device.split(":")[1]) if ":" in device else 0
        nvml = checks.run("nvml", Nvml, index)
        if nvml is not None:
            results["device_used_at_start_bytes"] = nvml.device_used()

    from console.engines.local import EngineClient

    paths: dict[str, Path] = {}
    for name, spec in shapes.items():
        folder = f"{name}-small" if args.small else name  # never mix tiny and real shapes
        built = checks.run(f"build {name}", build_model, name, spec, args.workdir / folder,
                           device, args.small, results, checks)
        if built is not None:
            paths[name] = built
    log(f"models ready after {time.monotonic() - t_start:.0f} s")

    client = EngineClient(env=child_env())
    client.start()
    hello = client.wait_for("hello", timeout=300)
    results["hello"] = dict(hello)
    counts = {"llama-8b": args.cycles, "glm4-9b": args.cycles_9b}
    # Split the remaining time so the 9B gets its turn even when the 8B is slow.
    for j, (name, path) in enumerate(paths.items()):
        left = deadline - time.monotonic()
        share = left * (0.55 if j == 0 and len(paths) > 1 else 1.0)
        if not client.alive:
            client.restart()
            client.wait_for("hello", timeout=300)
        checks.run(f"{name} cycles", cycles, client, name, path, counts[name], device, dtype,
                   nvml, time.monotonic() + share, results, checks, args.max_new_tokens)
    for name, path in paths.items():
        if name in results["generation"]:
            checks.run(f"{name} plain generate", plain_generate, name, path, device,
                       plain_dtype, results, checks, args.max_new_tokens)
    if "llama-8b" in paths:
        if not client.alive:
            client.restart()
            client.wait_for("hello", timeout=300)
        checks.run("hard unload", hard_unload_check, client, paths["llama-8b"], device, dtype,
                   nvml, results, checks)
    client.close()
    results["session_log"] = str(client.log_path)
    results["checks"] = checks.items
    results["elapsed_s"] = time.monotonic() - t_start
    failed = [c["name"] for c in checks.items if not c["ok"]]
    results["ok"] = not failed
    (out / "engine.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    if args.clean:
        shutil.rmtree(args.workdir, ignore_errors=True)
    log(f"done in {results['elapsed_s']:.0f} s: {len(checks.items) - len(failed)} passed, "
        f"{len(failed)} failed{': ' + ', '.join(failed) if failed else ''}")
    log(f"wrote {out / 'engine.json'}; models kept in {args.workdir}"
        if not args.clean else f"wrote {out / 'engine.json'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
