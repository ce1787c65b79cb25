#!/usr/bin/env python3
"""Where the engine's generation loses time against plain `model.generate` (issue 3's
tokens/s target), measured in ONE process on ONE model object, so that machine noise between
processes (decode on the H100 host is bound by its CPU) does not hide a small cost.

    python3 benchmarks/generate_overhead.py                                  # CPU, demo
    python3 benchmarks/generate_overhead.py --device cuda:0 --model /tmp/autoglm-check/llama-8b

A real `Engine` (console/worker/worker.py) is created in this process with its events written
to /dev/null, and loads the model as the engine does (its default loader). Then, in rounds
(the order rotates each round), greedy generations of --tokens tokens (min = max) time:

- plain: `model.generate(**enc, max_new_tokens=n, min_new_tokens=n, do_sample=False)`, the
  peer's call in benchmarks/load_generate.py, on the engine's model;
- one engine ingredient added at a time: +thread (run in a new thread, as the engine's job
  thread did), +thread-2nd (the second of two generations in one new thread), +worker (in one
  long-lived thread, as the engine's job thread now does), +inference (`torch.inference_mode()`),
  +dict (`return_dict_in_generate`),
  +streamer (the engine's `_EventStreamer`: detokenize and emit one event per token),
  +criteria (the engine's stop-flag and guard stopping criteria);
- engine: the engine's own `_generate` (chat template, all of the above, `generated` event),
  in this thread, and engine+thread (through `Engine.handle`, i.e. its long-lived job thread);
- on CUDA, plain-no-cudnn-sdpa and +thread-no-cudnn-sdpa: plain on this thread and on a fresh
  one with cuDNN's SDPA backend off (its graphs are cached per thread and per shape);
- with --stock-model: plain on a second copy loaded by plain `from_pretrained` (does the way
  the weights were allocated matter?).

Prints per variant the median tokens/s, its ratio to plain of the same round (median), and
ms per token. Target (issue 3): the engine >= 0.97x plain. --out writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class Sink:
    """The engine's emit: encodes and writes every event (to /dev/null), keeps the last
    `generated` and `loaded`."""

    def __init__(self) -> None:
        from console.worker.events import EventWriter

        self.writer = EventWriter(open(os.devnull, "wb"))  # noqa: SIM115
        self.last: dict[str, dict[str, Any]] = {}

    def __call__(self, name: str, reply_to: int | None = None, **fields: Any) -> None:
        self.writer(name, reply_to, **fields)
        if name in ("generated", "loaded", "error"):
            self.last[name] = fields


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="demo")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--prompt", default="Explain what a page cache is in one paragraph.")
    parser.add_argument("--stock-model", action="store_true")
    parser.add_argument("--out")
    args = parser.parse_args()

    from console.core import protocol
    from console.worker.generate import _EventStreamer, _StopOnFlag, _StopOnGuard
    from console.worker.worker import Engine

    sink = Sink()
    engine = Engine(sink)
    engine.handle(protocol.make_command(protocol.Load, 1, model=args.model, device=args.device,
                                        dtype=args.dtype))
    engine.wait_jobs()
    if engine.loaded is None:
        print(f"load failed: {sink.last.get('error')}", file=sys.stderr)
        return 1
    loaded = sink.last["loaded"]
    print(f"loaded {args.model} on {args.device} ({loaded.get('loader')}, "
          f"{loaded.get('load_s', 0):.2f} s)", flush=True)
    import torch
    from transformers import StoppingCriteriaList

    model, tok = engine.loaded.model, engine.loaded.tokenizer
    info = engine.loaded.info
    cuda = str(model.device).startswith("cuda")
    enc = tok.apply_chat_template([{"role": "user", "content": args.prompt}],
                                  add_generation_prompt=True, return_tensors="pt",
                                  return_dict=True)
    enc = {k: v.to(model.device) for k, v in enc.items()}
    prompt_tokens = int(enc["input_ids"].shape[-1])
    n = args.tokens
    base = {"max_new_tokens": n, "min_new_tokens": n, "do_sample": False}
    if getattr(model.generation_config, "pad_token_id", None) is None:
        base["pad_token_id"] = tok.pad_token_id if tok.pad_token_id is not None \
            else tok.eos_token_id

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    def timed(fn: Any, on: Any) -> float:
        sync()
        t0 = time.perf_counter()
        rate = fn(on)
        sync()
        return rate if isinstance(rate, float) else n / (time.perf_counter() - t0)

    def in_thread(fn: Any) -> Any:
        def run(on: Any) -> None:
            thread = threading.Thread(target=fn, args=(on,))
            thread.start()
            thread.join()
        return run

    jobs: Any = queue.SimpleQueue()
    finished: Any = queue.SimpleQueue()

    def worker() -> None:
        while True:
            fn, on = jobs.get()
            fn(on)
            finished.put(None)

    threading.Thread(target=worker, daemon=True).start()

    def second_in_new_thread(on: Any) -> float:
        """A new thread generates twice; the rate of its second generation."""
        got: list[float] = []

        def run() -> None:
            plain(on)
            got.append(timed(plain, on))

        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
        return got[0]

    def in_worker(fn: Any) -> Any:
        def run(on: Any) -> None:
            jobs.put((fn, on))
            finished.get()
        return run

    def plain(on: Any) -> None:
        on.generate(**enc, **base)

    def inference(on: Any) -> None:
        with torch.inference_mode():
            on.generate(**enc, **base)

    def as_dict(on: Any) -> None:
        on.generate(**enc, **base, return_dict_in_generate=True)

    def streamer(on: Any) -> None:
        on.generate(**enc, **base, streamer=_EventStreamer(
            sink, 2, tok, info["kv_bytes_per_token"], prompt_tokens))

    def criteria(on: Any) -> None:
        on.generate(**enc, **base, stopping_criteria=StoppingCriteriaList([
            _StopOnFlag(engine.stop_generation),
            _StopOnGuard(engine.guard, str(on.device), info["kv_bytes_per_token"],
                         prompt_tokens)]))

    gen_fields = {"prompt": args.prompt, "max_new_tokens": n, "min_new_tokens": n,
                  "chat": True}

    def engine_here(on: Any) -> None:
        engine._generate(cast("protocol.Generate",
                              protocol.make_command(protocol.Generate, 3, **gen_fields)))

    def engine_job(on: Any) -> None:
        engine.handle(protocol.make_command(protocol.Generate, 4, **gen_fields))
        engine.wait_jobs()

    variants: dict[str, tuple[Any, Any]] = {
        "plain": (plain, model), "+thread": (in_thread(plain), model),
        "+worker": (in_worker(plain), model), "+thread-2nd": (second_in_new_thread, model),
        "+inference": (inference, model), "+dict": (as_dict, model),
        "+streamer": (streamer, model), "+criteria": (criteria, model),
        "engine": (engine_here, model), "engine+thread": (engine_job, model),
    }
    if cuda:
        # cuDNN's SDPA graphs are cached per thread and per shape (aten/src/ATen/native/cudnn/
        # MHA.cpp: thread_local mhagraphcache): a thread's first pass over each KV length
        # builds one. The same variants with the cuDNN backend off say whether that is the
        # per-thread cost.
        from torch.nn.attention import SDPBackend, sdpa_kernel

        def no_cudnn(fn: Any) -> Any:
            def run(on: Any) -> Any:
                with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION,
                                  SDPBackend.MATH]):
                    return fn(on)
            return run

        variants["plain-no-cudnn-sdpa"] = (no_cudnn(plain), model)
        variants["+thread-no-cudnn-sdpa"] = (in_thread(no_cudnn(plain)), model)
    if args.stock_model:
        import transformers

        from console.worker import tinymodels

        path = engine.loaded.info["path"]
        config = transformers.AutoConfig.from_pretrained(path)
        stock = tinymodels.model_class_for(config).from_pretrained(
            path, dtype=model.dtype, device_map=args.device)
        variants["plain-stock-model"] = (plain, stock)

    first = {name: timed(fn, on) for name, (fn, on) in variants.items()}  # warm-up
    print("first call (warm-up, not in the table): "
          + ", ".join(f"{k} {v:.1f}" for k, v in first.items()), flush=True)
    names = list(variants)
    rates: dict[str, list[float]] = {name: [] for name in names}
    ratios: dict[str, list[float]] = {name: [] for name in names}
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        got = {}
        for name in order:
            fn, on = variants[name]
            got[name] = timed(fn, on)
            rates[name].append(got[name])
        for name in names:
            ratios[name].append(got[name] / got["plain"])
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{k} {got[k]:.1f}" for k in names),
              flush=True)
    gen = sink.last.get("generated") or {}
    print(f"\n{args.model} on {args.device}: {n} tokens greedy, prompt {prompt_tokens} tokens, "
          f"{args.rounds} rounds (engine's own figure: {gen.get('tokens_per_s') or 0:.1f} "
          f"tok/s in its last generation)")
    print(f"{'variant':<20}{'tok/s':>8}{'ms/token':>10}{'vs plain':>10}  spread tok/s")
    table = []
    for name in names:
        med = statistics.median(rates[name])
        ratio = statistics.median(ratios[name])
        table.append({"variant": name, "tokens_per_s": med, "ratio": ratio,
                      "rates": rates[name]})
        print(f"{name:<20}{med:>8.2f}{1000 / med:>10.2f}{ratio:>9.3f}x  "
              f"{min(rates[name]):.1f}-{max(rates[name]):.1f}")
    if args.out:
        Path(args.out).write_text(json.dumps({"model": args.model, "device": args.device,
                                              "tokens": n, "rows": table}, indent=1))
    os._exit(0)  # the engine's threads and CUDA teardown are not what is measured


if __name__ == "__main__":
    sys.exit(main())
