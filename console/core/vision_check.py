"""Checking the vision estimate against a measured peak (benchmarks/vision_estimate.py): the
pieces that are pure, so they are unit-tested apart from the GPU run.

- `parse_sizes` / `parse_counts`: the command line's WIDTHxHEIGHT and count lists;
- `prompt_peak_bytes`: what an image prompt's one-token generate adds at its peak, as the
  engine measures it. The encoder's working set is freed before the language model's prefill
  over the whole prompt runs, so the peak holds the larger of the two (console/core/vision.py
  `added_peak_bytes`), plus the merged embeddings and the prompt's KV; plus pixel_values where
  the measurement started before they were made (NVML sampled from before the command; on the
  CPU the peak is reset after the inputs are built);
- `fits`: whether a prompt's estimated bytes fit in the free memory (with a margin), and the
  numbers when not;
- `verdict`: the error against the measured peak and pass / fail at the target;
- `engine_entry`: the engine process's used bytes in NVML's running-process list: by pid, else
  (a PID namespace: NVML lists host pids) the one process that appeared since the engine
  started, else none (the caller falls back to the device's used bytes and says so).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from console.core.units import fmt_bytes

DEFAULT_TARGET = 0.05  # issue 19: the estimate within 5% of the engine process's NVML peak
DEFAULT_FIT_MARGIN = 0.10  # run a prompt only when its estimate + 10% is free


class CheckError(ValueError):
    """A bad --sizes / --counts value (one line naming it and the fix)."""


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """"1080x2400,1600x3120" -> [(1080, 2400), (1600, 3120)] as (width, height)."""
    sizes: list[tuple[int, int]] = []
    for item in (part.strip() for part in text.split(",")):
        w, sep, h = item.lower().partition("x")
        if not sep or not w.isdigit() or not h.isdigit() or int(w) <= 0 or int(h) <= 0:
            raise CheckError(f"--sizes: {item!r} is not WIDTHxHEIGHT in pixels "
                             "(e.g. 1080x2400)")
        sizes.append((int(w), int(h)))
    return sizes


def parse_counts(text: str) -> list[int]:
    """"1,4,10" -> [1, 4, 10] (image counts per prompt)."""
    counts: list[int] = []
    for item in (part.strip() for part in text.split(",")):
        if not item.isdigit() or int(item) <= 0:
            raise CheckError(f"--counts: {item!r} is not a positive whole number of images "
                             "(e.g. 1,4,10)")
        counts.append(int(item))
    return counts


def prompt_peak_bytes(vision_estimate: Mapping[str, Any], text_activation_bytes: int,
                      kv_bytes: int, *, pixels_in_measurement: bool) -> int:
    """The estimated peak growth of an image prompt's generate (see the module docstring).
    `vision_estimate`: console.core.vision.VisionEstimate.to_json_dict() (the engine's
    `vision_estimate` field)."""
    peak = (max(int(vision_estimate.get("encoder_bytes") or 0), text_activation_bytes)
            + int(vision_estimate.get("embeddings_bytes") or 0) + kv_bytes)
    if pixels_in_measurement:
        peak += int(vision_estimate.get("pixel_bytes") or 0)
    return peak


@dataclass(frozen=True, slots=True)
class Fit:
    ok: bool
    need_bytes: int  # the estimate
    free_bytes: int | None  # None: unknown (then it runs)
    margin: float
    reason: str

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self)


def fits(need_bytes: int, free_bytes: int | None, margin: float = DEFAULT_FIT_MARGIN,
         where: str = "the GPU") -> Fit:
    """Whether `need_bytes` x (1 + margin) fits in `free_bytes` of `where`."""
    if free_bytes is None:
        return Fit(True, need_bytes, None, margin, f"free memory of {where} unknown: run it")
    wanted = int(need_bytes * (1 + margin))
    if wanted <= free_bytes:
        return Fit(True, need_bytes, free_bytes, margin,
                   f"needs {fmt_bytes(need_bytes)} (+{margin:.0%}), {fmt_bytes(free_bytes)} "
                   f"free on {where}")
    return Fit(False, need_bytes, free_bytes, margin,
               f"does not fit: the estimate is {fmt_bytes(need_bytes)} (+{margin:.0%} = "
               f"{fmt_bytes(wanted)}), only {fmt_bytes(free_bytes)} free on {where}")


def verdict(estimate_bytes: int, measured_bytes: int | None,
            target: float = DEFAULT_TARGET) -> tuple[float | None, bool | None]:
    """(error as a fraction of the measured peak, within the target); (None, None) when
    nothing was measured."""
    if not measured_bytes or measured_bytes <= 0:
        return None, None
    error = (estimate_bytes - measured_bytes) / measured_bytes
    return error, abs(error) <= target


def engine_entry(procs: Iterable[tuple[int, int | None]], pid: int,
                 pids_before: Iterable[int]) -> tuple[int | None, str]:
    """The engine's used bytes from NVML's (pid, usedGpuMemory) list and where they came from:
    "process" (its pid is listed), "process-new" (its pid is not, but exactly one process with
    a figure appeared since `pids_before` was read: a PID namespace), or (None, "device")."""
    listed: list[tuple[int, int]] = [(p, int(used)) for p, used in procs if used is not None]
    for p, used in listed:
        if p == pid:
            return used, "process"
    before = set(pids_before)
    new = [used for p, used in listed if p not in before]
    if len(new) == 1:
        return new[0], "process-new"
    return None, "device"
