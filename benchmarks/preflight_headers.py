#!/usr/bin/env python3
"""How long the pre-flight checks take on a 20 GB checkpoint (headers only), vs safetensors.

    python3 benchmarks/preflight_headers.py [--gb 20] [--shards 4]

Builds a sparse sharded checkpoint (headers written, data regions left as holes: no 20 GB of
disk needed) in a temp dir, then times, best of 5:
  - `console.core.preflight.check_model_dir` (every check: config, tokenizer, index, every header)
  - the peer: `safetensors.safe_open` on every shard listing its keys (Rust header parsing)
and prints a table with the ratio. The goal (issue 4): well under a second for 20 GB.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from console.core.preflight import check_model_dir


def build(dest: Path, total_gb: float, shards: int) -> None:
    hidden = 4096
    per_shard = int(total_gb * 1e9 / shards)
    weight_map: dict[str, str] = {}
    layer = 0
    for s in range(shards):
        name = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        header: dict[str, object] = {"__metadata__": {"format": "pt"}}
        offset = 0
        while offset < per_shard:
            for part, rows in (("q_proj", hidden), ("k_proj", 1024), ("v_proj", 1024),
                               ("o_proj", hidden), ("gate_proj", 14336), ("up_proj", 14336),
                               ("down_proj", hidden)):
                cols = 14336 if part == "down_proj" else hidden
                n = rows * cols * 2
                key = f"model.layers.{layer}.{part}.weight"
                header[key] = {"dtype": "BF16", "shape": [rows, cols],
                               "data_offsets": [offset, offset + n]}
                weight_map[key] = name
                offset += n
            layer += 1
        blob = json.dumps(header).encode()
        with (dest / name).open("wb") as fh:
            fh.write(struct.pack("<Q", len(blob)) + blob)
            fh.truncate(8 + len(blob) + offset)
    (dest / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    (dest / "config.json").write_text(json.dumps({
        "model_type": "llama", "hidden_size": hidden, "num_hidden_layers": layer,
        "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256}))
    (dest / "tokenizer.json").write_text("{}")


def best_of(fn: Callable[[], object], n: int = 5) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gb", type=float, default=20.0)
    ap.add_argument("--shards", type=int, default=4)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp)
        build(dest, args.gb, args.shards)
        report = check_model_dir(dest)
        assert report.ok, [f.line() for f in report.findings]
        size = sum(p.stat().st_size for p in dest.glob("*.safetensors"))
        ours = best_of(lambda: check_model_dir(dest))
        try:
            from safetensors import safe_open

            def peer() -> None:
                for p in sorted(dest.glob("*.safetensors")):
                    with safe_open(str(p), framework="numpy") as st:
                        list(st.keys())

            theirs: float | None = best_of(peer)
        except ImportError:
            theirs = None
        print(f"checkpoint: {size / 1e9:.1f} GB in {args.shards} shards, "
              f"{len(report.tensors)} tensors")
        print(f"{'what':<44}{'seconds':>10}{'ratio':>8}")
        print(f"{'preflight.check_model_dir (all checks)':<44}{ours:>10.4f}"
              f"{(ours / theirs if theirs else float('nan')):>8.2f}")
        if theirs is not None:
            print(f"{'safetensors.safe_open, keys (peer)':<44}{theirs:>10.4f}{1.0:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
