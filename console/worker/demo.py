"""The built-in demo model `demo`: a small GLM-4-architecture causal LM with random weights.

Written on first use to `console.host.paths.cache_dir()/demo` with a tokenizer the project trains
itself (tinymodels), so a fresh machine with nothing downloaded can load, generate (gibberish)
and unload. A marker file written last makes an interrupted build count as incomplete; the
model is then rebuilt. Engine side: `ensure()` imports torch and transformers.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from console.host.demo import (
    _MARKER,
    DEMO_LABEL,
    DEMO_NAME,
    DEMO_VERSION,
    demo_dir,
    fallback_dir,
    is_complete,
)

__all__ = ["DEMO_LABEL", "DEMO_NAME", "DEMO_VERSION", "demo_dir", "ensure", "is_complete"]
# GLM-4 architecture, ~12M parameters (~48 MB in fp32): big enough to show progress, small
# enough to build in about a second.
DEMO_OVERRIDES: dict[str, Any] = {
    "hidden_size": 512,
    "intermediate_size": 1536,
    "num_hidden_layers": 4,
    "num_attention_heads": 8,
    "num_key_value_heads": 2,
    "head_dim": 64,
    "max_position_embeddings": 2048,
}


def ensure(directory: Path | None = None) -> Path:
    """Return the demo model directory, building it first when missing or incomplete. With
    no `directory`, a cache directory that cannot be written falls back to `fallback_dir()`."""
    if directory is not None:
        return _ensure(directory)
    try:
        return _ensure(demo_dir())
    except OSError:
        fallback = fallback_dir()
        fallback.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return _ensure(fallback)


def _ensure(target: Path) -> Path:
    from console.worker import tinymodels

    if is_complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    return staged_build(
        target, lambda staging: tinymodels.build("glm4", staging, dtype="float32", seed=0,
                                                 overrides=dict(DEMO_OVERRIDES)),
        _MARKER, {"version": DEMO_VERSION, "label": DEMO_LABEL})


def staged_build(target: Path, build: Callable[[Path], Any], marker: str,
                 info: dict[str, Any]) -> Path:
    """Build a model with `build(staging_dir)` beside `target`, write its marker file last
    (`info` plus the file list), and swap it in: a crash never leaves a half-written model."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-build-", dir=target.parent))
    try:
        build(staging)
        files = sorted(p.name for p in staging.iterdir() if p.is_file())
        (staging / marker).write_text(json.dumps({**info, "files": files}, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target
