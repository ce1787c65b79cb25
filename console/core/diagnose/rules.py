"""Root causes and the library messages that reveal them.

`CAUSES` holds what the console says for each id of ../shared/rootcauses.md (title, what it
means, generic fixes). `SIGNATURES` is the table of messages that torch, transformers,
safetensors, tokenizers, huggingface_hub, accelerate, bitsandbytes, flash-attn, NCCL, the CUDA
driver and the serving engines actually print (read from their sources, several versions), each
mapped to a cause with a confidence. A signature is a lower-case `needle` (a literal that must
occur in the line, used by the one-pass prefilter) plus an optional regex that confirms it, and
optionally a small `refine` function that looks at the surroundings (the exception chain, the
frames) and adjusts the confidence or drops the hit.

Kinds: "error" a failure message; "hint" a warning that supports a cause but is not a failure by
itself; "symptom" a message that is often the consequence of another failure (a collective
timing out because another rank crashed, a device-side assert after an index error): it is
demoted when a better-founded cause is present.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Protocol


@dataclass(frozen=True, slots=True)
class CauseInfo:
    id: str
    title: str
    explanation: str
    fixes: tuple[str, ...]


def _c(id_: str, title: str, explanation: str, *fixes: str) -> tuple[str, CauseInfo]:
    return id_, CauseInfo(id_, title, explanation, fixes)


CAUSES: dict[str, CauseInfo] = dict([
    _c("cuda_oom", "GPU out of memory",
       "The GPU ran out of memory: the weights, the KV cache, activations or another process "
       "left no room for this allocation.",
       "load the model quantized (8-bit / 4-bit) or pick a smaller model",
       "lower the batch size, the context length or max_new_tokens",
       "set PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True when reserved-but-unallocated memory "
       "is large",
       "check nvidia-smi for other processes holding memory on this GPU"),
    _c("host_oom", "Host RAM exhausted",
       "The machine ran out of RAM: the kernel's OOM killer sent SIGKILL (no traceback, "
       "'Killed', exit 137 / -9), or an allocation failed outright.",
       "load with low_cpu_mem_usage / a device_map so weights stream to the GPU instead of RAM",
       "use safetensors checkpoints (memory-mapped) rather than .bin (unpickled into RAM)",
       "close other memory-hungry processes, add swap, or use a machine with more RAM",
       "load fewer shards at once / fewer DataLoader workers"),
    _c("cuda_unavailable", "No usable GPU for this process",
       "This process cannot use a GPU: torch was built without CUDA, no driver is loaded, "
       "CUDA_VISIBLE_DEVICES hides the GPU, or the code asks for a device index that does not "
       "exist.",
       "check `python -c 'import torch; print(torch.version.cuda, torch.cuda.is_available())'` "
       "and nvidia-smi",
       "install a CUDA build of torch (pip install torch --index-url "
       "https://download.pytorch.org/whl/cu1XX)",
       "use cuda:0 (indices restart at 0 under CUDA_VISIBLE_DEVICES), or unset "
       "CUDA_VISIBLE_DEVICES",
       "on a CPU-only machine load with map_location='cpu' / device_map='cpu'"),
    _c("cuda_driver_mismatch", "NVIDIA driver or GPU architecture does not match torch",
       "The NVIDIA driver is older than the CUDA runtime torch was built with, or torch (or an "
       "extension) has no kernels for this GPU's architecture.",
       "update the NVIDIA driver (nvidia-smi shows the CUDA version it supports)",
       "or install a torch build for an older CUDA that this driver supports",
       "for 'no kernel image': install a torch build that lists this GPU's sm_XX "
       "(torch.cuda.get_arch_list())"),
    _c("missing_file", "A file the load needs is missing",
       "A file the loader needs is not where it looks: wrong path, missing config / shard / "
       "index / tokenizer file, or a hub id that is not in the local cache while offline.",
       "check the path: it must be the directory that holds config.json and the weights",
       "download the missing files (huggingface-cli download <repo> --local-dir DIR) and check "
       "that every shard named in model.safetensors.index.json is present",
       "offline: make sure the model is in the HF cache, or point at its local directory"),
    _c("corrupt_checkpoint", "A checkpoint file is damaged",
       "A weight or config file is there but broken: a truncated or partial download, a git-lfs "
       "pointer (a 130-byte text file) in place of the weights, an HTML page saved as a "
       "checkpoint, or a damaged zip/pickle.",
       "download the file again and compare its size/sha256 with the hub's",
       "if the files were cloned with git, run `git lfs install && git lfs pull`",
       "re-save the checkpoint if it was written by your own code"),
    _c("size_mismatch", "Tensor shapes differ from what the model expects",
       "A tensor in the checkpoint has a different shape from the model built from the config: "
       "the config does not belong to this checkpoint, the vocabulary was resized, or a head has "
       "a different size.",
       "use the config.json that came with the checkpoint",
       "after adding tokens, call model.resize_token_embeddings(len(tokenizer)) before "
       "saving/loading",
       "for a new head on purpose: pass ignore_mismatched_sizes=True"),
    _c("missing_or_unexpected_keys", "Checkpoint keys do not match the model",
       "The parameter names in the checkpoint differ from the model's (a prefix such as "
       "'module.' or 'model.', renamed modules): weights are left uninitialised or unused.",
       "strip or add the prefix when loading (e.g. {k.removeprefix('module.'): v})",
       "load with the model class (and library version) the checkpoint was saved with",
       "check the load report: MISSING weights are random, the model's output will be garbage"),
    _c("version_mismatch", "A library is too old or too new",
       "An installed library does not match what the model or code was written for: an unknown "
       "model_type, a removed or renamed API, a changed signature, or an old tokenizers that "
       "cannot read a newer tokenizer.json.",
       "upgrade the library named in the error (pip install -U transformers tokenizers)",
       "or pin the versions the model card / requirements.txt asks for",
       "remote code written for an older transformers may need an older release"),
    _c("missing_dependency", "A required Python package is not installed",
       "A package that the model, its tokenizer or the loader needs is not installed.",
       "pip install the package named in the error (e.g. accelerate, sentencepiece, tiktoken, "
       "protobuf, einops)"),
    _c("remote_code", "The model ships its own code",
       "The checkpoint needs code from its repository (auto_map in config.json): "
       "trust_remote_code is required, or that code fails to import or run.",
       "read the repository's .py files, then pass trust_remote_code=True (and a pinned revision) "
       "to every from_pretrained call (config, tokenizer, model)",
       "prefer a transformers version that supports the architecture natively"),
    _c("dtype_unsupported", "The dtype does not suit the device or operation",
       "The chosen dtype does not work here: bfloat16 on a GPU older than Ampere, float16 "
       "operations on the CPU, or mixed float16/float32 operands.",
       "on CPU use dtype=torch.float32 (or bfloat16 on recent CPUs)",
       "on pre-Ampere GPUs (V100, T4, 20xx) use float16 instead of bfloat16",
       "make inputs and weights the same dtype (model.to(dtype), or torch.autocast)"),
    _c("device_mismatch", "Tensors on different devices",
       "An operation got tensors on different devices (cuda:0 and cpu), or weights that were "
       "never materialised (still on the meta device).",
       "move the inputs to the model's device: inputs.to(model.device)",
       "with device_map / offloading, do not call .to() on the model; let accelerate place it",
       "meta tensors: load real weights (from_pretrained) or use to_empty() before filling them"),
    _c("quantization_error", "Quantized-weight setup failed",
       "Quantization (bitsandbytes, GPTQ, AWQ, ...) failed to set up or run, or a quantized "
       "checkpoint was opened by a loader that does not know its format.",
       "install the quantization backend the checkpoint needs, built for this CUDA",
       "keep all quantized modules on the GPU, or disable the kernel that requires it "
       "(e.g. exllama) in the quantization config",
       "load the quantized checkpoint with its quantization_config, not as a plain model"),
    _c("tokenizer_error", "The tokenizer cannot be built or used",
       "The tokenizer could not be created from its files (wrong class for the files, a failed "
       "slow-to-fast conversion) or was used in a way it does not support (no pad token, no chat "
       "template).",
       "load the tokenizer with the class the files are for (AutoTokenizer reads "
       "tokenizer_config.json)",
       "set tokenizer.pad_token = tokenizer.eos_token before padding, or pass a chat_template"),
    _c("permission_or_disk", "Permission denied or disk full",
       "A file could not be written or read: permission denied, a read-only file system, a full "
       "disk or /dev/shm, or a cache directory that is not writable.",
       "check free space (df -h, including /dev/shm) and the owner of the cache directory",
       "point HF_HOME / HF_HUB_CACHE / TMPDIR at a writable disk with room",
       "in containers, enlarge /dev/shm (--shm-size / --ipc=host)"),
    _c("port_in_use", "The network port is already in use",
       "A server could not bind its address: another process (often an earlier run) is "
       "listening on that port.",
       "find it: `ss -ltnp | grep :PORT` (or lsof -i :PORT) and stop it",
       "or start on another port (--port, server_port, MASTER_PORT)"),
    _c("nccl_distributed", "Multi-GPU / multi-process communication failed",
       "The processes of a distributed job could not talk to each other: NCCL errors, a process "
       "group that never initialised, or a collective that timed out (often because another "
       "rank crashed first).",
       "look for the first rank that failed: its error is the root cause",
       "run with NCCL_DEBUG=INFO (and TORCH_DISTRIBUTED_DEBUG=DETAIL) to see the failing link",
       "check MASTER_ADDR/MASTER_PORT, firewall and NCCL_SOCKET_IFNAME / NCCL_IB_DISABLE"),
    _c("flash_attention", "FlashAttention is missing or unusable here",
       "flash-attn is not installed, was built for another torch/CUDA (undefined symbol), or "
       "does not support this GPU (it needs Ampere or newer).",
       "use attn_implementation='sdpa' (no extra package needed)",
       "reinstall flash-attn built against this torch: pip install flash-attn --no-build-isolation",
       "FlashAttention 2 needs an Ampere+ GPU (A100, 30xx/40xx, H100) and fp16/bf16 weights"),
    _c("numeric_overflow", "Numbers overflowed to inf/NaN",
       "Activations overflowed to inf/NaN, typically because the model runs in float16 whose "
       "range (max 65504) is too small for it; sampling then sees an invalid probability tensor.",
       "load in bfloat16 (or float32 on CPU) instead of float16",
       "check the weights for NaN (a bad conversion or a corrupted file gives the same symptom)"),
    _c("context_too_long", "The input is longer than the model allows",
       "The sequence is longer than the model's position table or configured maximum; on a GPU "
       "this often surfaces later as a device-side assert or a cuBLAS failure.",
       "truncate the input (tokenizer(..., truncation=True, max_length=...))",
       "keep prompt + max_new_tokens within max_position_embeddings / max_model_len",
       "rerun with CUDA_LAUNCH_BLOCKING=1 to see the real failing operation"),
])


class Surroundings(Protocol):
    """What a refine function may look at around a matching line."""

    @property
    def line_text(self) -> str: ...
    @property
    def block_text(self) -> str: ...  # every line of the error block, lower-cased
    @property
    def frames_text(self) -> str: ...  # file and function of every frame, lower-cased
    @property
    def surface_type(self) -> str: ...  # the exception type that surfaced ("" if none)


Refine = Callable[[re.Match[str] | None, Surroundings], float | None]


@dataclass(frozen=True, slots=True, eq=False)
class Signature:
    cause: str
    needle: str  # lower-case literal that must be in the line
    confidence: float
    note: str  # what this particular message means
    pattern: re.Pattern[str] | None = None  # confirms the hit on the cleaned line
    kind: str = "error"  # "error" | "hint" | "symptom"
    refine: Refine | None = None
    fixes: tuple[str, ...] = ()
    tag: str = ""  # "kill": the process was killed (context can overrule it); "over:<cause>":
    # this message names the root of that cause's errors (engine._outrank_fallout)


# ONNX Runtime's quantized operators (QLinearConv, ConvInteger, MatMulNBits, DequantizeLinear,
# DynamicQuantizeMatMul ...): with no kernel for one, the gap is the quantization's.
_ORT_QUANTIZED_OPS = (r"QLinear\w*|\w*Integer|\w*NBits|DequantizeLinear|QuantizeLinear"
                      r"|DynamicQuantize\w*|QGemm|QAttention")
# "PermissionError: [Errno 13] Permission denied: ''": an empty path run as a program (the
# needle of its own signature, lower-cased as the needles are).
_EMPTY_PATH_DENIED = "permission denied: ''"


def S(cause: str, needle: str, confidence: float, note: str, pattern: str | None = None, *,
      kind: str = "error", refine: Refine | None = None, fixes: tuple[str, ...] = (),
      flags: int = 0, tag: str = "") -> Signature:
    return Signature(cause, needle.lower(), confidence, note,
                     re.compile(pattern, flags) if pattern else None, kind, refine, fixes, tag)


# -- refine helpers ------------------------------------------------------------------------------

_MODEL_TYPES: frozenset[str] = frozenset(
    json.loads(resources.files("console.core.diagnose").joinpath("model_types.json").read_text())["model_types"]
)
# Tokenizer class names transformers knows (tokenization_auto's mapping, "Fast" removed; the
# union over the releases the file lists, 4.57 and 5.x: transformers 5 dropped classes that
# tokenizer_config.json files still name): tests/fixtures/logs/generate.py --model-types adds
# the installed release's names, with model_types.json's and model_classes.json's.
_TOKENIZER_CLASSES: dict[str, str] = {
    name.lower(): name
    for name in json.loads(
        resources.files("console.core.diagnose").joinpath("tokenizer_classes.json").read_text()
    )["tokenizer_classes"]
}
# Model class names transformers has (its auto mappings and public names ending in Model or
# For...): generate.py --model-types regenerates it. A class outside it is another library's or
# the model's own code (ChatGLMModel, QWenLMHeadModel, InternLM2ForCausalLM).
_MODEL_CLASSES: frozenset[str] = frozenset(
    json.loads(resources.files("console.core.diagnose").joinpath("model_classes.json")
               .read_text())["model_classes"]
)
_NCCL_WORDS = re.compile(r"error|fail|timeout|timed out|abort|unhandled|invalid|exception|not "
                         r"built|closed|crash", re.I)
_GPU_WORDS = re.compile(r"\b(?:cuda|gpu|vram|hip|device|cublas|cudnn|nvidia)\b", re.I)
_CUDA_LIB = re.compile(
    r"lib(?:cudart|cublas\w*|cudnn\w*|nvrtc|cufft|cusparse|curand|cusolver|nvJitLink|nccl)\b",
    re.I)
_ERRORISH = re.compile(r"error|exception|fail|cannot|can't|could not|couldn't|unable|not found|no "
                       r"module|requires?|invalid|unsupported", re.I)
_TYPICAL_MAX_LENGTHS = {512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 77, 514, 128, 256,
                        448}  # 448: Whisper's decoder max_target_positions


# transformers' AutoTokenizer: "Tokenizer class {name} does not exist or is not currently
# imported." Four signatures read it, each for one state of the class named (the refines below).
_TOKENIZER_CLASS_MISSING = (r"(?:Tokenizer class )?(?P<cls>\w*)\s*does not exist or is not "
                            r"currently imported")


def _tokenizer_class_state(m: re.Match[str] | None) -> str:
    """'misspelt' when the class named in tokenizer_config.json is a known class spelt with other
    capitals (LLaMATokenizer for LlamaTokenizer), 'known' when transformers has it under that
    name (so this install is too old or lacks its backend), else 'unknown'."""
    name = (m.group("cls") if m else "").removesuffix("Fast")
    known = _TOKENIZER_CLASSES.get(name.lower())
    if known is None:
        return "unknown"
    return "known" if known == name else "misspelt"


# Slow tokenizers of transformers 4.0 already that need sentencepiece: a class this old that
# "does not exist" is one whose backend is not installed, far more than a too-old library.
_SENTENCEPIECE_TOKENIZERS = frozenset({
    "T5Tokenizer", "MT5Tokenizer", "AlbertTokenizer", "XLNetTokenizer", "CamembertTokenizer",
    "XLMRobertaTokenizer", "MBartTokenizer", "PegasusTokenizer", "ReformerTokenizer",
    "BertGenerationTokenizer", "MarianTokenizer", "BarthezTokenizer",
})


def _sentencepiece_class(m: re.Match[str] | None) -> bool:
    return (m.group("cls") if m else "").removesuffix("Fast") in _SENTENCEPIECE_TOKENIZERS


def _tokenizer_class_version(m: re.Match[str] | None, s: Surroundings) -> float | None:
    state = _tokenizer_class_state(m)
    if state == "misspelt":
        return None
    if _sentencepiece_class(m):
        return 0.6
    # A class that no transformers release has (tokenizer_classes.json: 4.57 and 5.x's lists) is
    # the repository's own code far more often than a release still to come.
    return 0.7 if state == "known" else 0.6


def _tokenizer_class_custom(m: re.Match[str] | None, s: Surroundings) -> float | None:
    return 1.0 if (m and m.group("cls").endswith(("Tokenizer", "TokenizerFast"))
                   and _tokenizer_class_state(m) == "unknown") else None


# transformers 4's slow tokenizers that never had a fast class (tokenization_auto mapped them to
# (slow, None)): "PhobertTokenizerFast does not exist" is AutoTokenizer asking for a fast
# class this tokenizer has in no release; use_fast=False loads it.
_SLOW_ONLY_TOKENIZERS = frozenset({
    "PhobertTokenizer", "BertweetTokenizer", "BertJapaneseTokenizer", "BartphoTokenizer",
    "BioGptTokenizer", "ByT5Tokenizer", "CanineTokenizer", "CTRLTokenizer", "EsmTokenizer",
    "FlaubertTokenizer", "FSMTTokenizer", "MarianTokenizer", "M2M100Tokenizer", "LukeTokenizer",
    "MLukeTokenizer", "PLBartTokenizer", "ProphetNetTokenizer", "XLMProphetNetTokenizer",
    "Speech2TextTokenizer", "TapasTokenizer", "TransfoXLTokenizer", "Wav2Vec2CTCTokenizer",
    "Wav2Vec2PhonemeCTCTokenizer", "XLMTokenizer", "SiglipTokenizer", "CpmAntTokenizer",
})


def _slow_only_fast_class(m: re.Match[str] | None, s: Surroundings) -> float | None:
    name = m.group("cls") if m else ""
    return 1.0 if name.endswith("Fast") and name[:-4] in _SLOW_ONLY_TOKENIZERS else None


# Special-token ids every transformers tokenizer has: only another model's own ids (Qwen1's
# im_end_id, ChatGLM's eop_token_id) are missing from one of transformers' classes.
_STANDARD_TOKEN_IDS = frozenset({
    "bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id", "sep_token_id", "cls_token_id",
    "mask_token_id", "pad_token_type_id",
})


def _tokenizer_foreign_id(m: re.Match[str] | None, s: Surroundings) -> float | None:
    """transformers' own tokenizer class asked for a special-token id it never had: the code was
    written for another model's tokenizer."""
    attr = m.group("attr") if m else ""
    # (round 58) A mapping ending in "_to_id" (lang_code_to_id, _convert_token_to_id) is API,
    # not a special token: a release that removed or renamed it (version_mismatch).
    return 1.0 if (m and _tokenizer_class_state(m) == "known"
                   and attr not in _STANDARD_TOKEN_IDS and not attr.endswith("to_id")) else None


def _tokenizer_class_backend(m: re.Match[str] | None, s: Surroundings) -> float | None:
    return 1.0 if _sentencepiece_class(m) else None


def _tokenizer_class_name(m: re.Match[str] | None, s: Surroundings) -> float | None:
    return 0.85 if _tokenizer_class_state(m) == "misspelt" else 1.0


# Fixes shared by several signatures of one family.
_SHM_FIXES = ("enlarge /dev/shm (docker --shm-size=8g or --ipc=host), or use fewer DataLoader "
              "workers",)
_ONNX_QUANT_FIXES = ("quantize for the provider that runs it (QDQ format, or the operators the "
                     "CPU provider implements), or run the float model",)


def _tokenizer_recursion(m: re.Match[str] | None, s: Surroundings) -> float | None:
    """A RecursionError in tokenizer code is the tokenizer's; in other code, someone else's;
    reported alone (no frames), a lead."""
    frames = s.frames_text
    if "tokeniz" in frames or "unk_token" in s.block_text:
        return 0.85
    return None if frames else 1.0


def _model_class_custom(m: re.Match[str] | None, s: Surroundings) -> float | None:
    """A model class that is no transformers class: the model's own code or another library's.
    Auto classes are transformers' (some were renamed in 5.0: a version gap)."""
    cls = m.group("cls") if m else ""
    if not cls or cls in _MODEL_CLASSES or cls.startswith(("Auto", "TF", "Flax")):
        return None
    return 1.0


_UNSUPPORTED = re.compile(r"(?i)\b(?:not|only|unsupported|cannot)\b")


def _says_unsupported(_m: re.Match[str] | None, s: Surroundings) -> float | None:
    """The line says something is not (or only something else is) supported."""
    return None if _UNSUPPORTED.search(s.line_text) is None else 1.0


def _errorish(_m: re.Match[str] | None, s: Surroundings) -> float | None:
    return None if _ERRORISH.search(s.line_text) is None else 1.0


# A build step that ran a command and names it ("executor failed running [... pip install
# ...]: exit code: 137", "returned a non-zero code"): the command failed, it asks for nothing.
_RAN_COMMAND = re.compile(r"(?i)executor failed running|did not complete successfully|returned a "
                          r"non-zero (?:exit )?code")


def _asks_to_install(m: re.Match[str] | None, s: Surroundings) -> float | None:
    if _RAN_COMMAND.search(s.line_text) is not None:
        return None
    return _errorish(m, s)


# transformers' "the config file at 'X' is not a valid JSON file" with X no .json file.
_CONFIG_PATH_NOT_JSON = re.compile(r"(?i)config file at '[^']*(?<!\.json)' is not a valid json")


def _library_name_error(m: re.Match[str] | None, s: Surroundings) -> float | None:
    """A NameError whose frames are an installed library's; flash-attn's and quantization
    kernels' names have rules of their own."""
    name = (m.group("name") if m else "").lower()
    if "flash" in name or name.endswith(("_ext", "_cuda")) or "gptq" in name:
        return None
    frames = s.frames_text
    return 1.0 if "site-packages" in frames or "dist-packages" in frames else None


_REFUSES = re.compile(r"(?i)not supported|does not have|has no attribute")


def _quant_layer_failed(m: re.Match[str] | None, s: Surroundings) -> float | None:
    """The line that names a quantized layer is an error, or says the layer lacks something."""
    line = s.line_text
    return 1.0 if _ERRORISH.search(line) or _REFUSES.search(line) else None


def _packed_quantized(m: re.Match[str] | None, s: Surroundings) -> float | None:
    """The model's [k, 1] tensor holds the checkpoint's a*b 4-bit values packed: k = a*b/2 in
    uint8 storage, a*b/4 in a 16-bit quant_storage."""
    if m is None:
        return None
    values, k = int(m.group("a")) * int(m.group("b")), int(m.group("k"))
    return 1.0 if k > 1 and values % 4 == 0 and k in (values // 2, values // 4) else None


# A word of quantization near a failure: the model was loaded quantized.
_QUANT_WORDS = re.compile(r"(?i)\b(?:[48]-?bits?|int[48]|quant(?:i[sz]\w*)?|gptq|awq|bnb|"
                          r"bitsandbytes|nf4|load_in_[48]bit)\b")


def _quantized_nearby(m: re.Match[str] | None, s: Surroundings) -> float | None:
    return 1.0 if _QUANT_WORDS.search(s.block_text) else None


def _model_type_key(m: re.Match[str] | None, s: Surroundings) -> float | None:
    """KeyError: 'llama' raised by the auto-config mapping: transformers predates the model."""
    key = m.group("key") if m else ""
    in_auto = "configuration_auto" in s.frames_text or "config_mapping" in s.block_text
    if in_auto:
        return 0.9
    if key in _MODEL_TYPES and (not s.frames_text or "transformers" in s.frames_text):
        return 0.75
    return None


def _weight_key(m: re.Match[str] | None, s: Surroundings) -> float | None:
    return 0.55 if s.surface_type.endswith("KeyError") else None


def _no_module(m: re.Match[str] | None, s: Surroundings) -> float | None:
    """ "No module named 'x'": a missing package unless x is a submodule of an installed library."""
    name = m.group("mod") if m else ""
    root = name.split(".", 1)[0]
    if root.startswith("transformers_modules"):
        return None  # (a message typed in another language may run on: "...modules怎么")
    if flash_attn_module(name) or "flash_attn" in s.line_text.lower():
        return None  # flash-attn or one of its extensions: flash-attn's own build
    if name in _STDLIB_REMOVED:
        return None  # a module Python itself dropped (version_mismatch, round 58's rule)
    if name == "pkg_resources":
        return 0.5  # setuptools 81+ dropped it (round 74's rule); or no setuptools at all
    if name.startswith("mmcv._ext"):
        return 1.0  # mmcv's compiled ops: the lite build is installed, mmcv-full is missing
    if "is not a package" in s.line_text and _in_torch_hub(s):
        return None  # the hub repository's package shadowed by a local module (remote_code)
    if _NAMESPACE_DISTRIBUTION.match(name):
        return 1.0  # a namespace's plugin, a distribution of its own (round 66)
    if "." in name and root in _KNOWN_LIBS:
        return None  # a removed/renamed submodule: version_mismatch
    if _unknown_package_submodule(name):
        return 0.4  # (round 52) more often a release without it (below), still possibly a plugin
    return 1.0


def _in_torch_hub(s: Surroundings) -> bool:
    """The failing code was loaded by torch.hub (its cache: ~/.cache/torch/hub/<repo>)."""
    return "torch/hub/" in s.block_text or "torch\\hub\\" in s.block_text


# flash-attn's compiled extensions (csrc/), importable only from a complete flash-attn build.
_FLASH_EXTENSIONS = ("dropout_layer_norm", "fused_dense_lib", "rotary_emb", "xentropy_cuda_lib",
                     "fused_softmax_lib", "ft_attention")


# NLTK 3.8.2+'s "Resource punkt_tab not found" (two readings: the release, the data).
_PUNKT_TAB_MISSING = r"(?i)resource\W+punkt_tab\W+not found"


def flash_attn_module(name: str) -> bool:
    """`name` (a dotted module) is flash-attn or one of its compiled extensions: importing it
    fails with flash-attn's build, not with a package to pip install."""
    root = name.split(".", 1)[0]
    return root.startswith("flash_attn") or root in _FLASH_EXTENSIONS


# "No module named X" with X quoted in any way (or, where the pattern allows it, not at all).
_NO_MODULE = r"(?i)No module named [`'\u2018\u2019\"]"


# Modules removed from Python's standard library: imp, asynchat, asyncore and smtpd in 3.12
# (PEP 594's dead batteries and the imp module), the rest in 3.13. No package on PyPI restores
# them (distutils is left out: setuptools provides it again, so that one is an install).
_STDLIB_REMOVED = frozenset({
    "imp", "asynchat", "asyncore", "smtpd", "aifc", "audioop", "cgi", "cgitb", "chunk", "crypt",
    "imghdr", "mailcap", "msilib", "nis", "nntplib", "ossaudiodev", "pipes", "sndhdr", "spwd",
    "sunau", "telnetlib", "uu", "xdrlib", "lib2to3",
})


def _removed_submodule(m: re.Match[str] | None, s: Surroundings) -> float | None:
    name = m.group("mod") if m else ""
    root = name.split(".", 1)[0]
    if _NAMESPACE_DISTRIBUTION.match(name):
        return None  # not a submodule the release dropped: a plugin never installed
    if "." in name and root in _KNOWN_LIBS:
        return 1.0
    if _unknown_package_submodule(name) and "is not a package" not in s.line_text:
        return 0.7
    return None


# Namespace packages whose every plugin is a distribution of its own on PyPI: "No module named
# 'openinference.instrumentation.smolagents'" is openinference-instrumentation-smolagents not
# installed (smolagents[telemetry]), not a release of openinference that lacks it; likewise
# opentelemetry's instrumentations and exporters. (llama_index's integrations are left out: the
# same module name was inside llama-index before 0.10 and a plugin after it, so either an
# upgrade or an install fixes it; session 8's message test reads one as a version gap.)
_NAMESPACE_DISTRIBUTION = re.compile(
    r"(?:openinference\.instrumentation|opentelemetry\.(?:instrumentation|exporter))\.\w")


# Top-level names that are a project's own folders more often than a package on PyPI: "No
# module named 'utils.datasets'" is the user's tree, not a release.
_LOCAL_ROOTS = frozenset({"utils", "util", "models", "model", "src", "data", "common", "lib",
                          "core", "modules", "tools", "config", "configs", "app", "scripts",
                          "helpers", "networks", "nets", "layers", "ops"})


def _unknown_package_submodule(name: str) -> bool:
    """ "No module named 'pkg.sub'" for a package not in _KNOWN_LIBS: Python imported pkg (else
    it names pkg alone), so the release installed lacks sub, as with the known libraries (round
    52: 22 of 26 such tune logs were a version gap). Not a project's own folder, nor a compiled
    extension (a leading underscore: slora._kernels, a build that did not happen)."""
    root, _, rest = name.partition(".")
    if not rest or root in _KNOWN_LIBS or root.lower() in _LOCAL_ROOTS:
        return False
    if root.startswith(("transformers_modules", "diffusers_modules")):
        return False
    return not any(part.startswith("_") for part in rest.split("."))


def _names_a_package(m: re.Match[str] | None, s: Surroundings) -> float | None:
    names = re.split(r"[\s,]+", m.group("mod")) if m else []
    return 1.0 if any(n.lower().replace("-", "_") in _KNOWN_LIBS for n in names) else None


# Words that name hardware or the interpreter, not a package ("GPU is required to run").
_NOT_PACKAGES = frozenset({"gpu", "cuda", "python", "nvidia", "cudnn", "it", "this", "that", "a",
                           "an", "the", "one", "which", "what", "input", "value", "argument"})


def _names_no_hardware(m: re.Match[str] | None, s: Surroundings) -> float | None:
    name = (m.group("mod") if m else "").lower()
    return None if name in _NOT_PACKAGES or name.endswith("_id") else 1.0


# What a notice says after "X is not installed" when the program goes on without it.
_FALLS_BACK = re.compile(r"(?i)\b(?:using|use[sd]?|fall(?:s|ing)?[ -]?back|will|skipp\w*|disabl\w*|"
                         r"optional|ignor\w*|instead|without)\b")


def _not_installed_failure(m: re.Match[str] | None, s: Surroundings) -> float | None:
    """A package named as not installed, where the program stops for it: not a notice that it
    goes on without it ("flash_attn is not installed. Using PyTorch native attention", "CUDA
    kernels for auto_gptq are not installed, this will result in very slow inference")."""
    if m is None or _names_no_hardware(m, s) is None or _FALLS_BACK.search(s.line_text, m.end()):
        return None
    return 1.0


def _past_clip_window(m: re.Match[str] | None, s: Surroundings) -> float | None:
    """More tokens than CLIP's 77 positions, added to its position embedding (round 74)."""
    return 1.0 if m is not None and int(m.group("n")) > 77 else None


_KNOWN_LIBS = frozenset({
    "torch", "transformers", "tokenizers", "huggingface_hub", "accelerate", "safetensors", "peft",
    "diffusers", "vllm", "numpy", "scipy", "sklearn", "torchvision", "torchaudio", "datasets",
    "trl", "deepspeed", "bitsandbytes", "optimum", "xformers", "triton", "pydantic", "google",
    "jax", "tensorflow", "keras", "pandas", "PIL", "cv2", "sentence_transformers", "langchain",
    # Session 7: a missing dotted submodule of one of these ("No module named 'timm.layers'":
    # the package itself imported) means the installed release predates or dropped it; a name
    # they do not export ("cannot import name") is a version break more than a typo.
    "timm", "sentencepiece", "einops", "open_clip", "mmdet", "mmengine", "mmseg",
    "detectron2", "lightning", "pytorch_lightning", "torchmetrics", "torch_geometric", "torchtext",
    "sglang", "onnx", "onnxruntime", "auto_gptq", "awq", "gptqmodel", "gradio", "fastapi",
    "evaluate", "tiktoken", "llama_cpp", "mlx", "mlx_lm", "openai", "langchain_core",
    "langchain_community", "modelscope", "spacy", "nltk", "matplotlib", "skimage", "kornia",
    "albumentations", "ultralytics", "fairseq", "jinja2", "tensorboard", "wandb",
    # Session 8: the LLM client SDKs and frameworks that reorganised their modules.
    "mistralai", "anthropic", "cohere", "llama_index", "chromadb", "streamlit", "litellm",
    "haystack", "qdrant_client", "pinecone", "ollama", "dspy",
    # Session 12: the other deep-learning frameworks, reorganised between releases alike.
    "mindspore", "mindnlp", "paddle", "paddlenlp", "paddleocr", "megatron",
    # Session 16: OpenMMLab's toolboxes, reorganised in their 2.x releases (mmcv.runner moved to
    # mmengine); mmcv._ext stays a missing mmcv-full (_no_module).
    "mmcv", "mmpose", "mmcls", "mmpretrain", "mmocr", "mmaction", "mmdet3d", "mmrotate",
    "mmtrack", "mmedit", "mmagic", "mmyolo", "mmselfsup",
    # and pip's own modules, moved under pip._internal in pip 10 ("No module named 'pip.req'")
    "pip", "setuptools",
    # Session 22: Ray (ray.rllib.agents, ray.tune.suggest, ray.air moved between releases) and
    # the quantization libraries whose names a caller imports from a newer release.
    "ray", "exllama", "exllamav2", "hqq", "optimum_quanto", "quanto", "torchao", "llmcompressor",
    "compressed_tensors",
})
_CANNOT_IMPORT_NAME = re.compile(r"(?i)\bcannot import name\b")


def _cannot_import(m: re.Match[str] | None, s: Surroundings) -> float | None:
    module = (m.group("mod") if m else "") or ""
    line = s.line_text
    if "partially initialized module" in line or "circular import" in line:
        return None
    if module.startswith("flash_attn"):
        return None  # its build (flash_attention); flash_attn_unpadded_*: round 58's rule
    root = module.split(".", 1)[0]
    return 0.85 if root in _KNOWN_LIBS else 0.65


def _object_attr(m: re.Match[str] | None, s: Surroundings) -> float | None:
    obj = m.group("obj") if m else ""
    attr = m.group("attr") if m else ""
    if obj == "NoneType":
        return 0.15  # None is no release's API: an object that failed to load (missing_file)
    if obj in ("str", "int", "list", "dict", "tuple", "float", "bool"):
        return 0.3
    if attr in ("generate", "seen_tokens", "get_max_length", "get_usable_length",
                "_supports_cache_class",
                "sp_tokenizer", "_extract_past_from_model_output", "max_batch_size"):
        return 0.75
    return 0.5


def _model_code_attr(m: re.Match[str] | None, s: Surroundings) -> float | None:
    """A cache or model-class attribute missing: the model's own code when a frame says so or
    when no frame says anything (a pasted line); the user's own code calling it is a version
    gap (the rule above names that)."""
    frames = s.frames_text
    if not frames or "transformers_modules" in frames or "huggingface/modules" in frames:
        return 1.0
    return 0.3


def _module_attr(m: re.Match[str] | None, s: Surroundings) -> float | None:
    module = m.group("mod") if m else ""
    return 0.75 if module.split(".", 1)[0] in _KNOWN_LIBS else 0.5


_FALLBACK_WORDS = ("falling back", "fall back", "using pytorch", "using sdpa", "using eager",
                   "will use",
                   "instead", "using the", "defaulting to")


# A quantization library's compiled extension named on a line (a path or a module).
_QUANT_KERNEL = re.compile(r"(?i)\b(?:awq_ext|awq_inference_engine|exllama\w*|exl2\w*|eetq\w*|"
                           r"autogptq\w*|gptq\w*|marlin\w*|quant_cuda\w*)[\w.-]*\.(?:so|pyd)\b"
                           r"|\b(?:awq_ext|exllama_kernels|exllamav2_ext|autogptq_cuda\w*|"
                           r"quant_cuda)\b")


def _flash_mention(m: re.Match[str] | None, s: Surroundings) -> float | None:
    line = s.line_text.lower()
    if any(w in line for w in _FALLBACK_WORDS):
        return 0.25  # "flash_attn is not installed, using SDPA": a fallback, not a failure
    if "undefined symbol" in line or "undefined symbol" in s.block_text:
        return 0.95
    if ("no module named" in line or "not installed" in line
        or "doesn't seem to be installed" in line):
        return 0.9
    if _ERRORISH.search(line):
        return 0.8
    return None


def _quant_keys(m: re.Match[str] | None, s: Surroundings) -> float | None:
    text = s.line_text.lower() + " " + s.block_text
    if any(w in text for w in ("missing", "unexpected", "not used", "newly initialized",
                               "not initialized", "not in model", "not in the model")):
        return 0.93
    return None


def _tensor_sizes(m: re.Match[str] | None, s: Surroundings) -> float | None:
    """ "size of tensor a (1025) must match the size of tensor b (1024)": a position table limit?"""
    if m is None:
        return None
    a, b = int(m.group("a")), int(m.group("b"))
    longer, shorter = max(a, b), min(a, b)
    if shorter in _TYPICAL_MAX_LENGTHS and longer > shorter:
        return 0.55
    if "token indices sequence length is longer" in s.block_text:
        return 0.7
    return None


def _index_out_of_range(m: re.Match[str] | None, s: Surroundings) -> float | None:
    """An embedding lookup past its table: the position table when the code says positions."""
    text = s.block_text  # includes the source lines of the frames
    if "token indices sequence length is longer" in text:
        return 0.9
    if any(w in text for w in ("position", "wpe", "pos_emb", "positional")):
        return 0.8
    if "embedding" in text:
        return 0.6
    return 0.45


# An app's advice printed before anything failed ("If you encounter CUDA out of memory, try to
# set --tile with a smaller number."): a tip names a failure that may come, not one that came.
_OOM_ADVICE = re.compile(r"\W*(?:tips?:\s*)?if you (?:encounter|get|see|run into|hit|face|"
                         r"experience)\b", re.I)


def _out_of_memory(m: re.Match[str] | None, s: Surroundings) -> float | None:
    line = s.line_text
    if _OOM_ADVICE.match(line):
        return None
    if re.search(r"\b(?:cpu|ram|host|killed process|oom-kill|low on memory)\b", line, re.I):
        return None
    return 0.75 if _GPU_WORDS.search(line) else 0.45


def _oom_error(m: re.Match[str] | None, s: Surroundings) -> float | None:
    """A GPU out-of-memory message, unless it is an app's advice or Ray's host-memory kill."""
    line = s.line_text
    return None if _OOM_ADVICE.match(line) or "low on memory" in line.lower() else 0.95


def _cannot_allocate(m: re.Match[str] | None, s: Surroundings) -> float | None:
    text = s.line_text.lower()
    if "nccl" in text or "ibv_" in text or "nccl" in s.block_text:
        return None
    return 0.7


def _nccl(m: re.Match[str] | None, s: Surroundings) -> float | None:
    return 0.75 if _NCCL_WORDS.search(s.line_text) else None


_UNOPENED = re.compile(r"([\w.+-]+\.so[\w.]*)\s*:\s*cannot open shared object", re.I)


def _shared_object(cause: str) -> Refine:
    def refine(m: re.Match[str] | None, s: Surroundings) -> float | None:
        # The library that could not be opened is the one the loader names right before
        # "cannot open" ("Could not load library libcudnn_cnn_infer.so.8. Error: libcuda.so:
        # cannot open ...": the driver's libcuda, which cuDNN needs, not cuDNN).
        unopened = _UNOPENED.search(s.line_text)
        line = unopened.group(1) if unopened else s.line_text
        text = line.lower() + " " + s.block_text
        lib_is_cuda = _CUDA_LIB.search(line) is not None
        if "flash_attn" in text or "bitsandbytes" in text or "libnccl-net" in line:
            return None  # their own rules; the NCCL net plugin is optional
        if cause == "cuda_unavailable":
            return 0.75 if "libcuda.so" in line or "libnvidia-ml" in line else None
        if cause == "cuda_driver_mismatch":
            return 0.35 if lib_is_cuda else None
        if cause == "cuda_runtime_missing":
            return 0.6 if lib_is_cuda else None
        return None if lib_is_cuda or "libcuda.so" in line else 0.6
    return refine


def _only_position_ids(keys: str, s: Surroundings, other: str | None = "missing key(s)") -> bool:
    """The keys listed are all embeddings' position_ids, and the block lists no `other` kind
    (unexpected keys read with no missing ones, missing keys with no unexpected ones; None: a
    list cut from its head, whose kind is not known)."""
    names = re.findall(r'"([^"]+)"', keys)
    return (bool(names) and all(n.endswith("embeddings.position_ids") for n in names)
            and (other is None or other not in s.block_text))


def _tokenizer_setter(m: re.Match[str] | None, s: Surroundings) -> float | None:
    """The caller's own code assigns a tokenizer's special token (the raising line shows it).
    Raised inside transformers instead (ChatGLM's tokenizer under transformers 4.34+ setting
    eos_token in its __init__), the same message is a version gap: no reading here."""
    if m is None or _TOKEN_ASSIGNMENT.search(s.block_text) is None:
        return None
    return 0.7


def _tokenizer_file_text(m: re.Match[str] | None, s: Surroundings) -> float | None:
    """The text that would not decode is a tokenizer's file (tokenizer.json, a vocabulary,
    merges, a chat template): read with the platform's default encoding, not UTF-8."""
    if m is None or _TOKENIZER_FILE.search(s.block_text) is None:
        return None
    return 0.75


_TOKENIZER_FILE = re.compile(r"tokeni[sz]|vocab|merges|chat_template|sentencepiece|\.tiktoken")
_TOKEN_ASSIGNMENT = re.compile(r"tokeni[sz]er\.\w*token\w*\s*=[^=]")
_FOUND_NOWHERE = (
    r"(?i)(?:unable to|could not|couldn't|cannot|can't) find (?:an? |the )?"
    r"(?:(?:\w+ ){0,2}?(?:file|model|voice|checkpoint|weights?|config)s?\b\W{0,3}(?:at |in )?"
    r"['\"]?[\w.~:-]*[/\\][^\s'\"]+|[\w-]+)"
    r"\.(?:json|bin|safetensors|pt|pth|ckpt|onnx|gguf|model|txt|yaml|yml|ini|npz|h5|engine|plan)\b"
)


# A C/C++ header a build includes (a package's development files, not the model's).
_MISSING_HEADER = re.compile(r"\.h(?:pp)?: no such file or directory", re.IGNORECASE)
# A path variable (vocab_file, model_path, ...) handed to open()/load...() as None: the file
# was not found where the loader looked for it.
_NONE_PATH_CALL = re.compile(
    r"\b(?:open|load\w*|read\w*)\(\s*(?:self\.)?\w*(?:file|path)\w*\s*[,)]", re.IGNORECASE)


def _beyond_past_batch(shape: str, limit: str) -> bool:
    """A dimension after the first (batch) one exceeds the profile's maximum."""
    got = [int(d) for d in shape.split(",") if d.strip()]
    most = [int(d) for d in limit.split(",") if d.strip()]
    return len(got) == len(most) and any(g > m for g, m in zip(got[1:], most[1:], strict=True))


def _tensor_device(type_name: str) -> str:
    lower = type_name.lower()
    return next((d for d in ("cuda", "mps", "xpu", "hip") if d in lower), "cpu")


def _input_weight_type(want: str) -> Refine:
    def refine(m: re.Match[str] | None, s: Surroundings) -> float | None:
        if m is None:
            return None
        # torch.cuda.HalfTensor, CUDABFloat16Type, MPSFloatType, torch.FloatTensor (CPU)
        a, b = _tensor_device(m.group("a")), _tensor_device(m.group("b"))
        devices_differ = a != b
        if want == "device":
            return 0.9 if devices_differ else None
        return 0.85 if not devices_differ else None
    return refine


def _float_types(m: re.Match[str] | None, s: Surroundings) -> float | None:
    text = m.group(0) if m else ""
    return 0.85 if re.search(r"Half|BFloat16|Float|Double|float16|bfloat16", text) else 0.45


def _trust_remote(m: re.Match[str] | None, s: Surroundings) -> float | None:
    line = s.line_text.lower()
    if any(w in line for w in ("set the option", "pass the argument", "must be executed",
                               "requires you to execute", "to allow custom code",
                               "remove this error",
                               "trust_remote_code=true`")):
        return 0.95
    return None


def _weights_only(m: re.Match[str] | None, s: Surroundings) -> float | None:
    text = s.block_text
    if "invalid load key" in text or "unsupported operand" in text or "truncated" in text:
        return None
    return 0.6


def _unsupported_operand(m: re.Match[str] | None, s: Surroundings) -> float | None:
    return 0.8 if "weights only" in s.block_text or "weights_only" in s.block_text else 0.5


def _json_decode(m: re.Match[str] | None, s: Surroundings) -> float | None:
    frames = s.frames_text
    if any(w in frames for w in ("configuration_utils", "tokenization", "from_pretrained", "config",
                                 "hub")):
        return 0.7
    return 0.4


def _remote_frames_attr(m: re.Match[str] | None, s: Surroundings) -> float | None:
    return 0.45 if "transformers_modules" in s.frames_text else None


# -- session 7, part 1 helpers: version, dependency, file and port surfaces -------------------

# pickle's find_class (CPython Modules/_pickle.c, "Can't get attribute %R on %R"): the pickle
# names a global its module does not have.
_PICKLED_GLOBAL = (r"Can't get attribute '(?P<name>[\w.<>]+)' on <module '(?P<mod>[\w.]+)'")


def _pickled_global(m: re.Match[str] | None, s: Surroundings) -> float | None:
    """A global missing from a well-known library's module: the file was written by a release
    that has it (torch's `_rebuild_tensor_v2`, `_rebuild_parameter`...: a newer one). A class
    of `__main__` or of the user's own modules is their code, not a version."""
    module = m.group("mod") if m else ""
    return 1.0 if module.split(".", 1)[0] in _KNOWN_LIBS else None


def _added_token_below(m: re.Match[str] | None, s: Surroundings) -> float | None:
    """An added token saved with an id inside the vocabulary is the 4.34+ save format read by an
    older transformers; one past the expected id is a gap in the files themselves."""
    return 1.0 if m and int(m.group("has")) < int(m.group("want")) else None


# transformers' auto factory (models/auto/auto_factory.py) names the config class it cannot map;
# one defined by the repository's code lives under transformers_modules.
_REMOTE_CONFIG_CLASS = (r"Unrecognized configuration class <class '(?:[\w.]*\.)?"
                        r"transformers_modules\.")


def _not_subprocess(m: re.Match[str] | None, s: Surroundings) -> float | None:
    """Windows' "cannot find the file specified" from starting a program is a missing program
    (a dependency), not a missing model file."""
    frames = s.frames_text
    if "subprocess" in frames or "_execute_child" in frames or "createprocess" in s.block_text:
        return None
    return 1.0


# -- session 7, part 2: helpers -------------------------------------------------------------

_NAN_FIX = ("load in bfloat16 (or float32) instead of float16",)
# `glob(...)[0]`, `sorted(glob.glob(...))[-1]` on one source line
_EMPTY_GLOB_ITEM = re.compile(r"glob\(.*\)[ \t]*\[-?\d+\]")


def _failing_source_line(block_text: str, message: str) -> str:
    """The source line that raised `message` (lower-case): IPython's "---> N" line, else the
    nearest line above the message that is not a frame's "File ..." line."""
    lines = block_text.split("\n")
    end = max((i for i, line in enumerate(lines) if message in line), default=-1)
    if end <= 0:
        return ""
    marked = [line for line in lines[:end] if line.lstrip().startswith("--->")]
    if marked:
        return marked[-1]
    for line in reversed(lines[:end]):
        stripped = line.strip()
        if stripped and not stripped.startswith(("file ", "traceback ")):
            return stripped
    return ""


def _empty_glob_item(m: re.Match[str] | None, s: Surroundings) -> float | None:
    """An item taken from a glob's result on the very line that raised the IndexError (a glob
    elsewhere in the traceback, which found its files, says nothing)."""
    line = _failing_source_line(s.block_text, "list index out of range")
    return 0.75 if _EMPTY_GLOB_ITEM.search(line) else None
_OUTPUT_WORDS = re.compile(
    r"(?i)\b(?:outputs?|generat\w*|respon\w*|answers?|repl\w*|returns?|results?|only|just"
    r"|all|string of|series of|full of|bunch of)\b")


def _output_words(m: re.Match[str] | None, s: Surroundings) -> float | None:
    """ "outputs only exclamation marks": an output of token id 0 (NaN logits)."""
    return 1.0 if _OUTPUT_WORDS.search(s.line_text) else None


def _not_nsfw(m: re.Match[str] | None, s: Surroundings) -> float | None:
    text = s.line_text.lower() + " " + s.block_text
    return None if "nsfw" in text or "safety checker" in text else 1.0


def _ggml_context(m: re.Match[str] | None, s: Surroundings) -> float | None:
    text = s.line_text.lower() + " " + s.block_text + " " + s.frames_text
    return 1.0 if any(w in text for w in ("gguf", "ggml", "llama.cpp", "llama_model")) else None


_KEYS_WARNING_LINES = ("some weights", "- this is", "you should probably train", "[warning",
                       "warning:")


def _keys_warning_alone(m: re.Match[str] | None, s: Surroundings) -> float | None:
    """transformers' "Some weights ... were not used when initializing" with its two bullets
    (it always prints "This IS expected if ..."): benign beside a run that worked, but a report
    that is only this warning asks about the unused keys."""
    lines = [ln.strip() for ln in s.block_text.splitlines() if ln.strip()]
    return 1.0 if all(ln.startswith(_KEYS_WARNING_LINES) for ln in lines) else None


def _expanded_sizes(m: re.Match[str] | None, s: Surroundings) -> float | None:
    """ "expanded size of the tensor (1025) must match the existing size (1024)": a causal-mask
    or position buffer of the model's maximum length, asked for one more."""
    if m is None:
        return None
    a, b = int(m.group("a")), int(m.group("b"))
    return 0.6 if b in _TYPICAL_MAX_LENGTHS and a > b else None


def _invalid_values(m: re.Match[str] | None, s: Surroundings) -> float | None:
    """torch.distributions' "... but found invalid values": NaN reached the parameters."""
    return 0.8 if re.search(r"\bnan\b", s.block_text) else 1.0


def _index_bounds(m: re.Match[str] | None, s: Surroundings) -> float | None:
    """ "index 512 is out of bounds for dimension 0 with size 512": a position past a table of
    the model's maximum length."""
    if m is None:
        return None
    index, size = int(m.group("i")), int(m.group("n"))
    return 0.6 if size in _TYPICAL_MAX_LENGTHS and index >= size else None


def _gpu_oom_report(m: re.Match[str] | None, s: Surroundings) -> float | None:
    """ "OOM on A100": the GPU's memory, unless the line is about the kernel's OOM killer."""
    line = s.line_text.lower()
    if re.search(r"oom[-_ ]?kill|\b(?:ram|cpu|host|system memory)\b", line):
        return None
    return 1.0


def _mpi_kill(m: re.Match[str] | None, s: Surroundings) -> float | None:
    """MPICH's "BAD TERMINATION ... EXIT CODE: 9": a rank killed by signal 9."""
    return 1.0 if "bad termination" in s.block_text else 0.45



_DIFFUSION_WORDS = ("diffusion", "sdxl", "sd 1.5", "sd1.5", "sd2", "vae", "unet", "diffusers",
                    "txt2img", "img2img", "comfy", "invoke", "flux", "prompt", "generat")


def _diffusion_black(m: re.Match[str] | None, s: Surroundings) -> float | None:
    """A black image from a diffusion model (its words in the line or nearby), not the safety
    checker's."""
    if _not_nsfw(m, s) is None:
        return None
    text = s.line_text.lower() + " " + s.block_text
    return 1.0 if any(w in text for w in _DIFFUSION_WORDS) else None

_CHECKPOINT_LOOKUP = r"(?:checkpoint|ckpt|state_dict|weights)\w*\s*\[\s*['\"]"


def _checkpoint_key(m: re.Match[str] | None, s: Surroundings) -> float | None:
    """A KeyError whose key the failing line looked up in a loaded checkpoint's dict
    (`checkpoint["encoder"]`): the checkpoint is laid out under other keys."""
    if m is None:
        return None
    key = re.escape(m.group(1).lower())
    return 1.0 if re.search(_CHECKPOINT_LOOKUP + key + r"['\"]\s*\]", s.block_text) else None

# -- the table -------------------------------------------------------------------------------

_DRIVER_FIX = ("update the NVIDIA driver, or install a torch built for the CUDA version the driver "
               "supports",)
_INTEL_OOM_FIX = ("free GPU memory or use a smaller model, batch or context (low-bit weights on "
                  "Intel GPUs), and check xpu-smi for other processes",)
_LFS_FIX = ("the file is a git-lfs pointer: run `git lfs install && git lfs pull` in the model "
            "directory, or download with huggingface-cli",)

SIGNATURES: tuple[Signature, ...] = (
    # ---- cuda_oom
    S("cuda_oom", "cuda out of memory", 0.95,
      "torch's CUDA allocator could not get the memory it asked for", refine=_oom_error),
    S("cuda_oom", "outofmemoryerror", 0.95, "an out-of-memory error was raised on the GPU",
      refine=_oom_error),
    S("cuda_oom", "cuda error: out of memory", 0.9,
      "the CUDA runtime itself ran out of device memory"),
    S("cuda_oom", "cuda failure 'out of memory'", 0.9,
      "a CUDA call inside NCCL ran out of device memory"),
    S("cuda_oom", "hip out of memory", 0.95, "the ROCm (HIP) allocator ran out of GPU memory"),
    S("cuda_oom", "mps backend out of memory", 0.9, "the Apple MPS backend ran out of GPU memory"),
    S("cuda_oom", "xpu out of memory", 0.9, "the Intel XPU allocator ran out of device memory"),
    S("cuda_oom", "out of memory", 0.6, "an allocation ran out of memory", refine=_out_of_memory),
    S("cuda_oom", "cublas_status_alloc_failed", 0.85,
      "cuBLAS could not allocate its workspace: the GPU is full"),
    S("cuda_oom", "cublas_status_not_initialized", 0.6,
      "cuBLAS failed to create its handle, most often because no GPU memory was left"),
    S("cuda_oom", "cudnn_status_alloc_failed", 0.85, "cuDNN could not allocate GPU memory"),
    S("cuda_oom", "cudnn_status_not_initialized", 0.45,
      "cuDNN failed to initialise, often for lack of GPU memory"),
    S("cuda_oom", "cudaerrormemoryallocation", 0.9, "cudaMalloc failed: the GPU is out of memory"),
    S("cuda_oom", "cuda_error_out_of_memory", 0.9, "the CUDA driver reported out of memory"),
    S("cuda_oom", "cudamalloc failed", 0.85, "cudaMalloc failed: the GPU is out of memory"),
    # SGLang's model runner (model_runner.py): the KV cache pool left after the weights is
    # too small for even one request.
    S("cuda_oom", "not enough memory. please try to increase --mem-fraction-static", 0.85,
      "SGLang's KV cache pool does not fit in the memory left after the weights",
      fixes=("raise --mem-fraction-static (or lower --context-length / --max-running-requests), "
             "or use a GPU with more memory",)),
    S("cuda_oom", "no available memory for the cache blocks", 0.9,
      "the serving engine has no GPU memory left for its KV cache",
      fixes=("raise gpu_memory_utilization or lower max_model_len / max_num_seqs",)),
    S("cuda_oom", "maximum number of tokens that can be stored in kv cache", 0.85,
      "the KV cache that fits in GPU memory is smaller than the model's max sequence length",
      fixes=("lower max_model_len (--max-model-len) or raise gpu_memory_utilization",)),
    S("cuda_oom", "larger than the available kv cache memory", 0.85,
      "the KV cache needed for the max sequence length does not fit in the GPU memory left",
      fixes=("lower max_model_len (--max-model-len) or raise gpu_memory_utilization",)),
    S("cuda_oom", "oom when allocating tensor", 0.85, "TensorFlow ran out of GPU memory",
      r"(?i)oom when allocating tensor(?!.*device:cpu:)"),
    # The same message for a tensor placed on the CPU: host memory ran out.
    S("host_oom", "oom when allocating tensor", 0.85, "TensorFlow ran out of host (CPU) memory",
      r"(?i)oom when allocating tensor.*device:cpu:"),
    S("cuda_oom", "offload the whole model to the disk", 0.55,
      "the model fits neither in GPU memory nor in the CPU RAM that device_map allowed"),
    S("cuda_oom", "had weights offloaded to the disk", 0.7,
      "the model did not fit in GPU memory (and CPU RAM): part of it was offloaded to disk"),
    S("cuda_oom", "is less than desired gpu memory utilization", 0.85,
      "the GPU has less free memory than the serving engine was told to take (other processes hold "
      "it?)"),
    S("cuda_oom", "available kv cache memory", 0.7,
      "nothing is left for the KV cache after loading the weights",
      r"(?i)Available KV cache memory: -"),
    S("cuda_oom", "resource_exhausted", 0.75,
      "the XLA/TensorFlow allocator ran out of device memory",
      r"RESOURCE_EXHAUSTED.*(?:[Oo]ut of memory|OOM)"),
    S("cuda_oom", "some modules are dispatched on the cpu or the disk", 0.55,
      "the quantized model does not fit in GPU memory, so modules spilled to the CPU"),
    S("cuda_oom", "gpu memory", 0.55, "GPU memory ran short",
      r"(?i)(?:not enough|insufficient|ran out of|exceed\w*)\s+(?:the\s+)?(?:available\s+)?GPU "
      r"memory"),
    # ---- host_oom
    S("host_oom", "killed", 0.7,
      "the process was killed by SIGKILL, which is what the kernel's OOM killer sends",
      r"(?:^|[\s\]|%>])Killed(?::\s*9)?\s*$|\bline \d+:\s+\d+\s+Killed\b|^\d+\s+Killed\s"
      # written against Chinese text ("加载Killed了"), where no word boundary falls
      r"|(?<=[\u4e00-\u9fff])Killed|Killed(?=[\u4e00-\u9fff])",
      tag="kill"),
    S("host_oom", "killed process", 0.95, "the kernel's OOM killer killed the process",
      r"(?i)(?:Out of memory|oom).{0,40}Kill(?:ed)? process"),
    S("host_oom", "oom-kill", 0.9, "the kernel's OOM killer fired"),
    S("host_oom", "oom_kill", 0.85, "the kernel's OOM killer fired"),
    S("host_oom", "invoked oom-killer", 0.95, "the kernel's OOM killer fired"),
    S("host_oom", "oomkilled", 0.95, "the container was OOM-killed (memory limit reached)"),
    S("host_oom", "exit", 0.65, "exit status 137 = 128 + 9: the process was killed by SIGKILL",
      r"(?i)exit(?:ed)?\s*(?:status|code|with)?\s*(?:code\s*)?[:=]?\s*137\b", tag="kill"),
    S("host_oom", "exit", 0.65, "exit code -9: the process was killed by SIGKILL",
      r"(?i)(?:exit\s*code|exitcode|exit status|exited with(?: code)?)\s*:?\s*-9\b", tag="kill"),
    S("host_oom", "returncode", 0.65, "return code -9: the process was killed by SIGKILL",
      r"(?i)returncode\s*[:=]?\s*-9\b", tag="kill"),
    S("host_oom", "return code", 0.65, "return code -9: the process was killed by SIGKILL",
      r"(?i)return code\s*[:=]?\s*-9\b", tag="kill"),
    S("host_oom", "sigkill", 0.6, "the process received SIGKILL",
      r"(?i)Signals?\.SIGKILL|\bSIGKILL\b", tag="kill"),
    S("host_oom", "signal 9", 0.5, "the process received signal 9 (SIGKILL)", r"(?i)\bsignal 9\b",
      tag="kill"),
    S("host_oom", "killed by signal: killed", 0.75,
      "a worker process was killed by SIGKILL (the OOM killer)", tag="kill"),
    S("host_oom", "exited unexpectedly", 0.55,
      "a worker process died without a traceback (often killed for RAM)",
      r"(?i)worker.*exited unexpectedly", tag="kill"),
    S("host_oom", "terminated abruptly", 0.5,
      "a worker process died without a traceback (often killed for RAM)", tag="kill"),
    S("host_oom", "memoryerror", 0.85, "Python could not allocate memory",
      r"(?<![A-Za-z_])MemoryError\b"),
    # the same exception named in a report's own words ("we get an error called memoryerror")
    S("host_oom", "memoryerror", 0.7, "Python could not allocate memory (the report names "
      "MemoryError)", r"(?<![A-Za-z_.])(?:memoryerror|Memoryerror|MEMORYERROR)\b"),
    S("host_oom", "unable to allocate", 0.85, "numpy could not allocate an array in RAM",
      r"Unable to allocate [\d.]+\s*\w+ for an array"),
    S("host_oom", "std::bad_alloc", 0.85, "a C++ allocation failed: out of host memory"),
    S("host_oom", "defaultcpuallocator", 0.9,
      "torch's CPU allocator could not get the RAM it asked for"),
    S("host_oom", "cannot allocate memory", 0.7, "the OS refused a memory allocation (ENOMEM)",
      refine=_cannot_allocate),
    S("host_oom", "paging file is too small", 0.85,
      "Windows ran out of virtual memory (paging file)"),
    S("host_oom", "winerror 1455", 0.85, "Windows ran out of virtual memory (paging file)"),
    # (session 22) Windows' other out-of-memory codes: ERROR_NOT_ENOUGH_MEMORY (8) and
    # ERROR_OUTOFMEMORY (14, "not enough storage", which is memory, not disk).
    *(S("host_oom", needle, 0.8, "Windows could not allocate memory for the operation (RAM)",
        fixes=("free RAM or raise the paging file size, or load with less at once "
               "(low_cpu_mem_usage=True, smaller shards)",))
      for needle in ("winerror 8]", "not enough memory resources are available to process",
                     "winerror 14]", "not enough storage is available to complete this")),
    # A path longer than the file system or Windows (MAX_PATH, 260) allows: a cache directory
    # nested too deep, not a prompt too long.
    *(S("permission_or_disk", needle, 0.7,
        "a path is longer than the file system allows (Windows: 260 characters without long "
        "paths)",
        tag="over:context_too_long",
        fixes=("use a shorter cache directory (HF_HOME=C:\\hf), or enable Windows long paths "
               "(LongPathsEnabled)",))
      for needle in ("file name too long", "filename or extension is too long",
                     "winerror 206]")),
    S("host_oom", "using all available ram", 0.95, "the notebook runtime used all its RAM"),
    S("host_oom", "low on memory", 0.85, "the node ran out of RAM and the task was killed"),
    S("host_oom", "kernel appears to have died", 0.45,
      "the notebook kernel died, most often for lack of RAM", tag="kill"),
    S("host_oom", "died", 0.5, "a worker process died", r"(?i)worker\b.*\b(?:died|was killed)",
      tag="kill"),
    S("host_oom", "killed", 0.55, "the process was killed (most often by the OOM killer)",
      r"(?i)\bprocess (?:was|got|has been|is being) killed\b", tag="kill"),
    # ---- cuda_unavailable
    S("cuda_unavailable", "torch not compiled with cuda enabled", 0.95,
      "this torch is a CPU-only build",
      fixes=("install a CUDA build of torch, or run on the CPU (device='cpu')",)),
    S("cuda_unavailable", "found no nvidia driver on your system", 0.95,
      "no NVIDIA driver is loaded"),
    # torch.cuda._lazy_init: CUDA was initialised in the parent before fork(); the child
    # process cannot use the GPU.
    S("cuda_unavailable", "cannot re-initialize cuda in forked subprocess", 0.75,
      "CUDA was initialised before the worker process was forked; a forked child cannot use it",
      fixes=("start worker processes with the 'spawn' method (multiprocessing."
             "set_start_method('spawn'); vLLM: VLLM_WORKER_MULTIPROC_METHOD=spawn)",
             "do not touch CUDA in the parent before creating the workers")),
    # Docker without the NVIDIA container toolkit (or its runtime) cannot give --gpus to the
    # container: the process inside sees no GPU.
    S("cuda_unavailable", "could not select device driver", 0.85,
      "Docker cannot pass the GPU into the container (the NVIDIA container toolkit is missing "
      "or not configured)",
      r"(?i)could not select device driver .*capabilities: \[\[gpu\]\]",
      fixes=("install the NVIDIA container toolkit and restart docker "
             "(nvidia-ctk runtime configure --runtime=docker)",)),
    S("cuda_unavailable", "no cuda gpus are available", 0.9,
      "CUDA sees no GPU (CUDA_VISIBLE_DEVICES or the driver)"),
    S("cuda_unavailable", "invalid device ordinal", 0.9,
      "the code asked for a GPU index that does not exist here",
      fixes=("use cuda:0 or an index below torch.cuda.device_count(); check CUDA_VISIBLE_DEVICES",
             )),
    S("cuda_unavailable", "invalid device id", 0.8,
      "the code asked for a GPU index that does not exist here"),
    S("cuda_unavailable", "cuda driver initialization failed", 0.85,
      "the CUDA driver could not initialise: no usable GPU"),
    S("cuda_unavailable", "attempting to deserialize object on", 0.9,
      "the checkpoint was saved from a GPU and this process has no (such) GPU",
      r"(?i)Attempting to deserialize object on (?:a )?CUDA device",
      fixes=("load with torch.load(..., map_location='cpu')",)),
    S("cuda_unavailable", "no cuda-capable device is detected", 0.9,
      "the CUDA driver finds no GPU"),
    S("cuda_unavailable", "cudaerrornodevice", 0.9, "the CUDA driver finds no GPU"),
    S("cuda_unavailable", "cuda_error_no_device", 0.9, "the CUDA driver finds no GPU"),
    S("cuda_unavailable", "cuda unknown error", 0.6,
      "CUDA failed to initialise (often CUDA_VISIBLE_DEVICES changed after start, or a driver "
      "problem)"),
    S("cuda_unavailable", "couldn't communicate with the nvidia driver", 0.85,
      "the NVIDIA driver is not loaded"),
    S("cuda_unavailable", "cannot open shared object file", 0.75,
      "the CUDA driver library (libcuda) is missing: no driver",
      refine=_shared_object("cuda_unavailable")),
    S("cuda_unavailable", "no hip gpus are available", 0.9, "ROCm sees no GPU"),
    S("cuda_unavailable", "not available", 0.65, "the code requires a GPU and none is available",
      r"(?i)\b(?:cuda|gpu)\b(?: is)? not available"
      r"|is_available\(\) (?:is|returns?|returned) False"),
    S("cuda_unavailable", "no cuda runtime is found", 0.55,
      "no CUDA runtime was found (CPU-only torch or no CUDA install)"),
    S("cuda_unavailable", "no gpu", 0.65, "the code requires a GPU and none was found",
      r"(?i)\bno (?:cuda )?gpus? (?:found|available|detected)|\bgpu is required"),
    # transformers' quantizers (GPTQ, AWQ, SpQR, VPTQ, ...) check for a CUDA device first.
    S("cuda_unavailable", "gpu is required to ", 0.85,
      "the quantized model needs a CUDA GPU and torch sees none",
      r"(?i)\bgpu is required to (?:quantize|run)\b"),
    S("cuda_unavailable", "device < num_gpus", 0.8, "a GPU index beyond the visible GPUs was used"),
    S("cuda_unavailable", "compiled without gpu support", 0.6,
      "this build of the library has no GPU support",
      refine=lambda m, s: None if "bitsandbytes" in s.block_text else 0.6),
    S("cuda_unavailable", "busy or unavailable", 0.75,
      "the GPU is in exclusive-process mode and taken, or unavailable "
      "(cudaErrorDevicesUnavailable)"),
    S("cuda_unavailable", "cudaerrorinvaliddevice", 0.85,
      "the code asked for a GPU index that does not exist here"),
    S("cuda_unavailable", "system not yet initialized", 0.6,
      "CUDA error 802: the GPU is not ready (on NVSwitch systems, nvidia-fabricmanager is not "
      "running)"),
    # ---- cuda_driver_mismatch
    S("cuda_driver_mismatch", "the nvidia driver on your system is too old", 0.95,
      "the NVIDIA driver is older than the CUDA runtime this torch was built with (torch then "
      "falls back to the CPU)",
      fixes=_DRIVER_FIX),
    S("cuda_driver_mismatch", "driver version is insufficient for cuda runtime version", 0.95,
      "the NVIDIA driver is older than the CUDA runtime", fixes=_DRIVER_FIX,
      refine=lambda _m, s: 0.5 if "pinned system memory" in s.line_text else 1.0),
    S("cuda_driver_mismatch", "cudaerrorinsufficientdriver", 0.9,
      "the NVIDIA driver is older than the CUDA runtime",
      fixes=_DRIVER_FIX),
    S("cuda_driver_mismatch", "no kernel image is available for execution on the device", 0.95,
      "torch (or an extension) was not compiled for this GPU's architecture",
      fixes=("install a build whose torch.cuda.get_arch_list() includes this GPU's sm_XX",)),
    S("cuda_driver_mismatch", "is not compatible with the current pytorch installation", 0.9,
      "this GPU's compute capability is not among the architectures this torch was built for"),
    S("cuda_driver_mismatch", "the current pytorch install supports cuda capabilities", 0.9,
      "this GPU's compute capability is not among the architectures this torch was built for"),
    S("cuda_driver_mismatch", "does not include kernels for this gpu", 0.9,
      "this torch build has no kernels for this GPU's compute capability"),
    S("cuda_driver_mismatch", "builds for release", 0.85,
      "no torch build of this release supports this GPU's compute capability",
      r"No published PyTorch CUDA builds for release \S+ support this GPU"),
    S("cuda_driver_mismatch", "pytorch no longer supports this gpu because it is too old", 0.9,
      "this torch build dropped support for this (old) GPU"),
    S("cuda_driver_mismatch", "compiled with an unsupported toolchain", 0.9,
      "code was compiled for a newer CUDA than the driver supports", fixes=_DRIVER_FIX),
    S("cuda_driver_mismatch", "unsupported ptx version", 0.85,
      "the driver is too old for the PTX in this build",
      fixes=_DRIVER_FIX),
    S("cuda_driver_mismatch", "forward compatibility was attempted on non supported hw", 0.85,
      "CUDA error 804: the CUDA compat libraries do not work with this GPU/driver",
      fixes=_DRIVER_FIX),
    S("cuda_driver_mismatch", "unsupported display driver / cuda driver combination", 0.9,
      "CUDA error 803: the user-space driver libraries do not match the kernel driver"),
    S("cuda_driver_mismatch", "cudaerrornokernelimagefordevice", 0.9,
      "torch (or an extension) was not compiled for this GPU's architecture"),
    S("cuda_driver_mismatch", "cudaerrorcompatnotsupportedondevice", 0.85,
      "the CUDA compat libraries do not work with this GPU/driver", fixes=_DRIVER_FIX),
    S("cuda_driver_mismatch", "cudaerrorsystemdrivermismatch", 0.9,
      "the driver libraries do not match the kernel module"),
    S("cuda_driver_mismatch", "driver/library version mismatch", 0.9,
      "the NVIDIA kernel module and user-space libraries have different versions (reboot after a "
      "driver update)"),
    S("cuda_driver_mismatch", "cuda_error_system_driver_mismatch", 0.9,
      "the driver libraries do not match the kernel module"),
    S("cuda_driver_mismatch", "cannot open shared object file", 0.35,
      "a CUDA runtime library this build needs is missing: it was built for another CUDA version",
      refine=_shared_object("cuda_driver_mismatch")),
    S("cuda_driver_mismatch", "invalid value for --gpu-architecture", 0.8,
      "the CUDA toolkit does not know this GPU's architecture"),
    S("cuda_driver_mismatch", "ptxas fatal", 0.7,
      "the CUDA toolchain does not support the target architecture"),
    # ---- missing_file
    S("missing_file", "incorrect path_or_model_id", 0.85,
      "the path does not exist and is not a hub id"),
    S("missing_file", "repo id must use alphanumeric chars", 0.8,
      "the path does not exist, so it was read as a hub repo id (and is not a valid one)"),
    S("missing_file", "repo id must be in the form", 0.85,
      "the path does not exist, so it was read as a hub repo id (and is not a valid one)"),
    S("missing_file", "error no file named", 0.9,
      "no weights file was found in the model directory"),
    S("missing_file", "does not appear to have a file named", 0.9,
      "a file the loader needs is not in the directory / repo"),
    S("missing_file", "is not a valid model identifier", 0.85,
      "the path does not exist and is not a hub id"),
    S("missing_file", "is not a local folder or a valid repository name", 0.85,
      "the path does not exist and is not a hub id"),
    S("missing_file", "couldn't find them in the cached files", 0.85,
      "the model is not in the local cache and the hub could not be reached (offline)"),
    S("missing_file", "couldn't find it in the cached files", 0.85,
      "the file is not in the local cache and the hub could not be reached (offline)"),
    S("missing_file", "cannot find the requested files in the disk cache", 0.9,
      "offline mode and the files are not in the local cache"),
    S("missing_file", "localentrynotfounderror", 0.85,
      "the file is not in the local cache (offline)"),
    S("missing_file", "outgoing traffic has been disabled", 0.8,
      "offline mode and the files are not in the local cache"),
    S("missing_file", "offlinemodeisenabled", 0.8,
      "offline mode and the files are not in the local cache"),
    S("missing_file", "can't load the configuration of", 0.8,
      "config.json could not be found at that path"),
    S("missing_file", "can't load tokenizer for", 0.75,
      "the tokenizer files could not be found at that path"),
    S("missing_file", "unrecognized model in", 0.75,
      "config.json is missing or has no model_type: the path is probably not the model's "
      "directory"),
    S("missing_file", "filenotfounderror", 0.7, "a file does not exist"),
    S("missing_file", "no such file or directory", 0.7, "a file does not exist",
      refine=lambda m, s: None if ("shared object file" in s.line_text or "dlerror" in s.line_text
                                   or _MISSING_HEADER.search(s.line_text)) else 1.0),
    S("missing_file", "was not found in model name list", 0.75,
      "the model name/path was not found (nor could it be cached)"),
    S("missing_file", "couldn't find any file associated to this path or url", 0.75,
      "nothing was found at that path or URL"),
    S("missing_file", "repository not found", 0.8,
      "the hub repository does not exist (or is private)"),
    S("missing_file", "entry not found", 0.75, "the file does not exist in that hub repository"),
    S("missing_file", "revision not found", 0.7, "the requested revision does not exist"),
    S("missing_file", "couldn't connect to", 0.6,
      "the hub could not be reached and the files are not cached",
      r"(?i)couldn't connect to '?https?://(?:huggingface\.co|hf\.co)"),
    S("missing_file", "couldn't reach", 0.55,
      "the hub could not be reached and the files are not cached",
      r"(?i)couldn't reach .*(?:huggingface|hf\.co)"),
    S("missing_file", "max retries exceeded with url", 0.5,
      "the hub could not be reached (offline?) and the files are not cached",
      r"(?i)host='(?:huggingface\.co|hf\.co|cdn-lfs[\w.-]*)'.*Max retries exceeded"),
    # ---- corrupt_checkpoint
    S("corrupt_checkpoint", "error while deserializing header", 0.9,
      "the safetensors header cannot be read: the file is truncated, or is not a safetensors file"),
    # A header naming a dtype this safetensors release does not know (F8_E8M0, F4, ...): the
    # file is fine, the library is older than the format.
    S("version_mismatch", "unknown variant", 0.95,
      "the file's header names a dtype this safetensors release does not know: the library is "
      "older than the checkpoint's format",
      r"(?i)header.*unknown variant `[A-Z]+\d*(?:_\w+)?`", tag="over:corrupt_checkpoint",
      fixes=("upgrade safetensors (and transformers): pip install -U safetensors",)),
    S("corrupt_checkpoint", "header too large", 0.9,
      "the 'header' is garbage: the file is a git-lfs pointer or an HTML page, not safetensors",
      fixes=_LFS_FIX),
    S("corrupt_checkpoint", "headertoolarge", 0.9,
      "the 'header' is garbage: the file is a git-lfs pointer or an HTML page, not safetensors",
      fixes=_LFS_FIX),
    S("corrupt_checkpoint", "incomplete metadata", 0.9,
      "the safetensors file is shorter than its header says: truncated"),
    S("corrupt_checkpoint", "metadataincompletebuffer", 0.9,
      "the safetensors file is shorter than its header says: truncated"),
    S("corrupt_checkpoint", "safetensorerror", 0.6, "safetensors could not read the file"),
    S("corrupt_checkpoint", "pytorchstreamreader failed", 0.9,
      "the .pt/.bin zip archive is damaged or truncated"),
    S("corrupt_checkpoint", "failed finding central directory", 0.9,
      "the .pt/.bin zip archive is truncated"),
    S("corrupt_checkpoint", "invalid load key", 0.85,
      "the file is not a pickle/torch checkpoint ('v' = a git-lfs pointer, '<' = an HTML page)",
      r"invalid load key, '(?P<key>[^']*)'", fixes=_LFS_FIX),
    S("corrupt_checkpoint", "unsupported operand", 0.8,
      "torch's safe unpickler met bytes that are not a checkpoint (118 = 'v' of a git-lfs pointer, "
      "60 = '<' of HTML)",
      r"Unsupported operand (?P<op>\d+)", refine=_unsupported_operand),
    S("corrupt_checkpoint", "pickle data was truncated", 0.9, "the pickle file is truncated"),
    S("corrupt_checkpoint", "ran out of input", 0.75, "the checkpoint file is empty or truncated"),
    S("corrupt_checkpoint", "the file might be corrupted", 0.85, "the checkpoint file is damaged"),
    S("corrupt_checkpoint", "checkpoint file is corrupted", 0.85, "the checkpoint file is damaged"),
    S("corrupt_checkpoint", "unexpected eof", 0.7, "the file ends early: truncated"),
    S("corrupt_checkpoint", "file is not a zip file", 0.8,
      "the archive is damaged or is not the file it claims to be"),
    S("corrupt_checkpoint", "badzipfile", 0.8,
      "the archive is damaged or is not the file it claims to be"),
    S("corrupt_checkpoint", "is not a valid json file", 0.8,
      "a JSON config file is damaged (truncated or not JSON)",
      # (round 52) the path named is no .json file: the model path is a file, not its folder
      refine=lambda m, s: None if _CONFIG_PATH_NOT_JSON.search(s.line_text) else 1.0),
    S("corrupt_checkpoint", "jsondecodeerror", 0.55, "a JSON file could not be parsed",
      refine=_json_decode),
    S("corrupt_checkpoint", "eof while parsing", 0.75,
      "a JSON file (tokenizer.json?) ends early: truncated"),
    S("corrupt_checkpoint", "unable to load weights from pytorch checkpoint file", 0.85,
      "the weights file could not be read (truncated, or a git-lfs pointer)"),
    S("corrupt_checkpoint", "truncated file", 0.85, "the file is truncated"),
    S("corrupt_checkpoint", "storage has wrong byte size", 0.8,
      "a tensor's data is shorter than recorded: truncated"),
    S("corrupt_checkpoint", "consistency check failed", 0.85,
      "the downloaded file's size/hash does not match the hub's"),
    S("corrupt_checkpoint", "git-lfs.github.com/spec", 0.8,
      "a git-lfs pointer file sits where the weights should be",
      fixes=_LFS_FIX),
    S("corrupt_checkpoint", "invalid magic", 0.6,
      "the file does not start with its format's magic number (damaged or wrong file)"),
    S("corrupt_checkpoint", "could not parse modelproto", 0.45,
      "tokenizer.model is damaged or is not a sentencepiece model"),
    # ---- size_mismatch
    S("size_mismatch", "size mismatch for", 0.95,
      "a checkpoint tensor has a different shape from the model's parameter"),
    S("size_mismatch", "copying a param with shape", 0.9,
      "a checkpoint tensor has a different shape from the model's parameter"),
    S("size_mismatch", "ignore_mismatched_sizes", 0.9,
      "some checkpoint tensors have different shapes from the model's",
      r"(?i)`?ignore_mismatched_sizes`? to `?False`?|consider adding `?ignore_mismatched_sizes"),
    S("size_mismatch", "reinit due to size mismatch", 0.85,
      "the load report lists tensors whose shapes differ (MISMATCH)"),
    S("size_mismatch", "trying to set a tensor of shape", 0.85,
      "a checkpoint tensor has a different shape from the model's parameter"),
    S("size_mismatch", "shapes cannot be multiplied", 0.45,
      "a matrix product got incompatible shapes (config and weights disagree?)"),
    S("size_mismatch", "is invalid for input of size", 0.4,
      "a reshape got a tensor of unexpected size (config and weights disagree?)"),
    S("size_mismatch", "must match the size of tensor b", 0.35,
      "two tensors have incompatible sizes",
      r"size of tensor a \((?P<a>\d+)\) must match the size of tensor b \((?P<b>\d+)\)"),
    # ---- missing_or_unexpected_keys
    S("missing_or_unexpected_keys", "missing key(s) in state_dict", 0.9,
      "parameters of the model were not in the checkpoint"),
    S("missing_or_unexpected_keys", "unexpected key(s) in state_dict", 0.9,
      "the checkpoint holds parameters the model does not have"),
    S("missing_or_unexpected_keys", "were not used when initializing", 0.45,
      "checkpoint weights were left unused (names do not match, or a head for another task)",
      kind="hint",
      refine=lambda m, s: None if "this is expected" in s.block_text else 1.0),
    S("missing_or_unexpected_keys", "newly initialized", 0.5,
      "model weights were missing from the checkpoint and were initialised at random",
      r"(?i)not initialized from the model checkpoint.*newly initialized|newly initialized because "
      r"missing"),
    S("missing_or_unexpected_keys", "found missing adapter keys", 0.8,
      "adapter weights are missing from the checkpoint"),
    # torch's load_state_dict(strict=False) result, mmcv/mmengine's checkpoint loader, timm,
    # lightning
    S("missing_or_unexpected_keys", "_incompatiblekeys", 0.7,
      "load_state_dict(strict=False) left keys missing or unused",
      r"_IncompatibleKeys\(missing_keys=\[\s*'|unexpected_keys=\[\s*'"),
    S("missing_or_unexpected_keys", "in source state_dict", 0.8,
      "the checkpoint's parameter names differ from the model's (mmcv/mmengine loader)",
      r"(?i)(?:missing keys|unexpected keys?) in source state_dict"),
    S("missing_or_unexpected_keys", "do not match exactly", 0.6,
      "the model and the loaded state dict differ",
      r"(?i)state.?dict do not match exactly"),
    # The header alone (a log cut after it): shapes are the more common reason in the labelled
    # logs that print it (about 3 to 2 over keys); the lines after it decide when they are there.
    S("size_mismatch", "error(s) in loading state_dict for", 0.55,
      "torch refused the checkpoint (the key list or shape list after this line says which)"),
    S("missing_or_unexpected_keys", "error(s) in loading state_dict for", 0.5,
      "torch refused the checkpoint (the key list or shape list after this line says which)"),
    S("missing_or_unexpected_keys", "missing keys", 0.6,
      "keys of the model are missing from the checkpoint",
      r"(?i)\bmissing[_ ]keys?\b\s*(?:[:=]|in|when|\()\s*\S"),
    S("missing_or_unexpected_keys", "not found in the base model", 0.6,
      "the adapter's target module names do not exist in this model",
      r"(?i)target modules? .* not found in the base model"),
    S("missing_or_unexpected_keys", "missing", 0.75,
      "the load report lists weights MISSING from the checkpoint (they are random now)",
      r"\|\s*MISSING\s*\||MISSING:\s+those params were newly initialized"),
    S("missing_or_unexpected_keys", "unexpected", 0.7,
      "the load report lists checkpoint weights the model does not use",
      r"\|\s*UNEXPECTED\s*\|"),
    S("missing_or_unexpected_keys", "keyerror", 0.55,
      "a parameter name was looked up and not found in the checkpoint",
      r"KeyError: '(?P<key>[\w.]+\.(?:weight|bias))'", refine=_weight_key),
    # ---- version_mismatch
    S("version_mismatch", "does not recognize this architecture", 0.95,
      "this transformers does not know the checkpoint's model_type: it is too old for the model"),
    S("version_mismatch", "has model type", 0.9,
      "this transformers does not know the checkpoint's model_type",
      r"checkpoint you are trying to load has model type"),
    S("version_mismatch", "keyerror", 0.75,
      "transformers' model registry has no entry for this model_type: it is too old",
      r"KeyError: '(?P<key>[\w-]+)'\s*$", refine=_model_type_key),
    S("version_mismatch", "keyerror", 0.6,
      "this transformers has no such tokenizer class (too old for the model)",
      r"KeyError: '\w+Tokenizer(?:Fast)?'\s*$"),
    S("version_mismatch", "data did not match any variant of untagged enum", 0.9,
      "the installed tokenizers is too old to read this tokenizer.json (written by a newer "
      "version)",
      fixes=("pip install -U tokenizers transformers",)),
    S("version_mismatch", "cannot import name", 0.75,
      "a name the code imports does not exist in the installed library version",
      r"cannot import name '(?P<name>\w+)' from '(?P<mod>[\w.]+)'", refine=_cannot_import),
    S("version_mismatch", "has no attribute", 0.7,
      "the installed library has no such attribute (removed, renamed or not yet added)",
      r"module '(?P<mod>[\w.]+)' has no attribute '(?P<attr>\w+)'", refine=_module_attr),
    S("version_mismatch", "object has no attribute", 0.5,
      "code expects an attribute that this library version does not provide",
      # (a line cut after the attribute's name lacks its closing quote: round 76)
      r"'(?P<obj>\w+)' object has no attribute '(?P<attr>\w+)(?:'|\s*$)",
      refine=lambda m, s: None if "'from_pretrained'" in s.line_text else _object_attr(m, s)),
    S("version_mismatch", "attribute", 0.5,
      "code sets an attribute that this library version made read-only",
      r"AttributeError: (?:can't set attribute|property '\w+' of '\w+' object has no setter)"),
    S("version_mismatch", "got an unexpected keyword argument", 0.6,
      "a function was called with an argument this library version does not accept"),
    S("version_mismatch", "is required for a normal functioning of this module, but found", 0.9,
      "transformers requires a different version of one of its dependencies"),
    S("version_mismatch", "compiled using numpy 1.x cannot be run in", 0.9,
      "a binary module was built for numpy 1.x and numpy 2 is installed",
      fixes=("pip install 'numpy<2' or upgrade the module that was built for numpy 1",)),
    # numpy's import_array() (generate_numpy_api.py): a C extension built for another numpy.
    S("version_mismatch", "module compiled against", 0.85,
      "a binary module was built against another numpy C API/ABI than the installed numpy",
      r"(?i)module compiled against (?:API|ABI) version \w+ but this version of numpy is",
      fixes=("reinstall the module for this numpy, or pip install 'numpy<2' when the module was "
             "built for numpy 1",)),
    S("version_mismatch", "_array_api not found", 0.8,
      "a binary module built for numpy 1.x was imported under numpy 2"),
    S("version_mismatch", "numpy.core.multiarray failed to import", 0.8,
      "a binary module was built against another numpy"),
    S("version_mismatch", "binary incompatibility", 0.85,
      "a binary module was built against another numpy"),
    S("version_mismatch", "were compiled with different cuda versions", 0.9,
      "torch and torchvision (or another extension) were built for different CUDA versions"),
    S("version_mismatch", "with arguments from the 'cuda' backend", 0.55,
      "an extension's operator has no CUDA kernel here: it was built for another torch (or without "
      "CUDA)",
      r"Could not run '[\w:.]+' with arguments from the 'CUDA' backend"),
    S("version_mismatch", "no module named", 0.8,
      "a submodule that this code imports does not exist in the installed library version",
      _NO_MODULE + r"(?P<mod>\w+(?:\.\w+)*)(?!\.?[-\w])",
      refine=_removed_submodule),
    S("version_mismatch", "does not exist or is not currently imported", 0.6,
      "the tokenizer class named in tokenizer_config.json is not in this transformers (too old, or "
      "custom code)",
      _TOKENIZER_CLASS_MISSING,
      refine=_tokenizer_class_version),
    S("remote_code", "does not exist or is not currently imported", 0.75,
      "no transformers release has this tokenizer class: it is the model repository's own code, "
      "loaded only with trust_remote_code",
      _TOKENIZER_CLASS_MISSING,
      refine=_tokenizer_class_custom,
      fixes=("load the tokenizer with trust_remote_code=True after reading the repository's "
             "tokenization_*.py (libraries that load it for you, such as peft, must pass it "
             "through)",)),
    S("missing_dependency", "does not exist or is not currently imported", 0.75,
      "this tokenizer class needs the sentencepiece package, which is not installed",
      _TOKENIZER_CLASS_MISSING,
      refine=_tokenizer_class_backend,
      fixes=("pip install sentencepiece (and protobuf), then restart Python",)),
    # transformers' pipeline(): every candidate model class failed to load the files; the
    # first error of each is logged above it when the log has it.
    S("missing_file", "with any of the following classes", 0.45,
      "no model class could load these files (files missing, or weights for another framework)",
      r"(?i)could not load model \S+ with any of the following classes"),
    S("version_mismatch", "with any of the following classes", 0.4,
      "no model class could load these files (this transformers may not know the model)",
      r"(?i)could not load model \S+ with any of the following classes"),
    S("version_mismatch", "unrecognized configuration class", 0.55,
      "this Auto class does not know the model's config class (wrong Auto class or too old a "
      "transformers)"),
    S("version_mismatch", "rope_scaling", 0.85,
      "this transformers cannot read the model's rope_scaling (added in a newer release)",
      r"`rope_scaling` must be a dictionary with (?:two|with two) fields|rope_scaling`?'s? type "
      # an engine's bare assert on a key older configs had (vLLM's `assert "factor" in
      # rope_scaling`, round 62): the model's rope_scaling is of a newer form
      r"field must be|[\"'](?:factor|type|rope_type)[\"'] in (?:self\.)?rope_scaling\b"),
    S("version_mismatch", "weights only load failed", 0.6,
      "torch >= 2.6 loads checkpoints with weights_only=True by default and this file needs more",
      refine=_weights_only,
      fixes=("if you trust the file: torch.load(..., weights_only=False); better: convert it to "
             "safetensors",)),
    S("version_mismatch", "undefined symbol", 0.6,
      "a compiled extension was built against another version of torch/Python",
      refine=lambda m,
      s: None if ("flash_attn" in s.block_text or "bitsandbytes" in s.block_text) else 0.6),
    S("version_mismatch", "glibc", 0.7, "a binary needs a newer system C/C++ library",
      r"version `GLIBC\w*_[\d.]+' not found"),
    S("version_mismatch", "upgrade", 0.6, "the code asks for a different library version",
      r"(?i)(?:please |you (?:need|have) to |)(?:upgrade|update)(?: your)? "
      r"(?:transformers|torch|tokenizers|accelerate|vllm|peft|huggingface_hub)\b"),
    S("version_mismatch", "require", 0.6, "the code asks for a different library version",
      r"(?i)requires? "
      r"(?:transformers|torch|tokenizers|accelerate|peft|vllm)\s*(?:>=|==|>|version)\s*[\d.]+"),
    S("version_mismatch", "generationmixin", 0.4,
      "remote code written for transformers < 4.50 (models no longer inherit GenerationMixin)",
      kind="hint"),
    # ---- missing_dependency
    S("missing_dependency", "no module named", 0.85, "a Python package is not installed",
      # quoted in any way, or not at all ("no module named torch", typed from memory)
      _NO_MODULE + r"?(?P<mod>\w+(?:\.\w+)*)(?!\.?[-\w])",
      refine=_no_module),
    # (ComfyUI and other front-ends print the NameError's message without its type: round 26.)
    S("missing_dependency", "is not defined", 0.6,
      "a helper from an optional package is missing: that package (accelerate?) is not installed",
      r"(?:NameError: )?\bname "
      r"'(?:init_empty_weights|dispatch_model|infer_auto_device_map|load_checkpoint_and_dispatch|"
      r"set_module_tensor_to_device|is_deepspeed_zero3_enabled)' is not defined",
      fixes=("pip install accelerate (is_deepspeed_zero3_enabled: pip install deepspeed)",)),
    S("missing_dependency", "requires the following packages that were not found", 0.9,
      "the model's code imports packages that are not installed"),
    S("missing_dependency", "but it was not found in your environment", 0.9,
      "a library transformers needs here is not installed"),
    S("missing_dependency", "requires accelerate", 0.9,
      "this loading option needs the accelerate package",
      fixes=("pip install accelerate",)),
    S("missing_dependency", "requires `accelerate`", 0.9,
      "this loading option needs the accelerate package",
      fixes=("pip install accelerate",)),
    S("missing_dependency", "installed", 0.8,
      "a package the tokenizer/model needs is not installed",
      r"(?i)you need to (?:have )?[\w-]+ installed|(?:package|library|module) "
      r"[`'\"]?[\w.-]+[`'\"]? (?:is not|isn't) installed|[`'\"][\w.-]+[`'\"] is not installed|not "
      r"installed\. please install"),
    S("missing_dependency", "installed", 0.8,
      "a package the tokenizer/model needs is not installed",
      # Not accelerate's "..., or offload_folder. Alternatively, make sure you have
      # `safetensors` installed": an alternative it offers, not what failed.
      r"(?i)(?<!alternatively, )(?:make sure|ensure)(?: that)? you have [`'\"]?[\w.-]+[`'\"]? "
      r"installed"),
    S("missing_dependency", "'nonetype' object has no attribute 'from_pretrained'", 0.6,
      "the tokenizer/model class is None: the package it needs (sentencepiece?) is not installed"),
    S("missing_dependency", "error parsing line", 0.55,
      "a sentencepiece model was read as a tiktoken file: sentencepiece is probably not installed",
      r"Error parsing line .* in \S*(?:spiece|tokenizer|sentencepiece)\S*\.model"),
    S("missing_dependency", "is required", 0.75, "a package is required and not installed",
      r"(?i)`?[\w.-]+`? is required (?:to|for|in order)\b.*pip install|is required.*\bpip "
      r"install\b"),
    S("missing_dependency", "pip install", 0.7, "the error asks to install a package",
      refine=_asks_to_install),
    S("missing_dependency", "dll load failed", 0.5,
      "a DLL that a compiled module needs is missing (Windows)"),
    S("missing_dependency", "winerror 126", 0.5,
      "a DLL that a compiled module needs is missing (Windows)"),
    S("missing_dependency", "cannot open shared object file", 0.6, "a system library is missing",
      refine=_shared_object("missing_dependency")),
    # ---- remote_code
    S("remote_code", "trust_remote_code", 0.95,
      "the repository ships custom code and trust_remote_code was not set",
      refine=_trust_remote),
    S("remote_code", "requires you to execute", 0.95,
      "the repository ships custom code and trust_remote_code was not set"),
    S("remote_code", "contains custom code which must be executed", 0.95,
      "the repository ships custom code and trust_remote_code was not set"),
    S("remote_code", "transformers_modules", 0.6,
      "the model's own code (from its repository) is involved",
      r"transformers_modules", refine=_remote_frames_attr, kind="hint"),
    # ---- dtype_unsupported
    S("dtype_unsupported", "doesn't support float64", 0.85,
      "the Apple GPU (MPS) has no float64: use float32",
      r"(?i)MPS framework doesn't support float64"),
    S("dtype_unsupported", "not implemented for '", 0.85,
      "this operation has no kernel for that dtype on this device",
      r"not implemented for '(?:Half|BFloat16|Float8\w*|ComplexHalf)(?:'|$)"),
    S("dtype_unsupported", "expected scalar type", 0.85,
      "operands of different dtypes met in one operation",
      r"expected scalar type \w+ but found \w+", refine=_float_types),
    S("dtype_unsupported", "to have the same dtype", 0.85,
      "operands of different dtypes met in one operation"),
    S("dtype_unsupported", "must have the same dtype", 0.85,
      "operands of different dtypes met in one operation"),
    S("dtype_unsupported", "to have same dtype", 0.8,
      "operands of different dtypes met in one operation"),
    S("dtype_unsupported", "should be the same", 0.85, "input and weights have different dtypes",
      r"Input type \((?P<a>[\w.]+)\) and weight type \((?P<b>[\w.]+)\) should be the same",
      refine=_input_weight_type("dtype")),
    S("dtype_unsupported", "bfloat16 is only supported on gpus with compute capability", 0.95,
      "this GPU is older than Ampere (compute capability < 8.0) and has no bfloat16",
      fixes=("use float16 (dtype=torch.float16 / --dtype=half) on this GPU",)),
    S("dtype_unsupported", "bf16", 0.85, "this device does not support bfloat16",
      r"(?i)(?:bf16|bfloat16)\W+(?:is )?not supported|(?:does not|doesn't|not) support "
      r"(?:bf16|bfloat16)|bf16/gpu"),
    S("dtype_unsupported", "bfloat16", 0.85, "this device does not support bfloat16",
      r"(?i)(?:bf16|bfloat16)\W+(?:is )?not supported|(?:does not|doesn't|not) support "
      r"(?:bf16|bfloat16)"),
    S("dtype_unsupported", "unsupported scalartype bfloat16", 0.8,
      "bfloat16 tensors cannot be converted here (numpy has no bfloat16)"),
    S("dtype_unsupported", "found dtype", 0.75, "a tensor has a different dtype than expected",
      r"Found dtype \w+ but expected \w+"),
    S("dtype_unsupported", "only support fp16 and bf16", 0.8,
      "FlashAttention needs fp16/bf16 weights and inputs"),
    S("dtype_unsupported", "only supports torch.float16 and torch.bfloat16", 0.6,
      "FlashAttention needs fp16/bf16 weights", kind="hint"),
    S("dtype_unsupported", "on cpu", 0.8, "half precision is not supported on the CPU here",
      r"(?i)(?:fp16|float16|half)(?: precision)?\W+(?:is )?(?:not supported|only supported on "
      r"(?:gpu|cuda)).{0,20}\b(?:on )?cpu"),
    S("dtype_unsupported", "mixed precision requires a gpu", 0.7,
      "fp16 mixed precision needs a CUDA GPU"),
    S("dtype_unsupported", "attempting to unscale fp16 gradients", 0.75,
      "the trainable weights are float16: the gradient scaler needs float32 master weights"),
    S("dtype_unsupported", "cublas_status_not_supported", 0.5,
      "cuBLAS has no kernel for this dtype on this GPU (bf16 on a pre-Ampere GPU?)"),
    S("dtype_unsupported", "unsupported dtype", 0.7, "this operation does not support that dtype",
      r"Unsupported dtype (?:Half|BFloat16)"),
    # ---- device_mismatch
    # torch's MPS backend: an operand was never moved to the "mps" device.
    S("device_mismatch", "placeholder storage has not been allocated on mps device", 0.85,
      "a tensor (or the model) is still on the CPU while the computation runs on the Apple GPU"),
    S("device_mismatch", "expected all tensors to be on the same device", 0.95,
      "an operation got tensors on different devices"),
    S("device_mismatch", "cannot copy out of meta tensor", 0.95,
      "weights are still on the meta device (never loaded)"),
    S("device_mismatch", "meta tensor", 0.85, "weights are still on the meta device (never loaded)",
      r"cannot be called on meta tensors|meta tensors? (?:have|has) no data"),
    S("device_mismatch", "is not on the expected device", 0.9,
      "an operation got tensors on different devices (meta included)"),
    S("device_mismatch", "expected object of device type", 0.85,
      "an operation got tensors on different devices"),
    S("device_mismatch", "should be the same", 0.9,
      "the input and the weights are on different devices",
      r"Input type \((?P<a>[\w.]+)\) and weight type \((?P<b>[\w.]+)\) should be the same",
      refine=_input_weight_type("device")),
    S("device_mismatch", "but expected it to be on", 0.9, "a tensor is on the wrong device"),
    S("device_mismatch", "on the same device as the indexed tensor", 0.9,
      "indices and the indexed tensor are on different devices"),
    S("device_mismatch", "device type for generator", 0.85,
      "the random generator is on a different device from the tensor"),
    S("device_mismatch", "offloaded to cpu or disk", 0.8,
      "a model with offloaded modules cannot be moved with .to()"),
    S("device_mismatch", "being on a device type different than your model", 0.7,
      "generate() got inputs on another device than the model", kind="hint"),
    S("device_mismatch", "tensors must be cuda and dense", 0.6,
      "a collective got CPU tensors (NCCL needs CUDA tensors)"),
    S("device_mismatch", "meta device", 0.5, "some weights are still on the meta device",
      r"(?i)(?:are|is|still|left) on the meta device"),
    # ---- quantization_error
    S("quantization_error", "exllama", 0.85,
      "the exllama GPTQ kernels need every module on the GPU",
      # (session 22) not a name the installed exllama lacks: that is its release (version)
      refine=lambda m, s: None if _CANNOT_IMPORT_NAME.search(s.block_text) else 0.85,
      fixes=("set disable_exllama=True (use_exllama=False) in the quantization config, or keep the "
             "whole model on the GPU",)),
    S("quantization_error", "compiled without gpu support", 0.85,
      "this bitsandbytes build has no CUDA kernels",
      refine=lambda m, s: 0.85 if "bitsandbytes" in s.block_text else None),
    S("quantization_error", "cuda setup failed", 0.85,
      "bitsandbytes could not find a usable CUDA setup"),
    S("quantization_error", "libbitsandbytes", 0.75,
      "the bitsandbytes native library failed to load or lacks kernels",
      refine=_errorish),
    S("quantization_error", "cget_col_row_stats", 0.85, "bitsandbytes loaded its CPU-only library"),
    S("quantization_error", "named symbol not found", 0.8,
      "bitsandbytes' CUDA kernels do not match this GPU/CUDA",
      refine=lambda m, s: 0.8 if "bitsandbytes" in s.block_text else None),
    S("cuda_driver_mismatch", "named symbol not found", 0.5,
      "a GPU kernel is missing from the binary: it was built for another GPU architecture or CUDA",
      refine=lambda m, s: None if "bitsandbytes" in s.block_text else 0.5),
    S("quantization_error", "cadam32bit_grad_fp32", 0.85,
      "bitsandbytes loaded its CPU-only library"),
    S("quantization_error", "bitsandbytes models", 0.85,
      "a bitsandbytes-quantized model cannot be moved with .to()"),
    S("quantization_error", "is not supported for `4-bit`", 0.85,
      "a 4-bit quantized model cannot be cast or moved"),
    S("quantization_error", "is not supported for `8-bit`", 0.85,
      "an 8-bit quantized model cannot be cast or moved"),
    S("quantization_error", "requires bitsandbytes", 0.8,
      "bitsandbytes quantization needs the bitsandbytes package (and a CUDA GPU)"),
    S("quantization_error", "version of bitsandbytes", 0.8,
      "bitsandbytes quantization needs a (newer) bitsandbytes"),
    S("quantization_error", "quantized model requires", 0.8,
      "this quantized checkpoint needs its quantization backend",
      r"(?i)(?:quantized model|quantization) requires"),
    S("quantization_error", "cuda extension not installed", 0.7,
      "the GPTQ CUDA kernels are not installed"),
    S("quantization_error", "some modules are dispatched on the cpu or the disk", 0.75,
      "the quantized model does not fit in GPU memory and bitsandbytes cannot offload these "
      "modules",
      fixes=("give the GPU more room, or set llm_int8_enable_fp32_cpu_offload=True with a "
             "device_map",)),
    S("quantization_error", "llm_int8_enable_fp32_cpu_offload", 0.7,
      "8-bit modules would have to be offloaded to the CPU"),
    S("quantization_error", "blockwise quantization only supports", 0.8,
      "bitsandbytes got a tensor of an unsupported dtype"),
    S("quantization_error", "qweight", 0.93,
      "the checkpoint holds quantized tensors (qweight/qzeros/scales) the model does not expect: a "
      "quantized checkpoint opened as a plain model",
      refine=_quant_keys),
    S("quantization_error", "qzeros", 0.93,
      "the checkpoint holds quantized tensors (qweight/qzeros/scales) the model does not expect",
      refine=_quant_keys),
    S("quantization_error", "quant_state", 0.93,
      "the checkpoint holds bitsandbytes 4-bit state the model does not expect",
      refine=_quant_keys),
    S("quantization_error", "awq", 0.75, "the AWQ quantization backend or its kernels failed",
      r"(?i)\b(?:auto-?awq|awq)\b",
      refine=lambda m, s: 0.75 if _ERRORISH.search(s.line_text) else None),
    S("quantization_error", "gptq", 0.7, "the GPTQ quantization backend or its kernels failed",
      r"(?i)\b(?:auto[-_]?gptq|gptq\w*)\b",
      refine=lambda m, s: 0.7 if _ERRORISH.search(s.line_text) else None),
    S("quantization_error", "marlin", 0.65, "the Marlin quantized kernels failed",
      r"(?i)\bmarlin\b",
      refine=lambda m, s: 0.65 if _ERRORISH.search(s.line_text) else None),
    S("quantization_error", "unknown quantization type", 0.75,
      "this library version does not know the quantization method"),
    S("quantization_error", "quantization", 0.5, "a quantization library reported an error",
      r"(?i)quantiz\w*.{0,80}\b(?:not supported|failed|error|unsupported|requires)\b",
      refine=_errorish),
    S("quantization_error", "compute capability", 0.75,
      "this quantization format needs a newer GPU",
      r"(?i)\bfp8\b.*compute capability"),
    # ---- tokenizer_error
    S("tokenizer_error", "couldn't instantiate the backend tokenizer", 0.7,
      "neither tokenizer.json nor a convertible slow tokenizer could build the fast tokenizer"),
    S("tokenizer_error", "could not parse modelproto", 0.75,
      "tokenizer.model is not a sentencepiece model (a tiktoken/BPE file read with the wrong "
      "tokenizer class, or damaged)"),
    S("tokenizer_error", "sentencepiece_processor.cc", 0.7,
      "sentencepiece could not load tokenizer.model"),
    S("tokenizer_error", "not a string", 0.5,
      "sentencepiece got no model file path (tokenizer.model missing or not found)",
      r"^TypeError: not a string(?:\s+when\b.*)?\s*$"),
    S("missing_file", "not a string", 0.45,
      "sentencepiece got no model file path: tokenizer.model is probably missing",
      r"^TypeError: not a string(?:\s+when\b.*)?\s*$"),
    S("tokenizer_error", "asking to pad but the tokenizer does not have a padding token", 0.85,
      "the tokenizer has no pad token", fixes=("tokenizer.pad_token = tokenizer.eos_token",)),
    S("tokenizer_error", "chat_template is not set", 0.85, "the tokenizer has no chat template",
      fixes=("pass chat_template=... or set tokenizer.chat_template from the model card",)),
    S("tokenizer_error", "cannot use chat template functions", 0.85,
      "the tokenizer has no chat template"),
    S("tokenizer_error", "textencodeinput must be union", 0.75,
      "the tokenizer was given something that is not text (None? a list of lists?)"),
    S("tokenizer_error", "piece id is out of range", 0.75,
      "decode got a token id outside the tokenizer's vocabulary"),
    S("tokenizer_error", "out of range integral type conversion attempted", 0.7,
      "decode got a negative or huge token id (e.g. -100 labels or padding)"),
    S("tokenizer_error", "non-consecutive added token", 0.75,
      "the added tokens do not follow the vocabulary"),
    S("tokenizer_error", "activate truncation and/or padding", 0.7,
      "sequences of different lengths were batched without padding"),
    S("tokenizer_error", "tiktoken failed", 0.75,
      "the tokenizer files could not be converted to a fast tokenizer"),
    S("tokenizer_error", "does not exist or is not currently imported", 0.4,
      "the tokenizer class named in tokenizer_config.json is not available (a class name spelt "
      "with other capitals than transformers' own, such as LLaMATokenizer for LlamaTokenizer, "
      "is a wrong tokenizer_class in that file)",
      _TOKENIZER_CLASS_MISSING,
      refine=_tokenizer_class_name,
      fixes=("set \"tokenizer_class\" in tokenizer_config.json to the class transformers "
             "spells (for LLaMA: LlamaTokenizer), or load with the tokenizer class directly",)),
    S("tokenizer_error", "can't load tokenizer for", 0.4,
      "the tokenizer could not be created from those files"),
    S("tokenizer_error", "not the same type as the class this function is called from", 0.4,
      "the tokenizer files are for another tokenizer class", kind="hint"),
    # ---- permission_or_disk
    S("permission_or_disk", "permission denied", 0.85,
      "the process may not read or write that path",
      refine=lambda _m, s: None if _EMPTY_PATH_DENIED in s.line_text.lower() else 1.0),
    S("permission_or_disk", "read-only file system", 0.9,
      "the target file system is mounted read-only"),
    S("permission_or_disk", "no space left on device", 0.95, "the disk (or /dev/shm) is full"),
    S("permission_or_disk", "disk quota exceeded", 0.9, "the disk quota is used up"),
    S("permission_or_disk", "not enough free disk space", 0.85,
      "the download target has too little free space"),
    S("permission_or_disk", "file write failed", 0.7,
      "torch.save could not write the file: usually the disk is full",
      r"PytorchStreamWriter failed writing file|file write failed"),
    S("permission_or_disk", "unexpected pos", 0.7,
      "torch.save could not finish writing: usually the disk is full",
      r"inline_container\.cc.*unexpected pos|unexpected pos \d+ vs \d+"),
    S("permission_or_disk", "insufficient shared memory", 0.85,
      "/dev/shm is too small for the DataLoader workers",
      fixes=("enlarge /dev/shm (docker --shm-size=8g or --ipc=host), or use fewer workers",)),
    S("permission_or_disk", "out of shared memory", 0.8,
      "/dev/shm is too small for the DataLoader workers",
      fixes=("enlarge /dev/shm (docker --shm-size=8g or --ipc=host), or use fewer workers",)),
    S("permission_or_disk", "bus error", 0.5,
      "SIGBUS: often /dev/shm full, or a memory-mapped file that shrank"),
    S("permission_or_disk", "operation not permitted", 0.6,
      "the OS refused the operation (permissions)",
      # CUDA's cudaErrorStreamCaptureUnsupported reads "operation not permitted when stream is
      # capturing": an op that CUDA graphs cannot record, not a permission.
      refine=lambda m, s: None if "stream is capturing" in s.line_text.lower() else 1.0),
    S("permission_or_disk", "not writable", 0.75, "a directory (the cache?) is not writable"),
    S("permission_or_disk", "too many open files", 0.45,
      "the per-process open-file limit (ulimit -n) was reached"),
    S("permission_or_disk", "gatedrepoerror", 0.6,
      "the model is gated: your account has no access / no token was given"),
    S("permission_or_disk", "you must have access to it and be authenticated", 0.6,
      "the model is gated: your account has no access / no token was given"),
    # ---- port_in_use
    # The bind failure is the root of the NCCL errors that follow it.
    S("port_in_use", "address already in use", 0.95,
      "another process is listening on that address/port", tag="over:nccl_distributed"),
    S("port_in_use", "eaddrinuse", 0.95, "another process is listening on that address/port"),
    S("port_in_use", "only one usage of each socket address", 0.95,
      "another process is listening on that port (Windows)"),
    S("port_in_use", "cannot find empty port", 0.9, "every port in the allowed range is taken"),
    S("port_in_use", "in use", 0.85, "the port is taken",
      r"(?i)\bport\b.{0,40}\b(?:is )?(?:already )?in use\b"),
    S("port_in_use", "socket in a way forbidden by its access permissions", 0.6,
      "Windows refuses that port (reserved or in use)"),
    S("port_in_use", "error while attempting to bind on address", 0.7,
      "the server could not bind its address"),
    # ---- nccl_distributed
    S("nccl_distributed", "nccl error", 0.85, "NCCL reported an error"),
    S("nccl_distributed", "nccl_error_", 0.85, "NCCL reported an error"),
    S("nccl_distributed", "nccl warn", 0.75, "NCCL reported a failure"),
    S("nccl_distributed", "unhandled system error", 0.85,
      "NCCL failed in a system call (network, sockets, memory)"),
    S("nccl_distributed", "unhandled cuda error", 0.8, "NCCL failed in a CUDA call"),
    S("nccl_distributed", "ncclsystemerror", 0.85,
      "NCCL failed in a system call (network, sockets, memory)"),
    S("nccl_distributed", "ncclinternalerror", 0.85, "NCCL hit an internal error"),
    S("nccl_distributed", "ncclunhandledcudaerror", 0.8, "NCCL failed in a CUDA call"),
    S("nccl_distributed", "ncclinvalidusage", 0.85,
      "NCCL was used wrongly (mismatched collectives or ranks)"),
    S("nccl_distributed", "ncclremoteerror", 0.85, "a remote NCCL peer failed"),
    S("nccl_distributed", "have nccl built in", 0.85,
      "this torch build has no NCCL (a CPU or non-CUDA build)"),
    S("nccl_distributed", "nccl", 0.75, "NCCL reported a failure", refine=_nccl, kind="symptom"),
    S("nccl_distributed", "watchdog caught collective operation timeout", 0.85,
      "a collective waited past the timeout: one rank is stuck or died, or the job is too slow",
      kind="symptom"),
    S("nccl_distributed", "communicator was aborted", 0.8,
      "the NCCL communicator was aborted after a failure", kind="symptom"),
    S("nccl_distributed", "default process group has not been initialized", 0.85,
      "a collective was called before init_process_group"),
    S("nccl_distributed", "timed out initializing process group", 0.85,
      "the ranks never all joined the process group"),
    S("nccl_distributed", "store based barrier", 0.8,
      "the ranks never all joined the process group"),
    S("nccl_distributed", "client socket has timed out", 0.85,
      "a rank could not reach the rendezvous store (MASTER_ADDR/PORT)"),
    S("nccl_distributed", "socket timeout", 0.6, "a connection between ranks timed out"),
    S("nccl_distributed", "connection closed by peer", 0.6,
      "another rank went away (crashed?) mid-collective", kind="symptom"),
    S("nccl_distributed", "connection reset by peer", 0.45,
      "another process went away mid-connection", kind="symptom"),
    S("nccl_distributed", "distbackenderror", 0.8, "the distributed backend reported an error",
      kind="symptom"),
    S("nccl_distributed", "distnetworkerror", 0.8, "ranks could not connect to each other"),
    S("nccl_distributed", "diststoreerror", 0.8, "the rendezvous store failed"),
    S("nccl_distributed", "rendezvous", 0.75, "the ranks could not rendezvous",
      r"(?i)rendezvous\w*\s*(?:timeout|error|closed|failed)|RendezvousTimeoutError|RendezvousConnectionError"),
    S("nccl_distributed", "gloo", 0.7, "the gloo backend could not connect the ranks or timed out",
      r"(?i)gloo\w*.*(?:connectFullMesh failed|timed out|timeout)", kind="symptom"),
    S("nccl_distributed", "master_addr", 0.85, "the rendezvous address is not set",
      r"(?i)MASTER_ADDR.{0,20}(?:expected|not set)"),
    S("nccl_distributed", "duplicate gpu detected", 0.85, "two ranks were placed on the same GPU"),
    S("nccl_distributed", "ibv_", 0.75, "the InfiniBand transport failed", r"\bibv_\w+"),
    S("nccl_distributed", "heartbeat monitor", 0.75, "the distributed heartbeat timed out",
      kind="symptom"),
    S("nccl_distributed", "childfailederror", 0.4,
      "a worker of the distributed job failed (its own error is the cause)",
      kind="symptom"),
    # ---- flash_attention
    S("flash_attention", "flash_attn", 0.8,
      "flash-attn is missing or was built for another torch/CUDA", refine=_flash_mention),
    S("flash_attention", "has been toggled on, but it cannot be used", 0.95,
      "FlashAttention was requested and cannot be used here"),
    S("flash_attention", "flash attention", 0.9,
      "FlashAttention 2 is not available here, or its installation is broken",
      r"(?i)flash ?attention(?: ?2(?:\.0)?)? (?:is not available|installation seems to be "
      r"broken|is not installed)"),
    S("flash_attention", "flashattention only supports ampere gpus or newer", 0.95,
      "this GPU is older than Ampere"),
    S("flash_attention", "flashattention is only supported on cuda", 0.9,
      "flash-attn needs a newer CUDA"),
    S("flash_attention", "does not support flash attention", 0.85,
      "this model class has no FlashAttention implementation"),
    S("flash_attention", "flashattention backward for head dim", 0.85,
      "this head size needs an A100/H100 for the backward pass"),
    S("flash_attention", "backward requires a100", 0.8,
      "this head size needs an A100/H100 for FlashAttention's backward pass",
      r"(?i)head ?dim\s*>\s*\d+\s+backward requires a100"),
    S("flash_attention", "flash-attn", 0.6, "flash-attn failed", refine=_errorish),
    S("flash_attention", "memory_efficient_attention", 0.5,
      "xformers has no kernel for this setup (built for another torch/CUDA?)",
      r"No operator found for `memory_efficient_attention"),
    S("flash_attention", "only support fp16 and bf16", 0.45, "FlashAttention got float32 inputs"),
    # ---- numeric_overflow
    S("numeric_overflow", "probability tensor contains", 0.9,
      "sampling got inf/NaN probabilities: the logits overflowed (float16?) or the weights are NaN",
      fixes=("load in bfloat16 or float32 instead of float16",)),
    S("numeric_overflow", "without overflow", 0.8,
      "a value does not fit in the dtype (float16 max is 65504)",
      r"cannot be converted to type \S*Half without overflow|without overflow"),
    S("numeric_overflow", "returned nan values in its", 0.8, "autograd produced NaN"),
    S("numeric_overflow", "nan or inf found in input tensor", 0.6,
      "NaN/inf appeared in the tensors"),
    S("numeric_overflow", "nan", 0.55, "the loss became NaN/inf",
      r"(?i)\bloss\b.{0,20}\b(?:is|became|=)\s*(?:nan|inf)\b"),
    S("numeric_overflow", "gradient overflow", 0.55, "fp16 gradients overflowed"),
    S("numeric_overflow", "overflow encountered", 0.35, "a numeric overflow warning", kind="hint"),
    # ---- context_too_long
    S("context_too_long",
      "token indices sequence length is longer than the specified maximum sequence length", 0.45,
      "the input has more tokens than the model's maximum length", kind="hint"),
    S("context_too_long", "index out of range in self", 0.6,
      "an embedding lookup went past the table: a position (or token id) beyond the model's limit",
      refine=_index_out_of_range),
    S("context_too_long", "srcindex < srcselectdimsize", 0.65,
      "a GPU index_select went past the table (the device-side assert of an embedding lookup out "
      "of range)"),
    S("context_too_long", "indexselectlargeindex", 0.65,
      "a GPU embedding lookup went out of range"),
    S("context_too_long", "index out of bounds", 0.65,
      "a GPU gather/embedding lookup went past its table (the device-side assert of an index out "
      "of range)",
      # (torch.compile's generated kernels assert on their temporaries: "0 <= tmp16 < 40960",
      # round 65)
      r"vectorized gather kernel index out of bounds|ind < ind_dim_size|index out of bounds: 0 "
      r"<= tmp\d+ < \d+"),
    S("context_too_long", "indexselectsmallindex", 0.65,
      "a GPU embedding lookup went out of range"),
    S("context_too_long", "cudaerrorassert", 0.3,
      "a GPU kernel assertion failed (often an index out of range; the real error is reported "
      "late)", kind="symptom"),
    S("context_too_long", "device-side assert triggered", 0.35,
      "a GPU kernel assertion failed (often an index out of range; the real error is reported "
      "late)", kind="symptom",
      fixes=("rerun with CUDA_LAUNCH_BLOCKING=1 (or on CPU) to see the failing operation",)),
    S("context_too_long", "input length of input_ids is", 0.8,
      "the prompt is longer than max_length allows"),
    S("context_too_long", "is longer than the maximum model length", 0.9,
      "the prompt is longer than the server's max model length"),
    S("context_too_long", "exceeds limit of", 0.85, "the prompt exceeds the model's context limit",
      r"(?i)(?:prompt|input).{0,40}too long and exceeds limit of"),
    S("context_too_long", "maximum context length is", 0.9,
      "the request is longer than the model's context window"),
    S("context_too_long", "exceed context window", 0.9,
      "the request is longer than the model's context window"),
    S("context_too_long", "max_position_embeddings", 0.65,
      "the sequence exceeds max_position_embeddings",
      r"(?i)max_position_embeddings\W.{0,40}(?:exceed|larger|greater|longer|>)|(?:exceed|larger|greater|longer|>)\w*.{0,60}\bmax_position_embeddings"),
    S("context_too_long", "too long", 0.7, "the input is too long for the model",
      r"(?i)(?:sequence|input|prompt|context)\b.{0,40}\btoo long\b|\btoo "
      r"long\b.{0,40}\b(?:sequence|tokens|context)"),
    S("context_too_long", "exceeds the maximum", 0.7, "the sequence exceeds the model's maximum",
      r"(?i)(?:sequence|input|token).{0,40}exceeds the maximum"),
    S("context_too_long", "cublas_status_execution_failed", 0.4,
      "a cuBLAS kernel failed, most often after an out-of-range index upstream", kind="symptom"),
    S("context_too_long", "must match the size of tensor b", 0.5,
      "a tensor is longer than the model's position table",
      r"size of tensor a \((?P<a>\d+)\) must match the size of tensor b \((?P<b>\d+)\)",
      refine=_tensor_sizes),
    # ---- families seen in real reports: cut lines, other libraries' wording, serving engines
    S("host_oom", "killed", 0.55,
      "the report quotes the process being killed (the OOM killer's SIGKILL)",
      r"(?i)(?:message|with|got|says?|prints?|shows?)\s*(?:an?\s+)?[`'\"]killed\.?[`'\"]",
      tag="kill"),
    S("numeric_overflow", "loss scale already at minimum", 0.85,
      "the fp16 loss scaler kept finding inf/NaN gradients: the model overflows in float16"),
    S("numeric_overflow", "input contains nan", 0.6,
      "NaN values reached the output (float16 overflow?)"),
    S("numeric_overflow", "invalid value encountered in cast", 0.45,
      "NaN/inf values were cast to integers (an image or output computed in float16 that "
      "overflowed)",
      kind="hint"),
    S("numeric_overflow", "nan", 0.55, "the loss became NaN", r"(?i)\b\w*loss\w*\s*[=:]\s*nan\b"),
    S("permission_or_disk", "shared memory segment", 0.85,
      "/dev/shm is too small (a container's default 64 MB?)",
      r"(?i)(?:error|fail\w*)\b.{0,30}shared memory segment",
      fixes=("enlarge /dev/shm (docker --shm-size=8g or --ipc=host)",)),
    S("permission_or_disk", "access is denied", 0.85, "Windows refused access to that path"),
    S("nccl_distributed", "socket creation failed", 0.7,
      "NCCL could not create its bootstrap socket (no usable network interface?)"),
    S("quantization_error", "loaded in 8-bit", 0.7,
      "this operation does not work on a quantized (8-bit/4-bit) model",
      r"(?i)(?:cannot|can't|not supported|unable)\b.{0,60}\bloaded in (?:8|4)-bit"),
    S("quantization_error", "loaded in 4-bit", 0.7,
      "this operation does not work on a quantized (4-bit) model",
      r"(?i)(?:cannot|can't|not supported|unable)\b.{0,60}\bloaded in 4-bit"),
    S("remote_code", "no module named", 0.75,
      "a dotted module name with a dash cannot be a Python package: it is a model directory "
      "loaded as the repository's own code (dynamic modules take the folder name; rename it "
      "without dots or dashes)",
      r"No module named '(?=[\w.-]*-)(?=[\w.-]*\.)[\w.-]+'"),
    S("remote_code", "no module named 'transformers_modules", 0.8,
      "the model's own code could not be imported from the dynamic-module cache (a dot or dash in "
      "the directory name, or a file of the repository's code missing)"),
    S("tokenizer_error", "textinputsequence must be str", 0.8,
      "the fast tokenizer was given something that is not text"),
    S("tokenizer_error", "inputsequence must be", 0.7,
      "the fast tokenizer was given input of the wrong type"),
    S("cuda_unavailable", "is cuda available: false", 0.6,
      "torch's environment report says CUDA is not available"),
    S("cuda_unavailable", "is_available()", 0.6, "torch.cuda.is_available() returns False",
      r"(?i)cuda\.is_available\(\).{0,24}\bFalse\b"),
    S("host_oom", "code 137", 0.6, "exit code 137 = 128 + 9: the process was killed by SIGKILL",
      r"(?i)\bcode:?\s*137\b", tag="kill"),
    S("quantization_error", "cublas api failed with status", 0.6,
      "bitsandbytes' int8 matmul failed in cuBLAS (bitsandbytes built for another CUDA, or this "
      "GPU lacks the kernels)"),
    S("flash_attention", "to be true, but got false", 0.7,
      "a FlashAttention kernel needs a newer GPU architecture (this check asks for sm80/sm8x/sm90)",
      r"Expected is_sm\d+\w* to be true"),
    S("context_too_long", "is greater than the derived max_model_len", 0.8,
      "the requested max model length is longer than the model's position table"),
    S("cuda_oom", "kv cache is needed, which is larger than the available", 0.9,
      "the KV cache for one sequence of max_model_len tokens does not fit in the GPU memory left",
      fixes=("lower --max-model-len or raise --gpu-memory-utilization",)),
    S("cuda_oom", "not enough kv cache memory", 0.85,
      "the KV cache that fits is too small for the configured max length"),
    S("cuda_oom", "insufficient memory for kv cache", 0.85,
      "the KV cache does not fit in the memory left"),
    S("cuda_oom", "not enough memory", 0.6,
      "the engine ran short of memory for its KV cache or encoder cache",
      r"(?i)not enough memory.{0,80}(?:kv cache|cache blocks|encoder cache|gpu)"),
    S("cuda_oom", "encoder cache", 0.55, "profiling the vision encoder's cache ran out of memory",
      r"(?i)encoder cache.{0,80}(?:out of memory|not enough|exceed|too (?:small|large))"),
    S("host_oom", "worker died", 0.5,
      "a serving engine's worker process died without a traceback (killed for RAM?)",
      r"(?i)worker (?:process(?:es)?|proc)?\s*(?:has |have )?died", tag="kill"),
    S("host_oom", "engine core", 0.45, "the serving engine's core process died without a traceback",
      r"(?i)engine ?core (?:proc(?:ess)?\s*)?(?:died|failed|dead|has died)\b|enginedeaderror",
      tag="kill"),
    S("host_oom", "exited unexpectedly", 0.6,
      "the serving engine's core process exited without a traceback: it was killed (SIGKILL, "
      "most often the OOM killer)",
      r"(?i)engine ?core\b.{0,30}exited unexpectedly", tag="kill"),
    S("host_oom", "enginedeaderror", 0.45,
      "the serving engine's core process died (look at the first error above it)",
      tag="kill", kind="symptom"),
    S("permission_or_disk", "/dev/shm", 0.7,
      "shared memory (/dev/shm) is full or its objects are stale",
      r"(?i)/dev/shm.{0,80}(?:no space|full|exists|permission|denied|cannot|failed)"
      r"|(?:no space|full|exists|cannot|failed).{0,80}/dev/shm"),
    S("port_in_use", "zmqerror", 0.6, "ZMQ could not bind its socket (address in use?)",
      r"(?i)ZMQError.{0,40}(?:address|bind|in use)"),
    S("port_in_use", "errno 98", 0.9, "another process is listening on that address/port"),
    S("port_in_use", "errno 48", 0.9, "another process is listening on that address/port (macOS)"),
    S("port_in_use", "winerror 10048", 0.9, "another process is listening on that port (Windows)"),
    # ---- session 7, part 1: version, dependency, remote code, tokenizer, file, disk, port and
    # distributed surfaces read from the libraries' raise sites
    S("version_mismatch", "can't get attribute", 0.85,
      "the pickled file names something the installed release of that library does not have: it "
      "was saved by another (most often newer) version",
      _PICKLED_GLOBAL, refine=_pickled_global,
      fixes=("load it with the library version that saved it (upgrade torch for a checkpoint "
             "from a newer torch), or re-save it as safetensors there",)),
    # caffe2/serialize/inline_container.cc: a zip checkpoint whose format is newer than this torch
    S("version_mismatch", "your pytorch installation may be too old", 0.9,
      "the checkpoint was written by a newer torch whose file format this torch cannot read"),
    S("version_mismatch", "attempted to read a pytorch file with version", 0.85,
      "the checkpoint was written by a newer torch whose file format this torch cannot read"),
    # transformers <= 4.33 (tokenization_utils_base._from_pretrained): added tokens must follow
    # the vocabulary; tokenizers saved by 4.34+ list special tokens with their own ids. Keyed on
    # the half of "Non-consecutive added token X found. Should have index N but has index M in
    # saved vocabulary." that carries the numbers, so a paste wrapped after "found." reads too.
    S("version_mismatch", "in saved vocabulary", 0.8,
      "transformers older than 4.34 cannot read added tokens saved by a newer release (which "
      "lists special tokens of the base vocabulary, such as <unk> at 0, among them)",
      r"Should have index (?P<want>\d+) but has index (?P<has>\d+) in saved vocabulary",
      refine=_added_token_below,
      fixes=("pip install -U transformers (4.34 or newer), or the version the model card names",)),
    # protobuf >= 4 (google/protobuf/descriptor.py) refuses _pb2 modules generated by old protoc.
    S("version_mismatch", "descriptors cannot be created directly", 0.85,
      "the installed protobuf (4+) is newer than the generated _pb2 code another package ships",
      fixes=("pip install 'protobuf<=3.20.3', or set PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python",
             "or upgrade the package whose _pb2 files are out of date")),
    # vLLM / SGLang model registries: the architecture is newer than the engine.
    S("version_mismatch", "are not supported for now", 0.8,
      "this serving engine's release does not implement the model's architecture",
      r"(?i)model architectures? \[?.{0,120}\]? (?:are|is) not supported for now",
      fixes=("upgrade vllm / sglang to a release that lists the architecture",)),
    S("version_mismatch", "newer version", 0.6, "the code asks for a newer library release",
      r"(?i)\b(?:requires?|needs?|need to (?:install|use)|please (?:install|use|upgrade to))\b"
      r".{0,30}\bnewer version\b"),
    # torch/utils/cpp_extension.py and setuptools' MSVC check: a build tool is missing.
    S("missing_dependency", "ninja is required to load c++ extensions", 0.9,
      "building the C++/CUDA extension needs ninja, which is not installed",
      fixes=("pip install ninja",)),
    S("missing_dependency", "microsoft visual c++ 14.0 or greater is required", 0.85,
      "a package has to be compiled and the Microsoft C++ Build Tools are not installed",
      fixes=("install 'Microsoft C++ Build Tools', or pip install a prebuilt wheel",)),
    S("remote_code", "unrecognized configuration class", 0.85,
      "the config class comes from the repository's own code and this Auto class has no mapping "
      "for it: load the class its auto_map names",
      _REMOTE_CONFIG_CLASS,
      # (round 51) for AutoTokenizer it is more often the tokenizer files missing (below)
      refine=lambda m, s: 0.45 if "to build an autotokenizer" in s.line_text.lower() else 1.0,
      fixes=("use the Auto class listed in config.json's auto_map (often AutoModel or "
             "AutoModelForCausalLM) with trust_remote_code=True",)),
    # transformers' special-token getters log this at error level; a missing pad token is what
    # breaks batching and padding.
    S("tokenizer_error", "using pad_token, but it is not set yet", 0.6,
      "the tokenizer has no pad token", kind="hint",
      fixes=("tokenizer.pad_token = tokenizer.eos_token",)),
    # transformers' tokenizer __call__: the input is not text.
    S("tokenizer_error", "text input must be of type", 0.75,
      "the tokenizer was given something that is not text or a list of texts"),
    # tokenizers' decode (PyO3 argument conversion): a batch given to decode.
    S("tokenizer_error", "argument 'ids'", 0.65,
      "decode got a batch or tensor of another shape: use batch_decode for a list of sequences",
      r"argument 'ids': '?\w+'? object cannot be interpreted as an integer"),
    # vLLM's model loader and config, peft's config, transformers' sharded loader.
    S("missing_file", "cannot find any model weights with", 0.85,
      "no weight files (safetensors/bin/pt) were found at the model path"),
    S("missing_file", "invalid repository id or local directory specified", 0.85,
      "the model path does not exist and is not a hub id"),
    S("missing_file", "can't find 'adapter_config.json' at", 0.85,
      "the adapter directory or hub id has no adapter_config.json"),
    S("missing_file", "can't find a checkpoint index", 0.8,
      "the sharded checkpoint's index file is not in the directory"),
    S("missing_file", "the system cannot find the path specified", 0.7,
      "a path does not exist (Windows)", refine=_not_subprocess),
    S("missing_file", "the system cannot find the file specified", 0.65,
      "a file does not exist (Windows)", refine=_not_subprocess),
    # CPython's unpickler and llama.cpp's GGUF loader on damaged files.
    S("corrupt_checkpoint", "unpickling stack underflow", 0.75,
      "the pickle data is damaged or is not a pickle"),
    S("corrupt_checkpoint", "data is not within the file bounds", 0.9,
      "a tensor lies past the end of the GGUF file: the file is truncated or incomplete"),
    # NCCL's shared-memory transport (src/misc/shmutils.cc) cannot create its segment: /dev/shm
    # is full or too small (a container's 64 MB default); the NCCL errors around it are fallout.
    S("permission_or_disk", "shared memory segment", 0.97,
      "NCCL could not create its shared-memory segment: /dev/shm is full or too small",
      r"(?i)error while (?:creating|attaching to) shared memory segment",
      fixes=("enlarge /dev/shm (docker --shm-size=1g or --ipc=host), or set NCCL_SHM_DISABLE=1",),
      tag="over:nccl_distributed"),
    S("permission_or_disk", "there is not enough space on the disk", 0.9,
      "the disk is full (Windows)"),
    S("permission_or_disk", "being used by another process", 0.7,
      "another process holds the file open (Windows cannot replace or delete it)",
      r"(?i)cannot access the file because it is being used by another process"),
    # torch's c10d TCPStore (torch/csrc/distributed/c10d/socket.cpp): the store's server cannot
    # listen (MASTER_PORT taken), or a client cannot reach it.
    S("port_in_use", "the server socket has failed to listen on any local network address", 0.85,
      "the rendezvous store could not listen on MASTER_PORT: another process holds it",
      fixes=("pick a free MASTER_PORT (--master_port), or stop the earlier run",)),
    # (its per-address warning, "[c10d] The client socket has failed to connect to [localhost]:
    # 29500 (errno: 97 ...)", is torch trying IPv6 first: benign)
    S("nccl_distributed", "the client socket has failed to connect to any network address", 0.8,
      "a rank could not reach the rendezvous store (MASTER_ADDR/MASTER_PORT wrong, firewalled, "
      "or rank 0 not up)"),
    # CPython's unpickler: a pickle written by a newer Python (protocol 5 needs 3.8).
    S("version_mismatch", "unsupported pickle protocol", 0.85,
      "the file was pickled by a newer Python than this one can read",
      fixes=("load it with the Python version that wrote it (3.8+ for protocol 5), or re-save it "
             "with a lower protocol",)),
    # Python too old for the library's annotations: PEP 585 generics (3.9) and PEP 604 unions
    # (3.10) evaluated at import time.
    S("version_mismatch", "'type' object is not subscriptable", 0.6,
      "code written for Python 3.9+ (list[int] annotations) runs on an older Python"),
    S("version_mismatch", "unsupported operand type(s) for |", 0.7,
      "code written for Python 3.10+ (X | None annotations) runs on an older Python",
      r"unsupported operand type\(s\) for \|: '(?:type|typing\.\w+|types\.\w+|_GenericAlias)' "
      r"and '\w+'"),
    # llama.cpp (llama-model-loader / llama-vocab) and mlx-lm: a model newer than the runtime.
    S("version_mismatch", "unknown model architecture", 0.85,
      "this llama.cpp (or a runtime built on it) predates the model's architecture",
      r"(?i)unknown model architecture: '[\w.-]+'",
      fixes=("update llama.cpp / ollama / llama-cpp-python to a release that knows the "
             "architecture",)),
    S("version_mismatch", "unknown pre-tokenizer type", 0.8,
      "this llama.cpp predates the GGUF's pre-tokenizer"),
    S("version_mismatch", "not supported", 0.7,
      "this mlx-lm release does not implement the model type",
      r"^ValueError: Model type [\w.-]+ not supported\.?$"),
    S("version_mismatch", "failed to be inspected", 0.55,
      "vLLM could not import its implementation of the architecture (most often a vllm / "
      "transformers version pair that do not match)",
      r"(?i)model architectures? \[.{0,120}\] failed to be inspected"),
    # dependency messages in the form transformers and the audio/vision helpers use
    S("missing_dependency", "please install", 0.7, "a package the code needs is not installed",
      r"(?i)(?:importerror|modulenotfounderror)\b.{0,200}\bplease install\b|\b(?:to use|to "
      r"support|requires?)\b.{0,80}\bplease install\b"),
    S("missing_dependency", "requires the", 0.7, "a package the code needs is not installed",
      r"(?i)\brequires the [`'\"]?[\w.-]+[`'\"]? (?:library|package)\b"),
    S("missing_dependency", "ffmpeg", 0.9,
      "the ffmpeg program is not installed (audio/video decoding)",
      r"(?i)\bffmpeg\b.{0,40}\b(?:was not found|not found|is not installed|could not be found)"
      r"|(?:could not find|couldn't find|cannot find|can't find|no such file or directory:?)"
      r" '?ffmpeg", tag="over:missing_file",
      fixes=("install ffmpeg (apt install ffmpeg / brew install ffmpeg / conda install ffmpeg)",)),
    # tokenizers' truncation (tokenizers/src/utils/truncation.rs)
    S("tokenizer_error", "truncation error", 0.75,
      "the truncation strategy does not fit the input (a pair strategy on a single sequence, or a "
      "max_length shorter than the special tokens)"),
    # huggingface_hub / transformers on gated or private repositories
    S("permission_or_disk", "you are trying to access a gated repo", 0.8,
      "the model is gated: your account has no access / no token was given",
      fixes=("accept the license on the model page, then `huggingface-cli login` (or HF_TOKEN)",)),
    S("permission_or_disk", "401 client error", 0.5,
      "the hub refused the request without a valid token (gated or private repository)",
      r"(?i)401 Client Error: Unauthorized for url: https?://(?:huggingface\.co|hf\.co)"),
    # h5py / gzip on damaged files
    S("corrupt_checkpoint", "file signature not found", 0.8,
      "the HDF5 weights file is damaged or is not HDF5 (a git-lfs pointer?)"),
    S("corrupt_checkpoint", "not a gzipped file", 0.7, "the archive is damaged or not gzip"),
    # transformers' Cache API (cache_utils.py) met by code written for tuple caches, or the
    # reverse: the model code and the installed transformers are from different eras.
    S("version_mismatch", "cache only has", 0.75,
      "the model code indexes a cache layout of another transformers release",
      r"Cache only has \d+ layers, attempted to access layer with index \d+"),
    S("version_mismatch", "object has no attribute", 0.75,
      "the model code expects the Cache API of another transformers release (tuple caches vs "
      "Cache objects)",
      r"'(?:tuple|list)' object has no attribute '(?:get_seq_length|get_usable_length|update|"
      r"to_legacy_cache|get_max_cache_shape|get_max_length|seen_tokens|key_cache|value_cache)'"),
    # torch: Dynamo not yet built for this Python; a C++ operator of an extension built for
    # another torch (torchvision::nms the best known).
    S("version_mismatch", "is not supported on python", 0.85,
      "this torch release has no torch.compile / Dynamo support for this Python version",
      r"(?i)(?:dynamo|torch\.compile) is not supported on python \d+\.\d+"),
    S("version_mismatch", "not yet supported for torch.compile", 0.85,
      "this torch release has no torch.compile support for this Python version"),
    S("version_mismatch", "does not exist", 0.8,
      "an extension's operator is not registered: it was built for another torch release",
      r"operator \w+::\w+ does not exist"),
    # a build step with no compiler / toolkit (setuptools, torch's cpp_extension)
    S("missing_dependency", "failed: no such file or directory", 0.85,
      "the compiler a build needs is not installed",
      r"command '[\w.+/-]+' failed: No such file or directory",
      fixes=("install a C/C++ compiler (apt install build-essential), or a prebuilt wheel",)),
    S("missing_dependency", "cuda_home environment variable is not set", 0.7,
      "building a CUDA extension needs the CUDA toolkit (nvcc), which is not installed or not "
      "found",
      fixes=("install the CUDA toolkit matching torch.version.cuda and set CUDA_HOME, or install "
             "a prebuilt wheel",)),
    # ollama, datasets and transformers' vocabulary loaders
    S("missing_file", "try pulling it first", 0.85,
      "the model is not in ollama's local store", r"(?i)model ['\"]?[\w.:/-]+['\"]? not found"),
    S("missing_file", "couldn't find a dataset script at", 0.75,
      "the dataset path or hub id does not exist"),
    S("missing_file", "couldn't find any data file at", 0.75,
      "the dataset path or hub id does not exist"),
    S("missing_file", "can't find a vocabulary file at path", 0.8,
      "the tokenizer's vocabulary file is not at that path"),
    # llama.cpp's GGUF reader (gguf.cpp) on a short or damaged file
    S("corrupt_checkpoint", "gguf_init_from_file", 0.8,
      "the GGUF file could not be read: truncated or damaged",
      r"gguf_init_from_file\w*: failed to read"),
    # reports in words (issue titles, one-liners typed from memory)
    S("remote_code", "trust-remote-code", 0.75,
      "the report says the load needs --trust-remote-code (the model ships its own code)",
      r"(?i)\b(?:without|needs?|needed|requires?|missing|enable)\b.{0,30}--trust-remote-code"),
    S("remote_code", "trust_remote_code", 0.75,
      "the report says the load needs trust_remote_code (the model ships its own code)",
      r"(?i)\b(?:without|needs?|needed|requires?|missing|enable)\b.{0,30}\btrust_remote_code"),
    S("port_in_use", "not available", 0.75,
      "the server found its port taken (SGLang and others check the port before binding)",
      r"(?i)\bport\b\W{0,3}\d{2,5}\W{0,3}(?:is )?not available"),
    S("version_mismatch", "model type", 0.7,
      "the installed library does not know the model's type: it predates the model",
      r"(?i)\bmodel[_ ]type\b.{0,40}\b(?:is )?(?:not recognized|unrecognized|not recognised)"),
    S("version_mismatch", "compatible with", 0.7,
      "the report names a library version the code does not work with",
      r"(?i)\b(?:incompatible|not compatible) with (?:transformers|torch|pytorch|tokenizers|vllm|"
      r"accelerate|peft|numpy|python|diffusers|sglang)\b"),
    # ---- session 7, part 2: NaN outputs, MLX / CTranslate2 / ggml loaders, exllama, Whisper
    # A generation of nothing but "!": token id 0 is "!" in the GPT-2-style byte-level BPE
    # vocabularies (GPT-2, Llama 3, Qwen, GLM-4), and argmax/sampling over NaN logits picks id 0.
    S("numeric_overflow", "!!!!!!!!", 0.6,
      "the model generated only '!' (token id 0): its logits are NaN, most often float16 "
      "overflowing", r"^[\s!\uff01]*!{8,}[\s!\uff01]*$", fixes=_NAN_FIX),
    S("numeric_overflow", "!!!", 0.6,
      "the output is only '!' (token id 0): the logits are NaN (float16 overflow?)",
      r"(?i)\b(?:outputs?|generat\w*|respon\w*|answers?|repl\w*|return\w*|results?|gives?|"
      r"prints?|produces?|only)\b[^!\n]{0,30}?[\s\"'`:(\[]!{3,}(?![^\s\"'`)\]])",
      fixes=_NAN_FIX),
    S("numeric_overflow", "exclamation", 0.55,
      "the output is only exclamation marks (token id 0): the logits are NaN (float16 overflow?)",
      r"(?i)exclamation (?:marks?|points?)", refine=_output_words, fixes=_NAN_FIX),
    S("numeric_overflow", "\u611f\u53f9\u53f7", 0.55,
      "the output is only exclamation marks (token id 0): the logits are NaN (float16 overflow?)",
      fixes=_NAN_FIX),
    S("numeric_overflow", "\uff01\uff01\uff01\uff01", 0.55,
      "the output is only exclamation marks (token id 0): the logits are NaN (float16 overflow?)",
      fixes=_NAN_FIX),
    # A printed tensor full of NaN (torch's repr: "tensor([[nan, nan, ...").
    S("numeric_overflow", "nan,", 0.55, "a tensor printed in the log is all NaN",
      r"(?i)\bnan,\s+nan,\s+nan\b", fixes=_NAN_FIX),
    # AUTOMATIC1111's NansException: "A tensor with all NaNs was produced in Unet/VAE".
    S("numeric_overflow", "a tensor with all nans was produced", 0.85,
      "the UNet or VAE produced NaN in half precision",
      fixes=("run the VAE in float32 (--no-half-vae), or use --no-half",)),
    # Black images from a diffusion model in float16: the VAE overflowed to NaN (the safety
    # checker's black image says "NSFW" and is not this).
    S("numeric_overflow", "black", 0.55,
      "black images in float16: the VAE (or UNet) overflowed to NaN",
      r"(?i)\b(?:all|only|pure|completely|fully)?\s*black\b.{0,40}"
      r"(?:\b(?:fp16|float16|half|f16)\b|\b16[- ]?b(?:it)? float)"
      r"|(?:\b(?:fp16|float16|half|f16)\b|\b16[- ]?b(?:it)? float).{0,40}"
      r"\bblack\s+(?:images?|outputs?|results?|frames?|videos?)",
      refine=_not_nsfw, fixes=_NAN_FIX),
    # ggml's sampler: the cumulative probabilities are NaN, so upper_bound finds nothing
    # (llama.cpp llama-sampling.cpp); ggml's own NaN checks.
    S("numeric_overflow", "iter != probs.end()", 0.75,
      "sampling found no token: the probabilities are NaN (NaN logits)", fixes=_NAN_FIX),
    S("numeric_overflow", "ggml_assert", 0.7, "ggml found NaN values in a tensor",
      r"GGML_ASSERT\(!?\s*(?:std::)?isnan|GGML_ASSERT\([^)]*\bnan\b"),
    S("numeric_overflow", "found -nan", 0.7, "ggml found NaN values in a tensor",
      r"(?i)found -?nan for i\d"),
    S("numeric_overflow", "found nan", 0.7, "ggml found NaN values in a tensor",
      r"(?i)found -?nan for i\d"),
    # MLX's Module.load_weights(strict=True) (mlx/nn/layers/base.py).
    S("missing_or_unexpected_keys", "parameters not in model", 0.85,
      "the weights hold parameters the MLX model does not have",
      r"Received (?:\d+ )?parameters not in model"),
    S("missing_or_unexpected_keys", "missing", 0.85,
      "parameters of the MLX model are not in the weights",
      r"\bMissing \d+ parameters?:|\bMissing parameters: \S"),
    S("size_mismatch", "but received shape", 0.85,
      "a weight has another shape than the MLX model's parameter",
      r"Expected shape \(?[\d, ]*\)? but received shape"),
    # CTranslate2's model spec validation (python/ctranslate2/specs/model_spec.py).
    S("size_mismatch", "but the model expected a vocabulary of size", 0.85,
      "the vocabulary's size differs from the model's embedding (tokens added or removed)"),
    # The exllama GPTQ kernels' scratch buffer (auto_gptq / transformers' exllama backend).
    S("quantization_error", "temp_state buffer is too small", 0.85,
      "the exllama GPTQ backend's buffer is sized for a shorter input",
      fixes=("call auto_gptq.exllama_set_max_input_length(model, N) with N >= the input length, "
             "or disable exllama in the quantization config",)),
    # A GGUF/GGML loader that does not know this quantization (file) type.
    S("quantization_error", "unsupported", 0.6,
      "the loader does not support this GGUF/GGML quantization type",
      r"(?i)unsupported (?:gguf |ggml )?(?:file|quant(?:ization)?|tensor) ?type",
      refine=_ggml_context),
    # Whisper's generate(): prompt + max_new_tokens past the decoder's position table.
    S("context_too_long", "max_target_positions", 0.85,
      "the decoder input plus max_new_tokens exceeds the model's max_target_positions",
      r"(?i)exceeds? the `?max_target_positions`?"),
    S("context_too_long", "max_source_positions", 0.8,
      "the input exceeds the model's max_source_positions",
      r"(?i)exceeds? the `?max_source_positions`?|longer than `?max_source_positions"),
    # MPICH (hydra) prints the signal that ended a rank as its exit code.
    S("host_oom", "exit code: 9", 0.65,
      "a rank ended with signal 9 (SIGKILL), most often the OOM killer",
      r"(?i)\bexit code:\s*9\s*$", refine=_mpi_kill, tag="kill"),
    S("missing_or_unexpected_keys", "were not used when initializing", 0.45,
      "checkpoint weights were left unused (names do not match, or a head for another task)",
      kind="hint", refine=_keys_warning_alone),
    # cuDNN finds no convolution algorithm when it cannot get workspace memory (torch's
    # aten/src/ATen/native/cudnn/Conv_v7.cpp / Conv_v8.cpp).
    S("cuda_oom", "unable to find a valid cudnn algorithm", 0.6,
      "cuDNN found no algorithm that fits, most often because the GPU is out of memory"),
    S("cuda_oom", "cudnn_status_alloc_failed", 0.8, "cuDNN could not allocate GPU memory"),
    # Schedulers and shells that report a kill for memory.
    S("host_oom", "exceeded memory limit", 0.8,
      "the job went past its memory limit and the scheduler killed it",
      r"(?i)exceeded (?:its |the )?(?:job )?memory limit", tag="kill"),
    S("host_oom", "killed", 0.7, "the shell reports the process killed (SIGKILL: the OOM killer?)",
      r"^(?:(?:zsh|bash|sh|fish|ksh):\s*|\[\d+\]\s*[+-]?\s*\d*\s*)killed\s", tag="kill"),
    S("host_oom", "excessive memory usage", 0.65,
      "a worker of the process pool was killed, most often for using too much memory",
      r"(?i)excessive memory usage causing the operating system to kill", tag="kill"),
    # vLLM's DeviceConfig: no CUDA/ROCm/XPU/CPU platform was detected.
    S("cuda_unavailable", "failed to infer device type", 0.75,
      "vLLM found no usable accelerator (no GPU visible in the container, or a build for "
      "another platform)"),
    S("cuda_driver_mismatch", "unsupported_ptx_version", 0.85,
      "the kernels' PTX is newer than this driver can compile"),
    # torch's convolution: input and bias of different dtypes or devices.
    S("dtype_unsupported", "and bias type", 0.85, "the input and the bias have different dtypes",
      r"Input type \((?P<a>[\w.:]+)\) and bias type \((?P<b>[\w.:]+)\) should be the same",
      refine=_input_weight_type("dtype")),
    S("device_mismatch", "and bias type", 0.85, "the input and the bias are on different devices",
      r"Input type \((?P<a>[\w.:]+)\) and bias type \((?P<b>[\w.:]+)\) should be the same",
      refine=_input_weight_type("device")),
    S("dtype_unsupported", "dtypes match", 0.8, "source and destination of an index_put differ in "
      "dtype", r"(?i)requires the source and destination dtypes match"),
    S("dtype_unsupported", "to match query dtype", 0.8,
      "the attention mask's dtype does not match the query's"),
    S("dtype_unsupported", "promotion for float8 types is not supported", 0.8,
      "float8 tensors met another dtype in one operation"),
    # torch.nn.DataParallel and tensor-to-numpy on the GPU.
    S("device_mismatch", "must have its parameters and buffers on device", 0.85,
      "DataParallel needs the module on its first device before wrapping"),
    S("device_mismatch", "device type tensor to numpy", 0.8,
      "a GPU tensor was handed to numpy: call .cpu() first"),
    # flash-attn's own checks, and transformers' check of a remote modeling file's imports.
    S("flash_attention", "flashattention forward only supports head dimension", 0.8,
      "this head size is not supported by FlashAttention"),
    S("flash_attention", "not found in your environment", 0.95,
      "the model's own code imports flash_attn, which is not installed",
      r"(?i)packages that were not found in your environment:.{0,60}\bflash[_-]?attn"),
    # NaN reaching sampling or a distribution.
    S("numeric_overflow", "minimum loss scale reached", 0.85,
      "the fp16 loss scaler kept finding inf/NaN gradients (fairseq)"),
    S("numeric_overflow", "invalid multinomial distribution", 0.75,
      "sampling got invalid probabilities: NaN/inf logits (float16 overflow?)", fixes=_NAN_FIX),
    S("numeric_overflow", "assertion `0 <= p", 0.65,
      "a GPU sampling kernel got a probability outside [0, 1]: NaN values (float16 overflow?)",
      r"Assertion `0 <= p\d* && p\d* <= 1` failed"),
    S("numeric_overflow", "but found invalid values", 0.6,
      "a probability distribution got invalid (NaN) parameters",
      r"to satisfy the constraint .*but found invalid values", refine=_invalid_values,
      fixes=_NAN_FIX),
    S("numeric_overflow", "cannot convert float nan to integer", 0.6,
      "a NaN value was converted to an integer (an output that overflowed?)"),
    S("numeric_overflow", "cannot convert float infinity to integer", 0.5,
      "an infinite value was converted to an integer (an output that overflowed?)"),
    # Serving engines' context checks: TGI's validation, llama.cpp's server, OpenAI's code.
    S("context_too_long", "`max_new_tokens` must be <=", 0.85,
      "the prompt plus max_new_tokens is longer than the server allows",
      r"(?i)`?inputs`? tokens \+ `?max_new_tokens`? must be <="),
    S("context_too_long", "exceeds the available context size", 0.85,
      "the request is longer than the context the server was started with"),
    S("context_too_long", "context_length_exceeded", 0.85,
      "the request is longer than the model's context window"),
    S("context_too_long", "must match the existing size", 0.6,
      "a buffer of the model's maximum length (causal mask, positions) is shorter than the input",
      r"expanded size of the tensor \((?P<a>\d+)\) must match the existing size \((?P<b>\d+)\)",
      refine=_expanded_sizes),
    # Shapes: vLLM's default weight loader, llama.cpp's loader, flax.
    S("size_mismatch", "attempted to load weight", 0.85,
      "a checkpoint tensor has another shape than the model's parameter",
      r"Attempted to load weight \(.*\) into parameter \("),
    S("size_mismatch", "has wrong shape; expected", 0.8,
      "a GGUF tensor has another shape than the model llama.cpp builds from its metadata"),
    S("size_mismatch", "scopeparamshapeerror", 0.8,
      "a checkpoint parameter has another shape than the flax model's"),
    # diffusers' from_pretrained with low_cpu_mem_usage; vLLM's AutoWeightsLoader.
    S("missing_or_unexpected_keys", "because the following keys are missing", 0.9,
      "parameters of the model are not in the checkpoint"),
    S("missing_or_unexpected_keys", "there is no module or parameter named", 0.6,
      "the checkpoint names a weight the model class does not have"),
    # Quantized models that cannot be trained or split this way.
    S("quantization_error", "fine-tuning on purely quantized models", 0.85,
      "a quantized model can only be trained through adapters (LoRA)"),
    S("quantization_error", "not aligned with the quantized weight shape", 0.8,
      "the quantized weights cannot be split across this many GPUs"),
    S("quantization_error", "is not divisible by min_thread_", 0.75,
      "the quantized kernel cannot split this layer across this many GPUs",
      r"is not divisible by min_thread_[kn]"),
    # Memory: SGLang's per-GPU balance check, Ollama's RAM check, YARN / Kubernetes / Kaggle.
    S("cuda_oom", "the memory capacity is unbalanced", 0.75,
      "the GPUs have unequal free memory: other processes hold memory on some of them"),
    S("host_oom", "requires more system memory", 0.85,
      "the model needs more RAM than the machine has free"),
    S("host_oom", "memory limit", 0.8,
      "the container or job went past its memory limit and was killed",
      r"(?i)exceed\w* (?:its |the )?(?:job |container |physical )?memory limits?",
      refine=lambda m, s: None if _GPU_WORDS.search(s.line_text) else 1.0, tag="kill"),
    S("host_oom", "low on resource: memory", 0.8,
      "the node ran out of RAM and evicted the container"),
    S("host_oom", "tried to allocate more memory than is available", 0.8,
      "the notebook ran out of RAM"),
    # NaN: scikit-learn's input check, torch's clip_grad_norm_.
    S("numeric_overflow", "contains nan", 0.6, "NaN values reached the data or the output",
      r"(?i)\binput \w+ contains nan\b"),
    S("numeric_overflow", "is non-finite, so it cannot be clipped", 0.8,
      "the gradients are inf/NaN (float16 overflow, or a learning rate too high)"),
    # transformers' reminder before generating past max_position_embeddings.
    S("context_too_long", "will exceed the model's predefined maximum length", 0.45,
      "the generation will run past the model's maximum length", kind="hint"),
    # ParlAI's transformer embeddings (warn_once, or ValueError in older releases).
    S("context_too_long", "but only have --n-positions", 0.8,
      "the input is longer than the model's --n-positions",
      r"sequence of \d+ length, but only have\s*--n-positions"),
    S("context_too_long", "but only have--n-positions", 0.8,
      "the input is longer than the model's --n-positions"),
    S("context_too_long", "is out of bounds for dimension", 0.55,
      "a position index ran past a table of the model's maximum length",
      r"index (?P<i>\d+) is out of bounds for dimension \d+ with size (?P<n>\d+)",
      refine=_index_bounds),
    # dtypes: torch's CPU mixed-dtype check, cuDNN RNN check.
    S("dtype_unsupported", "mixed dtype (cpu)", 0.8,
      "float16/bfloat16 inputs met float32 parameters on the CPU"),
    S("dtype_unsupported", "input and parameter tensors are not the same dtype", 0.8,
      "the input and the module's weights have different dtypes"),
    # devices: torch's older same-device checks.
    S("device_mismatch", "but expected them to be on", 0.85, "tensors are on the wrong device"),
    S("device_mismatch", "must be on the current device", 0.85,
      "the embedding's input and weights are on different devices",
      r"(?i)input, output and indices must be on the current device"),
    S("device_mismatch", "but got device", 0.8, "a tensor is on the wrong device",
      r"expected device \S+ but got device \S+"),
    # Apple silicon: MLX's Metal allocator and command buffers, MLX quantize, the MPS backend.
    S("cuda_oom", "greater than the maximum allowed buffer size", 0.8,
      "MLX asked Metal for a buffer larger than the GPU allows (the model or context is too "
      "large for this Mac's memory)"),
    S("cuda_oom", "kiogpucommandbuffercallbackerroroutofmemory", 0.85,
      "the Apple GPU ran out of memory"),
    S("quantization_error", "divisible by the quantization group size", 0.8,
      "a matrix cannot be quantized with this group size"),
    S("dtype_unsupported", "does not have support for that dtype", 0.85,
      "the MPS backend has no kernels for this dtype (bfloat16 on an older macOS?)"),
    S("dtype_unsupported", "mps does not support", 0.7, "the MPS backend lacks this op for int64",
      r"MPS does not support \w+ op with int64"),
    # diffusers' randn_tensor: the generator's device differs from the latents'.
    S("device_mismatch", "tensor from a generator of type", 0.85,
      "the random generator is on another device than the tensors it fills"),
    # Triton/CUDA: the compiled kernel does not load on this GPU/driver.
    S("cuda_driver_mismatch", "device kernel image is invalid", 0.7,
      "a compiled kernel does not match this GPU or driver (built for another architecture, or "
      "a newer toolchain than the driver supports)"),
    # SGLang / vLLM input checks.
    S("context_too_long", "longer than the model", 0.85,
      "the input is longer than the model's context length",
      r"longer than the model\\?'?s context length"),
    # ggml backends: a buffer for weights, KV cache or compute could not be allocated.
    S("cuda_oom", "failed to allocate", 0.75, "ggml could not allocate a GPU buffer",
      r"failed to allocate (?:CUDA|ROCm|Metal|Vulkan|SYCL|HIP)\d* buffer"),
    S("cuda_oom", "failed to allocate buffer for kv cache", 0.6,
      "llama.cpp could not allocate the KV cache (too long a context for the memory left)"),
    # No GPU reachable: NVML/driver not loaded in the container, the driver's stub library.
    S("cuda_unavailable", "driver not loaded", 0.8,
      "the NVIDIA driver is not loaded on the host (or not passed into the container)",
      r"(?i)nvml error: driver not loaded|driver not loaded"),
    S("cuda_unavailable", "failed to initialize nvml: unknown error", 0.7,
      "the container lost access to the GPU (NVML cannot reach the driver)"),
    S("cuda_unavailable", "cuda driver is a stub library", 0.8,
      "libcuda is the toolkit's stub, not a real driver: no GPU driver is installed here"),
    # NaN in half precision, however the report words it ("fp16 ... nan", "nan loss with AMP").
    S("numeric_overflow", "nan", 0.7, "NaN values in half precision: float16 overflowed",
      # ASCII-letter boundaries, not \b: a report in Chinese writes "输出nan" with no space.
      r"(?i)(?<![a-z])(?:fp16|float16|half|16[- ]?bit|mixed[- ]precision|amp)(?![a-z])"
      r".{0,60}(?<![a-z])nans?(?![a-z])"
      r"|(?<![a-z])nans?(?![a-z]).{0,60}(?<![a-z])(?:fp16|float16|half(?! of)|16[- ]?bit"
      r"|mixed[- ]precision)(?![a-z])",
      fixes=_NAN_FIX),
    # torch's _load_from_state_dict (1.x wording); llama.cpp's converter.
    S("size_mismatch", "whose dimensions in the model are", 0.9,
      "a checkpoint tensor has another shape than the model's parameter"),
    S("size_mismatch", "vocab size mismatch", 0.75,
      "the vocabulary's size differs between the model and the tokenizer"),
    # Triton's fp8 types need an Ada/Hopper GPU (fp8e4nv: sm_89+).
    S("quantization_error", "not supported in this architecture", 0.8,
      "this fp8 format needs a newer GPU (Ada / Hopper)",
      r"type fp8\w* not supported in this architecture"),
    # transformers: both load_in_4bit/8bit and a quantization_config.
    S("quantization_error", "as a kwarg when passing `quantization_config`", 0.85,
      "load_in_4bit / load_in_8bit and a quantization_config were both given"),
    # LoRA keys: diffusers' kohya conversion, AUTOMATIC1111's LoRA loader.
    S("missing_or_unexpected_keys", "have not been correctly be renamed", 0.85,
      "LoRA keys of an unknown layout could not be mapped to the model's"),
    S("missing_or_unexpected_keys", "failed to match keys when loading", 0.8,
      "the LoRA's keys do not match this model (made for another base model?)"),
    # vLLM's memory profiling saw free memory change under it: another process uses this GPU.
    S("cuda_oom", "error in memory profiling", 0.6,
      "GPU memory changed during vLLM's profiling: another process is using this GPU",
      fixes=("give the server a GPU of its own, or lower --gpu-memory-utilization",)),
    S("cuda_oom", "cublas initialization failed", 0.6,
      "cuBLAS could not initialise, most often because no GPU memory was left"),
    # How reports (issue titles, errors told from memory) name these failures in their own words.
    S("cuda_oom", "oom", 0.55, "the report says the GPU ran out of memory (OOM)",
      r"(?i)\bOOM\b.{0,60}\b(?:gpus?|cuda|vram|[AHLTV]\d{2,3}|rtx ?\d{4}|\d+ ?gb)\b"
      r"|\b(?:gpus?|cuda|vram)\b.{0,30}\bOOM\b", refine=_gpu_oom_report),
    S("host_oom", "out of", 0.7, "the report says the machine ran out of RAM",
      r"(?i)\bout of (?:cpu |host |system )(?:memory|ram)\b|\b(?:runs?|ran|running) out of "
      r"(?:cpu |host |system )?ram\b|\bout of ram\b"),
    *(S("cuda_unavailable", needle, 0.6, "the report says the GPU is not seen by this process",
        r"(?i)\bgpus?\b (?:is |was |are )?(?:not|never) (?:detected|found|recogni[sz]ed|visible"
        r"|used|being used)\b|\bno (?:gpus?|cuda devices?) (?:detected|found|available|visible)\b"
        r"|\bruns? on (?:the )?cpu instead of (?:the )?(?:gpu|cuda)\b")
      for needle in ("gpu not", "gpus not", "gpu is not", "gpu was not", "gpus are not",
                     "gpu never", "no gpu", "no cuda device", "cpu instead of")),
    S("device_mismatch", "different devices", 0.6,
      "the report says tensors were on different devices",
      r"(?i)\b(?:tensors?|inputs?|weights?|model)\b.{0,30}\b(?:on|across) (?:two )?"
      r"different devices"),
    S("missing_or_unexpected_keys", "unexpected", 0.6,
      "keys in the checkpoint that the model does not have",
      r"(?i)\bunexpected[_ ]keys?\b\s*(?:[:=]|in|when|while|after|\()\s*\S"),
    # cuBLAS creates its handle (and workspace) on first use: failing there is no GPU memory.
    S("cuda_oom", "cublas handle", 0.6,
      "cuBLAS could not create its handle, most often because no GPU memory was left",
      r"(?i)(?:create|creating|init\w*)\s+cublas handle\w*\s+fail|cublas handle.{0,30}fail"),
    # ---- session 7, round 2: older and wrapped wordings of known families
    # torch < 0.4's load_state_dict: 'unexpected key "x" in state_dict' / 'missing keys in
    # state_dict: "{...}"' (before the "Missing key(s) in state_dict:" wording).
    S("missing_or_unexpected_keys", "in state_dict", 0.85,
      "the checkpoint's parameter names differ from the model's (older torch wording)",
      r'(?i)\b(?:unexpected|missing) keys? (?:"[^"]*" )?in state_dict'),
    # transformers' added-token check (tokenization_utils: "Wrong index found for {token}:
    # should be {id} but found {index}"): added tokens saved out of order for this vocabulary.
    S("tokenizer_error", "wrong index found for", 0.8,
      "the tokenizer's added tokens do not follow its vocabulary (ids out of order)"),
    # tokenizers' Python binding refusing an input that is not text ("Can't convert X to
    # PyTuple / Sequence"): a None, a number or a nested list reached the tokenizer.
    S("tokenizer_error", "can't convert", 0.65,
      "the tokenizer was given something that is not text (None, a number, a nested list)",
      r"Can't convert .{0,80} to (?:PyTuple|Sequence|PyString|PyList)"),
    # Diffusion pipelines: a black image or output with no error is the VAE/UNet overflowing
    # to NaN in half precision (the safety checker's black image says NSFW: not this).
    S("numeric_overflow", "black", 0.5,
      "black images from a diffusion model: the VAE (or UNet) overflowed to NaN in half "
      "precision",
      r"(?i)\bblack\s+(?:images?|outputs?|results?|pictures?|frames?|videos?|screen)\b"
      # or described so: "the results are all black"
      r"|\b(?:images?|outputs?|results?|pictures?|samples?)\s+(?:are|is|were|was|come out"
      r"|came out|turns?(?: out)?|turned(?: out)?)\s+(?:all |completely |fully |pure |just )?"
      r"black\b",
      refine=_diffusion_black, fixes=_NAN_FIX),
    # float16's largest finite value (65504) named beside inf/overflow: values past it become inf.
    S("numeric_overflow", "655", 0.6,
      "values beyond float16's maximum (65504) become inf",
      r"(?i)(?<![\d.])(?:65504|65519|65520)(?!\d).{0,60}(?<![a-z])(?:inf|nan|overflow)"
      r"|(?<![a-z])(?:inf|nan|overflow)[a-z]*.{0,60}(?<![\d.])(?:65504|65519|65520)(?!\d)",
      fixes=_NAN_FIX),
    # ---- session 8 (written on the j/k/l/m tune logs after scoring them fresh)
    # gguf-py's reader (and other GGUF readers) on a file that is not a whole GGUF.
    S("corrupt_checkpoint", "magic invalid", 0.75,
      "the file does not start with the GGUF magic: damaged, incomplete or not a GGUF file",
      r"(?i)\bGGUF magic invalid|\bmagic (?:number )?(?:is )?invalid"),
    # ptxas refusing bfloat16 instructions below compute capability 8.0 (Triton/bf16 kernels
    # compiled for a V100, T4, RTX 20xx): the GPU has no bf16, not a driver problem.
    S("dtype_unsupported", "requires .target sm_", 0.9,
      "bfloat16 needs compute capability 8.0 (Ampere) or newer: this GPU has no bf16 kernels",
      r"Feature '[^']*bf16[^']*' requires \.target sm_[89]\d", tag="over:cuda_driver_mismatch",
      fixes=("use torch_dtype=torch.float16 (or float32) on this GPU, or a GPU of compute "
             "capability 8.0+",)),
    # ollama / llama.cpp converters: the vocabulary in the files differs from config.json's.
    S("size_mismatch", "vocabulary is larger than expected", 0.85,
      "the vocabulary has more tokens than the model's config says (tokens were added)"),
    # tokenizers' BPE model: vocab/merges files it cannot read (merges with newlines, a vocab
    # that does not match the merges).
    S("tokenizer_error", "error while initializing bpe", 0.8,
      "the tokenizer's vocab/merges files could not be read as a BPE model"),
    # tiktoken-based tokenizers (Phi-3-small, Qwen's) asked to encode special tokens they lack.
    S("tokenizer_error", "do not support unknown special tokens", 0.8,
      "the tokenizer was given special tokens it does not know: add them to it first"),
    # vLLM's attention backends: Gemma-2's logits soft-capping needs FlashAttention/FlashInfer.
    S("flash_attention", "soft capping", 0.75,
      "this attention backend has no logits soft-capping: the model needs FlashAttention or "
      "FlashInfer, which this GPU (pre-Ampere) or install lacks",
      r"(?i)does not support (?:attention )?logits soft[- ]?capping"),
    # torch.save's file writer and any other write that the OS failed with EIO.
    S("permission_or_disk", "failed with", 0.8,
      "writing the file failed: the disk is full, failing or unreachable",
      r"write\(\): fd \d+ failed with"),
    S("permission_or_disk", "input/output error", 0.65,
      "the filesystem failed an I/O (a full, failing or network disk)",
      r"(?i)\[Errno 5\] Input/output error|\bInput/output error\b"),
    # ---- session 8, round 4 (written on the n/o/p/q tune logs after scoring them fresh)
    # Chat templates (Mistral, Gemma, Llama 2) raise_exception when roles do not alternate or a
    # system role is given: the messages do not fit the model's template.
    S("tokenizer_error", "roles must alternate", 0.85,
      "the chat template rejects this conversation: roles must alternate user/assistant (and "
      "some templates take no system role)",
      fixes=("merge consecutive messages of one role, and fold a system prompt into the first "
             "user message for templates without a system role",)),
    # vLLM's get_config: no config.json (or params.json) in the directory or repo it was given.
    S("missing_file", "no supported config format found", 0.85,
      "vLLM found no config.json in the model path it was given (the wrong directory, or a hub "
      "cache root rather than its snapshot directory)"),
    # llama.cpp and similar runtimes: the prompt is longer than the context they were started with.
    S("context_too_long", "max context", 0.75,
      "the prompt is longer than the context the runtime was started with",
      r"(?i)prompt\b.{0,40}\b(?:greater|gather|larger|longer|more) than (?:the )?max(?:imum)? "
      r"context"),
    # gloo's TCP transport (gloo/transport/tcp/pair.cc) could not reach a peer rank.
    S("nccl_distributed", "gloo::ioexception", 0.8,
      "gloo could not connect to a peer rank (address, interface or firewall)",
      fixes=("set GLOO_SOCKET_IFNAME (and NCCL_SOCKET_IFNAME) to the interface the ranks share, "
             "and check MASTER_ADDR resolves to it, not to 127.0.1.1",)),
    # Apple's Metal command buffer out of GPU memory (MLX, llama.cpp's Metal backend).
    S("cuda_oom", "insufficient memory", 0.85,
      "the Metal GPU ran out of memory (the model, KV cache and activations exceed the "
      "working-set limit)",
      r"(?i)\[METAL\] Command buffer execution failed: Insufficient Memory"),
    # A program under bin/ that is not there: the package that installs it is missing.
    S("missing_dependency", "no such file or directory", 0.9,
      "the program is not installed where it is run from (its package is missing from this "
      "environment or image)",
      # a program's name (dots only in a version: python3.10), not a weights file under bin/
      r"No such file or directory: '[^']*/bin/[\w+-]+(?:\.\d+)*'", tag="over:missing_file"),
    # llama.cpp's quantizer: k-quants need tensor rows divisible by their 256-element block.
    S("quantization_error", "failed to quantize", 0.85,
      "this quantization type cannot be applied to these tensor sizes (k-quants need rows "
      "divisible by 256): pick another type",
      r"(?i)failed to quantize|required to be able to use k-quants",
      # (round 27) a quantize that failed writing its output is the output path's problem;
      # (round 51) one that met an unknown architecture is the release (version_mismatch)
      refine=lambda m, s: None if ("iostream error" in s.block_text
                                   or "unknown model architecture" in s.line_text.lower())
      else 1.0),
    # ---- session 9 (written on the r/s/t/u tune logs after scoring them fresh)
    # CUDA's cudaErrorPeerAccessUnsupported: two GPUs that cannot reach each other's memory
    # (across PCIe root complexes, on many virtualised hosts); multi-GPU communication assumes it.
    S("nccl_distributed", "peer access is not supported", 0.85,
      "these GPUs cannot access each other's memory (peer-to-peer), which multi-GPU "
      "communication assumes",
      fixes=("set NCCL_P2P_DISABLE=1 (for vLLM also --disable-custom-all-reduce)",)),
    # accelerate's check of RTX 40xx cards: no P2P or InfiniBand, NCCL must be told so.
    S("nccl_distributed", "via p2p or ib", 0.85,
      "these cards have no peer-to-peer or InfiniBand path, and NCCL must be told before it "
      "tries one", fixes=("export NCCL_P2P_DISABLE=1 NCCL_IB_DISABLE=1",)),
    # cudaErrorInvalidDeviceFunction (HIP's too): older runtimes' words for "no kernel image".
    S("cuda_driver_mismatch", "invalid device function", 0.85,
      "torch (or an extension) was not compiled for this GPU's architecture",
      fixes=("install a build whose torch.cuda.get_arch_list() includes this GPU's sm_XX",)),
    # MLX's quantize: each quantized dimension must be a multiple of its block.
    S("quantization_error", "dimensions should be divisible by", 0.8,
      "a matrix cannot be quantized: its dimensions are not multiples of the quantization "
      "block (MLX wants multiples of 32)"),
    # ---- session 9, round 6 (written on the v/w/x/y tune logs after scoring them fresh)
    # xFormers' dispatcher: no attention kernel takes these inputs on this GPU (FlashAttention
    # needs a newer compute capability, other kernels this dtype or head size).
    S("flash_attention", "does not support inputs", 0.85,
      "no xFormers attention kernel supports these inputs on this GPU (FlashAttention needs a "
      "newer GPU; the others this dtype, head size or bias)",
      r"(?i)operator `?memory_efficient_attention\w*`? does not support inputs",
      fixes=("use PyTorch's attention instead (attn_implementation=\"sdpa\", or uninstall "
             "xformers)",)),
    # flash-attn's internal functions change their arguments between releases: a caller built
    # for another flash-attn version.
    S("version_mismatch", "_flash_attn", 0.85,
      "the installed flash-attn's internal API differs from the one this code was written for",
      r"_flash_attn\w*\(\) (?:missing \d+ required|got an unexpected keyword)",
      fixes=("install the flash-attn version the calling package pins",)),
    # tiktoken refuses special tokens inside plain text unless told otherwise.
    S("tokenizer_error", "disallowed special token", 0.85,
      "tiktoken found a special token (such as <|endoftext|>) in text encoded as plain text",
      fixes=("pass allowed_special= or disallowed_special=() to encode",)),
    # tokenizers (Rust) given None where a token string goes: a special token the tokenizer
    # does not define (pad or unk token unset).
    S("tokenizer_error", "cannot be converted to 'pystring", 0.8,
      "the tokenizer was given None for a token: a special token (pad, unk, bos) it does not "
      "define",
      r"(?i)'NoneType' object cannot be converted to 'PyString"),
    # Attributes transformers expects of a model class and of its cache: its own model classes
    # have them, so a class or caller without them is a model's own code (trust_remote_code)
    # written for an older transformers.
    S("remote_code", "object has no attribute", 0.9,
      "the model's own code (trust_remote_code) was written for an older transformers: it "
      "lacks or calls an API that transformers changed",
      r"object has no attribute '_supports_\w+'|'DynamicCache' object has no attribute",
      refine=_model_code_attr,
      fixes=("update the model's code (a newer revision of the repo) or pin the transformers "
             "version its card names",)),
    # transformers asks whether to trust a model's code with a prompt timed by SIGALRM, which
    # Windows lacks: the question itself fails there.
    S("remote_code", "sigalrm", 0.85,
      "this model needs its own code, and transformers' question whether to trust it uses "
      "SIGALRM, which Windows does not have",
      r"has no attribute 'SIGALRM'",
      fixes=("pass trust_remote_code=True if you trust the model's repository",)),


    # -- session 10 (round 7's tune logs; each keyed on the library's own message)
    # torch's OOM message cut before "CUDA out of memory.": its figures are unmistakable.
    S("cuda_oom", "total capacity;", 0.9,
      "torch's CUDA allocator could not get the memory it asked for (the message's start is cut)",
      r"(?i)tried to allocate [\d.]+ [kmgt]?i?b \(gpu \d+; [\d.]+ [kmgt]?i?b total capacity"),
    # Ray's memory monitor kills workers when the node's RAM is nearly full ("... killed due
    # to memory pressure (OOM)"): host memory, whatever the word OOM suggests.
    S("host_oom", "killed due to memory pressure", 0.9,
      "Ray's memory monitor killed workers because the node's RAM was nearly full",
      tag="over:cuda_oom",
      fixes=("give the node more RAM or run fewer workers; RAY_memory_usage_threshold sets the "
             "kill threshold",)),
    # NCCL's socket transport (socket.cc): a peer answered with another NCCL's handshake, or
    # an interface that cannot reach it (IB/RoCE vs TCP): the network setup between nodes.
    S("nccl_distributed", "socketfinalizeaccept", 0.85,
      "NCCL's socket handshake between nodes failed (a wrong interface or transport: try "
      "NCCL_IB_DISABLE=1 / NCCL_SOCKET_IFNAME)"),
    # c10d's per-address warning with a socket error that is not IPv6 being tried first (Windows
    # 10049: address not valid here, 10061: refused; errno 110 timed out, 111 refused, 113 no
    # route): the rendezvous address does not work from this host.
    S("nccl_distributed", "client socket has failed to connect to", 0.75,
      "a rank could not reach the rendezvous store at MASTER_ADDR (timed out, refused, no route)",
      r"(?i)client socket has failed to connect to .*\((?:system error: 100(?:49|61|60|51)|errno: "
      r"11[013])\b"),
    # ONNX Runtime could not parse the .onnx file: truncated, an LFS pointer or an HTML page.
    S("corrupt_checkpoint", "protobuf parsing failed", 0.85,
      "the .onnx model file cannot be parsed: it is truncated or not an ONNX file (a git-lfs "
      "pointer, an error page)", tag="over:missing_dependency", fixes=_LFS_FIX),
    S("corrupt_checkpoint", "unable to parse proto from file", 0.8,
      "the .onnx model file cannot be parsed: it is truncated or not an ONNX file",
      tag="over:missing_dependency", fixes=_LFS_FIX),
    # torch.load of a file whose storages end early (a partial download or save).
    S("corrupt_checkpoint", "storage has wrong size", 0.7,
      "a saved tensor's storage is shorter than its header says: the checkpoint file is cut",
      r"(?i)storage has wrong size: expected \d+ got \d+"),
    # Ollama's "pull model manifest" for a model it does not have locally (a FROM path it
    # could not find is taken for a registry name).
    S("missing_file", "pull model manifest", 0.7,
      "Ollama did not find the model locally and tried to pull it from the registry: the path "
      "or name in FROM / run is not there",
      # (412: the registry has the model, for a newer Ollama: round 63's rule)
      refine=lambda m, s: None if "manifest: 412" in s.line_text.lower() else 1.0),
    # A report that a package is missing, in words ("tiktoken package is needed but not found").
    S("missing_dependency", "package is", 0.7,
      "a package the code needs is not installed",
      r"(?i)\b[\w.-]+ package is (?:missing|needed but not found|required but not installed|not "
      r"installed)"),
    # bitsandbytes' own classes lacking an attribute: its quantization state (absmax,
    # quant_state) was never made, or a layer was quantized twice.
    S("quantization_error", "object has no attribute", 0.85,
      "a bitsandbytes quantized parameter lacks its quantization state",
      r"'(?:Params4bit|Int8Params|Linear4bit|Linear8bitLt|QuantState)' object has no attribute"),
    # A decode of nothing but <unk>: the logits were NaN/inf (fp16 overflow in T5-style models).
    S("numeric_overflow", "<unk><unk><unk><unk>", 0.6,
      "the output is nothing but <unk>: the logits were NaN or inf, typically fp16 overflowing"),

    # -- round 8's tune logs
    # Ollama cut the prompt to its context window (num_ctx): the model saw only its tail.
    S("context_too_long", "truncating input prompt", 0.8,
      "the prompt is longer than the context window the runner was started with: it was cut",
      r"(?i)truncating input prompt.*limit=\d+ prompt=\d+",
      fixes=("raise num_ctx (Ollama: PARAMETER num_ctx / OLLAMA_CONTEXT_LENGTH) or send less",)),
    # gunicorn's bind failure.
    S("port_in_use", "connection in use", 0.9, "another process already listens on that port",
      r"(?i)connection in use: \('[^']*', \d+\)"),
    S("missing_file", "unable to locate file", 0.8, "a file the load needs is not where it looked",
      r"(?i)unable to locate file '[^']+'"),
    # ComfyUI's LoRA loader: the LoRA's keys are not the model's (another base model or format).
    S("missing_or_unexpected_keys", "lora key not loaded", 0.85,
      "the LoRA's weight names match no layer of this model (a LoRA for another base model or "
      "in another key format)"),
    # text-generation-inference's weights loader: a tensor name the model expects is not in
    # the files (tied lm_head, another naming).
    S("missing_or_unexpected_keys", "does not exist", 0.7,
      "a weight the model's code asks for is not in the checkpoint under that name",
      r"^RuntimeError: weight [\w.]+\.(?:weight|bias|scales|qweight) does not exist"),
    S("permission_or_disk", "problem when trying to write in your cache folder", 0.9,
      "the Hugging Face cache directory is not writable",
      fixes=("set HF_HOME (or TRANSFORMERS_CACHE) to a writable directory",)),
    # transformers' load report: weights re-initialised because their shapes differ.
    S("size_mismatch", "because the shapes did not match", 0.85,
      "some checkpoint tensors have other shapes than the model's: they were re-initialised",
      tag="over:missing_or_unexpected_keys"),
    # nvidia-container-toolkit: the driver's NVML lacks a function the toolkit calls.
    S("cuda_driver_mismatch", "nvml error: function not found", 0.8,
      "the NVIDIA driver is older than the container toolkit expects (its NVML lacks a function)"),
    S("cuda_unavailable", "the nvidia driver was not detected", 0.85,
      "the container or host sees no NVIDIA driver (run with --gpus all / the NVIDIA runtime)"),
    # ggml's Metal backend has no kernel for this quantization type.
    S("quantization_error", "asserting on type", 0.7,
      "the Metal backend has no kernel for this quantization type",
      r"(?i)^Asserting on type \d+"),
    # -- round 9's tune logs
    # mmcv/mmengine's checkpoint loader raises this when the path is not an existing file.
    S("missing_file", "is not a checkpoint file", 0.8,
      "the checkpoint path given does not name an existing file",
      r"(?i)\S+ is not a checkpoint file"),
    # A reported width that differs between the configuration and the weights.
    S("size_mismatch", "but the actual", 0.7,
      "the configuration gives a layer another width than the weights have",
      r"(?i)\bexpects?\b.{0,60}\bbut the actual (?:weight )?(?:dimension|shape|size)s?\b"),
    # transformers' AutoTokenizer reads the auto_map of tokenizer_config.json as a pair; the
    # map a model's remote code was written for in another transformers version is not one.
    S("version_mismatch", "keyerror", 0.7,
      "the model's tokenizer auto_map is in a format this transformers version does not read",
      r"^KeyError: [01]\s*$",
      refine=lambda m, s: 1.0 if "tokenization_auto" in s.frames_text else None),
    # The tokenizer's pad token id is a string: its config (or remote code) set pad_token_id
    # to a token instead of an id.
    S("tokenizer_error", "not supported between instances of 'str' and 'int'", 0.7,
      "the tokenizer's pad token id is not a number: its config sets pad_token_id wrongly",
      refine=lambda m, s: 1.0 if "_get_padding_truncation_strategies" in s.frames_text
      or "pad_token_id" in s.block_text else None),
    # -- round 10's tune logs
    # A report that names a size mismatch in its own words (a state_dict load cut before its
    # list of tensors); not torch 1.x's matmul "size mismatch, m1: [...]".
    S("size_mismatch", "size mismatch", 0.85,
      "the report names a size mismatch: checkpoint tensors have other shapes than the model's",
      r"(?i)size mismatch(?!\s+for\b)(?!,\s*m1)"),
    # torch.distributed's TCPStore on Windows: the wheels have no libuv.
    S("nccl_distributed", "was requested but pytorch was buil", 0.85,
      "torch.distributed's store asked for libuv, which this torch build (Windows) lacks",
      r"(?i)use_libuv was requested but pytorch was buil[td] without libuv support",
      fixes=("set USE_LIBUV=0 before launching (or pass use_libuv=False to the TCPStore)",)),
    S("nccl_distributed", "nccl", 0.7, "an NCCL collective hangs (a deadlock between GPUs)",
      r"(?i)\bnccl\w*\b.{0,60}\b(?:deadlock(?:s|ed)?|hangs?|hung|stuck|freez\w*)\b"
      # (session 22) said the other way round: "hangs at NCCL communicator init"
      r"|\b(?:deadlock(?:s|ed)?|hangs?|hung|stuck|freez\w*)\b.{0,40}\bnccl\w*\b"),
    # soundfile's loader: the libsndfile system library is not installed.
    S("missing_dependency", "sndfile library not found", 0.85,
      "the system library libsndfile is not installed",
      fixes=("install libsndfile (apt install libsndfile1) or a soundfile wheel that bundles it",)),
    # Half-precision output that is noise or garbage while 8-bit works: overflow in float16.
    S("numeric_overflow", "noise", 0.6,
      "the half-precision model produces noise: values overflow in float16",
      r"(?i)\b(?:fp16|float16|f16|half)\b.{0,60}\b(?:produces?|outputs?|generates?|gives?)\b"
      r".{0,20}\b(?:noise|garbage|gibberish)\b", fixes=_NAN_FIX),
    # llama.cpp's converter writes f32/f16/bf16/q8_0 only; k-quants come from llama-quantize.
    S("quantization_error", "--outtype: invalid choice", 0.75,
      "convert_hf_to_gguf.py cannot write this quantization type",
      r"(?i)--outtype: invalid choice: '(?:q[2-6]\w*|iq\w+)'",
      fixes=("convert to f16 (or bf16), then quantize with llama-quantize",)),
    # -- round 11's tune logs
    # Windows' ERROR_COMMITMENT_LIMIT (1455, "the paging file is too small") quoted by number.
    S("host_oom", "error 1455", 0.8, "Windows ran out of virtual memory (paging file)",
      r"(?i)\b(?:error|os error|errno)\s*1455\b",
      fixes=("raise the Windows paging file size (or free RAM), then restart",)),
    # Ray's object store warns that /dev/shm is too small and falls back to /tmp.
    S("permission_or_disk", "/dev/shm", 0.6,
      "/dev/shm is too small for the shared-memory object store (a container's default 64 MB)",
      r"(?i)/dev/shm has only \d+ bytes available|increase /dev/shm size",
      fixes=("run the container with --shm-size (e.g. 16g) or --ipc=host",)),
    # Chat templates (Gemma) raise on a system message.
    S("tokenizer_error", "system role not supported", 0.8,
      "the model's chat template takes no system role: the conversation does not fit it",
      fixes=("fold the system prompt into the first user message",)),
    # A file missing inside the cache of a model's own code (transformers_modules): the copy of
    # the repository's code went wrong, not a missing model file.
    S("remote_code", "transformers_modules", 0.9,
      "a file of the model's own code (trust_remote_code) is missing from the dynamic-module "
      "cache: the copy of the repository's code failed (often processes copying it at once)",
      r"(?i)(?:FileNotFoundError|No such file or directory).*transformers_modules[/\\]",
      tag="over:missing_file",
      fixes=("delete ~/.cache/huggingface/modules/transformers_modules and load once in one "
             "process before starting the others",)),
    # The fast tokenizer's Rust object used from several threads at once.
    S("tokenizer_error", "already borrowed", 0.85,
      "a fast tokenizer was used from several threads at once (its Rust object is not "
      "thread-safe)",
      r"(?i)\b(?:RuntimeError: |error: )?already borrowed\b",
      fixes=("give each thread its own tokenizer, or serialise the calls with a lock",)),
    # bitsandbytes on a GPU below compute capability 7.5: int8 matmul falls back to slow kernels.
    S("quantization_error", "only slow 8-bit matmul is supported", 0.7,
      "bitsandbytes' fast 8-bit kernels need compute capability 7.5 or newer", kind="hint"),
    # A KeyError for a key the code looked up in a loaded checkpoint's dict.
    S("missing_or_unexpected_keys", "keyerror", 0.6,
      "the checkpoint has no entry under the key the code reads: it is laid out under other keys "
      "(another library version or format)",
      r"^KeyError: '([\w.\-]+)'\s*$", refine=_checkpoint_key),
    # -- round 12's tune logs
    # The kernel's OOM killer at a container's (cgroup's) memory limit: host RAM, not the GPU.
    S("host_oom", "memory cgroup out of memory", 0.9,
      "the kernel killed a process at the container's (cgroup's) memory limit",
      tag="over:cuda_oom"),
    # A training job that hangs on several GPUs (and runs on one): a collective deadlock.
    S("nccl_distributed", "gpu", 0.65, "the job hangs once it runs on several GPUs",
      r"(?i)\b(?:multiple|multi|several|[2-9]|\d+ or more)[ -]?(?:\w+ )?gpus?\b.{0,60}"
      r"\b(?:stuck|hangs?|hung|freez\w*|deadlock\w*)\b"
      r"|\b(?:stuck|hangs?|hung|freez\w*|deadlock\w*)\b.{0,60}\b(?:multiple|several|[2-9]"
      r"|\d+ or more)[ -]?(?:\w+ )?gpus?\b"
      r"|\bmulti_gpu\b.{0,40}\b(?:stuck|hangs?|hung|freez\w*)\b",
      fixes=("try NCCL_P2P_DISABLE=1 (consumer GPUs without working peer-to-peer), and "
             "NCCL_DEBUG=INFO to see where it waits",)),
    # PaddleOCR / Paddle inference: the model directory holds no model file.
    S("missing_file", "find model file", 0.75,
      "the model directory given does not hold the model file the loader looks for",
      r"(?i)\b(?:can ?not|could ?not|couldn't|not) find (?:the )?model file"),
    # Half precision overflowing, said in words (TensorRT, a converter, a report); not an
    # "overflow error" (Python's OverflowError retyped: an integer conversion, not a float range).
    S("numeric_overflow", "overflow", 0.6,
      "values overflow the half-precision range",
      r"(?i)\b(?:fp16|float16|half)\b.{0,60}\boverflow(?:s|ed|ing)?\b(?! ?error)"
      r"|\boverflow(?:s|ed|ing)?\b.{0,40}\b(?:fp16|float16)\b", fixes=_NAN_FIX),
    # CUDA's PTX JIT: the PTX came from a newer toolchain than this driver knows.
    S("cuda_driver_mismatch", "ptx", 0.85,
      "the kernels' PTX was built by a newer CUDA than this driver supports",
      r"(?i)cudaErrorUnsupportedPtxVersion|CUDA_ERROR_UNSUPPORTED_PTX_VERSION"
      r"|unsupported PTX version"),
    # TensorFlow has no kernel of this op for a half-precision type.
    S("dtype_unsupported", "dt_half", 0.75,
      "this op has no kernel for half precision on this device",
      r"\bT=DT_(?:HALF|BFLOAT16)\b",
      refine=lambda m, s: 1.0 if "no opkernel was registered" in s.block_text.lower() else None),
    # DirectML and other backends without float64.
    S("dtype_unsupported", "float64", 0.85, "this GPU backend has no float64: use float32",
      r"(?i)does(?: not|n't) support (?:double|float64)\b"),
    # flash-attn's compiled extensions missing (a partial flash-attn build), named alone.
    S("flash_attention", "no module named", 0.85,
      "a compiled extension of flash-attn is missing: flash-attn was built without it",
      _NO_MODULE + "?(?:" + "|".join(_FLASH_EXTENSIONS) + r")\b",
      fixes=("install the extension from flash-attn's csrc/ (pip install csrc/layer_norm etc.) or "
             "avoid the fused ops (e.g. fused_dropout_add_ln=False)",)),
    # -- round 14's tune logs
    # A kernel of a quantization library (AWQ, GPTQ, Marlin, ExLlama, bitsandbytes) built
    # without this GPU's architecture: the quantized path, not torch, is what to change.
    S("quantization_error", "no kernel image is available", 0.95,
      "the quantization library's kernels were not built for this GPU's architecture",
      r"(?i)no kernel image is available.{0,300}(?:awq|gptq|marlin|exllama|bitsandbytes|quant)"
      r"|(?:awq|gptq|marlin|exllama|bitsandbytes)\S*.{0,300}no kernel image is available",
      tag="over:cuda_driver_mismatch",
      fixes=("install the quantization kernels built for this GPU (or pick a quantization "
             "format whose kernels support it)",)),
    # flash-attn's kernels built without this GPU's architecture (Jetson, an old card).
    S("flash_attention", "no kernel image is available", 0.95,
      "flash-attn's kernels were not built for this GPU's architecture",
      r"(?i)flash[-_ ]?attn.{0,300}no kernel image is available"
      r"|no kernel image is available.{0,300}flash[-_ ]?attn",
      tag="over:cuda_driver_mismatch"),
    # TensorRT-LLM's SmoothQuant / weight-only quantization plugins without a kernel here.
    *(S("quantization_error", needle, 0.9,
        "TensorRT-LLM's quantization plugin has no kernel (tactic) for this GPU or shape",
        pattern, tag="over:dtype_unsupported")
      for needle, pattern in (("no valid sq gemm tactic", None),
                              ("quant", r"(?i)smoothQuantGemmPlugin|weightOnly\w*Quant\w*Plugin"))),
    # torchao's weight-only quantization schemes named in the failing line (int4wo,
    # int8_weight_only): the scheme does not take this model's dtype or layout.
    *(S("quantization_error", f"int{bits}", 0.85,
        "this torchao quantization scheme does not take the model's dtype or layout",
        rf"(?i)\bint{bits}_?wo\b|\bint{bits}_(?:dynamic_activation_int\d+_)?weight_only\b")
      for bits in (4, 8)),
    # paddle.fluid, removed in PaddlePaddle 2.5 (and absent before 1.0).
    S("version_mismatch", "no module named", 0.95,
      "this PaddlePaddle release has no paddle.fluid (removed in 2.5): the code targets another",
      r"(?i)No module named [`'\u2018\u2019\"]?(?:paddle\.)?fluid\b",
      tag="over:missing_dependency",
      fixes=("install the PaddlePaddle release the code was written for (or port it to "
             "paddle.static / paddle.nn)",)),
    # torchaudio names the audio backends it found: the one asked for is not installed.
    S("missing_dependency", "is not one of available backends", 0.85,
      "the audio backend asked for is not installed (soundfile, sox, ffmpeg)",
      fixes=("install the backend's package (pip install soundfile) or pick one listed",)),
    # TensorFlow meets an op of an extension library that was not imported: tensorflow_text's
    # text ops, tensorflow_addons' (any other op unknown to this TensorFlow is the catalogue's
    # version gap).
    S("missing_dependency", "op type not registered", 0.9,
      "the saved graph uses an op from a library that is not installed or not imported "
      "(tensorflow_text's CaseFoldUTF8, tensorflow_addons)",
      r"(?i)Op type not registered '(?:Addons>\w+|CaseFold\w*|Sentencepiece\w*|\w*Wordpiece\w*"
      r"|Regex\w*|Unicode\w*|Normalize\w*|\w*Ngrams\w*|\w*Tokeniz\w*|\w*Split\w*)'",
      tag="over:missing_file",
      fixes=("install and import the op's library (import tensorflow_text) before loading",)),
    # A GPU library compiled for another GPU architecture says so in two words.
    S("cuda_driver_mismatch", "mismatch", 0.75,
      "the GPU library was built for another GPU architecture",
      r"(?i)^\W*arch(?:itecture)? mismatch\b"),
    # Gloo cannot find the network interface GLOO_SOCKET_IFNAME names.
    S("nccl_distributed", "unable to find address for", 0.9,
      "the network interface named for the collective backend (GLOO_SOCKET_IFNAME / "
      "NCCL_SOCKET_IFNAME) does not exist here",
      fixes=("set GLOO_SOCKET_IFNAME / NCCL_SOCKET_IFNAME to an interface `ip addr` lists",)),
    # -- round 15's tune logs
    # onnxruntime without its CUDA provider, said in a program's own words (the catalogue has
    # onnxruntime's "is not in available provider names"): the CPU package is installed.
    S("cuda_unavailable", "cudaexecutionprovider", 0.8,
      "onnxruntime has no CUDA provider: the CPU package (onnxruntime) is installed, not "
      "onnxruntime-gpu",
      r"(?i)CUDAExecutionProvider\W{0,3}(?:is )?not available",
      fixes=("pip uninstall onnxruntime, then pip install onnxruntime-gpu (the two shadow each "
             "other)",)),
    # A report that names the packages a step "cannot find" (transformers_stream_generator,
    # einops, tiktoken): a missing dependency when one of the names is a package's.
    *(S("missing_dependency", needle, 0.8,
        "a package the code needs is not installed",
        rf"(?i)\b{needle}\s+(?:the |modules? |packages? )?[`'\"\u2018]?"
        r"(?P<mod>[A-Za-z_][\w-]*(?:[\s,]+[A-Za-z_][\w-]*){0,5})",
        refine=_names_a_package)
      for needle in ("cannot find", "can't find")),
    # -- round 17's tune logs
    # A quantization library's compiled kernels (AWQ's awq_ext, ExLlama's, GPTQ's, Marlin's)
    # built against another torch: the quantized path, reinstalled for this torch, is the fix.
    S("quantization_error", "undefined symbol", 0.9,
      "the quantization library's compiled kernels were built against another torch/CUDA",
      refine=lambda m, s: 0.9 if _QUANT_KERNEL.search(s.line_text) else None,
      tag="over:version_mismatch",
      fixes=("reinstall the quantization kernels built for this torch (the wheel matching its "
             "torch/CUDA), or build them from source here",)),
    # transformers' GGUF loader cannot dequantize this ggml quantization type.
    S("quantization_error", "ggml_type", 0.85,
      "this GGUF file's quantization type cannot be dequantized by this loader",
      r"(?i)\bggml_type \d+ not implemented", tag="over:dtype_unsupported",
      fixes=("use a GGUF of a quantization type the loader supports (Q4_0, Q8_0, ...), or load "
             "it with llama.cpp",)),
    # The sentencepiece model's normalizer data cannot be read by tokenizers.
    S("tokenizer_error", "precompiled_charsmap", 0.85,
      "the tokenizer's sentencepiece normalizer (precompiled_charsmap) cannot be read",
      fixes=("rebuild tokenizer.json from the sentencepiece model with a current tokenizers, or "
             "load the slow tokenizer",)),
    # pkg_resources / importlib.metadata: a distribution the program declares is not installed.
    S("missing_dependency", "distribution was not found", 0.9,
      "a package the program requires is not installed",
      r"(?i)the '[\w.-]+(?:[<>=!~][^']*)?' distribution was not found and is required by",
      fixes=("pip install the distribution the message names",)),
    # fairseq's checkpoint does not fit the model built from the command line (quoted in a report).
    S("size_mismatch", "please ensure that the architectures match", 0.6,
      "the checkpoint's tensors do not fit the model built from the current arguments"),
    # ONNX Runtime: an fp16 (bf16) node's type is not what the kernel here takes.
    S("dtype_unsupported", "does not match expected type", 0.85,
      "this execution provider has no half-precision kernel for an operator of the model",
      r"(?i)Type \(tensor\((?:b?float16)\)\) of (?:output|input) arg \(.{0,200}\) of node "
      r"\(.{0,200}\) does not match expected type", tag="over:quantization_error",
      fixes=("keep that operator in float32 (wrap it in Cast nodes), or run on CUDA",)),
    # ONNX Runtime inserts precision-free casts where an fp16 model runs on the CPU.
    S("dtype_unsupported", "insertedprecisionfreecast", 0.7,
      "an fp16 model on ONNX Runtime's CPU provider, which has few half-precision kernels",
      tag="over:size_mismatch",
      fixes=("build the model in fp32 (or int4) for the CPU, or run the fp16 one on CUDA",)),
    # -- round 67's and 66's tune logs
    # "ImportError: TorchCodec is required for load_with_torchcodec": a library names the package
    # a step needs without the words "pip install" (which the older "is required" signature of
    # missing_dependency needs); a version range ("X>=1 is required") is not a bare name and
    # stays version_mismatch's. At 0.7, a catalogue message from a library's source that says
    # the same of a package keeps its own cause ("kernels package is required for MXFP4").
    S("missing_dependency", "is required", 0.7,
      "a package this step needs is not installed (the message names it)",
      r"\b(?:ImportError|ModuleNotFoundError|RuntimeError): [`'\"]?(?P<mod>[A-Za-z_][\w.-]*)"
      r"[`'\"]? (?:(?:library|package|module) )?(?:is|are) required (?:for|to|in order|by)\b",
      refine=_names_no_hardware),
    # transformers 3's tokenizer that found none of its files under a model id: the tokenizer
    # class expects files this checkpoint does not ship (a byte-level BPE class, vocab.json and
    # merges.txt, over a WordPiece vocab.txt), or the path is wrong.
    S("tokenizer_error", "couldn't find such vocabulary files", 0.6,
      "the tokenizer class looks for vocabulary files this checkpoint does not have (a BPE "
      "class over a WordPiece vocab.txt?), or the path is wrong",
      fixes=("load the tokenizer class the checkpoint was made with (AutoTokenizer, or "
             "BertTokenizer for a vocab.txt), and check the path",)),
    S("missing_file", "couldn't find such vocabulary files", 0.45,
      "no tokenizer vocabulary at this path or model id"),
    # llama.cpp's older wording (before it named the buffer type, which the catalogue reads:
    # "unable to allocate CUDA0 buffer"), also Ollama's runner's: the buffer for the weights or
    # the context did not fit; "backend" does not say the RAM or the GPU's memory.
    S("host_oom", "unable to allocate backend buffer", 0.55,
      "llama.cpp could not allocate a buffer for the model: not enough RAM (or GPU memory)"),
    S("cuda_oom", "unable to allocate backend buffer", 0.5,
      "llama.cpp could not allocate a buffer for the model: not enough GPU memory (or RAM)"),
    # "no module: sgl_kernel" typed from memory, with a colon where Python writes "named".
    S("missing_dependency", "no module", 0.65, "a Python package is not installed",
      r"(?i)\bno module\s*[:\uff1a]\s*[`'\"]?[A-Za-z_][\w.]*"),
    # -- round 70's tune logs
    # rocBLAS finds no Tensile kernels for the GPU's architecture ("Cannot read
    # .../TensileLibrary.dat: ... for GPU arch : gfx1201"): this ROCm build has no code for the
    # card. The "No such file or directory" in it is that missing kernel file, not a wrong path.
    S("cuda_driver_mismatch", "tensilelibrary", 0.8,
      "rocBLAS has no kernels for this GPU's architecture (gfx target): the ROCm build was not "
      "made for this card",
      r"(?i)Cannot read .{0,300}?TensileLibrary\S*:.{0,60}for GPU arch\s*:\s*gfx\w+",
      tag="over:missing_file",
      fixes=("use a ROCm / PyTorch build that supports this gfx target, or (for a close "
             "architecture) set HSA_OVERRIDE_GFX_VERSION to a supported one",)),
    # torch_xla (XRT) started with no TPU or XLA device configured.
    S("cuda_unavailable", "missing xla configuration", 0.7,
      "torch_xla finds no TPU / XLA device configured for this process (XRT_TPU_CONFIG or the "
      "TPU runtime's variables are not set)",
      fixes=("run on a TPU VM / runtime and export its configuration (XRT_TPU_CONFIG, or "
             "PJRT_DEVICE=TPU on newer torch_xla)",)),
    # -- round 71's tune logs
    # OpenCV's CUDA module in a build without CUDA (the PyPI wheels): "(-216:No CUDA support)".
    S("cuda_unavailable", "compiled without cuda support", 0.8,
      "this build of the library (e.g. OpenCV's PyPI wheel) has no CUDA support",
      r"(?i)(?:No CUDA support\)|library is) compiled without CUDA support",
      fixes=("install or build a CUDA-enabled build of the library (OpenCV: build from source "
             "with WITH_CUDA=ON), or run that step on the CPU",)),
    # faiss asked for a GPU index on a device number the machine does not have.
    S("cuda_unavailable", "invalid gpu device", 0.75,
      "the code asks for a GPU number this machine does not have (faiss counts from 0)",
      r"(?i)getNumDevices\(\)'? failed: Invalid GPU device \d+|\bInvalid GPU device \d+",
      fixes=("use a device number below the count of visible GPUs (gpu_id=0 on a one-GPU "
             "machine); check CUDA_VISIBLE_DEVICES",)),
    # Rockchip's runtime refuses a .rknn model converted by another rknn-toolkit release.
    S("version_mismatch", "invalid rknn model version", 0.75,
      "the .rknn model was converted with an rknn-toolkit release this runtime (librknnrt) "
      "does not read",
      fixes=("convert the model with the rknn-toolkit2 release that matches the board's "
             "librknnrt, or update the runtime to the toolkit's release",)),
    # datasets before 2.16 does not know load_dataset(..., trust_remote_code=...) and passes it
    # on to the builder's config, which has no such key.
    S("version_mismatch", "doesn't have a 'trust_remote_code' key", 0.75,
      "this datasets release predates the trust_remote_code argument (added in 2.16), so it "
      "is handed to the dataset's config",
      tag="over:remote_code",
      fixes=("upgrade datasets (pip install -U 'datasets>=2.16'), or drop trust_remote_code "
             "for this old release",)),
    # -- round 72's tune logs
    # "Trying to use DiffQ, but diffq is not installed": a package named bare (no quotes, no
    # "package" before it, which the older "installed" signatures need) as not installed;
    # hardware and CUDA are no package.
    S("missing_dependency", "not installed", 0.7,
      "a package the program needs is not installed (the message names it)",
      r"(?i)(?<![\w.-])(?P<mod>[A-Za-z_][\w.-]*) (?:is|are) not installed\b",
      refine=_not_installed_failure),
    # Keras' "ImportError: `load_weights` requires h5py.": an import error naming the package a
    # call needs (a version range after the name is a release gap instead).
    S("missing_dependency", "requires", 0.7,
      "the call needs a package that is not installed (the import error names it)",
      r"\b(?:ImportError|ModuleNotFoundError): [`'\"]?[\w.]+(?:\(\))?[`'\"]? requires "
      r"(?!the\b)(?P<mod>[A-Za-z_][\w.-]*)(?![\w.-]|\s*(?:[<>=!~(]|\d|version))",
      refine=_names_no_hardware),
    # -- round 74's tune logs
    # setuptools 81 and later no longer ship pkg_resources (82 removed it): code that still
    # imports it fails on a fresh environment. A Python 3.12+ venv without setuptools at all
    # fails the same way; _no_module keeps that reading below this one.
    S("version_mismatch", "pkg_resources", 0.7,
      "setuptools 81 and later no longer provide pkg_resources, which this code still imports "
      "(or setuptools is not installed at all)",
      r"(?i)No module named [`'\u2018\u2019\"]?pkg_resources\b",
      fixes=("pip install 'setuptools<81' (it also covers an environment with no setuptools "
             "at all), or port the code to importlib.metadata / importlib.resources",)),
    # A library that imports an optional package lazily keeps the ImportError in the module's
    # place ("av = e" in torchvision.io): using it later reads an attribute of the exception.
    S("missing_dependency", "object has no attribute", 0.9,
      "an optional package is not installed: the library kept its ImportError where the module "
      "should be",
      r"'(?:ImportError|ModuleNotFoundError)' object has no attribute",
      tag="over:version_mismatch",
      fixes=("install the package the library imports there (torchvision's video reader: "
             "pip install av)",)),
    # libsndfile (soundfile, librosa, torchaudio's soundfile backend) answers a path it cannot
    # open with "System error": no file there.
    S("missing_file", "system error", 0.75,
      "the audio file could not be opened: it does not exist at that path (libsndfile's "
      "\"System error\")",
      r"Error opening [`'\"b]*.{1,300}?[`'\"]: System error",
      fixes=("check the audio path (relative to the working directory) and that the file "
             "exists",)),
    # CTranslate2 reading a "binary version" of millions: the first bytes are no model at all
    # (a git-lfs pointer's "vers" reads as 1936876918), not a model from a newer release.
    S("corrupt_checkpoint", "unsupported model binary version", 0.9,
      "the model.bin is not a CTranslate2 model (a git-lfs pointer or a cut download): its "
      "header reads as an impossible binary version",
      r"(?i)unsupported model binary version.{0,300}?binary version v?\d{6,}",
      tag="over:version_mismatch",
      fixes=("download the model again (git lfs pull, or let the library fetch it by name) "
             "and check model.bin's size",)),
    # DeepSpeed's op builder drops the compute capabilities its kernels do not support and has
    # none left: the GPU is older than the kernels need (8.0 for MII / FastGen's ragged ops).
    S("cuda_driver_mismatch", "no compute capabilities remaining", 0.8,
      "DeepSpeed's kernels do not support this GPU's compute capability (too old for them)",
      fixes=("run on a GPU the kernels support (compute capability 8.0+ for DeepSpeed-MII / "
             "FastGen), or use a release that supports this one (MII-Legacy)",)),
    # CUDA's "no binary for GPU" named by a binding (cudarc / rust-gpu-tools: Cuda(NoBinaryForGpu),
    # the driver API's CUDA_ERROR_NO_BINARY_FOR_GPU): the fatbin has no code for this card.
    S("cuda_driver_mismatch", "binary", 0.85,
      "the compiled GPU code has no binary for this GPU's architecture",
      r"(?<!hipError)\bNoBinaryForGpu\b|CUDA_ERROR_NO_BINARY_FOR_GPU",
      fixes=("build the kernels for this GPU's compute capability (e.g. -arch / "
             "TORCH_CUDA_ARCH_LIST / the crate's arch list), or run on a supported GPU",)),
    # CMake's find_package(Torch) that finds no TorchConfig.cmake: CMAKE_PREFIX_PATH (or
    # Torch_DIR) does not point at the unpacked libtorch, often a relative path.
    S("missing_file", "could not find a package configuration file", 0.6,
      "CMake did not find the package's config file: CMAKE_PREFIX_PATH / <Pkg>_DIR does not "
      "point at its installation (or it is not installed)",
      fixes=("pass -DCMAKE_PREFIX_PATH=/absolute/path/to/libtorch (or set Torch_DIR to the "
             "folder with TorchConfig.cmake)",)),
    S("missing_dependency", "could not find a package configuration file", 0.45,
      "CMake did not find the package: it may not be installed (libtorch unpacked?)"),
    # CLIP's text encoder has 77 positions: a prompt longer than that meets its position
    # embedding in candle's broadcast_add ("lhs: [1, 254, 1024], rhs: [1, 77, 1024]"; torch's
    # "size of tensor a (154) ... tensor b (77)" has its own reading): the text is too long,
    # not a wrong checkpoint.
    S("context_too_long", "rhs: [", 0.75,
      "the text is longer than CLIP's 77-token window (its position table has 77 rows)",
      r"lhs: \[\d+, (?P<n>\d+), \d+\], rhs: \[\d+, 77, \d+\]",
      refine=_past_clip_window,
      fixes=("shorten the prompt to 77 tokens, or use a pipeline that splits long prompts "
             "(compel / long-prompt weighting)",)),
    # -- round 75's tune logs
    # Triton's Python backend could not size its shared-memory region (64 MB a model instance)
    # in the container's /dev/shm; the "No such file or directory" after it is that region.
    S("permission_or_disk", "unable to initialize shared memory key", 0.9,
      "the container's shared memory (/dev/shm) is too small for the Python backend's regions",
      r"(?i)Unable to initialize shared memory key .{0,120}?requested size",
      tag="over:missing_file",
      fixes=("give the container more shared memory (docker run --shm-size=1g, or a "
             "memory-backed emptyDir at /dev/shm on Kubernetes)",)),
    # onnx's compiled module whose DLL fails to initialise on Windows: the onnx 1.16.2+ wheels
    # need a newer Visual C++ runtime than the machine has; pinning the release before fixes it.
    S("version_mismatch", "onnx_cpp2py_export", 0.7,
      "this onnx release's Windows build does not initialise with the installed Visual C++ "
      "runtime (onnx 1.16.2 and later)",
      r"DLL load failed while importing onnx_cpp2py_export",
      fixes=("pip install onnx==1.16.1, or update the Microsoft Visual C++ Redistributable "
             "(2015-2022, x64)",)),
    # -- round 76's tune logs
    # AutoTokenizer asking for the fast class of a tokenizer that has none (PhobertTokenizerFast):
    # the files are fine, the slow class loads them (use_fast=False).
    S("tokenizer_error", "does not exist or is not currently imported", 0.8,
      "this tokenizer has no fast version in any transformers release: AutoTokenizer asked for "
      "one",
      _TOKENIZER_CLASS_MISSING, refine=_slow_only_fast_class,
      fixes=("load it with AutoTokenizer.from_pretrained(..., use_fast=False) (or the slow "
             "class itself)",)),
    # onnx before 1.14 has no float8 element types, which newer onnxruntime quantization tools
    # and converters name.
    S("version_mismatch", "float8e", 0.8,
      "this onnx is older than 1.14 and has no float8 types, which the newer tool uses",
      r"AttributeError:.{0,80}\bFLOAT8E\d\w*",
      fixes=("upgrade onnx to 1.14 or later (pip install -U onnx)",)),
    # PyTorch's quantized engine is not available on this CPU (fbgemm needs AVX2) or build: the
    # model's quantized modules cannot run.
    S("quantization_error", "unknown qengine", 0.8,
      "the model's quantized modules need a quantized engine (fbgemm / qnnpack) this CPU or "
      "build does not provide (fbgemm needs AVX2)",
      fixes=("use the model's non-quantized release, or run on a CPU with AVX2 (or set "
             "torch.backends.quantized.engine to one torch.backends.quantized.supported_engines "
             "lists)",)),
    # TensorRT's Python INT8 calibrator missing a method the builder calls (a class set up for
    # the other API: builder.int8_calibrator vs config.int8_calibrator).
    S("quantization_error", "pure virtual function", 0.8,
      "TensorRT's INT8 calibrator is not set up as the builder expects (a method it calls is "
      "not implemented)",
      r"pure virtual function \W?IInt8\w*Calibrator",
      fixes=("implement every method of the calibrator class (get_batch_size, get_batch, "
             "read_calibration_cache, write_calibration_cache) and set it on one API (the "
             "builder config)",)),
    # torch 1.0's THC wording of cuBLAS failing to execute, most often a torch built for CUDA 9
    # on a Turing (RTX 20) card, which needs CUDA 10.
    S("cuda_driver_mismatch", "the gpu program failed to execute", 0.6,
      "cuBLAS could not run on this GPU: a torch built for an older CUDA than the card needs "
      "(CUDA 9 on an RTX 20 card)",
      r"(?i)cublas runtime error\s*:\s*the GPU program failed to execute",
      fixes=("install a torch built for a CUDA that supports the GPU (CUDA 10+ for RTX 20)",)),
    # -- round 77's tune logs
    # "Install the "bitsandbytes" package with --bnb": an instruction naming the package to
    # install (the older signatures need "please" or "pip install" before it).
    S("missing_dependency", "install the", 0.8,
      "a package the program needs is not installed (the message says to install it)",
      r"(?i)\binstall the [`'\"]?(?P<mod>[A-Za-z_][\w.-]*)[`'\"]? (?:python )?"
      r"(?:package|library|module)\b",
      refine=_names_no_hardware),
    # candle (and other runtimes) with no CUDA kernel for a quantized op (qmatmul): the
    # quantized model runs only on the CPU with that release.
    S("quantization_error", "no cuda implementation for", 0.75,
      "this runtime has no CUDA kernel for the quantized operation: the quantized model runs "
      "only on the CPU here",
      r"(?i)no cuda implementation for q\w*",
      fixes=("run the quantized model on the CPU, use a release with CUDA kernels for it, or "
             "load the unquantized weights on the GPU",)),
    # -- round 87's tune logs
    # A library's own check of a framework's version ("Version mismatch: Open3D needs TensorFlow
    # version 2.4.*, but version 2.5.2 is installed!"): the installed release is the wrong one.
    S("version_mismatch", "is installed", 0.9,
      "the library checks the framework's version and the installed one is not the one it was "
      "built for",
      r"(?i)\bneeds? [\w.-]+ version [\w.*]+,? but (?:version )?v?\d[\w.+]* is installed",
      fixes=("install the framework version the message names (or the library release built for "
             "the installed one)",)),
    # -- round 86's tune logs
    # bitsandbytes reaches its native functions by name through ctypes ("function
    # 'cdequantize_blockwise_bf16_nf4' not found"): the library it loaded has no such kernel (the
    # CPU build, or a build without this GPU's CUDA version), a quantization setup failure.
    S("quantization_error", "function 'c", 0.85,
      "bitsandbytes loaded a native library without this kernel (its CPU build, or one built "
      "without this CUDA version)",
      r"(?i)\bfunction 'c\w*(?:quantiz|gemm|nf4|fp4|blockwise|adam|optimizer|col_row)\w*' "
      r"not found",
      tag="over:version_mismatch",
      fixes=("install a bitsandbytes release with kernels for this CUDA version and GPU (python -m "
             "bitsandbytes shows which library it loads)",)),
    # An extension built for a CUDA torch, and the torch installed is the CPU build ("xFormers
    # was built for: PyTorch 2.1.0+cu121 ... (you have 2.1.0+cpu)"): the GPU is unused because
    # torch cannot use it, whatever the extension's own gap.
    S("cuda_unavailable", "+cpu)", 0.9,
      "the torch installed is the CPU-only build (the version ends in +cpu), so no GPU can be "
      "used",
      r"(?i)\(you have [\d.]+\w*\+cpu\)",
      tag="over:version_mismatch",
      fixes=("install torch's CUDA build (pip install torch --index-url "
             "https://download.pytorch.org/whl/cu121, or the index for your CUDA), then the "
             "extension built for it",)),
    # Intel MKL's allocator failing ("mkl_malloc: failed to allocate memory") works in host RAM.
    S("host_oom", "mkl_malloc: failed to allocate", 0.85,
      "Intel MKL could not allocate host memory: the RAM (and page file) ran out",
      fixes=("close other programs or add RAM / page file; use a smaller model or compute type "
             "(int8) on the CPU",)),
    # -- round 85's tune logs
    # A matmul of a floating operand with an int8 ("Char") one: int8 quantized weights reached a
    # plain floating-point op (8-bit weights used outside the quantized layer's kernel), not a
    # dtype the user chose.
    S("quantization_error", "and char", 0.9,
      "an int8 (Char) tensor met a floating-point one in a plain op: quantized int8 weights were "
      "used outside the quantization library's own kernels",
      r"(?i)same dtype.{0,40}\b(?:half|float|bfloat16|double) and char\b",
      tag="over:dtype_unsupported",
      fixes=("load the model through the quantization library's path (load_in_4bit, or a "
             "release whose 8-bit layers support this model), or load it unquantized",)),
    # Intel GPUs (SYCL / Level Zero) report an allocation that does not fit as "out of
    # resources" (PI_ERROR_OUT_OF_RESOURCES, UR_RESULT_ERROR_OUT_OF_DEVICE_MEMORY).
    S("cuda_oom", "pi_error_out_of_resources", 0.6,
      "the Intel GPU ran out of device memory (SYCL's out-of-resources error)",
      fixes=_INTEL_OOM_FIX),
    S("cuda_oom", "ur_result_error_out_of_device_memory", 0.85,
      "the Intel GPU ran out of device memory", fixes=_INTEL_OOM_FIX),
    # TensorFlow's restore read a file that is not a checkpoint table ("not an sstable (bad
    # magic number)"): a git-lfs pointer or a damaged download in the checkpoint's place. The
    # path to a .data shard instead of the prefix is the missing-file reading of "Unable to open
    # table file" (scored higher).
    S("corrupt_checkpoint", "not an sstable", 0.6,
      "the checkpoint file is not a TensorFlow table: a git-lfs pointer or a damaged download "
      "in its place",
      fixes=("check the checkpoint's size (git lfs pull for a pointer of a few hundred bytes) "
             "and download it again",)),
    # sentence-transformers asked for a prompt by name, and the model's files configure none
    # ("... prompts dictionary with keys []"): config_sentence_transformers.json is missing or
    # from an older release of the model.
    S("missing_file", "configured prompts dictionary", 0.6,
      "the model's files configure no prompts: config_sentence_transformers.json is missing or "
      "older than the model card's usage",
      r"(?i)configured prompts dictionary with keys \[\]",
      fixes=("download the model again (config_sentence_transformers.json holds its prompts), or "
             "pass the prompt text with prompt= instead of prompt_name=",)),
    # -- round 84's tune logs
    # tqdm's notebook bar without ipywidgets ("IProgress not found. Please update jupyter and
    # ipywidgets"): the package is missing from the kernel's environment far more often than old.
    S("missing_dependency", "iprogress not found", 0.8,
      "the notebook's progress bar needs ipywidgets, which the kernel's environment does not "
      "have",
      fixes=("pip install ipywidgets in the kernel's environment (%pip install ipywidgets in the "
             "notebook), then restart the kernel",)),
    # -- round 83's tune logs
    # A key list cut from its head ("Unexpected key(s)" / "Missing key(s)" not pasted) that
    # names only embeddings' position_ids: either way the transformers 4.31 change of that
    # buffer (the two signatures of the whole message below).
    S("version_mismatch", "in state_dict:", 0.85,
      "the only keys listed are embeddings' position_ids: a checkpoint and a transformers on "
      "either side of 4.31, which stopped storing that buffer",
      r"(?i)^\W*in state_dict:\s*(?P<keys>\".+)",
      refine=lambda m, s: 0.85 if m is not None and _only_position_ids(
          m.group("keys"), s, other=None) else None,
      fixes=("load with strict=False, or drop the position_ids keys before loading: the model "
             "rebuilds that constant",
             "or use the transformers version the checkpoint was saved with")),
    # An app's own message naming the file it did not find ("An error was caused by the missing
    # file: src/utils/resources/mask_template.png").
    S("missing_file", "missing file:", 0.6,
      "the app names a file it needs that is not there (a download or a clone that did not "
      "bring it, or a wrong path)",
      r"(?i)\bmissing file:\s*\S",
      fixes=("fetch the file the message names (clone the repository again, with git lfs pull "
             "for files it keeps in LFS, or run the app's download step)",)),
    # -- round 82's tune logs
    # TransformerLens knows a fixed list of models per release: a newer model is "not found"
    # among its official names until the release that adds it.
    S("version_mismatch", "valid official model names", 0.6,
      "this TransformerLens release does not list the model: models added after it are unknown "
      "to it (or the name is misspelled)",
      r"(?i)\bnot found\. valid official model names",
      fixes=("upgrade transformer_lens to a release that lists the model, or use a name from the "
             "list it prints",)),
    # TGI's launcher imports its CUDA model classes at start: with no CUDA device (the ROCm or
    # CPU image on an NVIDIA box, no --gpus) it warns, then fails to load the model.
    S("cuda_unavailable", "enabled models: cuda is not available", 0.9,
      "the server saw no CUDA device when it started (an image for another accelerator, or the "
      "container started without the GPU)",
      tag="over:missing_dependency",
      fixes=("run the CUDA image of the server with the GPU passed in (docker run --gpus all), "
             "and check nvidia-smi inside the container",)),
    # TensorRT built without kernels for this GPU's SM ("Assertion failed: Unsupported SM."):
    # a release older than the card.
    S("cuda_driver_mismatch", "unsupported sm", 0.8,
      "this TensorRT build has no kernels for this GPU's architecture (SM): the release is "
      "older than the card",
      r"(?i)\bunsupported sm\b",
      fixes=("install a TensorRT release that supports this GPU (its support matrix lists the "
             "SM versions per release)",)),
    # ONNX Runtime's Gather past the end of a table sized like a position table ([-512, 511]):
    # an input longer than the model was exported for.
    S("context_too_long", "indices element out of data bounds", 0.6,
      "an index past the end of a position-sized table: the input is longer than the length "
      "the model was exported for",
      r"(?i)inclusive range \[-(?:128|256|512|514|1024|2048|4096|8192|16384),",
      fixes=("cut the input to the exported length, or export the model again with a larger "
             "maximum sequence length",)),
    # ONNX quantization supports 8-bit ranges only: a 4-bit (QAT or fake-quant) model's
    # (quant_min, quant_max) cannot be exported as it is.
    S("quantization_error", "onnx allows only", 0.8,
      "ONNX quantization supports only 8-bit ranges: this model's quantizer uses another bit "
      "width",
      r"(?i)quant_min.{0,40}onnx allows only|onnx allows only.{0,60}quant",
      fixes=("export with 8-bit quantization, or map the low-bit ranges onto 8-bit ones before "
             "export (the quantization toolkit's ONNX export option)",)),
    # ONNX Runtime with no kernel for a node on this execution provider: a quantized op
    # (QLinearConv, ConvInteger, MatMulNBits) is a quantization gap; a plain op (MatMul, Conv)
    # lacks a kernel for the tensor's type (bfloat16 or double on the CPU provider).
    S("quantization_error", "could not find an implementation for", 0.8,
      "this execution provider has no kernel for the quantized operator",
      rf"(?i)could not find an implementation for (?:the node )?"
      rf"[\w:/.]*?(?:{_ORT_QUANTIZED_OPS})\(",
      fixes=("run on an execution provider that implements the quantized operator (the CPU "
             "provider covers most), or quantize with operators it supports (QDQ format)",)),
    S("dtype_unsupported", "could not find an implementation for", 0.6,
      "this execution provider has no kernel for the operator at the tensor's type (bfloat16 or "
      "float64 on the CPU provider, for one)",
      rf"(?i)could not find an implementation for (?:the node )?"
      rf"(?![\w:/.]*?(?:{_ORT_QUANTIZED_OPS})\()[\w:/.]+\(\d+\) node",
      fixes=("export the model in float32 (or float16 on a GPU provider), or cast the inputs to "
             "a type the provider implements",)),
    # Hydra could not import the class its config names: the package that holds it is not
    # installed in this environment (`pip install -e .` of the project not run) or its import
    # failed.
    S("missing_dependency", "error locating target", 0.6,
      "Hydra could not import the class its config names: the package that holds it is not "
      "installed in this environment, or importing it failed",
      fixes=("install the project (pip install -e .) or the package that holds the class in the "
             "active environment; HYDRA_FULL_ERROR=1 shows the import error",)),
    # datasets found no data files at the path given: a local folder without data (a cache
    # folder, the wrong directory) or a Hub id written as a path.
    S("missing_file", "no (supported) data files", 0.65,
      "datasets found no data files of a format it reads at that path: the wrong folder, or a "
      "Hub dataset id given as a local path",
      fixes=("point load_dataset at the folder that holds the data files, or pass the Hub id "
             "(owner/name) without a leading slash",)),
    S("missing_file", "unable to resolve any data file that matches", 0.6,
      "datasets found no data file matching the split's pattern at that path (the wrong folder, "
      "or a cache folder given as the dataset)",
      fixes=("point load_dataset at the dataset's own folder (data_files= for files it cannot "
             "match); if the folder holds the files, upgrade datasets and fsspec together",)),
    # -- round 80's tune logs
    # NLTK 3.8.2+ loads the sentence tokenizer from "punkt_tab" (the pickled "punkt" is no longer
    # read): code or a library that downloads "punkt" meets "Resource punkt_tab not found". The
    # release is the cause; downloading punkt_tab is the other fix.
    S("version_mismatch", "punkt_tab", 0.6,
      "NLTK 3.8.2+ reads its sentence tokenizer from punkt_tab, not the punkt data this code "
      "downloads",
      _PUNKT_TAB_MISSING,
      fixes=("nltk.download('punkt_tab') (the data NLTK 3.8.2+ reads), or pin nltk<=3.8.1 for "
             "code that downloads punkt",)),
    S("missing_file", "punkt_tab", 0.45,
      "NLTK's punkt_tab data is not downloaded",
      _PUNKT_TAB_MISSING,
      fixes=("python -c \"import nltk; nltk.download('punkt_tab')\"",)),
    # -- round 79's tune logs
    # faiss without its GPU classes (StandardGpuResources, GpuIndexFlatL2, index_cpu_to_gpu):
    # the CPU build (faiss-cpu) is installed, or installed over faiss-gpu. No release gap.
    S("cuda_unavailable", "has no attribute", 0.9,
      "the CPU build of faiss is installed (faiss-cpu, or installed over faiss-gpu): it has no "
      "GPU classes",
      r"module 'faiss' has no attribute '(?:StandardGpuResources|GpuIndex\w*|Gpu\w*Options|"
      r"index_cpu_to_(?:all_)?gpus?\w*)'",
      tag="over:version_mismatch",
      fixes=("pip uninstall faiss-cpu faiss-gpu, then install only the GPU build (conda install "
             "-c pytorch faiss-gpu, or the faiss-gpu-cu12 wheel)",)),
    # Triton Inference Server's model repository names a platform (backend) this server release
    # does not have (caffe2_netdef after its removal): the example repository of another release.
    S("version_mismatch", "unexpected platform type", 0.85,
      "the model's config names a platform (backend) this server release does not have: a model "
      "repository made for another release",
      fixes=("use the model repository (and config.pbtxt platform / backend) of this server "
             "release, or run the release the repository was made for",)),
    # "PermissionError: [Errno 13] Permission denied: ''": an empty path was run as a program
    # (subprocess with a tool path that came back empty: the tool is not installed or not on
    # PATH). No permission is at fault.
    S("missing_dependency", _EMPTY_PATH_DENIED, 0.75,
      "a program the tool starts was not found (its path came back empty): it is not installed "
      "or not on PATH",
      fixes=("install the program the tool launches (accelerate, git, ffmpeg ...) in the same "
             "environment, or put it on PATH",)),
    # An image processor's "size" dict with keys of another transformers release
    # (preprocessor_config.json's min_pixels / max_pixels read by a release that expects
    # shortest_edge / longest_edge).
    S("version_mismatch", "size must have one of the following set of keys", 0.8,
      "the image processor's config was written for another transformers release: its \"size\" "
      "keys are not the ones this release reads",
      fixes=("install the transformers release the model (or its library) was made for, or "
             "rewrite \"size\" in preprocessor_config.json with the keys this release lists",)),
    # -- round 78's tune logs
    # A library installed in its CPU-only build asked for the GPU (DGL: "Device API gpu is not
    # enabled. Please install the cuda version of dgl."): the package is there, its GPU part not.
    S("cuda_unavailable", "is not enabled", 0.9,
      "this library was installed in its CPU-only build: its GPU device is not compiled in",
      r"(?i)device api (?:gpu|cuda) is not enabled",
      fixes=("install the library's CUDA build that matches the installed torch / CUDA (its "
             "install page gives the wheel index per CUDA version)",)),
    S("cuda_unavailable", "install the cuda version of", 0.85,
      "this library was installed in its CPU-only build: the message asks for its CUDA build",
      fixes=("install the library's CUDA build that matches the installed torch / CUDA",)),
    # WebGPU (WebLLM, MLC) without the shader-f16 extension: the browser's GPU adapter cannot run
    # f16 shaders, so the q4f16 build of a model cannot run there.
    S("dtype_unsupported", "shader-f16", 0.85,
      "this GPU / browser has no 16-bit float shaders (WebGPU's shader-f16): the model's f16 "
      "build cannot run here",
      r"(?i)requires? (?:the )?WebGPU extension shader-f16|shader-f16\W.{0,40}not (?:enabled|"
      r"supported|available)",
      fixes=("use the model's f32 build (q4f32_1), or a browser / adapter that exposes "
             "shader-f16",)),
    # MediaPipe's LLM inference: "Failed to get LLM params: ... LLM model file is null": no model
    # file at the path the app passed (the .bin / .task was never copied to the device).
    S("missing_file", "model file is null", 0.8,
      "no model file at the path the app gave: it was never copied there, or the path is wrong",
      fixes=("copy the model file to the path the app reads (adb push model.bin ...), and check "
             "the path in the app",)),
    # A library compiled against TensorFlow 2 loaded beside TensorFlow 1 (or the reverse):
    # TensorFlow itself raised (tf.load_op_library), so it is installed, but not the major
    # version whose framework library the extension links. Without TensorFlow's own error
    # around it, it may as well be missing: a weaker reading.
    S("version_mismatch", "libtensorflow_framework.so", 0.9,
      "a compiled extension was built against another TensorFlow major version than the one "
      "installed: its libtensorflow_framework is not there",
      r"libtensorflow_framework\.so\.\d+: cannot open shared object file",
      refine=lambda _m, s: 1.0 if "tensorflow." in s.block_text else 0.6,
      tag="over:missing_dependency",
      fixes=("install the TensorFlow version the package was built for, or build the package "
             "from source against the installed TensorFlow",)),
    # NCCL's "unhandled system error ... ncclSystemError: System call (socket, malloc, ...)
    # failed": in a container, most often /dev/shm too small for NCCL's shared-memory segments
    # (Docker's 64 MB default). A second reading beside NCCL's own.
    S("permission_or_disk", "ncclsystemerror", 0.35,
      "NCCL failed a system call: in a container, /dev/shm is often too small for NCCL's "
      "shared-memory segments",
      fixes=("run the container with --ipc=host or --shm-size=16g (Kubernetes: a memory-backed "
             "emptyDir at /dev/shm)",)),
    # -- round 64's tune logs
    # A build that finds no compiler (CMake's words): the C / C++ / CUDA compiler or the build
    # tools (Visual Studio's C++ workload on Windows) are not installed.
    S("missing_dependency", "cmake", 0.85,
      "the build found no compiler: the C/C++ (or CUDA) compiler is not installed or not on PATH",
      r"No CMAKE_(?:C|CXX|CUDA)_COMPILER could be found|Tell CMake where to find the compiler",
      fixes=("install the compiler (build-essential / Xcode command line tools / Visual Studio "
             "with the C++ workload), or install a prebuilt wheel",)),
    # pytesseract runs the tesseract program, which pip does not install.
    S("missing_dependency", "tesseract", 0.9,
      "the tesseract OCR program is not installed (pytesseract only calls it)",
      r"(?i)TesseractNotFound|tesseract is not installed",
      fixes=("install tesseract (apt install tesseract-ocr / brew install tesseract / the "
             "Windows installer) and put it on PATH",)),
    # JAX could not start its CUDA backend and runs on the CPU: a jaxlib without the CUDA
    # plugin, or one for another CUDA than the driver's.
    S("cuda_unavailable", "cuda backend failed to initialize", 0.75,
      "JAX could not start its CUDA backend and fell back to the CPU",
      fixes=("install jax with the CUDA extra that matches the driver (pip install -U "
             "\"jax[cuda12]\"), and check nvidia-smi",)),
    # A ggml backend meeting a quantization type it has no kernels for (IQ types on a CUDA or
    # SYCL path).
    S("quantization_error", "unhandled type", 0.8,
      "this ggml backend has no kernel for the model's quantization type",
      r"(?i)unhandled type (?:iq|q|tq|mxfp|nvfp)\d\w*",
      fixes=("use a quantization the backend supports (a Q4_K / Q8_0 file), or a build with "
             "kernels for this type",)),
    # llama.cpp adding the model's BOS to a prompt that already has one (a chat template that
    # writes it too): two BOS tokens, which degrade the answers.
    S("tokenizer_error", "2 bos tokens", 0.75,
      "the prompt gets two BOS tokens: the chat template (or the client) writes one and the "
      "tokenizer adds another",
      r"(?i)starts with 2 BOS tokens",
      fixes=("drop the BOS from the template or prompt text, or turn off add_bos_token",)),
    # Xinference's launcher for a model path that is not there.
    S("missing_file", "invalid model uri", 0.75,
      "the model's path (a registered custom model's URI) does not exist",
      fixes=("correct the model_uri of the registered model (or register it again) with a path "
             "that exists",)),
    # -- round 63's tune logs
    # Ollama's registry answers 412 for a model made for a newer Ollama, and says so.
    S("version_mismatch", "newer version of ollama", 0.9,
      "the model needs a newer Ollama than the one serving (a client upgraded while the old "
      "server still runs counts too)",
      r"(?i)requires a newer version of ollama", tag="over:missing_file",
      fixes=("upgrade Ollama and restart its server (ollama serve / the service) so the new "
             "release is the one running",)),
    # lmdeploy's PyTorch engine maps each architecture it implements to its own module
    # ("rewrite"): one it has no module for needs a newer lmdeploy.
    S("version_mismatch", "rewrite for architecture", 0.85,
      "this lmdeploy release does not implement the model's architecture in its PyTorch engine",
      r"(?i)can ?not (?:be )?found rewrite for architectures?",
      fixes=("upgrade lmdeploy to a release that lists the model, or serve it with an engine "
             "that does",)),
    # -- round 62's tune logs
    # transformers 4.50 took GenerationMixin out of PreTrainedModel: a model class of another
    # library or of a repository's code that relied on inheriting it has no generate() under a
    # newer release, whichever code the class is.
    S("version_mismatch", "object has no attribute 'generate'", 0.9,
      "since transformers 4.50 models inherit generate() only from GenerationMixin: this model "
      "class was written for an older release",
      r"'[A-Z]\w*(?:Model|For[A-Z]\w*|LM)' object has no attribute 'generate'",
      tag="over:remote_code",
      fixes=("pin transformers below 4.50, or update the model class (or its repository's code) "
             "to inherit GenerationMixin",)),
    # The module that lacks the name is the repository's own code (transformers_modules.<repo>):
    # the copy loaded does not match what imports it (a stale cache, another revision).
    S("remote_code", "transformers_modules", 0.9,
      "the model's own code (trust_remote_code) does not have what is imported from it: the "
      "cached copy and the caller are from different revisions",
      r"module 'transformers_modules\.[^']+' has no attribute", tag="over:version_mismatch",
      fixes=("delete the cached code (~/.cache/huggingface/modules/transformers_modules) and load "
             "the model's current revision, or load it without trust_remote_code if transformers "
             "has the architecture",)),
    # llama.cpp printing the magic it read as characters: 'tjgg' / 'lmgg' / 'fmgg' are the old
    # GGML formats (ggjt / ggml / ggmf read little-endian), as the hex magic rule
    # below reads them.
    S("version_mismatch", "invalid magic characters", 0.85,
      "the model file is in the old GGML format (ggjt/ggml/ggmf), which llama.cpp releases since "
      "August 2023 (GGUF) no longer read",
      r"(?i)invalid magic characters:? '?(?:tjgg|lmgg|fmgg|ggjt|ggml|ggmf)",
      fixes=("use the model's GGUF file (or convert the old file with convert-llama-ggml-to-gguf),"
             " or a llama.cpp release from before GGUF for the old file",)),
    # -- round 61's tune logs
    # transformers' GGUF loader (integrations/ggml.py) names the architectures it can map to its
    # own model classes; a newer one (qwen3 before 4.51) needs a newer release.
    S("version_mismatch", "gguf model with architecture", 0.85,
      "this transformers cannot read GGUF files of this architecture yet: a newer release maps it",
      r"(?i)gguf model with architecture \S+ is not supported",
      fixes=("upgrade transformers (and gguf) to a release that lists the architecture, or load "
             "the model's safetensors instead of the GGUF file",)),
    # -- round 60's tune logs
    # A model or engine stating its own limit in tokens as the error ("XTTS can only generate
    # text with a maximum of 400 tokens", "the encoder supports at most 512 tokens"): the input
    # is longer than it takes, even when a project's own code raises it.
    S("context_too_long", "tokens", 0.8,
      "the text is longer than the model takes: the error states its maximum in tokens",
      r"(?i)\b(?:can only (?:\w+ ){0,5}?(?:a )?(?:max(?:imum)?(?: length)? of|up to|at most) |"
      r"(?:only (?:supports?|accepts?|takes?|handles?)|(?:supports?|accepts?|takes?|handles?) "
      r"(?:at most|up to|only)|(?:is|are) limited to|exceeds? (?:the )?(?:limit|maximum) of) "
      r"(?:a )?(?:max(?:imum)? of |up to |at most )?)\d[\d,]*\s+tokens\b",
      refine=_errorish,
      fixes=("split the text into parts within the limit (sentences, chunks) or shorten it, or "
             "use a model with a longer context",)),
    # -- round 59's tune logs
    # A torch library (libtorch_cuda_cpp.so, libc10_cuda.so) that a compiled extension links is
    # not in the torch installed: torchaudio, torchvision or a CUDA op built for another torch
    # release (torch's own files are never installed apart; flash-attn has its own rule).
    S("version_mismatch", "cannot open shared object file", 0.9,
      "a compiled extension (torchaudio, torchvision, a custom op) was built against another "
      "torch release: it links a torch library this torch does not ship",
      r"\blib(?:torch|c10)\w*\.so[.\d]*: cannot open shared object file",
      refine=lambda m, s: None if "flash_attn" in s.line_text.lower() + s.block_text else 1.0,
      tag="over:missing_dependency",
      fixes=("install the extension's release that matches this torch (torchaudio / "
             "torchvision versions are paired with torch's), or rebuild the op against it",)),
    # tokenizers 0.20+ writes a BPE tokenizer.json's merges as pairs (["a", "b"]) where older
    # readers want strings ("a b"): a parser of the old format (an older tokenizers, or a port
    # in Rust, C++ or JS) fails on the first merge with a JSON type error.
    *(S("version_mismatch", needle, 0.8,
        "the tokenizer.json was written by a newer tokenizers (merges as pairs), which this "
        "reader's release does not parse",
        refine=lambda m, s: 1.0 if "tokenizer" in s.line_text.lower() + s.block_text else None,
        fixes=("upgrade the library that reads tokenizer.json (tokenizers >= 0.20, or the port's "
               "release that reads merges as pairs), or save the tokenizer with the older "
               "format",))
      for needle in ("invalid type: sequence, expected a string", "must be string, but is array")),
    # -- round 58's tune logs
    # A module Python removed from its standard library (imp, asyncore in 3.12; cgi, pipes,
    # imghdr in 3.13): the code, or a package it imports, predates the Python running it.
    S("version_mismatch", "no module named", 0.9,
      "this Python no longer has that standard-library module (removed in 3.12 or 3.13): the "
      "code or a package it imports was written for an older Python",
      _NO_MODULE + r"?(?P<mod>\w+)(?![.\w-])",
      refine=lambda m, s: 1.0 if m is not None and m.group("mod") in _STDLIB_REMOVED else None,
      tag="over:missing_dependency",
      fixes=("upgrade the package that imports it to a release made for this Python, or run "
             "the Python version it was written for (3.11 for imp and asyncore)",)),
    # flash-attn 2 renamed its 1.x flash_attn_unpadded_* functions to flash_attn_varlen_*: code
    # written for 1.x importing them from a 2.x install (flash-attn itself is there: a missing
    # one says "No module named 'flash_attn'").
    S("version_mismatch", "flash_attn_unpadded", 0.9,
      "the code was written for flash-attn 1.x: flash-attn 2 renamed flash_attn_unpadded_* to "
      "flash_attn_varlen_*",
      r"(?i)cannot import name [`'\u2018\u2019\"]?flash_attn_unpadded\w*",
      tag="over:flash_attention",
      fixes=("install flash-attn 1.0.9 for this code, or rename its calls to the flash-attn 2 "
             "names (flash_attn_unpadded_qkvpacked_func -> flash_attn_varlen_qkvpacked_func)",)),
    # transformers' check_imports lists what the model's code imports: a name of the
    # repository's own files (configuration_x, modeling_x) imported as if it were a package is
    # that code's import, broken (absolute where it must be relative), not a missing install.
    S("remote_code", "requires the following packages that were not found", 0.9,
      "the model's own code imports one of its own files as a package (an absolute import of "
      "configuration_* / modeling_*): that code is broken or does not match this revision",
      r"(?i)requires the following packages that were not found in your environment:\s*"
      r"(?:[\w-]+,\s*)*(?:configuration|modeling|tokenization|processing|image_processing)_\w+",
      tag="over:missing_dependency",
      fixes=("load a revision of the model whose code imports its files relatively (pass "
             "revision=...), or update its code files from the repository",)),
    # torch's CPU HalfTensor was a storage type without most operations (old torch): half
    # precision on the CPU, not a missing method.
    S("dtype_unsupported", "'torch.halftensor' object has no attribute", 0.8,
      "torch's CPU HalfTensor has almost no operations: half precision here needs a GPU",
      fixes=("keep CPU tensors in float32 (set the default tensor type to FloatTensor), or "
             "move them to the GPU before using half precision",)),
    # -- round 56's tune logs
    # A device that lacks a number format, in the kernel's or runtime's words ("Required aspect
    # fp64 is not supported on the device", "bf16 is not available on this GPU"): the dtype;
    # a quantized format (FP4, FP8, INT4) that this GPU has no support for: the quantization.
    *(S("dtype_unsupported", needle, 0.8,
        "this device has no support for the number format the model or kernel uses (fp64 on "
        "many integrated GPUs, bf16 before Ampere)",
        r"(?i)\b(?:fp64|float64|doubles?|bf16|bfloat16|fp16|float16|half)\b[^\n]{0,40}?\bis "
        rf"{needle} (?:this|the|your|current) (?:device|gpu|hardware)",
        fixes=("run in a format the device supports (float32, or float16 where bf16 is "
               "missing), or on a device with it",))
      for needle in ("not supported on", "not available on")),
    *(S("quantization_error", needle, 0.8,
        "this GPU has no support for the quantized format (FP4 needs Blackwell, FP8 Ada or "
        "Hopper)",
        r"(?i)\b(?:nv|mx)?(?:fp[48]|int[48]|nf4)\b[^\n]{0,40}?\bis "
        rf"{needle} (?:this|the|your|current) (?:device|gpu|hardware)",
        fixes=("use a checkpoint quantized to a format this GPU runs (INT4 / INT8, or an "
               "unquantized one), or a GPU that has the format",))
      for needle in ("not supported on", "not available on")),
    # -- round 54's tune logs
    # An attribute asked of None: a loader that returns None when it finds nothing (a model
    # file not in the folder a UI lists, a vocabulary file absent, no checkpoint state) left
    # the object unset. The object is no release's API, so the version reading is weak here.
    S("missing_file", "'nonetype' object has no attribute", 0.35,
      "an object that should have been loaded is None: a loader that found no file (model, "
      "vocabulary, checkpoint) returned None instead of raising",
      r"'NoneType' object has no attribute '(?P<attr>\w+)'",
      refine=lambda m, s: None if m is not None and m.group("attr") == "from_pretrained"
      else 1.0,
      fixes=("check that the file the object is loaded from exists where the code looks (the "
             "model / vocabulary / checkpoint path), and that its loader did not log a warning",)),
    # Python names no location for a module without __file__: a namespace package, i.e. a
    # plain folder of that name on sys.path (a cloned source tree, a leftover directory), while
    # the package itself is not installed.
    S("missing_dependency", "(unknown location)", 0.9,
      "the package is not installed: Python found only a folder of that name (a cloned source "
      "tree or a leftover directory), a namespace package with nothing in it",
      r"cannot import name '\w+' from '(?P<mod>[\w.]+)' \(unknown location\)",
      tag="over:version_mismatch",
      fixes=("install the package (pip install -e <its source folder>, or pip install <name>), "
             "or remove the empty folder of that name from the working directory",)),
    # ggml failing to allocate 0.00 MB is no shortage of RAM: the size computed was zero, a
    # tensor type the quantizer does not handle (a checkpoint of a format it does not support).
    S("quantization_error", "failed to allocate", 0.8,
      "the quantizer computed a zero-size buffer: this checkpoint's tensor types or layout are "
      "not a format this quantizer supports",
      r"failed to allocate\s+0(?:\.0+)? MB", refine=_quantized_nearby,
      fixes=("convert the checkpoint with the tool (or fork) made for its format, or quantize to "
             "a type this build supports",)),
    # -- round 53's tune logs
    # inf / NaN probabilities from a model loaded quantized (4-bit / 8-bit, GPTQ, int4): the
    # quantized kernels or their fallback paths, not float16 overflow (round 53: 4 of 4 such
    # tune logs; the 4 without a word of quantization were overflow).
    S("quantization_error", "probability tensor contains", 0.9,
      "the model runs quantized, and its quantized kernels (or the fallback path of a GPU "
      "without them) produce inf / NaN",
      refine=_quantized_nearby, tag="over:numeric_overflow",
      fixes=("run the model unquantized (or in another quantization / kernel) to confirm, then "
             "update the quantization library or pick a kernel the GPU supports",)),
    # bitsandbytes keeps a 4-bit weight packed two values a byte in a [n/2, 1] tensor ([n/4, 1]
    # with 16-bit quant_storage): a checkpoint's float tensor of n values loaded into one is a
    # plain checkpoint (or part of one, such as a projector) loaded into a model quantized on
    # load.
    S("quantization_error", "size mismatch for", 0.9,
      "the model's parameter is a bitsandbytes-packed quantized tensor ([n/2, 1] for 4-bit) and "
      "the checkpoint holds its float weights: a plain checkpoint loaded into a model quantized "
      "on load",
      r"copying a param with shape (?:torch\.Size\()?\[(?P<a>\d+), (?P<b>\d+)\]\)? from "
      r"checkpoint, the shape in current model is (?:torch\.Size\()?\[(?P<k>\d+), 1\]",
      refine=_packed_quantized, tag="over:size_mismatch",
      fixes=("load without 4-bit / 8-bit quantization (drop --load-4bit / load_in_4bit) for "
             "these weights, or load them before quantizing",)),
    # -- round 52's tune logs
    # transformers names the file it parsed as the config: when that is no .json file, the
    # model path given is a file (an archive not unpacked, a weights file), not the model's
    # folder with its config.json.
    S("missing_file", "is not a valid json file", 0.75,
      "the model path is a file, not a folder with config.json (an archive not unpacked?)",
      _CONFIG_PATH_NOT_JSON.pattern,
      fixes=("point from_pretrained at the folder that holds config.json (unpack the archive "
             "first)",)),
    # A quantized linear layer named in the failing line (GPTQ's QuantLinear and its kernels'
    # variants, AWQ's WQLinear, HQQLinear, bitsandbytes' Linear4bit / Linear8bitLt): the
    # operation does not handle quantized layers, or the layer's settings do not fit the
    # checkpoint.
    *(S("quantization_error", needle, 0.7,
        "the failing operation met a quantized layer: what it does is not supported for this "
        "quantization, or the layer's settings (bits, group size) do not fit the checkpoint",
        refine=_quant_layer_failed,
        fixes=("use the operation on the unquantized model, or the quantization's own path for "
               "it (its LoRA / merge / save support), with the settings the checkpoint was made "
               "with",))
      for needle in ("quantlinear", "hqqlinear", "wqlinear", "linear4bit", "linear8bitlt")),
    # diffusers' modules fetched from the Hub (community pipelines, custom_pipeline=...) live
    # under diffusers_modules: that code does not fit this diffusers (or fails on its own).
    S("remote_code", "diffusers_modules", 0.75,
      "the pipeline is code fetched from the Hub (a community / custom pipeline), which does not "
      "fit this diffusers release",
      refine=_errorish,
      fixes=("use the pipeline code matching your diffusers (custom_revision=your diffusers "
             "version), or update diffusers",)),
    # A NameError raised in a library's code: a name it imports only when an optional package
    # is there (try: from MeCab import Tagger / except ImportError: pass) is undefined.
    S("missing_dependency", "is not defined", 0.5,
      "a library uses a name it imports only when an optional package is installed, and that "
      "package is not installed",
      r"NameError: name '(?P<name>\w+)' is not defined",
      refine=_library_name_error,
      fixes=("install the optional package the library needs for this feature (see its "
             "installation docs)",)),
    # -- round 51's tune logs
    # A JSON parser quoting the start of what it read: "version ht..." is the first line of a
    # git-lfs pointer ("version https://git-lfs.github.com/spec/v1"), cloned without git-lfs.
    S("corrupt_checkpoint", '"version ht', 0.8,
      "a JSON file read is a git-lfs pointer (its text starts 'version https://git-lfs...'), "
      "not the file: cloned without git-lfs",
      fixes=_LFS_FIX),
    # transformers' LlamaTokenizer(Fast) recurses through unk_token_id / convert_tokens_to_ids
    # when the tokenizer files name special tokens their vocabulary lacks (old llama
    # conversions): a RecursionError inside tokenizer code, or alone, reported as it was.
    S("tokenizer_error", "maximum recursion depth exceeded", 0.45,
      "a tokenizer whose files name a special token (unk/bos/eos) its vocabulary lacks recurses "
      "looking it up (LlamaTokenizer with old converted files)",
      refine=_tokenizer_recursion,
      fixes=("load the tokenizer with its slow class (use_fast=False / LlamaTokenizer), or "
             "fix the special tokens in tokenizer_config.json / special_tokens_map.json",)),
    # llama.cpp reads the GGML formats before GGUF by their magic: 0x67676a74 'ggjt',
    # 0x67676d6c 'ggml', 0x67676d66 'ggmf' are files of the old format, which a GGUF-era build
    # no longer loads.
    S("version_mismatch", "invalid magic number", 0.85,
      "the model file is in the old GGML format (ggjt/ggml/ggmf), which llama.cpp releases since "
      "August 2023 (GGUF) no longer read",
      r"(?i)invalid magic number:? (?:0x)?67676(?:a74|d6c|d66)\b",
      fixes=("use the model's GGUF file (or convert the old file with convert-llama-ggml-to-gguf),"
             " or a llama.cpp release from before GGUF for the old file",)),
    # llama.cpp's loader could not open the file it was given (fopen failed): the path.
    S("missing_file", "failed to open gguf file", 0.7,
      "the GGUF file is not at the path given (a relative path is read from the working "
      "directory or models dir)",
      refine=lambda m, s: None if "permission denied" in s.block_text else 1.0,
      fixes=("give the GGUF file's full path, or check the models directory it is read from",)),
    # DyNet (and others) name a failed host allocation in these words.
    S("host_oom", "cpu memory allocation failed", 0.85,
      "an allocation in host (CPU) memory failed: the machine ran out of RAM",
      fixes=("use less memory per process (smaller batches or model), or add RAM / swap",)),
    # A shape mismatch told in Chinese ("形状不匹配": shapes do not match) while loading weights.
    S("size_mismatch", "不匹配", 0.6,
      "a parameter's shape in the checkpoint differs from the model's (reported in Chinese)",
      r"(?i)(?:形状|shape|尺寸)\s*不匹配"),
    # AutoTokenizer met a config class of the repository's code and found no tokenizer to map:
    # tokenizer_config.json (whose auto_map names the tokenizer code) is missing from the
    # folder, an incomplete download or a folder of weights only.
    S("missing_file", "to build an autotokenizer", 0.7,
      "AutoTokenizer found no tokenizer_config.json (with its auto_map) in the folder, so it "
      "fell back to the config class, which it cannot map: tokenizer files are missing",
      _REMOTE_CONFIG_CLASS,
      fixes=("download the model's tokenizer files (tokenizer_config.json, tokenizer.model) "
             "into the folder, or point the tokenizer at the full model repository",)),
    # -- round 50's tune logs
    # exllamav2's converter checks each layer's reference forward pass: "(2)" is a NaN, "(3)" an
    # inf in its hidden states (conversion/measure.py), an fp16 overflow of the unquantized model.
    S("numeric_overflow", "measurement/inference error (", 0.85,
      "the model's own forward pass overflowed in fp16 while the converter measured a layer "
      "(NaN or inf in its hidden states)",
      r"(?i)measurement/inference error \([23]\)",
      fixes=("convert from a checkpoint whose activations fit fp16 (or with the model's "
             "recommended normalisation / scaling); a bf16-trained model may overflow in fp16",)),
    # -- round 49's tune logs
    # A file URL of the Hub (.../resolve/<revision>/<file>) answered 404: no such file (or repo)
    # there: another name, another revision, a repository id mistyped.
    S("missing_file", "/resolve/", 0.8,
      "the Hub has no such file at that revision (or no such repository)",
      r"(?i)/resolve/[^\s/]+/\S+.*\b404\b|\b404\b.*/resolve/[^\s/]+/\S+",
      fixes=("check the repository id, the revision and the file name on the Hub (the model may "
             "ship its tokenizer or weights under another name)",)),
    # A tokenizer library that handles one tokenizer model type (WordPiece, BPE, Unigram,
    # WordLevel) given files of another: the wrong tokenizer class for the files.
    S("tokenizer_error", "supported", 0.75,
      "the tokenizer files are of a model type (BPE, WordPiece, Unigram) this tokenizer does not "
      "handle",
      r"(?i)\b(?:bpe|wordpiece|unigram|wordlevel)\b.{0,80}\bsupported\b",
      refine=_says_unsupported,
      fixes=("load the files with a tokenizer of their type (AutoTokenizer or tokenizers reads "
             "tokenizer.json's model type)",)),
    # -- round 48's tune logs
    # One of transformers' tokenizer classes lacks a model's own special-token id (Qwen1's
    # im_end_id asked of Qwen2TokenizerFast): the script was written for another model's
    # tokenizer. A class transformers lacks is the model's own code (remote_code above).
    S("tokenizer_error", "object has no attribute", 0.9,
      "transformers' tokenizer class has no such special-token id: the code expects another "
      "model's tokenizer (its own ids, such as Qwen1's im_end_id)",
      r"'(?P<cls>\w*Tokenizer(?:Fast)?)' object has no attribute '(?P<attr>\w+_id)'",
      refine=_tokenizer_foreign_id, tag="over:version_mismatch",
      fixes=("use the model (or model_type / chat template) the script was written for, or take "
             "the ids from this tokenizer (tokenizer.convert_tokens_to_ids('<|im_end|>'))",)),
    # A task-head class no transformers release has (QWenLMHeadModel, InternLM2ForCausalLM) is
    # the repository's own modeling code: a method it lacks (chat_stream, stream_chat) is that
    # code's version, updated from the repository.
    S("remote_code", "object has no attribute", 0.9,
      "the model class is the repository's own modeling code (trust_remote_code), and the copy "
      "loaded lacks what the caller uses: an older or newer copy of that code",
      # (not generate(): GenerationMixin's, round 62's rule)
      r"'(?P<cls>[A-Z]\w*(?:For[A-Z]\w*|LMHeadModel))' object has no attribute (?!'generate')",
      refine=_model_class_custom, tag="over:version_mismatch",
      fixes=("update the model's code files (modeling_*.py) from its repository, or use the "
             "calling code written for the copy you have",)),
    # "X requires pkg>=V to be installed. Your version is W" (transformers' jinja2 check and
    # others): the package is there, in too old a release.
    S("version_mismatch", "your version is", 0.9,
      "the package is installed, but in an older release than the code requires",
      r"(?i)requires? [\w.-]+\s*(?:>=|>|==|~=)\s*v?\d[\w.]*.*your version is",
      tag="over:missing_dependency",
      fixes=("upgrade the package to the release named (pip install -U 'pkg>=V')",)),
    # "Can't find "model.safetensors"": a loader names the file it looked for and did not find.
    S("missing_file", "find", 0.75,
      "the file named is not where the program looks for it",
      r"(?i)\b(?:can't|cannot|can not|could not|couldn't|unable to) (?:find|locate) (?:the )?"
      r"(?:file |model )?[\"'`]?[^\s\"'`]+\.(?:safetensors|bin|ckpt|pt|pth|gguf|json|model|onnx|"
      r"ya?ml|txt|npy|npz|pkl|h5|tflite|engine)\b",
      fixes=("put the file where the program expects it (its documented models folder), or give "
             "its full path",)),
    # vLLM's "Unknown quantization method: gptq. Must be one of [...]": this release has no such
    # method; a later release may (GPTQ arrived in vLLM 0.2.6).
    S("version_mismatch", "unknown quantization method", 0.5,
      "this release of the serving library does not have the quantization method: a newer one may",
      r"(?i)unknown quantization method:?\s*[`'\"]?\w+[`'\"]?\.?\s*must be one of",
      fixes=("upgrade the library to a release that lists the method",)),
    # A converter or runtime that names the tokenizer class it cannot handle.
    S("tokenizer_error", "is not supported", 0.6,
      "the program does not handle this tokenizer class: the tokenizer files are of a kind it "
      "cannot convert or run",
      r"(?i)\btokenizer(?: class| type)?:?\s+[`'\"]?[\w.]+[`'\"]?\s+is not supported",
      fixes=("use a tokenizer of a class the program supports (or a release that adds this "
             "one)",)),
    # -- round 47's tune logs
    # TensorFlow's assert_less_equal in a model's embeddings (BERT's position slice): the
    # sequence is longer than the model's position table (the second number, 512 for BERT).
    S("context_too_long", "did not hold element-wise", 0.8,
      "the input is longer than the model's position embeddings allow",
      r"(?i)condition x <= y did not hold element-wise:\s*x \([\w/]*embeddings[\w/]*:\d+\) ="
      r"\s*\]\s*\[\d+\]\s*\[y \([\w/]*:\d+\) =\s*\]\s*\[\d+\]",
      fixes=("truncate or split the input to the model's maximum length (max_seq_length)",)),
    # -- round 46's tune logs
    # A model class transformers never had (ChatGLMModel, InternLM2ForCausalLM) is the model's
    # own code or another library's: an attribute it lacks, or a class that cannot be imported
    # from transformers (it lives in the repository's code, loaded through auto_map), names
    # that code beside the version gap.
    S("remote_code", "object has no attribute", 0.35,
      "the model class is not transformers' own: the model's code (trust_remote_code), which "
      "lacks what the caller expects (an older or newer copy of that code)",
      r"'(?P<cls>[A-Z]\w*(?:Model|For[A-Z]\w*))' object has no attribute",
      refine=_model_class_custom,
      fixes=("update the model's code (modeling_*.py) from its repository, or pin the "
             "transformers release that code was written for",)),
    S("remote_code", "cannot import name", 0.45,
      "no transformers release has this model class: it is the model's own code, loaded with "
      "trust_remote_code through the config's auto_map",
      r"cannot import name '(?P<cls>[A-Z]\w*(?:Model|For[A-Z]\w*))' from 'transformers'",
      refine=_model_class_custom,
      fixes=("load it with AutoModel*.from_pretrained(path, trust_remote_code=True) instead of "
             "importing the class from transformers",)),
    # ONNX's quantized operators (QLinearConv, ConvInteger, MatMulNBits, ...) that the
    # execution provider has no kernel for: a quantized model on a provider or opset that does
    # not run it.
    S("quantization_error", "could not find an implementation", 0.7,
      "the execution provider has no kernel for this quantized ONNX operator",
      r"(?i)could not find an implementation for (?:the )?node \S*:(?:QLinear[A-Z]\w*"
      r"|ConvInteger|MatMulInteger|MatMulNBits|DynamicQuantize\w*)\b",
      fixes=_ONNX_QUANT_FIXES),
    S("quantization_error", "qlinear", 0.7,
      "the execution provider has no kernel for this quantized ONNX operator",
      r"(?i)\bQLinear[A-Z]\w*\b.{0,80}\bnot (?:supported|implemented)",
      fixes=_ONNX_QUANT_FIXES),
    # ChatGLM's int4/int8 kernels (cpm_kernels, compiled at load) that did not load are None:
    # the quantized model on a device or platform they do not run on (CPU, MPS, no CUDA).
    S("quantization_error", "weightextraction", 0.75,
      "the quantized model's int4/int8 kernels did not load (they need CUDA and cpm_kernels)",
      r"'NoneType' object has no attribute 'int[48]WeightExtraction\w*'",
      fixes=("run the int4/int8 model on a CUDA GPU (with cpm_kernels installed), or load the "
             "float model on CPU/MPS",)),
    # A text front-end's symbol table without a phoneme (IPA) the text produced: the symbols or
    # the phonemizer are of another model or language.
    S("tokenizer_error", "keyerror", 0.6,
      "the text front-end produced a phoneme that the model's symbol table does not have",
      r"KeyError: '[^'\s]*[\u0250-\u02af][^'\s]*'",
      fixes=("use the symbol set and text cleaner/phonemizer the model was trained with",)),
    # -- round 45's tune logs
    # A child killed by SIGBUS (torchrun/DeepSpeed print its exit code as -7): in training, most
    # often a /dev/shm too small for the DataLoader workers or NCCL (Docker's 64 MB default).
    # (needles without a digit: a needle's digits are read as any digit, and "-0" is in every
    # timestamp, which would send each timestamped line to the slow whole-line scan)
    S("permission_or_disk", "exit", 0.5,
      "exit code -7: the process was killed by SIGBUS, most often /dev/shm too small",
      r"(?i)(?:exit\s*code|exitcode|exit status|exited with(?: code)?)\s*[:=]?\s*-7\b",
      fixes=_SHM_FIXES),
    S("permission_or_disk", "return", 0.5,
      "return code -7: the process was killed by SIGBUS, most often /dev/shm too small",
      r"(?i)return\s*code\s*[:=]?\s*-7\b", fixes=_SHM_FIXES),
    S("permission_or_disk", "sigbus", 0.5,
      "SIGBUS: most often /dev/shm too small, or a memory-mapped file that shrank",
      r"\bSIGBUS\b",
      fixes=_SHM_FIXES),
    S("permission_or_disk", "signal 7", 0.5,
      "signal 7 (SIGBUS): most often /dev/shm too small, or a memory-mapped file that shrank",
      r"(?i)\bsignal 7\b",
      fixes=_SHM_FIXES),
    # llama.cpp's convert scripts check added_tokens.json against the vocabulary: ids that do not
    # follow it are tokenizer files of another model or vocabulary.
    S("tokenizer_error", "added token ids", 0.75,
      "the added tokens (added_tokens.json) do not follow the vocabulary: tokenizer files of "
      "another model or vocabulary size",
      r"(?i)expected added token ids to be sequential",
      fixes=("use the tokenizer files that belong to this checkpoint (remove a stray "
             "added_tokens.json, or give the vocabulary size the tokens were added to)",)),
    # A tokenizer class transformers has never had (BaichuanTokenizer, ChatGLMTokenizer) is the
    # model's own code: when it lacks an attribute, that code is as likely the fix (an updated
    # tokenization_*.py) as the transformers release that changed the order of its init.
    S("remote_code", "tokenizer", 0.35,
      "the tokenizer is the model's own code (a class transformers does not have), which the "
      "installed transformers no longer runs",
      r"'(?P<cls>\w*Tokenizer(?:Fast)?)' object has no attribute",
      refine=_tokenizer_class_custom,
      fixes=("update the model's tokenization_*.py from its repository (or pin the transformers "
             "release its code was written for)",)),
    # -- round 44's tune logs
    # The first (or last) of a glob of checkpoint files, taken from an empty list: the folder
    # holds no file of that pattern (not there, another name, a relative path run elsewhere).
    S("missing_file", "list index out of range", 0.75,
      "a glob for the checkpoint files found none, so taking its first item failed",
      refine=_empty_glob_item,
      tag="over:context_too_long",
      fixes=("check that the folder the glob reads exists from where the script runs and holds "
             "files of that pattern (download or train the checkpoint first)",)),
    # TensorFlow's tf.train.get_checkpoint_state returns None when the folder has no
    # 'checkpoint' index file: no checkpoint there.
    S("missing_file", "attribute 'model_checkpoint_path'", 0.8,
      "tf.train.get_checkpoint_state found no checkpoint in the folder (no 'checkpoint' index "
      "file), so it returned None",
      fixes=("point at the folder that holds the checkpoint's files and its 'checkpoint' index "
             "file (download or train it first)",)),
    # -- round 42's tune logs
    # candle's VarBuilder: the weights file has no tensor of the name the model asks for (a
    # checkpoint of another architecture or naming), not a missing file.
    S("missing_or_unexpected_keys", "cannot find tensor", 0.75,
      "the weights file has no tensor of the name the model expects (another architecture or "
      "another naming of the checkpoint)",
      r"(?i)\bcannot find tensor [\w-]+(?:\.[\w-]+)+", tag="over:missing_file",
      fixes=("load the checkpoint this model's code expects (same architecture and naming), or "
             "map the names when building the model",)),
    # -- round 41's tune logs
    # TensorFlow's checkpoint reader (tensor_slice_reader.cc) found no file for the prefix: a
    # NotFound, whatever the code around it says.
    S("missing_file", "couldn't match files for checkpoint", 0.85,
      "no checkpoint file matches this prefix (a wrong path or name, or files not downloaded)",
      fixes=("point it at the checkpoint's prefix (model.ckpt-N, without .index or "
             ".data-*) in a directory that holds those files",)),
    # Paddle's LoadCombine op could not open the parameters file (std::ifstream): the path is
    # not there (an archive not extracted, a wrong directory); a damaged file opens and fails
    # later, whatever the message's hint says.
    S("missing_file", "fail to open file", 0.8,
      "Paddle could not open the model's parameters file: the path is not there",
      r"(?i)\bfail to open file \S+, please check whether the model file is complete or damaged",
      tag="over:corrupt_checkpoint",
      fixes=("check the path (extract a .tar.gz model first; point at the directory that holds "
             "the .pdparams / .pdiparams file)",)),
    # -- round 40's tune logs
    # Token id 0 is "<pad>" in the Gemma and T5 vocabularies: a generation of nothing but <pad>
    # is argmax over NaN logits, as "!" is in the byte-level BPE ones (above).
    S("numeric_overflow", "<pad>", 0.6,
      "the model generated only <pad> (token id 0 in Gemma's and T5's vocabularies): its "
      "logits are NaN, most often float16 overflowing",
      r"(?i)(?:<pad>\s*){4,}|\b(?:repeats?|repeating|repeated|outputs?|generat\w*|produces?"
      r"|returns?|gives?)\b[^\n<]{0,30}<pad>\W{0,3}(?:over and over|again and again|repeated\w*"
      r"|<pad>)|\b(?:only|nothing but) <pad>s?\b(?! token)", fixes=_NAN_FIX),
    # flash-attn's build runs as many nvcc jobs as there are cores, several GB of RAM each: its
    # README's MAX_JOBS is the fix when building it takes all the host memory.
    S("host_oom", "flash", 0.8,
      "building flash-attn ran out of host memory (its parallel nvcc jobs need several GB each)",
      r"(?i)^(?=.*\bflash[-_ ]?attn)(?=.*(?:\bbuild|\bcompil|\bninja\b|\bwheels?\b|setup\.py"
      r"|max_jobs))(?!.*\b(?:cuda|gpu)\b[^\n]{0,20}\bmemory)(?=.*(?:\ball (?:the |my |of the "
      r"|available )?(?:memory|ram)\b|\b(?:cpu|system|host) (?:memory|ram)\b|\b(?:out of|exhaust\w*"
      r"|fill\w*|eat\w*|us\w* up|tak\w* up)\b[^\n]{0,20}\b(?:ram|memory)\b|\bkilled\b|\boom\b"
      r"|\bcrash\w* (?:the|my) (?:machine|system|computer|server)|\bfreez\w*))",
      tag="over:flash_attention",
      fixes=("limit the parallel compile jobs: MAX_JOBS=4 pip install flash-attn "
             "--no-build-isolation (or install a prebuilt wheel matching torch and CUDA)",)),
    # -- round 39's tune logs
    # Windows' ERROR_PRIVILEGE_NOT_HELD (1314): creating a symbolic link (the hub cache's and
    # many loaders' layout) needs Developer Mode or an administrator.
    *(S("permission_or_disk", needle, 0.85,
        "Windows refused the operation: this user lacks the privilege (symbolic links need "
        "Developer Mode or an administrator)",
        r"(?i)\bWinError 1314\b|a required privilege is not held by the client",
        fixes=("turn on Windows Developer Mode (or run as administrator), or copy the files "
               "instead of linking them",))
      for needle in ("winerror 1314", "required privilege is not held")),
    # transformers binds a sentencepiece tokenizer class (Albert, T5, XLNet, Camembert, ...) to
    # None when sentencepiece is not installed: "the tokenizer is None" said in words.
    S("missing_dependency", "none", 0.6,
      "the tokenizer class is None: the package it needs (sentencepiece?) is not installed",
      # (the tokenizer itself: not its pad_token, nor a tokenizer_config, being None)
      r"(?i)\b\w*tokeni[sz]ers?\b(?:\.from_pretrained\b(?:\([^)]{0,120}\))?)?(?![.\[_])"
      r"[^.\n]{0,80}?\b(?:returns?|returned|is|was|gives?|gave|got|becomes?)\s+(?:an?\s+)?"
      r"(?:NoneType|None)\b",
      fixes=("pip install sentencepiece (and protobuf), then restart the Python process",)),
    # -- round 38's tune logs
    # tiktoken's table of OpenAI model names (encoding_for_model) has no entry for a model newer
    # than the installed tiktoken.
    S("version_mismatch", "could not automatically map", 0.8,
      "the installed tiktoken is older than this OpenAI model name (its model table lacks it)",
      r"(?i)could not automatically map (?:gpt-|chatgpt|o\d|text-|code-|davinci|babbage)",
      fixes=("upgrade tiktoken (pip install -U tiktoken), or call tiktoken.get_encoding() with "
             "the encoding name (cl100k_base, o200k_base)",)),
    # -- round 37's tune logs
    # Windows refuses a path whose syntax is wrong (a second drive letter inside, a quote or a
    # colon in a name): the file it names cannot be there.
    *(S("missing_file", needle, 0.75,
        "the path given is malformed (a drive letter, colon or quote where a name should be), "
        "so no file is found there",
        tag="over:remote_code",
        fixes=("pass the path as it is on disk (a raw string r'D:\\models\\x' or forward "
               "slashes), not quoted twice or joined to another path",))
      for needle in ("winerror 123", "volume label syntax is incorrect", "卷标语法不正确")),
    # And two older tune families. PaddleOCR's inference models changed their file names in 2.0
    # ("model" / "params" became inference.pdmodel / inference.pdiparams): a model directory of
    # one release (its name carries it, ch_ppocr_mobile_v1.1_det_infer) read by another's code.
    S("version_mismatch", "find model file", 0.85,
      "the model directory is of another PaddleOCR release than the code (the model's file "
      "names changed in 2.0)",
      # v1 models read by 2.0's code (it asks for inference.pdmodel), or 2.0's by 1.x's (model)
      r"(?i)not find model file path \S*_v(?:1(?:\.\d+)?_\w*infer/+inference\.pd"
      r"|(?:[2-9]|\d\d)(?:\.\d+)?_\w*infer/+(?:model|params)\b)", tag="over:missing_file",
      fixes=("download the inference models of the release the code is (see its README's "
             "model list), or use the code of the models' release",)),
    # A model name looked up in a toolkit's registry (FunASR, OpenMMLab, ...) that this release
    # does not have: added in a newer one.
    S("version_mismatch", "is not registered", 0.55,
      "the name is not in this release's registry: it was added in a newer release (or by a "
      "plugin that is not imported)",
      r"(?i)[\w./-]+ is not registered\b",
      fixes=("upgrade the toolkit to a release that has the model (or import the plugin that "
             "registers it)",)),
    # -- round 36's tune logs
    # A tokenizer's UTF-8 file read with a locale's codec: Windows' cp1252 ('charmap'), 'gbk' on
    # Chinese Windows, 'ascii' under a C / POSIX locale.
    S("tokenizer_error", "codec can't decode", 0.75,
      "a tokenizer file (UTF-8) was read with the system's default encoding, not UTF-8",
      r"(?i)'(?:charmap|gbk|gb2312|gb18030|ascii|cp\d+|shift_jis|euc[-_]\w+)' codec can't decode",
      refine=_tokenizer_file_text,
      fixes=("set PYTHONUTF8=1 (Windows) or a UTF-8 locale (LANG=C.UTF-8), or open the file with "
             "encoding='utf-8'",)),
    # CUDA's page-locked host buffers (cudaHostAlloc, llama.cpp / koboldcpp's offload staging):
    # host RAM the driver could not pin.
    S("host_oom", "out of pinned memory", 0.6,
      "the host could not page-lock (pin) the RAM asked for: too little free RAM, or a lock limit",
      fixes=("load with memory-mapping (mmap) on, offload fewer layers, or free host RAM",)),
    # And an older tune family: GPTQ quantization through optimum / transformers calibrates on a
    # GPU and refuses without one ("No GPU found. A GPU is needed for quantization.").
    S("quantization_error", "a gpu is needed", 0.85,
      "this quantization method (GPTQ calibration) runs only on a GPU, and none is visible",
      r"(?i)a gpu is needed (?:for quantization|to quantize)", tag="over:cuda_unavailable",
      fixes=("quantize on a machine with a CUDA GPU (or load an already-quantized checkpoint); "
             "on this one, use a CPU method (GGUF, or torch dynamic int8)",)),
    # -- round 35's tune logs
    # spaCy (E002): a pipeline names a component factory no installed package registers
    # ("transformer" is spacy-transformers', "llm" spacy-llm's).
    S("missing_dependency", "can't find factory for", 0.75,
      "the pipeline uses a component from a package that is not installed (e.g. "
      "'transformer' needs spacy-transformers)",
      r"(?i)\[E002\] Can't find factory for ['\"][\w.-]+['\"]",
      fixes=("install the package that provides the component (pip install "
             "spacy-transformers for 'transformer'; spacy-llm for 'llm')",)),
    # AllenNLP's registry: the model / reader name is registered by a package not installed
    # or not imported (allennlp-models, or the project's own code).
    S("missing_dependency", "is not a registered name for", 0.7,
      "the component is registered by a package that is not installed or not imported "
      "(allennlp-models, or the project's own code)",
      fixes=("pip install allennlp-models (matching the allennlp version), or pass "
             "--include-package with the module that registers it",)),
    # transformers fetching a model's own code file (auto_map, possibly from another
    # repository): not found there or not reachable (offline).
    S("remote_code", "could not locate the", 0.9,
      "a file of the model's own code (trust_remote_code) could not be fetched: its auto_map "
      "names a file of this or another repository that is not there or not reachable",
      r"(?i)could not locate the (?:configuration|modeling|tokenization|processing|"
      r"image_processing|feature_extraction)_\w+\.py inside",
      tag="over:missing_file",
      fixes=("go online once (or download the repository its auto_map names into the cache), "
             "or use a revision of the model whose code is complete",)),
    # MLX's quantized layers keep scales and biases beside each weight: missing only those,
    # the model was built unquantized (or with another group size / bits) for a quantized file.
    S("quantization_error", "missing parameters:", 0.9,
      "the checkpoint's quantization does not match the model built for it (only the quantized "
      "layers' scales / biases are missing)",
      r"(?i)missing parameters:\s*(?P<names>(?:[\w.]+\.(?:scales|biases)[\s,]*)+)\.?\s*$",
      tag="over:missing_or_unexpected_keys",
      fixes=("load it with the quantization it was saved with (mlx_lm reads it from config.json; "
             "an older mlx-lm may not)",)),
    # A quantized layer whose quantized weight object is missing (hqq, bitsandbytes).
    S("quantization_error", "has no attribute 'dequantize", 0.7,
      "a quantized layer has no quantized weight to dequantize: the model was not quantized "
      "as the code expects (or was quantized by another version)"),
    # bitsandbytes' quantization state (absmax, quant_map, ...) stored beside a 4-bit weight:
    # a loader without bitsandbytes support looks these keys up as plain weights.
    *(S("quantization_error", needle, 0.8,
        "the checkpoint is bitsandbytes-quantized (its quantization state is stored beside "
        "each weight) and this loader does not read it as such",
        r"KeyError: '[\w.]*\.(?:absmax|quant_map|nested_absmax|nested_quant_map|"
        r"quant_state[\w.]*)'",
        fixes=("load it with bitsandbytes support (vLLM: --quantization bitsandbytes "
               "--load-format bitsandbytes), or use the unquantized checkpoint",))
      for needle in (".absmax'", ".quant_map'", ".quant_state")),
    # -- round 34's tune logs
    # A system library a Python binding loads at import (PortAudio for sounddevice, libsndfile
    # for soundfile, ...), or one the linker needs ("ld: library not found for -lomp").
    S("missing_dependency", "library not found", 0.8,
      "a system library this package needs is not installed",
      fixes=("install the library with the system's package manager (apt install "
             "libportaudio2 / libsndfile1 / ..., brew install ...), or a wheel that bundles it",)),
    # torchaudio's backends: "load requires sox extension which is not available".
    S("missing_dependency", "extension which is not available", 0.8,
      "the library behind this backend (sox, ffmpeg) is not installed",
      fixes=("install the system library (apt install sox libsox-dev / ffmpeg) or use "
             "another backend (soundfile)",)),
    # A C/C++ build (Triton's launcher, a CUDA extension) missing a package's headers:
    # Python.h is python3-dev, cuda_runtime.h the CUDA toolkit. The compiler's reason may be in
    # the system's language ("portaudio.h: Bestand of map bestaat niet", round 64); the other
    # fatal errors on a header say what else went wrong.
    S("missing_dependency", "fatal error:", 0.8,
      "a build step needs the headers of a package that is not installed (Python.h: the "
      "Python development package; cuda*.h: the CUDA toolkit)",
      r"\bfatal error: [\w/.+-]+\.(?:h|hh|hpp|cuh): (?!Permission denied|Is a directory|file "
      r"not recognized)\S",
      fixes=("install the development package (apt install python3-dev / python3.X-dev, "
             "portaudio19-dev, ...; the CUDA toolkit for cuda*.h), or a prebuilt wheel",)),
    # llama.cpp (and what embeds it: ollama, LM Studio, llama-cpp-python) older than the model
    # architecture in the GGUF file.
    S("version_mismatch", "does not support this gguf's model architecture", 0.8,
      "this llama.cpp build is older than the model's architecture",
      fixes=("update llama.cpp (or the app that bundles it) to a release that supports the "
             "architecture",)),
    # torch < 0.4's copy_ between tensors of different sizes, in load_state_dict.
    S("size_mismatch", "inconsistent tensor size", 0.75,
      "a checkpoint tensor has another size than the model's parameter (old torch's wording)"),
    # A path handed to open()/load() as None: the loader did not find the file it looks for
    # (a tokenizer's vocab_file, qwen.tiktoken, ...).
    S("missing_file", "os.pathlike object, not nonetype", 0.85,
      "a file the loader needs was not found: its path is None",
      refine=lambda m, s: 0.85 if _NONE_PATH_CALL.search(s.block_text) else None,
      fixes=("check that the model folder has every file its loader names (the tokenizer's "
             "vocabulary file, e.g. qwen.tiktoken, tokenizer.model)",)),
    # -- round 33's tune logs
    # A tokenizer whose special tokens are read-only properties (a model's own tokenizer code,
    # e.g. ChatGLM's): assigning pad_token fails with the generic AttributeError.
    S("tokenizer_error", "attribute", 0.7,
      "this tokenizer class makes its special-token attributes read-only: they cannot be "
      "assigned (pad_token = ...)",
      r"AttributeError: (?:can't set attribute|property '\w+' of '\w+' object has no setter)",
      refine=_tokenizer_setter,
      fixes=("pass the token when the tokenizer is built (from_pretrained(..., pad_token=...)) "
             "or use its own pad token; do not assign the attribute afterwards",)),
    # Triton's fp8e4nv type (fp8 matmuls compiled by torch.compile / Triton) needs sm_89+.
    S("quantization_error", "data type is not supported on cuda arch", 0.8,
      "this fp8 format needs a newer GPU (Ada / Hopper: compute capability 8.9 or later)",
      r"(?i)fp8\w* data type is not supported on cuda arch",
      fixes=("on an older GPU, load the model without fp8 (bf16/fp16, or another quantization "
             "such as AWQ / GPTQ / bitsandbytes)",)),
    # A tool's own check that its config or model file exists.
    *(S("missing_file", needle, 0.75,
        "the config or model file the tool reads is not at the path it was given",
        fixes=("check the path (and that the conversion or build step that writes the file "
               "ran first)",))
      for needle in ("missing config file", "missing model file")),
    # "Unable to find voice: /path/x.onnx", "Can't find config.json at ...": a named file that
    # is not there.
    *(S("missing_file", needle, 0.7,
        "a file the program looks for is not at that path",
        _FOUND_NOWHERE,
        fixes=("check the path and download or create the file it names",))
      for needle in ("unable to find", "could not find", "couldn't find", "cannot find",
                     "can't find")),
    # "I don't have nvidia-driver" (a container without the host's driver mounted).
    S("cuda_unavailable", "nvidia-driver", 0.6,
      "no NVIDIA driver is visible to this process (a container started without the GPU, or "
      "a host without the driver)",
      r"(?i)(?:don't|do not|doesn't|does not|no) (?:have )?(?:an? )?nvidia[- ]driver",
      fixes=("in Docker: run with --gpus all and the NVIDIA Container Toolkit installed",
             "on the host: nvidia-smi must work")),
    # A report that the GPU is not seen ("not recognizing my CUDA on WSL2").
    *(S("cuda_unavailable", needle, 0.6,
        "the program does not see the GPU",
        r"(?i)(?:not|n't) (?:recogni[sz]|detect)\w* (?:my |the |any )?(?:cuda|gpus?|nvidia)\b",
        fixes=("check that torch (or the framework) sees it: torch.cuda.is_available(), "
               "nvidia-smi; under WSL2 the Windows driver provides CUDA",))
      for needle in ("not recogni", "n't recogni", "not detect", "n't detect")),
    # transformers 5 reads every model's tied-weights table, which PreTrainedModel.post_init
    # sets: a model's own code (trust_remote_code) written for 4.x may never call it.
    S("remote_code", "has no attribute 'all_tied_weights_keys'", 0.8,
      "the model's own code (trust_remote_code) was written for transformers 4.x: its model "
      "class does not set what transformers 5 expects",
      fixes=("pin transformers<5 for this model, or use a revision of the model whose code "
             "supports transformers 5",)),
    # -- round 32's tune logs
    # errno 30 is EROFS (Linux and macOS): printed by its number alone, without the words.
    S("permission_or_disk", "[errno 30]", 0.85,
      "the path is on a read-only file system (errno 30), e.g. a container's home, a "
      "serverless function outside /tmp, a read-only mount",
      fixes=("point the cache or output folder at a writable path (HF_HOME, XDG_CACHE_HOME, "
             "the tool's own cache variable; /tmp on AWS Lambda)",)),
    # TensorRT-LLM and TensorRT's optimization profiles: a tensor longer than the engine was
    # built for. Past the first (batch) dimension, that is the sequence: the prompt and the
    # output exceed the engine's max input / sequence length.
    S("context_too_long", "engine supports", 0.75,
      "the sequence is longer than the TensorRT engine's optimization profile allows: it was "
      "built with a smaller max input / output length",
      r"shape torch\.Size\(\[(?P<shape>[\d, ]+)\]\), engine supports \[min, opt, max\] = "
      r"\[.*\((?P<max>[\d, ]+)\)\]",
      refine=lambda m, s: 0.75 if m is not None and _beyond_past_batch(
          m.group("shape"), m.group("max")) else None,
      fixes=("rebuild the engine with a larger max_input_len / max_seq_len (or "
             "max_num_tokens), or shorten the prompt and max_new_tokens",)),
    # -- round 31's tune logs
    # transformers' ProcessorMixin checks each part's class: the fast and the slow class of
    # the same processor disagree when the caller (vLLM, a model's code) and transformers are
    # from different releases (4.5x made the fast image processors the default).
    S("version_mismatch", "was expected", 0.8,
      "the processor part is the fast (or slow) variant of the class the caller expects: the "
      "caller and transformers are from releases that disagree on the default",
      r"Received a (?P<cls>\w+?)(?:Fast)? for argument \w+, but a (?P=cls)(?:Fast)? was expected",
      refine=lambda m, s: 0.8 if m is not None and m.group(0).count("Fast") == 1 else None,
      fixes=("use the transformers release the caller supports (or upgrade the caller), or "
             "pass use_fast=False / True to match what it expects",)),
    # -- round 30's tune logs
    # torchaudio's backends import their audio library lazily and say which one failed.
    S("missing_dependency", "but we failed to import it", 0.85,
      "the audio library this torchaudio backend needs is not installed",
      r"(?i)requires (?P<pkg>[\w.-]+), but we failed to import it",
      fixes=("pip install soundfile (or the package it names); on Linux the sox backend also "
             "needs the system's libsox",)),
    # Windows' "procedure could not be found" (WinError 127): the DLL was found and loaded but
    # lacks a function the module was linked against: built for another version.
    S("version_mismatch", "the specified procedure could not be found", 0.75,
      "a compiled module and the DLL it links against are from different versions (the DLL "
      "loads but lacks a function the module was built to call)",
      tag="over:missing_dependency",
      fixes=("install the build of the extension made for the installed torch / CUDA (or the "
             "torch it was built for)",)),
    # TensorRT reads a serialized engine whose size or layout this TensorRT does not expect.
    S("version_mismatch", "expected size of serialized engine", 0.8,
      "the engine was serialized by another TensorRT version than the one deserializing it",
      fixes=("rebuild the engine with the TensorRT (and on the GPU) that loads it",)),
    # protobuf cannot parse an ONNX file: it is not a whole ONNX model (a cut download, a Git
    # LFS pointer, an HTML page).
    S("corrupt_checkpoint", "error parsing message", 0.75,
      "the ONNX file cannot be parsed: it is incomplete or not an ONNX model at all",
      refine=lambda m, s: 0.75 if "onnx" in s.block_text else None,
      fixes=("download the model again and compare its size or checksum with the source's",
             "a file of a few hundred bytes is a Git LFS pointer: git lfs pull")),
    # transformers 4.31+ no longer saves BERT-style embeddings' position_ids: a checkpoint
    # saved since then misses them when code on an older transformers loads it strictly.
    S("version_mismatch", "missing key(s) in state_dict", 0.9,
      "the only missing keys are embeddings' position_ids: the checkpoint was saved with "
      "transformers 4.31 or later, which no longer stores that buffer, and an older "
      "transformers builds the model",
      r"(?i)missing key\(s\) in state_dict:\s*(?P<keys>.+)",
      refine=lambda m, s: 0.9 if m is not None and _only_position_ids(
          m.group("keys"), s, "unexpected key(s)") else None,
      tag="over:missing_or_unexpected_keys",
      fixes=("use transformers 4.31 or later (or the version the checkpoint names), or load "
             "with strict=False: position_ids is a constant the model rebuilds",)),
    # ROCm's "no kernel image": the HIP build has no code object for this GPU's gfx target.
    S("cuda_driver_mismatch", "hiperrornobinaryforgpu", 0.9,
      "the ROCm build has no code object for this GPU's architecture (gfx target)",
      fixes=("on a consumer card close to a supported one: export HSA_OVERRIDE_GFX_VERSION "
             "(e.g. 10.3.0 for RDNA2, 11.0.0 for RDNA3)",
             "else install a ROCm build of torch that lists this gfx target")),
    # transformers 4.50/4.51's allocator warm-up iterates the model's _tp_plan, None for some
    # models and remote code: a bug of those releases.
    S("version_mismatch", "'nonetype' object is not iterable", 0.8,
      "transformers' allocator warm-up of that release fails on a model without a "
      "tensor-parallel plan (a bug of transformers 4.50/4.51)",
      refine=lambda m, s: 0.8 if "caching_allocator_warmup" in s.frames_text
      and "_tp_plan" in s.block_text else None,
      fixes=("upgrade transformers past the fix, or pin the release before (4.49)",)),
    # A loader that counts what it read: no weights from no files is a model folder without
    # its weight files (an interrupted download, the wrong folder).
    S("missing_file", "from 0 file", 0.8,
      "the loader found no weight files at the model path: nothing was loaded",
      r"(?i)\b(?:loaded|read) 0 (?:weights|tensors|parameters) from 0 files?\b",
      tag="over:missing_or_unexpected_keys",
      fixes=("check that the model folder holds its *.safetensors shards (a download that "
             "stopped leaves only the config and tokenizer): download it again",)),
    # A named model file (a tokenizer, a config, weights) is not at the path given.
    S("missing_file", "does not exist", 0.7,
      "a file the load names is not at that path",
      r"(?i)[\w.-]+\.(?:model|json|bin|safetensors|pt|pth|ckpt|gguf|onnx|txt|yaml|pkl|h5|pb)"
      r"\s+does not exist",
      fixes=("check the path (a leading '/' makes it absolute; Windows separators), and that "
             "the file was downloaded",)),
    # -- round 29's tune logs
    # GPTQ checkpoints: an act-order group index (g_idx) without the group size it belongs to
    # (a quantization config that does not match the tensors).
    S("quantization_error", "group index but no groupsize", 0.8,
      "the GPTQ checkpoint's act-order group index does not match its quantization config "
      "(group size)",
      fixes=("check quantize_config.json (group_size, desc_act) against how the model was "
             "quantized, or use a loader that reads it (auto-gptq, transformers' GPTQ)",)),
    # torch's pad_sequence given the tokenizer's pad id, which is None: the tokenizer has no
    # pad token.
    S("tokenizer_error", "padding_value", 0.75,
      "the tokenizer has no pad token: its pad id is None where a padding value is needed",
      r"(?i)'padding_value'.{0,40}must be \w+, not NoneType",
      fixes=("set a pad token (tokenizer.pad_token = tokenizer.eos_token, or the model's own pad "
             "token) and the model config's pad_token_id",)),
    # -- round 27's tune logs
    # torch.hub runs the hub repository's hubconf.py from its cache: an entry point missing
    # there is a cache older than the code the call expects (or a wrong entry name).
    S("remote_code", "in hubconf", 0.75,
      "torch.hub's cached copy of the repository has no such entry point: the cache is older "
      "than the code you follow (or the entry's name is wrong)",
      r"(?i)cannot find callable \S+ in hubconf",
      fixes=("torch.hub.load(..., force_reload=True) (or delete ~/.cache/torch/hub/<repo>)",
             "check the entry's name in the repository's hubconf.py")),
    # The hub repository's own packages (utils, models) shadowed by a module of the same name
    # in the working directory or on sys.path.
    S("remote_code", "is not a package", 0.7,
      "the torch.hub repository's code imports its own package, but a module of the same name "
      "in your working directory is found first",
      r"(?i)no module named '(?P<pkg>\w+)\.[\w.]+'; '(?P=pkg)' is not a package",
      refine=lambda m, s: 0.7 if _in_torch_hub(s) else None,
      fixes=("rename your own module (e.g. utils.py) or run from another folder",)),
    # TensorFlow / TF-Hub pointed at a folder without a SavedModel (an emptied hub cache, or
    # the wrong folder).
    S("missing_file", "contains neither 'saved_model.pb", 0.75,
      "the folder has no SavedModel in it (a TF-Hub cache emptied by the system, or the wrong "
      "folder)",
      fixes=("delete that folder (TF-Hub downloads it again) or point at the folder that holds "
             "saved_model.pb",)),
    # TF1's checkpoint reader given one file of a checkpoint (a .data-* shard, .index or .meta)
    # where it wants the checkpoint's prefix.
    S("missing_file", "not an sstable", 0.7,
      "the checkpoint path names one of the checkpoint's files; TensorFlow wants its prefix",
      r"(?i)unable to open table file \S+\.(?:data-\d+-of-\d+|index|meta):\s*data loss: not an "
      r"sstable",
      fixes=("pass the prefix: model.ckpt-1000, not model.ckpt-1000.data-00000-of-00001",)),
    # pyannote's Pipeline/Model.from_pretrained returns None (it only logs) when the gated
    # models' conditions were not accepted or no token was given.
    S("permission_or_disk", "'nonetype' object has no attribute", 0.6,
      "pyannote's from_pretrained gave None: its gated models (speaker-diarization, "
      "segmentation) need their conditions accepted on the hub and a token",
      refine=lambda m, s: 0.6 if "pyannote" in s.block_text or "diariz" in s.block_text
      else None,
      fixes=("accept the user conditions of pyannote/segmentation and "
             "pyannote/speaker-diarization on the hub, then pass use_auth_token / HF_TOKEN",)),
    # tarfile's octal header parse of a file that is not a tar: torch < 1.6 reading a
    # checkpoint saved in the zip format torch 1.6+ writes.
    S("version_mismatch", "invalid literal for int() with base 8", 0.6,
      "the checkpoint was read as a legacy tar archive: a torch older than 1.6 reading a file "
      "saved in the newer zip format",
      fixes=("upgrade torch to 1.6 or later (or save with _use_new_zipfile_serialization=False)",
             )),
    # PaddleOCR's recognizer decodes class indices through its character dictionary: an index
    # past the dictionary is a dictionary that does not match the model.
    S("tokenizer_error", "list index out of range", 0.7,
      "the OCR model's classes do not match the character dictionary used to decode them",
      refine=lambda m, s: 0.7 if ("self.character[" in s.block_text
                                  or "rec_char_type" in s.block_text
                                  or "character_dict" in s.block_text) else None,
      fixes=("use the dictionary the model was trained with (rec_char_dict_path, use_space_char), "
             "read as UTF-8 without a BOM",)),
    # A C++ stream that failed to open or write (llama.cpp's quantize, torch.save): most often
    # an output folder that does not exist; a full disk reads the same.
    S("missing_file", "iostream error", 0.55,
      "the program could not open or write a file (its folder does not exist or is not "
      "writable, or the disk is full)", r"(?i)basic_ios::clear: iostream error",
      fixes=("create the output folder (check the path's spelling) or write where you may",
             "check the free space where it writes (df -h)")),
    # -- round 26's tune logs
    # torch.load takes a damaged download for a legacy tar checkpoint and finds no 'storages'
    # member in it (tarfile's KeyError): the file is not the checkpoint it should be.
    S("corrupt_checkpoint", "filename 'storages' not found", 0.8,
      "torch.load read the file as a legacy (tar) checkpoint and found no tensors in it: the "
      "download is damaged or incomplete",
      fixes=("download the checkpoint again and compare its size (or checksum) with the "
             "source's",)),
    # roop / ReActor (and their forks) warn at start that their models folder has no face-swap
    # model (inswapper_128.onnx not where they look).
    S("missing_file", "one model", 0.7,
      "the face-swap extension found no model in its models folder",
      r"(?i)\b(?:have at least|at least have) one model\b",
      fixes=("put the model (e.g. inswapper_128.onnx) into the models folder the extension "
             "reads (e.g. <webui>/models/roop or models/insightface), not the extension's own",)),
    # tiktoken's Rust encoder panics when a (hand-made or converted) rank table has no token for
    # some bytes of the text.
    S("tokenizer_error", "no entry found for key", 0.7,
      "tiktoken's encoding table has no entry for some bytes of the text: a custom or converted "
      "rank table that does not cover all 256 bytes",
      refine=lambda m, s: 0.7 if "tiktoken" in s.block_text or "core_bpe" in s.block_text
      else None,
      fixes=("build the rank table with a token for each of the 256 single bytes (or use the "
             "model's own tokenizer instead of a converted one)",)),
    # A word or special token the tokenizer's vocabulary does not have (BERT-style vocab.txt).
    S("tokenizer_error", "vocab", 0.6,
      "a token the code uses is not in the tokenizer's vocabulary",
      r"(?i)\b(?:is )?not (?:found )?in (?:the )?vocab(?:ulary)?\b|\bno .{1,60} in +vocab\b",
      fixes=("add the token to the vocabulary (tokenizer.add_tokens / vocab.txt) and resize the "
             "model's embeddings, or use the tokenizer the model was trained with",)),
    # sentencepiece releases before 0.1.9x returned bytes from EncodeAsPieces on Python 3.
    S("version_mismatch", "expected str instance, bytes found", 0.8,
      "an old sentencepiece returns bytes where the code expects str",
      refine=lambda m, s: 0.8 if "sentencepiece" in s.block_text else None,
      fixes=("pip install -U sentencepiece",)),
    # flash-attn's fused layer norm supports a few dtype combinations: weights in one dtype and
    # the input in another is not one of them.
    S("dtype_unsupported", "unsupported hidden_size or types", 0.75,
      "flash-attn's fused kernel was given tensors of different dtypes (e.g. bf16 weights with "
      "an fp32 input)", r"(?i)unsupported hidden_size or types: \d+(?=\S*(?:bfloat16|half))"
      r"(?=\S*(?<![a-z])float)", tag="over:flash_attention",
      fixes=("cast the input to the weights' dtype (or run the model under torch.autocast)",)),
    # The hub answers 401 also for a repository id that does not exist: a moved or mistyped id
    # reads as "Unauthorized" (a private or gated repository stays the other reading).
    S("missing_file", "401 client error", 0.55,
      "the hub has no public repository of that id (moved, renamed or mistyped; a private or "
      "gated one answers the same)",
      r"(?i)401 Client Error: Unauthorized for url: https?://(?:huggingface\.co|hf\.co)/api/"
      r"models/",
      fixes=("check the repository id on the hub (it may have moved to another organisation)",
             "if it is private or gated, log in (huggingface-cli login / HF_TOKEN)")),
    # -- round 25's tune logs
    # A C++ program's check that a file stream opened (cppjieba, many native tools): the file
    # is not at the path it was given.
    S("missing_file", "is_open()", 0.7,
      "a native program could not open a file it needs (a dictionary or model file): it is not "
      "at the path given", r"(?i)\[?!?\s*\w*\.?is_open\(\)\s*\]?\s*(?:false|failed|is false)",
      fixes=("check that the file exists at that path (relative paths are from the working "
             "directory the program was started in)",)),
    # -- round 24's tune logs
    # A CUDA runtime library (libcudart / libcudnn / libcublas ..., not the driver's libcuda) is
    # not installed: the package was built against a CUDA or cuDNN release this machine lacks.
    # Labelled a missing dependency in the threads (the fix installs it); a driver mismatch stays
    # a weaker reading.
    S("missing_dependency", "cannot open shared object file", 0.6,
      "a CUDA library this build needs (the CUDA runtime, cuDNN or cuBLAS of its CUDA release) "
      "is not installed", refine=_shared_object("cuda_runtime_missing"),
      fixes=("install the CUDA / cuDNN release the package was built for (e.g. pip install "
             "nvidia-cudnn-cu12, or the toolkit's libraries), or install a build of the package "
             "for the CUDA you have",
             "if they are installed, add their folder to LD_LIBRARY_PATH")),
    # transformers 4.31+ keeps BERT-style embeddings' position_ids out of the state dict: a
    # checkpoint saved before has them as its only unexpected keys.
    S("version_mismatch", "unexpected key(s) in state_dict", 0.9,
      "the only unexpected keys are embeddings' position_ids: the checkpoint was saved with a "
      "transformers older than 4.31, which still stored that buffer",
      r"(?i)unexpected key\(s\) in state_dict:\s*(?P<keys>.+)",
      refine=lambda m, s: 0.9 if m is not None and _only_position_ids(m.group("keys"), s)
      else None, tag="over:missing_or_unexpected_keys",
      fixes=("drop the keys before loading (`{k: v for k, v in sd.items() if not "
             "k.endswith('position_ids')}`) or load with strict=False",
             "or use the transformers version the checkpoint was saved with")),
    # transformers 4.45+ passes padding_side to a tokenizer's _pad(): a model's own tokenizer
    # code (remote code, e.g. ChatGLM's) written before does not take it.
    # Threads settle it both ways (2 of 3 tune logs by a transformers before 4.45).
    S("version_mismatch", "_pad() got an unexpected keyword argument 'padding_side'", 0.8,
      "transformers 4.45+ passes padding_side to _pad(), which the model's own tokenizer code "
      "(written before) does not take",
      fixes=("use transformers < 4.45 with these model files",
             "or update the model's files (tokenization_*.py) from its hub repository")),
    S("remote_code", "_pad() got an unexpected keyword argument 'padding_side'", 0.6,
      "the model's own tokenizer code (remote code) predates transformers 4.45, which passes "
      "padding_side to _pad()",
      fixes=("update the model's files (tokenization_*.py) from its hub repository",)),
    # transformers' tokenizer_class_from_name gets None for a slow tokenizer class whose
    # library is missing (sentencepiece) and calls getattr(module, None).
    S("missing_dependency", "attribute name must be string", 0.6,
      "transformers found no tokenizer class to load: the slow tokenizer needs sentencepiece, "
      "which is not installed",
      refine=lambda m, s: 0.6 if "tokenizer_class_from_name" in s.frames_text
      or "tokenization_auto" in s.frames_text else None,
      fixes=("pip install sentencepiece (and protobuf), then load the tokenizer again",)),
    # llama.cpp's converter meets a quantized checkpoint's extra tensors (fp8 scales, GPTQ/AWQ
    # qweight/qzeros/scales, bitsandbytes absmax) or its int8 / fp8 dtypes.
    S("quantization_error", "map tensor", 0.75,
      "the converter cannot map a quantized checkpoint's tensors (scales / packed weights)",
      r"(?i)can(?:'t| ?not) map tensor '[^']*(?:_scale|\.scales|qweight|qzeros|g_idx|absmax|"
      r"quant_map|quant_state|\.scb|weight_packed|input_scale)'",
      fixes=("convert the original (unquantized, fp16/bf16) checkpoint and quantize the GGUF "
             "with llama-quantize",)),
    *(S("quantization_error", f"keyerror: '{dtype.lower()}'", 0.55,
        "a tool met a safetensors dtype of a quantized checkpoint (int8 / fp8) it does not know",
        fixes=("use the original fp16/bf16 checkpoint, or a tool version that reads this "
               "quantization",))
      for dtype in ("I8", "U8", "F8_E4M3", "F8_E5M2")),
    # TensorRT reads the library version from the plan file's header: 0.0.0 is no header at all.
    S("corrupt_checkpoint", "got 0.0.0", 0.9,
      "the engine file's header is unreadable: the file is damaged (on Windows often written or "
      "read in text mode) rather than from another TensorRT",
      r"(?i)expecting library version [\d.]+ got 0\.0\.0", tag="over:version_mismatch",
      fixes=("write and read the plan file in binary mode ('wb' / 'rb'), or build it again",)),
    # MXNet (and other libraries) built without CUDA asked for a GPU.
    S("cuda_unavailable", "compile with use_cuda=1", 0.85,
      "this build of the library has no CUDA support (a CPU-only package)",
      fixes=("install the library's CUDA build (e.g. mxnet-cu112) matching your CUDA",)),
    # TensorFlow Serving found no numbered version folder with a SavedModel under the base path.
    S("missing_file", "no versions of servable", 0.8,
      "TensorFlow Serving found no version folder (1/, 2/, ...) holding a SavedModel under the "
      "model's base path", tag="over:version_mismatch",
      fixes=("put the SavedModel in <base_path>/<version number>/ (saved_model.pb and "
             "variables/) and check the base path",)),
    # The Java runtime is older than the code (TorchServe, MMS, ONNX Runtime's Java API).
    S("version_mismatch", "java.lang.nosuchmethoderror", 0.6,
      "Java code calls a method its runtime lacks: the Java version (or a jar) is older than "
      "the code needs",
      fixes=("run it with the Java version the project requires (set JAVA_HOME to it)",)),
    S("version_mismatch", "unsupportedclassversionerror", 0.85,
      "the Java classes were compiled for a newer Java than the one running them",
      fixes=("run it with the Java version the project requires (set JAVA_HOME to it)",)),
    # -- round 23's tune logs
    # pip finds no release at all of an unpinned package: none is built for this Python (or
    # platform), so the interpreter is too new or too old for it. A pinned release that does not
    # exist ("triton==1.1.1") stays the missing package's.
    S("version_mismatch", "could not find a version that satisfies the requirement", 0.6,
      "no release of the package is built for this Python version or platform",
      r"(?i)could not find a version that satisfies the requirement (?P<req>[^\s(]+)"
      r"(?:\s*\([^)]*\))?\s*\(from versions:\s*(?:none)?\s*\)",
      refine=lambda m, s: None if m is None or re.search(r"[=<>~!]", m.group("req")) else 0.6,
      fixes=("use a Python version the package publishes wheels for (its PyPI page lists "
             "them), e.g. a 3.10 / 3.11 virtual environment",)),
    # -- round 22's tune logs
    # TensorFlow Lite reads a file that is not a TFLite flatbuffer ('ion ' is the middle of a
    # git-lfs pointer's "version https://git-lfs...").
    S("corrupt_checkpoint", "should be 'tfl3'", 0.85,
      "the model file is not a TFLite model (a git-lfs pointer, an HTML page or a partial file)",
      fixes=_LFS_FIX),
    # llama.cpp (ggml) meets a tensor type it does not know: the GGUF was written by a newer
    # converter (a new quantization type such as MXFP4) than this build.
    S("version_mismatch", "invalid ggml type", 0.9,
      "this llama.cpp build predates the tensor type the GGUF file uses",
      r"(?i)has invalid ggml type \d+", tag="over:corrupt_checkpoint",
      fixes=("update llama.cpp (or the app that bundles it) to a release that knows the type",)),
    # Apple's MPS graph compiler: half and float operands in one operation.
    S("dtype_unsupported", "xf16", 0.7,
      "an operation on Apple's MPS mixes float16 and float32 operands",
      r"tensor<[\dx?]*xf16>.{0,200}tensor<[\dx?]*xf32>|tensor<[\dx?]*xf32>.{0,200}tensor<[\dx?]*xf16>",
      fixes=("run the model in one dtype on MPS (float32, or --no-half / --upcast-sampling in "
             "Stable Diffusion front-ends)",)),
    # text-generation-webui's GPTQ loader finds no quantized weights at the path it was given.
    S("missing_file", "could not find the quantized model", 0.85,
      "the quantized model file is not where the loader looked", tag="over:quantization_error",
      fixes=("check the --model / --model-dir path: the .safetensors or .pt file must be in "
             "that model's folder",)),
    # Stable Diffusion web UI starts with no checkpoint in its models folder.
    *(S("missing_file", needle, 0.9, "the web UI has no model checkpoint to load",
        fixes=("put a .safetensors / .ckpt checkpoint into models/Stable-diffusion",))
      for needle in ("no checkpoints found. when searching for checkpoints",
                     "can't run without a checkpoint")),
    # insightface's FaceAnalysis found no detection model under its root (models not there or
    # still zipped).
    S("missing_file", "'detection' in self.models", 0.8,
      "insightface found no face-detection model in its models folder",
      fixes=("download the insightface model pack (antelopev2 / buffalo_l) and unzip it into "
             "models/insightface/models/<name>/",)),
    # -- round 21's tune logs
    # MXNet (and others) asked for a GPU index past the number of devices.
    S("cuda_unavailable", "invalid gpu id", 0.85,
      "the code asked for a GPU index that does not exist here",
      fixes=("use GPU 0 or an index below the number of GPUs; check CUDA_VISIBLE_DEVICES",)),
    # A checkpoint (weights) path the program was given does not exist.
    *(S("missing_file", needle, 0.8,
        "the checkpoint path the program was given does not exist",
        r"(?i)\b(?:checkpoint|ckpt|weights? file|model file|pretrained model)(?: file| path)?"
        r"\s*[:=]?\s*['\"`]?(?:[^\s'\"`]*[/\\][^\s'\"`]*|[^\s'\"`]+\.(?:pth?|bin|ckpt|"
        r"safetensors|gguf|onnx|pkl|h5|pdparams|model|tar))['\"`]?\s+(?:is )?(?:not found|"
        r"does not exist|doesn't exist|not exist)",
        fixes=("check the checkpoint path (download the weights the README names and point the "
               "config or the command line at them)",))
      for needle in ("not found", "not exist", "n't exist")),
    # A GGUF reader on a file that is not (all of) a GGUF file.
    S("corrupt_checkpoint", "gguf", 0.75,
      "the file is not a whole GGUF file: damaged, incomplete or another format",
      r"(?i)\bnot (?:in |an? )?(?:valid )?GGUF (?:format|file)\b|\binvalid GGUF (?:file|header)",
      fixes=("download the file again and compare its size/sha256 with the source's",)),
    # unzip on an archive that is cut short (a partial download) or not a zip at all.
    S("corrupt_checkpoint", "end-of-central-directory signature not found", 0.9,
      "the archive is truncated (a partial download) or not a zip file",
      tag="over:missing_file",
      fixes=("download the archive again (check its size) and unzip it",)),
    # The CUDA driver library itself (libcuda / nvcuda.dll) cannot be found: no driver.
    *(S("cuda_unavailable", needle, 0.8,
        "the CUDA driver library (libcuda / nvcuda) is not found: no NVIDIA driver here",
        r"(?i)\b(?:unable to|could not|couldn't|cannot|can't|failed to) (?:find|load|open|"
        r"locate)\b.{0,40}(?:\blibcuda\b|\bnvcuda\b|cuda lib under the names)",
        fixes=("install the NVIDIA driver (in a container: run it with --gpus all and the NVIDIA "
               "container toolkit)",))
      for needle in ("libcuda", "nvcuda", "cuda lib under the names")),
    # "缺少 X 库" (Chinese: "X library is missing").
    S("missing_dependency", "缺少", 0.8, "a package the program needs is not installed",
      r"缺少\s*[`'\"\u201c]?[A-Za-z_][\w.-]*[`'\"\u201d]?\s*(?:库|包|模块|依赖)"
      r"|缺少(?:库|包|模块|依赖)\s*[`'\"\u201c]?[A-Za-z_]",
      fixes=("pip install the package the message names",)),
    # A GGUF loader (ComfyUI-GGUF, ...) that predates the model's architecture.
    S("version_mismatch", "unexpected architecture type in gguf file", 0.8,
      "this GGUF loader predates the model's architecture",
      fixes=("update the loader (the custom node or library) to a release that knows the "
             "architecture",)),
    # A tokenizer's vocabulary file could not be fetched or read.
    S("missing_file", "vocab", 0.8, "the tokenizer's vocabulary file is not there",
      r"(?i)\b(?:failed to|error|unable to|could not|couldn't|cannot|can't) "
      r"(?:download(?:ing)?|load(?:ing)?|find|open)(?: or (?:load|download)(?:ing)?)? "
      r"(?:the )?vocab(?:ulary)? file",
      fixes=("check that the tokenizer's vocabulary file (vocab.json, tokenizer.model, ...) is "
             "in the model directory or can be downloaded",)),
    # -- round 20's tune logs
    # A report that the checkpoint's keys do not match the model's (in the reporter's words).
    S("missing_or_unexpected_keys", "keys d", 0.8,
      "the checkpoint's parameter names are not the model's",
      r"(?i)\b(?:checkpoint|state[_ ]?dict|weights?|model|pretrained)(?:'s)? keys (?:do(?:es)? "
      r"not|don't|doesn't|did not|didn't) match",
      fixes=("load the checkpoint into the model class it was saved from, or rename its keys "
             "(strip or add the prefix that differs) before load_state_dict",)),
    # PyTorch Lightning asked for GPUs and torch sees none.
    S("cuda_unavailable", "requested but none", 0.9,
      "GPUs were requested but torch sees none (a CPU-only torch, no driver, or no GPU passed "
      "to the container)",
      r"(?i)gpus? requested but none (?:is|are) available",
      fixes=("check torch.cuda.is_available(); install a CUDA build of torch, or run the "
             "container with --gpus all",)),
    # A download that broke off leaves a partial file: the checkpoint cannot be read.
    *(S("corrupt_checkpoint", needle, 0.6,
        "a download that broke off leaves a partial checkpoint",
        r"(?i)\bdownload\w*\s+(?:\w+\s+){0,2}(?:interrupted|incomplete)"
        r"|\b(?:interrupted|incomplete|partial) download",
        fixes=("delete the partial file and download it again (check its size or hash)",))
      for needle in ("interrupted", "incomplete", "partial download")),
    # -- round 19's tune logs
    # A package's compiled extension (exllamav2_ext, awq_ext, a _C or _cuda module) lacks a
    # function its Python side calls: the extension is another release than the package.
    # flash-attn's own (flash_attn_2_cuda) stays flash_attention's, as its other builds do.
    S("version_mismatch", "has no attribute", 0.9,
      "the package's compiled extension is another release than its Python code",
      r"(?i)module '\w+?_(?:ext|C|cuda|kernels?|ops)' has no attribute '\w+'",
      refine=lambda m, s: None if m is not None and "flash" in m.group(0).lower() else 0.9,
      tag="over:quantization_error",
      fixes=("reinstall the package so its compiled extension matches its Python code "
             "(pip install --force-reinstall --no-cache-dir <package>, or rebuild it here)",)),
    # ComfyUI's loader node has no model file to choose: its models folder holds none.
    S("missing_file", "required input is missing", 0.8,
      "the loader node has no model file to load: its models folder holds none",
      r"(?i)required input is missing: \w+_name\b",
      fixes=("put the model file in the ComfyUI models folder its loader reads (checkpoints, "
             "vae, loras, ...) and pick it in the node",)),
    # A process that dies without a word is most often the kernel's OOM killer (RAM, not VRAM).
    *(S("host_oom", needle, 0.6,
        "a process that dies without an error is most often killed for host memory",
        r"(?i)\b(?:dies|died|die|crash(?:es|ed)?|exit(?:s|ed)?|stop(?:s|ped)?|terminat\w+)"
        r"\s+(?:quietly|silently)\b",
        fixes=("check `dmesg | grep -i oom` and the RAM in use; lower workers / batch size, "
               "or add RAM or swap",))
      for needle in ("quietly", "silently")),
    # -- round 18's tune logs
    # A library says which package a call needs ("apply_chat_template requires jinja2 to be
    # installed"); flash-attn's own wording stays flash_attention's.
    S("missing_dependency", "to be installed", 0.9,
      "a package the call needs is not installed",
      r"(?i)\brequires? (?:the )?[`'\"]?[A-Za-z_][\w.-]*[`'\"]? (?:package |library |module )?"
      r"to be installed",
      refine=lambda m, s: None if m is not None and "flash" in m.group(0).lower() else 0.9,
      tag="over:tokenizer_error",
      fixes=("pip install the package the message names",)),
    # Triton Inference Server cannot stat a model file in the repository.
    S("missing_file", "failed to stat file", 0.85,
      "a file the model repository should hold is not there (or not visible to the server)",
      fixes=("check the model repository layout (<model>/<version>/model.onnx) and the mount",)),
    # -- round 16's tune logs
    # vLLM's parallel linear layer without a `weight`: a quantized layer (its weights are qweight,
    # scales, ...) reached by code that expects a plain one (a quantization this model's layers
    # do not support, e.g. GPTQ on a MoE model).
    S("quantization_error", "object has no attribute", 0.9,
      "a quantized layer (qweight, no weight) met code that expects a plain one: this "
      "quantization is not supported for this model or layer",
      r"(?i)\b(?:MergedColumn|Column|Row|QKV|Replicated)ParallelLinear'?\s+object has no "
      r"attribute '?weight\b",
      tag="over:version_mismatch"),
    # -- round 13's tune logs
    # torch's FP8 matmul (fp8 weights: ComfyUI, diffusers, vLLM) needs an Ada/Hopper GPU.
    S("quantization_error", "_scaled_mm is only supported on", 0.85,
      "FP8 weights need torch._scaled_mm, which this GPU (before Ada / Hopper) does not have",
      fixes=("load the fp16/bf16 weights (or an int8/GGUF quantization) on this GPU",)),
    # -- round 12's tune logs (part zp)
    # ONNX Runtime has no kernel for a quantized operator on this execution provider.
    S("quantization_error", "could not find an implementation for", 0.9,
      "this execution provider has no kernel for the model's quantized operator",
      r"(?i)could not find an implementation for (?:the node )?\S*(?:ConvInteger|MatMulInteger"
      r"|QLinear\w*|DynamicQuantize\w*|QuantizeLinear|DequantizeLinear|MatMulNBits)\b",
      tag="over:corrupt_checkpoint",
      fixes=("quantize with QDQ / a format this execution provider runs (or run the "
             "CPUExecutionProvider)",)),
    # torch.ao's dynamic quantization accepts qint8 and float16 weights only.
    S("quantization_error", "supported dtypes for dynamic quantized", 0.9,
      "torch's dynamic quantization does not take this dtype (qint8 or float16 only)",
      tag="over:dtype_unsupported"),
    # AutoGPTQ's loader tripping over a layer it expected to be quantized (no bias, no qweight).
    S("quantization_error", "'nonetype' object has no attribute", 0.7,
      "the GPTQ loader met a layer not laid out as its quantized checkpoint expects",
      refine=lambda m, s: 1.0 if "auto_gptq" in s.frames_text or "gptqmodel" in s.frames_text
      else None),
    # A model's own code file (tokenization_x.py, modeling_x.py) not found: its auto_map points
    # at a repository the loader cannot reach (offline) or that lacks it.
    S("remote_code", "containing a file named", 0.9,
      "the model's own code file (named in its auto_map) is not there to load",
      r"(?i)containing a file named (?:tokenization|modeling|configuration|processing"
      r"|image_processing|feature_extraction)_\w+\.py",
      tag="over:missing_file",
      fixes=("copy the model's .py files next to its config (or point auto_map at them); "
             "trust_remote_code=True runs them: only for a repository you trust",)),
    # Python's tempfile found no writable temporary directory: disk full or no permission.
    S("permission_or_disk", "no usable temporary directory found", 0.9,
      "no temporary directory is writable: the disk is full or the permissions deny it",
      tag="over:missing_file",
      fixes=("free disk space on /tmp (or set TMPDIR to a writable directory with room)",)),
)


# -- the message catalogue -----------------------------------------------------------------------
# Messages that libraries raise, read from their source, each with the cause it means
# (catalogue/<library>.jsonl): what a failure says in a library's own words even when no labelled
# log had it. One JSON object a line:
#   library, where (file:function that raises it), message (the source's template),
#   needle (a lower-case literal every instance contains), pattern (a regex that confirms it on
#   the line, case-insensitive), cause (an id of CAUSES), confidence (0.3..0.9: how surely the
#   message means the cause), why (one sentence: what it means), example (one instance, as a
#   log would print it: the needle and the pattern must match it).
CATALOGUE_DIR = "catalogue"
_CATALOGUE_KEYS = ("library", "where", "message", "needle", "pattern", "cause", "confidence",
                   "why", "example")
_MIN_NEEDLE = 10


def catalogue_row(row: object, where: str) -> Signature:
    """One catalogue row as a signature; ValueError naming `where`, the key and the fix."""
    if not isinstance(row, dict):
        raise ValueError(f"{where}: expected a JSON object with {', '.join(_CATALOGUE_KEYS)}")
    missing = [k for k in _CATALOGUE_KEYS if k not in row]
    if missing:
        raise ValueError(f"{where}: missing key {missing[0]!r}: every row needs "
                         + ", ".join(_CATALOGUE_KEYS))
    needle, pattern, cause = row["needle"], row["pattern"], row["cause"]
    confidence, example = row["confidence"], row["example"]
    if not isinstance(needle, str) or needle != needle.lower() or len(needle) < _MIN_NEEDLE:
        raise ValueError(f"{where}: 'needle' must be a lower-case string of at least "
                         f"{_MIN_NEEDLE} characters")
    if cause not in CAUSES:
        raise ValueError(f"{where}: 'cause' {cause!r} is not a cause id; use one of "
                         + ", ".join(sorted(CAUSES)))
    if (not isinstance(confidence, int | float) or isinstance(confidence, bool)
            or not 0.3 <= confidence <= 0.9):
        raise ValueError(f"{where}: 'confidence' must be a number from 0.3 to 0.9")
    try:
        compiled = re.compile(str(pattern), re.I)
    except re.error as exc:
        raise ValueError(f"{where}: 'pattern' is not a valid regular expression ({exc}); "
                         "fix it") from None
    if not isinstance(example, str) or needle not in example.lower():
        raise ValueError(f"{where}: 'example' must contain the needle {needle!r}")
    if compiled.search(example) is None:
        raise ValueError(f"{where}: 'pattern' does not match the row's 'example'; fix either")
    return Signature(str(cause), needle, float(confidence), str(row["why"]), compiled)


def catalogue_rows() -> Iterator[tuple[str, object]]:
    """(where, parsed row) for every line of the catalogue files, in file and line order;
    ValueError naming the file and line for a line that is not JSON."""
    folder = resources.files("console.core.diagnose").joinpath(CATALOGUE_DIR)
    if not folder.is_dir():
        return
    for path in sorted((p for p in folder.iterdir() if p.name.endswith(".jsonl")),
                       key=lambda p: p.name):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            where = f"{CATALOGUE_DIR}/{path.name} line {number}"
            try:
                yield where, json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: not JSON ({exc.msg}); fix the line") from None


@functools.cache
def all_signatures() -> tuple[Signature, ...]:
    """The hand-written signatures, then the catalogue's. Read and compiled on first use (the
    diagnosis's first log), not at import: the app imports the diagnosis at start-up."""
    return (*SIGNATURES, *(catalogue_row(row, where) for where, row in catalogue_rows()))


def _validate() -> None:
    for sig in SIGNATURES:
        if sig.cause not in CAUSES:
            raise ValueError(f"signature {sig.needle!r} names unknown cause {sig.cause!r}")
        if sig.kind not in ("error", "hint", "symptom"):
            raise ValueError(f"signature {sig.needle!r} has unknown kind {sig.kind!r}")


_validate()
