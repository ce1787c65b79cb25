#!/usr/bin/env python3
"""Served engines on this machine: start-to-ready with the start-up timeline, the effect of the
console's polling on the server's throughput, and stop-to-memory-returned time.

    .venv/bin/python benchmarks/serve_engines.py [--engines vllm,transformers] [--blocks 6]
        [--requests 4] [--tokens 32] [--poll 0.5] [--device cpu|cuda] [--model DIR]
        [--vllm-cmd CMD]

Each engine serves the demo model (or --model) once: vLLM from its own venv ($AUTOGLM_VLLM_VENV
or .venv-vllm; that is the CPU build, so on a GPU host give a CUDA vLLM with --vllm-cmd, else
vLLM is skipped there), transformers serve beside this Python (or as
`-m console.worker.tf_serve` where its script is not there). `--device cuda` serves on GPU 0
and the stop table adds the server group's VRAM (NVML, per process) before and after.
Throughput: the same server alternates blocks with the console watching (memory
samples of the tree + NVML, /metrics, every --poll s) and blocks without; sequential streaming
chat requests of --tokens tokens; ratio = watched / unwatched tokens per second (goal >= 0.98).
Stop: from the first signal to every process of the tree gone and its RSS back to 0. Prints
tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path
from statistics import median
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.core.serving import ServeSpec
from console.engines.served import ServedEngine
from console.host import procs
from console.host.telemetry import Telemetry


def vllm_python() -> Path:
    env = os.environ.get("AUTOGLM_VLLM_VENV")
    here = Path(__file__).resolve().parents[1]
    for venv in ([Path(env)] if env else []) + [
        here / ".venv-vllm",
        Path(sys.prefix).parent / ".venv-vllm",
    ]:
        if (venv / "READY").exists():
            return venv / "bin" / "python"
    raise SystemExit("no vLLM venv: run ./dev setup-vllm or set AUTOGLM_VLLM_VENV")


def spec_for(engine: str, model: str, device: str, vllm_cmd: str | None
             ) -> tuple[ServeSpec, dict[str, str]] | None:
    port = procs.free_port()
    if engine == "vllm":
        if vllm_cmd:
            cmd = tuple(shlex.split(vllm_cmd))
        elif device == "cuda":
            print("vllm: skipped on cuda (the .venv-vllm build is vLLM's CPU build); give a "
                  "CUDA vLLM with --vllm-cmd")
            return None
        else:
            cmd = (str(vllm_python()), "-m", "vllm.entrypoints.openai.api_server")
        env = {"HF_HUB_OFFLINE": "1"}
        if device == "cpu":
            env["VLLM_CPU_KVCACHE_SPACE"] = "1"
        return (
            ServeSpec(
                "vllm",
                model,
                port=port,
                engine_cmd=cmd,
                extra_args=("--max-model-len", "512", "--dtype", "bfloat16"),
            ),
            env,
        )
    script = Path(sys.executable).parent / "transformers"
    cmd = (str(script), "serve") if script.exists() else (
        sys.executable, "-m", "console.worker.tf_serve")
    extra = ("--device", "cuda:0" if device == "cuda" else "cpu")
    repo = str(Path(__file__).resolve().parents[1])  # importable by `-m console.worker...`
    path = os.environ.get("PYTHONPATH", "")
    return (ServeSpec("transformers", model, port=port, engine_cmd=cmd, extra_args=extra),
            {"HF_HUB_OFFLINE": "1", "PYTHONPATH": repo + (os.pathsep + path if path else "")})


def throughput(engine: ServedEngine, requests: int, tokens: int) -> float:
    t0 = time.perf_counter()
    done = 0
    for i in range(requests):
        done += engine.chat(f"the quick brown fox {i}", max_tokens=tokens).completion_tokens
    return done / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engines", default="vllm,transformers")
    ap.add_argument("--blocks", type=int, default=12)
    ap.add_argument("--requests", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--poll", type=float, default=0.5)
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--model", default=None, help="model directory (default: the demo model)")
    ap.add_argument("--vllm-cmd", default=None, help="the vLLM command (a CUDA build on a GPU)")
    args = ap.parse_args()
    if args.model:
        model = args.model
    else:
        from console.worker import demo

        model = str(demo.ensure())
    results: list[tuple[Any, ...]] = []
    for name in args.engines.split(","):
        made = spec_for(name, model, args.device, args.vllm_cmd)
        if made is None:
            continue
        spec, env = made
        events: list[dict[str, object]] = []
        engine = ServedEngine(
            spec,
            events.append,
            env=env,
            telemetry=Telemetry(),
            poll_s=args.poll,
            metrics_s=args.poll,
        )
        t0 = time.perf_counter()
        engine.start()
        if not engine.wait_ready(600):
            print(f"{name}: not ready: {engine.failed}")
            engine.stop()
            continue
        ready_s = time.perf_counter() - t0
        print(f"\n{name} on {args.device}: start to ready {ready_s:.1f} s (health OK + one chat "
              "answered)")
        print(f"{'phase':<18}{'t (s)':>8}{'RSS (MiB)':>11}{'VRAM (MiB)':>12}  line")
        for m in engine.timeline.marks:
            rss = f"{m.rss_bytes / 2**20:.0f}" if m.rss_bytes else "-"
            vram = f"{m.vram_bytes / 2**20:.0f}" if m.vram_bytes is not None else "-"
            print(f"{m.phase:<18}{m.t_s:>8.1f}{rss:>11}{vram:>12}  {m.line[:60]}")
        throughput(engine, 2, args.tokens)  # warm-up
        watched: list[float] = []
        bare: list[float] = []
        ratios: list[float] = []
        for block in range(args.blocks):
            # pairs in alternating order (on-off, off-on, ...) so drift cancels
            first_on = block % 2 == 0
            pair = {}
            for on in (first_on, not first_on):
                engine.set_watching(on)
                pair[on] = throughput(engine, args.requests, args.tokens)
            watched.append(pair[True])
            bare.append(pair[False])
            ratios.append(pair[True] / pair[False])
        engine.set_watching(True)
        polls = sum(1 for e in events if e.get("event") in ("memory", "metrics"))
        rss_before = engine.watch.last_memory.rss_bytes if engine.watch.last_memory else 0
        report = engine.stop()
        stopped = next(e for e in reversed(events) if e.get("event") == "stopped")
        results.append(
            (
                name,
                ready_s,
                median(watched),
                median(bare),
                median(ratios),
                report.seconds,
                ",".join(report.signals),
                rss_before,
                stopped["rss_after_bytes"],
                stopped["vram_before_bytes"],
                stopped["vram_after_bytes"],
                polls,
            )
        )
    print("\nthroughput with and without the console watching (median of blocks, tok/s)")
    print(f"{'engine':<14}{'watched':>10}{'unwatched':>11}{'ratio':>8}{'pairs':>7}{'polls':>7}")
    for name, _, w, b, r, *_rest, polls in results:
        print(f"{name:<14}{w:>10.1f}{b:>11.1f}{r:>8.3f}{args.blocks:>7}{polls:>7}")
    print("ratio: median over pairs of (watched / unwatched) tok/s in back-to-back blocks")
    print("\nstop to memory returned")
    print(f"{'engine':<14}{'seconds':>8}{'signals':>10}{'RSS before':>12}{'after':>7}"
          f"{'VRAM before':>13}{'after':>7}")
    for name, _, _, _, _, secs, sigs, before, after, vb, va, _ in results:
        vram = f"{'-':>13}{'-':>7}" if vb is None else f"{vb / 2**20:>11.0f}Mi{va:>7}"
        print(f"{name:<14}{secs:>8.2f}{sigs:>10}{before / 2**20:>10.0f}Mi{after:>7}{vram}")
    return 0


if __name__ == "__main__":
    # server logs, model text and child stderr are printed: made terminal-safe
    from console.core.termsafe import safe_std_streams

    with safe_std_streams():
        sys.exit(main())
