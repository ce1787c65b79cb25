"""Fingerprints of a loaded model, to prove a load gives exactly what `from_pretrained` gives.

`fingerprint(model)` hashes the raw bytes of every parameter and buffer (non-persistent ones,
such as rotary `inv_freq`, included) and, given `input_ids`, the logits of one forward pass.
The engine answers the `fingerprint` command with it; tests and gpu/check_guard.py compute the
same on a plain `from_pretrained` and compare: equal hashes mean bit-identical tensors.
Engine side: imports torch when called.
"""

from __future__ import annotations

import hashlib
from typing import Any


def tensor_sha256(tensor: Any) -> str:
    """sha256 of a tensor's raw bytes (its dtype's bit patterns, in row-major order)."""
    flat = tensor.detach().contiguous().reshape(-1)
    if flat.numel() == 0:
        return hashlib.sha256(b"").hexdigest()
    import torch

    return hashlib.sha256(flat.view(torch.uint8).cpu().numpy().tobytes()).hexdigest()


def fingerprint(model: Any, names: list[str] | None = None,
                input_ids: list[int] | None = None) -> dict[str, Any]:
    """{"tensors": {name: {"sha256", "dtype", "shape", "device"} or None when absent},
    "buffers": [buffer names], "logits": {"sha256", "shape", "dtype", "first"} or None}.
    `names`: the tensors to hash (default: every parameter and buffer)."""
    import torch

    params = dict(model.named_parameters(remove_duplicate=False))
    buffers = dict(model.named_buffers(remove_duplicate=False))
    everything = {**params, **buffers}
    tensors: dict[str, Any] = {}
    for name in names if names is not None else list(everything):
        t = everything.get(name)
        tensors[name] = None if t is None else {
            "sha256": tensor_sha256(t), "dtype": str(t.dtype).replace("torch.", ""),
            "shape": list(t.shape), "device": str(t.device)}
    logits = None
    if input_ids:
        ids = torch.tensor([input_ids], dtype=torch.long, device=model.device)
        with torch.inference_mode():
            out = model(input_ids=ids).logits
        logits = {"sha256": tensor_sha256(out), "shape": list(out.shape),
                  "dtype": str(out.dtype).replace("torch.", ""),
                  "first": [float(v) for v in out.reshape(-1)[:8].float().cpu().tolist()]}
        del out
    return {"tensors": tensors, "buffers": sorted(buffers), "logits": logits}
