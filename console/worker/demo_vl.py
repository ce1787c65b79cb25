"""The built-in vision demo `demo-vl`: a tiny glm4v (AutoGLM-Phone-9B's architecture) with random
weights and a working processor, so image prompts can be tried with nothing downloaded.

Written on first use to `console.host.paths.cache_dir()/demo-vl`: config.json and safetensors
(tinymodels' glm4v with the image token ids of its own tokenizer), a byte-level BPE tokenizer
trained here holding glm4v's image and video tokens, preprocessor_config.json (transformers'
Glm4vImageProcessor, sized small so the demo is quick) and a chat template that puts
`<|begin_of_image|><|image|><|end_of_image|>` where each image goes, as GLM-4.1V's does. A marker
written last makes an interrupted build count as incomplete. Engine side: `ensure()` imports
torch and transformers. The probe images it ships live in console/assets/probe/.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from console.host.demo_vl import (
    _MARKER,
    DEMO_VL_LABEL,
    DEMO_VL_NAME,
    DEMO_VL_VERSION,
    PROBE_DIR,
    demo_vl_dir,
    is_complete,
    probe_images,
)

__all__ = ["DEMO_VL_LABEL", "DEMO_VL_NAME", "DEMO_VL_VERSION", "PROBE_DIR", "build",
           "demo_vl_dir", "ensure", "is_complete", "probe_images"]

IMAGE_TOKENS = ["<|begin_of_image|>", "<|end_of_image|>", "<|image|>", "<|begin_of_video|>",
                "<|end_of_video|>", "<|video|>"]
AGENT_TOKENS = ["<think>", "</think>", "<answer>", "</answer>"]
# Processor limits: 12,544 .. 401,408 pixels (glm4v counts 2 x h x w), so one image becomes
# 16 .. 512 tokens (64 .. 2,048 patches).
MIN_PIXELS = 112 * 112
MAX_PIXELS = 28 * 28 * 2 * 256
# Text: hidden 128, 2 layers; vision: hidden 64, 2 blocks, MLP 256 wide (out_hidden = the
# text hidden). ~1M parameters: builds in about a second.
TEXT_OVERRIDES: dict[str, Any] = {
    "hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32,
    "max_position_embeddings": 8192, "partial_rotary_factor": 0.5,
    # M-RoPE sections (temporal, height, width) over the 8 rotary frequencies of head_dim 32 at
    # partial rotary 0.5, as GLM-4.1V's [8, 12, 12] cover its 32.
    "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 2, 4],
                        "partial_rotary_factor": 0.5},
}
VISION_OVERRIDES: dict[str, Any] = {
    "hidden_size": 64, "depth": 2, "num_heads": 2, "intermediate_size": 256,
    "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
    "out_hidden_size": 128, "image_size": 56,
}
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<|begin_of_image|><|image|><|end_of_image|>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def _tokenizer(dest: Path) -> Any:
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


def build(dest: Path) -> Path:
    """Write the demo-vl model directory to `dest`."""
    from transformers.models.glm4v.image_processing_pil_glm4v import Glm4vImageProcessorPil

    from console.worker import tinymodels

    dest.mkdir(parents=True, exist_ok=True)
    tok = _tokenizer(dest)
    ids = {name: tok.convert_tokens_to_ids(token) for name, token in (
        ("image_token_id", "<|image|>"), ("video_token_id", "<|video|>"),
        ("image_start_token_id", "<|begin_of_image|>"), ("image_end_token_id", "<|end_of_image|>"),
        ("video_start_token_id", "<|begin_of_video|>"), ("video_end_token_id", "<|end_of_video|>"),
    )}
    overrides: dict[str, Any] = {**TEXT_OVERRIDES, **ids, "vocab_size": len(tok),
                                 "vision_config": dict(VISION_OVERRIDES)}
    tinymodels.build("glm4v", dest, dtype="float32", seed=0, overrides=overrides,
                     with_tokenizer=False)
    image_processor = Glm4vImageProcessorPil(
        size={"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS},
        patch_size=VISION_OVERRIDES["patch_size"],
        temporal_patch_size=VISION_OVERRIDES["temporal_patch_size"],
        merge_size=VISION_OVERRIDES["spatial_merge_size"],
    )
    image_processor.save_pretrained(str(dest))
    pre_path = dest / "preprocessor_config.json"
    pre = json.loads(pre_path.read_text())
    pre["processor_class"] = "Glm4vProcessor"
    pre_path.write_text(json.dumps(pre, indent=2) + "\n")
    (dest / "chat_template.jinja").write_text(CHAT_TEMPLATE)
    return dest


def ensure(directory: Path | None = None) -> Path:
    """Return the demo-vl directory, building it first when missing or incomplete."""
    target = directory if directory is not None else demo_vl_dir()
    if is_complete(target):
        return target
    from console.worker.demo import staged_build

    return staged_build(target, build, _MARKER, {"version": DEMO_VL_VERSION,
                                                 "name": DEMO_VL_NAME, "label": DEMO_VL_LABEL})
