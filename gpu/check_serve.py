#!/usr/bin/env python3
"""GPU check for a served engine (issue 19): `transformers serve` on the GPU, started and guarded
by the console's own ServedEngine (the code `autoglm-console serve` and the TUI use).

    python3 gpu/check_serve.py --out DIR [--model PATH] [--device cuda:0]

1. Start-up timeline: the phases parsed from the server's log, each with its time and the
   server's RSS and VRAM (NVML, per process of its group) at that moment; ready = /health OK and
   one real chat answered.
2. A guard pause by SIGSTOP during its load: the guard watches the GPU's used memory with a
   pause level of --pause-pct (default 60%) and a resume level 10 points lower (auto-resume on).
   A second process (the "hog") holds its CUDA context ready; when the server's group first holds
   --trigger-gib of VRAM (the weights are arriving), the hog allocates --hog-fraction of the GPU,
   which pushes the GPU over the pause level. Checked: the guard pauses the group (every process
   in state T), the group's VRAM stays flat while paused (sampled every 0.25 s for --hold-s);
   then the hog exits (memory freed, as a user would), the guard resumes the group and the
   server becomes ready.
3. Stop: SIGINT, SIGTERM, SIGKILL after the stated delays; then the group's processes gone, its
   RSS and VRAM back to 0, and the GPU's used memory back to the baseline before the start.

Writes DIR/serve.json, prints the timeline and the checks; exit 1 when a check fails.
On the CPU (`--device cpu`, a dry run) the guard part is skipped: there is no GPU to fill.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from console.core.levels import Levels  # noqa: E402
from console.core.serving import ServeSpec  # noqa: E402
from console.engines.served import ServedEngine  # noqa: E402
from console.engines.supervise import GuardOptions  # noqa: E402
from console.host import procs  # noqa: E402
from console.host.telemetry import Telemetry  # noqa: E402

GIB = 1024**3
MIB = 1024**2
HOG = r"""
import sys, torch
torch.zeros(1, device="cuda")
print("READY", flush=True)
n = int(sys.stdin.readline())
x = torch.empty(n, dtype=torch.uint8, device="cuda")
torch.cuda.synchronize()
print("HELD", flush=True)
sys.stdin.readline()
"""


def log(text: str) -> None:
    print(f"[check_serve {time.strftime('%H:%M:%S')}] {text}", flush=True)


def gpu_used(telemetry: Telemetry) -> tuple[int, int] | None:
    sample = telemetry.sample()
    if not sample.gpus:
        return None
    g = sample.gpus[0]
    if g.memory_used_bytes is None or g.memory_total_bytes is None:
        return None
    return g.memory_used_bytes, g.memory_total_bytes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--model", default="/tmp/autoglm-check/llama-8b")
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--pause-pct", type=float, default=60.0)
    ap.add_argument("--hog-fraction", type=float, default=0.55)
    ap.add_argument("--trigger-gib", type=float, default=1.0)
    ap.add_argument("--hold-s", type=float, default=3.0)
    ap.add_argument("--ready-timeout", type=float, default=400.0)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    model = args.model
    if model == "demo":
        from console.host.demo_model import resolve_demo

        model = str(resolve_demo())
    gpu = args.device.startswith("cuda")
    telemetry = Telemetry()
    before = gpu_used(telemetry) if gpu else None
    result: dict[str, Any] = {"model": model, "device": args.device, "checks": {}}
    if before:
        result["gpu_used_before_bytes"], result["gpu_total_bytes"] = before
    checks: dict[str, dict[str, Any]] = result["checks"]

    def check(name: str, ok: bool, detail: str) -> None:
        checks[name] = {"ok": ok, "detail": detail}
        log(f"{'PASS' if ok else 'FAIL'} {name}: {detail}")

    guard = None
    if gpu:
        pause = args.pause_pct
        guard = GuardOptions(thresholds={"vram": Levels(warn=pause - 15, pause=pause, abort=None,
                                                        resume=pause - 10)},
                             auto_resume=True, during_startup_only=True)
    events: list[dict[str, Any]] = []
    got = threading.Condition()

    def on_event(event: dict[str, Any]) -> None:
        with got:
            events.append(dict(event))
            got.notify_all()

    port = procs.free_port()
    cmd: tuple[str, ...] = (str(Path(sys.executable).parent / "transformers"), "serve")
    if not Path(cmd[0]).exists():
        cmd = (sys.executable, "-m", "transformers.cli.transformers", "serve")
    spec = ServeSpec("transformers", model, port=port, engine_cmd=cmd,
                     extra_args=("--device", args.device))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    engine = ServedEngine(spec, on_event, env=env, telemetry=telemetry, guard_options=guard,
                          poll_s=0.2, metrics_s=2.0)
    result["argv"] = list(engine.argv)
    hog = None
    if gpu:
        hog = subprocess.Popen([sys.executable, "-c", HOG], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
        assert hog.stdout is not None and hog.stdin is not None
        if hog.stdout.readline().strip() != "READY":
            raise SystemExit("the hog process did not start")
    t0 = time.perf_counter()
    engine.start()
    log(f"started: {' '.join(engine.argv)}")
    pause_info: dict[str, Any] = {}
    if gpu and hog is not None and before is not None:
        assert hog.stdin is not None and hog.stdout is not None
        total = before[1]
        trigger = int(args.trigger_gib * GIB)
        deadline = time.monotonic() + args.ready_timeout
        fired = False
        with got:
            while time.monotonic() < deadline and not engine.ready_event.is_set():
                mem = engine.watch.last_memory
                if not fired and mem is not None and (mem.vram_bytes or 0) >= trigger:
                    hog.stdin.write(f"{int(total * args.hog_fraction)}\n")
                    hog.stdin.flush()
                    fired = True
                    pause_info["hog_at_server_vram_bytes"] = mem.vram_bytes
                    pause_info["hog_at_s"] = round(time.perf_counter() - t0, 2)
                    log(f"hog allocating {args.hog_fraction:.0%} of the GPU; server holds "
                        f"{(mem.vram_bytes or 0) / GIB:.1f} GiB")
                if any(e.get("event") == "paused" for e in events):
                    break
                got.wait(0.05)
        paused = next((e for e in events if e.get("event") == "paused"), None)
        if paused is None:
            check("guard pauses the load", False,
                  "no pause: the load " + ("ended first" if engine.ready_event.is_set()
                                           else "never reached the trigger") +
                  f" (hog fired: {fired})")
        else:
            pause_info["why"] = paused.get("why")
            pause_info["paused_at_s"] = paused.get("t_s")
            samples: list[dict[str, Any]] = []
            end = time.monotonic() + args.hold_s
            while time.monotonic() < end:
                now = engine.watch.memory_now()  # the group's RSS, and VRAM from NVML
                assert now is not None
                samples.append({"vram_bytes": now.vram_bytes, "rss_bytes": now.rss_bytes,
                                "stopped": now.stopped, "pids": len(now.pids)})
                time.sleep(0.25)
            pause_info["samples"] = samples
            vrams = [s["vram_bytes"] or 0 for s in samples]
            all_stopped = all(s["stopped"] == s["pids"] and s["pids"] > 0 for s in samples)
            moved = max(vrams) - min(vrams)
            check("guard pauses the load", all_stopped,
                  f"{paused.get('why')}; {samples[0]['pids']} process(es), stopped (state T) in "
                  f"every sample: {all_stopped}; server VRAM {vrams[0] / GIB:.2f} GiB")
            check("VRAM flat while paused", moved <= 64 * MIB,
                  f"moved {moved / MIB:.1f} MiB over {args.hold_s:g} s ({len(samples)} samples)")
            hog.stdin.write("\n")  # the user frees memory: the hog exits
            hog.stdin.flush()
            hog.wait(30)
            t_free = time.perf_counter()
            with got:
                while not any(e.get("event") == "resumed" for e in events) and \
                        time.perf_counter() - t_free < 30:
                    got.wait(0.1)
            resumed = next((e for e in events if e.get("event") == "resumed"), None)
            pause_info["resumed_after_free_s"] = (round(time.perf_counter() - t_free, 2)
                                                  if resumed else None)
            check("guard resumes once memory is freed", resumed is not None,
                  f"resumed {pause_info['resumed_after_free_s']} s after the hog exited"
                  if resumed else "no resume within 30 s")
    if hog is not None and hog.poll() is None:
        hog.kill()
        hog.wait()
    ready = engine.wait_ready(args.ready_timeout)
    ready_s = time.perf_counter() - t0
    result["ready_s"] = round(ready_s, 2)
    check("ready (health + one chat answered)", ready,
          f"in {ready_s:.1f} s" if ready else f"not ready: {engine.failed}")
    result["pause"] = pause_info
    result["timeline"] = [m.to_json_dict() for m in engine.timeline.marks]
    print(f"\n{'phase':<18}{'t (s)':>8}{'RSS GiB':>9}{'VRAM GiB':>10}  line")
    for m in engine.timeline.marks:
        rss = f"{m.rss_bytes / GIB:.2f}" if m.rss_bytes else "-"
        vram = f"{m.vram_bytes / GIB:.2f}" if m.vram_bytes is not None else "-"
        print(f"{m.phase:<18}{m.t_s:>8.1f}{rss:>9}{vram:>10}  {m.line[:60]}")
    if ready:
        t1 = time.perf_counter()
        answer = engine.chat("the quick brown fox", max_tokens=32)
        result["chat"] = {**answer.to_json_dict(), "wall_s": round(time.perf_counter() - t1, 3)}
        log(f"chat: {answer.completion_tokens} tokens in {time.perf_counter() - t1:.2f} s")
    held = engine.watch.last_memory
    result["held_before_stop"] = held.to_json_dict() if held else None
    report = engine.stop()
    time.sleep(1.0)
    stopped: dict[str, Any] = next(
        (e for e in reversed(events) if e.get("event") == "stopped"), {})
    result["stop"] = {**report.to_json_dict(), **{k: stopped.get(k) for k in (
        "rss_before_bytes", "rss_after_bytes", "vram_before_bytes", "vram_after_bytes",
        "pids_left")}}
    gone = not stopped.get("pids_left") and not report.leftover_pids
    check("stop: every process gone", gone,
          f"signals {','.join(report.signals)} in {report.seconds:.2f} s; left "
          f"{stopped.get('pids_left')}")
    check("stop: RSS back to 0", stopped.get("rss_after_bytes") == 0,
          f"{(stopped.get('rss_before_bytes') or 0) / GIB:.2f} GiB before, "
          f"{stopped.get('rss_after_bytes')} B after")
    if gpu and before is not None:
        after = gpu_used(telemetry)
        vb, va = stopped.get("vram_before_bytes"), stopped.get("vram_after_bytes")
        back = after is not None and after[0] - before[0] <= 64 * MIB
        result["gpu_used_after_bytes"] = after[0] if after else None
        check("stop: VRAM returned", bool(back) and not va,
              f"group {(vb or 0) / GIB:.2f} GiB before stop, {va} B after; GPU used "
              f"{before[0] / GIB:.2f} GiB before start, "
              f"{(after[0] / GIB) if after else float('nan'):.2f} GiB after stop")
    result["events"] = [e for e in events if e.get("event") not in ("memory", "log", "metrics")]
    (args.out / "serve.json").write_text(json.dumps(result, indent=2, default=str))
    failed = [n for n, c in checks.items() if not c["ok"]]
    print(f"\nserve check: {len(checks) - len(failed)}/{len(checks)} passed"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    # server logs, model text and child stderr are printed: made terminal-safe
    from console.core.termsafe import safe_std_streams

    with safe_std_streams():
        raise SystemExit(main())
