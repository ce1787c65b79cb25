"""What the engine's job modules share: the `Loaded` model, the dtype names, the KV formula,
and `EngineParts`, the attributes and methods `console.worker.worker.Engine` provides to the
job mixins (`LoadJob`, `UnloadJob`, `GenerateJob`), declared for the type checker."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import contextlib

UNLOAD_WATCH_S = 5.0
DTYPES = {"auto": "auto", "bf16": "bfloat16", "bfloat16": "bfloat16", "fp16": "float16",
          "float16": "float16", "half": "float16", "fp32": "float32", "float32": "float32"}
DEVICE_RE = re.compile(r"^(cpu|auto|cuda|cuda:\d+)$")


# --------------------------------------------------------------------------- the engine


@dataclass
class Loaded:
    model: Any
    tokenizer: Any
    info: dict[str, Any]
    devices: list[str] = field(default_factory=list)  # "cuda:0", ... or ["cpu"]


def kv_bytes_per_token(config: dict[str, Any], dtype: str) -> int | None:
    """The KV cache's bytes per token for `config` at `dtype` ("bfloat16", ...): the estimate's
    formula (multi_query_group_num / kv_channels included), None for a config it cannot read."""
    from console.core.estimate import EstimateError, dtype_code, geometry
    from console.core.estimate import kv_bytes_per_token as estimate_kv

    try:
        return estimate_kv(geometry(config), dtype_code(dtype))
    except (EstimateError, KeyError, TypeError, ValueError):
        return None


class EngineParts:
    """The engine's state and shared methods, as the job mixins see them (set in
    `Engine.__init__`; the methods are defined by Engine or another mixin)."""

    torch: Any
    transformers: Any
    emit: Callable[..., None]
    state: str
    loaded: Loaded | None
    _processor: tuple[Loaded, Any, str] | None  # issue 16: (built for, processor, how)
    guard: Any  # console.worker.loadguard.LoadGuard
    stop_generation: threading.Event
    abort_load: threading.Event
    abort_figures: dict[str, Any] | None
    before_tensor: list[Callable[[Any], None]]
    cuda_baseline: dict[int, int | None]
    cuda_context_initial: dict[int, int | None]
    rss_baseline: int | None
    offline: bool
    _load_tracker: Any

    if TYPE_CHECKING:
        def set_state(self, state: str, reply_to: int | None = None, **fields: Any) -> None: ...
        def log(self, level: str, message: str, reply_to: int | None = None) -> None: ...
        def figures(self) -> dict[str, Any]: ...
        def _error(self, reply_to: int | None, cmd: str, exc: BaseException,
                   tb_text: str = "") -> None: ...
        def _job_finishing(self) -> None: ...
        def _ensure_context(self, index: int) -> None: ...
        def _cuda_indices(self) -> list[int]: ...
        def _release(self) -> None: ...
        def _job_unload(self, msg: Any, final: bool = True,
                        before: dict[str, Any] | None = None) -> None: ...
        def _rebase_context(self, after: dict[str, Any]) -> int: ...
        def _resolve(self, name: str, allow_download: bool) -> tuple[Path, str]: ...
        def _load_progress(self) -> tuple[int, int, str | None]: ...
        def _guarded(self, reply_to: int, tracker: Any, device: str
                     ) -> contextlib.AbstractContextManager[Any]: ...
