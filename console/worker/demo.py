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
from pathlib import Path
from typing import Any

from console.host.demo import _MARKER, DEMO_LABEL, DEMO_NAME, DEMO_VERSION, demo_dir, is_complete

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
    """Return the demo model directory, building it first when missing or incomplete."""
    from console.worker import tinymodels

    target = directory if directory is not None else demo_dir()
    if is_complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the target and swap it in, so a crash never leaves a half-written demo.
    staging = Path(tempfile.mkdtemp(prefix=".demo-build-", dir=target.parent))
    try:
        tinymodels.build("glm4", staging, dtype="float32", seed=0,
                         overrides=dict(DEMO_OVERRIDES))
        files = sorted(p.name for p in staging.iterdir() if p.is_file())
        (staging / _MARKER).write_text(json.dumps(
            {"version": DEMO_VERSION, "label": DEMO_LABEL, "files": files}, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target
