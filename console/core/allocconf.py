"""PYTORCH_CUDA_ALLOC_CONF: the variables that carry it and its `key:value,...` syntax.

Pure and shared: the doctor's judge reads the setting the app sees, the engine-side probe the
setting torch parses.
"""

from __future__ import annotations

ALLOC_CONF_VARIABLES = ("PYTORCH_CUDA_ALLOC_CONF", "PYTORCH_ALLOC_CONF")


def split_alloc_conf(value: str) -> list[tuple[str, str]]:
    """`key:value,key:[a:b,c:d]` -> [(key, value), ...]; commas inside [...] stay in the value.

    Mirrors torch's tokenizer: spaces are dropped, an entry without `:` gets the value "".
    """
    entries: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in value.replace(" ", ""):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth = max(0, depth - 1)
        if ch == "," and depth == 0:
            entries.append("".join(current))
            current = []
        else:
            current.append(ch)
    entries.append("".join(current))
    out: list[tuple[str, str]] = []
    for entry in entries:
        if not entry:
            continue
        key, _, val = entry.partition(":")
        out.append((key, val))
    return out


