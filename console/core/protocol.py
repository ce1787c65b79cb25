"""The messages between the app and an engine, typed, and their JSON-lines wire form (v1).

Both directions carry one JSON object per line. Every message has `v` (the protocol version)
and a kind: commands (app -> engine) carry `cmd` and an integer `id`; events (engine -> app)
carry `event`, a wall-clock timestamp `ts` (seconds since the epoch) and, when they answer a
command, that command's `id`. Unknown extra fields are allowed (newer peers may add them);
unknown command or event names and missing or mistyped required fields are `ProtocolError`s.

Each command and each event is one frozen dataclass (`Load`, `Progress`, ...). A line is
decoded once, at the process edge (`decode_command` in the engine, `decode_event` in the
client), into one of them; both sides then dispatch with `match` and `assert_never`, so the
type checker names a case a dispatcher forgot. Every message keeps its whole wire object in
`wire` (the many optional figures an event carries, documented in docs/engine.md, are read
from there with `msg.get(name)` / `msg[name]`); the fields the session and the engine act on
are typed attributes.

Two events never cross the pipe: the client makes `Output` (one raw line the engine printed on
stdout/stderr) and `Exited` (the engine process ended) so the app sees one ordered stream.

No torch, no transformers, no textual here.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeAlias

from console.core.keyspec import KeySpec

PROTOCOL_VERSION = 1

# Engine states, as carried by the `state` event.
STATES = ("idle", "loading", "loaded", "generating", "unloading", "error")

_NUM: tuple[type, ...] = (int, float)
_OPT_NUM: tuple[type, ...] = (int, float, type(None))
_OPT_STR: tuple[type, ...] = (str, type(None))
_OPT_INT: tuple[type, ...] = (int, type(None))
_OPT_BOOL: tuple[type, ...] = (bool, type(None))
_OPT_DICT: tuple[type, ...] = (dict, type(None))
_OPT_LIST: tuple[type, ...] = (list, type(None))

Spec: TypeAlias = dict[str, tuple[type, ...]]


class ProtocolError(ValueError):
    """A line that is not a valid message of this protocol version."""


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class _Message(Mapping[str, Any]):
    """What every message has: its whole wire object (`wire`); the message reads as that
    read-only mapping too (`msg["ts"]`, `dict(msg)`), for printers of the wire form."""

    NAME: ClassVar[str] = ""
    REQUIRED: ClassVar[Spec] = {}
    OPTIONAL: ClassVar[Spec] = {}

    wire: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def get(self, key: str, default: Any = None) -> Any:
        """A wire field by name (`default` when absent)."""
        return self.wire.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.wire[key]

    def __contains__(self, key: object) -> bool:
        return key in self.wire

    def __iter__(self) -> Iterator[str]:
        return iter(self.wire)

    def __len__(self) -> int:
        return len(self.wire)


# ---------------------------------------------------------------------------------- commands


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Command(_Message):
    """A command; `id` is what the events answering it carry. `KEY`: the console's key that
    sends it as it is (console/core/keys.py makes its binding, palette entry, `?` line and
    refusal from it; the app sends it with one generic action); None: no key of its own."""

    KEY: ClassVar[KeySpec | None] = None

    id: int = 0


# `?` lines that several commands' keys share (one line: "A / P / R").
_LOAD_KEYS = "abort / pause / resume a running load"
_MEMORY_KEYS = "gc / empty the CUDA cache / memory report (engine running)"


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Load(Command):
    NAME: ClassVar[str] = "load"
    REQUIRED: ClassVar[Spec] = {"model": (str,)}
    OPTIONAL: ClassVar[Spec] = {
        "dtype": (str,), "device": (str,), "max_memory": _OPT_DICT,
        "attn_implementation": _OPT_STR, "trust_remote_code": (bool,), "allow_pickle": (bool,),
        "allow_download": (bool,), "loader": _OPT_STR, "loader_options": _OPT_DICT,
        "guard": _OPT_DICT, "force": (bool,), "context": _OPT_INT, "batch": _OPT_INT,
        "preflight": _OPT_DICT,
    }
    model: str
    dtype: str = "auto"
    device: str = "cpu"
    max_memory: dict[str, str] | None = None
    attn_implementation: str | None = None
    trust_remote_code: bool = False
    allow_pickle: bool = False
    allow_download: bool = False
    loader: str | None = None
    loader_options: dict[str, Any] | None = None
    guard: dict[str, Any] | None = None
    force: bool = False
    context: int | None = None
    batch: int | None = None
    # The app's pre-flight of this model (`{"ok": bool, "verdict": ...}`): the engine then
    # re-checks only what can change since (the free memory), not the checkpoint.
    preflight: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Unload(Command):
    NAME: ClassVar[str] = "unload"


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Gc(Command):
    NAME: ClassVar[str] = "gc"
    KEY: ClassVar[KeySpec | None] = KeySpec(
        "G", "GC", _MEMORY_KEYS, palette="collect garbage in the engine", needs="running",
        show=True)


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class EmptyCache(Command):
    NAME: ClassVar[str] = "empty_cache"
    KEY: ClassVar[KeySpec | None] = KeySpec(
        "E", "Empty CUDA cache", _MEMORY_KEYS, palette="return cached CUDA blocks",
        needs="running")


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class MemoryReportCmd(Command):
    NAME: ClassVar[str] = "memory_report"
    KEY: ClassVar[KeySpec | None] = KeySpec(
        "M", "Memory report", _MEMORY_KEYS, palette="the allocator's figures now",
        needs="running")


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Generate(Command):
    NAME: ClassVar[str] = "generate"
    REQUIRED: ClassVar[Spec] = {"prompt": (str,)}
    OPTIONAL: ClassVar[Spec] = {"max_new_tokens": (int,), "temperature": _NUM,
                                "top_p": _OPT_NUM, "seed": _OPT_INT, "chat": (bool,),
                                "min_new_tokens": _OPT_INT, "images": _OPT_LIST}
    prompt: str
    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float | None = None
    seed: int | None = None
    chat: bool = True
    min_new_tokens: int | None = None
    # Image files put before the prompt through the model's processor (glm4v, ...; issue 16).
    images: list[str] | None = None


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class StopGeneration(Command):
    NAME: ClassVar[str] = "stop_generation"
    KEY: ClassVar[KeySpec | None] = KeySpec(
        "ctrl+s", "Stop generation", "stop the generation", group="prompt",
        palette="stop the running generation", needs="generating")


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Shutdown(Command):
    NAME: ClassVar[str] = "shutdown"


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Ping(Command):
    NAME: ClassVar[str] = "ping"
    KEY: ClassVar[KeySpec | None] = KeySpec(
        "I", "Ping engine", "ping the engine", palette="round trip to the engine",
        needs="running", fields=lambda: {"sent_ts": time.time()})
    OPTIONAL: ClassVar[Spec] = {"sent_ts": _OPT_NUM}
    sent_ts: float | None = None  # the sender's clock; `pong` echoes it (round-trip time)


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Pause(Command):
    NAME: ClassVar[str] = "pause"
    KEY: ClassVar[KeySpec | None] = KeySpec(
        "P", "Pause load", _LOAD_KEYS, palette="pause the running load between tensors",
        needs="loading")


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Resume(Command):
    NAME: ClassVar[str] = "resume"
    KEY: ClassVar[KeySpec | None] = KeySpec(
        "R", "Resume load", _LOAD_KEYS, palette="resume a paused load", needs="loading")
    OPTIONAL: ClassVar[Spec] = {"force": (bool,)}
    force: bool = False


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Abort(Command):
    NAME: ClassVar[str] = "abort"
    KEY: ClassVar[KeySpec | None] = KeySpec(
        "A", "Abort load", _LOAD_KEYS, palette="stop the running load", needs="loading")


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class SetThresholds(Command):
    NAME: ClassVar[str] = "set_thresholds"
    OPTIONAL: ClassVar[Spec] = {"thresholds": _OPT_DICT, "auto_resume": _OPT_BOOL,
                                "stall_s": _OPT_NUM, "on_pause": _OPT_STR,
                                "enabled": _OPT_BOOL}
    thresholds: dict[str, Any] | None = None
    auto_resume: bool | None = None
    stall_s: float | None = None
    on_pause: str | None = None
    enabled: bool | None = None


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Fingerprint(Command):
    NAME: ClassVar[str] = "fingerprint"
    OPTIONAL: ClassVar[Spec] = {"tensors": _OPT_LIST, "input_ids": _OPT_LIST}
    tensors: list[str] | None = None
    input_ids: list[int] | None = None


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Behaviour(Command):
    """Run the migration check's probe set (console/core/probes.py) on the loaded model:
    greedy tokens and top-k log-probabilities per step, twice (the noise floor)."""

    NAME: ClassVar[str] = "behaviour"
    OPTIONAL: ClassVar[Spec] = {"top_k": (int,), "vision": (bool,), "probe_ids": _OPT_LIST}
    top_k: int = 5
    vision: bool = False
    probe_ids: list[str] | None = None


AnyCommand: TypeAlias = (
    Load | Unload | Gc | EmptyCache | MemoryReportCmd | Generate | StopGeneration | Shutdown
    | Ping | Pause | Resume | Abort | SetThresholds | Fingerprint | Behaviour
)
# In this order the `?` screen and the palette list the commands' keys.
COMMAND_TYPES: dict[str, type[Command]] = {cls.NAME: cls for cls in (
    Load, Unload, Abort, Pause, Resume, Gc, EmptyCache, MemoryReportCmd, Generate,
    StopGeneration, Shutdown, SetThresholds, Fingerprint, Behaviour, Ping)}

# ------------------------------------------------------------------------------------ events


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Event(_Message):
    """An event: `ts` the sender's clock, `reply_to` the command it answers (wire `id`),
    `received_ts` this side's clock when the line was decoded (0 for events made here)."""

    ts: float = 0.0
    reply_to: int | None = None
    received_ts: float = 0.0


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Hello(Event):
    NAME: ClassVar[str] = "hello"
    REQUIRED: ClassVar[Spec] = {"protocol": (int,), "pid": (int,), "python": (str,),
                                "torch": (str,), "transformers": (str,), "devices": (list,),
                                "offline": (bool,)}
    OPTIONAL: ClassVar[Spec] = {"cuda_available": _OPT_BOOL, "cuda": _OPT_STR,
                                "malloc_fixed": _OPT_BOOL}
    protocol: int
    pid: int
    python: str
    torch: str
    transformers: str
    devices: list[Any]
    offline: bool
    cuda_available: bool | None = None  # whether the engine's torch can use a GPU
    cuda: str | None = None  # the CUDA version torch was built with (None: a CPU-only build)
    # glibc's mmap/trim thresholds fixed, so freed host memory leaves RSS (False: the user
    # tuned malloc, or not glibc)
    malloc_fixed: bool | None = None


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class State(Event):
    NAME: ClassVar[str] = "state"
    REQUIRED: ClassVar[Spec] = {"state": (str,)}
    OPTIONAL: ClassVar[Spec] = {"model": _OPT_STR, "label": _OPT_STR}
    state: str
    model: str | None = None
    label: str | None = None


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Progress(Event):
    NAME: ClassVar[str] = "progress"
    REQUIRED: ClassVar[Spec] = {"tensors_done": (int,), "tensors_total": (int,),
                                "bytes_done": (int,), "bytes_total": (int,),
                                "rate_bytes_per_s": _OPT_NUM, "eta_s": _OPT_NUM,
                                "current_file": _OPT_STR}
    OPTIONAL: ClassVar[Spec] = {"loader": _OPT_STR, "fallback_reason": _OPT_STR}
    tensors_done: int
    tensors_total: int
    bytes_done: int
    bytes_total: int
    rate_bytes_per_s: float | None
    eta_s: float | None
    current_file: str | None
    loader: str | None = None
    fallback_reason: str | None = None


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Loaded(Event):
    NAME: ClassVar[str] = "loaded"
    REQUIRED: ClassVar[Spec] = {"model": (str,), "path": (str,), "label": (str,),
                                "model_type": (str,), "model_class": (str,), "load_s": _NUM,
                                "memory": (dict,)}
    OPTIONAL: ClassVar[Spec] = {"param_bytes": _OPT_INT, "bytes": _OPT_INT,
                                "loader": _OPT_STR, "fallback_reason": _OPT_STR}
    model: str
    path: str
    label: str
    model_type: str
    model_class: str
    load_s: float
    memory: dict[str, Any]
    param_bytes: int | None = None
    bytes: int | None = None
    loader: str | None = None
    fallback_reason: str | None = None


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Token(Event):
    NAME: ClassVar[str] = "token"
    REQUIRED: ClassVar[Spec] = {"text": (str,), "token_ids": (list,), "index": (int,)}
    OPTIONAL: ClassVar[Spec] = {"kv_cache_bytes": _OPT_INT}
    text: str
    token_ids: list[int]
    index: int
    kv_cache_bytes: int | None = None


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Generated(Event):
    NAME: ClassVar[str] = "generated"
    REQUIRED: ClassVar[Spec] = {"tokens": (int,), "ttft_s": _OPT_NUM, "tokens_per_s": _OPT_NUM,
                                "kv_cache_bytes": _OPT_INT, "stopped": (str,), "text": (str,)}
    OPTIONAL: ClassVar[Spec] = {
        "prompt_tokens": _OPT_INT, "image_tokens": (int,), "image_tokens_per_image": _OPT_LIST,
        "images": _OPT_LIST, "image_grid_thw": _OPT_LIST, "image_processor": _OPT_STR,
        "vision_estimate": _OPT_DICT, "rss_peak_growth_bytes": _OPT_INT,
        "cuda_peak_allocated_growth_bytes": _OPT_INT,
        "cuda_peak_reserved_growth_bytes": _OPT_INT,
    }
    tokens: int
    ttft_s: float | None
    tokens_per_s: float | None
    kv_cache_bytes: int | None
    stopped: str
    text: str
    prompt_tokens: int | None = None
    # Image prompts (issue 16): image tokens in the prompt (0 without images); with images the
    # tokens of each, the images ({path, width, height, file_bytes}), the processor's grids,
    # which processor ran, the vision estimate (console/core/vision.py) and the engine's peak
    # RSS growth over the generate (Linux).
    image_tokens: int = 0
    image_tokens_per_image: list[int] | None = None
    images: list[dict[str, Any]] | None = None
    image_grid_thw: list[list[int]] | None = None
    image_processor: str | None = None
    vision_estimate: dict[str, Any] | None = None
    rss_peak_growth_bytes: int | None = None
    # On CUDA, the caching allocator's peak growth over the generate (allocated, reserved;
    # pixel_values excluded, they are on the device before the peak is reset).
    cuda_peak_allocated_growth_bytes: int | None = None
    cuda_peak_reserved_growth_bytes: int | None = None


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Unloaded(Event):
    NAME: ClassVar[str] = "unloaded"
    REQUIRED: ClassVar[Spec] = {"freed_bytes": (int,), "seconds": _NUM, "held_bytes": (int,),
                                "held_by": (dict,), "message": (str,)}
    freed_bytes: int
    seconds: float
    held_bytes: int
    held_by: dict[str, Any]
    message: str


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class GcDone(Event):
    NAME: ClassVar[str] = "gc"
    REQUIRED: ClassVar[Spec] = {"collected": (int,), "before": (dict,), "after": (dict,)}
    collected: int
    before: dict[str, Any]
    after: dict[str, Any]


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class CacheEmptied(Event):
    NAME: ClassVar[str] = "empty_cache"
    REQUIRED: ClassVar[Spec] = {"before": (dict,), "after": (dict,)}
    before: dict[str, Any]
    after: dict[str, Any]


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class MemoryReport(Event):
    NAME: ClassVar[str] = "memory_report"
    REQUIRED: ClassVar[Spec] = {"devices": (list,)}
    OPTIONAL: ClassVar[Spec] = {"rss_bytes": _OPT_INT, "rss_baseline_bytes": _OPT_INT}
    devices: list[dict[str, Any]]
    rss_bytes: int | None = None
    rss_baseline_bytes: int | None = None


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Error(Event):
    NAME: ClassVar[str] = "error"
    REQUIRED: ClassVar[Spec] = {"error_type": (str,), "message": (str,), "traceback": (str,)}
    OPTIONAL: ClassVar[Spec] = {"hint": _OPT_STR, "command": _OPT_STR}
    error_type: str
    message: str
    traceback: str
    hint: str | None = None
    command: str | None = None


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Log(Event):
    NAME: ClassVar[str] = "log"
    REQUIRED: ClassVar[Spec] = {"level": (str,), "message": (str,)}
    level: str
    message: str


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Pong(Event):
    NAME: ClassVar[str] = "pong"
    OPTIONAL: ClassVar[Spec] = {"sent_ts": _OPT_NUM, "state": _OPT_STR}
    sent_ts: float | None = None  # echoed from the `ping`
    state: str | None = None


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Bye(Event):
    NAME: ClassVar[str] = "bye"


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Preflight(Event):
    NAME: ClassVar[str] = "preflight"
    REQUIRED: ClassVar[Spec] = {"ok": (bool,), "findings": (list,), "verdict": _OPT_STR}
    OPTIONAL: ClassVar[Spec] = {"refusal": _OPT_STR, "reason": _OPT_STR}
    ok: bool
    findings: list[dict[str, Any]]
    verdict: str | None
    refusal: str | None = None
    reason: str | None = None


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Paused(Event):
    NAME: ClassVar[str] = "paused"
    REQUIRED: ClassVar[Spec] = {"resource": _OPT_STR, "value": _OPT_NUM, "threshold": _OPT_NUM,
                                "why": (str,), "tensor_index": (int,)}
    resource: str | None
    value: float | None
    threshold: float | None
    why: str
    tensor_index: int


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Resumed(Event):
    NAME: ClassVar[str] = "resumed"
    REQUIRED: ClassVar[Spec] = {"why": (str,)}
    why: str


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Aborted(Event):
    NAME: ClassVar[str] = "aborted"
    REQUIRED: ClassVar[Spec] = {"resource": _OPT_STR, "value": _OPT_NUM, "threshold": _OPT_NUM,
                                "why": (str,)}
    resource: str | None
    value: float | None
    threshold: float | None
    why: str


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Stalled(Event):
    NAME: ClassVar[str] = "stalled"
    REQUIRED: ClassVar[Spec] = {"seconds": _NUM, "text": (str,), "current_file": _OPT_STR}
    seconds: float
    text: str
    current_file: str | None


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Guard(Event):
    NAME: ClassVar[str] = "guard"
    REQUIRED: ClassVar[Spec] = {"mode": (str,), "thresholds": (dict,)}
    OPTIONAL: ClassVar[Spec] = {"auto_resume": _OPT_BOOL}
    mode: str
    thresholds: dict[str, Any]
    auto_resume: bool | None = None


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class FingerprintDone(Event):
    NAME: ClassVar[str] = "fingerprint"
    REQUIRED: ClassVar[Spec] = {"tensors": (dict,), "logits": _OPT_DICT}
    tensors: dict[str, Any]
    logits: dict[str, Any] | None


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class BehaviourDone(Event):
    """The probe set's results (console/worker/behaviour.py): per probe its steps, and the
    largest log-probability difference between two runs in the process (`noise`)."""

    NAME: ClassVar[str] = "behaviour"
    REQUIRED: ClassVar[Spec] = {"probe_set": (str,), "probes": (list,), "noise": _OPT_NUM}
    OPTIONAL: ClassVar[Spec] = {"top_k": (int,), "env": _OPT_DICT, "seconds": _OPT_NUM}
    probe_set: str
    probes: list[dict[str, Any]]
    noise: float | None
    top_k: int = 5
    env: dict[str, Any] | None = None
    seconds: float | None = None


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Output(Event):
    """Made by the client: one raw line the engine printed; `cr`: it ended with a carriage
    return (a progress-bar update a pane may overwrite)."""

    NAME: ClassVar[str] = "output"
    REQUIRED: ClassVar[Spec] = {"text": (str,)}
    OPTIONAL: ClassVar[Spec] = {"cr": (bool,)}
    text: str
    cr: bool = False


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Exited(Event):
    """Made by the client: the engine process ended."""

    NAME: ClassVar[str] = "exited"
    REQUIRED: ClassVar[Spec] = {"returncode": _OPT_INT, "signal": _OPT_STR, "expected": (bool,),
                                "last_lines": (list,)}
    OPTIONAL: ClassVar[Spec] = {"pid": _OPT_INT}
    returncode: int | None
    signal: str | None
    expected: bool
    last_lines: list[str]
    pid: int | None = None


AnyEvent: TypeAlias = (
    Hello | State | Progress | Loaded | Token | Generated | Unloaded | GcDone | CacheEmptied
    | MemoryReport | Error | Log | Pong | Bye | Preflight | Paused | Resumed | Aborted
    | Stalled | Guard | FingerprintDone | BehaviourDone | Output | Exited
)
EVENT_TYPES: dict[str, type[Event]] = {cls.NAME: cls for cls in (
    Hello, State, Progress, Loaded, Token, Generated, Unloaded, GcDone, CacheEmptied,
    MemoryReport, Error, Log, Pong, Bye, Preflight, Paused, Resumed, Aborted, Stalled, Guard,
    FingerprintDone, BehaviourDone, Output, Exited)}
CLIENT_EVENTS = frozenset({"output", "exited"})

# Name -> required fields and their types (the wire schema, also for docs and tests).
COMMANDS: dict[str, Spec] = {name: cls.REQUIRED for name, cls in COMMAND_TYPES.items()}
EVENTS: dict[str, Spec] = {name: cls.REQUIRED for name, cls in EVENT_TYPES.items()}

# ------------------------------------------------------------------------------ validation


def _check_fields(kind: str, name: str, msg: Mapping[str, Any], spec: Spec, *,
                  required: bool) -> None:
    for key, types in spec.items():
        if key not in msg:
            if required:
                raise ProtocolError(f"{kind} {name!r}: missing field {key!r}")
            continue
        value = msg[key]
        # bool is an int subclass: don't let True pass as a count.
        if isinstance(value, bool) and bool not in types:
            raise ProtocolError(f"{kind} {name!r}: field {key!r} must not be a bool")
        # An int is a valid float on the wire (JSON has one number type).
        if not isinstance(value, types) and not (float in types and isinstance(value, int)):
            want = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise ProtocolError(
                f"{kind} {name!r}: field {key!r} is {type(value).__name__}, expected {want}"
            )


def validate(msg: Any) -> dict[str, Any]:
    """Return `msg` if it is a valid command or event object, else raise `ProtocolError`."""
    if not isinstance(msg, dict):
        raise ProtocolError(f"a message is a JSON object, got {type(msg).__name__}")
    if msg.get("v") != PROTOCOL_VERSION:
        raise ProtocolError(
            f"protocol version {msg.get('v')!r} is not {PROTOCOL_VERSION} "
            "(app and engine come from different versions of autoglm-console)"
        )
    if "event" in msg:
        name = msg["event"]
        event_cls = EVENT_TYPES.get(name) if isinstance(name, str) else None
        if event_cls is None:
            raise ProtocolError(f"unknown event {name!r}")
        ts = msg.get("ts")
        if isinstance(ts, bool) or not isinstance(ts, _NUM):
            raise ProtocolError(f"event {name!r}: field 'ts' must be a number")
        _check_fields("event", name, msg, event_cls.REQUIRED, required=True)
        _check_fields("event", name, msg, event_cls.OPTIONAL, required=False)
        if name == "state" and msg["state"] not in STATES:
            raise ProtocolError(f"event 'state': unknown state {msg['state']!r}")
    elif "cmd" in msg:
        name = msg["cmd"]
        command_cls = COMMAND_TYPES.get(name) if isinstance(name, str) else None
        if command_cls is None:
            raise ProtocolError(f"unknown command {name!r}; known: {', '.join(COMMAND_TYPES)}")
        if not isinstance(msg.get("id"), int) or isinstance(msg.get("id"), bool):
            raise ProtocolError(f"command {name!r}: field 'id' must be an integer")
        _check_fields("command", name, msg, command_cls.REQUIRED, required=True)
        _check_fields("command", name, msg, command_cls.OPTIONAL, required=False)
    else:
        raise ProtocolError("a message has either 'cmd' (a command) or 'event' (an event)")
    return msg


def _typed_fields(cls: type[_Message], msg: Mapping[str, Any]) -> dict[str, Any]:
    """The class's own fields from a validated wire object (an optional one sent as null
    keeps its default)."""
    own = {f.name for f in dataclasses.fields(cls)}
    values = {key: msg[key] for key in cls.REQUIRED if key in own}
    values.update({key: msg[key] for key in cls.OPTIONAL
                   if key in own and msg.get(key) is not None})
    return values


def to_command(msg: Mapping[str, Any]) -> AnyCommand:
    """The typed command of a validated wire object."""
    cls = COMMAND_TYPES[msg["cmd"]]
    return cls(wire=dict(msg), id=msg["id"], **_typed_fields(cls, msg))  # type: ignore[return-value]


def to_event(msg: Mapping[str, Any], received_ts: float = 0.0) -> AnyEvent:
    """The typed event of a validated wire object."""
    cls = EVENT_TYPES[msg["event"]]
    reply_to = msg.get("id")
    return cls(wire=dict(msg), ts=float(msg["ts"]),  # type: ignore[return-value]
               reply_to=reply_to if isinstance(reply_to, int) else None,
               received_ts=received_ts, **_typed_fields(cls, msg))


# ----------------------------------------------------------------------------- the edges


def command(name: str, msg_id: int, **fields: Any) -> dict[str, Any]:
    """A command's wire object, validated."""
    msg = {"v": PROTOCOL_VERSION, "cmd": name, "id": msg_id, **fields}
    validate(msg)
    return msg


def event(name: str, reply_to: int | None = None, **fields: Any) -> dict[str, Any]:
    """An event's wire object stamped now, validated."""
    msg: dict[str, Any] = {"v": PROTOCOL_VERSION, "event": name, "ts": time.time(), **fields}
    if reply_to is not None:
        msg["id"] = reply_to
    validate(msg)
    return msg


def make_event(cls: type[Event], reply_to: int | None = None, **fields: Any) -> AnyEvent:
    """A typed event made on this side (the client's `Output` / `Exited`), stamped now."""
    return to_event(event(cls.NAME, reply_to, **fields), received_ts=time.time())


def make_command(cls: type[Command], msg_id: int, **fields: Any) -> AnyCommand:
    """A typed command; fields given as None are left out (the engine's default applies)."""
    given = {key: value for key, value in fields.items() if value is not None}
    return to_command(command(cls.NAME, msg_id, **given))


def new_command(cls: type[Command], **fields: Any) -> AnyCommand:
    """A typed command not yet numbered (the engine client gives it its id when sending)."""
    return make_command(cls, 0, **fields)


def with_id(command: Command, msg_id: int) -> AnyCommand:
    """`command` numbered `msg_id`."""
    return to_command({**command.wire, "id": msg_id})


def encode(msg: Mapping[str, Any] | _Message) -> str:
    """One line of JSON (ends with a newline). Non-finite floats become null."""
    wire = msg.wire if isinstance(msg, _Message) else msg
    return json.dumps(_finite(wire), separators=(",", ":"), ensure_ascii=False) + "\n"


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def parse(line: str | bytes) -> dict[str, Any]:
    """Parse and validate one line into its wire object; `ProtocolError` when invalid."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    try:
        msg = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"not JSON: {exc.msg} at column {exc.colno}: {line[:80]!r}") from None
    except (RecursionError, ValueError) as exc:  # deep nesting, a 5,000-digit integer (fuzz)
        raise ProtocolError(f"not a usable JSON line ({type(exc).__name__}): {line[:80]!r}"
                            ) from None
    return validate(msg)


def decode_command(line: str | bytes) -> AnyCommand:
    """The engine's edge: one line -> a typed command (`ProtocolError` for anything else)."""
    msg = parse(line)
    if "cmd" not in msg:
        raise ProtocolError("the engine takes commands, not events")
    return to_command(msg)


def decode_event(line: str | bytes, received_ts: float | None = None) -> AnyEvent:
    """The client's edge: one line -> a typed event (`ProtocolError` for anything else)."""
    msg = parse(line)
    if "event" not in msg:
        raise ProtocolError("the app takes events, not commands")
    if msg["event"] in CLIENT_EVENTS:
        raise ProtocolError(f"event {msg['event']!r} is made by the client, never sent")
    return to_event(msg, time.time() if received_ts is None else received_ts)


def decode(line: str | bytes) -> dict[str, Any]:
    """Parse and validate one line (its wire object); kept for tools that read session logs."""
    return parse(line)
