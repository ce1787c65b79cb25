"""The model attack corpus: hostile or broken model directories, built from a real tiny model.

`build_attacks(base, root)` copies the tiny model at `base` once per attack under `root` and
breaks it one way; returns {name: directory}. Each must give findings (exit 1) or a warning,
never a traceback, from `check`, and the same answer from `load`.
"""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Callable
from pathlib import Path


def _header_file(path: Path, header: bytes, data: bytes = b"") -> None:
    path.write_bytes(struct.pack("<Q", len(header)) + header + data)


def _config(model: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((model / "config.json").read_text())
    return data


def non_string_dtype(model: Path) -> None:
    header = json.dumps({"w": {"dtype": 5, "shape": [2], "data_offsets": [0, 8]}}).encode()
    _header_file(model / "model.safetensors", header, b"\0" * 8)


def list_dtype(model: Path) -> None:
    header = json.dumps({"w": {"dtype": ["F32"], "shape": [2], "data_offsets": [0, 8]}})
    _header_file(model / "model.safetensors", header.encode(), b"\0" * 8)


def nested_header(model: Path) -> None:
    depth = 200_000
    _header_file(model / "model.safetensors", b"[" * depth + b"]" * depth)


def nested_header_object(model: Path) -> None:
    depth = 200_000
    _header_file(model / "model.safetensors", b'{"a":' * depth + b"1" + b"}" * depth)


def huge_shape(model: Path) -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [10**30, 10**30],
                               "data_offsets": [0, 8]}}).encode()
    _header_file(model / "model.safetensors", header, b"\0" * 8)


def negative_shape(model: Path) -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}).encode()
    _header_file(model / "model.safetensors", header, b"\0" * 8)


def float_offsets(model: Path) -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [2],
                               "data_offsets": [0.5, "8"]}}).encode()
    _header_file(model / "model.safetensors", header, b"\0" * 8)


def header_not_utf8(model: Path) -> None:
    _header_file(model / "model.safetensors", b'{"\xff\xfe": 1}')


def header_metadata_not_strings(model: Path) -> None:
    header = json.dumps({"__metadata__": {"format": ["pt"], "x": {"y": 1}}}).encode()
    _header_file(model / "model.safetensors", header)


def config_huge_int(model: Path) -> None:
    text = (model / "config.json").read_text()
    cfg = json.loads(text)
    cfg["hidden_size"] = 1
    raw = json.dumps(cfg).replace('"hidden_size": 1', '"hidden_size": ' + "9" * 5000)
    (model / "config.json").write_text(raw)


def config_big_int(model: Path) -> None:
    cfg = _config(model)
    cfg["hidden_size"] = 10**300
    (model / "config.json").write_text(json.dumps(cfg))


def config_deep(model: Path) -> None:
    depth = 100_000
    (model / "config.json").write_text('{"model_type": "llama", "x": ' + "[" * depth
                                       + "]" * depth + "}")


def config_nan_hidden(model: Path) -> None:
    raw = (model / "config.json").read_text()
    cfg = json.loads(raw)
    cfg["hidden_size"] = float("nan")
    (model / "config.json").write_text(json.dumps(cfg))  # writes NaN, as Python's json does


def config_inf_layers(model: Path) -> None:
    cfg = _config(model)
    cfg["num_hidden_layers"] = float("inf")
    (model / "config.json").write_text(json.dumps(cfg))


def config_string_sizes(model: Path) -> None:
    cfg = _config(model)
    cfg["hidden_size"] = "64"
    cfg["num_attention_heads"] = None
    (model / "config.json").write_text(json.dumps(cfg))


def config_list(model: Path) -> None:
    (model / "config.json").write_text("[1, 2, 3]")


def config_not_utf8(model: Path) -> None:
    (model / "config.json").write_bytes(b'{"model_type": "\xff\xfe"}')


def index_escape(model: Path) -> None:
    header_len = struct.unpack("<Q", (model / "model.safetensors").read_bytes()[:8])[0]
    raw = (model / "model.safetensors").read_bytes()[8:8 + header_len]
    names = [n for n in json.loads(raw) if n != "__metadata__"]
    shutil.move(model / "model.safetensors", model / "model-00001-of-00001.safetensors")
    weight_map = dict.fromkeys(names, "model-00001-of-00001.safetensors")
    weight_map[names[0]] = "../../../../../../etc/passwd"
    (model / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": weight_map}))


def index_absolute(model: Path) -> None:
    index_escape(model)
    index = json.loads((model / "model.safetensors.index.json").read_text())
    first = next(iter(index["weight_map"]))
    index["weight_map"][first] = "/etc/passwd"
    (model / "model.safetensors.index.json").write_text(json.dumps(index))


def index_symlink_out(model: Path) -> None:
    index_escape(model)
    index = json.loads((model / "model.safetensors.index.json").read_text())
    (model / "link.safetensors").symlink_to("/etc/passwd")
    first = next(iter(index["weight_map"]))
    index["weight_map"][first] = "link.safetensors"
    (model / "model.safetensors.index.json").write_text(json.dumps(index))


def index_weight_map_not_strings(model: Path) -> None:
    index_escape(model)
    index = json.loads((model / "model.safetensors.index.json").read_text())
    first = next(iter(index["weight_map"]))
    index["weight_map"][first] = {"file": 3}
    (model / "model.safetensors.index.json").write_text(json.dumps(index))


def remote_code_auto_map(model: Path) -> None:
    cfg = _config(model)
    cfg["auto_map"] = {"AutoModelForCausalLM": "modeling_x.XForCausalLM"}
    (model / "config.json").write_text(json.dumps(cfg))
    (model / "modeling_x.py").write_text("raise SystemExit('remote code ran')\n")


def no_tokenizer(model: Path) -> None:
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                 "chat_template.jinja"):
        (model / name).unlink(missing_ok=True)


ATTACKS: dict[str, Callable[[Path], None]] = {
    f.__name__: f for f in (
        non_string_dtype, list_dtype, nested_header, nested_header_object, huge_shape,
        negative_shape, float_offsets, header_not_utf8, header_metadata_not_strings,
        config_huge_int, config_big_int, config_deep, config_nan_hidden, config_inf_layers,
        config_string_sizes, config_list, config_not_utf8, index_escape, index_absolute,
        index_symlink_out, index_weight_map_not_strings, remote_code_auto_map,
    )
}


def build_attacks(base: Path, root: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for name, attack in ATTACKS.items():
        target = root / name
        shutil.copytree(base, target)
        attack(target)
        out[name] = target
    return out
