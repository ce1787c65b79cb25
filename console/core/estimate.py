"""Memory estimate: config + tensor specs (from safetensors headers) -> a per-device breakdown.

Pure: no torch, no transformers, no I/O. The inputs are the parsed `config.json` (a dict) and a
list of `TensorSpec(name, dtype, shape)` - what `console.core.preflight.read_safetensors_header`
produces from the file headers, or what a GPU script builds from a live model's state dict.

What one engine process needs on its device for "load, then one `generate` over `context`
tokens for `batch` sequences" (the peak), in bytes:

    peak = cuda_context + runtime + weights_reserved + kv_cache + activations + slack

- weights: each tensor's elements x the target dtype's size. Only floating-point tensors are
  converted; integer tensors (quantized payloads, indices) keep their stored dtype. Tensors
  matched by the model class's `_keep_in_fp32_modules` (when loading in fp16) or
  `_keep_in_fp32_modules_strict` (fp16 or bf16) stay fp32: the app cannot import the model class,
  so `KEEP_IN_FP32` below copies those lists for the model types that have them (transformers
  5.17; matched like transformers does: the pattern searched in the parameter name). With tied
  word embeddings an `lm_head.weight` stored beside the embedding is counted once.
  `weights_reserved` rounds every tensor the way torch's caching allocator does when each
  tensor is allocated on its own (how a load that grows tensor by tensor allocates): >= 10 MiB
  up to a multiple of 2 MiB; 1-10 MiB packed first-fit into 20 MiB segments; < 1 MiB rounded
  to 512 B and packed into 2 MiB segments.
- cuda_context: the CUDA context, 621 MiB on an H100 (torch 2.11, CUDA 13: FACTS.md and
  gpu/check_estimate.py), `DEFAULT_CUDA_CONTEXT_BYTES`; plus `runtime`, what the first
  generate adds: the kernels and library handles it loads, outside torch's pool (74 MiB
  measured) and cuBLAS's workspace inside it (32 MiB on Hopper): `DEFAULT_RUNTIME_BYTES`.
- kv_cache = 2 x layers x kv_heads x head_dim x dtype bytes x context x batch (GQA enters
  through kv_heads; head_dim defaults to hidden / heads; glm4v reads `text_config`; GPT-2's
  n_layer / n_head / n_embd are understood). Layers with a sliding window still hold the whole
  prefill right after it (transformers' sliding cache keeps a view of the full tensor until the
  next step), so the peak counts every layer at the full context.
- activations: a prefill of `context` tokens through `generate`, where only the last
  position's logits are kept. With T = batch x context tokens and e = dtype bytes:
    stream     = 4 x T x hidden x e          (embeddings, residual, normed input, block output)
    attention  = T x (heads + 2 kv_heads) x head_dim x e   (q, k, v)
               + 4 x T x heads x head_dim x e  (rotary temporaries, output and its transpose)
               + the attention kernel's own workspace (`attention_kernel` picks the path):
                   sdpa -> flash (fp16/bf16, GQA via enable_gqa; any dtype on the CPU) or
                     memory-efficient (fp32 without GQA): ~0
                   sdpa -> math (fp32 with GQA on CUDA: the only kernel that takes it, measured):
                     scores and softmax 2 x batch x heads x context^2 x 4, a bool causal mask
                     batch x context^2, k and v repeated to all heads 2 x T x heads x head_dim x e
                   sdpa with a sliding window shorter than the context (a real mask): the mask
                     batch x context^2 bytes, its per-call float copy batch x context^2 x e, and
                     the repeated k, v
                   eager: scores in the dtype plus the fp32 softmax,
                     batch x heads x context^2 x (e + 4), the float mask batch x context^2 x e,
                     and the repeated k, v
    mlp        = k x T x intermediate x e + T x hidden x e   (k = 3 gated MLP, 4 fused gate_up
                 or GPT-2's tanh GELU)
    logits     = batch x vocab x (e + 8)      (last position, its fp32 copy, the sampler's)
    activations = stream + max(attention, mlp) + logits
- slack: the caching allocator's pool peaks above the live tensors' peak: freed activation
  blocks are split and reused, and the largest activation tensor (T x intermediate x e, the MLP's)
  does not always find a free block. Measured on the H100 over 7-9B models at 2k-16k tokens:
  0.5-1.75 of that tensor; `FRAGMENTATION_BLOCKS` = 1.75 of it, plus the KV cache's rounding.
  On sdpa's math kernel only (fp32 with GQA on CUDA) the pool also peaks above the live
  tensors by a part of one fp32 score tensor (batch x heads x context^2 x 4):
  `MATH_SCORES_EXTRA` = 0.364 of it, fitted on half A of an H200 run (glm-4-9b fp32 16k and
  three fp32 2k cases) and scored on half B's five math cases (autoglm-phone-9b, llama3-8b,
  qwen2.5-7b fp32 16k; glm-4-9b, mistral-7b fp32 2k): -1.6% to +1.5% with A's constants,
  -1.5% to +1.5% with the shipped ones; without it the four 16k cases were 9-11% under
  (docs/check.md).
- the five fitted constants (context, kernels, cuBLAS workspace, fragmentation, math extra) are one
  `EstimateConstants`; `estimate(..., constants=)` takes others (a GPU check scores constants
  fitted on one half of its cases against the other half: console.core.estimate_fit).

Accuracy (gpu/check_estimate.py on an H100, torch 2.11, transformers 5.17): over 22 cases
(Llama-3-8B, Qwen2.5-7B, Mistral-7B, GLM-4-9B, AutoGLM-Phone-9B, GPT-2; bf16 and fp32; 1k-16k
tokens) the predicted peak was 0.6% under to 2.2% over the measured one (with the math-kernel
extra the five fp32 2k GQA cases, recomputed from those measurements, move up by 0.16-0.18
GiB, to +0.6% .. +1.7%: the range stays the same). On an H200 (torch 2.11, session 6) all 26
cases, the four fp32 16k GQA cases included, were -1.5% to +2.2% with the shipped constants
(the math extra in sample for half A's math cases).

The verdict (`fit`) compares the peak with what NVML says is free on each GPU now (other
processes counted): "fits" when used + peak stays under the guard's VRAM pause level, "tight"
when it fits the GPU but crosses that level, "will_not_fit" when it exceeds the free memory;
with what would make it fit (another dtype, a shorter context, spreading over GPUs, offloading
to CPU with `max_memory`), each computed with this same estimate. docs/check.md has the same.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

MIB = 1024**2
GIB = 1024**3

# Bits per element of every safetensors dtype (safetensors 0.8, `Dtype::bitsize`).
SAFETENSORS_DTYPE_BITS: dict[str, int] = {
    "BOOL": 8, "U8": 8, "I8": 8,
    "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32,
    "I64": 64, "U64": 64, "F64": 64, "C64": 64,
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}
FLOAT_DTYPES = frozenset({
    "F16", "BF16", "F32", "F64", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ",
    "F4", "F6_E2M3", "F6_E3M2",
})
# Load dtypes the console offers -> safetensors code. "auto" = the checkpoint's own dtype.
DTYPE_ALIASES: dict[str, str] = {
    "bf16": "BF16", "bfloat16": "BF16",
    "fp16": "F16", "float16": "F16", "half": "F16",
    "fp32": "F32", "float32": "F32", "float": "F32",
}
TORCH_DTYPE_NAMES = {"BF16": "bfloat16", "F16": "float16", "F32": "float32", "F64": "float64"}

# model_type -> (_keep_in_fp32_modules (fp16 only), _keep_in_fp32_modules_strict (fp16, bf16)),
# copied from transformers 5.17 for the families that have them. Others keep nothing in fp32.
KEEP_IN_FP32: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "t5": (("wo",), ()),
    "mt5": (("wo",), ()),
    "umt5": (("wo",), ()),
    "gpt_oss": (("post_attention_layernorm", "input_layernorm", "norm"), ()),
    "glm4_moe": ((), ("e_score_correction_bias",)),
    "glm4v_moe": ((), ("e_score_correction_bias",)),
    "deepseek_v3": ((), ("e_score_correction_bias",)),
    "dots1": ((), ("e_score_correction_bias",)),
    "ernie4_5_moe": ((), ("gate.weight", "moe_statics")),
    "rwkv": (("time_decay", "time_first"), ()),
}

# Measured on an H100 80GB, torch 2.11 + CUDA 13 (FACTS.md, gpu/check_estimate.py).
DEFAULT_CUDA_CONTEXT_BYTES = 621 * MIB  # NVML used after torch.zeros(1, device="cuda")
GENERATE_KERNELS_BYTES = 74 * MIB  # NVML used that a first generate adds outside torch's pool
CUBLAS_WORKSPACE_BYTES = 32 * MIB  # cuBLAS workspace, inside torch's pool (Hopper)
DEFAULT_RUNTIME_BYTES = GENERATE_KERNELS_BYTES + CUBLAS_WORKSPACE_BYTES
FRAGMENTATION_BLOCKS = 1.75  # x the largest activation tensor (see the module docstring)
# x one fp32 score tensor (batch x heads x context^2 x 4), sdpa's math kernel only (fp32 with
# GQA on CUDA): fitted on half A of the H200 run (docs/check.md, "H200, session 6").
MATH_SCORES_EXTRA = 0.364  # half A's fit (0.3637), rounded; scored on half B only
FUSED_GATE_UP = frozenset({"glm", "glm4", "glm4v", "glm4v_text", "phi3", "chatglm"})
ATTN_IMPLEMENTATIONS = ("sdpa", "eager", "flash_attention_2")

_SMALL = 1 * MIB  # torch caching allocator: small pool limit
_SMALL_SEGMENT = 2 * MIB
_MID_LIMIT = 10 * MIB
_MID_SEGMENT = 20 * MIB
_ROUND_LARGE = 2 * MIB


@dataclass(frozen=True, slots=True)
class EstimateConstants:
    """The fitted constants of the estimate (measured on a GPU, not derived from the config).

    The defaults are the shipped ones, fitted on an H100 (see above); a check script passes
    others to score the estimate with constants fitted elsewhere (console.core.estimate_fit).
    """

    cuda_context_bytes: int = DEFAULT_CUDA_CONTEXT_BYTES
    generate_kernels_bytes: int = GENERATE_KERNELS_BYTES
    cublas_workspace_bytes: int = CUBLAS_WORKSPACE_BYTES
    fragmentation_blocks: float = FRAGMENTATION_BLOCKS
    math_scores_extra: float = MATH_SCORES_EXTRA

    @property
    def runtime_bytes(self) -> int:
        """What the first generate adds: kernels outside torch's pool + cuBLAS's workspace."""
        return self.generate_kernels_bytes + self.cublas_workspace_bytes


SHIPPED_CONSTANTS = EstimateConstants()


class EstimateError(ValueError):
    """The config lacks what the estimate needs (names the key)."""


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """One stored tensor: name, safetensors dtype code ("BF16"), shape."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return tensor_nbytes(self.dtype, self.shape)


def tensor_nbytes(dtype: str, shape: Sequence[int]) -> int:
    """Bytes of a tensor stored as `dtype` (bits may be sub-byte: F4, F6)."""
    bits = SAFETENSORS_DTYPE_BITS[dtype] * math.prod(shape)
    return (bits + 7) // 8


def dtype_code(dtype: str) -> str:
    """A load dtype ("bf16", "bfloat16", "BF16", ...) -> its safetensors code; "auto" stays."""
    key = dtype.strip()
    if key.lower() == "auto":
        return "auto"
    if key.upper() in SAFETENSORS_DTYPE_BITS:
        return key.upper()
    if key.lower() in DTYPE_ALIASES:
        return DTYPE_ALIASES[key.lower()]
    raise EstimateError(f"dtype {dtype!r}: use auto, bf16, fp16 or fp32")


# ----------------------------------------------------------------------------------------------
# Geometry from the config


@dataclass(frozen=True, slots=True)
class Geometry:
    model_type: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    max_positions: int | None
    sliding_window: int | None  # None: no layer uses one
    sliding_layers: int
    tie_word_embeddings: bool | None  # None: the config does not say
    mlp_kind: str  # "gated" | "fused_gate_up" | "gelu"
    experts_per_token: int  # 1 for dense models
    config_dtype: str | None  # safetensors code of config's dtype / torch_dtype


def _pick(cfg: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = cfg.get(key)
        if value is not None:
            return value
    return None


def text_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The language-model part of a config: `text_config` (glm4v, qwen2_vl, ...) over the top
    level, so multimodal and plain configs read the same."""
    merged = {k: v for k, v in config.items() if not isinstance(v, dict)}
    for key in ("text_config", "llm_config", "language_config"):
        sub = config.get(key)
        if isinstance(sub, dict):
            merged.update({k: v for k, v in sub.items() if v is not None})
            break
    return merged


def _int(cfg: Mapping[str, Any], what: str, *keys: str) -> int:
    value = _pick(cfg, *keys)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise EstimateError(
            f"config.json: {what}: none of {', '.join(keys)} is a positive integer"
            + (f" (got {value!r})" if value is not None else "")
        )
    return value


def geometry(config: Mapping[str, Any]) -> Geometry:
    """Layers, heads, sizes from config.json, whatever the family calls them."""
    model_type = str(config.get("model_type") or "")
    cfg = text_config(config)
    layers = _int(cfg, "layers", "num_hidden_layers", "n_layer", "num_layers", "n_layers")
    hidden = _int(cfg, "hidden size", "hidden_size", "n_embd", "d_model")
    heads = _int(cfg, "attention heads", "num_attention_heads", "n_head", "num_heads")
    if cfg.get("multi_query") is True:
        kv_heads = 1
    else:
        kv = _pick(cfg, "num_key_value_heads", "num_kv_heads", "multi_query_group_num")
        kv_heads = kv if isinstance(kv, int) and kv > 0 else heads
    hd = _pick(cfg, "head_dim", "kv_channels")
    head_dim = hd if isinstance(hd, int) and hd > 0 else hidden // heads
    inter = _pick(cfg, "intermediate_size", "n_inner", "ffn_hidden_size")
    intermediate = inter if isinstance(inter, int) and inter > 0 else 4 * hidden
    experts = _pick(cfg, "num_experts_per_tok", "moe_topk")
    moe_inter = _pick(cfg, "moe_intermediate_size")
    experts_per_token = 1
    if isinstance(experts, int) and experts > 0 and _pick(
        cfg, "num_local_experts", "num_experts", "n_routed_experts"
    ):
        experts_per_token = experts
        if isinstance(moe_inter, int) and moe_inter > 0:
            intermediate = moe_inter
    vocab = _int(cfg, "vocabulary size", "vocab_size", "padded_vocab_size")
    max_pos = _pick(cfg, "max_position_embeddings", "n_positions", "seq_length")
    max_positions = max_pos if isinstance(max_pos, int) and max_pos > 0 else None
    window = cfg.get("sliding_window")
    sliding_window: int | None = window if isinstance(window, int) and window > 0 else None
    sliding_layers = layers if sliding_window else 0
    if cfg.get("use_sliding_window") is False:  # qwen2: the window is there but off
        sliding_window, sliding_layers = None, 0
    layer_types = cfg.get("layer_types")
    if isinstance(layer_types, list) and sliding_window:
        sliding_layers = sum(1 for t in layer_types if "sliding" in str(t))
        if sliding_layers == 0:
            sliding_window = None
    if model_type in FUSED_GATE_UP:
        mlp_kind = "fused_gate_up"
    elif model_type in ("gpt2", "gpt_neo", "gptj", "gpt_bigcode") or cfg.get("activation_function"):
        mlp_kind = "gelu"
    else:
        mlp_kind = "gated"
    tie = config.get("tie_word_embeddings")
    if tie is None:
        tie = cfg.get("tie_word_embeddings")
    raw_dtype = _pick(cfg, "dtype", "torch_dtype")
    config_dtype = None
    if isinstance(raw_dtype, str):
        try:
            code = dtype_code(raw_dtype.replace("torch.", ""))
            config_dtype = None if code == "auto" else code
        except EstimateError:
            config_dtype = None
    return Geometry(
        model_type=model_type, layers=layers, hidden=hidden, heads=heads, kv_heads=kv_heads,
        head_dim=head_dim, intermediate=intermediate, vocab=vocab, max_positions=max_positions,
        sliding_window=sliding_window, sliding_layers=sliding_layers,
        tie_word_embeddings=tie if isinstance(tie, bool) else None,
        mlp_kind=mlp_kind, experts_per_token=experts_per_token, config_dtype=config_dtype,
    )


# ----------------------------------------------------------------------------------------------
# Weights


@dataclass(frozen=True, slots=True)
class WeightsBreakdown:
    target_dtype: str  # safetensors code the float tensors load as
    tensors: int
    parameters: int
    bytes: int  # live bytes at the target dtype
    reserved_bytes: int  # after the caching allocator's rounding (tensor by tensor)
    kept_fp32_bytes: int  # part of `bytes` kept in fp32 by keep-in-fp32 rules
    kept_fp32_tensors: int
    tied_skipped_bytes: int  # lm_head stored beside tied embeddings: not counted again
    checkpoint_bytes: int  # as stored


def resolve_dtype(dtype: str, geo: Geometry, tensors: Sequence[TensorSpec]) -> str:
    """The float dtype the weights load as: the requested one, or for "auto" the config's
    dtype, else the first floating-point tensor's."""
    code = dtype_code(dtype)
    if code != "auto":
        return code
    if geo.config_dtype:
        return geo.config_dtype
    for t in tensors:
        if t.dtype in FLOAT_DTYPES:
            return t.dtype
    return "F32"


def _keep_fp32_patterns(model_type: str, target: str) -> list[re.Pattern[str]]:
    loose, strict = KEEP_IN_FP32.get(model_type, ((), ()))
    patterns: list[str] = []
    if target == "F16":
        patterns += loose
    if target in ("F16", "BF16"):
        patterns += strict
    return [re.compile(p.replace(".", r"\.").replace("*", ".*")) for p in patterns]


def _tied_duplicates(geo: Geometry, tensors: Sequence[TensorSpec]) -> set[str]:
    if geo.tie_word_embeddings is not True:
        return set()
    names = {t.name for t in tensors}
    has_embedding = any(n.endswith(("embed_tokens.weight", "wte.weight", "word_embeddings.weight"))
                        for n in names)
    return {n for n in names if n.endswith("lm_head.weight")} if has_embedding else set()


def allocator_reserved_bytes(sizes: Sequence[int]) -> int:
    """Bytes torch's CUDA caching allocator reserves for these allocations made one by one
    (no frees in between): its size classes and first-fit packing, simplified."""
    small_used = 0
    mid_segments: list[int] = []  # free bytes left in each 20 MiB segment
    large = 0
    for n in sizes:
        if n <= 0:
            continue
        rounded = -(-n // 512) * 512
        if n <= _SMALL:
            small_used += rounded
        elif n < _MID_LIMIT:
            for i, free in enumerate(mid_segments):
                if free >= rounded:
                    mid_segments[i] = free - rounded
                    break
            else:
                mid_segments.append(_MID_SEGMENT - rounded)
        else:
            large += -(-n // _ROUND_LARGE) * _ROUND_LARGE
    small = -(-small_used // _SMALL_SEGMENT) * _SMALL_SEGMENT
    return small + len(mid_segments) * _MID_SEGMENT + large


def weights_breakdown(
    config: Mapping[str, Any], tensors: Sequence[TensorSpec], dtype: str = "auto"
) -> WeightsBreakdown:
    geo = geometry(config)
    target = resolve_dtype(dtype, geo, tensors)
    keep = _keep_fp32_patterns(geo.model_type, target)
    tied = _tied_duplicates(geo, tensors)
    live = kept = kept_n = skipped = params = stored = 0
    sizes: list[int] = []
    counted = 0
    for t in tensors:
        stored += t.nbytes
        if t.name in tied:
            skipped += tensor_nbytes(target, t.shape) if t.dtype in FLOAT_DTYPES else t.nbytes
            continue
        counted += 1
        params += t.numel
        if t.dtype in FLOAT_DTYPES and keep and any(p.search(t.name) for p in keep):
            n = tensor_nbytes("F32", t.shape)
            kept += n
            kept_n += 1
        elif t.dtype in FLOAT_DTYPES:
            n = tensor_nbytes(target, t.shape)
        else:
            n = t.nbytes
        live += n
        sizes.append(n)
    return WeightsBreakdown(
        target_dtype=target, tensors=counted, parameters=params, bytes=live,
        reserved_bytes=allocator_reserved_bytes(sizes), kept_fp32_bytes=kept,
        kept_fp32_tensors=kept_n, tied_skipped_bytes=skipped, checkpoint_bytes=stored,
    )


# ----------------------------------------------------------------------------------------------
# KV cache and activations


def kv_bytes_per_token(geo: Geometry, dtype: str) -> int:
    """2 (K and V) x layers x kv_heads x head_dim x dtype bytes."""
    return 2 * geo.layers * geo.kv_heads * geo.head_dim * SAFETENSORS_DTYPE_BITS[dtype] // 8


@dataclass(frozen=True, slots=True)
class ActivationBreakdown:
    stream_bytes: int
    attention_bytes: int
    mlp_bytes: int
    logits_bytes: int
    attention_kernel: str  # which path the estimate assumed
    largest_tensor_bytes: int  # the MLP's T x intermediate x e (drives fragmentation)
    total_bytes: int
    # one fp32 score tensor, batch x heads x context^2 x 4, on the math kernel only (else 0):
    # `EstimateConstants.math_scores_extra` multiplies it
    math_scores_bytes: int = 0


def attention_kernel(
    geo: Geometry, dtype: str, context: int, attn_implementation: str, on_cpu: bool = False
) -> str:
    """Which attention path a prefill of `context` tokens takes, as transformers 5.x calls sdpa
    (GQA goes to the kernel with enable_gqa when there is no mask). On CUDA (measured, torch
    2.11): flash takes fp16/bf16 with GQA; fp32 with GQA finds only the math kernel; fp32 without
    GQA takes the memory-efficient one. On the CPU, sdpa's flash kernel takes fp32 and GQA."""
    if attn_implementation == "eager":
        return "eager"
    if attn_implementation == "flash_attention_2":
        return "flash"
    if geo.sliding_window is not None and context > geo.sliding_window:
        return "sdpa_masked"
    if on_cpu or (dtype in ("F16", "BF16") and geo.head_dim <= 256):
        return "flash"
    if geo.kv_heads < geo.heads:
        return "math"
    return "efficient"


def activation_breakdown(
    geo: Geometry, dtype: str, context: int, batch: int, *, attn_implementation: str = "sdpa",
    on_cpu: bool = False,
) -> ActivationBreakdown:
    e = SAFETENSORS_DTYPE_BITS[dtype] // 8
    tokens = context * batch
    q_width = geo.heads * geo.head_dim
    stream = 4 * tokens * geo.hidden * e
    attention = tokens * (geo.heads + 2 * geo.kv_heads) * geo.head_dim * e
    attention += 4 * tokens * q_width * e
    kernel = attention_kernel(geo, dtype, context, attn_implementation, on_cpu)
    repeated_kv = 2 * tokens * q_width * e if geo.kv_heads < geo.heads else 0
    square = batch * context * context
    if kernel == "eager":
        attention += geo.heads * square * (e + 4) + square * e + repeated_kv
    elif kernel == "math":
        attention += 2 * geo.heads * square * 4 + square + repeated_kv
    elif kernel == "sdpa_masked":
        attention += square + square * e + repeated_kv
    mlp_factor = 3 if geo.mlp_kind == "gated" else 4
    largest = tokens * geo.intermediate * geo.experts_per_token * e
    mlp = mlp_factor * largest + tokens * geo.hidden * e
    logits = batch * geo.vocab * (e + 8)
    total = stream + max(attention, mlp) + logits
    return ActivationBreakdown(
        stream_bytes=stream, attention_bytes=attention, mlp_bytes=mlp, logits_bytes=logits,
        attention_kernel=kernel, largest_tensor_bytes=largest, total_bytes=total,
        math_scores_bytes=geo.heads * square * 4 if kernel == "math" else 0,
    )


def kv_rounding_bytes(geo: Geometry, kv_cache_bytes: int) -> int:
    """What the caching allocator reserves above the KV cache's bytes: one K and one V tensor
    per layer, each rounded like any allocation."""
    per_tensor = kv_cache_bytes // (2 * geo.layers)
    return max(0, allocator_reserved_bytes([per_tensor] * (2 * geo.layers)) - kv_cache_bytes)


# ----------------------------------------------------------------------------------------------
# The estimate


@dataclass(frozen=True, slots=True)
class DeviceShare:
    """What one device holds at the peak."""

    device: str  # "cuda:0", "cpu"
    cuda_context_bytes: int
    runtime_bytes: int  # kernels, library handles, cuBLAS workspace a generate adds
    weights_bytes: int  # reserved (rounded) bytes of the weights placed here
    kv_cache_bytes: int
    activation_bytes: int
    slack_bytes: int

    @property
    def total_bytes(self) -> int:
        return (self.cuda_context_bytes + self.runtime_bytes + self.weights_bytes
                + self.kv_cache_bytes + self.activation_bytes + self.slack_bytes)


@dataclass(frozen=True, slots=True)
class Estimate:
    model_type: str
    dtype: str  # safetensors code the float weights load as ("BF16")
    context: int
    batch: int
    attn_implementation: str
    device: str  # as asked: "cuda", "cuda:1", "auto", "cpu"
    geometry: Geometry
    weights: WeightsBreakdown
    kv_bytes_per_token: int
    kv_cache_bytes: int
    activations: ActivationBreakdown
    cuda_context_bytes: int
    runtime_bytes: int
    slack_bytes: int
    devices: tuple[DeviceShare, ...]
    notes: tuple[str, ...] = ()
    constants: EstimateConstants = SHIPPED_CONSTANTS  # what the GPU parts were computed with

    @property
    def peak_bytes(self) -> int:
        """The largest single-device peak (the whole model on one device unless spread)."""
        return max(d.total_bytes for d in self.devices)

    @property
    def total_bytes(self) -> int:
        return sum(d.total_bytes for d in self.devices)

    @property
    def after_load_bytes(self) -> int:
        """The engine's usage on its (first) device after the load, before any generate."""
        first = self.devices[0]
        return first.cuda_context_bytes + first.weights_bytes

    @property
    def torch_dtype(self) -> str:
        return TORCH_DTYPE_NAMES.get(self.dtype, self.dtype)

    def to_json_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["peak_bytes"] = self.peak_bytes
        data["after_load_bytes"] = self.after_load_bytes
        data["torch_dtype"] = self.torch_dtype
        for share, raw in zip(self.devices, data["devices"], strict=True):
            raw["total_bytes"] = share.total_bytes
        return data


def estimate(
    config: Mapping[str, Any],
    tensors: Sequence[TensorSpec],
    *,
    dtype: str = "auto",
    context: int = 4096,
    batch: int = 1,
    device: str = "cuda",
    attn_implementation: str = "sdpa",
    constants: EstimateConstants = SHIPPED_CONSTANTS,
    gpu_count: int = 1,
    weights_on_cpu_bytes: int = 0,
) -> Estimate:
    """The memory a load plus a `context`-token prefill for `batch` sequences needs.

    device "cpu": all on the host, no CUDA context. "auto": spread over `gpu_count` GPUs in
    equal parts (weights, KV), each with its own context and the full activation workspace
    (layers run one after another). `weights_on_cpu_bytes`: bytes of weights offloaded to
    the host (accelerate `max_memory`), taken off the GPU. `constants`: the fitted constants
    (CUDA context, kernels, cuBLAS workspace, fragmentation); the shipped ones by default.
    """
    if context < 1 or batch < 1:
        raise EstimateError("context and batch must be at least 1")
    if attn_implementation not in ATTN_IMPLEMENTATIONS:
        raise EstimateError(
            f"attention implementation {attn_implementation!r}: one of "
            f"{', '.join(ATTN_IMPLEMENTATIONS)}"
        )
    geo = geometry(config)
    weights = weights_breakdown(config, tensors, dtype)
    target = weights.target_dtype
    compute = target if target in ("F16", "BF16", "F32", "F64") else "BF16"
    on_cpu = device == "cpu"
    notes: list[str] = []
    if not tensors:
        notes.append("no weight tensors were read: the weights are not counted")
    if geo.max_positions is not None and context > geo.max_positions:
        notes.append(
            f"context {context} is longer than the model's {geo.max_positions} positions "
            "(max_position_embeddings): generation past it fails or degrades"
        )
    if weights.kept_fp32_tensors:
        notes.append(f"{weights.kept_fp32_tensors} tensors stay fp32 (keep-in-fp32 rules)")
    if weights.tied_skipped_bytes:
        notes.append("tied word embeddings: lm_head counted once")
    if geo.experts_per_token > 1:
        notes.append("mixture of experts: the MLP workspace is approximate")
    if isinstance(config.get("vision_config"), dict):
        notes.append("text generation planned: images add the vision tower's activations")
    if target not in ("F16", "BF16", "F32", "F64"):
        notes.append(f"weights stored as {target}: compute assumed in bf16")
    kv_per_token = kv_bytes_per_token(geo, compute)
    kv = kv_per_token * context * batch
    acts = activation_breakdown(geo, compute, context, batch,
                                attn_implementation=attn_implementation, on_cpu=on_cpu)
    if acts.attention_kernel == "math":
        notes.append("fp32 with grouped-query attention: sdpa falls back to its math kernel, "
                     "which holds heads x context^2 scores; bf16 avoids it")
    if acts.attention_kernel == "eager":
        notes.append("eager attention holds heads x context^2 scores; sdpa avoids it")
    slack = (int(constants.fragmentation_blocks * acts.largest_tensor_bytes)
             + int(constants.math_scores_extra * acts.math_scores_bytes)
             + kv_rounding_bytes(geo, kv))
    shares: list[DeviceShare] = []
    if on_cpu:
        context_bytes = runtime = 0
        shares.append(DeviceShare("cpu", 0, 0, weights.bytes, kv, acts.total_bytes, slack))
    else:
        context_bytes, runtime = constants.cuda_context_bytes, constants.runtime_bytes
        n = max(1, gpu_count if device == "auto" else 1)
        gpu_weights = max(0, weights.reserved_bytes - weights_on_cpu_bytes)
        first = device if device.startswith("cuda:") else "cuda:0"
        for i in range(n):
            name = first if n == 1 else f"cuda:{i}"
            shares.append(DeviceShare(
                name, context_bytes, runtime, -(-gpu_weights // n), -(-kv // n),
                acts.total_bytes, slack,
            ))
        if weights_on_cpu_bytes:
            shares.append(DeviceShare("cpu", 0, 0, weights_on_cpu_bytes, 0, 0, 0))
    return Estimate(
        model_type=geo.model_type, dtype=target, context=context, batch=batch,
        attn_implementation=attn_implementation, device=device, geometry=geo, weights=weights,
        kv_bytes_per_token=kv_per_token, kv_cache_bytes=kv, activations=acts,
        cuda_context_bytes=context_bytes, runtime_bytes=runtime, slack_bytes=slack,
        devices=tuple(shares), notes=tuple(notes), constants=constants,
    )


# ----------------------------------------------------------------------------------------------
# Fit against what is free now


@dataclass(frozen=True, slots=True)
class DeviceMemory:
    """Memory of one device now: NVML for GPUs (other processes counted), psutil for the host."""

    device: str  # "cuda:0" / "cpu"
    total_bytes: int
    used_bytes: int  # for the host: total - available

    @property
    def free_bytes(self) -> int:
        return max(0, self.total_bytes - self.used_bytes)


@dataclass(frozen=True, slots=True)
class DeviceFit:
    device: str
    need_bytes: int
    free_bytes: int
    total_bytes: int
    used_after_pct: float  # used now + need, as % of total
    verdict: str  # "fits" | "tight" | "will_not_fit"


@dataclass(frozen=True, slots=True)
class Suggestion:
    kind: str  # "dtype" | "context" | "spread" | "offload"
    text: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FitVerdict:
    verdict: str  # "fits" | "tight" | "will_not_fit" | "unknown"
    reason: str
    devices: tuple[DeviceFit, ...]
    suggestions: tuple[Suggestion, ...] = ()

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self)


_RANK = {"fits": 0, "tight": 1, "will_not_fit": 2}


def _device_fit(need: int, mem: DeviceMemory, pause_pct: float) -> DeviceFit:
    after = mem.used_bytes + need
    pct = 100.0 * after / mem.total_bytes if mem.total_bytes else math.inf
    if need > mem.free_bytes:
        verdict = "will_not_fit"
    elif pct >= pause_pct:
        verdict = "tight"
    else:
        verdict = "fits"
    return DeviceFit(mem.device, need, mem.free_bytes, mem.total_bytes, round(pct, 1), verdict)


def _budget(mem: DeviceMemory, pause_pct: float) -> int:
    """Bytes that can be added on `mem` before its usage reaches the pause level."""
    return max(0, int(mem.total_bytes * pause_pct / 100.0) - mem.used_bytes)


def fit(
    est: Estimate,
    memory: Sequence[DeviceMemory],
    *,
    pause_pct: float = 92.0,
    config: Mapping[str, Any] | None = None,
    tensors: Sequence[TensorSpec] = (),
) -> FitVerdict:
    """fits / tight / will_not_fit for `est` against the devices' memory now.

    `pause_pct`: the guard's VRAM pause level (% of total): above it the load would pause.
    With `config` and `tensors` the suggestions are computed (another dtype, a shorter
    context, spreading, offloading) by re-running the estimate.
    """
    verdict = fit_needs([(share.device, share.total_bytes) for share in est.devices], memory,
                        pause_pct=pause_pct)
    if verdict.verdict == "unknown":
        return verdict
    worst = max(verdict.devices, key=lambda f: _RANK[f.verdict])
    reason = verdict.reason
    suggestions: tuple[Suggestion, ...] = ()
    if worst.verdict != "fits" and config is not None:
        suggestions = tuple(_suggest(est, memory, pause_pct, config, tensors))
    return FitVerdict(worst.verdict, reason, verdict.devices, suggestions)


def fit_needs(needs: Sequence[tuple[str, int]], memory: Sequence[DeviceMemory], *,
              pause_pct: float = 92.0) -> FitVerdict:
    """fits / tight / will_not_fit for bytes already estimated per device (`fit`'s core; the
    engine re-checks an estimate the app made against the memory free now). No suggestions."""
    by_name = {m.device: m for m in memory}
    fits: list[DeviceFit] = []
    for device, need in needs:
        mem = by_name.get(device)
        if mem is None:
            return FitVerdict("unknown", f"{device}: no memory reading", ())
        host_level = 100.0 if device == "cpu" else pause_pct
        fits.append(_device_fit(need, mem, host_level))
    if not fits:
        return FitVerdict("unknown", "no device to place the model on", ())
    worst = max(fits, key=lambda f: _RANK[f.verdict])
    if worst.verdict == "fits":
        reason = (f"needs {_gib(worst.need_bytes)} of {_gib(worst.free_bytes)} free on "
                  f"{worst.device}")
    elif worst.verdict == "tight":
        reason = (f"{worst.device}: needs {_gib(worst.need_bytes)} of {_gib(worst.free_bytes)} "
                  f"free; usage would reach {worst.used_after_pct:.0f}%, over the "
                  f"{pause_pct:.0f}% pause level")
    else:
        reason = (f"{worst.device}: needs {_gib(worst.need_bytes)}, only "
                  f"{_gib(worst.free_bytes)} free")
    return FitVerdict(worst.verdict, reason, tuple(fits))


def _gib(n: int) -> str:
    return f"{n / GIB:.2f} GiB"


def _rerun(est: Estimate, config: Mapping[str, Any], tensors: Sequence[TensorSpec],
           **changes: Any) -> Estimate:
    args: dict[str, Any] = {
        "dtype": est.dtype, "context": est.context, "batch": est.batch, "device": est.device,
        "attn_implementation": est.attn_implementation,
        "constants": est.constants,
    }
    args.update(changes)
    return estimate(config, tensors, **args)


def max_context(
    est: Estimate, budget_bytes: int, config: Mapping[str, Any], tensors: Sequence[TensorSpec]
) -> int:
    """The longest context (multiple of 256, at least 256) whose single-device peak fits
    `budget_bytes`; 0 when even 256 tokens do not."""
    def peak(ctx: int) -> int:
        return _rerun(est, config, tensors, context=ctx).peak_bytes

    lo, hi = 0, max(est.context, 256) // 256
    if peak(256) > budget_bytes:
        return 0
    lo = 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if peak(mid * 256) <= budget_bytes:
            lo = mid
        else:
            hi = mid - 1
    return lo * 256


def _suggest(
    est: Estimate, memory: Sequence[DeviceMemory], pause_pct: float,
    config: Mapping[str, Any], tensors: Sequence[TensorSpec],
) -> list[Suggestion]:
    out: list[Suggestion] = []
    gpus = [m for m in memory if m.device.startswith("cuda")]
    host = next((m for m in memory if m.device == "cpu"), None)
    if est.device == "cpu":
        gpus = []
    target = gpus[0] if gpus else host
    if target is None:
        return out
    if est.device.startswith("cuda:"):
        target = next((g for g in gpus if g.device == est.device), target)
    budget = _budget(target, pause_pct if target.device != "cpu" else 100.0)
    # 1. another dtype
    if est.dtype in ("F32", "F64"):
        alt = _rerun(est, config, tensors, dtype="bf16")
        verdict = "fits" if alt.peak_bytes <= budget else "still does not fit"
        out.append(Suggestion(
            "dtype", f"load in bf16: needs {_gib(alt.peak_bytes)} ({verdict})",
            {"dtype": "bfloat16", "need_bytes": alt.peak_bytes},
        ))
    # 2. a shorter context
    if est.context > 256:
        best = max_context(est, budget, config, tensors)
        if best >= 256 and best < est.context:
            out.append(Suggestion(
                "context", f"a context of at most {best} tokens fits {target.device}",
                {"context": best},
            ))
    # 3. spread over the GPUs (device auto)
    if len(gpus) > 1 and est.device != "auto":
        spread = _rerun(est, config, tensors, device="auto", gpu_count=len(gpus))
        per_gpu = spread.peak_bytes
        ok = all(per_gpu <= _budget(g, pause_pct) for g in gpus)
        max_memory = {g.device.split(":")[1]: f"{_budget(g, pause_pct) // GIB}GiB" for g in gpus}
        out.append(Suggestion(
            "spread",
            f"spread over {len(gpus)} GPUs (device field auto, --device auto): "
            f"about {_gib(per_gpu)} each"
            + ("" if ok else " (still too much)"),
            {"device": "auto", "per_gpu_bytes": per_gpu, "max_memory": max_memory},
        ))
    # 4. offload weights to the CPU
    if gpus and host is not None:
        fixed = est.peak_bytes - est.devices[0].weights_bytes
        gpu_room = budget - fixed
        if gpu_room > 0:
            offload = est.weights.reserved_bytes - gpu_room
            if offload > 0:
                host_ok = offload <= host.free_bytes
                out.append(Suggestion(
                    "offload",
                    f"offload {_gib(offload)} of weights to the CPU with max_memory "
                    f"{{{target.device.split(':')[-1]}: '{gpu_room // GIB}GiB', "
                    f"'cpu': '{-(-offload // GIB)}GiB'}}"
                    + ("" if host_ok else " (the host has not that much RAM free)")
                    + "; generation gets much slower",
                    {"gpu_bytes": gpu_room, "cpu_bytes": offload,
                     "max_memory": {target.device.split(":")[-1]: f"{gpu_room // GIB}GiB",
                                    "cpu": f"{-(-offload // GIB)}GiB"}},
                ))
    return out


# ----------------------------------------------------------------------------------------------
# Estimate vs actual


@dataclass(frozen=True, slots=True)
class Comparison:
    what: str  # "after load", "peak during generate", ...
    estimated_bytes: int
    actual_bytes: int

    @property
    def difference_bytes(self) -> int:
        """actual - estimated: positive means the estimate was short."""
        return self.actual_bytes - self.estimated_bytes

    @property
    def difference_pct(self) -> float | None:
        """(estimated - actual) / actual, in %: negative means the estimate was under."""
        if self.actual_bytes <= 0:
            return None
        return 100.0 * (self.estimated_bytes - self.actual_bytes) / self.actual_bytes

    def to_json_dict(self) -> dict[str, Any]:
        return {**asdict(self), "difference_bytes": self.difference_bytes,
                "difference_pct": self.difference_pct}


def compare(
    est: Estimate,
    *,
    after_load_bytes: int | None = None,
    peak_bytes: int | None = None,
    kv_cache_bytes: int | None = None,
    weights_bytes: int | None = None,
) -> tuple[Comparison, ...]:
    """Rows of estimate vs measured for the figures given (engine NVML usage after the load,
    its peak during a generate, the KV cache's size, the live weight bytes)."""
    rows: list[Comparison] = []
    if weights_bytes is not None:
        rows.append(Comparison("weights", est.weights.bytes, weights_bytes))
    if after_load_bytes is not None:
        rows.append(Comparison("after load", est.after_load_bytes, after_load_bytes))
    if kv_cache_bytes is not None:
        rows.append(Comparison("KV cache", est.kv_cache_bytes, kv_cache_bytes))
    if peak_bytes is not None:
        rows.append(Comparison("peak during generate", est.peak_bytes, peak_bytes))
    return tuple(rows)


# ----------------------------------------------------------------------------------------------
# Time to load


def load_seconds(total_bytes: int, cached_bytes: int, warm_bytes_per_s: float,
                 cold_bytes_per_s: float) -> float:
    """Seconds to load `total_bytes` of weights of which `cached_bytes` are in the page cache:
    the cached part at the warm (page cache) rate, the rest at the cold (disk) rate. The rates
    are measured ones (console.host.loadspeed keeps what past loads achieved)."""
    if total_bytes < 0 or cached_bytes < 0:
        raise EstimateError("load_seconds: byte counts must not be negative")
    if warm_bytes_per_s <= 0 or cold_bytes_per_s <= 0:
        raise EstimateError("load_seconds: rates must be positive")
    cached = min(cached_bytes, total_bytes)
    return cached / warm_bytes_per_s + (total_bytes - cached) / cold_bytes_per_s
