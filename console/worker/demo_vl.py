"""The built-in vision demo `demo-vl`: a tiny glm4v (AutoGLM-Phone-9B's architecture) with random
weights and a working processor, so image prompts can be tried with nothing downloaded.

Written on first use to `console.host.paths.cache_dir()/demo-vl`: config.json and safetensors
(tinymodels' glm4v with the image token ids of its own tokenizer), a byte-level BPE tokenizer
trained here holding glm4v's image and video tokens, preprocessor_config.json (transformers'
Glm4vImageProcessor, sized small so the demo is quick) and a chat template that puts
`<|begin_of_image|><|image|><|end_of_image|>` where each image goes, as GLM-4.1V's does. A marker
written last makes an interrupted build count as incomplete. The files are written by
console/worker/glm4v_build.py (which builds glm4v of any size); this module holds the demo's
small geometry and limits. Engine side: `ensure()` imports torch and transformers. The probe
images it ships live in console/assets/probe/.
"""

from __future__ import annotations

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
from console.worker import glm4v_build
from console.worker.glm4v_build import AGENT_TOKENS, CHAT_TEMPLATE, IMAGE_TOKENS

__all__ = ["AGENT_TOKENS", "CHAT_TEMPLATE", "DEMO_VL_LABEL", "DEMO_VL_NAME", "DEMO_VL_VERSION",
           "IMAGE_TOKENS", "PROBE_DIR", "build", "demo_vl_dir", "ensure", "is_complete",
           "probe_images"]

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


def build(dest: Path) -> Path:
    """Write the demo-vl model directory to `dest` (float32, on the CPU)."""
    return glm4v_build.build(dest, text=TEXT_OVERRIDES, vision=VISION_OVERRIDES,
                             dtype="float32", min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)


def ensure(directory: Path | None = None) -> Path:
    """Return the demo-vl directory, building it first when missing or incomplete."""
    target = directory if directory is not None else demo_vl_dir()
    if is_complete(target):
        return target
    from console.worker.demo import staged_build

    return staged_build(target, build, _MARKER, {"version": DEMO_VL_VERSION,
                                                 "name": DEMO_VL_NAME, "label": DEMO_VL_LABEL})
