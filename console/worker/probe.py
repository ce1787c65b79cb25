"""The doctor's engine-side probe: what torch sees. Run as `python -m console.worker.probe`.

It prints ONE JSON object on stdout (the last line) and exits 0 whatever it finds: no torch, a
CPU-only build, no driver, hidden GPUs. Judging the facts is `console.host.doctor`'s job; this
module only collects them, each step guarded so that one failure leaves the others intact.

It runs in its own short-lived process because it imports torch and may initialise CUDA,
which the app process must never do. It does not allocate on the GPU: everything it asks
(device properties, arch list, cuDNN version) is answered without a tensor.

Schema (`probe_schema` 1):
  python            {"version", "executable", "implementation"}
  torch             null when torch cannot be imported, else
                    {"version", "cuda", "hip", "arch_list", "cuda_available", "device_count",
                     "unavailable_message", "cudnn_available", "cudnn_version",
                     "bf16_supported", "devices": [{"index", "name", "capability": [M, m],
                     "total_memory_bytes", "uuid", "multi_processor_count"}]}
  torch_import_error  the exception text when torch cannot be imported
  libcuda           {"found", "driver_cuda_version" ("13.0"), "error"}: the driver library
                    as the CUDA runtime would load it (cuDriverGetVersion, no cuInit)
  alloc_conf        {"variable", "value", "checked_by_torch", "error"}: the allocator settings
                    passed through the installed torch's own parser (the `backend` entry is
                    left out: it is fixed when torch loads and is checked by the doctor)
  flash_attn        {"installed", "version", "import_error", "fa3_installed", "fa3_import_error"}
  errors            ["step: message", ...] for steps that failed unexpectedly
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import platform
import sys
from typing import Any

from console.core.allocconf import ALLOC_CONF_VARIABLES, split_alloc_conf

PROBE_SCHEMA = 1

__all__ = ["ALLOC_CONF_VARIABLES", "PROBE_SCHEMA", "main", "split_alloc_conf"]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


def _cuda_version_text(version: int) -> str:
    """cuDriverGetVersion's 13000 -> "13.0"."""
    return f"{version // 1000}.{(version % 1000) // 10}"


def probe_libcuda() -> dict[str, Any]:
    """Load libcuda the way the CUDA runtime does and ask the version it supports."""
    try:
        lib = ctypes.CDLL("libcuda.so.1")
    except OSError as exc:
        return {"found": False, "driver_cuda_version": None, "error": str(exc)}
    version = ctypes.c_int(0)
    rc = lib.cuDriverGetVersion(ctypes.byref(version))
    if rc != 0:
        return {"found": True, "driver_cuda_version": None, "error": f"cuDriverGetVersion -> {rc}"}
    return {"found": True, "driver_cuda_version": _cuda_version_text(version.value), "error": None}


def _probe_torch(torch: Any, errors: list[str]) -> dict[str, Any]:
    info: dict[str, Any] = {
        "version": str(torch.__version__),
        "cuda": torch.version.cuda,
        "hip": getattr(torch.version, "hip", None),
        "arch_list": [],
        "cuda_available": False,
        "device_count": 0,
        "unavailable_message": None,
        "cudnn_available": None,
        "cudnn_version": None,
        "bf16_supported": None,
        "devices": [],
    }
    try:
        arch_list = list(torch.cuda.get_arch_list())
        if not arch_list and torch.version.cuda is not None:
            # get_arch_list() answers [] while CUDA is unavailable (hidden GPUs, old driver);
            # the compiled-in flags do not need a device and still predict "no kernel image".
            flags = getattr(torch._C, "_cuda_getArchFlags", None)
            arch_list = str(flags() or "").split() if flags is not None else []
        info["arch_list"] = arch_list
    except Exception as exc:
        errors.append(f"arch_list: {_first_line(exc)}")
    try:
        info["cuda_available"] = bool(torch.cuda.is_available())
    except Exception as exc:
        errors.append(f"is_available: {_first_line(exc)}")
    if not info["cuda_available"] and torch.version.cuda is not None:
        # is_available() swallows the reason; init() raises it ("Found no NVIDIA driver",
        # "driver version is insufficient", "No CUDA GPUs are available", ...).
        try:
            torch.cuda.init()
        except Exception as exc:
            info["unavailable_message"] = _first_line(exc)
    try:
        info["cudnn_available"] = bool(torch.backends.cudnn.is_available())
        version = torch.backends.cudnn.version()
        info["cudnn_version"] = int(version) if version is not None else None
    except Exception as exc:
        errors.append(f"cudnn: {_first_line(exc)}")
    if not info["cuda_available"]:
        return info
    try:
        info["device_count"] = int(torch.cuda.device_count())
        for index in range(info["device_count"]):
            props = torch.cuda.get_device_properties(index)
            uuid = getattr(props, "uuid", None)
            info["devices"].append({
                "index": index,
                "name": str(props.name),
                "capability": [int(props.major), int(props.minor)],
                "total_memory_bytes": int(props.total_memory),
                "uuid": f"GPU-{uuid}" if uuid is not None and not str(uuid).startswith("GPU-")
                else (str(uuid) if uuid is not None else None),
                "multi_processor_count": int(props.multi_processor_count),
            })
    except Exception as exc:
        errors.append(f"devices: {_first_line(exc)}")
    try:
        # including_emulation=False: answer from the capability, without a test tensor.
        info["bf16_supported"] = bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # torch < 2.3 has no including_emulation
        info["bf16_supported"] = bool(torch.cuda.is_bf16_supported())
    except Exception as exc:
        errors.append(f"bf16: {_first_line(exc)}")
    return info


def _check_alloc_conf(torch: Any, variable: str | None, value: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "variable": variable, "value": value, "checked_by_torch": False, "error": None
    }
    if value is None or torch is None or torch.version.cuda is None:
        return out
    setter = getattr(getattr(torch.cuda, "memory", None), "_set_allocator_settings", None)
    if setter is None:
        return out
    entries = [f"{k}:{v}" if v else k for k, v in split_alloc_conf(value) if k != "backend"]
    try:
        if entries:
            setter(",".join(entries))
        out["checked_by_torch"] = True
    except Exception as exc:
        out["checked_by_torch"] = True
        out["error"] = _first_line(exc)
    return out


def _probe_flash_attn() -> dict[str, Any]:
    out: dict[str, Any] = {
        "installed": importlib.util.find_spec("flash_attn") is not None,
        "version": None,
        "import_error": None,
        "fa3_installed": importlib.util.find_spec("flash_attn_interface") is not None,
        "fa3_import_error": None,
    }
    if out["installed"]:
        try:
            import flash_attn

            out["version"] = str(getattr(flash_attn, "__version__", "") or "") or None
        except Exception as exc:  # e.g. "undefined symbol": built for another torch
            out["import_error"] = _first_line(exc)
    if out["fa3_installed"]:
        try:
            import flash_attn_interface  # noqa: F401
        except Exception as exc:
            out["fa3_import_error"] = _first_line(exc)
    return out


def collect() -> dict[str, Any]:
    errors: list[str] = []
    result: dict[str, Any] = {
        "probe_schema": PROBE_SCHEMA,
        "python": {
            "version": platform.python_version(),
            "executable": sys.executable,
            "implementation": platform.python_implementation(),
        },
        "torch": None,
        "torch_import_error": None,
        "libcuda": probe_libcuda(),
        "alloc_conf": None,
        "flash_attn": None,
        "errors": errors,
    }
    # The allocator settings are set aside before torch loads, so that a bad value cannot
    # break the other facts; they are then handed to torch's own parser on their own.
    variable = next((v for v in ALLOC_CONF_VARIABLES if v in os.environ), None)
    value = os.environ.get(variable) if variable else None
    for name in ALLOC_CONF_VARIABLES:
        os.environ.pop(name, None)
    torch: Any = None
    try:
        import torch
    except Exception as exc:  # ImportError, or a broken install raising anything
        result["torch_import_error"] = _first_line(exc)
    if torch is not None:
        result["torch"] = _probe_torch(torch, errors)
    try:
        result["alloc_conf"] = _check_alloc_conf(torch, variable, value)
    except Exception as exc:
        errors.append(f"alloc_conf: {_first_line(exc)}")
    try:
        result["flash_attn"] = _probe_flash_attn()
    except Exception as exc:
        errors.append(f"flash_attn: {_first_line(exc)}")
    return result


def main() -> int:
    # Anything a library prints goes to stderr, so stdout carries only the JSON line.
    with contextlib.redirect_stdout(sys.stderr):
        result = collect()
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
