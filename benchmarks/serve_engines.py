#!/usr/bin/env python3
"""Served engines on this machine: start-to-ready with the start-up timeline, the effect of the
console's polling on the server's throughput, and stop-to-memory-returned time.

    .venv/bin/python benchmarks/serve_engines.py [--engines vllm,transformers] [--blocks 6]
        [--requests 4] [--tokens 32] [--poll 0.5]

Each engine serves the demo model once (vLLM from its own venv, $AUTOGLM_VLLM_VENV or
.venv-vllm). Throughput: the same server alternates blocks with the console watching (memory
samples of the tree + NVML, /metrics, every --poll s) and blocks without; sequential streaming
chat requests of --tokens tokens; ratio = watched / unwatched tokens per second (goal >= 0.98).
Stop: from the first signal to every process of the tree gone and its RSS back to 0. Prints
tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from statistics import median

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


def spec_for(engine: str, model: str) -> tuple[ServeSpec, dict[str, str]]:
    port = procs.free_port()
    if engine == "vllm":
        cmd = (str(vllm_python()), "-m", "vllm.entrypoints.openai.api_server")
        return (
            ServeSpec(
                "vllm",
                model,
                port=port,
                engine_cmd=cmd,
                extra_args=("--max-model-len", "512", "--dtype", "bfloat16"),
            ),
            {"VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"},
        )
    cmd = (str(Path(sys.executable).parent / "transformers"), "serve")
    return ServeSpec("transformers", model, port=port, engine_cmd=cmd), {"HF_HUB_OFFLINE": "1"}


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
    args = ap.parse_args()
    from console.worker import demo

    model = str(demo.ensure())
    results = []
    for name in args.engines.split(","):
        spec, env = spec_for(name, model)
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
        print(f"\n{name}: start to ready {ready_s:.1f} s (health OK + one chat answered)")
        print(f"{'phase':<18}{'t (s)':>8}{'RSS (MiB)':>11}  line")
        for m in engine.timeline.marks:
            rss = f"{m.rss_bytes / 2**20:.0f}" if m.rss_bytes else "-"
            print(f"{m.phase:<18}{m.t_s:>8.1f}{rss:>11}  {m.line[:70]}")
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
                polls,
            )
        )
    print("\nthroughput with and without the console watching (median of blocks, tok/s)")
    print(f"{'engine':<14}{'watched':>10}{'unwatched':>11}{'ratio':>8}{'pairs':>7}{'polls':>7}")
    for name, _, w, b, r, *_rest, polls in results:
        print(f"{name:<14}{w:>10.1f}{b:>11.1f}{r:>8.3f}{args.blocks:>7}{polls:>7}")
    print("ratio: median over pairs of (watched / unwatched) tok/s in back-to-back blocks")
    print("\nstop to memory returned")
    print(f"{'engine':<14}{'seconds':>8}{'signals':>10}{'RSS before':>12}{'after':>7}")
    for name, _, _, _, _, secs, sigs, before, after, _ in results:
        print(f"{name:<14}{secs:>8.2f}{sigs:>10}{before / 2**20:>10.0f}Mi{after:>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
