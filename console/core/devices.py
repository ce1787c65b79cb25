"""The default-device rule, in one place (the app, the CLI, the pre-flight and the engine).

Pure: the caller says how many GPUs NVML (app side) or torch (engine side) sees.
"""

from __future__ import annotations


def default_device(device: str | None, gpu_count: int) -> str:
    """The device a load goes to: None or "auto" is cuda:0 when there is a GPU, else cpu;
    "cuda" is cuda:0; anything else ("cuda:1", "cpu") stays as given."""
    if device in (None, "", "auto"):
        return "cuda:0" if gpu_count > 0 else "cpu"
    if device == "cuda":
        return "cuda:0"
    return device
