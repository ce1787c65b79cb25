"""The per-tensor hook contract of an engine load (shared by every loader: the stock
`from_pretrained` path in console/worker/worker.py and any loader of our own).

Before a loader materialises one target tensor (reads its bytes and places them on their
device) it builds a `TensorStep` and calls every hook in `Engine.before_tensor`, in order, on
the loading thread:

    for hook in engine.before_tensor:
        hook(step)

A hook may
- return: the tensor is placed;
- block: nothing is placed while it blocks (the guard's pause waits on a condition variable
  here; the loader must not read or copy this tensor, or any later one, before the hooks
  return: that is what makes a pause stop every byte);
- raise (`LoadAborted` or any exception): the load stops; the loader must let the exception
  propagate so the engine frees what was placed and returns to its baseline.

The loader calls the hooks once per target tensor, in the order it places them, before it
allocates that tensor. The stock path calls them only after the previous tensor is fully
placed (a synchronous loop). The fast loader (console/worker/fastload.py) keeps up to
`window` tensors in flight: when the hook of tensor k runs, tensors k-window+1 .. k-1 are
allocated on their device and may still be copying; they finish while a hook blocks (within
milliseconds), and nothing from tensor k on is allocated, read or copied until the hooks
return, so the device's memory does not grow past a pause. (Its read-ahead may bring at most
`readahead_bytes` more of the files into the page cache meanwhile.) `index` counts from 0;
`total` is the number of target tensors of this load (0 when unknown). No torch objects cross
this contract: a hook may run in a process where torch is imported, but it must not need it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TensorStep:
    """What a per-tensor hook sees before one target tensor is materialised."""

    name: str  # the target parameter or buffer name ("model.layers.0.mlp.up_proj.weight")
    nbytes: int  # bytes the tensor takes on its device (checkpoint bytes when unknown)
    file: str | None  # the weight file it is read from (name only), None when unknown
    index: int  # 0-based position of this tensor in the load
    total: int  # target tensors in this load (0 when unknown)
    device: str = "cpu"  # where it is placed: "cpu", "cuda:N", "disk", "meta"


def normalise_device(device: object) -> str:
    """"cuda:0" for 0, torch.device("cuda", 0), "cuda:0"; "cuda" for "cuda" (the current
    device is the caller's to resolve); "cpu", "disk", "meta" as they are."""
    if isinstance(device, bool):
        return str(device)
    if isinstance(device, int):
        return f"cuda:{device}"
    return str(device)
