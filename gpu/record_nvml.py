#!/usr/bin/env python3
"""Record every NVML call `Telemetry` makes against the real driver, for the CI fixtures.

    python3 gpu/record_nvml.py --out DIR [--samples 2] [--child-mib 1024]

Takes `--samples` samples 1 s apart (so utilisation, power, clocks move) through
`console.host.nvml.RecordingNvml`, while a child torch process holds `--child-mib` MiB on GPU 0 (so
the process lists are not empty; 0 = no child). Writes DIR/nvml_recording.json in the format
`console.host.nvml.RecordedNvml` replays, with the live samples' GPU fields under "expected_gpus"
so tests/unit/test_telemetry.py can check that replay gives the same numbers.
Copy it to tests/fixtures/nvml/h100_real.json and run tests/fixtures/nvml/derive.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import json
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# A child that creates a CUDA context and holds `mib` MiB until its stdin closes.
CHILD_CODE = """
import sys, torch
x = torch.empty(int(sys.argv[1]) * 2**20, dtype=torch.uint8, device="cuda")
torch.cuda.synchronize()
print("ready", flush=True)
sys.stdin.read()
"""


def start_cuda_child(mib: int, timeout_s: float = 120.0) -> subprocess.Popen[str]:
    """Start a torch process holding `mib` MiB on GPU 0; returns once the memory is allocated."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD_CODE, str(mib)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    line = proc.stdout.readline() if ready else "<no answer in time>"
    if line.strip() != "ready":
        proc.kill()
        raise RuntimeError(f"CUDA child did not start (said {line!r}, exit {proc.poll()})")
    return proc


def stop_child(proc: subprocess.Popen[str] | None) -> None:
    if proc is None:
        return
    try:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(timeout=30)
    except Exception:
        proc.kill()


def _gpu_fields(sample: Any) -> list[dict[str, Any]]:
    """The GPU part of a sample, without what depends on the recording host's psutil."""
    gpus = []
    for g in sample.gpus:
        d = dataclasses.asdict(g)
        for p in d["processes"]:
            p.pop("user")
            p.pop("name")
        gpus.append(d)
    return gpus


def record(samples: int = 2, gap_s: float = 1.0) -> tuple[dict[str, Any], Any]:
    """Returns (recording, the RecordingNvml) after `samples` live samples."""
    import pynvml

    from console.host.nvml import RecordingNvml
    from console.host.telemetry import Telemetry

    recorder = RecordingNvml(pynvml)
    telemetry = Telemetry(nvml=recorder)
    taken = []
    for i in range(samples):
        if i:
            time.sleep(gap_s)
        taken.append(telemetry.sample())
    telemetry.close()
    status = taken[-1].nvml
    source = {
        "driver": status.driver_version,
        "nvml": status.nvml_version,
        "cuda": status.cuda_driver_version,
        "gpus": [g.name for g in taken[-1].gpus],
        "nvidia_ml_py": importlib.metadata.version("nvidia-ml-py"),
        "samples": samples,
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    rec = recorder.recording(
        note=f"Recorded from a real driver by gpu/record_nvml.py: {samples} samples {gap_s} s "
             "apart.",
        source=source,
    )
    rec["expected_status"] = dataclasses.asdict(status)
    rec["expected_gpus"] = [_gpu_fields(s) for s in taken]
    return rec, recorder


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--child-mib", type=int, default=1024)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    child = None
    try:
        if args.child_mib > 0:
            print(f"starting a CUDA child holding {args.child_mib} MiB ...", flush=True)
            child = start_cuda_child(args.child_mib)
        rec, _ = record(args.samples)
    finally:
        stop_child(child)
    path = args.out / "nvml_recording.json"
    path.write_text(json.dumps(rec, indent=1) + "\n")
    print(f"wrote {path}: {len(rec['calls'])} call keys, status {rec['expected_status']['state']}",
          flush=True)
    return 0 if rec["expected_status"]["state"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
