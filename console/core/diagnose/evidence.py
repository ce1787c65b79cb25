"""Weak evidence beyond the library messages: the exception type, the frames, the words.

The rules (rules.py) recognise the messages libraries print. Many real reports carry none of
them: a one-line error typed from memory, a traceback cut before its exception line, another
library's error surfacing for a version break. This module reads what such a log still says:

- the surfaced exception type and the types in its chain (`FileNotFoundError`, `KeyError`, ...);
- the frames: which library raised (safetensors, torch.serialization, sentencepiece, tokenizers,
  zmq/socket bind, torch.distributed/NCCL, accelerate, bitsandbytes, flash_attn, vllm, sglang,
  the hub client, remote code) and which function (`bind`, `load_state_dict`, `decode`, ...);
- the source line that raised (an `assert x.shape == y.shape` is a shape check);
- families of words on the error lines only (never on warnings, INFO records or quoted code
  elsewhere): "nan", "fp16", "/dev/shm", "tokenizer", "state_dict", "kv cache", ...;
- version lines (`transformers==4.49.0`, "on 4.49.0 vs 4.46.0") beside an API error.

Each clue gives a cause a weight; the weights of one cause combine as a noisy-OR, so several
independent clues add up but never reach certainty. The result ranks candidates below anything
a rule recognised and fills the top-3 when the rules name fewer; `engine.aggregate` merges them.
Nothing here reads a log the rules were not given; no clue is keyed on one log's text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from console.core.diagnose.fastre import FastPattern, compile_fast, trie_pattern
from console.core.diagnose.parser import (
    CODE,
    EXCEPTION,
    LOOSE,
    MESSAGE,
    ErrorBlock,
    LogLine,
    ParsedLog,
)
from console.core.diagnose.rules import flash_attn_module

SHORT_REPORT_LINES = 6
REPORT_LINES = 40  # a handed-over text up to this long may be a report in the reporter's words
REPORT_OPENING = 3  # ... whose first lines say what went wrong
_TAIL_LINES = 50
_MAX_BLOCKS = 24
_FIRST_BLOCKS = 6
_BEFORE_BLOCK_LINES = 30
_MAX_LOOSE_ERROR_LINES = 200  # distinct error-like lines read outside tracebacks
MAX_EVIDENCE_SCORE = 0.7  # clues alone never outrank a recognised library message

# Exception types that end a run without a failure: they never start a diagnosis.
_BENIGN_TYPES = frozenset({"KeyboardInterrupt", "SystemExit", "StopIteration", "GeneratorExit"})

_ERROR_WORDS = compile_fast(  # matched on the lower-cased line
    r"(?:error|errors|exception)\b|\b(?:fail|failed|fails|failure|fatal|exception|killed|cannot|can't"
    r"|could not|couldn't|unable|abort(?:ed)?|crash(?:ed|es)?|not found|not find|no such"
    r"|not supported|missing|invalid|denied)\b"
    r"|is_available\(\).{0,40}\bfalse\b"  # "torch.cuda.is_available() returns False"
    r"|segmentation fault|core dumped|access violation|0xc0000005|illegal instruction",
)
# A short report in the reporter's words says more ways that something went wrong (read only
# there: on every line of a long log these would cost more than they tell): something too old or
# too new, a limit exceeded, a feature unsupported, a process that exited or hangs, a refused
# connection, output that is only "!!!!", empty or garbage; and Chinese reports' words for
# reports an error, error, failed, missing, exception, unable, unsupported.
_REPORT_WORDS = re.compile(
    r"\b(?:too (?:old|new)|unexpected|exceed(?:s|ed|ing)?|unsupported|stuck|hang(?:s|ing)?|hung"
    r"|refused|garbage|gibberish|bad termination|complain(?:s|ed|ing)?|oom|out of memory|nans?)\b"
    r"|\b(?:doesn.t|does not|don.t|do not) (?:support|work)\b"
    r"|exit code:? *[1-9]|!!!!|\bempty (?:text|output|string|response|result)"
    r"|报错|错误|失败|缺少|异常|无法|不支持",
)

# (surfaced exception type, last dotted part) -> {cause: weight}
_TYPE_CLUES: dict[str, dict[str, float]] = {
    "FileNotFoundError": {"missing_file": 0.5},
    "EntryNotFoundError": {"missing_file": 0.5},
    "LocalEntryNotFoundError": {"missing_file": 0.5},
    "RepositoryNotFoundError": {"missing_file": 0.5},
    "HFValidationError": {"missing_file": 0.45},
    "IsADirectoryError": {"missing_file": 0.35},
    "NotADirectoryError": {"missing_file": 0.35},
    "PermissionError": {"permission_or_disk": 0.55},
    "OSError": {"missing_file": 0.2, "corrupt_checkpoint": 0.12, "permission_or_disk": 0.1},
    "UnpicklingError": {"corrupt_checkpoint": 0.45, "version_mismatch": 0.1},
    "JSONDecodeError": {"corrupt_checkpoint": 0.35},
    "SafetensorError": {"corrupt_checkpoint": 0.45},
    "EOFError": {"corrupt_checkpoint": 0.3},
    "BadZipFile": {"corrupt_checkpoint": 0.45},
    "OutOfMemoryError": {"cuda_oom": 0.55},
    "MemoryError": {"host_oom": 0.5},
    "BrokenProcessPool": {"host_oom": 0.35},
    "ModuleNotFoundError": {"missing_dependency": 0.3, "version_mismatch": 0.15},
    "ImportError": {"version_mismatch": 0.25, "missing_dependency": 0.25},
    "AttributeError": {"version_mismatch": 0.3},
    "KeyError": {"version_mismatch": 0.2, "missing_or_unexpected_keys": 0.15},
    "TypeError": {"version_mismatch": 0.15},
    "NotImplementedError": {"version_mismatch": 0.12, "dtype_unsupported": 0.1},
    "UnboundLocalError": {"missing_dependency": 0.15, "version_mismatch": 0.15},
    "OverflowError": {"numeric_overflow": 0.15, "tokenizer_error": 0.12},
    "IndexError": {"context_too_long": 0.2},
    "DistBackendError": {"nccl_distributed": 0.4},
    "DistStoreError": {"nccl_distributed": 0.4},
    "DistNetworkError": {"nccl_distributed": 0.4},
    "ChildFailedError": {"nccl_distributed": 0.2, "host_oom": 0.1},
    "ZMQError": {"port_in_use": 0.3},
    "CalledProcessError": {"missing_dependency": 0.1},
    "TimeoutError": {"nccl_distributed": 0.15},
    "ConnectionRefusedError": {"nccl_distributed": 0.15},
}

# A frame's file (lower-case, "/" separators) -> {cause: weight}. The first match per frame counts.
_LIBRARY_CLUES: tuple[tuple[str, dict[str, float]], ...] = (
    ("safetensors", {"corrupt_checkpoint": 0.25, "missing_file": 0.12}),
    (
        "torch/serialization.py",
        {"corrupt_checkpoint": 0.25, "version_mismatch": 0.1, "missing_file": 0.1},
    ),
    ("sentencepiece", {"tokenizer_error": 0.3, "missing_dependency": 0.12}),
    ("tokenizers/", {"tokenizer_error": 0.25, "version_mismatch": 0.12}),
    (
        "tokenization_",
        {"tokenizer_error": 0.22, "missing_dependency": 0.1, "version_mismatch": 0.1},
    ),
    ("tokenization_auto", {"version_mismatch": 0.12}),
    ("zmq/", {"port_in_use": 0.3}),
    ("torch/distributed", {"nccl_distributed": 0.3}),
    ("deepspeed/comm", {"nccl_distributed": 0.25}),
    ("accelerate/", {"device_mismatch": 0.1, "cuda_oom": 0.08}),
    ("bitsandbytes", {"quantization_error": 0.4}),
    ("auto_gptq", {"quantization_error": 0.35}),
    ("gptq", {"quantization_error": 0.3}),
    ("awq", {"quantization_error": 0.3}),
    ("/quantizers/", {"quantization_error": 0.3}),
    # the other quantization libraries' own code (round 43: torchao's quantized tensor .to())
    ("torchao/", {"quantization_error": 0.3}),
    ("quanto/", {"quantization_error": 0.3}),
    ("hqq/", {"quantization_error": 0.3}),
    ("exllama", {"quantization_error": 0.3}),
    ("aqlm/", {"quantization_error": 0.3}),
    ("compressed_tensors/", {"quantization_error": 0.3}),
    ("gptqmodel/", {"quantization_error": 0.3}),
    ("flash_attn", {"flash_attention": 0.4}),
    # FlashInfer, the attention kernels vLLM and SGLang use as a backend (round 58: a frame
    # in vllm/attention/backends/flashinfer.py before vllm/'s own clue).
    ("flashinfer", {"flash_attention": 0.35}),
    ("dynamic_module_utils", {"remote_code": 0.3}),
    ("transformers_modules", {"remote_code": 0.3}),
    ("/huggingface/modules/", {"remote_code": 0.3}),
    ("configuration_auto", {"version_mismatch": 0.3}),
    ("huggingface_hub", {"missing_file": 0.25}),
    ("utils/hub.py", {"missing_file": 0.3}),
    # vLLM's engine-core client binds its ZMQ sockets and waits for the engine cores in
    # MPClient.__init__ (vllm/v1/engine/core_client.py): a failure there is a socket or a core
    # that died starting.
    ("vllm/v1/engine/core_client", {"port_in_use": 0.15, "cuda_oom": 0.1}),
    ("vllm/", {"cuda_oom": 0.12}),
    ("sglang/", {"cuda_oom": 0.12}),
    ("peft/", {"missing_or_unexpected_keys": 0.1, "version_mismatch": 0.1}),
    ("torch/cuda/__init__.py", {"cuda_unavailable": 0.35}),
    ("torch/nn/modules/sparse.py", {"context_too_long": 0.2, "device_mismatch": 0.1}),
    ("torch/nn/functional.py", {"dtype_unsupported": 0.08, "device_mismatch": 0.08}),
    # Last: a frame in transformers itself, when nothing more specific matched (a traceback cut
    # inside the loading code says at least that the load broke there).
    ("transformers/", {"version_mismatch": 0.1, "missing_file": 0.06}),
)

# A frame's function -> {cause: weight}.
_FUNCTION_CLUES: dict[str, dict[str, float]] = {
    "bind": {"port_in_use": 0.35},
    "make_zmq_socket": {"port_in_use": 0.35},  # vllm.utils: bind/connect a ZMQ socket
    "get_open_port": {"port_in_use": 0.2},
    "wait_for_engine_startup": {"cuda_oom": 0.15, "host_oom": 0.1},
    "listen": {"port_in_use": 0.2},
    "create_server": {"port_in_use": 0.3},
    "load_state_dict": {"missing_or_unexpected_keys": 0.2, "size_mismatch": 0.15},
    "_load_from_state_dict": {"size_mismatch": 0.2, "missing_or_unexpected_keys": 0.1},
    "apply_chat_template": {"tokenizer_error": 0.35},
    "get_chat_template": {"tokenizer_error": 0.35},
    "_decode": {"tokenizer_error": 0.25},
    "convert_ids_to_tokens": {"tokenizer_error": 0.25},
    "multinomial": {"numeric_overflow": 0.35},
    "_lazy_init": {"cuda_unavailable": 0.35},
    "cached_file": {"missing_file": 0.3},
    "hf_hub_download": {"missing_file": 0.3},
    "get_class_from_dynamic_module": {"remote_code": 0.3},
    "init_process_group": {"nccl_distributed": 0.3},
    "all_reduce": {"nccl_distributed": 0.25},
    "barrier": {"nccl_distributed": 0.25},
    "determine_available_memory": {"cuda_oom": 0.3},
    "profile_run": {"cuda_oom": 0.3},
    "_initialize_kv_caches": {"cuda_oom": 0.3},
    "initialize_cache": {"cuda_oom": 0.25},
    "check_enough_kv_cache_memory": {"cuda_oom": 0.35},
    # vLLM's LoRA loader naming each tensor of an adapter: a key it cannot map.
    "parse_fine_tuned_lora_name": {"missing_or_unexpected_keys": 0.35},
    "layer_norm": {"dtype_unsupported": 0.15},
    "_assert_and_load": {"size_mismatch": 0.2},
    "weight_loader": {"size_mismatch": 0.15, "missing_or_unexpected_keys": 0.1},
    "load_weights": {"missing_or_unexpected_keys": 0.12, "size_mismatch": 0.1},
    "merge_and_unload": {"quantization_error": 0.15},
    # The loading entry points: a failure inside them is most often a file that is not there,
    # a library too old for the checkpoint, or the repo's own code.
    "from_pretrained": {"missing_file": 0.08, "version_mismatch": 0.08, "remote_code": 0.04},
    "from_config": {"version_mismatch": 0.08},
    # Moving a model to the GPU (`model.cuda()`, torch's Module.cuda): the weights do not fit,
    # or there is no usable GPU.
    "cuda": {"cuda_oom": 0.3, "cuda_unavailable": 0.2},
}

WordFamilies = tuple[tuple[FastPattern, dict[str, float]], ...]


def _families(table: Iterable[tuple[str, dict[str, float]]]) -> WordFamilies:
    return tuple((compile_fast(pattern), weights) for pattern, weights in table)


# Families of words on error lines -> {cause: weight}, lower-case.
# Matched on the lower-cased line (IGNORECASE regexes are several times slower).
_WORD_CLUES: WordFamilies = _families(
    (
        (r"\b(?:nan|inf)\b|\bnan(?:s)?\b", {"numeric_overflow": 0.35}),
        (r"\boverflow|loss scale", {"numeric_overflow": 0.35}),
        (r"\bhalf\b|\bfp16\b|float16", {"dtype_unsupported": 0.3, "numeric_overflow": 0.08}),
        (r"\bbf16\b|bfloat16", {"dtype_unsupported": 0.3}),
        (r"\bdtype\b|scalar type", {"dtype_unsupported": 0.25}),
        (r"\bshapes?\b|\bsize mismatch|torch\.size\(", {"size_mismatch": 0.3}),
        (
            r"state_dict|\bkeys?\b|missing tensor|not initiali[sz]ed",
            {"missing_or_unexpected_keys": 0.25},
        ),
        (r"missing tensor|\bshards?\b", {"missing_file": 0.15}),
        (r"tokeni[sz]er", {"tokenizer_error": 0.3}),
        (r"chat[ _]template", {"tokenizer_error": 0.4}),
        (r"/dev/shm|shared memory|\bshm\b", {"permission_or_disk": 0.4}),
        (r"permission|read-only|\bdisk\b|no space|quota", {"permission_or_disk": 0.35}),
        # not a source file named bind (pybind's bind.cpp:294 in a C++ assertion), nor a field
        # named address (Xinference's "[address=0.0.0.0:48516, pid=3387]" on every error)
        (r"\bport\b|\bbind\b(?!\.\w)|\baddress\b(?!=)", {"port_in_use": 0.3}),
        (r"\bsocket\b", {"nccl_distributed": 0.15, "port_in_use": 0.12}),
        (
            r"\bnccl\b|process[ _]group|\brank\b|\bbarrier\b|rendezvous|collective"
            r"|multi[- ]?node",
            {"nccl_distributed": 0.35},
        ),
        (r"\btime(?:d)? ?out\b|timeout", {"nccl_distributed": 0.15}),
        (r"\bdriver\b", {"cuda_driver_mismatch": 0.3, "cuda_unavailable": 0.1}),
        (
            r"no kernel image|\bsm_\d+|compute capability|\barch(?:itecture)?\b",
            {"cuda_driver_mismatch": 0.3},
        ),
        (r"\b(?:cuda|gpu)\b", {"cuda_unavailable": 0.12, "cuda_oom": 0.08}),
        (
            # A native crash (SIGSEGV, Windows' access violation 0xC0000005, SIGILL): most often
            # a compiled extension built for another library version, else memory.
            r"segmentation fault|core dumped|access violation|0xc0000005|illegal instruction",
            {"version_mismatch": 0.2, "host_oom": 0.1, "cuda_driver_mismatch": 0.1},
        ),
        (
            # vLLM's start-up failed in an engine core; the root cause was printed before it
            # (when the log has it, its own message ranks first). KV-cache sizing is the usual one.
            r"engine ?core initiali[sz]ation failed|engine ?core failed to start"
            r"|engine core proc \S+ died|enginedeaderror",
            {"cuda_oom": 0.2, "host_oom": 0.1, "version_mismatch": 0.08},
        ),
        # CUDA graph capture (vLLM/SGLang start-up): memory for the graphs, or an op the
        # installed versions cannot record.
        (r"cuda ?graph", {"cuda_oom": 0.15, "version_mismatch": 0.1}),
        (
            r"is_available\(\).{0,40}\bfalse\b|\bcpu[- ]only\b|\bcpu (?:build|version)\b"
            r"|cpu版本",
            {"cuda_unavailable": 0.45},
        ),
        (r"\bmemory\b(?! access)|\boom(?:s|ed|ing)?\b", {"cuda_oom": 0.25, "host_oom": 0.15}),
        (r"\b(?:ram|swap)\b", {"host_oom": 0.3}),
        # the GPU's own memory named ("VRAM", "a 24 GB card"): a report about GPU memory
        (r"\bv-?ram\b|\b\d+ ?gb (?:gpus?|cards?|graphics cards?)\b", {"cuda_oom": 0.3}),
        (
            r"kv[ _-]?cache|max[_-]model[_-]len|gpu[_-]memory[_-]utilization|num_gpu_blocks"
            r"|cache blocks",
            {"cuda_oom": 0.35, "context_too_long": 0.12},
        ),
        (r"\bkill(?:ed|s)?\b|sigkill|\bdied\b", {"host_oom": 0.4}),
        # "custom models" / "custom tokenizer": a model that ships its own code, in a reporter's
        # words as much as in transformers' prompt.
        (
            r"trust_remote_code|custom code|remote code|transformers_modules"
            r"|\bcustom (?:models?|tokeni[sz]ers?|modeling|architectures?)\b",
            {"remote_code": 0.4},
        ),
        (
            r"quantiz|\b[48]-?bit\b|\bint[48]\b|gptq|\bawq\b|bitsandbytes|\bbnb\b|\bfp8\b",
            {"quantization_error": 0.35},
        ),
        (r"flash[_ -]?att", {"flash_attention": 0.4}),
        (
            r"not found|no such file|does not exist|doesn't exist|no file named|cannot find"
            r"|can't find",
            {"missing_file": 0.25},
        ),
        # a report's own words for the failure: "this results in a file not found error"
        # (round 43; the exception's name, FileNotFoundError, is read from its type)
        (r"\bfile not found\b", {"missing_file": 0.4}),
        (
            r"corrupt|truncated|\bheader\b|incomplete|invalid load key|damaged|\bpickle\b",
            {"corrupt_checkpoint": 0.3},
        ),
        (
            r"\bversions?\b|upgrade|downgrade|deprecated|removed|no longer|\bsupport(?:ed)? in\b",
            {"version_mismatch": 0.2},
        ),
        (
            r"has no attribute|unexpected keyword|cannot import name|got an unexpected",
            {"version_mismatch": 0.3},
        ),
        (r"\binstall(?:ed)?\b|\bpip\b|no module named", {"missing_dependency": 0.25}),
        (r"protobuf", {"missing_dependency": 0.3, "version_mismatch": 0.1}),
        (r"\bmeta\b|\bdevices?\b", {"device_mismatch": 0.2}),
        (r"cuda:\d|\bcpu\b", {"device_mismatch": 0.1, "dtype_unsupported": 0.05}),
        (
            r"sequence length|context length|max_length|too long"
            r"|position(?:al)? (?:ids|embedding)|max_position|max_(?:new_|completion_)?tokens",
            {"context_too_long": 0.35},
        ),
        (
            r"index out of|out of range|out of bounds",
            {"context_too_long": 0.15, "tokenizer_error": 0.08},
        ),
    )
)
# The same families in Chinese reports (AutoGLM's users write many): GPU memory, RAM, killed,
# port, permission/disk, not found, corrupt, version, install, quantization, tokenizer, driver,
# length exceeded, timeout. Last in _WORD_CLUES: a line without a Chinese character skips them.
_CJK_FAMILIES_FROM = len(_WORD_CLUES)
_WORD_CLUES += _families(
    (
        (r"显存", {"cuda_oom": 0.35}),
        (r"内存", {"host_oom": 0.3, "cuda_oom": 0.1}),
        (r"被杀|杀死|被系统终止|被系统结束", {"host_oom": 0.4}),
        (r"端口", {"port_in_use": 0.3}),
        (r"权限|磁盘|空间不足", {"permission_or_disk": 0.35}),
        (r"找不到|不存在|未找到", {"missing_file": 0.25}),
        (r"损坏", {"corrupt_checkpoint": 0.3}),
        (r"版本|升级|降级", {"version_mismatch": 0.2}),
        (r"安装", {"missing_dependency": 0.25}),
        (r"量化", {"quantization_error": 0.35}),
        (r"分词器", {"tokenizer_error": 0.3}),
        # garbled characters in the answer: the tokenizer or chat template the model was not
        # trained with (round 43's tune logs)
        (r"乱码", {"tokenizer_error": 0.3}),
        # "CUDA is unavailable / cannot be used", "no GPU detected"
        (r"(?:cuda|gpu|显卡)\s*(?:不可用|无法使用|用不了|不能用)|(?:检测|识别)不到\s*(?:cuda|gpu|显卡)",
         {"cuda_unavailable": 0.45}),
        (r"驱动", {"cuda_driver_mismatch": 0.3, "cuda_unavailable": 0.1}),
        (r"长度超|超过最大长度|上下文长度", {"context_too_long": 0.35}),
        (r"超时", {"nccl_distributed": 0.15}),
    )
)

_VERSION_LINE = compile_fast(
    r"\b(?:transformers|torch|tokenizers|accelerate|peft|vllm|sglang|diffusers|huggingface[_-]hub|numpy|"
    r"protobuf|trl|deepspeed|bitsandbytes|safetensors)\b\s*(?:==|>=|<=|version:?|v)?\s*\d+\.\d+"
    r"|\b\d+\.\d+\.\d+\s+(?:vs|VS|and|->|→)\s+\d+\.\d+",
    re.IGNORECASE,
)
_API_BREAK_TYPES = frozenset(
    {"AttributeError", "ImportError", "TypeError", "KeyError", "NotImplementedError"}
)
_SHAPE_CODE = re.compile(r"\.shape\b|\.size\(\)|numel\(")


@dataclass(frozen=True, slots=True)
class Clue:
    cause: str
    weight: float
    what: str  # "exception type KeyError", "frame in safetensors", "words: /dev/shm"
    line: int | None  # the input line it was read from
    lead: bool = True  # False for words in quoted source code: they rank, never start a ranking


def _short_type(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def benign(block: ErrorBlock) -> bool:
    surface = block.surface
    if surface is None:
        return False
    name = _short_type(surface.type)
    return name in _BENIGN_TYPES or name.endswith("Warning")


def block_clues(block: ErrorBlock, lines: Sequence[LogLine] | None) -> list[Clue]:
    """Clues from one error block: its exception types, frames, raising code and message words."""
    if benign(block):
        return []
    clues: list[Clue] = []
    first = (
        block.surface.line_numbers[0]
        if block.surface is not None and block.surface.line_numbers
        else None
    )
    for record in block.exceptions:
        name = _short_type(record.type)
        for cause, weight in _TYPE_CLUES.get(name, {}).items():
            # The surfaced type counts fully; an earlier link of the chain half.
            scale = 1.0 if record is block.surface else 0.5
            line = record.line_numbers[0] if record.line_numbers else first
            clues.append(Clue(cause, weight * scale, f"exception type {name}", line))
    frames = block.frames
    for position, frame in enumerate(frames):
        # The innermost frames say most about who raised; the outer ones are the caller's stack.
        scale = 1.0 if position >= len(frames) - 4 else 0.5
        path = frame.file.replace("\\", "/").lower()
        for marker, weights in _LIBRARY_CLUES:
            if marker in path:
                for cause, weight in weights.items():
                    clues.append(
                        Clue(cause, weight * scale, f"frame in {marker.strip('/')}", first)
                    )
                break
        function = (frame.function or "").split("(")[0].strip().rsplit(".", 1)[-1]
        for cause, weight in _FUNCTION_CLUES.get(function, {}).items():
            clues.append(Clue(cause, weight * scale, f"frame {function}()", first))
    if lines is not None:
        numbers = list(block.line_numbers)
        offset = lines[0].number if lines else 0
        window = (
            lines[max(0, numbers[0] - offset) : max(0, numbers[-1] - offset + 1)] if numbers else ()
        )
        by_number = {ln.number: ln for ln in window}
        code = [by_number[n] for n in numbers if n in by_number and by_number[n].role == CODE]
        raising = code[-3:]  # the source lines of the innermost frame(s)
        surface_name = _short_type(block.surface.type) if block.surface is not None else ""
        for ln in raising:
            if surface_name == "AssertionError" and _SHAPE_CODE.search(ln.text):
                clues.append(Clue("size_mismatch", 0.4, "an assertion on tensor shapes", ln.number))
            clues.extend(_word_clues(ln, scale=0.5, lead=False))
            if block.surface is None:
                clues.extend(_cut_clues(ln))
        if block.surface is None and raising:
            clues.extend(_cut_import_clues(raising[-1]))
        for n in numbers:
            numbered = by_number.get(n)
            if numbered is not None and numbered.role in (EXCEPTION, MESSAGE):
                clues.extend(_word_clues(numbered, scale=1.0))
    return clues


_CALL = re.compile(r"(?:\b(\w+)\.)?(\w+)\(")
# The loaders a cut traceback most often stops in, by the dotted call in the source line
# ("torch.load(", "safe_open(", "load_file("): a file that is not there or not whole.
_CALL_CLUES: dict[str, dict[str, float]] = {
    "torch.load": {"corrupt_checkpoint": 0.2, "missing_file": 0.1, "version_mismatch": 0.06},
    "safe_open": {"corrupt_checkpoint": 0.2, "missing_file": 0.1},
    "load_file": {"corrupt_checkpoint": 0.15, "missing_file": 0.1},
    # torch.load moving each storage to the device it was saved on: that GPU is full, or there
    # is none here (the file was read whole by then).
    "restore_location": {"cuda_oom": 0.3, "cuda_unavailable": 0.25},
    "_cuda_deserialize": {"cuda_unavailable": 0.3, "cuda_oom": 0.25},
    "validate_cuda_device": {"cuda_unavailable": 0.4},
}


def _cut_clues(line: LogLine) -> list[Clue]:
    """A traceback cut before its exception: the call it stopped at, or a frame line cut
    mid-path, still says which function or library was running."""
    text = line.text.strip()
    clues: list[Clue] = []
    if text.startswith('File "'):
        path = text[6:].replace("\\", "/").lower()
        for marker, weights in _LIBRARY_CLUES:
            if marker in path:
                clues.extend(Clue(cause, weight, f"cut frame in {marker.strip('/')}", line.number)
                             for cause, weight in weights.items())
                break
        return clues
    for owner, function in _CALL.findall(text)[-1:]:
        dotted = f"{owner}.{function}" if owner else function
        weights = _CALL_CLUES.get(dotted) or _CALL_CLUES.get(function) or _FUNCTION_CLUES.get(
            function, {}
        )
        clues.extend(Clue(cause, weight, f"stopped in {dotted}()", line.number)
                     for cause, weight in weights.items())
    return clues


# A traceback cut right after an import statement: the import failed. "import x" is most often a
# package that is not installed (tune logs cut so, 28 of 38; flash_attn's build 6), "from x
# import y" as often a release without y as a missing x (38 and 38).
_IMPORT_STATEMENT = re.compile(r"^(?P<kind>from|import)\s+(?P<module>[A-Za-z_][\w.]*)")


def _cut_import_clues(line: LogLine) -> list[Clue]:
    m = _IMPORT_STATEMENT.match(line.text.strip())
    if m is None:
        return []
    module, what = m.group("module"), f"stopped at {m.group('kind')} {m.group('module')}"
    if flash_attn_module(module):
        return [Clue("flash_attention", 0.3, what, line.number)]
    if m.group("kind") == "import":
        return [Clue("missing_dependency", 0.3, what, line.number),
                Clue("version_mismatch", 0.05, what, line.number)]
    return [Clue("missing_dependency", 0.2, what, line.number),
            Clue("version_mismatch", 0.2, what, line.number)]


# A command line or an argument dump printed at start-up (`python x.py --wbits 4`, vLLM's
# "args: Namespace(...)"): the setting it names ranks a cause, never starts a ranking.
_COMMAND_LINE = re.compile(
    r"^(?:\$\s*|\(\S+\)\s*\S*\$\s*)?(?:\w+=\S+\s+)*"
    r"(?:python3?(?:\.\d+)?|torchrun|deepspeed|accelerate\s+launch|vllm\s+serve|sglang)\b"
    r"|\bargs:\s*Namespace\(|^Namespace\("
)
_SETTING_CLUES: tuple[tuple[re.Pattern[str], dict[str, float]], ...] = tuple(
    (re.compile(pattern), weights)
    for pattern, weights in (
        (
            r"--wbits\b|--quantization[ =]+['\"]?(?!none)\w|load_in_[48]bit|--load[-_]in[-_][48]bit"
            r"|quantization=['\"](?:awq|gptq|bitsandbytes|fp8|marlin)",
            {"quantization_error": 0.2},
        ),
        (
            r"--(?:fp16|half)\b|--precision[ =]+(?:fp16|16|half)\b"
            r"|dtype[ =]+['\"]?(?:float16|half)",
            {"numeric_overflow": 0.1, "dtype_unsupported": 0.1},
        ),
        (r"--(?:bf16)\b|dtype[ =]+['\"]?bfloat16", {"dtype_unsupported": 0.1}),
    )
)


def _setting_clues(line: LogLine) -> list[Clue]:
    if _COMMAND_LINE.search(line.text) is None:
        return []
    lower = line.text.lower()
    return [
        Clue(cause, weight, f"setting: {m.group(0)[:40]}", line.number, lead=False)
        for pattern, weights in _SETTING_CLUES
        if (m := pattern.search(lower)) is not None
        for cause, weight in weights.items()
    ]


CJK = "\u4e00-\u9fff"  # the CJK Unified Ideographs block: Chinese characters, as a regex range
_HAS_CJK = re.compile(f"[{CJK}]")


class _FamilyIndex:
    """Which word families a lower-cased line may match, from one pass over it: each family's
    pattern needs one of its literal words (fastre's `words`) in the line, and one trie of all
    of them finds, at every position, the longest word that starts there. The words inside a
    word found are there too (`_within`). A family whose words cannot be read is always tried."""

    def __init__(self, families: WordFamilies) -> None:
        words = sorted({w for pattern, _ in families for w in pattern.words or ()})
        self.finder = re.compile(f"(?=({trie_pattern(words)}))")
        self._within = {w: tuple(v for v in words if v in w) for w in words}
        self._families = {w: [i for i, (pattern, _) in enumerate(families)
                              if pattern.words is not None and w in pattern.words]
                          for w in words}
        self.always = [i for i, (pattern, _) in enumerate(families) if pattern.words is None]

    def candidates(self, lower: str) -> list[int]:
        found = {m.group(1) for m in self.finder.finditer(lower)}
        present = {v for w in found for v in self._within[w]}
        return sorted({*self.always, *(i for w in present for i in self._families[w])})


@functools.cache
def _family_index() -> _FamilyIndex:
    return _FamilyIndex(_WORD_CLUES)


@functools.lru_cache(maxsize=8192)
def _word_matches(text: str) -> tuple[tuple[int, str], ...]:
    """(family index, matched words) for each word family in a line text; long logs repeat lines."""
    lower = text.lower()
    limit = len(_WORD_CLUES) if _HAS_CJK.search(lower) else _CJK_FAMILIES_FROM
    return tuple(
        (i, m.group(0))
        for i in _family_index().candidates(lower)
        if i < limit and (m := _WORD_CLUES[i][0].regex.search(lower)) is not None
    )


def _word_clues(line: LogLine, scale: float, lead: bool = True) -> list[Clue]:
    return [
        Clue(cause, weight * scale, f"words: {matched}", line.number, lead)
        for i, matched in _word_matches(line.text)
        for cause, weight in _WORD_CLUES[i][1].items()
    ]


_FAILURE_MARK = compile_fast(
    r"(?:Error|Exception)\b|\b(?:ERROR|FATAL|Fatal|fatal|Killed|killed|Aborted|crashed)\b"
    r"|\berror(?::| loading\b)"  # C/C++ tools (llama.cpp, ggml, compilers): "main: error: ..."
    # A failed assertion in C/C++ code: GGML_ASSERT(...), TORCH_INTERNAL_ASSERT, assert(3)'s
    # "Assertion `x' failed."
    r"|\b[A-Z][A-Z0-9]*_ASSERT\b|\bAssertion\b.{0,200}\bfailed\b"
)


# A line of a run that went well: a progress bar, "ready", "loaded", a deprecation notice.
_CLEAN_RUN = re.compile(
    r"\d%\||\bit/s\]|(?<!not )(?<!n't )\b(?:ready|loaded|finished|done|succeeded|installed"
    r"|successful(?:ly)?|completed?|deprecated|futurewarning|deprecationwarning|userwarning)\b"
    r"|(?:^\s*|[.:!]\s+)using\b"  # a notice ("Using SDPA ..."), not "... using AutoModel"
    r"|完成|成功|就绪"
)


# C/C++ tools' failures said without the word error ("main: failed to load model from ...",
# "failed to open", "failed to allocate"); never in a warning ("UserWarning: Failed to load
# image Python extension" beside a run that went on).
_FAILED_TO = compile_fast(
    r"\b[Ff]ailed to (?:load|open|read|allocate|initiali[sz]e|create|mmap|map|parse|find)\b")


def _marks_failure(line: LogLine) -> bool:
    """The line is a record logged at an error level, or its words mark a failure."""
    return bool(line.text) and (
        line.error or (not line.info and (
            _FAILURE_MARK.search(line.text) is not None
            # a WARNING record (line.warn: also glog's "W1206 ...") or a warning's own words
            # ("UserWarning: Failed to load ...") never say a "failed to" is the failure
            or (not line.warn and "ailed to" in line.text and "warn" not in line.text.lower()
                and _FAILED_TO.search(line.text) is not None))))


def is_short_report(lines: Iterable[LogLine]) -> bool:
    """Whether at most SHORT_REPORT_LINES lines have text (a report, not a log); stops reading
    at the first line past that."""
    count = 0
    for line in lines:
        if line.text and not line.text.isspace():
            count += 1
            if count > SHORT_REPORT_LINES:
                return False
    return True


def log_failed(lines: Sequence[LogLine], blocks: Sequence[ErrorBlock], *,
               handed_over: bool = True) -> bool:
    """Whether the log shows a failure at all: clues never turn a clean run into a diagnosis.
    `handed_over`: the text came without live facts (pasted, a file given to `diagnose`), so a
    few lines of it are a report; a log the console captured itself (it knows how the engine
    ended) is a failure only by what its lines say."""
    if any(not benign(b) for b in blocks):
        return True
    if any(_marks_failure(ln) for ln in lines):
        return True
    if not handed_over:  # the console's own capture: a few lines must say they failed
        texts = [ln.text for ln in lines if ln.text.strip() and not ln.info and not ln.warn]
        return 0 < len(texts) <= SHORT_REPORT_LINES and _says_failure(texts)
    # A report of a few lines (an issue title, an error typed from memory, a warning or a
    # number pasted on its own) is handed over because something went wrong, whatever its
    # words, unless a line reads as a clean run; a long log's chatter does not count.
    in_benign = {n for b in blocks for n in b.line_numbers}
    texts = [ln.text for ln in lines
             if ln.text.strip() and not ln.info and ln.number not in in_benign]
    if len(texts) > SHORT_REPORT_LINES:
        # A longer report: its opening lines (an issue's title and first sentences) say
        # something went wrong, and no line reads as a clean run.
        return (len(texts) <= REPORT_LINES and _says_failure(texts[:REPORT_OPENING])
                and not any(_CLEAN_RUN.search(t.lower()) is not None for t in texts))
    if not texts:
        return False
    if _says_failure(texts):
        return True
    return not in_benign and not any(_CLEAN_RUN.search(t.lower()) is not None for t in texts)


def records_handed_over(parsed: ParsedLog) -> ParsedLog:
    """A few records, every one logged at INFO/DEBUG, handed over on their own and saying that
    something went wrong: the person picked them for that (PaddleOCR logs its failures at INFO,
    vLLM its fallbacks), so they are read as a report's lines. A longer log's INFO chatter, or
    an INFO record that reads as a clean run, stays information."""
    texts: list[str] = []
    for ln in parsed.lines:  # a long log stops at its seventh non-empty line
        if ln.text.strip():
            if not ln.info or len(texts) == SHORT_REPORT_LINES:
                return parsed
            texts.append(ln.text)
    if (not texts or not _says_failure(texts)
            or any(_CLEAN_RUN.search(t.lower()) is not None for t in texts)):
        return parsed
    return ParsedLog(tuple(ln._replace(info=False) for ln in parsed.lines), parsed.blocks)


def _says_failure(texts: Sequence[str]) -> bool:
    """A line of a short text says something went wrong, in error words or a reporter's."""
    return any(_ERROR_WORDS.search(lower) is not None or _REPORT_WORDS.search(lower) is not None
               for lower in (t.lower() for t in texts))


# Python's own exceptions for a mistake in a program's logic. Raised with no installed package on
# the stack, they point at no cause of the environment: the same `KeyError` is a version gap when
# transformers' config mapping raised it, a bug when the user's dictionary did.
_LOGIC_ERRORS = frozenset({
    "ZeroDivisionError", "ArithmeticError", "KeyError", "IndexError", "LookupError", "TypeError",
    "ValueError", "AttributeError", "NameError", "UnboundLocalError", "AssertionError",
    "RecursionError",
})
# A frame in an installed package or the interpreter's own library (any OS's separators).
_INSTALLED_FRAME = re.compile(r"site-packages|dist-packages|/lib/python\d|<frozen ")


def plain_bug(lines: Sequence[LogLine], blocks: Sequence[ErrorBlock]) -> bool:
    """Whether the log's failure is a plain bug in the user's own code: every error is a whole
    traceback of a logic error (`_LOGIC_ERRORS`, no module prefix) whose frames all lie outside
    installed packages, and no other line reads as a failure. Its words are no lead (lexical.py
    learned them from failures that libraries raised), so they start no ranking."""
    real = [b for b in blocks if not benign(b)]
    if not real:
        return False
    for block in real:
        surface = block.surface
        if surface is None or not block.frames or surface.type not in _LOGIC_ERRORS:
            return False
        if any(_INSTALLED_FRAME.search(f.file.replace("\\", "/").lower()) for f in block.frames):
            return False
    in_block = {n for b in blocks for n in b.line_numbers}
    return not any(ln.number not in in_block and _marks_failure(ln) for ln in lines)


def points_somewhere(clues: Sequence[Clue], min_word_lead: float) -> bool:
    """Whether the clues of a failed log are enough to start a ranking of weak leads: a clue of
    structure (an exception type, a frame, the call a cut traceback stopped at) at any weight,
    or words on an error line of at least `min_word_lead`. Words in quoted source code never."""
    words: list[Clue] = []
    for clue in clues:
        if not clue.lead:
            continue
        if not clue.what.startswith("words:"):
            return True
        words.append(clue)
    return max(score_clues(words).values(), default=0.0) >= min_word_lead


def log_clues(lines: Sequence[LogLine], blocks: Sequence[ErrorBlock]) -> list[Clue]:
    """Every clue of a whole log: its error blocks, and loose lines that read as errors."""
    clues: list[Clue] = []
    short = is_short_report(lines)
    if not short and not log_failed(lines, blocks):
        return clues
    in_block: set[int] = set()
    for block in blocks:
        in_block.update(block.line_numbers)
    # The first errors (often the root) and the last ones (what surfaced); a log with more
    # tracebacks than that repeats itself, and the 50 ms budget holds.
    read = (
        blocks
        if len(blocks) <= _MAX_BLOCKS
        else [*blocks[:_FIRST_BLOCKS], *blocks[-(_MAX_BLOCKS - _FIRST_BLOCKS) :]]
    )
    for block in read:
        clues.extend(block_clues(block, lines))
    api_break = any(
        b.surface is not None and _short_type(b.surface.type) in _API_BREAK_TYPES
        for b in blocks
        if not benign(b)
    )
    # A report of a few lines is the error itself (typed from memory, an issue title).
    seen: set[str] = set()
    real_blocks = [b for b in blocks if not benign(b)]
    if real_blocks and lines:
        # With tracebacks in the log, the loose lines that matter are just before them and at
        # the end (a long log's chatter elsewhere is not read: the 50 ms budget).
        offset = lines[0].number
        wanted: set[int] = set(range(max(0, len(lines) - _TAIL_LINES), len(lines)))
        for b in real_blocks:
            wanted.update(
                range(max(0, b.first_line - offset - _BEFORE_BLOCK_LINES), b.first_line - offset)
            )
        near: Sequence[LogLine] = [lines[i] for i in sorted(wanted) if i < len(lines)]
    else:
        near = lines
    for line in near:
        if line.number in in_block or not line.text or line.info or line.role != LOOSE:
            continue
        if line.text in seen or len(seen) >= _MAX_LOOSE_ERROR_LINES:
            continue
        if not short and _ERROR_WORDS.search(line.text.lower()) is None:
            continue
        seen.add(line.text)
        clues.extend(_word_clues(line, scale=0.8))
        if "has no attribute" in line.text or "cannot import name" in line.text:
            api_break = True
    for line in lines[:_TAIL_LINES]:  # the command and its arguments come first (INFO too)
        if line.text:
            clues.extend(_setting_clues(line))
    if api_break:
        for line in lines:
            if line.text and _VERSION_LINE.search(line.text):
                clues.append(
                    Clue(
                        "version_mismatch",
                        0.25,
                        "library versions named beside an API error",
                        line.number,
                    )
                )
                break
    return clues


def score_clues(clues: Sequence[Clue]) -> dict[str, float]:
    """Per cause: the noisy-OR of its distinct clues (one per description), capped."""
    best: dict[tuple[str, str], float] = {}
    for clue in clues:
        key = (clue.cause, clue.what)
        best[key] = max(best.get(key, 0.0), clue.weight)
    miss: dict[str, float] = {}
    for (cause, _what), weight in best.items():
        miss[cause] = miss.get(cause, 1.0) * (1.0 - min(weight, 0.95))
    return {cause: min(MAX_EVIDENCE_SCORE, 1.0 - m) for cause, m in miss.items()}
