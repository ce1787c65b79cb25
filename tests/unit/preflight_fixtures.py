"""Real tiny models (built once per test process) and the broken copies the pre-flight tests
make from them: truncated shards, bad headers, LFS pointers, a broken config.json, ...

Shared by test_preflight.py, test_cli_check.py and test_estimate.py (no conftest: a plain
module with a process-wide cache, so each model is built once per pytest run).
"""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

_ROOT = Path(tempfile.mkdtemp(prefix="autoglm-preflight-models-"))

# name -> (arch, build kwargs)
MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "llama_sharded": ("llama", {"max_shard_size": "100KB"}),
    "llama": ("llama", {}),
    "gpt2_tied": ("gpt2", {"tie_word_embeddings": True}),
    "glm4v": ("glm4v", {}),
    "qwen2": ("qwen2", {}),
    "mistral": ("mistral", {}),
}


@functools.cache
def built(name: str) -> Path:
    """The model directory for `name`, built on first use (random weights, real files)."""
    from console.worker.tinymodels import build

    arch, kwargs = MODELS[name]
    return build(arch, _ROOT / name, **kwargs)


def copy_of(name: str, dest: Path) -> Path:
    target = dest / name
    shutil.copytree(built(name), target)
    return target


def shards(model_dir: Path) -> list[Path]:
    return sorted(model_dir.glob("model-*.safetensors"))


def read_st(path: Path) -> tuple[dict[str, Any], bytes]:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def write_st(path: Path, header: dict[str, Any], data: bytes) -> None:
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)


def tensor_names(header: dict[str, Any]) -> list[str]:
    return [k for k in header if k != "__metadata__"]


# ----------------------------------------------------------------------------------------------
# Breakers: each takes a copy of llama_sharded (unless it says otherwise) and breaks one thing.
# They return the file the finding must name ("" = the model as a whole).


def truncate_shard(d: Path) -> str:
    shard = shards(d)[1]
    data = shard.read_bytes()
    shard.write_bytes(data[:-100])
    return shard.name


def header_length_overruns(d: Path) -> str:
    shard = shards(d)[0]
    raw = bytearray(shard.read_bytes())
    raw[:8] = struct.pack("<Q", len(raw) + 1000)
    shard.write_bytes(bytes(raw))
    return shard.name


def offsets_outside_data(d: Path) -> str:
    shard = shards(d)[0]
    header, data = read_st(shard)
    name = tensor_names(header)[-1]
    begin, end = header[name]["data_offsets"]
    header[name]["data_offsets"] = [begin + len(data), end + len(data)]
    write_st(shard, header, data)
    return shard.name


def missing_shard(d: Path) -> str:
    shard = shards(d)[2]
    shard.unlink()
    return shard.name


def index_names_absent_key(d: Path) -> str:
    index = d / "model.safetensors.index.json"
    data = json.loads(index.read_text())
    first = shards(d)[0].name
    data["weight_map"]["model.layers.99.mlp.up_proj.weight"] = first
    index.write_text(json.dumps(data))
    return first


def lfs_pointer(d: Path) -> str:
    shard = shards(d)[0]
    size = shard.stat().st_size
    oid = hashlib.sha256(shard.read_bytes()).hexdigest()
    shard.write_text(f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n")
    return shard.name


def zero_length(d: Path) -> str:
    shard = shards(d)[0]
    shard.write_bytes(b"")
    return shard.name


CONFIG_WITH_SYNTAX_ERROR = ('{\n  "model_type": "llama",\n  "hidden_size": 64,,\n  "vocab_size": '
                            '256\n}\n')
# the second comma on line 3 is at column 21: json says "Expecting property name"
CONFIG_ERROR_AT = "line 3, column 21"


def config_syntax_error(d: Path) -> str:
    (d / "config.json").write_text(CONFIG_WITH_SYNTAX_ERROR)
    return "config.json"


def _edit_config(d: Path, **changes: Any) -> None:
    path = d / "config.json"
    cfg = json.loads(path.read_text())
    cfg.update(changes)
    path.write_text(json.dumps(cfg, indent=2))


def unknown_model_type(d: Path) -> str:
    _edit_config(d, model_type="nosuchmodel")
    return "config.json"


def auto_map_without_opt_in(d: Path) -> str:
    _edit_config(d, model_type="mycustomlm",
                 auto_map={"AutoConfig": "configuration_my.MyConfig",
                           "AutoModelForCausalLM": "modeling_my.MyForCausalLM"})
    return "config.json"


def padded_file(d: Path) -> str:
    shard = shards(d)[3]
    with shard.open("ab") as fh:
        fh.write(b"\0" * 64)
    return shard.name


def header_not_json(d: Path) -> str:
    shard = shards(d)[0]
    raw = bytearray(shard.read_bytes())
    raw[8:12] = b"{{{{"
    shard.write_bytes(bytes(raw))
    return shard.name


def unknown_dtype(d: Path) -> str:
    shard = shards(d)[0]
    header, data = read_st(shard)
    header[tensor_names(header)[0]]["dtype"] = "Q7"
    write_st(shard, header, data)
    return shard.name


def overlapping_tensors(d: Path) -> str:
    """Two tensors of the same size made to share bytes; the range one of them leaves is then
    held by nothing. Picks the first pair of equal-sized tensors in any shard."""
    for shard in shards(d):
        header, data = read_st(shard)
        by_size: dict[int, str] = {}
        for name in tensor_names(header):
            begin, end = header[name]["data_offsets"]
            other = by_size.get(end - begin)
            if other is not None:
                header[name]["data_offsets"] = list(header[other]["data_offsets"])
                write_st(shard, header, data)
                return shard.name
            by_size[end - begin] = name
    raise AssertionError("no two tensors of the same size to overlap")


def duplicate_index_key(d: Path) -> str:
    index = d / "model.safetensors.index.json"
    text = index.read_text()
    data = json.loads(text)
    key, shard = next(iter(data["weight_map"].items()))
    # the same key written twice in the JSON object (json.loads would keep the last silently)
    text = text.replace('"weight_map": {', f'"weight_map": {{\n    "{key}": "{shard}",', 1)
    index.write_text(text)
    return "model.safetensors.index.json"


def missing_config(d: Path) -> str:
    (d / "config.json").unlink()
    return "config.json"


def missing_tokenizer(d: Path) -> str:
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (d / name).unlink()
    return ""


def missing_weights(d: Path) -> str:
    for shard in shards(d):
        shard.unlink()
    (d / "model.safetensors.index.json").unlink()
    return ""


# name -> (breaker, finding code that must appear, severity)
BROKEN: dict[str, tuple[Callable[[Path], str], str]] = {
    "truncated_shard": (truncate_shard, "safetensors_offsets"),
    "header_length_overruns": (header_length_overruns, "safetensors_header_length"),
    "offsets_outside_data": (offsets_outside_data, "safetensors_offsets"),
    "missing_shard": (missing_shard, "missing_shard"),
    "index_names_absent_key": (index_names_absent_key, "index_key_missing"),
    "lfs_pointer": (lfs_pointer, "lfs_pointer"),
    "zero_length": (zero_length, "empty_file"),
    "config_syntax_error": (config_syntax_error, "json_invalid"),
    "unknown_model_type": (unknown_model_type, "unknown_model_type"),
    "auto_map_without_opt_in": (auto_map_without_opt_in, "remote_code"),
    "padded_file": (padded_file, "safetensors_padded"),
    "header_not_json": (header_not_json, "safetensors_header_json"),
    "unknown_dtype": (unknown_dtype, "safetensors_dtype"),
    "overlapping_tensors": (overlapping_tensors, "safetensors_overlap"),
    "duplicate_index_key": (duplicate_index_key, "index_duplicate_key"),
    "missing_config": (missing_config, "missing_config"),
    "missing_tokenizer": (missing_tokenizer, "missing_tokenizer"),
    "missing_weights": (missing_weights, "missing_weights"),
}


def make_broken(case: str, dest: Path) -> tuple[Path, str, str]:
    """A broken copy of llama_sharded: (model dir, file the finding names, expected code)."""
    breaker, code = BROKEN[case]
    model = copy_of("llama_sharded", dest)
    return model, breaker(model), code


# ----------------------------------------------------------------------------------------------
# A Hugging Face cache layout around a model directory


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def make_hf_cache(src: Path, cache: Path, repo_id: str = "tiny-org/tiny-llama",
                  revision: str = "0123456789abcdef0123456789abcdef01234567") -> Path:
    """`cache/models--org--name/{blobs,refs/main,snapshots/<rev>}` as huggingface_hub writes
    it: weights as sha256-named blobs (LFS), small files as git-sha1-named blobs, the snapshot
    made of relative symlinks. Returns the snapshot directory."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    blobs = repo / "blobs"
    snap = repo / "snapshots" / revision
    blobs.mkdir(parents=True)
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    for f in sorted(src.iterdir()):
        data = f.read_bytes()
        name = (hashlib.sha256(data).hexdigest() if f.suffix == ".safetensors"
                else git_blob_sha1(data))
        (blobs / name).write_bytes(data)
        (snap / f.name).symlink_to(Path("../../blobs") / name)
    return snap


def sparse_checkpoint(dest: Path, total_bytes: int, tensors: int = 200,
                      dtype: str = "BF16") -> Path:
    """A model dir whose one safetensors file declares `total_bytes` of tensors and is that
    long on disk, but sparse (no data written): for checks that must not read tensor data, and
    for a 'will not fit' estimate without 100 GB of disk."""
    dest.mkdir(parents=True, exist_ok=True)
    per = total_bytes // tensors // 2 // 4096 * 4096  # elements (2 bytes each), rounded
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    hidden = 4096
    for i in range(tensors):
        rows = per // hidden
        n = rows * hidden * 2
        header[f"model.layers.{i}.mlp.weight"] = {
            "dtype": dtype, "shape": [rows, hidden], "data_offsets": [offset, offset + n]}
        offset += n
    blob = json.dumps(header).encode()
    path = dest / "model.safetensors"
    with path.open("wb") as fh:
        fh.write(struct.pack("<Q", len(blob)) + blob)
        fh.truncate(8 + len(blob) + offset)
    (dest / "config.json").write_text(json.dumps({
        "model_type": "llama", "hidden_size": hidden, "intermediate_size": 4 * hidden,
        "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
        "vocab_size": 128256, "max_position_embeddings": 8192, "dtype": "bfloat16",
    }))
    (dest / "tokenizer.json").write_text("{}")
    return dest
