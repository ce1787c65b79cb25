"""The doctor's judge: pure rules over gathered facts -> checks with PASS / WARN / FAIL.

`evaluate(DoctorInputs) -> Report` reads nothing but its argument (no NVML, no subprocess, no
environment), so every prediction ("no kernel image", "driver insufficient", a
CUDA_VISIBLE_DEVICES index that does not exist) is table-tested with synthetic facts. The facts
are gathered app-side by `console.host.doctor.gather` (NVML, the torch probe subprocess, package
versions, the environment).

Each check is pass / warn / fail with its facts and one line of fix. A check that cannot
apply (bf16 without a GPU) passes and says "not applicable" with `facts["applicable"] =
False`: the missing GPU is reported once, by the driver and torch checks.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from console.core.allocconf import ALLOC_CONF_VARIABLES, split_alloc_conf
from console.core.sample import NvmlStatus
from console.core.units import fmt_bytes

SCHEMA_VERSION = 1
STATUSES = ("pass", "warn", "fail")
GIB = 1024**3

# What the engine needs (pyproject's engine extra; glm4v, the AutoGLM architecture, arrived in
# transformers 4.53 and Open-AutoGLM asks for >= 5.0).
TRANSFORMERS_MIN = (4, 53)
TRANSFORMERS_RECOMMENDED = (5, 0)
PYTHON_MIN = (3, 10)
CORE_PACKAGES = ("transformers", "accelerate", "safetensors", "tokenizers", "huggingface_hub")
OPTIONAL_PACKAGES = ("sentencepiece", "tiktoken", "protobuf", "bitsandbytes")
# Distribution names as pip knows them (importlib.metadata normalises - and _ itself).
DIST_NAMES = {"huggingface_hub": "huggingface-hub", "flash_attn": "flash-attn"}

# The oldest driver that runs any toolkit of a CUDA major through minor-version compatibility
# (NVIDIA, "CUDA Compatibility": 11.x >= 450.80.02, 12.x >= 525.60.13, 13.x >= 580).
MINOR_COMPAT_MIN_DRIVER: dict[int, tuple[int, ...]] = {11: (450, 80, 2), 12: (525, 60, 13),
                                                       13: (580,)}

# Integrated (Tegra) GPUs run only code built for exactly their capability (torch's
# DEVICE_REQUIREMENT table excludes them from the ranges of their major).
INTEGRATED_CCS = {53, 62, 72, 87, 101}

# PYTORCH_CUDA_ALLOC_CONF keys known to torch 2.x (c10 AllocatorConfig / CUDAAllocatorConfig),
# with the value each takes. Newer torch versions add keys: an unknown key is a warning, and the
# probe asks the installed torch's own parser for the verdict.
_BOOL = "True|False"
ALLOC_CONF_KEYS: dict[str, str] = {
    "backend": "native|cudaMallocAsync",
    "expandable_segments": _BOOL,
    "max_split_size_mb": "int>=20",
    "max_non_split_rounding_mb": "int>=20",
    "garbage_collection_threshold": "float(0,1)",
    "roundup_power2_divisions": "pow2|list",
    "release_lock_on_cudamalloc": _BOOL,
    "release_lock_on_hipmalloc": _BOOL,
    "pinned_use_cuda_host_register": _BOOL,
    "pinned_use_hip_host_register": _BOOL,
    "pinned_num_register_threads": "pow2",
    "pinned_use_background_threads": _BOOL,
    "pinned_reserve_segment_size_mb": "int>=0",
    "per_process_memory_fraction": "float(0,1]",
    "graph_capture_record_stream_reuse": _BOOL,
    "pinned_free_catch_all": "any",
    "throw_on_cudamalloc_oom": "any",
}


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Check:
    """One finding. `title` names the check, `detail` is the verdict in one sentence."""

    id: str
    status: str  # "pass" | "warn" | "fail"
    title: str
    detail: str
    facts: dict[str, Any] = field(default_factory=dict)
    fix: str = ""  # one line; "" when there is nothing to do

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "status": self.status, "title": self.title, "detail": self.detail,
            "facts": self.facts, "fix": self.fix,
        }


@dataclass(frozen=True)
class Report:
    checks: tuple[Check, ...]
    elapsed_s: float | None = None

    def get(self, check_id: str) -> Check:
        for check in self.checks:
            if check.id == check_id:
                return check
        raise KeyError(check_id)

    @property
    def summary(self) -> dict[str, Any]:
        counts = {s: sum(1 for c in self.checks if c.status == s) for s in STATUSES}
        worst = "fail" if counts["fail"] else "warn" if counts["warn"] else "pass"
        return {**counts, "status": worst, "elapsed_s": self.elapsed_s}

    @property
    def exit_code(self) -> int:
        return 1 if any(c.status == "fail" for c in self.checks) else 0

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "checks": [c.to_json_dict() for c in self.checks],
            "summary": self.summary,
        }


def format_report(report: Report, verbose: bool = False) -> str:
    """The readable report: one line per check (status, title, verdict), then its fix."""
    width = max((len(c.title) for c in report.checks), default=0)
    lines: list[str] = []
    for c in report.checks:
        lines.append(f"{c.status.upper():4}  {c.title:<{width}}  {c.detail}")
        if c.fix:
            lines.append(f"{'':4}  {'':<{width}}  fix: {c.fix}")
        if verbose:
            for key, value in c.facts.items():
                lines.append(f"{'':4}  {'':<{width}}    {key} = {json.dumps(value, default=str)}")
    s = report.summary
    took = f" in {s['elapsed_s']:.1f} s" if s["elapsed_s"] is not None else ""
    lines.append(f"\n{s['pass']} passed, {s['warn']} warnings, {s['fail']} failed{took}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- NVML


@dataclass(frozen=True)
class NvmlGpu:
    index: int  # NVML's order (PCI bus order), as nvidia-smi shows
    name: str | None
    uuid: str | None
    compute_capability: tuple[int, int] | None
    memory_total_bytes: int | None


@dataclass(frozen=True)
class NvmlFacts:
    status: NvmlStatus
    gpus: tuple[NvmlGpu, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status.ok


# --------------------------------------------------------------------------- the probe


@dataclass(frozen=True)
class ProbeRun:
    """The engine-side probe's answer, or why there is none."""

    python: str
    data: dict[str, Any] | None  # the probe's JSON (console/worker/probe.py documents it)
    error: str | None = None
    elapsed_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.data is not None


# --------------------------------------------------------------------------- host facts


@dataclass(frozen=True)
class HfCacheFacts:
    path: str
    source: str  # which setting chose it
    exists: bool
    writable: bool
    free_bytes: int | None
    total_bytes: int | None
    cached_models: int | None
    offline: bool


@dataclass(frozen=True)
class HostFacts:
    shm_total_bytes: int | None  # None: no /dev/shm
    shm_free_bytes: int | None
    swap_total_bytes: int | None
    swap_used_bytes: int | None
    memlock_soft_bytes: int | None  # None: unlimited
    memlock_hard_bytes: int | None


@dataclass(frozen=True)
class DoctorInputs:
    """Everything `evaluate` judges; built by `gather`, or by hand in tests."""

    python_version: str
    python_executable: str
    env: dict[str, str]
    nvml: NvmlFacts
    probe: ProbeRun
    packages: dict[str, str | None]  # name -> installed version (None: not installed)
    transformers_requires: tuple[str, ...]
    hf_cache: HfCacheFacts
    host: HostFacts


# --------------------------------------------------------------------------- pure rules


def parse_version(text: str | None) -> tuple[int, ...] | None:
    """The leading numeric release of a version string: "2.11.0+cu130" -> (2, 11, 0)."""
    if not text:
        return None
    match = re.match(r"\s*v?(\d+(?:\.\d+)*)", text)
    return tuple(int(p) for p in match.group(1).split(".")) if match else None


def _vtext(version: tuple[int, ...]) -> str:
    return ".".join(str(v) for v in version)


def cudnn_version_text(version: int | None) -> str | None:
    """torch.backends.cudnn.version(): 91002 -> "9.10.2" (cuDNN 9+), 8902 -> "8.9.2"."""
    if version is None:
        return None
    if version >= 90000:
        return f"{version // 10000}.{(version % 10000) // 100}.{version % 100}"
    return f"{version // 1000}.{(version % 1000) // 100}.{version % 100}"


def _arch_code(entry: str) -> tuple[str, int, str] | None:
    """"sm_90a" -> ("sm", 90, "a"); "compute_80" -> ("compute", 80, "")."""
    match = re.fullmatch(r"(sm|compute)_(\d+)([af]?)", entry.strip())
    if not match:
        return None
    return match.group(1), int(match.group(2)), match.group(3)


def kernel_support(arch_list: Sequence[str], capability: tuple[int, int]) -> tuple[str, list[str]]:
    """How torch's compiled code can run on a GPU of `capability`.

    -> ("native", entries): machine code (SASS) for it: sm_XY runs on X.Z for Z >= Y (same
       major); "a" (arch-specific) codes only on exactly X.Y; integrated GPUs need exact codes.
    -> ("ptx", entries): only PTX (compute_XY) for a capability <= the GPU's, which the driver
       JIT-compiles at first use ("a" PTX only on exactly X.Y).
    -> ("none", []): "no kernel image is available for execution on the device".
    """
    device = capability[0] * 10 + capability[1]
    native: list[str] = []
    ptx: list[str] = []
    for entry in arch_list:
        code = _arch_code(entry)
        if code is None:
            continue
        kind, cc, suffix = code
        if kind == "sm":
            if suffix == "a" or device in INTEGRATED_CCS:
                ok = cc == device
            else:
                ok = cc // 10 == device // 10 and cc % 10 <= device % 10
            if ok:
                native.append(entry)
        elif (cc == device) if suffix == "a" else (cc <= device):
            ptx.append(entry)
    if native:
        return "native", native
    if ptx:
        return "ptx", ptx
    return "none", []


def driver_runtime_compat(
    driver_cuda: str, runtime_cuda: str, driver_version: str | None
) -> tuple[str, str]:
    """(status, reason) for torch's CUDA runtime on a driver that supports `driver_cuda`.

    Driver >= runtime: pass. Same major, older minor: CUDA minor-version compatibility runs it
    (driver at least the major's minimum) with a limited feature set: PTX JIT and newer APIs fail
    -> warn. Older major, or below the minimum driver: "CUDA driver version is insufficient for
    CUDA runtime version" -> fail.
    """
    d, r = parse_version(driver_cuda), parse_version(runtime_cuda)
    if d is None or r is None:
        return "warn", f"cannot compare CUDA versions {driver_cuda!r} and {runtime_cuda!r}"
    d, r = (*d, 0)[:2], (*r, 0)[:2]
    if d >= r:
        return "pass", f"the driver supports CUDA {_vtext(d)} >= torch's CUDA {_vtext(r)}"
    if d[0] < r[0] or r[0] < 11:
        return "fail", (
            f"the driver supports CUDA {_vtext(d)} only; torch was built for CUDA {_vtext(r)}: "
            "\"CUDA driver version is insufficient for CUDA runtime version\""
        )
    minimum = MINOR_COMPAT_MIN_DRIVER.get(r[0])
    drv = parse_version(driver_version)
    if minimum and drv is not None and drv < minimum:
        return "fail", (
            f"driver {driver_version} is older than {_vtext(minimum)}, the minimum for CUDA "
            f"{r[0]}.x minor-version compatibility; torch needs CUDA {_vtext(r)}"
        )
    return "warn", (
        f"the driver supports CUDA {_vtext(d)}, torch was built for {_vtext(r)}: it runs through "
        "CUDA minor-version compatibility, but kernels JIT-compiled from PTX and features newer "
        f"than {_vtext(d)} fail (\"the provided PTX was compiled with an unsupported toolchain\")"
    )


@dataclass(frozen=True)
class VisibleDevices:
    """CUDA_VISIBLE_DEVICES resolved against NVML's GPUs, with CUDA's own rules."""

    value: str | None
    visible: tuple[int, ...] | None  # NVML indices CUDA will show, in order; None: unknown
    problems: tuple[str, ...]
    hides_all: bool


def _strtoul(text: str) -> int | None:
    """CUDA reads index entries like strtoul: "1gpu" -> 1; no leading digits -> invalid."""
    match = re.match(r"\+?(\d+)", text)
    return int(match.group(1)) if match else None


def resolve_visible_devices(value: str | None, gpus: Sequence[NvmlGpu] | None) -> VisibleDevices:
    """The first invalid entry ends the list (it and what follows are ignored); a repeated
    device empties it; GPU-/MIG- UUIDs may be given by unique prefix."""
    if value is None:
        every = tuple(g.index for g in gpus) if gpus is not None else None
        return VisibleDevices(None, every, (), False)
    entries = [e.strip() for e in value.split(",")]
    if value.strip() == "":
        return VisibleDevices(value, (), ("it is set but empty, which hides every GPU",), True)
    problems: list[str] = []
    visible: list[int] = []
    unverified = False
    for pos, entry in enumerate(entries):
        after = " and the entries after it" if pos < len(entries) - 1 else ""
        if entry.startswith("MIG-"):
            unverified = True  # MIG instances are not NVML GPUs; CUDA checks them itself
            continue
        if entry.startswith("GPU-"):
            if gpus is None:
                unverified = True
                continue
            matches = [g.index for g in gpus if g.uuid and g.uuid.startswith(entry)]
            if len(matches) != 1:
                why = "matches no GPU" if not matches else "matches several GPUs"
                problems.append(f"{entry!r} {why}: CUDA ignores it{after}")
                break
            index = matches[0]
        else:
            number = _strtoul(entry)
            if number is None:
                problems.append(f"{entry!r} is not a GPU index or UUID: CUDA ignores it{after}")
                break
            if gpus is not None and number >= len(gpus):
                have = ", ".join(str(g.index) for g in gpus) or "none"
                problems.append(
                    f"there is no GPU {number} (NVML sees {len(gpus)}: {have}): "
                    f"CUDA ignores it{after}"
                )
                break
            index = number
        if index in visible:
            problems.append(f"GPU {index} is listed twice, which makes CUDA show no GPU at all")
            visible = []
            break
        visible.append(index)
    known = None if gpus is None or unverified else tuple(visible)
    hides_all = known == () if known is not None else (not visible and bool(problems))
    return VisibleDevices(value, known, tuple(problems), hides_all)


def _check_alloc_value(key: str, value: str) -> str | None:
    """Why `value` is not valid for `key` (torch's rules), or None."""
    rule = ALLOC_CONF_KEYS[key]
    if rule == _BOOL:
        return None if value in ("True",
                                 "False") else f"must be True or False (exactly), got {value!r}"
    if rule == "native|cudaMallocAsync":
        return None if value in ("native",
            "cudaMallocAsync") else f"must be native or cudaMallocAsync, got {value!r}"
    if rule.startswith("int>="):
        low = int(rule[5:])
        if value.isdigit() and int(value) >= low:
            return None
        return f"must be a whole number >= {low}, got {value!r}"
    if rule.startswith("float("):
        try:
            number = float(value)
        except ValueError:
            return f"must be a number, got {value!r}"
        upper_ok = number <= 1 if rule.endswith("]") else number < 1
        return None if number > 0 and upper_ok else f"must be in {rule[5:]}, got {value!r}"
    if rule in ("pow2", "pow2|list"):
        if rule == "pow2|list" and value.startswith("["):
            return None if value.endswith("]") else f"unclosed list {value!r}"
        if not value.isdigit():
            return f"must be a power of 2, got {value!r}"
        n = int(value)
        return None if n > 0 and n & (n - 1) == 0 else f"must be a power of 2, got {value!r}"
    return None


# --------------------------------------------------------------------------- the checks


NA_NO_GPU = "not applicable: no GPU"


def _torch(inputs: DoctorInputs) -> dict[str, Any] | None:
    data = inputs.probe.data
    return data.get("torch") if data else None


def _driver_cuda(inputs: DoctorInputs) -> str | None:
    if inputs.nvml.status.cuda_driver_version:
        return inputs.nvml.status.cuda_driver_version
    data = inputs.probe.data or {}
    return (data.get("libcuda") or {}).get("driver_cuda_version")


def _visible(inputs: DoctorInputs) -> VisibleDevices:
    gpus = inputs.nvml.gpus if inputs.nvml.ok else None
    return resolve_visible_devices(inputs.env.get("CUDA_VISIBLE_DEVICES"), gpus)


def _gpu_names(gpus: Sequence[NvmlGpu]) -> str:
    parts = []
    for g in gpus:
        cc = (f"cc {g.compute_capability[0]}.{g.compute_capability[1]}" if g.compute_capability
              else "cc ?")
        parts.append(f"{g.index}: {g.name or 'GPU'} ({cc}, {fmt_bytes(g.memory_total_bytes)})")
    return "; ".join(parts)


def check_python(inputs: DoctorInputs) -> Check:
    facts: dict[str, Any] = {"version": inputs.python_version,
                             "executable": inputs.python_executable}
    engine = (inputs.probe.data or {}).get("python") or {}
    if engine and engine.get("executable") != inputs.python_executable:
        facts["engine_version"] = engine.get("version")
        facts["engine_executable"] = engine.get("executable")
    versions = [inputs.python_version, *([engine["version"]] if "engine_version" in facts else [])]
    too_old = [v for v in versions if (parse_version(v) or (0,)) < PYTHON_MIN]
    if too_old:
        return Check("python", "fail", "Python", f"Python {too_old[0]} is too old: "
                     f"autoglm-console and transformers 5 need {_vtext(PYTHON_MIN)}+", facts,
                     f"use Python {_vtext(PYTHON_MIN)} or newer")
    detail = f"Python {inputs.python_version} ({inputs.python_executable})"
    if "engine_version" in facts:
        detail += (f"; the engine runs Python {facts['engine_version']} "
                   f"({facts['engine_executable']})")
    return Check("python", "pass", "Python", detail, facts)


def check_driver(inputs: DoctorInputs) -> Check:
    st = inputs.nvml.status
    gpus = inputs.nvml.gpus
    facts: dict[str, Any] = {
        "nvml_state": st.state, "nvml_message": st.message, "driver_version": st.driver_version,
        "cuda_driver_version": st.cuda_driver_version, "nvml_version": st.nvml_version,
        "gpus": [
            {"index": g.index, "name": g.name, "uuid": g.uuid,
             "compute_capability": list(g.compute_capability) if g.compute_capability else None,
             "memory_total_bytes": g.memory_total_bytes}
            for g in gpus
        ],
    }
    title = "NVIDIA driver"
    if st.state == "no_driver":
        return Check("nvidia_driver", "warn", title,
                     "no NVIDIA driver found (NVML could not load it): no GPU, models run on CPU "
                     "only",
                     facts, "if this machine has an NVIDIA GPU, install the driver "
                     "(`nvidia-smi` must list the GPU)")
    if st.state == "version_mismatch":
        return Check("nvidia_driver", "fail", title,
                     f"the NVIDIA kernel module and user library versions differ ({st.message})",
                     facts, "reboot (or reload the nvidia kernel modules) after a driver update")
    if st.state != "ok":
        return Check("nvidia_driver", "warn", title, f"NVML is not usable: {st.message}", facts,
                     "check `nvidia-smi`; install nvidia-ml-py for GPU telemetry")
    if not gpus:
        return Check("nvidia_driver", "warn", title,
                     f"driver {st.driver_version} is loaded but NVML sees no GPU", facts,
                     "check `nvidia-smi -L`; the GPU may be absent or not passed to this container")
    return Check("nvidia_driver", "pass", title,
                 f"driver {st.driver_version}, supports CUDA {st.cuda_driver_version or '?'}; "
                 f"{len(gpus)} GPU{'s' if len(gpus) != 1 else ''}: {_gpu_names(gpus)}", facts)


def _pip_hint(driver_cuda: str | None) -> str:
    if driver_cuda:
        return (f"install a CUDA build of torch for CUDA <= {driver_cuda} "
                "(https://pytorch.org/get-started/locally/, e.g. --index-url .../whl/cu1XX)")
    return "install a CUDA build of torch (https://pytorch.org/get-started/locally/)"


def check_torch(inputs: DoctorInputs) -> Check:
    title = "PyTorch"
    probe = inputs.probe
    facts: dict[str, Any] = {"engine_python": probe.python, "probe_error": probe.error,
                             "probe_s": round(probe.elapsed_s, 2) if probe.elapsed_s else None}
    if not probe.ok:
        return Check("torch", "fail", title, f"could not ask torch: {probe.error}", facts,
                     f"run `{probe.python} -m console.worker.probe` to see the error")
    data = probe.data or {}
    torch = data.get("torch")
    nvml_gpus = inputs.nvml.gpus if inputs.nvml.ok else ()
    if torch is None:
        facts["import_error"] = data.get("torch_import_error")
        return Check("torch", "fail", title,
                     f"torch is not installed for {probe.python} "
                     f"({data.get('torch_import_error')}): "
                     "the engine cannot load a model", facts,
                     _pip_hint(_driver_cuda(inputs)) if nvml_gpus else "pip install torch")
    facts.update({k: torch.get(k) for k in
                  ("version", "cuda", "hip", "cuda_available", "device_count",
                   "unavailable_message")})
    version = torch.get("version")
    if torch.get("hip"):
        return Check("torch", "warn", title,
                     f"torch {version} is a ROCm (AMD) build: the NVIDIA checks do not apply",
                     facts, "install a CUDA build of torch for an NVIDIA GPU" if nvml_gpus else "")
    if torch.get("cuda") is None:
        if nvml_gpus:
            return Check("torch", "fail", title,
                         f"torch {version} is a CPU-only build, but this machine has "
                         f"{len(nvml_gpus)} NVIDIA GPU(s): models would run on the CPU",
                         facts, _pip_hint(_driver_cuda(inputs)))
        return Check("torch", "warn", title,
                     f"torch {version} is a CPU-only build (no CUDA): models run on the CPU", facts,
                     "none needed without a GPU; on a GPU machine install a CUDA build of torch")
    if torch.get("cuda_available"):
        visible = _visible(inputs)
        count = torch.get("device_count")
        detail = (f"torch {version} (CUDA {torch['cuda']}) sees {count} "
                  f"GPU{'s' if count != 1 else ''}")
        if visible.visible is not None and count != len(visible.visible):
            facts["expected_device_count"] = len(visible.visible)
            return Check("torch", "warn", title,
                         f"{detail}, but NVML and CUDA_VISIBLE_DEVICES predict "
                         f"{len(visible.visible)}",
                         facts, "compare `nvidia-smi -L` with CUDA_VISIBLE_DEVICES")
        return Check("torch", "pass", title, detail, facts)
    # A CUDA build that cannot use CUDA: say why.
    message = torch.get("unavailable_message") or ""
    lowered = message.lower()
    libcuda = data.get("libcuda") or {}
    visible = _visible(inputs)
    if not nvml_gpus and not libcuda.get("found"):
        facts["reason"] = "no_driver"
        return Check("torch", "warn", title,
                     f"torch {version} is a CUDA {torch['cuda']} build, but there is no NVIDIA "
                     "driver: models run on the CPU", facts,
                     "install the NVIDIA driver if this machine has an NVIDIA GPU")
    if nvml_gpus and visible.hides_all:
        facts["reason"] = "hidden"
        return Check("torch", "fail", title,
                     f"torch {version} (CUDA {torch['cuda']}) sees no GPU: "
                     f"CUDA_VISIBLE_DEVICES={visible.value!r} hides every GPU "
                     f"({len(nvml_gpus)} on this machine)",
                     facts, "unset CUDA_VISIBLE_DEVICES or list an existing GPU (e.g. 0)")
    if "insufficient" in lowered or "too old" in lowered:
        facts["reason"] = "driver_too_old"
        return Check("torch", "fail", title,
                     f"torch {version} cannot start CUDA: {message}", facts,
                     f"update the NVIDIA driver to one supporting CUDA {torch['cuda']}, "
                     "or install a torch built for an older CUDA")
    facts["reason"] = "error"
    return Check("torch", "fail", title,
                 f"torch {version} (CUDA {torch['cuda']}) cannot use the GPU: "
                 f"{message or 'unknown reason'}",
                 facts, "run `nvidia-smi`; check the driver and CUDA_VISIBLE_DEVICES")


def check_cuda_compat(inputs: DoctorInputs) -> Check:
    title = "driver vs torch CUDA"
    torch = _torch(inputs)
    driver_cuda = _driver_cuda(inputs)
    facts: dict[str, Any] = {
        "driver_cuda_version": driver_cuda, "driver_version": inputs.nvml.status.driver_version,
        "torch_cuda_version": torch.get("cuda") if torch else None, "applicable": False,
    }
    if not torch or not torch.get("cuda"):
        return Check("cuda_compat", "pass", title,
                     "not applicable: torch is not a CUDA build" if torch else
                     "not applicable: torch is not installed", facts)
    if not driver_cuda:
        return Check("cuda_compat", "pass", title, f"{NA_NO_GPU} (no NVIDIA driver)", facts)
    facts["applicable"] = True
    status, reason = driver_runtime_compat(driver_cuda, torch["cuda"],
                                           inputs.nvml.status.driver_version)
    fix = {
        "pass": "",
        "warn": f"update the NVIDIA driver to one supporting CUDA {torch['cuda']} or newer",
        "fail": f"update the NVIDIA driver to one supporting CUDA {torch['cuda']}, or install a "
                f"torch built for CUDA <= {driver_cuda}",
    }[status]
    return Check("cuda_compat", status, title, reason, facts, fix)


def _devices_for_arch(inputs: DoctorInputs) -> tuple[list[tuple[str, tuple[int, int]]], str]:
    """(label, capability) for each GPU torch will use, from torch when it sees them, else
    predicted from NVML and CUDA_VISIBLE_DEVICES."""
    torch = _torch(inputs) or {}
    devices = torch.get("devices") or []
    if devices:
        return [(f"cuda:{d['index']} {d.get('name') or ''}".strip(), (d["capability"][0],
                                                                      d["capability"][1]))
                for d in devices], "torch"
    if not inputs.nvml.ok:
        return [], "none"
    visible = _visible(inputs)
    indices = (visible.visible if visible.visible is not None
               else tuple(g.index for g in inputs.nvml.gpus))
    out = []
    for g in inputs.nvml.gpus:
        if g.index in indices and g.compute_capability:
            out.append((f"GPU {g.index} {g.name or ''}".strip(), g.compute_capability))
    return out, "nvml"


def _no_device_reason(inputs: DoctorInputs) -> str:
    """Why there is no GPU to judge: none at all, or none visible to torch."""
    if inputs.nvml.ok and inputs.nvml.gpus:
        return "not applicable: no GPU visible to torch (see CUDA_VISIBLE_DEVICES)"
    return NA_NO_GPU


def check_arch(inputs: DoctorInputs) -> Check:
    title = "torch kernels vs GPU"
    torch = _torch(inputs)
    arch_list = list((torch or {}).get("arch_list") or [])
    facts: dict[str, Any] = {"arch_list": arch_list, "applicable": False}
    if not torch or not torch.get("cuda"):
        return Check("arch", "pass", title, "not applicable: torch is not a CUDA build"
                     if torch else "not applicable: torch is not installed", facts)
    devices, source = _devices_for_arch(inputs)
    if not devices:
        return Check("arch", "pass", title, _no_device_reason(inputs), facts)
    if not arch_list:
        return Check("arch", "pass", title, "cannot tell: torch reported no architecture list",
                     facts)
    facts.update({"applicable": True, "capability_source": source, "devices": []})
    worst = "pass"
    verdicts: list[str] = []
    fixes: list[str] = []
    driver_cuda, runtime = _driver_cuda(inputs), torch.get("cuda")
    for label, cc in devices:
        cc_text = f"{cc[0]}.{cc[1]}"
        support, entries = kernel_support(arch_list, cc)
        facts["devices"].append({"device": label, "capability": cc_text, "support": support,
                                 "matching": entries})
        if support == "native":
            verdicts.append(f"{label} (cc {cc_text}) runs {', '.join(entries)}")
            continue
        if support == "ptx":
            jit_blocked = (driver_cuda is not None and runtime is not None
                           and (parse_version(driver_cuda) or ()) < (parse_version(runtime) or ()))
            if jit_blocked:
                worst = "fail"
                verdicts.append(f"{label} (cc {cc_text}) has only PTX ({', '.join(entries)}) and "
                                f"the driver (CUDA {driver_cuda}) is older than torch's CUDA "
                                f"{runtime}, so it cannot JIT-compile it: \"no kernel image is "
                                "available\"")
                fixes.append(f"update the driver to CUDA {runtime}+, or install a torch built with "
                             f"sm_{cc[0]}{cc[1]}")
            else:
                worst = "warn" if worst == "pass" else worst
                verdicts.append(f"{label} (cc {cc_text}) has no machine code, only PTX "
                                f"({', '.join(entries)}): the driver JIT-compiles every kernel at "
                                "first use (slow start, kept in ~/.nv/ComputeCache), possibly "
                                "slower")
                fixes.append(f"install a torch build that includes sm_{cc[0]}{cc[1]}")
            continue
        worst = "fail"
        verdicts.append(f"{label} (cc {cc_text}) is not covered by torch's "
                        f"{' '.join(arch_list) or 'empty'} "
                        "arch list: \"no kernel image is available for execution on the device\"")
        fixes.append(f"install a torch build compiled for sm_{cc[0]}{cc[1]} "
                     "(see https://pytorch.org/get-started/locally/)")
    return Check("arch", worst, title, "; ".join(verdicts), facts, fixes[0] if fixes else "")


def check_cudnn(inputs: DoctorInputs) -> Check:
    title = "cuDNN"
    torch = _torch(inputs)
    facts: dict[str, Any] = {"applicable": False}
    if not torch or not torch.get("cuda"):
        has_gpu = inputs.nvml.ok and bool(inputs.nvml.gpus)
        why = NA_NO_GPU if not has_gpu else "not applicable: torch is not a CUDA build"
        if not torch:
            why = "not applicable: torch is not installed"
        elif not has_gpu:
            why = f"{NA_NO_GPU} (and torch is a CPU-only build)"
        return Check("cudnn", "pass", title, why, facts)
    version = cudnn_version_text(torch.get("cudnn_version"))
    facts.update({"applicable": True, "cudnn_available": torch.get("cudnn_available"),
                  "cudnn_version": version, "cudnn_version_raw": torch.get("cudnn_version")})
    if not torch.get("cudnn_available"):
        return Check("cudnn", "warn", title,
                     f"cuDNN is not available to torch {torch.get('version')}: convolutions "
                     "(vision towers) use slower fallbacks or fail", facts,
                     "reinstall torch from the official wheels (they bring nvidia-cudnn)")
    return Check("cudnn", "pass", title, f"cuDNN {version}", facts)


def check_bf16(inputs: DoctorInputs) -> Check:
    title = "bfloat16"
    torch = _torch(inputs)
    devices, source = _devices_for_arch(inputs)
    facts: dict[str, Any] = {"applicable": bool(devices), "capability_source": source,
                             "torch_bf16_supported": (torch or {}).get("bf16_supported")}
    if not devices:
        return Check("bf16", "pass", title, _no_device_reason(inputs), facts)
    if not torch or not torch.get("cuda"):
        facts["applicable"] = False
        return Check("bf16", "pass", title, "not applicable: torch cannot use the GPU "
                     "(see the PyTorch check)", facts)
    without = [(label, cc) for label, cc in devices if cc[0] < 8]
    facts["devices"] = [{"device": label, "capability": f"{cc[0]}.{cc[1]}",
                         "native_bf16": cc[0] >= 8}
                        for label, cc in devices]
    if without:
        names = ", ".join(f"{label} (cc {cc[0]}.{cc[1]})" for label, cc in without)
        return Check("bf16", "warn", title,
                     f"no native bfloat16 on {names} (needs compute capability 8.0+, Ampere): "
                     "bf16 models run emulated and slowly", facts,
                     "load in float16 (watch for inf/NaN) or float32, or use an Ampere+ GPU")
    detail = "native bfloat16 on every GPU (compute capability 8.0+)"
    if torch.get("bf16_supported") is False:
        return Check("bf16", "warn", title, f"{detail}, yet torch reports no bf16 support", facts,
                     "check the torch build")
    return Check("bf16", "pass", title, detail, facts)


def _requirement_for(inputs: DoctorInputs, name: str) -> str | None:
    """transformers' own requirement on `name` (base, or its torch extra).

    E.g. 'tokenizers<0.24'.
    """
    want = DIST_NAMES.get(name, name).lower().replace("_", "-")
    for req in inputs.transformers_requires:
        head = re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0].lower().replace("_", "-")
        if head != want:
            continue
        marker = req.split(";", 1)[1] if ";" in req else ""
        if not marker or re.search(r"extra\s*==\s*['\"](torch|accelerate)['\"]", marker):
            return req.split(";", 1)[0].strip()
    return None


def _satisfies(version: str, requirement: str) -> bool | None:
    """Does `version` meet `requirement`? None when `packaging` is missing to tell."""
    try:
        from packaging.requirements import Requirement
        from packaging.version import Version
    except ImportError:
        return None
    try:
        return Requirement(requirement).specifier.contains(Version(version), prereleases=True)
    except Exception:
        return None


def check_package(inputs: DoctorInputs, name: str) -> Check:
    version = inputs.packages.get(name)
    requirement = _requirement_for(inputs, name) if name != "transformers" else None
    facts: dict[str, Any] = {"version": version, "required_by_transformers": requirement}
    cid = f"pkg_{name}"
    if version is None:
        if name == "accelerate":
            return Check(cid, "warn", name, "not installed: transformers' torch extra asks for it; "
                         "quantized and offloaded loads need it", facts, "pip install accelerate")
        return Check(cid, "fail", name, "not installed: the engine needs it to load a model", facts,
                     f"pip install {DIST_NAMES.get(name, name)}")
    if name == "transformers":
        v = parse_version(version) or (0,)
        if v < TRANSFORMERS_MIN:
            return Check(cid, "fail", name, f"{version} is too old: the glm4v architecture "
                         f"(AutoGLM) needs {_vtext(TRANSFORMERS_MIN)}+", facts,
                         "pip install -U 'transformers>=5'")
        if v < TRANSFORMERS_RECOMMENDED:
            return Check(cid, "warn", name, f"{version}: Open-AutoGLM asks for "
                         f"{_vtext(TRANSFORMERS_RECOMMENDED)}+", facts,
                         "pip install -U 'transformers>=5'")
        return Check(cid, "pass", name, version, facts)
    if requirement:
        ok = _satisfies(version, requirement)
        facts["satisfies"] = ok
        if ok is False:
            return Check(cid, "fail", name,
                         f"{version} does not meet transformers "
                         f"{inputs.packages.get('transformers')}'s "
                         f"requirement {requirement}: transformers refuses to import or breaks",
                         facts, f"pip install '{requirement}'")
        return Check(cid, "pass", name, f"{version} (transformers wants {requirement})", facts)
    return Check(cid, "pass", name, version, facts)


def check_optional(inputs: DoctorInputs) -> Check:
    versions = {n: inputs.packages.get(n) for n in OPTIONAL_PACKAGES}
    missing = [n for n, v in versions.items() if v is None]
    have = ", ".join(f"{n} {v}" for n, v in versions.items() if v is not None) or "none"
    detail = f"installed: {have}"
    if missing:
        detail += (f"; not installed: {', '.join(missing)} (needed only by models whose tokenizer "
                   "or quantization uses them)")
    return Check("optional_packages", "pass", "optional packages", detail, {"versions": versions})


def check_flash_attn(inputs: DoctorInputs) -> Check:
    title = "flash-attn"
    data = (inputs.probe.data or {}).get("flash_attn") or {}
    version = inputs.packages.get("flash_attn")
    facts: dict[str, Any] = {"version": version, **{k: v for k,
                                                    v in data.items() if k != "version"}}
    installed = version is not None or data.get("installed")
    if not installed and not data.get("fa3_installed"):
        return Check("flash_attn", "pass", title,
                     "not installed (optional): transformers uses PyTorch SDPA attention", facts)
    devices, _ = _devices_for_arch(inputs)
    if data.get("import_error"):
        return Check("flash_attn", "warn", title,
                     f"flash-attn {version or ''} is installed but does not import: "
                     f"{data['import_error']} (built for another torch/CUDA?)", facts,
                     "pip uninstall flash-attn, or rebuild it for this torch: "
                     "pip install flash-attn --no-build-isolation")
    if not devices:
        return Check("flash_attn", "pass", title,
                     f"flash-attn {version or '?'} installed; {NA_NO_GPU}", facts)
    problems: list[str] = []
    old = [(label, cc) for label, cc in devices if cc[0] < 8]
    if installed and old:
        problems.append("flash-attn 2 needs compute capability 8.0+ (Ampere or newer); "
                        + ", ".join(f"{label} is {cc[0]}.{cc[1]}" for label, cc in old))
    if installed and version and (parse_version(version) or (0,))[0] < 2:
        problems.append(f"flash-attn {version} is 1.x; transformers uses flash-attn 2")
    non_hopper = [(label, cc) for label, cc in devices if cc[0] != 9]
    if data.get("fa3_installed"):
        if data.get("fa3_import_error"):
            problems.append(f"FlashAttention-3 does not import: {data['fa3_import_error']}")
        elif non_hopper:
            problems.append("FlashAttention-3 is Hopper-only (9.x); "
                            + ", ".join(f"{label} is {cc[0]}.{cc[1]}" for label, cc in non_hopper))
    if problems:
        return Check("flash_attn", "warn", title, "; ".join(problems), facts,
                     "use attn_implementation='sdpa' on this GPU")
    detail = f"flash-attn {version or '?'} suits every GPU (compute capability 8.0+)"
    if data.get("fa3_installed"):
        detail += "; FlashAttention-3 (Hopper) installed"
    return Check("flash_attn", "pass", title, detail, facts)


def check_visible_devices(inputs: DoctorInputs) -> Check:
    title = "CUDA_VISIBLE_DEVICES"
    vis = _visible(inputs)
    gpus = inputs.nvml.gpus if inputs.nvml.ok else None
    facts: dict[str, Any] = {
        "value": vis.value,
        "visible_nvml_indices": list(vis.visible) if vis.visible is not None else None,
        "problems": list(vis.problems), "nvml_gpu_count": len(gpus) if gpus is not None else None,
        "cuda_device_order": inputs.env.get("CUDA_DEVICE_ORDER"),
    }
    if vis.value is None:
        detail = "not set: every GPU is visible" + (f" ({len(gpus)})" if gpus else " (no GPU here)")
        return Check("cuda_visible_devices", "pass", title, detail, facts)
    shown = f"CUDA_VISIBLE_DEVICES={vis.value!r}"
    if gpus is None or not gpus:
        if vis.problems:
            return Check("cuda_visible_devices", "warn", title, f"{shown}: {vis.problems[0]}",
                         facts,
                         "unset CUDA_VISIBLE_DEVICES or set it to GPU indices such as 0")
        why = "NVML sees no GPU" if gpus is not None else "no NVIDIA driver (NVML)"
        return Check("cuda_visible_devices", "pass", title,
                     f"{shown}; not checked against GPUs: {why}", facts)
    if vis.hides_all:
        return Check("cuda_visible_devices", "fail", title,
                     f"{shown} leaves no GPU visible: "
                     f"{vis.problems[0] if vis.problems else 'none listed'}",
                     facts, f"unset CUDA_VISIBLE_DEVICES or list existing GPUs "
                            f"(0..{len(gpus) - 1}, see `nvidia-smi -L`)")
    if vis.problems:
        shown_gpus = ", ".join(str(i) for i in vis.visible or ())
        return Check("cuda_visible_devices", "warn", title,
                     f"{shown}: {vis.problems[0]}; only GPU {shown_gpus} visible", facts,
                     f"list only existing GPUs (0..{len(gpus) - 1}, see `nvidia-smi -L`)")
    if vis.visible is None:
        return Check("cuda_visible_devices", "pass", title,
                     f"{shown}: MIG instances, checked by CUDA itself", facts)
    return Check("cuda_visible_devices", "pass", title,
                 f"{shown}: GPU {', '.join(str(i) for i in vis.visible)} visible "
                 f"(NVML order; CUDA numbers them from 0)", facts)


def check_alloc_conf(inputs: DoctorInputs) -> Check:
    title = "PYTORCH_CUDA_ALLOC_CONF"
    suggestion = ("optional: export PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True "
                  "(fewer fragmentation OOMs)")
    variable = next((v for v in ALLOC_CONF_VARIABLES if v in inputs.env), None)
    facts: dict[str, Any] = {"variable": variable,
                             "value": inputs.env.get(variable) if variable else None}
    if variable is None:
        return Check("alloc_conf", "pass", title, "not set: torch's default caching allocator",
                     facts, suggestion)
    value = inputs.env[variable]
    entries = split_alloc_conf(value)
    facts["entries"] = dict(entries)
    problems: list[str] = []
    for key, val in entries:
        if key not in ALLOC_CONF_KEYS:
            close = difflib.get_close_matches(key, ALLOC_CONF_KEYS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"unknown key {key!r}{hint}: torch raises \"Unrecognized key\" at the "
                            "first CUDA allocation unless this torch version added it")
            continue
        why = _check_alloc_value(key, val)
        if why:
            problems.append(f"{key}: {why}")
    probe_conf = ((inputs.probe.data or {}).get("alloc_conf")) or {}
    facts["checked_by_torch"] = bool(probe_conf.get("checked_by_torch"))
    facts["torch_error"] = probe_conf.get("error")
    shown = f"{variable}={value!r}"
    if probe_conf.get("error"):
        return Check("alloc_conf", "fail", title,
                     f"{shown} is rejected by the installed torch: {probe_conf['error']}", facts,
                     f"fix or unset {variable}; valid keys: expandable_segments, "
                     "max_split_size_mb, garbage_collection_threshold, roundup_power2_divisions, "
                     "backend")
    settings = dict(entries)
    already = (settings.get("expandable_segments") == "True"
               or settings.get("backend") == "cudaMallocAsync")
    tip = "" if already else suggestion.replace("export PYTORCH_CUDA_ALLOC_CONF=",
                                                f"add to {variable}: ")
    if problems:
        if facts["checked_by_torch"]:  # the installed torch parsed it without complaint
            return Check("alloc_conf", "pass", title,
                         f"{shown}: accepted by the installed torch (not in the doctor's list: "
                         f"{problems[0]})", facts, tip)
        return Check("alloc_conf", "warn", title, f"{shown}: {'; '.join(problems)}", facts,
                     f"fix or unset {variable} (keys: expandable_segments:True, "
                     "max_split_size_mb:N, garbage_collection_threshold:0.x, "
                     "roundup_power2_divisions:N, backend:native)")
    verdict = "checked by torch" if facts["checked_by_torch"] else "valid keys and values"
    return Check("alloc_conf", "pass", title, f"{shown} ({verdict})", facts, tip)


def check_hf_cache(inputs: DoctorInputs) -> Check:
    hf = inputs.hf_cache
    facts: dict[str, Any] = {
        "path": hf.path, "source": hf.source, "exists": hf.exists, "writable": hf.writable,
        "free_bytes": hf.free_bytes, "total_bytes": hf.total_bytes,
        "cached_models": hf.cached_models,
        "offline": hf.offline,
    }
    where = f"{hf.path} ({hf.source})"
    models = (f", {hf.cached_models} model(s) cached" if hf.cached_models is not None
              else ", not created yet")
    free = fmt_bytes(hf.free_bytes)
    if hf.free_bytes is not None and hf.free_bytes < 1 * GIB:
        return Check("hf_cache", "fail", "HF cache", f"{where}: only {free} free", facts,
                     "free disk space, or point HF_HUB_CACHE at a larger disk")
    if not hf.writable:
        return Check("hf_cache", "warn", "HF cache",
                     f"{where}: not writable{models}; cached models "
                     "load, nothing new can be saved", facts,
                     "set HF_HUB_CACHE (or HF_HOME) to a writable directory")
    if hf.free_bytes is not None and hf.free_bytes < 30 * GIB:
        return Check("hf_cache", "warn", "HF cache",
                     f"{where}: {free} free{models}; a 9B bf16 model "
                     "takes ~20 GB", facts,
                     "free disk space, or point HF_HUB_CACHE at a larger disk")
    return Check("hf_cache", "pass", "HF cache", f"{where}: {free} free{models}"
                 + ("; offline (HF_HUB_OFFLINE)" if hf.offline else ""), facts)


def check_shm(inputs: DoctorInputs) -> Check:
    h = inputs.host
    facts = {"total_bytes": h.shm_total_bytes, "free_bytes": h.shm_free_bytes}
    if h.shm_total_bytes is None:
        return Check("dev_shm", "warn", "/dev/shm", "missing: shared memory between processes "
                     "(torch multiprocessing, data loaders) fails", facts,
                     "mount a tmpfs on /dev/shm (docker: --shm-size=16g or --ipc=host)")
    detail = f"{fmt_bytes(h.shm_total_bytes)}, {fmt_bytes(h.shm_free_bytes)} free"
    if h.shm_total_bytes < 1 * GIB:
        return Check("dev_shm", "warn", "/dev/shm", f"{detail}: small (a container default?); "
                     "tensors shared between processes fail with 'No space left on device' or "
                     "'Bus error'", facts, "docker: --shm-size=16g or --ipc=host")
    if h.shm_free_bytes is not None and h.shm_free_bytes < 0.1 * h.shm_total_bytes:
        return Check("dev_shm", "warn", "/dev/shm", f"{detail}: almost full", facts,
                     "remove stale files in /dev/shm (left by crashed processes)")
    return Check("dev_shm", "pass", "/dev/shm", detail, facts)


def check_swap(inputs: DoctorInputs) -> Check:
    h = inputs.host
    facts = {"total_bytes": h.swap_total_bytes, "used_bytes": h.swap_used_bytes}
    if h.swap_total_bytes is None:
        return Check("swap", "pass", "swap", "unknown (psutil could not read it)", facts)
    if h.swap_total_bytes == 0:
        return Check("swap", "pass", "swap", "none configured: running out of RAM kills the "
                     "process at once (the guard watches RAM for that), with no slow-down first",
                     facts)
    detail = f"{fmt_bytes(h.swap_total_bytes)}, {fmt_bytes(h.swap_used_bytes)} used"
    if h.swap_used_bytes and h.swap_used_bytes > 0.5 * h.swap_total_bytes:
        return Check("swap", "warn", "swap", f"{detail}: the host is already under memory "
                     "pressure; a load will crawl", facts, "close memory-hungry processes first")
    return Check("swap", "pass", "swap", detail, facts)


def check_memlock(inputs: DoctorInputs) -> Check:
    h = inputs.host
    facts = {"soft_bytes": h.memlock_soft_bytes, "hard_bytes": h.memlock_hard_bytes}

    def show(v: int | None) -> str:
        return "unlimited" if v is None else fmt_bytes(v)

    detail = f"ulimit -l {show(h.memlock_soft_bytes)} (hard {show(h.memlock_hard_bytes)})"
    if h.memlock_soft_bytes is None:
        return Check("memlock", "pass", "locked memory", detail, facts)
    # CUDA's own pinned buffers (cudaHostAlloc, torch pin_memory) are not charged to this limit
    # (a 1 GiB pinned tensor works under `ulimit -l 64` on the H100 host); mlock and RDMA
    # (NCCL over InfiniBand) are.
    if h.memlock_soft_bytes < 64 * 1024**2:
        return Check("memlock", "pass", "locked memory",
                     f"{detail}: low; CUDA pinned buffers are not charged to it, but mlock and "
                     "RDMA (NCCL over InfiniBand) are", facts,
                     "if mlock or NCCL over InfiniBand fails: ulimit -l unlimited "
                     "(docker: --ulimit memlock=-1)")
    return Check("memlock", "pass", "locked memory", detail, facts)


def evaluate(inputs: DoctorInputs) -> Report:
    """Judge the facts. Pure: no I/O, so tests feed synthetic inputs."""
    checks = [
        check_python(inputs),
        check_driver(inputs),
        check_torch(inputs),
        check_cuda_compat(inputs),
        check_arch(inputs),
        check_cudnn(inputs),
        check_bf16(inputs),
        *(check_package(inputs, name) for name in CORE_PACKAGES),
        check_optional(inputs),
        check_flash_attn(inputs),
        check_visible_devices(inputs),
        check_alloc_conf(inputs),
        check_hf_cache(inputs),
        check_shm(inputs),
        check_swap(inputs),
        check_memlock(inputs),
    ]
    return Report(tuple(checks))
