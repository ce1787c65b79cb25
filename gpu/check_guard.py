#!/usr/bin/env python3
"""GPU check for the load guard (issue 4), standalone:

    python3 gpu/check_guard.py --out DIR                        # on the H100 host, ~2-4 min
    python3 gpu/check_guard.py --out DIR --small --device cpu   # tiny shapes on the CPU: a dry
                                                                # run of the whole flow

Uses the Llama-3-8B-shaped bf16 model gpu/check_engine.py builds in --workdir (builds it on the
GPU when it is not there). Memory is read from THIS process (NVML for the device and for the
engine's pid), independently of the engine's own figures.

1. warm-up: a guarded load with the default thresholds (creates the engine's CUDA context,
   warms the page cache), fingerprint, unload.
2. pause at about half, for the fast loader (auto) and for transformers' own path (stock): the
   VRAM pause level is set to (NVML used now + half the weights' bytes) as a % of the total.
   The load pauses; the engine's NVML usage stays flat (within 64 MiB) for 10 s; the pause came
   at the first check over the level (the tensor at the crossing vs the tensor at the pause);
   then the threshold is raised live, resume, the load completes, and the model's fingerprint
   (sha256 of a few tensors incl. the one it paused before, the rotary buffer, and the logits
   on a fixed input) equals a plain `from_pretrained` in a separate process.
3. abort at about half: the engine's NVML usage returns to its pre-load level within 64 MiB,
   its state is idle.
4. another process grabs 40 GiB mid-load (the pause level is set so that the load alone stays
   8 GiB under it): the pause fires; reaction: the last check that passed came before the grab
   finished (so at most one tensor was placed after the crossing), and the why-text names the
   grabbing pid. The helper frees its memory: the load auto-resumes and completes, and matches.
Writes DIR/guard.json (every figure and check), DIR/logs/ (session logs); prints a summary;
exits 1 if any check failed. Each step is caught and reported on its own.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import check_engine as ce  # gpu/check_engine.py: build, NVML, checks, env

MIB = 1024**2
GIB = 1024**3
FLAT_TOLERANCE_BYTES = 64 * MIB
BASELINE_TOLERANCE_BYTES = 64 * MIB
INPUT_IDS = list(range(10, 42))
log = ce.log

PLAIN_FINGERPRINT = r"""
import json, sys
args = json.loads(sys.argv[1])
import torch, transformers
from transformers import AutoConfig
from console.worker.parity import fingerprint
config = AutoConfig.from_pretrained(args["path"])
cls = (transformers.AutoModelForImageTextToText if config.model_type == "glm4v"
       else transformers.AutoModelForCausalLM)
model = cls.from_pretrained(args["path"], dtype=getattr(torch, args["dtype"]),
                            device_map=args["device"])
model.eval()
print("RESULT " + json.dumps(fingerprint(model, args["names"], args["input_ids"])))
"""

# A second process that grabs memory on command (stdin: "GRAB <bytes>", "FREE", "EXIT").
GRABBER = r"""
import json, sys, time
import torch
device = sys.argv[1]
if device.startswith("cuda"):
    torch.zeros(1, device=device)
    torch.cuda.synchronize()
print("READY", flush=True)
held = None
for line in sys.stdin:
    cmd = line.split()
    if not cmd:
        continue
    if cmd[0] == "GRAB":
        t0 = time.time()
        if device.startswith("cuda"):
            held = torch.empty(int(cmd[1]), dtype=torch.uint8, device=device)
            torch.cuda.synchronize()
        else:
            held = torch.ones(int(cmd[1]), dtype=torch.uint8)  # touched: resident
        t1 = time.time()
        print("GRABBED " + json.dumps({"t0": t0, "t1": t1}), flush=True)
    elif cmd[0] == "FREE":
        held = None
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
            torch.cuda.synchronize()
        print("FREED " + json.dumps({"t": time.time()}), flush=True)
    elif cmd[0] == "EXIT":
        break
"""


class Memory:
    """The guarded resource as this process reads it: VRAM (NVML) on a GPU, host RAM (psutil,
    used = total - available) on the CPU; and the engine's own usage (NVML per-process / RSS)."""

    def __init__(self, device: str) -> None:
        self.gpu = device.startswith("cuda")
        self.resource = "vram" if self.gpu else "ram"
        self.nvml = ce.Nvml(int(device.split(":")[1]) if ":" in device else 0) if self.gpu \
            else None

    def used_total(self) -> tuple[int, int]:
        if self.nvml is not None:
            info = self.nvml.nv.nvmlDeviceGetMemoryInfo(self.nvml.handle)
            return int(info.used), int(info.total)
        import psutil

        vm = psutil.virtual_memory()
        return int(vm.total - vm.available), int(vm.total)

    def engine_bytes(self, pid: int) -> int | None:
        if self.nvml is not None:
            return self.nvml.process_used(pid)
        import psutil

        return int(psutil.Process(pid).memory_info().rss)


def header_tensors(path: Path) -> list[tuple[str, list[int]]]:
    """(name, shape) of every tensor in the model's safetensors headers."""
    out: list[tuple[str, list[int]]] = []
    for f in sorted(path.glob("*.safetensors")):
        with f.open("rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(n))
        out.extend((k, v["shape"]) for k, v in header.items() if k != "__metadata__")
    return out


def loaded_bytes(path: Path, itemsize: int = 2) -> int:
    """Bytes of the weights once loaded in bf16."""
    total = 0
    for _, shape in header_tensors(path):
        numel = 1
        for d in shape:
            numel *= d
        total += numel * itemsize
    return total


def take(client: Any, names: tuple[str, ...], reply_to: int | None, seen: list[dict[str, Any]],
         timeout: float = 300) -> dict[str, Any]:
    """The next of `names` (or error / exited) answering reply_to; everything seen recorded."""
    return client.wait_for((*names, "error"), reply_to=reply_to, timeout=timeout, seen=seen)


def must(msg: dict[str, Any], name: str) -> dict[str, Any]:
    if msg.get("event") != name:
        raise RuntimeError(f"expected {name}, got {msg.get('event')}: {msg.get('error_type')} "
                           f"{msg.get('message') or msg.get('signal') or ''}"
                           f"\n{str(msg.get('traceback', ''))[-2000:]}")
    return msg


def fingerprint(client: Any, names: list[str]) -> dict[str, Any]:
    return dict(must(client.wait_for(("fingerprint", "error"), reply_to=client.fingerprint(
        tensors=names, input_ids=INPUT_IDS), timeout=300), "fingerprint"))


def unload(client: Any) -> dict[str, Any]:
    return must(client.wait_for(("unloaded", "error"), reply_to=client.unload(), timeout=120),
                "unloaded")


def reset(client: Any) -> None:
    """After a failed step: abort whatever runs, unload; restart the engine if that fails."""
    try:
        if client.alive and client.state == "loading":
            with contextlib.suppress(Exception):
                client.abort()
            deadline = time.monotonic() + 60
            while client.state == "loading" and time.monotonic() < deadline:
                time.sleep(0.2)
        if client.alive and client.state == "loaded":
            unload(client)
        if client.alive and client.state in ("idle", "error"):
            return
    except Exception as exc:
        log(f"reset: {type(exc).__name__}: {exc}")
    log("reset: restarting the engine")
    client.restart()
    client.wait_for("hello", timeout=300)


def flat_while_paused(client: Any, mem: Memory, load_id: int, seconds: float,
                      paused: dict[str, Any]) -> dict[str, Any]:
    """Engine usage and device usage every 0.1 s for `seconds`; progress events meanwhile."""
    engine_samples: list[int] = []
    device_samples: list[int] = []
    moved = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        engine = mem.engine_bytes(client.pid)
        if engine is not None:
            engine_samples.append(engine)
        device_samples.append(mem.used_total()[0])
        while not client.messages.empty():
            msg = client.messages.get_nowait()
            if msg.get("event") in ("progress", "loaded") and msg.get("id") == load_id and \
                    msg.get("tensors_done", 0) > paused["tensors_done"]:
                moved += 1
        time.sleep(0.1)
    return {"engine_range_bytes": max(engine_samples) - min(engine_samples)
            if engine_samples else None,
            "device_range_bytes": max(device_samples) - min(device_samples),
            "engine_first_bytes": engine_samples[0] if engine_samples else None,
            "samples": len(engine_samples), "progress_while_paused": moved}


def level_for(mem: Memory, extra_bytes: int) -> tuple[float, int, int]:
    """(pause level % of total, used now, total) for used now + extra_bytes."""
    used, total = mem.used_total()
    return 100.0 * (used + extra_bytes) / total, used, total


def scenario_pause(client: Any, mem: Memory, path: Path, weights: int, loader: str,  # noqa: PLR0917
                   args: Any, results: dict[str, Any], checks: ce.Checks, names: list[str]
                   ) -> None:
    """Pause at about half, flat, raise + resume, complete, fingerprint."""
    key = f"pause_{loader}"
    row: dict[str, Any] = {"loader": loader}
    results[key] = row
    engine_before = mem.engine_bytes(client.pid)
    if mem.gpu:
        level, used0, total = level_for(mem, weights // 2)
    else:  # host RAM moves by more than a tiny model: trip at the first tensor instead
        used0, total = mem.used_total()
        level = max(0.5, 100.0 * used0 / total - 1.0)
    row.update(level_pct=level, used_before_bytes=used0, total_bytes=total,
               engine_before_bytes=engine_before, weights_bytes=weights)
    seen: list[dict[str, Any]] = []
    load_id = client.load(str(path), device=args.device, dtype="bf16", loader=loader,
                          guard={"thresholds": {mem.resource: {"pause": level}}})
    paused = must(take(client, ("paused", "loaded"), load_id, seen), "paused")
    used_at_pause = mem.used_total()[0]
    engine_at_pause = mem.engine_bytes(client.pid)
    row["paused"] = {k: paused.get(k) for k in (
        "resource", "value", "threshold", "previous_value", "why", "tensor", "tensor_bytes",
        "tensor_index", "tensors_total", "tensors_done", "bytes_done", "check_ts",
        "previous_check_ts")}
    row.update(used_at_pause_bytes=used_at_pause, engine_at_pause_bytes=engine_at_pause)
    log(f"{key}: paused at tensor {paused['tensor_index']}/{paused['tensors_total']}: "
        f"{paused['why']}")
    flat = flat_while_paused(client, mem, load_id, args.flat_s, paused)
    row["flat"] = flat
    checks.add(f"{key}: engine usage flat while paused for {args.flat_s:.0f} s",
               flat["engine_range_bytes"] is not None
               and flat["engine_range_bytes"] <= FLAT_TOLERANCE_BYTES
               and flat["progress_while_paused"] == 0,
               f"engine moved {(flat['engine_range_bytes'] or 0) / MIB:.1f} MiB (limit 64), "
               f"device {flat['device_range_bytes'] / MIB:.1f} MiB, "
               f"{flat['progress_while_paused']} tensors placed while paused")
    level_bytes = level / 100.0 * total
    first_over = paused["value"] >= level and (paused["previous_value"] is None
                                              or paused["previous_value"] < level)
    reaction = 0 if used_at_pause < level_bytes else 1  # crossed with the tensor placed last
    row.update(reaction_tensors=reaction, first_check_over=first_over)
    checks.add(f"{key}: paused at the first check over the level (reaction <= 1 tensor)",
               first_over and reaction <= 1,
               f"level {level:.2f}%; previous check {paused['previous_value']}, this check "
               f"{paused['value']:.2f}% (with the next tensor); NVML here at the pause "
               f"{100.0 * used_at_pause / total:.2f}%: crossing at tensor "
               f"{paused['tensor_index'] - reaction}, pause at {paused['tensor_index']}")
    if mem.gpu and engine_before is not None and engine_at_pause is not None:
        frac = (engine_at_pause - engine_before) / weights
        row["fraction_placed"] = frac
        checks.add(f"{key}: paused at about half of the weights", 0.35 <= frac <= 0.65,
                   f"{frac * 100:.0f}% of {weights / GIB:.2f} GiB placed when it paused")
    # Raise the threshold live, then resume.
    must(take(client, ("guard",), client.set_thresholds(
        {mem.resource: {"pause": 99.0}}), seen, timeout=30), "guard")
    client.resume()
    resumed = must(take(client, ("resumed",), load_id, seen, timeout=60), "resumed")
    loaded = must(take(client, ("loaded",), load_id, seen), "loaded")
    row.update(resumed_why=resumed["why"], load_s=loaded["load_s"], loader_used=loaded.get(
        "loader"), tensor_checks=loaded["guard"]["tensor_checks"], guard=loaded["guard"])
    checks.add(f"{key}: resumed after raising the threshold, load completed", True,
               f"{loaded['tensors']} tensors, loader {loaded.get('loader')}, paused "
               f"{resumed.get('paused_s') or 0:.1f} s, load {loaded['load_s']:.1f} s")
    want = [*names, paused["tensor"]]
    results.setdefault("fingerprints", {})[key] = fingerprint(client, want)
    unload(client)


def scenario_abort(client: Any, mem: Memory, path: Path, weights: int, args: Any,  # noqa: PLR0917
                   results: dict[str, Any], checks: ce.Checks) -> None:
    row: dict[str, Any] = {}
    results["abort_half"] = row
    engine_before = mem.engine_bytes(client.pid)
    if mem.gpu:
        level, used0, total = level_for(mem, weights // 2)
    else:
        used0, total = mem.used_total()
        level = max(0.5, 100.0 * used0 / total - 1.0)
    row.update(level_pct=level, engine_before_bytes=engine_before)
    seen: list[dict[str, Any]] = []
    load_id = client.load(str(path), device=args.device, dtype="bf16",
                          guard={"thresholds": {mem.resource: {"pause": level}}})
    paused = must(take(client, ("paused", "loaded"), load_id, seen), "paused")
    engine_at_pause = mem.engine_bytes(client.pid)
    row.update(paused_tensor_index=paused["tensor_index"], engine_at_pause_bytes=engine_at_pause)
    t0 = time.perf_counter()
    client.abort()
    result = take(client, ("loaded",), load_id, seen, timeout=120)
    if result.get("error_type") != "LoadAborted":
        raise RuntimeError(f"expected error LoadAborted, got {dict(result)}")
    state = must(client.wait_for("state", reply_to=load_id, timeout=30), "state")
    after = mem.engine_bytes(client.pid)
    deadline = time.monotonic() + 5
    while (after is not None and engine_before is not None
           and after - engine_before > BASELINE_TOLERANCE_BYTES and time.monotonic() < deadline):
        time.sleep(0.1)
        after = mem.engine_bytes(client.pid)
    unloaded = next((m for m in seen if m.get("event") == "unloaded"), {})
    aborted = next((m for m in seen if m.get("event") == "aborted"), {})
    row.update(engine_after_bytes=after, seconds=time.perf_counter() - t0,
               unloaded_message=unloaded.get("message"), held_by=unloaded.get("held_by"),
               aborted_why=aborted.get("why"), state=state["state"])
    above = (after - engine_before) if after is not None and engine_before is not None else None
    placed = (engine_at_pause - engine_before) if engine_at_pause is not None and \
        engine_before is not None else None
    checks.add("abort at about half: back to the pre-load level within 64 MiB, state idle",
               above is not None and above <= BASELINE_TOLERANCE_BYTES and state["state"] == "idle",
               f"placed {(placed or 0) / GIB:.2f} GiB at the pause; after the abort "
               f"{(above or 0) / MIB:.1f} MiB above the pre-load level; state {state['state']}; "
               f"{unloaded.get('message')}")


def scenario_grab(client: Any, mem: Memory, path: Path, weights: int, args: Any,  # noqa: PLR0917
                  results: dict[str, Any], checks: ce.Checks, names: list[str]) -> None:
    row: dict[str, Any] = {}
    results["grab"] = row
    grab = int(args.grab_gib * GIB)
    helper = subprocess.Popen([sys.executable, "-c", GRABBER, args.device], text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              env=ce.child_env())
    assert helper.stdin is not None and helper.stdout is not None
    try:
        if helper.stdout.readline().strip() != "READY":
            raise RuntimeError("the grabbing helper did not start")
        # The load alone stays `margin` under the level; the load plus the grab crosses it.
        margin = grab // 5
        level, used0, total = level_for(mem, weights + margin)
        level_bytes = int(level / 100.0 * total)
        # Resume half-way between the whole load and the pause level: under it once the
        # helper frees its memory, whatever the part of the load placed by then.
        resume = 100.0 * (used0 + weights + margin // 2) / total
        row.update(level_pct=level, resume_pct=resume, used_before_bytes=used0,
                   grab_bytes=grab, helper_pid=helper.pid)
        # Poll the device from here meanwhile: when did usage first reach the level?
        crossing: dict[str, float] = {}
        stop = threading.Event()

        def poll() -> None:
            while not stop.is_set():
                used = mem.used_total()[0]
                if used >= level_bytes and "ts" not in crossing:
                    crossing["ts"] = time.time()
                    crossing["used"] = used
                time.sleep(0.002)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        seen: list[dict[str, Any]] = []
        load_id = client.load(str(path), device=args.device, dtype="bf16",
                              guard={"thresholds": {mem.resource: {"pause": level,
                                                                   "resume": resume}},
                                     "auto_resume": True})
        while True:
            msg = take(client, ("progress", "paused", "loaded"), load_id, seen)
            if msg["event"] != "progress":
                raise RuntimeError(f"the load ended or paused before the grab: {msg['event']} "
                                   f"{msg.get('why') or msg.get('message') or ''}")
            if msg["tensors_total"] and msg["bytes_done"] >= 0.25 * msg["bytes_total"]:
                break
        helper.stdin.write(f"GRAB {grab}\n")
        helper.stdin.flush()
        line = helper.stdout.readline().strip()
        if not line.startswith("GRABBED "):
            raise RuntimeError(f"the helper failed to grab: {line!r}")
        grabbed = json.loads(line[8:])
        paused = must(take(client, ("paused", "loaded"), load_id, seen), "paused")
        stop.set()
        poller.join(timeout=2)
        row.update(grab_t0=grabbed["t0"], grab_t1=grabbed["t1"], crossing_ts=crossing.get("ts"),
                   paused={k: paused.get(k) for k in (
                       "resource", "value", "threshold", "previous_value", "why",
                       "tensor_index", "tensors_total", "check_ts", "previous_check_ts")})
        log(f"grab: paused at tensor {paused['tensor_index']}: {paused['why']}")
        # The last check that passed must precede the end of the grab (2 ms for the time the
        # check takes to read and stamp): then at most the tensor in flight was placed after
        # the crossing.
        prev = paused["previous_check_ts"] or 0.0
        within_one = paused["check_ts"] >= grabbed["t0"] and prev <= grabbed["t1"] + 0.002
        checks.add("grab: another process's allocation trips the pause within one tensor",
                   paused["resource"] == mem.resource and within_one,
                   f"grab {grabbed['t0']:.3f}-{grabbed['t1']:.3f}, crossing seen here "
                   f"{crossing.get('ts') or 0:.3f}, last passing check {prev:.3f}, pausing "
                   f"check {paused['check_ts']:.3f} "
                   f"({(paused['check_ts'] - grabbed['t1']) * 1000:.1f}"
                   f" ms after the grab)")
        # NVML lists every process on a GPU; host RAM attribution watches the engine only.
        names_pid = f"pid {helper.pid}" in paused["why"]
        checks.add("grab: the why-text names the grabbing process", names_pid or not mem.gpu,
                   paused["why"] + ("" if mem.gpu else " (host RAM: not checked)"))
        helper.stdin.write("FREE\n")
        helper.stdin.flush()
        helper.stdout.readline()
        resumed = must(take(client, ("resumed",), load_id, seen, timeout=60), "resumed")
        loaded = must(take(client, ("loaded",), load_id, seen), "loaded")
        checks.add("grab: auto-resumed once the helper freed its memory, load completed",
                   resumed.get("by_user") is False,
                   f"{resumed['why']}; paused {resumed.get('paused_s') or 0:.1f} s; "
                   f"{loaded['tensors']} tensors")
        results.setdefault("fingerprints", {})["grab"] = fingerprint(client, names)
        unload(client)
    finally:
        with contextlib.suppress(Exception):
            helper.stdin.write("EXIT\n")
            helper.stdin.flush()
        try:
            helper.wait(timeout=10)
        except subprocess.TimeoutExpired:
            helper.kill()


def compare_with_plain(path: Path, args: Any, names: list[str], results: dict[str, Any],
                       checks: ce.Checks) -> None:
    prints = dict(results.get("fingerprints", {}))
    wanted = sorted({n for fp in prints.values() for n in fp["tensors"]} | set(names))
    arg = json.dumps({"path": str(path), "device": args.device, "dtype": "bfloat16",
                      "names": wanted, "input_ids": INPUT_IDS})
    log("plain from_pretrained in a fresh process for the reference fingerprint ...")
    proc = subprocess.run([sys.executable, "-c", PLAIN_FINGERPRINT, arg], capture_output=True,
                          text=True, check=False, env=ce.child_env(), timeout=600)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        checks.add("plain from_pretrained fingerprint", False, proc.stderr[-3000:])
        return
    plain = json.loads(line[7:])
    results.setdefault("fingerprints", {})["plain"] = plain
    for key, fp in prints.items():
        differ = [n for n, v in fp["tensors"].items() if v != plain["tensors"].get(n)]
        same_logits = fp["logits"] is not None and fp["logits"] == plain["logits"]
        checks.add(f"{key}: the model equals a plain from_pretrained",
                   not differ and same_logits and all(v is not None
                                                      for v in fp["tensors"].values()),
                   f"{len(fp['tensors'])} tensors hashed, differ: {differ}; logits "
                   f"{'equal' if same_logits else 'DIFFER'} (sha256 "
                   f"{(fp['logits'] or {}).get('sha256', '')[:12]} vs "
                   f"{plain['logits']['sha256'][:12]})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/autoglm-check"))
    parser.add_argument("--device", default=None, help="default cuda:0 (cpu with --small)")
    parser.add_argument("--small", action="store_true",
                        help="tiny shapes (a dry run of the flow; on the CPU with --device cpu)")
    parser.add_argument("--flat-s", type=float, default=None,
                        help="seconds to watch a paused load (default 10; 2 with --small)")
    parser.add_argument("--grab-gib", type=float, default=None,
                        help="what the helper grabs mid-load (default 40 GiB; 2 with --small)")
    parser.add_argument("--slow-s", type=float, default=None,
                        help="the engine's test-only pause before each tensor, so the grab "
                             "lands mid-load (default 0.01 s; 0.05 with --small)")
    args = parser.parse_args()
    args.device = args.device or ("cpu" if args.small else "cuda:0")
    args.flat_s = args.flat_s if args.flat_s is not None else (2.0 if args.small else 10.0)
    args.grab_gib = args.grab_gib if args.grab_gib is not None else (2.0 if args.small else 40.0)
    slow = args.slow_s if args.slow_s is not None else (0.05 if args.small else 0.01)
    t_start = time.monotonic()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("AUTOGLM_CONSOLE_LOG_DIR", str(out / "logs"))
    os.environ.setdefault("AUTOGLM_CONSOLE_CACHE_DIR", str(args.workdir / "console-cache"))
    checks = ce.Checks()
    results: dict[str, Any] = {"device": args.device, "small": args.small, "slow_s": slow,
                               "flat_s": args.flat_s, "grab_gib": args.grab_gib}
    mem = Memory(args.device)
    spec = (ce.SMALL_SHAPES if args.small else ce.SHAPES)["llama-8b"]
    folder = "llama-8b-small" if args.small else "llama-8b"
    path = checks.run("build llama-8b", ce.build_model, "llama-8b", spec, args.workdir / folder,
                      args.device, args.small, results, checks)
    if path is None:
        (out / "guard.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
        return 1
    weights = loaded_bytes(path)
    tensor_names = [n for n, _ in header_tensors(path)]
    layers = sorted({n.split(".")[2] for n in tensor_names if n.startswith("model.layers.")},
                    key=int)
    names = [n for n in ("model.embed_tokens.weight", "lm_head.weight",
                         f"model.layers.{layers[0]}.self_attn.q_proj.weight",
                         f"model.layers.{layers[-1]}.mlp.down_proj.weight", "model.norm.weight")
             if n in tensor_names] + ["model.rotary_emb.inv_freq"]
    results.update(model=str(path), weights_bytes=weights, fingerprint_tensors=names)
    log(f"model {path}: {len(tensor_names)} tensors, {weights / GIB:.2f} GiB in bf16")

    from console.engines.local import EngineClient

    client = EngineClient(env={**ce.child_env(), "AUTOGLM_ENGINE_TEST_SLOW_LOAD_S": str(slow)})
    client.start()
    results["hello"] = dict(client.wait_for("hello", timeout=300))

    def warm_up() -> None:
        seen: list[dict[str, Any]] = []
        loaded = must(take(client, ("loaded",), client.load(
            str(path), device=args.device, dtype="bf16"), seen, timeout=600), "loaded")
        results["warm_up"] = {"load_s": loaded["load_s"], "loader": loaded.get("loader"),
                              "guard": loaded.get("guard"), "memory": loaded["memory"]}
        checks.add("warm-up guarded load", loaded["guard"]["tensor_checks"] == loaded["tensors"],
                   f"{loaded['tensors']} tensors, each checked; load {loaded['load_s']:.1f} s "
                   f"(loader {loaded.get('loader')})")
        results.setdefault("fingerprints", {})["warm_up"] = fingerprint(client, names)
        unload(client)

    steps: list[tuple[str, Any]] = [
        ("warm-up", warm_up),
        ("pause (auto loader)", lambda: scenario_pause(client, mem, path, weights, "auto", args,
                                                       results, checks, names)),
        ("pause (stock loader)", lambda: scenario_pause(client, mem, path, weights, "stock",
                                                        args, results, checks, names)),
        ("abort at half", lambda: scenario_abort(client, mem, path, weights, args, results,
                                                 checks)),
        ("grab", lambda: scenario_grab(client, mem, path, weights, args, results, checks,
                                       names)),
    ]
    for name, step in steps:
        log(f"--- {name} ({time.monotonic() - t_start:.0f} s so far)")
        try:
            step()
        except Exception as exc:
            import traceback

            checks.add(name, False, f"{type(exc).__name__}: {exc}",
                       traceback=traceback.format_exc())
            reset(client)
    client.close()
    results["session_log"] = str(client.log_path)
    checks.run("compare with plain from_pretrained", compare_with_plain, path, args, names,
               results, checks)
    results["checks"] = checks.items
    results["elapsed_s"] = time.monotonic() - t_start
    failed = [c["name"] for c in checks.items if not c["ok"]]
    results["ok"] = not failed
    (out / "guard.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    log(f"done in {results['elapsed_s']:.0f} s: {len(checks.items) - len(failed)} passed, "
        f"{len(failed)} failed{': ' + ', '.join(failed) if failed else ''}")
    log(f"wrote {out / 'guard.json'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
