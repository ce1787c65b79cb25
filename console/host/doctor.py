"""The doctor's gathering side: the facts the judge needs, read from this machine.

App side: no torch, no textual, no CUDA context. GPU facts come from NVML through
`console.host.nvml` (tests pass a `RecordedNvml`); what torch sees comes from
`python -m console.worker.probe`, run as a subprocess with a timeout; package versions from
importlib.metadata; the HF cache, /dev/shm, swap and memlock from the file system and psutil.
`gather` collects them into a `DoctorInputs`; judging them is
`console.core.doctor_judge.evaluate` (pure). `run_doctor` does both.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from console.core.allocconf import ALLOC_CONF_VARIABLES
from console.core.doctor_judge import (
    CORE_PACKAGES,
    DIST_NAMES,
    OPTIONAL_PACKAGES,
    DoctorInputs,
    HfCacheFacts,
    HostFacts,
    NvmlFacts,
    NvmlGpu,
    ProbeRun,
    Report,
    evaluate,
)
from console.core.sample import NvmlStatus
from console.host.nvml import LIBRARY_MISMATCH, Nvml, cuda_version_text, text

# --------------------------------------------------------------------------- NVML

# NVML error codes at nvmlInit -> NvmlStatus.state
_NVML_STATE_BY_CODE = {9: "no_driver", 12: "no_driver", 18: "version_mismatch", 15: "gpu_lost"}


def read_nvml(nvml: Any = None) -> NvmlFacts:
    """Driver, CUDA version the driver supports, and the GPUs, from NVML; never raises.

    `nvml` is the pynvml module (default: `console.host.nvml.load_library()`, which honours
    RECORDING_ENV like Telemetry) or anything answering the same calls (RecordedNvml).
    """
    nv = Nvml(nvml)
    if nv.start() is not None:
        exc = nv.last_exception
        if nv.module is None:  # pynvml not installed, or a bad recording
            return NvmlFacts(NvmlStatus("error", f"NVML unavailable: {exc}"))
        code = nv.last_error
        state = _NVML_STATE_BY_CODE.get(code, "error") if isinstance(code, int) else "error"
        if code == LIBRARY_MISMATCH:
            state = "version_mismatch"
        return NvmlFacts(NvmlStatus(state, f"{type(exc).__name__}: {exc}"))
    ask = nv.call
    try:
        driver = ask("nvmlSystemGetDriverVersion")
        nvml_version = ask("nvmlSystemGetNVMLVersion")
        cuda = ask("nvmlSystemGetCudaDriverVersion")
        if cuda is None:
            cuda = ask("nvmlSystemGetCudaDriverVersion_v2")
        count = ask("nvmlDeviceGetCount") or 0
        gpus: list[NvmlGpu] = []
        for index in range(int(count)):
            handle = ask("nvmlDeviceGetHandleByIndex", index)
            if handle is None:
                gpus.append(NvmlGpu(index, None, None, None, None))
                continue
            cc = ask("nvmlDeviceGetCudaComputeCapability", handle)
            name, uuid = text(ask("nvmlDeviceGetName", handle)), text(ask("nvmlDeviceGetUUID",
                                                                          handle))
            # The v2 struct, as Telemetry asks (so its recordings answer this call too).
            v2 = nv.constant("nvmlMemory_v2")
            mem = ask("nvmlDeviceGetMemoryInfo", handle, version=v2) if v2 is not None else None
            if mem is None:
                mem = ask("nvmlDeviceGetMemoryInfo", handle)
            gpus.append(NvmlGpu(
                index=index,
                name=name,
                uuid=uuid,
                compute_capability=(int(cc[0]), int(cc[1])) if cc is not None else None,
                memory_total_bytes=int(mem.total) if mem is not None else None,
            ))
        status = NvmlStatus(
            "ok", "",
            driver_version=text(driver),
            nvml_version=text(nvml_version),
            cuda_driver_version=cuda_version_text(int(cuda)) if cuda else None,
        )
        return NvmlFacts(status, tuple(gpus))
    finally:
        nv.shutdown()


# --------------------------------------------------------------------------- the probe


def run_probe(
    python: str | None = None, env: Mapping[str, str] | None = None, timeout_s: float = 90.0
) -> ProbeRun:
    """Run `python -m console.worker.probe` in a subprocess (torch may create a CUDA context
    there, never here). Never raises: a missing interpreter, a crash, a timeout or output
    that is not JSON come back as `error`."""
    python = python or sys.executable
    child_env = dict(os.environ if env is None else env)
    # The child must import this checkout's `console` even when it is not installed there.
    root = str(Path(__file__).resolve().parent.parent)
    child_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (root, child_env.get("PYTHONPATH", "")) if p
    )
    start = time.monotonic()
    try:
        proc = subprocess.run(
            [python, "-m", "console.worker.probe"],
            env=child_env, capture_output=True, text=True, timeout=timeout_s,
            stdin=subprocess.DEVNULL, check=False,
        )
    except FileNotFoundError:
        return ProbeRun(python, None, f"the engine's Python was not found: {python}")
    except subprocess.TimeoutExpired:
        return ProbeRun(python, None, f"the torch probe did not finish in {timeout_s:.0f} s")
    except OSError as exc:
        return ProbeRun(python, None, f"could not start {python}: {exc}")
    elapsed = time.monotonic() - start
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            try:
                return ProbeRun(python, json.loads(line), None, elapsed)
            except json.JSONDecodeError:
                break
    tail = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()][-1:] or ["no output"]
    return ProbeRun(
        python, None, f"the torch probe exited {proc.returncode} without a result: {tail[0]}",
        elapsed,
    )


# --------------------------------------------------------------------------- host facts


def installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(DIST_NAMES.get(name, name))
    except importlib.metadata.PackageNotFoundError:
        return None


def _statvfs(path: str) -> tuple[int, int] | None:
    """(total, free-for-unprivileged) bytes of the file system holding `path`."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize


def _truthy(value: str | None) -> bool:
    return (value or "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def resolve_hf_cache(env: Mapping[str, str], configured: str | None = None) -> tuple[str, str]:
    """The hub cache huggingface_hub will use, and which setting chose it (its own order)."""
    if configured:
        return os.path.expanduser(configured), "config models.hf_cache"
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if env.get(name):
            return os.path.expandvars(os.path.expanduser(env[name])), name
    if env.get("HF_HOME"):
        return os.path.join(os.path.expandvars(os.path.expanduser(env["HF_HOME"])),
                            "hub"), "HF_HOME"
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    source = "XDG_CACHE_HOME" if env.get("XDG_CACHE_HOME") else "default"
    return os.path.join(base, "huggingface", "hub"), source


def hf_cache_facts(env: Mapping[str, str], configured: str | None = None) -> HfCacheFacts:
    path, source = resolve_hf_cache(env, configured)
    existing = Path(path)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent  # free space and permissions of where it would be created
    space = _statvfs(str(existing))
    cached: int | None = None
    if Path(path).is_dir():
        try:
            cached = sum(1 for p in Path(path).iterdir() if p.name.startswith("models--"))
        except OSError:
            cached = None
    return HfCacheFacts(
        path=path, source=source, exists=Path(path).is_dir(),
        writable=os.access(existing, os.W_OK | os.X_OK),
        free_bytes=space[1] if space else None, total_bytes=space[0] if space else None,
        cached_models=cached,
        offline=_truthy(env.get("HF_HUB_OFFLINE")) or _truthy(env.get("TRANSFORMERS_OFFLINE")),
    )


def host_facts() -> HostFacts:
    shm = _statvfs("/dev/shm") if os.path.isdir("/dev/shm") else None
    swap_total = swap_used = None
    try:
        import psutil

        sw = psutil.swap_memory()
        swap_total, swap_used = int(sw.total), int(sw.used)
    except Exception:
        pass
    soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)

    def limit(v: int) -> int | None:
        return None if v == resource.RLIM_INFINITY else int(v)

    return HostFacts(
        shm_total_bytes=shm[0] if shm else None, shm_free_bytes=shm[1] if shm else None,
        swap_total_bytes=swap_total, swap_used_bytes=swap_used,
        memlock_soft_bytes=limit(soft), memlock_hard_bytes=limit(hard),
    )


ENV_VARIABLES = (
    "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", *ALLOC_CONF_VARIABLES, "HF_HOME", "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
)


def gather(
    env: Mapping[str, str] | None = None,
    nvml: Any = None,
    python: str | None = None,
    probe_timeout_s: float = 90.0,
    hf_cache: str | None = None,
) -> DoctorInputs:
    """Collect the facts: NVML here, torch through the probe subprocess (given `env`)."""
    env = dict(os.environ if env is None else env)
    try:
        transformers_requires = tuple(importlib.metadata.requires("transformers") or ())
    except importlib.metadata.PackageNotFoundError:
        transformers_requires = ()
    names = (*CORE_PACKAGES, *OPTIONAL_PACKAGES, "torch", "flash_attn", "packaging")
    return DoctorInputs(
        python_version=".".join(str(v) for v in sys.version_info[:3]),
        python_executable=sys.executable,
        env={k: env[k] for k in ENV_VARIABLES if k in env},
        nvml=read_nvml(nvml),
        probe=run_probe(python, env, probe_timeout_s),
        packages={n: installed_version(n) for n in names},
        transformers_requires=transformers_requires,
        hf_cache=hf_cache_facts(env, hf_cache),
        host=host_facts(),
    )


def run_doctor(
    env: Mapping[str, str] | None = None,
    nvml: Any = None,
    python: str | None = None,
    probe_timeout_s: float = 90.0,
    hf_cache: str | None = None,
) -> Report:
    start = time.monotonic()
    inputs = gather(env, nvml, python, probe_timeout_s, hf_cache)
    report = evaluate(inputs)
    return Report(report.checks, elapsed_s=time.monotonic() - start)


