#!/usr/bin/env python3
"""GPU check for the migration check (issue 19): a model's fingerprint on the GPU against its CPU
fingerprint, and against a second GPU run (the noise floor).

    python3 gpu/check_fingerprint.py --out DIR [--workdir DIR] [--size-gb 1.0]

Models: a ~1 GB random-weight Llama (fp32 checkpoint, built here once; the shape of
benchmarks/fingerprint_speed.py) and demo-vl (the vision probes, with the bundled images).
Every fingerprint is the real CLI, `autoglm-console fingerprint MODEL --device D --dtype T`, in a
fresh process; every comparison is the real `autoglm-console compare A B --json`. Pairs:

- gpu-1 vs gpu-2, same dtype: the noise floor of two runs on one GPU (expected: identical);
- gpu vs cpu, same dtype (fp32, then bf16): what a move between devices does;
- cpu bf16 vs gpu fp32 is not asked: a dtype change is its own verdict (CPU tests cover it).

Writes DIR/fingerprint.json (every verdict with its evidence summary, seconds per fingerprint)
and the fingerprints themselves as DIR/fingerprints.tgz; prints a table. Exit 0 when every
comparison ran (the verdicts are findings, not pass/fail), except that two runs on one GPU must
be equivalent.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), e.get("PYTHONPATH")) if p)
    return e


def cli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console.cli", *args], cwd=str(ROOT),
                          capture_output=True, text=True, env=env(), timeout=timeout,
                          check=False)


def build_llama(dest: Path, size_gb: float) -> Path:
    if (dest / "config.json").is_file() and list(dest.glob("*.safetensors")):
        return dest
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from pathlib import Path;"
            "import benchmarks.fingerprint_speed as fs; from console.host import paths;"
            "print(fs.build_big(float(sys.argv[2])))")
    with tempfile.TemporaryDirectory() as cache:
        e = env()
        e["AUTOGLM_CONSOLE_CACHE_DIR"] = cache
        out = subprocess.run([sys.executable, "-c", code, str(ROOT), str(size_gb)], env=e,
                             capture_output=True, text=True, check=True, cwd=str(ROOT))
        built = Path(out.stdout.strip().splitlines()[-1])
        dest.parent.mkdir(parents=True, exist_ok=True)
        built.rename(dest)
    return dest


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/autoglm-check"))
    ap.add_argument("--size-gb", type=float, default=1.0)
    ap.add_argument("--models", default="llama-1gb,demo-vl")
    ap.add_argument("--device", default="cuda:0", help="the GPU (cpu: a dry run here)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    fps = Path(tempfile.mkdtemp(prefix="fingerprints-"))
    models: dict[str, str] = {}
    for name in args.models.split(","):
        if name == "llama-1gb":
            models[name] = str(build_llama(args.workdir / "llama-1gb", args.size_gb))
        else:
            models[name] = name  # demo, demo-vl: the CLI builds them
    gpu = args.device
    runs = [("gpu-1", gpu, "fp32"), ("gpu-2", gpu, "fp32"), ("cpu", "cpu", "fp32"),
            ("gpu-1", gpu, "bf16"), ("gpu-2", gpu, "bf16"), ("cpu", "cpu", "bf16")]
    pairs = [("gpu-1", "gpu-2"), ("gpu-1", "cpu")]
    result: dict[str, Any] = {"models": models, "fingerprints": [], "comparisons": []}
    failed = False
    for name, model in models.items():
        for label, device, dtype in runs:
            out = fps / f"{name}-{label}-{dtype}.json"
            t0 = time.perf_counter()
            proc = cli("fingerprint", model, "--out", str(out), "--device", device,
                       "--dtype", dtype, "--json")
            secs = time.perf_counter() - t0
            row = {"model": name, "run": label, "device": device, "dtype": dtype,
                   "seconds": round(secs, 2), "rc": proc.returncode}
            if proc.returncode != 0:
                row["error"] = proc.stderr[-800:]
                failed = True
            result["fingerprints"].append(row)
            print(f"[fingerprint] {name} {label} {dtype}: rc {proc.returncode} in {secs:.1f} s",
                  flush=True)
        for dtype in ("fp32", "bf16"):
            for a, b in pairs:
                fa, fb = fps / f"{name}-{a}-{dtype}.json", fps / f"{name}-{b}-{dtype}.json"
                if not (fa.is_file() and fb.is_file()):
                    continue
                proc = cli("compare", str(fa), str(fb), "--json")
                try:
                    verdict = json.loads(proc.stdout)
                except ValueError:
                    verdict = {"verdict": "error", "summary": proc.stderr[-500:]}
                keep = {k: verdict.get(k) for k in (
                    "verdict", "summary", "equivalent", "tolerance", "max_logprob_diff",
                    "logprob_diff_p50", "logprob_diff_p99", "steps_compared", "divergences",
                    "first_divergence", "env_changes", "likely_causes", "changed_tensors")}
                keep.update(model=name, dtype=dtype, a=a, b=b, exit=proc.returncode)
                result["comparisons"].append(keep)
                if (a, b) == ("gpu-1", "gpu-2") and not verdict.get("equivalent"):
                    failed = True
    (args.out / "fingerprint.json").write_text(json.dumps(result, indent=2, default=str))
    with tarfile.open(args.out / "fingerprints.tgz", "w:gz") as tar:
        tar.add(fps, arcname="fingerprints")
    print(f"\n{'model':<10} {'dtype':<5} {'pair':<14} {'verdict':<12} {'max dlogp':>10} "
          f"{'p99':>8} {'steps':>6} {'div':>4}  summary")
    for c in result["comparisons"]:
        mx = f"{c['max_logprob_diff']:.4f}" if c.get("max_logprob_diff") is not None else "-"
        p99 = f"{c['logprob_diff_p99']:.4f}" if c.get("logprob_diff_p99") is not None else "-"
        print(f"{c['model']:<10} {c['dtype']:<5} {c['a'] + ' v ' + c['b']:<14} "
              f"{c['verdict']!s:<12} {mx:>10} {p99:>8} {c.get('steps_compared')!s:>6} "
              f"{c.get('divergences')!s:>4}  {str(c.get('summary'))[:90]}")
    for f in result["fingerprints"]:
        if f.get("error"):
            print(f"! {f['model']} {f['run']} {f['dtype']}: {f['error'][-300:]}")
    return 1 if failed else 0


if __name__ == "__main__":
    # server logs, model text and child stderr are printed: made terminal-safe
    from console.core.termsafe import safe_std_streams

    with safe_std_streams():
        raise SystemExit(main())
