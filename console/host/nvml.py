"""The one module through which every NVML call goes, and recorded NVML answers.

The choke point (nvitop's habit): `nvml()` gives an `Nvml` session; `Nvml.call(name, *args)`
returns the answer, or `NA` on any failure (an NVMLError subclass, a library mismatch, a ctypes
error) and keeps the failure in `last_error` (an NVML error code, `LIBRARY_MISMATCH`, or the
exception) and in `failures`. `Nvml.start()` loads the library (pynvml, or a recording when
`RECORDING_ENV` is set) and initialises it once, answering None or one `NvmlStatus`-style state
and a one-line reason ("no_driver", "version_mismatch", "error"). Nothing here raises.

    from console.host.nvml import NA, nvml
    nv = nvml()                       # or nvml(RecordedNvml(path)) in tests
    if nv.start() is None:
        count = nv.call("nvmlDeviceGetCount") or 0
    nv.shutdown()
    gpu_count()                       # how many GPUs, for the default-device rule

Telemetry (per-tick samples), the doctor (driver facts) and the CLI use it; nothing else in the
app imports pynvml.

Recordings. CI machines have no NVIDIA GPU, so the telemetry tests run the real `Telemetry`
code against answers recorded from a real driver (`gpu/record_nvml.py`). A recording is JSON:

    {"format": "autoglm-console-nvml-recording", "format_version": 1,
     "hand_made": false, "note": "...", "source": {...driver, pynvml versions...},
     "calls": {"nvmlDeviceGetMemoryInfo(gpu0, version=33554472)":
                   [{"ok": {"total": 85520809984, "reserved": ..., "free": ..., "used": ...}},
                    {"error": 15}], ...}}

A call key is the pynvml function name and its arguments, a device handle written `gpuN`.
Each key holds the answers in the order they were given; replay hands them out in that order
and repeats the last one. An answer is `{"ok": value}` (dicts become attribute objects, like
pynvml's structs) or `{"error": code}` (raised as the real `pynvml.NVMLError` subclass), or
`{"error": "library_mismatch"}` for `pynvml.NVMLLibraryMismatchError`.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Final

FORMAT = "autoglm-console-nvml-recording"
FORMAT_VERSION = 1

# The value of an answer NVML could not give: None, so a reading reads `int | None` and the
# screen prints "N/A" for it (console.core.units).
NA: Final = None
# Points nvml() at a recording instead of the driver (tests and demos only).
RECORDING_ENV = "AUTOGLM_CONSOLE_NVML_RECORDING"

# NVML error codes (the numbers are NVML's ABI; named here so nothing needs pynvml at import).
ERR_INVALID_ARGUMENT, ERR_NOT_SUPPORTED, ERR_NO_PERMISSION = 2, 3, 4
ERR_DRIVER_NOT_LOADED, ERR_LIBRARY_NOT_FOUND, ERR_FUNCTION_NOT_FOUND = 9, 12, 13
ERR_GPU_IS_LOST, ERR_LIB_RM_VERSION_MISMATCH, ERR_ARGUMENT_VERSION_MISMATCH = 15, 18, 25
LIBRARY_MISMATCH = "library_mismatch"  # pynvml.NVMLLibraryMismatchError (no NVML code)
VALUE_NOT_AVAILABLE = 2**64 - 1  # NVML_VALUE_NOT_AVAILABLE as an unsigned long long
NO_DRIVER_MESSAGE = "no NVIDIA GPU / driver: CPU-only"


def error_code(exc: BaseException) -> int | str | None:
    """The NVML error code of a failed call, `LIBRARY_MISMATCH`, or None (not an NVML error)."""
    if type(exc).__name__ == "NVMLLibraryMismatchError":
        return LIBRARY_MISMATCH
    code = getattr(exc, "value", None)
    return code if isinstance(code, int) else None


def text(value: Any) -> str | None:
    """An NVML string answer (bytes on old pynvml) as text; NA stays NA."""
    if value is None:
        return None
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def cuda_version_text(version: int) -> str:
    """NVML's / the driver API's 13000 -> "13.0"."""
    return f"{version // 1000}.{(version % 1000) // 10}"


def load_library() -> Any:
    """The pynvml module, or a `RecordedNvml` when RECORDING_ENV names a recording.

    Raises ImportError (pynvml missing) or ValueError/OSError (a bad recording); `Nvml.start`
    turns those into a state. Loading the driver library itself happens in nvmlInit.
    """
    recording = os.environ.get(RECORDING_ENV)
    if recording:
        return RecordedNvml(recording)
    return _pynvml()


class Nvml:
    """One NVML session: every call goes through `call`, which answers NA on failure.

    `module`: a pynvml-like object (tests pass a `RecordedNvml`); None loads `load_library()`
    on `start()`, never in `__init__` (which stays cheap).
    """

    def __init__(self, module: Any | None = None) -> None:
        self.module = module
        self.last_error: int | str | BaseException | None = None
        self.last_exception: BaseException | None = None  # the exception behind last_error
        self.failures: Counter[str] = Counter()  # NVML function -> failed calls
        self.started = False
        self.start_state: tuple[str, str] | None = None  # start()'s answer, kept

    def call(self, fn: str, *args: Any, **kwargs: Any) -> Any:
        """`fn(*args, **kwargs)` on the NVML module: its answer, or NA (see `last_error`)."""
        self.last_error = self.last_exception = None
        try:
            return getattr(self.module, fn)(*args, **kwargs)
        except Exception as exc:  # NVMLError subclasses, NVMLLibraryMismatchError, ctypes errors
            self.last_exception = exc
            code = error_code(exc)
            self.last_error = code if code is not None else exc
            self.failures[fn] += 1
            return NA

    def constant(self, name: str) -> Any:
        """A module constant (`nvmlMemory_v2`), NA where this pynvml lacks it."""
        return getattr(self.module, name, NA)

    def start(self) -> tuple[str, str] | None:
        """Load and initialise NVML once: None when it works, else (state, one-line reason).

        The states are NvmlStatus's: "no_driver" (no pynvml, no library or no driver loaded: a
        normal CPU-only machine), "version_mismatch" (kernel driver and libnvidia-ml differ),
        "error" (anything else, e.g. no permission to the devices).
        """
        if self.started:
            return self.start_state
        self.started = True
        if self.module is None:
            try:
                self.module = load_library()
            except Exception as exc:  # pynvml not installed, or a bad recording
                self.last_exception = exc
                self.start_state = ("no_driver", f"{NO_DRIVER_MESSAGE} (pynvml: {exc})")
                return self.start_state
        self.call("nvmlInit")
        code = self.last_error
        if code is None:
            return None
        if code in (ERR_LIBRARY_NOT_FOUND, ERR_DRIVER_NOT_LOADED):
            self.start_state = ("no_driver", NO_DRIVER_MESSAGE)
        elif code == ERR_LIB_RM_VERSION_MISMATCH:
            self.start_state = (
                "version_mismatch",
                "NVML cannot start: the loaded kernel driver and libnvidia-ml differ "
                "(driver updated without a reboot?); GPU readings are off",
            )
        elif code == LIBRARY_MISMATCH:
            self.start_state = (
                "version_mismatch",
                "NVML cannot start: nvidia-ml-py does not match this driver's libnvidia-ml "
                "(update nvidia-ml-py); GPU readings are off",
            )
        else:
            why = ("no permission to the NVIDIA devices" if code == ERR_NO_PERMISSION
                   else f"error {code}")
            self.start_state = ("error", f"NVML cannot start ({why}); GPU readings are off")
        return self.start_state

    @property
    def ok(self) -> bool:
        """Started and initialised."""
        return self.started and self.start_state is None

    def shutdown(self) -> None:
        """nvmlShutdown, once, if start() worked; a later start() initialises again."""
        if self.ok:
            self.call("nvmlShutdown")
        self.started, self.start_state = False, None


def nvml(module: Any | None = None) -> Nvml:
    """A new NVML session (not started): the accessor every NVML user goes through."""
    return Nvml(module)


def gpu_count(module: Any | None = None) -> int | None:
    """How many GPUs NVML sees (0 on a machine without a driver), None when NVML started but
    could not count. Opens and closes its own session; never creates a CUDA context."""
    nv = nvml(module)
    failed = nv.start()
    if failed is not None:
        return 0 if failed[0] == "no_driver" else None
    try:
        count = nv.call("nvmlDeviceGetCount")
        return int(count) if count is not None else None
    finally:
        nv.shutdown()


@dataclass(frozen=True)
class DeviceHandle:
    """Stands for a device handle in recordings; `real` is the driver's handle when recording."""

    index: int
    real: Any = None


def call_key(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    parts = [f"gpu{a.index}" if isinstance(a, DeviceHandle) else repr(a) for a in args]
    parts += [f"{k}={v!r}" for k, v in sorted(kwargs.items())]
    return f"{name}({', '.join(parts)})"


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, DeviceHandle):
        return {"__handle__": value.index}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    fields = getattr(value, "_fields_", None)  # a ctypes struct
    if fields is not None:
        return {f[0]: _encode(getattr(value, f[0])) for f in fields}
    return {k: _encode(v) for k, v in vars(value).items()}  # pynvml's nvmlFriendlyObject


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if "__handle__" in value:
            return DeviceHandle(int(value["__handle__"]))
        return SimpleNamespace(**{k: _decode(v) for k, v in value.items()})
    return value


def _pynvml() -> Any:
    import pynvml  # the module only; loading the driver library happens in nvmlInit

    return pynvml


def error_answer(exc: BaseException) -> dict[str, Any]:
    code = getattr(exc, "value", None)
    if isinstance(code, int):
        return {"error": code, "text": str(exc)}
    if type(exc).__name__ == "NVMLLibraryMismatchError":
        return {"error": "library_mismatch", "text": str(exc)}
    raise exc


class RecordedNvml:
    """Answers the pynvml calls `Telemetry` makes from a recording; constants and exception
    classes come from the real pynvml module, so `except pynvml.NVMLError_GpuIsLost` works."""

    def __init__(self, recording: str | Path | dict[str, Any]) -> None:
        data = recording if isinstance(recording, dict) else json.loads(Path(recording).read_text())
        if data.get("format") != FORMAT or data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"not an NVML recording (format {FORMAT} v{FORMAT_VERSION})")
        self.source = str(recording) if not isinstance(recording, dict) else "<dict>"
        self.hand_made = bool(data.get("hand_made", False))
        self._answers: dict[str, list[dict[str, Any]]] = data["calls"]
        self._next: dict[str, int] = {}
        self.calls: list[str] = []  # every key asked, in order
        self.unrecorded: list[str] = []  # keys asked that the recording lacks (a test bug)
        self._module = _pynvml()

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._module, name, None)
        if not name.startswith("nvml") or not (real is None or callable(real)) or isinstance(real,
                                                                                             type):
            if real is None:
                raise AttributeError(name)
            return real  # constants (nvmlMemory_v2), exception classes

        def answer(*args: Any, **kwargs: Any) -> Any:
            return self._answer(call_key(name, args, kwargs))

        return answer

    def _answer(self, key: str) -> Any:
        self.calls.append(key)
        answers = self._answers.get(key)
        if not answers:
            self.unrecorded.append(key)
            raise self._module.NVMLError(self._module.NVML_ERROR_NOT_SUPPORTED)
        i = self._next.get(key, 0)
        self._next[key] = i + 1
        ans = answers[min(i, len(answers) - 1)]
        if "error" in ans:
            if ans["error"] == "library_mismatch":
                raise self._module.NVMLLibraryMismatchError(ans.get("text", key))
            raise self._module.NVMLError(int(ans["error"]))
        return _decode(ans["ok"])


class RecordingNvml:
    """Wraps the real pynvml module and writes down every call and answer (see module doc)."""

    def __init__(self, module: Any = None) -> None:
        self._module = module if module is not None else _pynvml()
        self.answers: dict[str, list[dict[str, Any]]] = {}
        self.costs_s: dict[str, list[float]] = {}

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._module, name)
        if not name.startswith("nvml") or not callable(target) or isinstance(target, type):
            return target
        return self._wrap(name, target)

    def _wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        import time

        def call(*args: Any, **kwargs: Any) -> Any:
            key = call_key(name, args, kwargs)
            real_args = [a.real if isinstance(a, DeviceHandle) else a for a in args]
            start = time.perf_counter()
            try:
                value = fn(*real_args, **kwargs)
            except Exception as exc:
                self.answers.setdefault(key, []).append(error_answer(exc))
                raise
            finally:
                self.costs_s.setdefault(name, []).append(time.perf_counter() - start)
            if name == "nvmlDeviceGetHandleByIndex":
                value = DeviceHandle(int(args[0]), value)
            self.answers.setdefault(key, []).append({"ok": _encode(value)})
            return value

        return call

    def recording(self, note: str = "", source: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "hand_made": False,
            "note": note,
            "source": source or {},
            "calls": self.answers,
        }
