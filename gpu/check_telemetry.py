#!/usr/bin/env python3
"""Check the telemetry core against a real NVIDIA driver (run on the GPU host).

    python3 gpu/check_telemetry.py --out DIR

Checks, each caught and reported on its own (the run goes on after a failure):
  env            what the host has (pynvml, platformdirs, torch, nvidia-smi, driver)
  monitor_json   `python3 -m console.cli monitor --once --json` parses, schema_version 1, NVML ok
  vs_nvidia_smi  name, UUID, memory total/used/reserved, power limit, temperature agree with
                 `nvidia-smi --query-gpu` (memory within a few MiB: the two reads are not
                 simultaneous)
  no_cuda_ctx    the monitor process never loads libcuda or torch, nor shows as a GPU process
  cuda_child     a child torch process holding 2 GiB appears in the GPU process list with its
                 memory (vs `nvidia-smi --query-compute-apps`) and as a watched pid
  streaming      `monitor --json --count 6` at --interval 0.25 prints a line every ~0.25 s
  sampling_cost  per-tick cost over 200 ticks: NVML part, psutil part, total (mean/p50/p99) and
                 per NVML function
  recording      a real NVML recording (gpu/record_nvml.py) written to DIR/nvml_recording.json
                 and replayed through Telemetry to the same numbers
Writes DIR/check_telemetry.json, prints a summary, exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.metadata
import importlib.util
import itertools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "gpu"))

MIB = 2**20
SMI_FIELDS = ("index", "name", "uuid", "memory.total", "memory.used", "memory.reserved",
              "utilization.gpu", "temperature.gpu", "power.draw", "power.limit", "clocks.sm")
CHILD_MIB = 2048
RESULTS: dict[str, Any] = {"checks": {}, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def say(msg: str) -> None:
    print(msg, flush=True)


@contextlib.contextmanager
def check(name: str) -> Iterator[dict[str, Any]]:
    """Run one check: its dict collects details; an exception or details['problems'] fails it."""
    details: dict[str, Any] = {"problems": [], "warnings": []}
    say(f"[{name}] ...")
    started = time.monotonic()
    try:
        yield details
    except Exception as exc:
        details["problems"].append(f"{type(exc).__name__}: {exc}")
        details["traceback"] = traceback.format_exc()
    details["seconds"] = round(time.monotonic() - started, 3)
    details["status"] = "fail" if details["problems"] else ("warn" if details["warnings"]
                                                            else "pass")
    RESULTS["checks"][name] = details
    for p in details["problems"]:
        say(f"[{name}]   PROBLEM: {p}")
    for w in details["warnings"]:
        say(f"[{name}]   warning: {w}")
    say(f"[{name}] {details['status']} ({details['seconds']} s)")


def env_for_repo() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    return env


def run_monitor(*extra: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "console.cli", "monitor", "--once", "--json", *extra]
    out = subprocess.run(cmd, cwd=REPO, env=env_for_repo(), capture_output=True, text=True,
                         timeout=60, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[1:])} exited {out.returncode}: "
                           f"{out.stderr.strip()[-800:]}")
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def smi_gpus() -> list[dict[str, str]]:
    out = subprocess.run(
        ["nvidia-smi", f"--query-gpu={','.join(SMI_FIELDS)}", "--format=csv,noheader,nounits"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout
    return [dict(zip(SMI_FIELDS, (c.strip() for c in line.split(",")), strict=True))
            for line in out.strip().splitlines()]


def smi_apps() -> list[dict[str, str]]:
    out = subprocess.run(
        ["nvidia-smi", "--query-compute-apps=pid,used_memory,gpu_uuid",
         "--format=csv,noheader,nounits"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout
    return [dict(zip(("pid", "used_memory", "gpu_uuid"), (c.strip() for c in line.split(",")),
                     strict=True))
            for line in out.strip().splitlines() if line.strip()]


def num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:  # "[N/A]", "[Not Supported]"
        return None


def compare_with_smi(gpus: list[dict[str, Any]], details: dict[str, Any], label: str) -> None:
    smi = smi_gpus()
    details.setdefault("nvidia_smi", smi)
    if len(smi) != len(gpus):
        details["problems"].append(f"{label}: {len(gpus)} GPUs vs nvidia-smi {len(smi)}")
    for ours, theirs in zip(gpus, smi, strict=False):
        i = ours["index"]
        for field, smi_field in (("name", "name"), ("uuid", "uuid")):
            if ours[field] != theirs[smi_field]:
                details["problems"].append(f"{label} GPU {i} {field}: {ours[field]!r} vs "
                                           f"nvidia-smi {theirs[smi_field]!r}")
        # (our field, nvidia-smi field, our value -> smi unit, tolerance, fail or only warn)
        rows = [
            ("memory_total_bytes", "memory.total", MIB, 1, True),
            ("memory_used_bytes", "memory.used", MIB, 16, True),
            ("memory_reserved_bytes", "memory.reserved", MIB, 1, True),
            ("power_limit_w", "power.limit", 1, 1, True),
            ("temperature_c", "temperature.gpu", 1, 3, True),
            ("power_draw_w", "power.draw", 1, 60, False),
            ("utilization_gpu_pct", "utilization.gpu", 1, 30, False),
            ("sm_clock_mhz", "clocks.sm", 1, 500, False),
        ]
        for field, smi_field, scale, tol, must in rows:
            value, ref = ours[field], num(theirs[smi_field])
            ours_scaled = None if value is None else value / scale
            details.setdefault("compared", []).append(
                {"source": label, "gpu": i, "field": field, "ours": ours_scaled, "nvidia_smi": ref,
                 "tolerance": tol})
            if ref is None and ours_scaled is None:
                continue
            if ref is None or ours_scaled is None or abs(ours_scaled - ref) > tol:
                msg = (f"{label} GPU {i} {field}: ours {ours_scaled} vs nvidia-smi {ref} "
                       f"(tolerance {tol})")
                details["problems" if must else "warnings"].append(msg)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary_us(values: list[float]) -> dict[str, float]:
    us = [v * 1e6 for v in values]
    return {"mean_us": round(statistics.fmean(us), 1), "p50_us": round(pct(us, 0.5), 1),
            "p99_us": round(pct(us, 0.99), 1), "n": len(us)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="check the telemetry core on a real GPU")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--ticks", type=int, default=200)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    say(f"check_telemetry: repo {REPO}, python {platform.python_version()}, out {args.out}")

    with check("env") as d:
        import psutil

        d["python"] = platform.python_version()
        d["pynvml"] = (importlib.metadata.version("nvidia-ml-py")
                       if importlib.util.find_spec("pynvml") else None)
        d["psutil"] = psutil.__version__
        d["nvidia_smi"] = shutil.which("nvidia-smi")
        for mod in ("platformdirs", "torch"):  # find, not import: torch stays out of this process
            d[mod] = "present" if importlib.util.find_spec(mod) else "MISSING"
            if d[mod] == "MISSING":
                d["problems"].append(f"{mod} is not importable: "
                                     + ("install the carried wheels (the CLI needs it)"
                                        if mod == "platformdirs"
                                        else "the CUDA child needs torch"))
        if d["nvidia_smi"] is None:
            d["problems"].append("nvidia-smi not on PATH")

    from console.host.telemetry import Telemetry  # after the env check, so a failure is reported

    telemetry = Telemetry()
    telemetry.sample()
    RESULTS["nvml_status"] = dataclasses.asdict(telemetry.status)

    with check("monitor_json") as d:
        data = run_monitor()
        d["nvml"] = data["nvml"]
        d["gpus"] = len(data["gpus"])
        if data.get("schema_version") != 1:
            d["problems"].append(f"schema_version {data.get('schema_version')!r}, expected 1")
        if data["nvml"]["state"] != "ok":
            d["problems"].append(f"NVML state {data['nvml']['state']}: {data['nvml']['message']}")
        if not data["gpus"]:
            d["problems"].append("no GPUs in the sample")
        compare_with_smi(data["gpus"], d, "monitor --json")

    with check("vs_nvidia_smi") as d:
        for _ in range(3):  # three rounds: a steady host must agree every time
            sample = telemetry.sample()
            compare_with_smi([dataclasses.asdict(g) for g in sample.gpus], d, "Telemetry")
        d["status_line"] = f"{telemetry.status.state}: {telemetry.status.message}"
        d["driver"] = telemetry.status.driver_version
        d["memory_v2_used"] = all(g.memory_reserved_bytes is not None for g in sample.gpus)
        if telemetry.status.state != "ok":
            d["problems"].append(f"NVML status {telemetry.status.state}: "
                                 f"{telemetry.status.message}")

    with check("no_cuda_ctx") as d:
        probe = (
            "import json, sys, io, contextlib\nfrom console.cli import main\nbuf = "
            "io.StringIO()\nwith contextlib.redirect_stdout(buf):\n    rc = main(['monitor', "
            "'--once', '--json'])\nmaps = open('/proc/self/maps').read()\nprint(json.dumps({'rc': "
            "rc, 'libcuda': 'libcuda.so' in maps, 'libnvidia_ml': 'libnvidia-ml' in maps,\n  "
            "'heavy': [m for m in ('torch', 'transformers', 'safetensors', 'textual') if m in "
            "sys.modules]}))\n"
        )
        out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=env_for_repo(),
                             capture_output=True, text=True, timeout=60, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"probe exited {out.returncode}: {out.stderr[-800:]}")
        d["probe"] = json.loads(out.stdout.strip().splitlines()[-1])
        if d["probe"]["rc"] != 0:
            d["problems"].append(f"monitor returned {d['probe']['rc']}")
        # libnvidia-ml maps libcuda.so itself (seen on driver 580), so a mapping is no evidence
        # of a context; the evidence is a process entry, checked below while a monitor runs.
        if not d["probe"]["libnvidia_ml"]:
            d["problems"].append("the monitor process did not load libnvidia-ml (NVML not used?)")
        if d["probe"]["heavy"]:
            d["problems"].append(f"the monitor process imported {d['probe']['heavy']}")
        if os.getpid() in {p.pid for g in telemetry.sample().gpus for p in g.processes}:
            d["problems"].append("this check process (Telemetry only, no torch) is a GPU process")
        streaming = subprocess.Popen(
            [sys.executable, "-m", "console.cli", "--interval", "0.25", "monitor", "--count", "8"],
            cwd=REPO, env=env_for_repo(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True)
        seen_pids: set[int] = set()
        for _ in range(4):
            time.sleep(0.4)
            seen_pids |= {p.pid for g in telemetry.sample().gpus for p in g.processes}
            with contextlib.suppress(Exception):
                seen_pids |= {int(a["pid"]) for a in smi_apps()}
        streaming.wait(timeout=30)
        if streaming.pid in seen_pids:
            d["problems"].append("the running monitor showed up as a GPU process (it has a CUDA "
                                 "context)")
        if streaming.returncode != 0:
            d["problems"].append(f"streaming monitor exited {streaming.returncode}: "
                                 f"{streaming.stderr.read()[-400:] if streaming.stderr else ''}")

    from record_nvml import record, start_cuda_child, stop_child

    child = None
    with check("cuda_child") as d:
        before = telemetry.sample()
        child = start_cuda_child(CHILD_MIB)
        d["child_pid"] = child.pid
        telemetry.watch(child.pid)
        telemetry.sample()
        time.sleep(0.3)
        after = telemetry.sample()
        ours = [p for g in after.gpus for p in g.processes if p.pid == child.pid]
        d["ours"] = [{"gpu": p.gpu_index, "memory_bytes": p.gpu_memory_bytes, "name": p.name,
                      "user": p.user,
                      "kind": p.kind} for p in ours]
        apps = smi_apps()
        d["nvidia_smi_apps"] = apps
        theirs = [a for a in apps if int(a["pid"]) == child.pid]
        if not ours and not theirs:
            d["warnings"].append("neither NVML nor nvidia-smi lists the child (no process "
                                 "visibility here)")
        elif not ours:
            d["problems"].append("nvidia-smi lists the child but our process list does not")
        else:
            mem = ours[0].gpu_memory_bytes
            if mem is None or mem < CHILD_MIB * MIB:
                d["problems"].append(f"child GPU memory {mem} < the {CHILD_MIB} MiB it holds")
            if theirs and mem is not None and abs(mem / MIB - float(theirs[0]["used_memory"])) > 2:
                d["problems"].append(f"child memory {mem / MIB} MiB vs nvidia-smi "
                                     f"{theirs[0]['used_memory']} MiB")
            if ours[0].name is None:
                d["warnings"].append("child command name unknown (psutil could not see it)")
        watched = next(w for w in after.watched if w.pid == child.pid)
        d["watched"] = {"alive": watched.alive, "rss": watched.rss_bytes,
                        "cpu": watched.cpu_percent,
                        "gpu_memory_bytes": watched.gpu_memory_bytes}
        if ours and watched.gpu_memory_bytes != sum(p.gpu_memory_bytes or 0 for p in ours):
            d["problems"].append("watched pid GPU memory differs from its process-list entries")
        if not watched.alive or not watched.rss_bytes:
            d["problems"].append("watched child not reported alive with an RSS")
        grew = [(a.memory_used_bytes or 0) - (b.memory_used_bytes or 0) for a, b in zip(after.gpus,
            before.gpus, strict=False)]
        d["used_growth_mib"] = [round(g / MIB) for g in grew]
        if grew and max(grew) < CHILD_MIB * MIB:
            d["problems"].append(f"GPU used grew by {max(grew) / MIB:.0f} MiB, expected >= "
                                 f"{CHILD_MIB}")
        via_cli = run_monitor("--pid", str(child.pid))
        d["cli_watched"] = via_cli["watched"]
        if ours and via_cli["watched"][0]["gpu_memory_bytes"] != ours[0].gpu_memory_bytes:
            d["problems"].append("monitor --pid gives a different GPU memory for the child")

    with check("streaming") as d:
        cmd = [sys.executable, "-m", "console.cli", "--interval", "0.25", "monitor", "--json",
               "--count", "6"]
        out = subprocess.run(cmd, cwd=REPO, env=env_for_repo(), capture_output=True, text=True,
                             timeout=60, check=False)
        ticks = [json.loads(line)["monotonic"] for line in out.stdout.splitlines() if line.strip()]
        d["ticks"] = len(ticks)
        gaps = [b - a for a, b in itertools.pairwise(ticks)]
        d["gaps_s"] = [round(g, 3) for g in gaps]
        if out.returncode != 0 or len(ticks) != 6:
            d["problems"].append(f"monitor exited {out.returncode} with {len(ticks)} lines")
        if gaps and not all(0.2 <= g <= 0.5 for g in gaps):
            d["problems"].append(f"gaps {d['gaps_s']} are not ~0.25 s")

    with check("sampling_cost") as d:
        cost_telemetry = Telemetry()
        if child is not None:
            cost_telemetry.watch(child.pid)
        cost_telemetry.sample()
        total, nv, host = [], [], []
        for _ in range(args.ticks):
            time.sleep(0.005)
            s = cost_telemetry.sample()
            total.append(s.sample_cost_s or 0.0)
            nv.append(cost_telemetry.last_nvml_cost_s or 0.0)
            host.append(cost_telemetry.last_host_cost_s or 0.0)
        d["per_tick"] = {"nvml": summary_us(nv), "psutil": summary_us(host),
                         "total": summary_us(total)}
        d["gpus"] = len(s.gpus)
        d["processes"] = sum(len(g.processes) for g in s.gpus)
        from console.host.nvml import RecordingNvml

        recorder = RecordingNvml()
        per_call = Telemetry(nvml=recorder)
        for _ in range(50):
            per_call.sample()
        d["per_nvml_function"] = {fn: summary_us(c) for fn,
                                  c in sorted(recorder.costs_s.items()) if len(c) > 1}
        for part, stats in d["per_tick"].items():
            say(f"  {part:7s} mean {stats['mean_us']:8.1f} us  p50 {stats['p50_us']:8.1f} us  p99 "
                f"{stats['p99_us']:8.1f} us")

    with check("recording") as d:
        rec, _ = record(samples=2)
        path = args.out / "nvml_recording.json"
        path.write_text(json.dumps(rec, indent=1) + "\n")
        d["path"] = str(path)
        d["call_keys"] = len(rec["calls"])
        if rec["expected_status"]["state"] != "ok":
            d["problems"].append(f"recorded NVML state {rec['expected_status']['state']}")
        from console.host.nvml import RecordedNvml

        replay_nvml = RecordedNvml(rec)
        replay = Telemetry(nvml=replay_nvml)
        from record_nvml import _gpu_fields

        for i, expected in enumerate(rec["expected_gpus"]):
            got = json.loads(json.dumps(_gpu_fields(replay.sample())))
            if got != json.loads(json.dumps(expected)):
                d["problems"].append(f"replay of sample {i} differs from the live reading")
        if replay_nvml.unrecorded:
            d["problems"].append(f"replay asked for unrecorded calls: {replay_nvml.unrecorded}")
        if not any(g["processes"] for g in rec["expected_gpus"][-1]):
            d["warnings"].append("the recording has no GPU processes")

    stop_child(child)
    telemetry.close()
    failed = [n for n, c in RESULTS["checks"].items() if c["status"] == "fail"]
    RESULTS["failed"] = failed
    out_path = args.out / "check_telemetry.json"
    out_path.write_text(json.dumps(RESULTS, indent=1, default=str) + "\n")
    say("")
    say("check_telemetry summary")
    for name, c in RESULTS["checks"].items():
        say(f"  {name:15s} {c['status']:5s} {'; '.join(c['problems'])[:200]}")
    say(f"results: {out_path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
