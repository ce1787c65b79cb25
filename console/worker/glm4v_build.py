"""Random-weight glm4v model directories with a working processor, at any size.

`build(dest, text=..., vision=...)` writes what an image prompt needs: config.json and
safetensors (console.worker.tinymodels' glm4v, with the image token ids of its own tokenizer), a
byte-level BPE tokenizer trained here holding glm4v's image and video tokens and a chat template
that puts `<|begin_of_image|><|image|><|end_of_image|>` where each image goes (as GLM-4.1V's
does), and preprocessor_config.json (transformers' Glm4vImageProcessor, with its
`size.longest_edge`, i.e. max_pixels, given here). The tiny `demo-vl`
(console/worker/demo_vl.py) is one call of it; `autoglm_phone_9b()` gives AutoGLM-Phone-9B's
real geometry (transformers' Glm4vConfig defaults: 10.29 B parameters, 20.6 GB in bf16), which
benchmarks/vision_estimate.py builds on the GPU. `ensure()` builds once and marks the directory
complete (the marker is written last). Engine side: imports torch and transformers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

IMAGE_TOKENS = ["<|begin_of_image|>", "<|end_of_image|>", "<|image|>", "<|begin_of_video|>",
                "<|end_of_video|>", "<|video|>"]
AGENT_TOKENS = ["<think>", "</think>", "<answer>", "</answer>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<|begin_of_image|><|image|><|end_of_image|>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
# transformers' Glm4vImageProcessor default lower bound (size.shortest_edge).
DEFAULT_MIN_PIXELS = 112 * 112
MARKER = ".autoglm-glm4v.json"
# Vision config keys that are bookkeeping, not geometry (left out of the overrides).
_NOT_GEOMETRY = {"model_type", "transformers_version", "architectures", "dtype", "torch_dtype",
                 "output_hidden_states", "return_dict", "_name_or_path", "id2label",
                 "label2id", "output_attentions", "chunk_size_feed_forward",
                 "is_encoder_decoder", "problem_type"}


def autoglm_phone_9b() -> tuple[dict[str, Any], dict[str, Any]]:
    """(text, vision) overrides of AutoGLM-Phone-9B's shape: transformers' Glm4vConfig
    defaults (text hidden 4096, 40 layers, 32 heads, 2 KV heads, vocab 151,552; vision depth
    24, hidden 1536, patch 14, merge 2, temporal patch 2), with its rope: multimodal sections
    [8, 12, 12] over half of each 128-wide head (partial_rotary_factor 0.5)."""
    import transformers as tf

    text_defaults = tf.Glm4vTextConfig().to_dict()
    text = {k: text_defaults[k] for k in (
        "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "vocab_size", "max_position_embeddings")}
    text["head_dim"] = (text_defaults.get("head_dim")
                        or text["hidden_size"] // text["num_attention_heads"])
    text["partial_rotary_factor"] = 0.5
    text["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0,
                               "mrope_section": [8, 12, 12], "partial_rotary_factor": 0.5}
    vision = {k: v for k, v in tf.Glm4vVisionConfig().to_dict().items()
              if k not in _NOT_GEOMETRY}
    return text, vision


def tokenizer(dest: Path) -> Any:
    """Train the small byte-level BPE tokenizer (image, video and agent tokens as specials,
    the chat template above) and save it to `dest`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from console.worker import tinymodels

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320, special_tokens=tinymodels.SPECIAL_TOKENS + IMAGE_TOKENS + AGENT_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    corpus = tinymodels._CORPUS + ' do(action="Tap", element=[500, 300]) finish(message="ok")'
    tok.train_from_iterator([corpus] * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        pad_token="<pad>", chat_template=CHAT_TEMPLATE,
    )
    fast.save_pretrained(str(dest))
    return fast


def set_pixel_limits(dest: Path, *, max_pixels: int, min_pixels: int | None = None) -> None:
    """Rewrite preprocessor_config.json's size (shortest_edge / longest_edge: glm4v's pixel
    limits, temporal_patch_size x height x width) without touching the weights."""
    path = dest / "preprocessor_config.json"
    pre = json.loads(path.read_text())
    size = dict(pre.get("size") or {})
    size["longest_edge"] = int(max_pixels)
    if min_pixels is not None:
        size["shortest_edge"] = int(min_pixels)
    if size.get("shortest_edge", 0) > size["longest_edge"]:
        raise ValueError(f"{path}: min_pixels {size['shortest_edge']} is over max_pixels "
                         f"{size['longest_edge']}; lower min_pixels")
    pre["size"] = size
    path.write_text(json.dumps(pre, indent=2) + "\n")


def build(
    dest: Path,
    *,
    text: Mapping[str, Any],
    vision: Mapping[str, Any],
    dtype: str = "bfloat16",
    device: str = "cpu",
    max_shard_size: str | int | None = None,
    min_pixels: int = DEFAULT_MIN_PIXELS,
    max_pixels: int,
    seed: int = 0,
) -> Path:
    """Write a glm4v model directory with a working processor to `dest`.

    `text` / `vision`: Glm4vTextConfig / Glm4vVisionConfig fields (a `vocab_size` in `text`
    sizes the embeddings; without it the vocabulary is the tokenizer's). `device`: where the
    random weights are made ("cuda:0" on a GPU host: seconds for 20 GB). `max_pixels` /
    `min_pixels`: the processor's `size.longest_edge` / `shortest_edge`.
    """
    from transformers.models.glm4v.image_processing_pil_glm4v import Glm4vImageProcessorPil

    from console.worker import tinymodels

    if min_pixels > max_pixels:
        raise ValueError(f"min_pixels {min_pixels} is over max_pixels {max_pixels}; lower "
                         "min_pixels")
    dest.mkdir(parents=True, exist_ok=True)
    tok = tokenizer(dest)
    ids = {name: tok.convert_tokens_to_ids(token) for name, token in (
        ("image_token_id", "<|image|>"), ("video_token_id", "<|video|>"),
        ("image_start_token_id", "<|begin_of_image|>"), ("image_end_token_id", "<|end_of_image|>"),
        ("video_start_token_id", "<|begin_of_video|>"), ("video_end_token_id", "<|end_of_video|>"),
    )}
    text_fields = dict(text)
    vocab = int(text_fields.pop("vocab_size", len(tok)))
    if vocab < len(tok):
        raise ValueError(f"text vocab_size {vocab} is under the tokenizer's {len(tok)} tokens; "
                         "raise it")
    overrides: dict[str, Any] = {**text_fields, **ids, "vocab_size": vocab,
                                 "vision_config": dict(vision)}
    tinymodels.build("glm4v", dest, dtype=dtype, seed=seed, overrides=overrides,
                     with_tokenizer=False, device=device, max_shard_size=max_shard_size)
    geo = json.loads((dest / "config.json").read_text())["vision_config"]
    image_processor = Glm4vImageProcessorPil(
        size={"shortest_edge": min_pixels, "longest_edge": max_pixels},
        patch_size=geo["patch_size"], temporal_patch_size=geo["temporal_patch_size"],
        merge_size=geo["spatial_merge_size"],
    )
    image_processor.save_pretrained(str(dest))
    pre_path = dest / "preprocessor_config.json"
    pre = json.loads(pre_path.read_text())
    pre["processor_class"] = "Glm4vProcessor"
    pre_path.write_text(json.dumps(pre, indent=2) + "\n")
    (dest / "chat_template.jinja").write_text(CHAT_TEMPLATE)
    return dest


def spec(text: Mapping[str, Any], vision: Mapping[str, Any], dtype: str) -> dict[str, Any]:
    """What a built directory's marker records of its weights (JSON-normalised)."""
    data: dict[str, Any] = json.loads(json.dumps(
        {"text": dict(text), "vision": dict(vision), "dtype": dtype}, sort_keys=True))
    return data


def ensure(
    dest: Path,
    *,
    text: Mapping[str, Any],
    vision: Mapping[str, Any],
    dtype: str = "bfloat16",
    device: str = "cpu",
    max_shard_size: str | int | None = None,
    max_pixels: int,
    min_pixels: int = DEFAULT_MIN_PIXELS,
) -> tuple[Path, str]:
    """`dest` holding this geometry, built when missing, incomplete or of another geometry
    (staged beside it, swapped in whole); a directory of the same weights with other pixel
    limits only has its preprocessor_config.json rewritten. Returns (dest, what was done:
    "reused", "limits rewritten" or "built")."""
    from console.worker.demo import staged_build

    want = spec(text, vision, dtype)
    try:
        info = json.loads((dest / MARKER).read_text())
    except (OSError, ValueError):
        info = {}
    complete = info.get("spec") == want and all(
        (dest / name).is_file() for name in info.get("files", []))
    if complete:
        pre = json.loads((dest / "preprocessor_config.json").read_text())
        size = pre.get("size") or {}
        if size.get("longest_edge") == max_pixels and size.get("shortest_edge") == min_pixels:
            return dest, "reused"
        set_pixel_limits(dest, max_pixels=max_pixels, min_pixels=min_pixels)
        return dest, "limits rewritten"
    if dest.exists() and not info and any(dest.iterdir()):
        raise ValueError(f"{dest} exists and is not a glm4v built here (no {MARKER}); "
                         "remove it or pick another directory")

    def _build(staging: Path) -> None:
        build(staging, text=text, vision=vision, dtype=dtype, device=device,
              max_shard_size=max_shard_size, min_pixels=min_pixels, max_pixels=max_pixels)

    staged_build(dest, _build, MARKER, {"spec": want})
    return dest, "built"
