"""Recorded NVML answers: replay (`RecordedNvml`) and record (`RecordingNvml`).

CI machines have no NVIDIA GPU, so the telemetry tests run the real `Telemetry` code against
answers recorded from a real driver (`gpu/record_nvml.py`). A recording is JSON:

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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

FORMAT = "autoglm-console-nvml-recording"
FORMAT_VERSION = 1


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
        if not name.startswith("nvml") or not (real is None or callable(real)) or isinstance(real, type):
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


def nvml_call(nv: Any, name: str, *args: Any, default: Any = None) -> Any:
    """`nv.<name>(*args)` (nv: pynvml, or a recorded stand-in), or `default` (N/A) when the call
    fails: a missing function (an old driver), an NVML error, a lost GPU. The one way the
    engine reads NVML; nothing raises out of it."""
    try:
        return getattr(nv, name)(*args)
    except Exception:
        return default
