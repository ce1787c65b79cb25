"""Pre-flight checks: is a model directory whole and loadable here, before any weight moves?

Reads metadata only: config.json, the tokenizer files' names, each safetensors file's 8-byte
header length and JSON header (never the tensor data), `os.stat` sizes, the first bytes of
pickles. A 20 GB checkpoint takes milliseconds. `verify_hashes` is the one part that reads
every byte (sha256 of each blob in the HF cache against its name), with a progress callback.

No torch, no transformers, no textual. Whether this transformers knows a `model_type` is read
from its source file (`models/auto/auto_mappings.py`, or `configuration_auto.py` in 4.x) with
`ast`, without importing it: importing transformers imports torch (~2 s, and the app process
must never import torch). Installed packages are looked up with `importlib.util.find_spec`.

Every problem is a `Finding`: severity (error / warning / info), the file, what is wrong, what
to do, and a root-cause id from shared/rootcauses.md.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import struct
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from console.core import safejson
from console.core.estimate import SAFETENSORS_DTYPE_BITS, TensorSpec, tensor_nbytes

MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit
LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/v1"
MAX_POINTER_BYTES = 1024
WEIGHT_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth")
NOT_WEIGHTS = frozenset({"training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state.pth"})
TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer.model", "spiece.model", "sentencepiece.bpe.model",
    "vocab.json", "vocab.txt", "merges.txt", "tokenizer_config.json",
)
SEVERITIES = ("error", "warning", "info")

# model_type -> the first transformers release that knows it (for "upgrade to >= X").
# Sources: release notes (glm4 in the v4.51.3 patch, "Add glm4 (#37388)"); vLLM's note that
# GlmForCausalLM needs >= 4.46.0; FACTS.md for glm4v (>= 4.53); the rest from the release
# notes of the version named. A type not listed gets "unknown".
MODEL_TYPE_SINCE: dict[str, str] = {
    "gpt2": "2.0.0",
    "llama": "4.28.0",
    "mistral": "4.34.0",
    "mixtral": "4.36.0",
    "qwen2": "4.37.0",
    "gemma": "4.38.0",
    "gemma2": "4.42.0",
    "qwen2_vl": "4.45.0",
    "glm": "4.46.0",
    "qwen2_5_vl": "4.49.0",
    "gemma3": "4.50.0",
    "llama4": "4.51.0",
    "qwen3": "4.51.0",
    "qwen3_moe": "4.51.0",
    "glm4": "4.51.3",
    "glm4v": "4.53.0",
}

# quantization_config.quant_method -> the module its loader imports.
QUANTIZER_MODULES = {
    "bitsandbytes": "bitsandbytes", "gptq": "gptqmodel", "awq": "awq",
    "compressed-tensors": "compressed_tensors", "hqq": "hqq", "quanto": "optimum.quanto",
    "eetq": "eetq", "torchao": "torchao", "aqlm": "aqlm", "higgs": "flute",
}

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True, slots=True)
class Finding:
    severity: str  # "error" | "warning" | "info"
    code: str  # stable short id, e.g. "safetensors_truncated"
    file: str  # relative to the model directory; "" for the model as a whole
    problem: str
    fix: str
    cause: str = ""  # root-cause id (shared/rootcauses.md), "" for information

    def problem_line(self) -> str:
        """"error: model.safetensors: <problem>" (no fix)."""
        where = f"{self.file}: " if self.file else ""
        return f"{self.severity}: {where}{self.problem}"

    def line(self) -> str:
        return self.problem_line() + (f" - {self.fix}" if self.fix else "")


@dataclass(frozen=True, slots=True)
class SafetensorsHeader:
    file: str
    file_size_bytes: int
    header_bytes: int
    metadata: dict[str, str]
    tensors: tuple[TensorSpec, ...]
    # tensor name -> (begin, end) byte offsets inside the data region, which starts at byte
    # 8 + header_bytes of the file (what a loader reading the bytes itself needs).
    data_offsets: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HashCheck:
    files: int
    bytes: int
    mismatched: tuple[str, ...]
    unverifiable: tuple[str, ...]  # not LFS / git blobs (copies, local dirs)


@dataclass(frozen=True, slots=True)
class PreflightReport:
    model_dir: str
    findings: tuple[Finding, ...]
    config: dict[str, Any] | None
    weight_format: str  # "safetensors" | "pickle" | "none"
    weight_files: tuple[str, ...]
    tensors: tuple[TensorSpec, ...]
    checkpoint_bytes: int
    transformers_version: str | None
    hub_cache: bool  # the directory is a snapshot in the HF cache
    elapsed_s: float
    hashes: HashCheck | None = None

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json_dict(self, with_tensors: bool = False) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["tensor_count"] = len(self.tensors)
        if not with_tensors:
            del data["tensors"]
        data.pop("config")
        return data


# ----------------------------------------------------------------------------------------------
# Small file helpers


def _head(path: Path, n: int) -> bytes:
    with path.open("rb") as fh:
        return fh.read(n)


def _lfs_pointer(path: Path, size: int) -> dict[str, str] | None:
    """The pointer's fields (oid, size) when `path` is a git-lfs pointer text file."""
    if size > MAX_POINTER_BYTES:
        return None
    text = _head(path, MAX_POINTER_BYTES)
    if not text.startswith(LFS_POINTER_PREFIX):
        return None
    fields: dict[str, str] = {}
    for line in text.decode("utf-8", "replace").splitlines():
        key, _, value = line.partition(" ")
        fields[key] = value
    return fields


def _placeholder_finding(rel: str, path: Path, size: int) -> Finding | None:
    """A zero-length file or a git-lfs pointer where a weight file should be."""
    if size == 0:
        return Finding("error", "empty_file", rel, "is empty (0 bytes) where weights should be",
                       "the download did not finish: download the file again", "corrupt_checkpoint")
    pointer = _lfs_pointer(path, size)
    if pointer is not None:
        real = pointer.get("size", "?")
        return Finding("error", "lfs_pointer", rel,
                       f"is a git-lfs pointer ({size} bytes of text), not the weights ({real} "
                       "bytes)",
                       "run `git lfs pull` in the clone, or download with huggingface-cli",
                       "corrupt_checkpoint")
    return None


def _json_file(path: Path, rel: str) -> tuple[Any, Finding | None]:
    """Parse a JSON file; a syntax error names the line and column."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, Finding("error", "unreadable", rel, f"cannot be read: {exc.strerror}",
                             "check the file's permissions", "permission_or_disk")
    if not raw.strip():
        return None, Finding("error", "empty_file", rel, "is empty", "download the file again",
                             "corrupt_checkpoint")
    if raw.startswith(LFS_POINTER_PREFIX):
        return None, Finding("error", "lfs_pointer", rel, "is a git-lfs pointer, not the file",
                             "run `git lfs pull`, or download with huggingface-cli",
                             "corrupt_checkpoint")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, Finding("error", "json_invalid", rel, f"is not UTF-8 text (byte {exc.start})",
                             "download the file again", "corrupt_checkpoint")
    try:
        return safejson.loads(text), None
    except safejson.JsonProblem as exc:
        return None, Finding("error", "json_invalid", rel, f"{exc.reason}: not a usable file",
                             "download the file again, or fix it by hand", "corrupt_checkpoint")
    except json.JSONDecodeError as exc:
        return None, Finding("error", "json_invalid", rel,
                             f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
                             f"fix the syntax at line {exc.lineno} or download the file again",
                             "corrupt_checkpoint")


# ----------------------------------------------------------------------------------------------
# safetensors headers


def read_safetensors_header(path: Path, rel: str | None = None) -> tuple[
    SafetensorsHeader | None, list[Finding]
]:
    """Read and validate one safetensors file's header (8-byte little-endian length + JSON),
    never its data. Checks what safetensors checks at load time: the length against the file,
    the JSON, known dtypes, each tensor's byte range inside the data region and consistent with
    its shape x dtype, no overlaps or holes, and the data region ending exactly at the end of
    the file (a truncated or padded file)."""
    rel = rel if rel is not None else path.name
    findings: list[Finding] = []
    try:
        size = path.stat().st_size
    except OSError as exc:
        return None, [Finding("error", "missing_file", rel, f"cannot be read: {exc.strerror}",
                              "download the file again", "missing_file")]
    placeholder = _placeholder_finding(rel, path, size)
    if placeholder is not None:
        return None, [placeholder]
    corrupt = "corrupt_checkpoint"
    redownload = "the file is damaged: download it again"
    if size < 8:
        return None, [Finding("error", "safetensors_truncated", rel,
                              f"is {size} bytes, shorter than the 8-byte header length", redownload,
                              corrupt)]
    try:
        fh = path.open("rb")
    except OSError as exc:
        return None, [Finding("error", "unreadable", rel, f"cannot be read: {exc.strerror}",
                              "check the file's permissions", "permission_or_disk")]
    with fh:
        (header_len,) = struct.unpack("<Q", fh.read(8))
        if header_len > MAX_HEADER_BYTES or header_len > size - 8:
            limit = ("the 100 MB limit" if header_len > MAX_HEADER_BYTES
                     else f"the file ({size} bytes)")
            return None, [Finding("error", "safetensors_header_length", rel,
                                  f"header length field says {header_len} bytes, beyond {limit}",
                                  redownload, corrupt)]
        raw = fh.read(header_len)
    try:
        header = safejson.loads(raw.decode("utf-8"))
    except safejson.JsonProblem as exc:
        return None, [Finding("error", "safetensors_header_json", rel,
                              f"header {exc.reason}", redownload, corrupt)]
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f" at byte {exc.pos}" if isinstance(exc, json.JSONDecodeError) else ""
        return None, [Finding("error", "safetensors_header_json", rel,
                              f"header is not valid JSON{where}", redownload, corrupt)]
    if not isinstance(header, dict):
        return None, [Finding("error", "safetensors_header_json", rel,
                              "header is not a JSON object", redownload, corrupt)]
    data_len = size - 8 - header_len
    metadata_raw = header.pop("__metadata__", None) or {}
    if not isinstance(metadata_raw, dict) or not all(
            isinstance(v, str) for v in metadata_raw.values()):
        # safetensors refuses to open such a file (its metadata is a map of strings)
        findings.append(Finding("error", "safetensors_header_json", rel,
                                "__metadata__ is not a map of strings to strings", redownload,
                                corrupt))
        metadata_raw = {}
    metadata = {str(k): str(v) for k, v in metadata_raw.items()}
    tensors: list[TensorSpec] = []
    ranges: list[tuple[int, int, str]] = []
    for name, info in header.items():
        if not isinstance(info, dict):
            findings.append(Finding("error", "safetensors_header_json", rel,
                                    f"tensor {name!r}: entry is not an object", redownload,
                                    corrupt))
            continue
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if not isinstance(dtype, str) or dtype not in SAFETENSORS_DTYPE_BITS:
            findings.append(Finding("error", "safetensors_dtype", rel,
                                    f"tensor {name!r}: unknown dtype {dtype!r}",
                                    "this safetensors/transformers cannot read it: upgrade "
                                    "safetensors, "
                                    "or the file is damaged", corrupt))
            continue
        if (not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape)
                or not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and o >= 0 for o in offsets)):
            findings.append(Finding("error", "safetensors_header_json", rel,
                                    f"tensor {name!r}: shape or data_offsets malformed", redownload,
                                    corrupt))
            continue
        begin, end = offsets
        expected = tensor_nbytes(dtype, shape)
        if end < begin or end - begin != expected:
            findings.append(Finding("error", "safetensors_offsets", rel,
                                    f"tensor {name!r}: data_offsets {begin}..{end} hold "
                                    f"{end - begin} "
                                    f"bytes, its shape {shape} x {dtype} needs {expected}",
                                    redownload, corrupt))
            continue
        if end > data_len:
            findings.append(Finding("error", "safetensors_offsets", rel,
                                    f"tensor {name!r}: data_offsets end at {end}, past the "
                                    f"{data_len}-byte data region (file {size} bytes)",
                                    "the file is truncated or its header is wrong: download it "
                                    "again",
                                    corrupt))
            continue
        tensors.append(TensorSpec(str(name), dtype, tuple(shape)))
        ranges.append((begin, end, str(name)))
    ranges.sort()
    covered = 0
    for begin, end, name in ranges:
        if begin < covered:
            findings.append(Finding("error", "safetensors_overlap", rel,
                                    f"tensor {name!r} overlaps the tensor before it "
                                    f"(starts at {begin}, previous ends at {covered})",
                                    redownload, corrupt))
        elif begin > covered:
            findings.append(Finding("error", "safetensors_hole", rel,
                                    f"{begin - covered} bytes before tensor {name!r} belong to no "
                                    "tensor",
                                    redownload, corrupt))
        covered = max(covered, end)
    if not findings and covered < data_len:  # (ends past data_len were caught above)
        findings.append(Finding("error", "safetensors_padded", rel,
                                f"{data_len - covered} bytes after the last tensor belong to no "
                                f"tensor (data region {data_len} bytes, tensors end at {covered})",
                                "the file was altered or appended to: download it again", corrupt))
    if not ranges and not findings:
        findings.append(Finding("warning", "safetensors_empty", rel, "holds no tensors",
                                "remove it, or download the right file", "corrupt_checkpoint"))
    if any(f.severity == "error" for f in findings):
        return None, findings
    offsets = {name: (begin, end) for begin, end, name in ranges}
    return SafetensorsHeader(rel, size, header_len, metadata, tuple(tensors), offsets), findings


# ----------------------------------------------------------------------------------------------
# transformers without importing it


def transformers_version() -> str | None:
    try:
        return importlib.metadata.version("transformers")
    except importlib.metadata.PackageNotFoundError:
        return None


def known_model_types() -> frozenset[str] | None:
    """model_types the installed transformers knows, read from its source with `ast` (no
    import: transformers pulls torch in). None when transformers is not installed or the
    mapping cannot be read."""
    loaded = sys.modules.get("transformers.models.auto.configuration_auto")
    if loaded is not None and hasattr(loaded, "CONFIG_MAPPING_NAMES"):
        return frozenset(loaded.CONFIG_MAPPING_NAMES)
    try:
        spec = importlib.util.find_spec("transformers")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    base = Path(next(iter(spec.submodule_search_locations))) / "models" / "auto"
    keys: set[str] = set()
    for name in ("auto_mappings.py", "configuration_auto.py"):  # 5.x: both; 4.x: the second
        path = base / name
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            continue
        keys |= _mapping_keys(str(path), stamp)
    return frozenset(keys) if keys else None


def _literal_keys(node: ast.expr) -> set[str]:
    """Keys of a dict literal or of a list/tuple literal of (key, value) pairs."""
    try:
        value = ast.literal_eval(node)
    except ValueError:
        return set()
    if isinstance(value, dict):
        return {str(k) for k in value}
    if isinstance(value, (list, tuple)):
        return {str(pair[0]) for pair in value if isinstance(pair, (list, tuple)) and pair}
    return set()


@functools.lru_cache(maxsize=8)
def _mapping_keys(path_text: str, mtime_ns: int) -> frozenset[str]:
    """The model types a transformers source file puts in CONFIG_MAPPING_NAMES: the literal it
    is built from (`OrderedDict([...])`, `OrderedDict(**{...}, **CONFIG_MAPPING_NAMES)`) and
    any `CONFIG_MAPPING_NAMES.update({...})`."""
    try:
        tree = ast.parse(Path(path_text).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return frozenset()
    keys: set[str] = set()
    for node in tree.body:
        assigns = isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "CONFIG_MAPPING_NAMES" for t in node.targets)
        updates = (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
                   and isinstance(node.value.func, ast.Attribute)
                   and node.value.func.attr == "update"
                   and isinstance(node.value.func.value, ast.Name)
                   and node.value.func.value.id == "CONFIG_MAPPING_NAMES")
        call = node.value if (assigns or updates) and isinstance(
            node, (ast.Assign, ast.Expr)) else None
        if not isinstance(call, ast.Call):
            continue
        for arg in call.args:
            keys |= _literal_keys(arg)
        for kw in call.keywords:
            if kw.arg is None:
                keys |= _literal_keys(kw.value)
            else:
                keys.add(kw.arg)
    return frozenset(keys)


def _version_tuple(text: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in text.split("."):
        digits = re.match(r"\d+", piece)
        if digits is None:
            break
        parts.append(int(digits.group()))
    return tuple(parts)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


# ----------------------------------------------------------------------------------------------
# The checks


def _hub_cache_blobs(model_dir: Path) -> Path | None:
    """`<repo>/blobs` when `model_dir` is `<cache>/models--org--name/snapshots/<rev>`."""
    if model_dir.parent.name == "snapshots" and model_dir.parent.parent.name.startswith("models--"):
        blobs = model_dir.parent.parent / "blobs"
        return blobs if blobs.is_dir() else None
    return None


def _check_config(
    model_dir: Path, findings: list[Finding], trust_remote_code: bool,
    known: frozenset[str] | None, tf_version: str | None,
) -> dict[str, Any] | None:
    path = model_dir / "config.json"
    if not path.exists():
        findings.append(Finding("error", "missing_config", "config.json", "is missing",
                                "a model directory needs config.json: download it or point at the "
                                "right directory", "missing_file"))
        return None
    data, problem = _json_file(path, "config.json")
    if problem is not None:
        findings.append(problem)
        return None
    if not isinstance(data, dict):
        findings.append(Finding("error", "config_invalid", "config.json", "is not a JSON object",
                                "download config.json again", "corrupt_checkpoint"))
        return None
    model_type = data.get("model_type")
    remote = isinstance(data.get("auto_map"), dict)
    if not isinstance(model_type, str) or not model_type:
        findings.append(Finding("error", "config_no_model_type", "config.json",
                                "has no model_type", "add the model's \"model_type\" (e.g. "
                                "\"llama\") "
                                "or download config.json again", "version_mismatch"))
    elif known is None and tf_version is None:
        findings.append(Finding("info", "transformers_absent", "config.json",
                                f"model_type {model_type!r} not checked: transformers is not "
                                "installed here", "install the engine extra: pip install "
                                "'autoglm-console[engine]'", "missing_dependency"))
    elif known is None:
        findings.append(Finding("info", "model_types_unreadable", "config.json",
                                f"model_type {model_type!r} not checked: the model types of "
                                f"transformers {tf_version} could not be read", ""))
    elif model_type not in known and not (remote and trust_remote_code):
        since = MODEL_TYPE_SINCE.get(model_type)
        need = (f"transformers >= {since}" if since
                else "a transformers that knows it (version unknown)")
        if remote:
            fix = ("it ships its own code (auto_map): allow remote code for this model "
                   "(the trust_remote_code checkbox, --trust-remote-code), or install " + need)
        else:
            fix = f"install {need}: pip install -U transformers"
        findings.append(Finding("error", "unknown_model_type", "config.json",
                                f"model_type {model_type!r} is unknown to transformers "
                                f"{tf_version}",
                                fix, "version_mismatch"))
    if remote:
        classes = ", ".join(sorted(str(v) for v in data["auto_map"].values())[:3])
        if trust_remote_code:
            findings.append(Finding("warning", "remote_code", "config.json",
                                    f"auto_map names code shipped with the model ({classes}); "
                                    "remote "
                                    "code is allowed for it: it runs with your permissions",
                                    "only for models you trust", "remote_code"))
        else:
            # `load` refuses any auto_map without trust, even when transformers has its own
            # class for the model_type: check and load agree (tests/hardening/test_check_inputs).
            findings.append(Finding("error", "remote_code", "config.json",
                                    f"needs remote code: auto_map names {classes}, not part of "
                                    "transformers", "allow it for this model explicitly "
                                    "(the trust_remote_code checkbox, --trust-remote-code), "
                                    "only if you trust its author",
                                    "remote_code"))
    for key in _SIZE_KEYS:
        value = data.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or not 0 < value < 2**53):
            findings.append(Finding("error", "config_invalid", "config.json",
                                    f"{key} is {_short(value)}, not a positive whole number",
                                    f"set {key} to the model's value or download config.json "
                                    "again", "corrupt_checkpoint"))
    saved_with = data.get("transformers_version")
    if isinstance(saved_with, str) and tf_version and (
        _version_tuple(saved_with)[:2] > _version_tuple(tf_version)[:2]
    ):
        findings.append(Finding("warning", "saved_with_newer", "config.json",
                                f"saved with transformers {saved_with}, newer than the installed "
                                f"{tf_version}", "if the load fails, upgrade transformers",
                                "version_mismatch"))
    quant = data.get("quantization_config")
    if isinstance(quant, dict):
        method = str(quant.get("quant_method", "?"))
        module = QUANTIZER_MODULES.get(method)
        if module and not _installed(module):
            findings.append(Finding("error", "quantizer_missing", "config.json",
                                    f"quantized with {method}, and {module} is not installed",
                                    f"pip install {module.split('.')[0]}", "missing_dependency"))
        else:
            findings.append(Finding("info", "quantized", "config.json",
                                    f"quantized checkpoint ({method}): stored tensor sizes are "
                                    "used "
                                    "as they are", ""))
    return data


# Sizes every architecture reads as positive integers (when the config has them).
_SIZE_KEYS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
              "intermediate_size", "vocab_size", "head_dim", "max_position_embeddings")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_tokenizer(model_dir: Path, names: set[str], findings: list[Finding],
                     trust_remote_code: bool) -> None:
    tiktoken_files = sorted(n for n in names if n.endswith(".tiktoken"))
    present = [n for n in TOKENIZER_FILES if n in names] + tiktoken_files
    if not present:
        findings.append(Finding("warning", "missing_tokenizer", "",
                                "no tokenizer files (tokenizer.json, tokenizer.model, vocab.json, "
                                "...): the model loads, the prompt is off",
                                "download the tokenizer files with the model to generate",
                                "missing_file"))
        return
    tok_config: dict[str, Any] = {}
    if "tokenizer_config.json" in names:
        data, problem = _json_file(model_dir / "tokenizer_config.json", "tokenizer_config.json")
        if problem is not None:
            findings.append(problem)
        elif isinstance(data, dict):
            tok_config = data
    if isinstance(tok_config.get("auto_map"), dict) and not trust_remote_code:
        findings.append(Finding("error", "tokenizer_remote_code", "tokenizer_config.json",
                                "the tokenizer is code shipped with the model (auto_map)",
                                "allow remote code for this model explicitly (the "
                                "trust_remote_code checkbox, --trust-remote-code)",
                                "remote_code"))
    if "tokenizer.json" in names:
        return  # the fast tokenizer reads tokenizer.json alone
    sp_file = next((n for n in ("tokenizer.model", "spiece.model", "sentencepiece.bpe.model")
                    if n in names), None)
    if sp_file is not None:
        if not _installed("sentencepiece"):
            findings.append(Finding("error", "needs_sentencepiece", sp_file,
                                    "a sentencepiece tokenizer without tokenizer.json needs the "
                                    "sentencepiece package", "pip install sentencepiece",
                                    "missing_dependency"))
        if not _installed("google.protobuf"):
            findings.append(Finding("warning", "needs_protobuf", sp_file,
                                    "converting this sentencepiece tokenizer to a fast one needs "
                                    "protobuf", "pip install protobuf", "missing_dependency"))
    tok_class = str(tok_config.get("tokenizer_class", "")).lower()
    needs_tiktoken = bool(tiktoken_files) or "tiktoken" in tok_class
    if needs_tiktoken and not _installed("tiktoken"):
        findings.append(Finding("error", "needs_tiktoken", tiktoken_files[0] if tiktoken_files else
                                "tokenizer_config.json", "a tiktoken tokenizer needs the tiktoken "
                                "package", "pip install tiktoken", "missing_dependency"))


def _check_index(model_dir: Path, index_name: str, findings: list[Finding]) -> dict[str, list[str]]:
    """Parse a sharded index; shard -> the keys it should hold. Duplicate keys are findings."""
    path = model_dir / index_name
    try:
        raw = path.read_bytes()
    except OSError as exc:
        findings.append(Finding("error", "unreadable", index_name,
                                f"cannot be read: {exc.strerror}",
                                "check permissions", "permission_or_disk"))
        return {}
    placeholder = _placeholder_finding(index_name, path, len(raw))
    if placeholder is not None:
        findings.append(placeholder)
        return {}
    duplicates: list[str] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                duplicates.append(key)
            seen[key] = value
        return seen

    try:
        data = safejson.loads(raw.decode("utf-8"), object_pairs_hook=pairs_hook)
    except safejson.JsonProblem as exc:
        findings.append(Finding("error", "json_invalid", index_name, exc.reason,
                                "download the index again", "corrupt_checkpoint"))
        return {}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = (f" at line {exc.lineno}, column {exc.colno}: {exc.msg}"
                 if isinstance(exc, json.JSONDecodeError) else "")
        findings.append(Finding("error", "json_invalid", index_name, f"invalid JSON{where}",
                                "download the index again", "corrupt_checkpoint"))
        return {}
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        findings.append(Finding("error", "index_invalid", index_name, "has no weight_map",
                                "download the index again", "corrupt_checkpoint"))
        return {}
    for key in sorted(set(duplicates)):
        findings.append(Finding("error", "index_duplicate_key", index_name,
                                f"lists key {key!r} twice", "download the index again",
                                "corrupt_checkpoint"))
    shards: dict[str, list[str]] = {}
    refused: dict[str, str] = {}
    for key, shard in weight_map.items():
        problem = shard_name_problem(model_dir, shard)
        if problem is not None:
            refused.setdefault(str(shard)[:200], problem)
            continue
        shards.setdefault(str(shard), []).append(str(key))
    for shard, problem in sorted(refused.items()):
        findings.append(Finding("error", "index_outside", index_name,
                                f"weight_map entry {shard!r} {problem}; it is not read",
                                "the index must name shard files inside the model directory: "
                                "download the index again", "corrupt_checkpoint"))
    return shards


def shard_name_problem(model_dir: Path, shard: object) -> str | None:
    """Why an index entry is not a file inside the model directory, or None. A plain relative
    name with no '..'; once resolved (symlinks followed) inside the model directory, or for an
    HF cache snapshot inside its repository folder (snapshot files link to ../../blobs)."""
    if not isinstance(shard, str) or not shard:
        return "is not a file name"
    if "\0" in shard or shard.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", shard):
        return "is an absolute path"
    parts = re.split(r"[/\\]", shard)
    if ".." in parts:
        return "leaves the model directory ('..')"
    if any(part in ("", ".") for part in parts):
        return "is not a plain file name"
    try:
        real = (model_dir / shard).resolve()
        base = model_dir.resolve()
    except (OSError, RuntimeError):
        return "cannot be resolved (a symlink loop?)"
    roots = [base]
    if base.parent.name == "snapshots":
        roots.append(base.parent.parent)  # models--org--name: its blobs/ hold the files
    if not any(r in real.parents for r in roots):
        return "points outside the model directory (a symlink)"
    if real.is_dir():
        return "is a directory, not a shard file"
    return None


def check_model_dir(
    model_dir: str | Path,
    *,
    trust_remote_code: bool = False,
    allow_pickle: bool = False,
) -> PreflightReport:
    """Run every metadata check on a local model directory (a plain directory or an HF cache
    snapshot). Never reads tensor data."""
    started = time.perf_counter()
    root = Path(model_dir)
    findings: list[Finding] = []
    tf_version = transformers_version()
    if not root.is_dir():
        findings.append(Finding("error", "not_a_directory", str(root),
                                "is not a directory", "pass a model directory or a hub id",
                                "missing_file"))
        return PreflightReport(str(root), tuple(findings), None, "none", (), (), 0, tf_version,
                               False, time.perf_counter() - started)
    try:
        names = {p.name for p in root.iterdir()}
    except OSError as exc:
        perm = isinstance(exc, PermissionError)
        findings.append(Finding("error", "unreadable", str(root),
                                "cannot be listed: permission denied (this user needs read and "
                                "execute on it)" if perm else
                                f"cannot be listed: {exc.strerror or exc}",
                                f"chmod u+rx {root}, or run as its owner" if perm else
                                "check the disk and the path", "permission_or_disk"))
        return PreflightReport(str(root), tuple(findings), None, "none", (), (), 0, tf_version,
                               False, time.perf_counter() - started)
    known = known_model_types() if tf_version else None
    config = _check_config(root, findings, trust_remote_code, known, tf_version)
    _check_tokenizer(root, names, findings, trust_remote_code)

    st_files = sorted(n for n in names if n.endswith(".safetensors"))
    pickle_files = sorted(n for n in names if n.endswith(PICKLE_SUFFIXES) and n not in NOT_WEIGHTS)
    tensors: list[TensorSpec] = []
    weight_files: list[str] = []
    checkpoint_bytes = 0
    weight_format = "none"

    if "model.safetensors.index.json" in names or st_files:
        weight_format = "safetensors"
        index_name = "model.safetensors.index.json"
        expected: dict[str, list[str]] = {}
        if index_name in names:
            expected = _check_index(root, index_name, findings)
        if expected:
            wanted = sorted(expected)
        elif "model.safetensors" in names:
            # without an index transformers loads model.safetensors and nothing else
            wanted = ["model.safetensors"]
            others = [n for n in st_files if n != "model.safetensors"]
            if others:
                findings.append(Finding("info", "safetensors_ignored", others[0],
                                        f"{len(others)} other safetensors file(s) beside "
                                        "model.safetensors are not loaded", ""))
        else:
            wanted = st_files
        if not expected and "model.safetensors" not in names and st_files:
            findings.append(Finding("warning", "nonstandard_weights", st_files[0],
                                    "no model.safetensors and no index: transformers may not "
                                    "find these weights", "rename a single file to "
                                    "model.safetensors, or add model.safetensors.index.json",
                                    "missing_file"))
        headers: dict[str, SafetensorsHeader] = {}
        for shard in wanted:
            path = root / shard
            outside = shard_name_problem(root, shard) if not expected else None
            if outside is not None:
                findings.append(Finding("error", "index_outside", shard, f"{outside}; not read",
                                        "replace it with the real file", "corrupt_checkpoint"))
                continue
            if not path.exists():
                findings.append(Finding("error", "missing_shard", shard,
                                        f"is listed in {index_name} but missing",
                                        "download the missing shard", "missing_file"))
                continue
            header, problems = read_safetensors_header(path, shard)
            findings.extend(problems)
            weight_files.append(shard)
            if header is not None:
                headers[shard] = header
                checkpoint_bytes += header.file_size_bytes
        if expected:
            for shard in st_files:
                if shard not in expected:
                    findings.append(Finding("warning", "unreferenced_shard", shard,
                                            f"is not referenced by {index_name}: it is not loaded",
                                            "delete it, or check that the index is from the same "
                                            "revision as the shards", "corrupt_checkpoint"))
            for shard, keys in expected.items():
                header = headers.get(shard)
                if header is None:
                    continue
                present = {t.name for t in header.tensors}
                missing = [k for k in keys if k not in present]
                if missing:
                    shown = ", ".join(repr(k) for k in missing[:3])
                    more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
                    findings.append(Finding("error", "index_key_missing", shard,
                                            f"{index_name} says it holds {shown}{more}, its header "
                                            "does not", "the shard and the index disagree: "
                                            "download "
                                            "both again", "corrupt_checkpoint"))
                extra = sorted(present - set(keys))
                if extra:
                    findings.append(Finding("warning", "index_key_unlisted", shard,
                                            f"holds {len(extra)} tensors {index_name} does not "
                                            "list "
                                            f"(e.g. {extra[0]!r})", "download the index again",
                                            "corrupt_checkpoint"))
        seen: dict[str, str] = {}
        for shard in sorted(headers):
            for t in headers[shard].tensors:
                if t.name in seen:
                    findings.append(Finding("error", "duplicate_tensor", shard,
                                            f"tensor {t.name!r} is also in {seen[t.name]}",
                                            "the shards overlap: download them again",
                                            "corrupt_checkpoint"))
                    continue
                seen[t.name] = shard
                tensors.append(t)
        if pickle_files:
            findings.append(Finding("info", "pickle_ignored", pickle_files[0],
                                    f"{len(pickle_files)} pickle file(s) beside the safetensors "
                                    "weights are not loaded", ""))
    elif pickle_files or "pytorch_model.bin.index.json" in names:
        weight_format = "pickle"
        for name in pickle_files:
            path = root / name
            size = path.stat().st_size if path.exists() else -1
            if size < 0:
                findings.append(Finding("error", "missing_shard", name, "is missing (broken link)",
                                        "download it again", "missing_file"))
                continue
            placeholder = _placeholder_finding(name, path, size)
            if placeholder is not None:
                findings.append(placeholder)
                continue
            weight_files.append(name)
            checkpoint_bytes += size
            magic = _head(path, 4)
            if magic[:2] != b"PK" and magic[:1] != b"\x80":
                findings.append(Finding("error", "pickle_invalid", name,
                                        "is neither a torch zip checkpoint nor a pickle",
                                        "download it again", "corrupt_checkpoint"))
        if "pytorch_model.bin.index.json" in names:
            expected = _check_index(root, "pytorch_model.bin.index.json", findings)
            for shard in sorted(expected):
                if not (root / shard).exists():
                    findings.append(Finding("error", "missing_shard", shard,
                                            "is listed in pytorch_model.bin.index.json but missing",
                                            "download the missing shard", "missing_file"))
        if weight_files:
            if allow_pickle:
                findings.append(Finding("warning", "pickle_weights", weight_files[0],
                                        "weights are pickles; full unpickling is allowed for this "
                                        "model: a pickle can run code", "prefer a safetensors "
                                        "copy"))
            else:
                findings.append(Finding("warning", "pickle_weights", weight_files[0],
                                        "weights are pickles (.bin/.pt): they load with "
                                        "weights_only=True; one that needs full unpickling needs "
                                        "an "
                                        "explicit opt-in (a pickle can run code)",
                                        "prefer a safetensors copy of the model", ""))
            findings.append(Finding("info", "no_headers", weight_files[0],
                                    "pickle weights have no header to read: tensor sizes and the "
                                    "memory estimate are unknown until loaded", ""))
    if weight_format == "none":
        findings.append(Finding("error", "missing_weights", "",
                                "no weights: no *.safetensors, model.safetensors.index.json or "
                                "pytorch_model*.bin", "download the weight files into the "
                                "directory",
                                "missing_file"))
    return PreflightReport(
        model_dir=str(root), findings=tuple(findings), config=config,
        weight_format=weight_format, weight_files=tuple(weight_files), tensors=tuple(tensors),
        checkpoint_bytes=checkpoint_bytes, transformers_version=tf_version,
        hub_cache=_hub_cache_blobs(root) is not None, elapsed_s=time.perf_counter() - started,
    )


# ----------------------------------------------------------------------------------------------
# --verify-hashes (reads every byte)

ProgressCallback = Callable[[int, int, str], None]  # (bytes done, bytes total, current file)
_CHUNK = 8 * 1024 * 1024


def _git_blob_sha1(path: Path, size: int) -> str:
    digest = hashlib.sha1(f"blob {size}\0".encode(), usedforsecurity=False)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_hashes(
    model_dir: str | Path, progress: ProgressCallback | None = None
) -> tuple[HashCheck | None, list[Finding]]:
    """sha256 of every LFS blob of an HF cache snapshot against its blob name (and git's sha1
    for the small non-LFS files). Returns (None, [finding]) for a directory outside the cache."""
    root = Path(model_dir)
    if _hub_cache_blobs(root) is None:
        return None, [Finding("warning", "hashes_unavailable", "",
                              "not a snapshot in the Hugging Face cache: no hashes to check "
                              "against",
                              "hash checks need a model downloaded into the HF cache", "")]
    jobs: dict[Path, tuple[str, str, int]] = {}  # blob -> (file, kind, size); each blob once
    unverifiable: list[str] = []
    for entry in sorted(_walk(root)):
        rel = entry.relative_to(root).as_posix()
        target = entry.resolve()
        if not target.exists():
            continue  # a broken link: the checks above already name it
        name = target.name
        kind = "sha256" if _HEX64.match(name) else "sha1" if _HEX40.match(name) else ""
        if not kind or target.parent.name != "blobs":
            unverifiable.append(rel)
            continue
        jobs.setdefault(target, (rel, kind, target.stat().st_size))
    total = sum(size for _, _, size in jobs.values())
    done = 0
    mismatched: list[str] = []
    findings: list[Finding] = []
    for blob, (rel, kind, size) in jobs.items():
        if progress is not None:
            progress(done, total, rel)
        if kind == "sha256":
            digest = hashlib.sha256()
            with blob.open("rb") as fh:
                while chunk := fh.read(_CHUNK):
                    digest.update(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total, rel)
            actual = digest.hexdigest()
        else:
            actual = _git_blob_sha1(blob, size)
            done += size
        if actual != blob.name:
            mismatched.append(rel)
            findings.append(Finding("error", "hash_mismatch", rel,
                                    f"content hash {actual[:12]}... differs from its blob name "
                                    f"{blob.name[:12]}...: the file is corrupt",
                                    f"delete {blob} and download the model again",
                                    "corrupt_checkpoint"))
    if progress is not None:
        progress(done, total, "")
    if unverifiable:
        findings.append(Finding("info", "hashes_partial", unverifiable[0],
                                f"{len(unverifiable)} file(s) are not cache blobs: not "
                                "verified", ""))
    return HashCheck(len(jobs), done, tuple(mismatched), tuple(unverifiable)), findings


def _walk(root: Path) -> Iterable[Path]:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            yield Path(dirpath) / name


def with_hashes(report: PreflightReport, hashes: HashCheck | None,
                findings: Iterable[Finding]) -> PreflightReport:
    """The report with the hash check's result and findings added."""
    return replace(report, hashes=hashes, findings=report.findings + tuple(findings))


__all__ = [
    "MODEL_TYPE_SINCE", "Finding", "HashCheck", "PreflightReport", "SafetensorsHeader",
    "check_model_dir", "known_model_types", "read_safetensors_header", "transformers_version",
    "verify_hashes", "with_hashes",
]
