#!/usr/bin/env python3
"""GPU check for `autoglm-console doctor`: does the report match the machine?

    python3 gpu/check_doctor.py --out DIR

1. `doctor --json` on the real GPU: driver version and CUDA version vs `nvidia-smi`; torch's
   version, CUDA build, device capability, cuDNN and bf16 vs torch's own figures (asked in a
   separate process); nothing fails.
2. Forced mismatches: CUDA_VISIBLE_DEVICES set to a missing index must fail (both the
   CUDA_VISIBLE_DEVICES and the torch check), an invalid PYTORCH_CUDA_ALLOC_CONF key must not
   pass, a valid one must pass.
3. Facts for the design (reported, not asserted): whether torch's pinned memory works under
   `ulimit -l 64` (KiB), and whether the probe leaves a CUDA context behind on the GPU.
4. The test fixtures: the raw probe output under each environment (DIR/probe_h100*.json, for
   tests/fixtures/doctor/) and the NVML answers the doctor reads
   (DIR/doctor_nvml_recording.json, for tests/fixtures/nvml/doctor_h100_real.json).

Writes DIR/doctor.json, prints a summary, exits 1 if any assertion failed. Each step is
guarded: a failure is recorded and the rest still run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESULTS: dict[str, Any] = {"steps": {}, "assertions": [], "started": time.time()}


def log(msg: str) -> None:
    print(msg, flush=True)


def child_env(**overrides: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def expect(name: str, ok: bool, detail: str = "") -> None:
    RESULTS["assertions"].append({"name": name, "ok": bool(ok), "detail": detail})
    log(f"  [{'ok' if ok else 'FAIL'}] {name}" + (f": {detail}" if detail else ""))


def step(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            log(f"== {name}")
            start = time.monotonic()
            try:
                value = fn(*args, **kwargs)
                RESULTS["steps"][name] = {"ok": True, "s": round(time.monotonic() - start, 2)}
                return value
            except Exception as exc:
                RESULTS["steps"][name] = {
                    "ok": False, "s": round(time.monotonic() - start, 2),
                    "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(),
                }
                expect(f"{name} ran", False, f"{type(exc).__name__}: {exc}")
                return None
        return run
    return wrap


@step("nvidia-smi")
def nvidia_smi() -> dict[str, Any]:
    plain = subprocess.run(["nvidia-smi"], capture_output=True, text=True, check=False,
                           timeout=30).stdout
    cuda = re.search(r"CUDA Version:\s*([\d.]+)", plain)
    driver = re.search(r"Driver Version:\s*([\d.]+)", plain)
    query = subprocess.run(
        ["nvidia-smi", "--query-gpu=index,name,uuid,compute_cap,memory.total",
         "--format=csv,noheader,nounits"], capture_output=True, text=True, check=False, timeout=30,
    ).stdout
    gpus = []
    for line in query.strip().splitlines():
        index, name, uuid, cc, mem = (p.strip() for p in line.split(","))
        gpus.append({"index": int(index), "name": name, "uuid": uuid, "compute_cap": cc,
                     "memory_total_mib": int(mem)})
    out = {"driver_version": driver.group(1) if driver else None,
           "cuda_version": cuda.group(1) if cuda else None, "gpus": gpus}
    log(f"  {out}")
    return out


TORCH_FACTS = r"""
import json, torch
d = {"version": torch.__version__, "cuda": torch.version.cuda,
     "device_count": torch.cuda.device_count(), "arch_list": torch.cuda.get_arch_list(),
     "cudnn": torch.backends.cudnn.version(), "bf16": torch.cuda.is_bf16_supported(),
     "capabilities": [list(torch.cuda.get_device_capability(i))
                      for i in range(torch.cuda.device_count())],
     "names": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]}
print(json.dumps(d))
"""


@step("torch's own figures")
def torch_facts() -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", TORCH_FACTS], capture_output=True, text=True,
                          check=False,
                          timeout=120, env=child_env())
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    log(f"  {out}")
    return out


def run_doctor(label: str, **env: str | None) -> tuple[int, dict[str, Any] | None]:
    """`python -m console.cli doctor --json` with `env` overrides -> (exit code, JSON)."""
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "console.cli", "doctor", "--json"],
                          capture_output=True, text=True, check=False, timeout=180,
                          env=child_env(**env),
                          cwd=str(ROOT))
    took = time.monotonic() - start
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        RESULTS.setdefault("doctor_stderr", {})[label] = proc.stderr[-3000:]
        log(f"  doctor printed no JSON (exit {proc.returncode}): {proc.stderr[-500:]}")
        return proc.returncode, None
    log(f"  doctor ({label}) exit {proc.returncode} in {took:.1f} s: {report['summary']}")
    for c in report["checks"]:
        log(f"    {c['status'].upper():4} {c['title']}: {c['detail']}")
    return proc.returncode, report


def by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in report["checks"]}


def cudnn_text(v: int | None) -> str | None:
    if v is None:
        return None
    if v >= 90000:
        return f"{v // 10000}.{(v % 10000) // 100}.{v % 100}"
    return f"{v // 1000}.{(v % 1000) // 100}.{v % 100}"


@step("doctor on the real GPU")
def doctor_real(smi: dict[str, Any] | None, tf: dict[str, Any] | None) -> None:
    code, report = run_doctor("real")
    RESULTS["report_real"] = report
    expect("doctor --json printed JSON", report is not None)
    if report is None:
        return
    checks = by_id(report)
    fails = [c["id"] for c in report["checks"] if c["status"] == "fail"]
    expect("no check fails on this GPU host", not fails, f"failed: {fails}")
    expect("exit code 0 when nothing fails", code == (1 if fails else 0), f"exit {code}")
    drv = checks["nvidia_driver"]
    expect("driver check passes", drv["status"] == "pass", drv["detail"])
    if smi:
        expect("driver version = nvidia-smi",
               drv["facts"]["driver_version"] == smi["driver_version"],
               f"{drv['facts']['driver_version']} vs {smi['driver_version']}")
        expect("CUDA version the driver supports = nvidia-smi",
               drv["facts"]["cuda_driver_version"] == smi["cuda_version"],
               f"{drv['facts']['cuda_driver_version']} vs {smi['cuda_version']}")
        expect("GPU count = nvidia-smi", len(drv["facts"]["gpus"]) == len(smi["gpus"]))
        for g, s in zip(drv["facts"]["gpus"], smi["gpus"], strict=False):
            cc = ".".join(str(x) for x in g["compute_capability"] or [])
            expect(f"GPU {g['index']} name/uuid/capability = nvidia-smi",
                   g["name"] == s["name"] and g["uuid"] == s["uuid"] and cc == s["compute_cap"],
                   f"{g['name']} {g['uuid']} {cc} vs {s['name']} {s['uuid']} {s['compute_cap']}")
    t = checks["torch"]
    expect("torch check passes", t["status"] == "pass", t["detail"])
    if tf:
        expect("torch version = torch's", t["facts"]["version"] == tf["version"])
        expect("torch CUDA build = torch.version.cuda", t["facts"]["cuda"] == tf["cuda"],
               f"{t['facts']['cuda']} vs {tf['cuda']}")
        expect("device count = torch's", t["facts"]["device_count"] == tf["device_count"])
        arch = checks["arch"]
        expect("arch check passes", arch["status"] == "pass", arch["detail"])
        expect("arch list = torch.cuda.get_arch_list()",
               arch["facts"]["arch_list"] == tf["arch_list"])
        caps = [d["capability"] for d in arch["facts"].get("devices", [])]
        want = [f"{a}.{b}" for a, b in tf["capabilities"]]
        expect("capabilities = torch.cuda.get_device_capability", caps == want, f"{caps} vs {want}")
        cudnn = checks["cudnn"]
        expect("cuDNN version = torch.backends.cudnn.version()",
               cudnn["facts"].get("cudnn_version") == cudnn_text(tf["cudnn"]),
               f"{cudnn['facts'].get('cudnn_version')} vs {tf['cudnn']}")
        bf16 = checks["bf16"]
        expect("bf16 verdict = torch.cuda.is_bf16_supported()",
               (bf16["status"] == "pass") == bool(tf["bf16"]) and bf16["facts"]["applicable"],
               f"{bf16['status']} vs {tf['bf16']}")
    compat = checks["cuda_compat"]
    expect("driver vs torch CUDA passes", compat["status"] == "pass", compat["detail"])


@step("forced mismatch: CUDA_VISIBLE_DEVICES=5")
def doctor_missing_index(smi: dict[str, Any] | None) -> None:
    n = len(smi["gpus"]) if smi else 1
    missing = str(max(5, n))  # an index this host does not have
    code, report = run_doctor("cvd", CUDA_VISIBLE_DEVICES=missing)
    RESULTS["report_cvd"] = report
    if report is None:
        expect("doctor --json printed JSON (CUDA_VISIBLE_DEVICES)", False)
        return
    checks = by_id(report)
    cvd = checks["cuda_visible_devices"]
    expect(f"CUDA_VISIBLE_DEVICES={missing} fails", cvd["status"] == "fail", cvd["detail"])
    t = checks["torch"]
    expect("torch check fails and says the GPUs are hidden",
           t["status"] == "fail" and t["facts"].get("reason") == "hidden", t["detail"])
    RESULTS["torch_message_when_hidden"] = t["facts"].get("unavailable_message")
    expect("exit code 1", code == 1, f"exit {code}")


@step("forced mismatch: invalid PYTORCH_CUDA_ALLOC_CONF key")
def doctor_bad_alloc_conf() -> None:
    _, report = run_doctor("alloc", PYTORCH_CUDA_ALLOC_CONF="expandable_segments:True,not_a_key:1")
    RESULTS["report_alloc_bad"] = report
    if report is None:
        expect("doctor --json printed JSON (alloc conf)", False)
        return
    a = by_id(report)["alloc_conf"]
    expect("bad allocator key is flagged (warn, or fail when torch rejects it)",
           a["status"] in ("warn", "fail") and "not_a_key" in a["detail"], a["detail"])
    RESULTS["alloc_conf_torch_error"] = a["facts"].get("torch_error")
    _, good = run_doctor("alloc-good", PYTORCH_CUDA_ALLOC_CONF="expandable_segments:True")
    if good is not None:
        g = by_id(good)["alloc_conf"]
        expect("expandable_segments:True passes and torch checked it",
               g["status"] == "pass" and g["facts"].get("checked_by_torch") is True, g["detail"])


PIN = ("import torch; t = torch.empty(1 << 30, dtype=torch.uint8, pin_memory=True); "
       "print('pinned', t.is_pinned())")


@step("fact: pinned memory under ulimit -l 64")
def memlock_fact() -> None:
    proc = subprocess.run(["bash", "-c", f"ulimit -l 64; ulimit -l; {sys.executable} -c \"{PIN}\""],
                          capture_output=True, text=True, check=False, timeout=120, env=child_env())
    RESULTS["pinned_under_memlock_64k"] = {"rc": proc.returncode, "stdout": proc.stdout[-500:],
                                           "stderr": proc.stderr[-1000:]}
    log(f"  rc={proc.returncode} {proc.stdout.strip()} {proc.stderr.strip()[-300:]}")


CONTEXT = r"""
import json, os, pynvml
from console.worker import probe
probe.collect()
pynvml.nvmlInit()
pids = []
for i in range(pynvml.nvmlDeviceGetCount()):
    h = pynvml.nvmlDeviceGetHandleByIndex(i)
    pids += [p.pid for p in pynvml.nvmlDeviceGetComputeRunningProcesses(h)]
print(json.dumps({"self": os.getpid(), "compute_pids": pids}))
"""


@step("fact: does the probe create a CUDA context")
def context_fact() -> None:
    proc = subprocess.run([sys.executable, "-c", CONTEXT], capture_output=True, text=True,
                          check=False,
                          timeout=120, env=child_env())
    line = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "{}"
    data = json.loads(line)
    data["probe_holds_context"] = data.get("self") in data.get("compute_pids", [])
    RESULTS["probe_context"] = data
    log(f"  {data}")


PROBE_CASES = {
    "probe_h100.json": {},
    "probe_h100_cvd5.json": {"CUDA_VISIBLE_DEVICES": "5"},
    "probe_h100_cvd_empty.json": {"CUDA_VISIBLE_DEVICES": ""},
    "probe_h100_alloc_bad.json": {
        "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:true,not_a_key:1"},
}


@step("raw probe outputs (tests/fixtures/doctor/)")
def probe_outputs(out: Path) -> None:
    """The probe under each environment, run side by side, saved as the test fixtures."""
    procs = {
        name: subprocess.Popen([sys.executable, "-m", "console.worker.probe"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=child_env(**env), cwd=str(ROOT))
        for name, env in PROBE_CASES.items()
    }
    for name, proc in procs.items():
        stdout, _ = proc.communicate(timeout=120)
        data = json.loads(stdout.strip().splitlines()[-1])
        (out / name).write_text(json.dumps(data, indent=1) + "\n")
        torch = data.get("torch") or {}
        log(f"  {name}: available={torch.get('cuda_available')} arch={torch.get('arch_list')} "
            f"alloc={data.get('alloc_conf')} errors={data.get('errors')}")
    hidden = json.loads((out / "probe_h100_cvd5.json").read_text())["torch"]
    full = json.loads((out / "probe_h100.json").read_text())["torch"]
    expect("the arch list is reported while the GPUs are hidden",
           bool(hidden["arch_list"]) and hidden["arch_list"] == full["arch_list"],
           f"{hidden['arch_list']} vs {full['arch_list']}")


@step("record the NVML answers the doctor reads")
def record_nvml(out: Path) -> None:
    import pynvml

    from console.host.doctor import read_nvml
    from console.host.nvml import RecordingNvml

    rec = RecordingNvml(pynvml)
    facts = read_nvml(rec)
    source = {"driver_version": facts.status.driver_version,
              "cuda_driver_version": facts.status.cuda_driver_version,
              "pynvml": getattr(pynvml, "__version__", None), "host": os.uname().nodename}
    recording = rec.recording(note="NVML answers read by console.host.doctor.read_nvml "
                              "(gpu/check_doctor.py)", source=source)
    (out / "doctor_nvml_recording.json").write_text(json.dumps(recording, indent=1))
    log(f"  {len(recording['calls'])} calls recorded")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="directory for doctor.json")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    smi = nvidia_smi()
    RESULTS["nvidia_smi"] = smi
    tf = torch_facts()
    RESULTS["torch"] = tf
    doctor_real(smi, tf)
    doctor_missing_index(smi)
    doctor_bad_alloc_conf()
    memlock_fact()
    context_fact()
    probe_outputs(out)
    record_nvml(out)
    RESULTS["elapsed_s"] = round(time.monotonic() - start, 1)
    failed = [a for a in RESULTS["assertions"] if not a["ok"]]
    RESULTS["ok"] = not failed
    (out / "doctor.json").write_text(json.dumps(RESULTS, indent=1, default=str))
    log(f"\ncheck_doctor: {len(RESULTS['assertions']) - len(failed)}/{len(RESULTS['assertions'])} "
        f"assertions passed in {RESULTS['elapsed_s']} s -> {out / 'doctor.json'}")
    for a in failed:
        log(f"  FAILED: {a['name']}: {a['detail']}")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
