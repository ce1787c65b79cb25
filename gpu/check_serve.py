#!/usr/bin/env python3
"""GPU check for served engines (issue 17), standalone:

    python3 gpu/check_serve.py --out DIR|FILE.json [--model DIR|demo|auto] [--device cuda|cpu]
        [--engine-cmd CMD] [--ready-timeout S] [--hold-s S]

A `transformers serve` started and supervised by the console's own `ServedEngine` (the code
`autoglm-console serve` and the TUI run), on the GPU (`--device cuda`, the default where NVML
sees one) or on the CPU (a dry run of the whole flow here: `--device cpu` with the demo model):

1. baseline: the device's memory used now (NVML on a GPU, host RAM on the CPU), measured here.
2. the start-up guard: a pause level just over the baseline (on a GPU: VRAM used now + half the
   weights' share of the card, at least 0.2 points, so the server's own load crosses it; on the
   CPU: RAM at 1%, which the first sample of the start-up crosses: a dry run). The guard
   SIGSTOPs the server's process group; checked: every
   process of the group in state T, the phase of the start-up timeline it stopped in, and for
   --hold-s seconds the group's CPU time flat (< 0.2 s), its RSS and VRAM (NVML per process)
   flat within 64 MiB, and no ready while paused. Then a forced resume (SIGCONT).
3. ready: `/health` OK and one chat answered; the start-up timeline (each phase with its time,
   RSS and VRAM), one more streamed chat (TTFT, tok/s).
4. stop: SIGINT -> SIGTERM -> SIGKILL after the stated waits; checked: no process of the group
   left, its RSS and per-process VRAM after are 0, and the device's memory back within 256 MiB
   of the baseline (on the CPU: reported, not checked: other jobs share the RAM), with the
   seconds from the first signal until it was.

`--model auto` is the 8B gpu/check_engine.py builds in $WORK (default /tmp/autoglm-check) when
it is there, else the demo model. The engine command defaults to this Python's
`-m console.worker.tf_serve` (transformers serve; it also serves a vision model where
torchvision is missing). Writes the JSON (every figure and check; DIR/serve.json for a
directory); prints a summary; exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.core.levels import Levels
from console.core.serving import ServeSpec
from console.engines.served import ServedEngine, ServedError
from console.engines.supervise import GuardOptions
from console.host import procs
from console.host.config import DEFAULT_LEVELS
from console.host.telemetry import Telemetry

REPO = str(Path(__file__).resolve().parents[1])
MIB = 1024**2
GIB = 1024**3
FLAT_BYTES = 64 * MIB
RETURNED_BYTES = 256 * MIB
FLAT_CPU_S = 0.2


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def resolve_model(name: str) -> Path:
    if name in ("auto", "demo"):
        work = Path(os.environ.get("WORK", "/tmp/autoglm-check"))
        if name == "auto" and (work / "llama-8b" / "config.json").is_file():
            return work / "llama-8b"
        from console.worker import demo  # the engine side: builds the demo with torch

        return demo.ensure()
    path = Path(name).expanduser()
    if not (path / "config.json").is_file():
        raise SystemExit(f"--model: {path} has no config.json; give a model directory")
    return path


def child_env() -> dict[str, str]:
    """The server's environment: offline, and this checkout importable (`-m console...`)."""
    path = os.environ.get("PYTHONPATH", "")
    return {"HF_HUB_OFFLINE": "1", "PYTHONPATH": REPO + (os.pathsep + path if path else "")}


def weights_bytes(model: Path) -> int:
    return sum(f.stat().st_size for f in model.glob("*.safetensors"))


def device_used(telemetry: Telemetry, device: str) -> tuple[int | None, float | None]:
    """(bytes used, % used) of GPU 0 (NVML, every process) or of host RAM."""
    sample = telemetry.sample()
    if device == "cuda":
        gpu = sample.gpus[0] if sample.gpus else None
        if gpu is None or gpu.memory_used_bytes is None or not gpu.memory_total_bytes:
            return None, None
        return gpu.memory_used_bytes, 100.0 * gpu.memory_used_bytes / gpu.memory_total_bytes
    host = sample.host
    if host.ram_total_bytes is None or host.ram_available_bytes is None:
        return None, None
    used = host.ram_total_bytes - host.ram_available_bytes
    return used, 100.0 * used / host.ram_total_bytes


def guard_levels(device: str, used_pct: float, model: Path, telemetry: Telemetry
                 ) -> tuple[str, Levels]:
    if device == "cuda":
        total = telemetry.sample().gpus[0].memory_total_bytes or 1
        pause = round(used_pct + max(50.0 * weights_bytes(model) / total, 0.2), 3)
        resource = "vram"
    else:
        # Host RAM moves by hundreds of MiB with other jobs: a level this machine is always
        # over, so the first sample of the start-up pauses it (the dry run of the flow).
        pause = 1.0
        resource = "ram"
    return resource, Levels(warn=pause - 0.05, pause=pause, abort=None,
                            resume=max(pause - 0.1, 0.01))


def group_cpu_s(pids: list[int]) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
        except psutil.Error:
            continue
    return total


def states(pids: list[int]) -> list[str]:
    import psutil

    out = []
    for pid in pids:
        try:
            out.append(psutil.Process(pid).status())
        except psutil.Error:
            continue
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="a directory (serve.json in it) or a .json file")
    ap.add_argument("--model", default="auto", help="model directory, 'demo' or 'auto'")
    ap.add_argument("--device", choices=("cuda", "cpu"), default=None,
                    help="default: cuda where NVML sees a GPU, else cpu")
    ap.add_argument("--engine-cmd", default=None,
                    help="the transformers serve command (default: this Python's "
                         "-m console.worker.tf_serve)")
    ap.add_argument("--ready-timeout", type=float, default=600.0)
    ap.add_argument("--hold-s", type=float, default=3.0, help="seconds held paused (checked)")
    ap.add_argument("--poll", type=float, default=0.2, help="the watch's sampling interval")
    args = ap.parse_args()

    out = Path(args.out)
    if out.suffix != ".json":
        out.mkdir(parents=True, exist_ok=True)
        out = out / "serve.json"
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
    telemetry = Telemetry()  # the watch's (the guard judges its samples)
    probe = Telemetry()  # this script's own readings of the device, independent of the watch
    device = args.device or ("cuda" if probe.sample().gpus else "cpu")
    model = resolve_model(args.model)
    engine_cmd = tuple(shlex.split(args.engine_cmd)) if args.engine_cmd else (
        sys.executable, "-m", "console.worker.tf_serve")
    result: dict[str, Any] = {
        "device": device, "model": str(model), "weights_bytes": weights_bytes(model),
        "engine_cmd": list(engine_cmd), "checks": {}, "errors": [],
    }
    checks: dict[str, bool] = result["checks"]

    def check(name: str, ok: bool, detail: Any = None) -> None:
        checks[name] = bool(ok)
        log(f"{'PASS' if ok else 'FAIL'} {name}" + (f": {detail}" if detail is not None else ""))

    base_bytes, base_pct = device_used(probe, device)
    if base_bytes is None or base_pct is None:
        raise SystemExit(f"no memory reading for {device} (NVML or psutil)")
    result["baseline"] = {"used_bytes": base_bytes, "used_pct": round(base_pct, 3)}
    resource, levels = guard_levels(device, base_pct, model, probe)
    thresholds = dict(DEFAULT_LEVELS)
    thresholds[resource] = levels
    result["guard"] = {"resource": resource, "pause": levels.pause, "resume": levels.resume}
    log(f"{device}: baseline {base_bytes / GIB:.2f} GiB ({base_pct:.2f}%); {resource} pause "
        f"level {levels.pause:.2f}%; model {model} ({weights_bytes(model) / GIB:.2f} GiB)")

    events: list[dict[str, Any]] = []
    paused_seen = threading.Event()

    def on_event(event: dict[str, Any]) -> None:
        events.append(event)
        if event.get("event") == "paused":
            paused_seen.set()

    extra = ("--device", "cuda:0" if device == "cuda" else "cpu")
    spec = ServeSpec("transformers", str(model), port=procs.free_port(), engine_cmd=engine_cmd,
                     extra_args=extra)
    engine = ServedEngine(
        spec, on_event, env=child_env(), telemetry=telemetry, poll_s=args.poll,
        metrics_s=1.0, guard_options=GuardOptions(thresholds, auto_resume=False,
                                                  during_startup_only=True))
    t_start = time.monotonic()
    try:
        engine.start()
    except ServedError as exc:
        raise SystemExit(f"cannot start: {exc}") from None
    try:
        # 2. the guard's pause during start-up
        deadline = time.monotonic() + min(args.ready_timeout, 300.0)
        while not paused_seen.wait(0.1) and time.monotonic() < deadline:
            if engine.ready_event.is_set() or not engine.watch.running:
                break
        if not paused_seen.is_set():
            check("guard_paused", False, "no pause: the load never crossed the pause level")
        else:
            paused = next(e for e in events if e.get("event") == "paused")
            group = engine.watch.group
            assert group is not None
            members = group.members()
            first = states(members)
            mem0 = engine.watch.memory_now()
            cpu0 = group_cpu_s(members)
            time.sleep(args.hold_s)
            mem1 = engine.watch.memory_now()
            cpu1 = group_cpu_s(members)
            assert mem0 is not None and mem1 is not None
            vram_delta = None if mem0.vram_bytes is None or mem1.vram_bytes is None \
                else abs(mem1.vram_bytes - mem0.vram_bytes)
            result["paused"] = {
                "t_s": paused.get("t_s"), "why": paused.get("why"),
                "phase": engine.timeline.phase,
                "phases_before": [m.phase for m in engine.timeline.marks],
                "states": first, "holds_rss_bytes": paused.get("holds_rss_bytes"),
                "holds_vram_bytes": paused.get("holds_vram_bytes"),
                "cpu_while_paused_s": round(cpu1 - cpu0, 3),
                "rss_delta_bytes": abs(mem1.rss_bytes - mem0.rss_bytes),
                "vram_delta_bytes": vram_delta,
                "ready_while_paused": engine.ready_event.is_set(),
            }
            check("guard_paused", not paused.get("by_user"), paused.get("why"))
            check("group_stopped", bool(first) and set(first) == {"stopped"}, first)
            check("paused_before_ready", not result["paused"]["ready_while_paused"],
                  f"phase {engine.timeline.phase}")
            check("cpu_flat_while_paused", cpu1 - cpu0 < FLAT_CPU_S, f"{cpu1 - cpu0:.3f} s")
            check("rss_flat_while_paused", abs(mem1.rss_bytes - mem0.rss_bytes) <= FLAT_BYTES,
                  f"{abs(mem1.rss_bytes - mem0.rss_bytes) / MIB:.1f} MiB")
            if device == "cuda":
                check("vram_flat_while_paused", vram_delta is not None
                      and vram_delta <= FLAT_BYTES,
                      None if vram_delta is None else f"{vram_delta / MIB:.1f} MiB")
            refused = engine.resume(force=False)
            result["resume_refused"] = refused
            why = engine.resume(force=True) if refused else None
            check("resumed", why is None and "stopped" not in states(members), why)
        # 3. ready, the timeline, one chat
        ready = engine.wait_ready(max(args.ready_timeout - (time.monotonic() - t_start), 1.0))
        result["ready_s"] = engine.ready_s
        result["timeline"] = [m.to_json_dict() for m in engine.timeline.marks]
        check("ready", ready, engine.failed or f"{engine.ready_s or 0:.1f} s")
        if ready:
            reply = engine.chat("the quick brown fox", max_tokens=16)
            result["chat"] = reply.to_json_dict()
            check("chat", reply.completion_tokens >= 1,
                  f"TTFT {reply.ttft_s}, {reply.tokens_per_s} tok/s")
            mem = engine.watch.last_memory
            result["serving_memory"] = None if mem is None else mem.to_json_dict()
    except Exception as exc:  # every figure so far is still written
        result["errors"].append(f"{type(exc).__name__}: {exc}")
        check("no_exception", False, exc)
    finally:
        # 4. stop and the memory returned
        t_stop = time.monotonic()
        report = engine.stop() if engine.watch.running else None
        stopped = next((e for e in reversed(events) if e.get("event") == "stopped"), None)
        returned_s = None
        after_bytes: int | None = None
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline:
            after_bytes, _ = device_used(probe, device)
            if after_bytes is not None and after_bytes <= base_bytes + RETURNED_BYTES:
                returned_s = time.monotonic() - t_stop
                break
            time.sleep(0.1)
        result["stop"] = {
            **(report.to_json_dict() if report is not None else {"signals": []}),
            **({k: stopped[k] for k in ("rss_before_bytes", "rss_after_bytes",
                                         "vram_before_bytes", "vram_after_bytes", "pids_left")}
               if stopped else {}),
            "device_used_after_bytes": after_bytes,
            "device_returned_s": None if returned_s is None else round(returned_s, 3),
        }
        engine.watch.wait(10)
        telemetry.close()
        probe.close()
    if stopped is not None:
        check("no_process_left", not stopped["pids_left"], stopped["pids_left"])
        check("rss_returned", stopped["rss_after_bytes"] == 0,
              f"{stopped['rss_before_bytes'] / MIB:.0f} -> {stopped['rss_after_bytes']} B")
        if device == "cuda":
            check("vram_per_process_returned", stopped["vram_after_bytes"] == 0,
                  f"{(stopped['vram_before_bytes'] or 0) / MIB:.0f} MiB -> "
                  f"{stopped['vram_after_bytes']}")
    else:
        check("stopped", False, "no stop event")
    if device == "cuda":
        check("device_memory_returned", returned_s is not None,
              f"{returned_s:.2f} s after the first signal" if returned_s is not None
              else f"used {after_bytes} vs baseline {base_bytes}")
    result["ok"] = all(checks.values())
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    log("timeline: " + ", ".join(f"{m['phase']} {m['t_s']:.1f}s"
                                   for m in result.get("timeline", [])))
    log(f"{'OK' if result['ok'] else 'FAILED'}: {sum(checks.values())}/{len(checks)} checks; "
        f"wrote {out}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
