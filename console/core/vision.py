"""The vision part of a multimodal model's memory: image tokens, encoder activations, their KV.

Pure: config.json's `vision_config` plus preprocessor_config.json in, numbers out (no torch, no
PIL); `limits_of_model_dir` reads those two files of a model directory. The image-size rule
is the glm4v / qwen2-vl "smart resize" (transformers
`models/glm4v/image_processing_glm4v.py`, `models/qwen2_vl/image_processing_qwen2_vl.py`): each
side is rounded to a multiple of patch_size x merge_size, then the whole image is scaled so its
pixel count lies in [min_pixels, max_pixels]. glm4v compares `temporal_patch_size x h x w`
with the limits (an image is treated as `temporal_patch_size` identical frames); qwen2-vl
compares `h x w`. An image becomes (h / patch) x (w / patch) patches for the vision encoder and
patches / merge^2 tokens in the language model's context.

The encoder's activation bytes at that size (what a prefill with these images adds on top of
the text workspace; docs/vision.md says what each term is):
- pixel_values: the processor's float32 patches (C x T x P x P per patch), plus one copy in the
  model's dtype when that is not float32;
- the residual stream (4 x patches x hidden), the widest of one block's attention
  (q, k, v, the rotary float32 copies of q and k, the output), its MLP (the activated gate,
  up, their product: 3 x patches x MLP width, plus the output) and the patch merger (3 x
  tokens x its width), and with eager attention the heads x n^2 scores of the largest image.
  glm4v's block MLP is out_hidden_size wide and its merger intermediate_size wide
  (transformers' Glm4VisionMlp, Glm4vVisionPatchMerger);
- the merged image embeddings (tokens x out_hidden) that the language model takes in;
- slack: the caching allocator's pool peaks above the live tensors (freed blocks split and
  reused, as the language estimate's fragmentation): `VISION_SLACK_BLOCKS` x the largest
  activation tensor of a block, its MLP's patches x MLP width x dtype bytes. Fitted on the
  H200 run of session 6 (glm4v 9B, bf16, the 1080x2400 rows, clean baselines) and scored on its
  1600x3120 rows (docs/check.md, vision section): torch's allocated peak was within 3% of the
  estimate without it, NVML (the reserved pool) ~1.6x.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from console.core.units import fmt_bytes

# Defaults of transformers' Glm4vImageProcessor (5.x): size shortest_edge / longest_edge.
GLM4V_MIN_PIXELS = 112 * 112
GLM4V_MAX_PIXELS = 28 * 28 * 15000
# Qwen2-VL's defaults (min_pixels / max_pixels).
QWEN2VL_MIN_PIXELS = 56 * 56
QWEN2VL_MAX_PIXELS = 28 * 28 * 1280
MAX_ASPECT_RATIO = 200  # smart_resize refuses a longer side over 200 x the shorter
# Tokens of the chat template and the instruction that must fit beside the images.
DEFAULT_TEXT_RESERVE_TOKENS = 1024
# x the blocks' MLP tensor (patches x mlp_width x e): fitted on the 1080x2400 rows of the H200
# run of session 6 (docs/check.md, vision section)
VISION_SLACK_BLOCKS = 4.51  # the 1080x2400 rows' fit (4.5102), rounded
_DTYPE_BYTES = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "float32": 4, "float16": 2,
                "bfloat16": 2}


class VisionError(ValueError):
    """A vision_config / processor config / image size this module cannot use (one line)."""


@dataclass(frozen=True, slots=True)
class VisionGeometry:
    """The vision encoder's shape (config.json `vision_config`)."""

    model_type: str  # the whole model's: glm4v, qwen2_vl, qwen2_5_vl
    hidden: int
    intermediate: int  # config's intermediate_size (glm4v: the merger's width)
    mlp_width: int  # the blocks' MLP width (glm4v: out_hidden_size; qwen2-vl: intermediate)
    merger_width: int  # the merger's widest layer per merged token
    heads: int
    depth: int
    out_hidden: int  # width of one merged image token (the language model's hidden)
    patch_size: int
    temporal_patch_size: int
    merge_size: int
    in_channels: int


@dataclass(frozen=True, slots=True)
class ProcessorLimits:
    """How the image processor sizes images (preprocessor_config.json, or --max-pixels)."""

    patch_size: int
    temporal_patch_size: int
    merge_size: int
    min_pixels: int
    max_pixels: int
    temporal_in_limit: bool  # glm4v: T x h x w is compared with the limits; qwen2-vl: h x w
    source: str  # where the limits came from ("preprocessor_config.json", "defaults", ...)

    @property
    def factor(self) -> int:
        return self.patch_size * self.merge_size


@dataclass(frozen=True, slots=True)
class ImagePlan:
    """One image as the processor will feed it."""

    height: int
    width: int
    resized_height: int
    resized_width: int
    grid_t: int
    grid_h: int
    grid_w: int

    @property
    def patches(self) -> int:
        return self.grid_t * self.grid_h * self.grid_w

    def tokens(self, merge_size: int) -> int:
        return self.patches // (merge_size * merge_size)


@dataclass(frozen=True, slots=True)
class VisionEstimate:
    images: int
    image_tokens: int  # in the language model's context, all images together
    tokens_per_image: tuple[int, ...]
    patches: int
    pixel_bytes: int  # pixel_values: float32 from the processor (+ a model-dtype copy)
    encoder_bytes: int  # the encoder's working set at its peak, pixel_values excluded
    embeddings_bytes: int  # merged image embeddings handed to the language model
    kv_bytes: int  # the image tokens' KV cache (inside the context's KV)
    attention_kernel: str
    bytes: int  # pixel + encoder + embeddings + slack: what the vision pass adds at its peak
    resized: tuple[tuple[int, int], ...]  # (height, width) after smart resize, per image
    limits: dict[str, Any] = field(default_factory=dict)
    largest_tensor_bytes: int = 0  # a block's MLP tensor, patches x mlp_width x e
    slack_bytes: int = 0  # the allocator's slack: slack blocks x largest_tensor_bytes (in bytes)

    def to_json_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tokens_per_image"] = list(self.tokens_per_image)
        data["resized"] = [list(r) for r in self.resized]
        return data


@dataclass(frozen=True, slots=True)
class ImageFit:
    """How many images of one size fit beside a context."""

    tokens_per_image: int
    context: int
    text_reserve_tokens: int
    max_images_by_context: int
    max_images_by_memory: int | None  # None: no memory budget given
    max_images: int  # the smaller of the two (or the context bound alone)
    reason: str

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pick(cfg: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = cfg.get(key)
        if value is not None:
            return value
    return None


def _positive(cfg: Mapping[str, Any], what: str, default: int | None, *keys: str) -> int:
    value = _pick(cfg, *keys)
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise VisionError(f"config.json vision_config: {what}: none of {', '.join(keys)} is a "
                          f"positive integer (got {value!r}); check the model's config.json")
    return value


def has_vision(config: Mapping[str, Any]) -> bool:
    return isinstance(config.get("vision_config"), dict)


def vision_geometry(config: Mapping[str, Any]) -> VisionGeometry:
    """The encoder's shape from config.json; VisionError names the missing field."""
    vc = config.get("vision_config")
    if not isinstance(vc, dict):
        raise VisionError("config.json has no vision_config: this is a text-only model, "
                          "it takes no images")
    model_type = str(config.get("model_type") or "")
    hidden = _positive(vc, "hidden size", None, "hidden_size", "embed_dim")
    ratio = vc.get("mlp_ratio")
    default_inter = int(hidden * ratio) if isinstance(ratio, (int, float)) else 4 * hidden
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else config
    assert isinstance(text, Mapping)
    text_hidden = _pick(text, "hidden_size")
    intermediate = _positive(vc, "intermediate size", default_inter, "intermediate_size")
    out_hidden = _positive(vc, "out hidden size",
                           text_hidden if isinstance(text_hidden, int) else hidden,
                           "out_hidden_size")
    merge = _positive(vc, "spatial merge size", 2, "spatial_merge_size")
    glm = model_type.startswith("glm4v")
    # transformers' Glm4VisionMlp is out_hidden_size wide and its patch merger
    # intermediate_size wide; qwen2-vl's blocks use intermediate (mlp_ratio x embed_dim) and
    # its merger hidden x merge^2 per merged token.
    return VisionGeometry(
        model_type=model_type,
        hidden=hidden,
        intermediate=intermediate,
        mlp_width=out_hidden if glm else intermediate,
        merger_width=intermediate if glm else hidden * merge * merge,
        heads=_positive(vc, "heads", None, "num_heads", "num_attention_heads"),
        depth=_positive(vc, "depth", None, "depth", "num_hidden_layers"),
        out_hidden=out_hidden,
        patch_size=_positive(vc, "patch size", 14, "patch_size"),
        temporal_patch_size=_positive(vc, "temporal patch size", 2, "temporal_patch_size"),
        merge_size=merge,
        in_channels=_positive(vc, "channels", 3, "in_channels", "in_chans"),
    )


def processor_limits(
    config: Mapping[str, Any],
    preprocessor: Mapping[str, Any] | None = None,
    *,
    max_pixels: int | None = None,
    min_pixels: int | None = None,
) -> ProcessorLimits:
    """The processor's sizing: preprocessor_config.json over the family's defaults; explicit
    `max_pixels` / `min_pixels` (like vLLM's --mm-processor-kwargs) over both."""
    geo = vision_geometry(config)
    pre = dict(preprocessor or {})
    glm = geo.model_type.startswith("glm4v") or str(
        pre.get("image_processor_type", "")).startswith("Glm4v")
    size = pre.get("size") if isinstance(pre.get("size"), dict) else {}
    assert isinstance(size, dict)
    lo = _pick(pre, "min_pixels") or size.get("shortest_edge") or size.get("min_pixels")
    hi = _pick(pre, "max_pixels") or size.get("longest_edge") or size.get("max_pixels")
    source = "preprocessor_config.json" if (lo or hi) else "defaults"
    lo = lo or (GLM4V_MIN_PIXELS if glm else QWEN2VL_MIN_PIXELS)
    hi = hi or (GLM4V_MAX_PIXELS if glm else QWEN2VL_MAX_PIXELS)
    if max_pixels is not None:
        hi, source = max_pixels, "--max-pixels"
    if min_pixels is not None:
        lo = min_pixels
    for name, value in (("min_pixels", lo), ("max_pixels", hi)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise VisionError(f"{name} {value!r} is not a positive whole number of pixels")
    if lo > hi:
        raise VisionError(f"min_pixels {lo} is larger than max_pixels {hi}; lower min_pixels")
    return ProcessorLimits(
        patch_size=int(pre.get("patch_size") or geo.patch_size),
        temporal_patch_size=int(pre.get("temporal_patch_size") or geo.temporal_patch_size),
        merge_size=int(pre.get("merge_size") or geo.merge_size),
        min_pixels=int(lo), max_pixels=int(hi), temporal_in_limit=glm, source=source,
    )


def limits_of_model_dir(path: str | None) -> ProcessorLimits | str | None:
    """The image processor's limits of the model directory `path` from its config.json and
    preprocessor_config.json: None for a text-only model, "unknown" when they cannot be read."""
    import json
    from pathlib import Path

    if not path:
        return "unknown"
    try:
        cfg = json.loads((Path(path) / "config.json").read_text())
        if not has_vision(cfg):
            return None
        pre_path = Path(path) / "preprocessor_config.json"
        pre = json.loads(pre_path.read_text()) if pre_path.is_file() else {}
        return processor_limits(cfg, pre)
    except (OSError, ValueError, AttributeError, TypeError):
        return "unknown"


def smart_resize(height: int, width: int, limits: ProcessorLimits) -> tuple[int, int]:
    """The (height, width) the processor resizes an image to (see the module docstring)."""
    if height <= 0 or width <= 0:
        raise VisionError(f"image size {width}x{height} is empty")
    factor = limits.factor
    frames = limits.temporal_patch_size if limits.temporal_in_limit else 1
    h, w = height, width
    if limits.temporal_in_limit and (h < factor or w < factor):
        scale = max(factor / h, factor / w)
        h, w = int(h * scale), int(w * scale)
    if max(h, w) / min(h, w) > MAX_ASPECT_RATIO:
        raise VisionError(f"image {width}x{height}: aspect ratio over {MAX_ASPECT_RATIO}, "
                          "which the processor refuses; crop it")
    h_bar = max(factor, round(h / factor) * factor)
    w_bar = max(factor, round(w / factor) * factor)
    if frames * h_bar * w_bar > limits.max_pixels:
        beta = math.sqrt(frames * h * w / limits.max_pixels)
        h_bar = max(factor, math.floor(h / beta / factor) * factor)
        w_bar = max(factor, math.floor(w / beta / factor) * factor)
    elif frames * h_bar * w_bar < limits.min_pixels:
        beta = math.sqrt(limits.min_pixels / (frames * h * w))
        h_bar = math.ceil(h * beta / factor) * factor
        w_bar = math.ceil(w * beta / factor) * factor
    return h_bar, w_bar


def plan_image(height: int, width: int, limits: ProcessorLimits) -> ImagePlan:
    rh, rw = smart_resize(height, width, limits)
    return ImagePlan(height=height, width=width, resized_height=rh, resized_width=rw,
                     grid_t=1, grid_h=rh // limits.patch_size, grid_w=rw // limits.patch_size)


def image_tokens(height: int, width: int, limits: ProcessorLimits) -> int:
    """Tokens one image of height x width takes in the context."""
    return plan_image(height, width, limits).tokens(limits.merge_size)


def max_size_image(limits: ProcessorLimits, aspect: float = 1080 / 2400) -> tuple[int, int]:
    """(height, width) of the largest image of this aspect (width / height; a phone screen by
    default) the limits let through unshrunk: the worst case per image."""
    frames = limits.temporal_patch_size if limits.temporal_in_limit else 1
    height = math.sqrt(limits.max_pixels / frames / aspect)
    return max(1, int(height)), max(1, int(height * aspect))


def encoder_attention_kernel(attn_implementation: str) -> str:
    """eager holds heads x n^2 scores per image; sdpa / flash do not (CPU sdpa without a mask
    takes the flash kernel; CUDA sdpa in bf16/fp16 too)."""
    return "eager" if attn_implementation == "eager" else "flash"


def estimate(
    geo: VisionGeometry,
    limits: ProcessorLimits,
    sizes: Sequence[tuple[int, int]],
    *,
    dtype: str = "BF16",
    kv_bytes_per_token: int = 0,
    attn_implementation: str = "sdpa",
    slack_blocks: float = VISION_SLACK_BLOCKS,
    on_cpu: bool = False,
) -> VisionEstimate:
    """The vision pass's bytes for images of `sizes` ((height, width) each) in one prompt.
    `slack_blocks`: the allocator's slack in units of the largest block tensor (a check
    script scores other values; the shipped one by default). `on_cpu`: no slack (it is the
    CUDA caching allocator's; the CPU check measures RSS)."""
    if slack_blocks < 0:
        raise VisionError(f"slack_blocks {slack_blocks!r} is negative: use 0 or more")
    if dtype not in _DTYPE_BYTES:
        raise VisionError(f"dtype {dtype!r}: one of {', '.join(_DTYPE_BYTES)}")
    e = _DTYPE_BYTES[dtype]
    plans = [plan_image(h, w, limits) for h, w in sizes]
    tokens = [p.tokens(limits.merge_size) for p in plans]
    n = sum(p.patches for p in plans)
    n_max = max((p.patches for p in plans), default=0)
    t = sum(tokens)
    patch_values = geo.in_channels * limits.temporal_patch_size * limits.patch_size ** 2
    pixel = n * patch_values * 4 + (n * patch_values * e if e != 4 else 0)
    stream = 4 * n * geo.hidden * e
    attention = 3 * n * geo.hidden * e + 2 * n * geo.hidden * 4 + 2 * n * geo.hidden * e
    kernel = encoder_attention_kernel(attn_implementation)
    if kernel == "eager" and n_max:
        attention += geo.heads * n_max * n_max * (e + 4)
    mlp = 3 * n * geo.mlp_width * e + n * geo.hidden * e
    merger = t * (2 * geo.out_hidden + 3 * geo.merger_width) * e
    encoder = stream + max(attention, mlp, merger) if n else 0
    embeddings = t * geo.out_hidden * e
    largest = n * geo.mlp_width * e
    slack = 0 if on_cpu else int(slack_blocks * largest)
    return VisionEstimate(
        images=len(plans), image_tokens=t, tokens_per_image=tuple(tokens), patches=n,
        pixel_bytes=pixel, encoder_bytes=encoder, embeddings_bytes=embeddings,
        kv_bytes=t * kv_bytes_per_token, attention_kernel=kernel,
        bytes=pixel + encoder + embeddings + slack,
        resized=tuple((p.resized_height, p.resized_width) for p in plans),
        limits={"min_pixels": limits.min_pixels, "max_pixels": limits.max_pixels,
                "patch_size": limits.patch_size, "merge_size": limits.merge_size,
                "temporal_patch_size": limits.temporal_patch_size, "source": limits.source},
        largest_tensor_bytes=largest, slack_bytes=slack,
    )


def images_that_fit(
    tokens_per_image: int,
    context: int,
    *,
    text_reserve_tokens: int = DEFAULT_TEXT_RESERVE_TOKENS,
    bytes_per_image: int | None = None,
    budget_bytes: int | None = None,
) -> ImageFit:
    """How many images of `tokens_per_image` fit in `context` beside `text_reserve_tokens` of
    text, and (with a budget) how many the vision pass's bytes allow."""
    if tokens_per_image <= 0:
        raise VisionError("tokens per image must be positive")
    room = max(0, context - text_reserve_tokens)
    by_context = room // tokens_per_image
    by_memory: int | None = None
    if bytes_per_image is not None and budget_bytes is not None and bytes_per_image > 0:
        by_memory = max(0, budget_bytes) // bytes_per_image
    best = by_context if by_memory is None else min(by_context, by_memory)
    if by_memory is not None and by_memory < by_context:
        reason = (f"memory: each image's vision pass needs {bytes_per_image} bytes; "
                  f"{by_memory} fit in what is left beside the weights and the context's KV")
    else:
        reason = (f"context: {tokens_per_image} tokens per image, {room} of the {context} "
                  f"tokens left beside {text_reserve_tokens} for text")
    return ImageFit(tokens_per_image=tokens_per_image, context=context,
                    text_reserve_tokens=text_reserve_tokens, max_images_by_context=by_context,
                    max_images_by_memory=by_memory, max_images=best, reason=reason)


def added_peak_bytes(v: VisionEstimate, text_activation_bytes: int) -> int:
    """What the images add to a prefill's peak. The encoder runs before the language model's
    prefill and its working set is freed before that starts; pixel_values and the merged
    embeddings stay alive through it. So the peak is pixel + embeddings + the larger of the
    encoder's working set and the text prefill's activations; plus the allocator's slack."""
    return (v.pixel_bytes + v.embeddings_bytes + max(0, v.encoder_bytes - text_activation_bytes)
            + v.slack_bytes)


def with_images(est: Any, v: VisionEstimate) -> Any:
    """A console.core.estimate.Estimate with the images' bytes added to the device that runs
    the vision tower (the first one), and a note in place of "images add ..."."""
    from dataclasses import replace

    if not est.devices or v.images == 0:
        return est
    first = est.devices[0]
    added = added_peak_bytes(v, first.activation_bytes)
    devices = (replace(first, activation_bytes=first.activation_bytes + added),
               *est.devices[1:])
    notes = [n for n in est.notes if not n.startswith("text generation planned")]
    notes.append(f"{v.images} image(s), {v.image_tokens} image tokens: the vision pass adds "
                 f"{fmt_bytes(added)} to the peak (their KV is inside the context's)")
    if v.image_tokens > est.context:
        notes.append(f"the images' {v.image_tokens} tokens exceed the {est.context}-token "
                     "context: raise --context or send fewer or smaller images")
    return replace(est, devices=devices, notes=tuple(notes))
