#!/usr/bin/env python3
"""Load time, generation speed and unload through the console engine vs plain transformers.

    python3 benchmarks/load_generate.py                       # CPU, the demo model
    python3 benchmarks/load_generate.py --device cuda:0 --model /tmp/autoglm-check/llama-8b

For each run, the peer is a fresh process that does the plain thing (`from_pretrained(path,
dtype=..., device_map=DEVICE)`, then `model.generate`), with CUDA initialised before its clock
starts; the console side is a fresh engine process driven by `EngineClient`, timed by the
engine's own `loaded` event (load_s, and load_s minus CUDA context creation) and by the wall
clock from sending the command to receiving the event. Runs alternate peer / console. Warm
runs read from the page cache; cold runs drop it first (`/proc/sys/vm/drop_caches`, needs
root) or are reported as not possible. Generation compares tokens/s over the same number of
tokens (greedy, min_new_tokens = max_new_tokens) on both sides: each process first makes one
warm-up generation of the same length (its rate is reported apart: on the H100 host each
process's first generation ran at 15-19 tok/s and the later ones at 32-45, on either side),
then times --gens generations, whose median is the run's figure; the table gives the median
over runs and the spread of every timed generation (decode on the H100 is bound by the host
CPU).
Targets: load <= 1.05x the peer, generation >= 0.97x the peer. Prints a table; --out writes
JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PEER = r"""
import json, sys, time, gc
args = json.loads(sys.argv[1])
import torch, transformers
from transformers import AutoConfig, AutoTokenizer
device = args["device"]
if device.startswith("cuda"):
    torch.zeros(1, device=device); torch.cuda.synchronize()   # CUDA initialised first
dtype = "auto" if args["dtype"] == "auto" else getattr(torch, args["dtype"])
config = AutoConfig.from_pretrained(args["path"])
cls = (transformers.AutoModelForImageTextToText if config.model_type == "glm4v"
       else transformers.AutoModelForCausalLM)
def sync():
    if device.startswith("cuda"):
        torch.cuda.synchronize()
t0 = time.perf_counter()
model = cls.from_pretrained(args["path"], dtype=dtype, device_map=device)
sync()
load_s = time.perf_counter() - t0
t1 = time.perf_counter()
tok = AutoTokenizer.from_pretrained(args["path"])
tokenizer_s = time.perf_counter() - t1
out = {"load_s": load_s, "tokenizer_s": tokenizer_s}
if args["generate"]:
    enc = tok.apply_chat_template([{"role": "user", "content": args["prompt"]}],
                                  add_generation_prompt=True, return_tensors="pt",
                                  return_dict=True)
    enc = {k: v.to(model.device) for k, v in enc.items()}
    n = args["max_new_tokens"]
    sync()
    t2 = time.perf_counter()   # the first generation of the process: also the warm-up
    model.generate(**enc, max_new_tokens=n, min_new_tokens=n, do_sample=False)
    sync()
    out["first_rate"] = n / (time.perf_counter() - t2)
    rates = []
    for _ in range(args["gens"]):
        sync()
        t2 = time.perf_counter()
        seq = model.generate(**enc, max_new_tokens=n, min_new_tokens=n, do_sample=False)
        sync()
        gen_s = time.perf_counter() - t2
        tokens = int(seq.shape[-1] - enc["input_ids"].shape[-1])
        rates.append(tokens / gen_s)
        del seq
    rates.sort()
    out.update(gen_tokens=tokens, gen_rates=rates, tokens_per_s=rates[len(rates) // 2])
t3 = time.perf_counter()
del model
gc.collect()
if device.startswith("cuda"):
    torch.cuda.empty_cache()
    out["unload_reserved_after"] = torch.cuda.memory_reserved()
out["unload_s"] = time.perf_counter() - t3
print("RESULT " + json.dumps(out))
"""


def drop_page_cache() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def run_peer(path: str, device: str, dtype: str, generate: bool, prompt: str, n: int,  # noqa: PLR0917
             gens: int) -> dict[str, Any]:
    arg = json.dumps({"path": path, "device": device, "dtype": dtype, "generate": generate,
                      "prompt": prompt, "max_new_tokens": n, "gens": gens})
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-c", PEER, arg], capture_output=True, text=True,
                          env=env, check=False, timeout=1800)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line[7:]))
    raise RuntimeError(f"peer failed (rc {proc.returncode}): {proc.stderr[-2000:]}")


def run_console(model: str, device: str, dtype: str, generate: bool, prompt: str, n: int,  # noqa: PLR0917
                gens: int) -> dict[str, Any]:
    from console.engines.local import EngineClient

    client = EngineClient(session_log=False)
    client.start()
    try:
        hello = client.wait_for("hello", timeout=300)
        if hello["event"] != "hello":
            raise RuntimeError(f"engine did not start: {dict(hello)}")
        t0 = time.perf_counter()
        loaded = client.wait_for(("loaded", "error"), reply_to=client.load(
            model, dtype=dtype, device=device), timeout=1800)
        wall = time.perf_counter() - t0
        if loaded["event"] != "loaded":
            raise RuntimeError(f"console load failed: {loaded.get('message', dict(loaded))}")
        out: dict[str, Any] = {
            "load_s": loaded["load_s"], "weights_s": loaded["weights_s"],
            "context_s": loaded.get("context_s", 0.0), "wall_s": wall,
            "load_no_context_s": loaded["load_s"] - loaded.get("context_s", 0.0),
        }
        if generate:
            warm = client.wait_for(("generated", "error"), reply_to=client.generate(
                prompt, max_new_tokens=n, min_new_tokens=n), timeout=600)
            if warm["event"] != "generated":
                raise RuntimeError(f"console generate failed: {warm.get('message', dict(warm))}")
            rates: list[float] = []
            for _ in range(gens):
                gen = client.wait_for(("generated", "error"), reply_to=client.generate(
                    prompt, max_new_tokens=n, min_new_tokens=n), timeout=1800)
                if gen["event"] != "generated":
                    raise RuntimeError(f"console generate failed: {gen.get('message', dict(gen))}")
                rates.append(gen["tokens_per_s"])
            rates.sort()
            out.update(first_rate=warm["tokens_per_s"], gen_tokens=gen["tokens"], gen_rates=rates,
                       tokens_per_s=rates[len(rates) // 2], ttft_s=gen["ttft_s"],
                       kv_cache_bytes=gen["kv_cache_bytes"])
        unloaded = client.wait_for(("unloaded", "error"), reply_to=client.unload(), timeout=600)
        if unloaded["event"] == "unloaded":
            out.update(unload_s=unloaded["seconds"], unload_held_bytes=unloaded["held_bytes"],
                       unload_freed_bytes=unloaded["freed_bytes"],
                       unload_message=unloaded["message"])
        return out
    finally:
        client.shutdown()


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.3f}x" if a is not None and b else "N/A"


def fmt_s(v: float | None) -> str:
    return f"{v:.3f}" if v is not None else "N/A"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="demo", help="model directory, hub id or 'demo'")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--gens", type=int, default=3,
                        help="timed generations per process (its median is the run's figure)")
    parser.add_argument("--prompt", default="Write a short story about a robot.")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold-cache runs")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    args = parser.parse_args()

    # The peer needs a path: resolve `demo` / a hub id the way the engine does.
    model_path = args.model
    if args.model == "demo":
        from console.worker import demo

        model_path = str(demo.ensure())
    elif not Path(args.model).is_dir():
        from console.core import hfcache

        model_path = str(hfcache.resolve(args.model))
    peer_dtype = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}.get(args.dtype,
                                                                                args.dtype)

    results: dict[str, Any] = {"model": args.model, "path": model_path, "device": args.device,
                               "dtype": args.dtype, "runs": args.runs,
                               "max_new_tokens": args.max_new_tokens, "warm": {}, "cold": {}}
    cold_possible = not args.no_cold and drop_page_cache()
    results["cold_possible"] = cold_possible
    for mode in ("warm", "cold"):
        if mode == "cold" and not cold_possible:
            continue
        peers: list[dict[str, Any]] = []
        consoles: list[dict[str, Any]] = []
        # Warm: one untimed read of the files first, so run 1 is warm too.
        if mode == "warm":
            for f in Path(model_path).glob("*.safetensors"):
                with f.open("rb") as fh:
                    while fh.read(64 << 20):
                        pass
        for i in range(args.runs):
            generate = mode == "warm"
            for side in ("peer", "console") if i % 2 == 0 else ("console", "peer"):
                if mode == "cold":
                    drop_page_cache()
                print(f"[{mode} run {i + 1}/{args.runs}] {side} ...", flush=True)
                if side == "peer":
                    peers.append(run_peer(model_path, args.device, peer_dtype, generate,
                                          args.prompt, args.max_new_tokens, args.gens))
                else:
                    consoles.append(run_console(args.model, args.device, args.dtype, generate,
                                                args.prompt, args.max_new_tokens, args.gens))
        results[mode] = {"peer": peers, "console": consoles}

    rows: list[tuple[str, str, str, str, str]] = []
    targets_met: dict[str, bool] = {}
    for mode in ("warm", "cold"):
        data = results[mode]
        if not data:
            rows.append((f"load ({mode})", "N/A", "N/A", "N/A",
                         "cold: not possible here (drop_caches not writable)"))
            continue
        peer_load = median([r["load_s"] for r in data["peer"]])
        peer_load_tok = median([r["load_s"] + r["tokenizer_s"] for r in data["peer"]])
        c_weights = median([r["weights_s"] for r in data["console"]])
        c_load = median([r["load_no_context_s"] for r in data["console"]])
        c_load_ctx = median([r["load_s"] for r in data["console"]])
        c_wall = median([r["wall_s"] for r in data["console"]])
        rows.append((f"load ({mode}): from_pretrained", fmt_s(c_weights), fmt_s(peer_load),
                     ratio(c_weights, peer_load), "engine's from_pretrained call vs peer's"))
        rows.append((f"load ({mode}): loaded event", fmt_s(c_load), fmt_s(peer_load_tok),
                     ratio(c_load, peer_load_tok),
                     "load_s minus CUDA context vs peer model+tokenizer (target <= 1.05x)"))
        rows.append((f"load ({mode}): incl. context", fmt_s(c_load_ctx), fmt_s(peer_load_tok),
                     ratio(c_load_ctx, peer_load_tok), "load_s as reported (first load makes "
                     "the CUDA context; the peer made it before its clock)"))
        rows.append((f"load ({mode}): command->loaded", fmt_s(c_wall), fmt_s(peer_load_tok),
                     ratio(c_wall, peer_load_tok), "wall clock at the app side"))
        if c_load is not None and peer_load_tok:
            targets_met[f"load_{mode}"] = c_load / peer_load_tok <= 1.05
        if mode == "warm":
            c_tps = median([r["tokens_per_s"] for r in data["console"]])
            p_tps = median([r["tokens_per_s"] for r in data["peer"]])
            rows.append(("generate tokens/s", f"{c_tps:.2f}" if c_tps else "N/A",
                         f"{p_tps:.2f}" if p_tps else "N/A", ratio(c_tps, p_tps),
                         f"{args.max_new_tokens} tokens greedy (target >= 0.97x)"))
            if c_tps and p_tps:
                targets_met["generate"] = c_tps / p_tps >= 0.97
            c_all = [x for r in data["console"] for x in r.get("gen_rates", [])]
            p_all = [x for r in data["peer"] for x in r.get("gen_rates", [])]
            if c_all and p_all:
                rows.append(("  every generation, min-max", f"{min(c_all):.2f}-{max(c_all):.2f}",
                             f"{min(p_all):.2f}-{max(p_all):.2f}", "",
                             f"{len(c_all)} / {len(p_all)} generations"))
            c_first = median([r["first_rate"] for r in data["console"] if "first_rate" in r])
            p_first = median([r["first_rate"] for r in data["peer"] if "first_rate" in r])
            if c_first and p_first:
                rows.append(("  first generation tokens/s", f"{c_first:.2f}", f"{p_first:.2f}",
                             ratio(c_first, p_first), "each process's first (the warm-up)"))
            ttft = median([r["ttft_s"] for r in data["console"]])
            rows.append(("console TTFT s", fmt_s(ttft), "", "", ""))
            c_unload = median([r["unload_s"] for r in data["console"] if "unload_s" in r])
            p_unload = median([r["unload_s"] for r in data["peer"]])
            held = [r.get("unload_held_bytes") for r in data["console"]]
            rows.append(("unload s (memory back)", fmt_s(c_unload), fmt_s(p_unload),
                         ratio(c_unload, p_unload),
                         f"console held after unload (bytes): {held}"))
    results["targets_met"] = targets_met

    print()
    print(f"model {args.model} ({model_path}) on {args.device}, dtype {args.dtype}, "
          f"median of {args.runs} runs")
    header = ("measure", "console", "plain", "ratio", "note")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    for r in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r[:4], widths, strict=False)) + "  " + r[4])
    print(f"targets met: {targets_met}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
