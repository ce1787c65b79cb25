#!/usr/bin/env python3
"""GPU check for the diagnosis: real GPU failures, triggered here, get the right root cause.

    python3 gpu/check_diagnose.py --out DIR

On a CPU-only machine the corpus has logs synthesized from torch's message formats for the
failures that need a GPU; here they are triggered for real, each in its own child process
(a device-side assert spoils the CUDA context for the rest of a process), and the captured
output is diagnosed with what the console would know (NVML's process list, the phase):

1. oom_other_process: a "hog" child holds most of the GPU; a second child's allocation fails.
   Expect cuda_oom whose title says another process holds the memory and whose explanation
   names the hog's pid (from torch's message, and named from NVML when it is readable).
2. oom_fragmentation: one process splits a large cached segment into 1 GiB pieces, frees every
   other one and fills the rest of the GPU; a 2 GiB request then fails with gigabytes reserved
   but unallocated. Expect cuda_oom, fragmentation, PYTORCH_CUDA_ALLOC_CONF in the fixes.
3. oom_weights_at_load: one allocation larger than the GPU, diagnosed with phase "load" and a
   weights estimate. Expect cuda_oom, "do not fit".
4. invalid_device_ordinal: cuda:7 on a one-GPU host. Expect cuda_unavailable.
5. no_visible_gpu: CUDA_VISIBLE_DEVICES="" then .cuda(). Expect cuda_unavailable.
6. embedding_index_assert: an embedding lookup past its table on the GPU (device-side assert).
   Expect context_too_long.
7. multinomial_nan: sampling from NaN probabilities on the GPU. Expect numeric_overflow.
8. device_mismatch: a CUDA tensor times a CPU tensor. Expect device_mismatch.
9. nccl_rendezvous_timeout: rank 1 of 2 with the NCCL backend and nobody at the address.
   Expect nccl_distributed.
10. The speed benchmark (benchmarks/diagnose_speed.py) on this host, reported, not asserted.

Writes DIR/diagnose.json (per check: the expected and found causes, the verdict text) and
DIR/diagnose_logs/<name>.log (the captured output: real logs to replace the synthesized
fixtures), prints a summary, exits 1 if any check failed. Every check is guarded: a failure is
recorded and the others still run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from console.core.diagnose import Cause, DiagnosisContext, diagnose_text  # noqa: E402

GIB = 1024**3
RESULTS: dict[str, Any] = {"checks": {}, "started": time.time()}


def log(msg: str) -> None:
    print(msg, flush=True)


def child_env(**overrides: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.pop("PYTORCH_CUDA_ALLOC_CONF", None)  # the fragmentation check needs the default allocator
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_child(code: str, timeout_s: float = 180, **env: str | None) -> tuple[int, str, int]:
    """(return code, combined output, pid) of `python3 -c code`."""
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=child_env(**env))
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return proc.returncode, out.decode("utf-8", errors="replace"), proc.pid


def nvml_context(**facts: Any) -> DiagnosisContext:
    """What the console would know now: the telemetry sample (NVML processes included)."""
    try:
        from console.host.telemetry import Telemetry

        telemetry = Telemetry()
        sample = telemetry.sample()
        telemetry.close()
        return DiagnosisContext.from_sample(sample, **facts)
    except Exception as exc:  # no psutil/pynvml/platformdirs here: diagnose without NVML
        log(f"  (no telemetry sample: {type(exc).__name__}: {exc})")
        return DiagnosisContext(**facts)


def record(name: str, text: str, causes: list[Cause], expected: str, *, extra_ok: bool = True,
           detail: str = "") -> None:
    ids = [c.id for c in causes]
    ok = bool(ids) and ids[0] == expected and extra_ok
    RESULTS["checks"][name] = {
        "ok": ok, "expected": expected, "found": ids, "detail": detail,
        "causes": [c.to_dict() for c in causes], "log_lines": text.count("\n"),
    }
    top = causes[0] if causes else None
    log(f"  [{'ok' if ok else 'FAIL'}] {name}: expected {expected}, got {ids[:3]}"
        + (f" -- {top.title}" if top else "") + (f" ({detail})" if detail else ""))


def save_log(out: Path, name: str, text: str) -> None:
    logs = out / "diagnose_logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / f"{name}.log").write_text(text)


def guarded(name: str, fn: Callable[[], None]) -> None:
    log(f"== {name}")
    started = time.monotonic()
    try:
        fn()
    except Exception:
        RESULTS["checks"][name] = {"ok": False, "error": traceback.format_exc()}
        log(f"  [FAIL] {name}: the check itself raised\n{traceback.format_exc()}")
    RESULTS["checks"].setdefault(name, {})["seconds"] = round(time.monotonic() - started, 1)


# -- the checks ------------------------------------------------------------------------------------

def check_oom_other_process(out: Path) -> None:
    hog = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, time, torch
        free, total = torch.cuda.mem_get_info()
        keep = torch.empty(int(free - 10 * 2**30), dtype=torch.uint8, device="cuda")
        print("hog ready", flush=True)
        time.sleep(120)
    """)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=child_env())
    try:
        assert hog.stdout is not None
        line = hog.stdout.readline().decode()
        if "hog ready" not in line:
            raise RuntimeError(f"the hog did not start: {line!r}")
        code = """
            import torch
            print("engine: loading", flush=True)
            weights = torch.empty(16 * 2**30, dtype=torch.uint8, device="cuda")
        """
        rc, text, pid = run_child(code)
        save_log(out, "oom_other_process", text)
        context = nvml_context(engine_pid=pid)
        causes = diagnose_text(text, context)
        top = causes[0] if causes else None
        names_hog = top is not None and str(hog.pid) in top.explanation
        record("oom_other_process", text, causes, "cuda_oom",
               extra_ok=top is not None and "another process" in top.title and names_hog,
               detail=f"hog pid {hog.pid}, rc {rc}; explanation names it: {names_hog}")
    finally:
        hog.kill()
        hog.wait()


def check_oom_fragmentation(out: Path) -> None:
    code = """
        import torch
        free, total = torch.cuda.mem_get_info()
        big = torch.empty(int(free * 0.85), dtype=torch.uint8, device="cuda")
        size = big.numel()
        del big  # cached as one large segment
        pieces = [torch.empty(2**30, dtype=torch.uint8, device="cuda")
                  for _ in range(size // 2**30 - 1)]
        free, _ = torch.cuda.mem_get_info()
        filler = torch.empty(max(0, int(free - 256 * 2**20)), dtype=torch.uint8, device="cuda")
        del pieces[:-1:2]  # 1 GiB holes inside a segment that stays in use (the last piece stays)
        print("reserved", torch.cuda.memory_reserved() / 2**30,
              "allocated", torch.cuda.memory_allocated() / 2**30, flush=True)
        more = torch.empty(2 * 2**30, dtype=torch.uint8, device="cuda")
        print("allocated 2 GiB: no fragmentation OOM on this host", flush=True)
    """
    rc, text, _ = run_child(code)
    save_log(out, "oom_fragmentation", text)
    causes = diagnose_text(text)
    top = causes[0] if causes else None
    fragmented = top is not None and "fragmentation" in top.title
    record("oom_fragmentation", text, causes, "cuda_oom",
           extra_ok=fragmented and any("expandable_segments" in f for f in top.fixes if top),
           detail=f"rc {rc}; verdict: {top.title if top else None}")


def check_oom_weights(out: Path) -> None:
    code = """
        import torch
        total = torch.cuda.get_device_properties(0).total_memory
        print("engine: placing the weights", flush=True)
        weights = torch.empty(int(total * 1.3), dtype=torch.uint8, device="cuda")
    """
    rc, text, pid = run_child(code)
    save_log(out, "oom_weights_at_load", text)
    context = nvml_context(engine_pid=pid, phase="load", weights_bytes=int(100 * GIB))
    causes = diagnose_text(text, context)
    top = causes[0] if causes else None
    record("oom_weights_at_load", text, causes, "cuda_oom",
           extra_ok=top is not None and "do not fit" in top.title, detail=f"rc {rc}")


def simple(name: str, code: str, expected: str, **env: str | None) -> Callable[[Path], None]:
    def check(out: Path) -> None:
        rc, text, _ = run_child(code, **env)
        save_log(out, name, text)
        record(name, text, diagnose_text(text), expected, detail=f"rc {rc}")
    return check


CHECKS: list[tuple[str, Callable[[Path], None]]] = [
    ("oom_other_process", check_oom_other_process),
    ("oom_fragmentation", check_oom_fragmentation),
    ("oom_weights_at_load", check_oom_weights),
    ("invalid_device_ordinal", simple("invalid_device_ordinal", """
        import torch
        model = torch.nn.Linear(8, 8).to("cuda:7")
    """, "cuda_unavailable")),
    ("no_visible_gpu", simple("no_visible_gpu", """
        import torch
        model = torch.nn.Linear(8, 8).cuda()
    """, "cuda_unavailable", CUDA_VISIBLE_DEVICES="")),
    ("embedding_index_assert", simple("embedding_index_assert", """
        import torch
        positions = torch.nn.Embedding(512, 64).cuda()  # a 512-position table
        ids = torch.arange(600, device="cuda").unsqueeze(0)  # 600 positions
        out = positions(ids)
        print(out.sum().item())
    """, "context_too_long")),
    ("multinomial_nan", simple("multinomial_nan", """
        import torch
        logits = torch.randn(1, 32000, device="cuda", dtype=torch.float16) * 60000
        logits[0, 0] = float("inf")
        probs = torch.softmax(logits.float(), dim=-1)
        token = torch.multinomial(probs, num_samples=1)
        print(token.item())
    """, "numeric_overflow")),
    ("device_mismatch", simple("device_mismatch", """
        import torch
        weight = torch.randn(8, 8, device="cuda")
        x = torch.randn(2, 8)
        y = torch.nn.functional.linear(x, weight)
    """, "device_mismatch")),
    ("nccl_rendezvous_timeout", simple("nccl_rendezvous_timeout", """
        import torch, torch.distributed as dist
        from datetime import timedelta
        torch.cuda.set_device(0)
        dist.init_process_group("nccl", init_method="tcp://127.0.0.1:29677", rank=1, world_size=2,
                                timeout=timedelta(seconds=5))
    """, "nccl_distributed")),
]


def run_speed_benchmark(out: Path) -> None:
    log("== speed benchmark (reported, not asserted)")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "diagnose_speed.py"), "--runs",
                           "40"],
                          capture_output=True, text=True, env=child_env(), timeout=300, check=False)
    (out / "diagnose_speed.txt").write_text(proc.stdout + proc.stderr)
    RESULTS["speed"] = proc.stdout
    log(proc.stdout.strip() or proc.stderr.strip()[-2000:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="directory for diagnose.json and the logs")
    parser.add_argument("--only", nargs="*", help="run only these checks")
    parser.add_argument("--no-speed", action="store_true", help="skip the speed benchmark")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, fn in CHECKS:
        if args.only and name not in args.only:
            continue
        guarded(name, lambda fn=fn: fn(out))
    try:
        if not args.no_speed:
            run_speed_benchmark(out)
    except Exception:
        log(f"speed benchmark failed:\n{traceback.format_exc()}")
    RESULTS["finished"] = time.time()
    (out / "diagnose.json").write_text(json.dumps(RESULTS, indent=2))
    failed = [n for n, r in RESULTS["checks"].items() if not r.get("ok")]
    log(f"diagnose: {len(RESULTS['checks']) - len(failed)}/{len(RESULTS['checks'])} checks passed"
        + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
