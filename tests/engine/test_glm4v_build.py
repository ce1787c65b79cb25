"""The glm4v builder with a working processor (console/worker/glm4v_build.py): demo-vl unchanged,
AutoGLM-Phone-9B's geometry, and a small build answering an image prompt on the real engine."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from console.core import vision
from console.worker import demo_vl, glm4v_build

from .conftest import start_client
from .test_images import make_png

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "demo_vl_golden.json"
SMALL_TEXT: dict[str, Any] = {
    "hidden_size": 96, "intermediate_size": 192, "num_hidden_layers": 2,
    "num_attention_heads": 3, "num_key_value_heads": 1, "head_dim": 32,
    "vocab_size": 2000,  # larger than the tokenizer's 320, as the 9B's 151,552
    "max_position_embeddings": 4096, "partial_rotary_factor": 0.5,
    "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                        "mrope_section": [2, 2, 4], "partial_rotary_factor": 0.5},
}
SMALL_VISION: dict[str, Any] = {
    "hidden_size": 48, "depth": 1, "num_heads": 2, "intermediate_size": 160,
    "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
    "out_hidden_size": 96, "image_size": 56,
}
MAX_PIXELS = 150_000


def _weights(path: Path) -> dict[str, list[Any]]:
    from safetensors import safe_open

    out: dict[str, list[Any]] = {}
    for file in sorted(path.glob("*.safetensors")):
        with safe_open(str(file), "pt") as f:
            for key in f.keys():  # noqa: SIM118  (safe_open is not a mapping)
                sl = f.get_slice(key)
                out[key] = [list(sl.get_shape()), sl.get_dtype()]
    return dict(sorted(out.items()))


def test_demo_vl_builds_exactly_what_it_built_before(tmp_path: Path) -> None:
    """tests/fixtures/demo_vl_golden.json was written from demo_vl.build before the builder
    was generalised: the same config, processor, template, vocabulary and tensors."""
    golden = json.loads(GOLDEN.read_text())
    d = demo_vl.build(tmp_path / "demo-vl")
    cfg = json.loads((d / "config.json").read_text())
    cfg.pop("transformers_version", None)
    assert cfg == golden["config"]
    assert json.loads((d / "preprocessor_config.json").read_text()) == \
        golden["preprocessor_config"]
    assert (d / "chat_template.jinja").read_text() == golden["chat_template"]
    tok = json.loads((d / "tokenizer.json").read_text())
    assert tok["model"]["vocab"] == golden["vocab"]
    assert [t["content"] for t in tok["added_tokens"]] == golden["added_tokens"]
    assert _weights(d) == golden["weights"]


def test_autoglm_phone_9b_geometry() -> None:
    """Glm4vConfig defaults with AutoGLM-Phone-9B's rope: 10.29 B parameters (counted on the
    meta device: nothing allocated), 20.6 GB in bf16; at max_pixels 5,000,000 a 1080x2400
    screenshot is 3,108 image tokens (glm4v counts both temporal frames against the limit)."""
    import torch
    import transformers as tf

    from console.worker import tinymodels

    text, vis = glm4v_build.autoglm_phone_9b()
    assert text["rope_parameters"]["mrope_section"] == [8, 12, 12]
    assert text["partial_rotary_factor"] == 0.5 and text["head_dim"] == 128
    assert (vis["patch_size"], vis["spatial_merge_size"], vis["temporal_patch_size"]) == \
        (14, 2, 2)
    assert (text["hidden_size"], text["num_hidden_layers"], text["num_key_value_heads"],
            text["vocab_size"], vis["depth"], vis["hidden_size"]) == \
        (4096, 40, 2, 151552, 24, 1536)
    cfg = tinymodels._config("glm4v", text.pop("vocab_size"), {**text, "vision_config": vis})
    with torch.device("meta"):
        model = tf.AutoModelForImageTextToText.from_config(cfg, dtype=torch.bfloat16)
    params = sum(p.numel() for p in model.parameters())
    assert round(params / 1e9, 2) == 10.29
    assert round(params * 2 / 1e9, 1) == 20.6
    limits = vision.processor_limits(cfg.to_dict(), {"size": {"shortest_edge": 12544,
                                                              "longest_edge": 5_000_000}})
    assert vision.image_tokens(2400, 1080, limits) == 3108


def test_small_build_answers_an_image_prompt_and_is_reused(tmp_path: Path) -> None:
    """The generalised builder at a small geometry (sharded, vocabulary over the tokenizer's,
    its own max_pixels) gives a model whose processor and engine answer an image prompt, with
    the processor's own token count; ensure() reuses it, and a new max_pixels only rewrites
    preprocessor_config.json."""
    dest = tmp_path / "glm4v-small"
    path, what = glm4v_build.ensure(dest, text=SMALL_TEXT, vision=SMALL_VISION,
                                    dtype="float32", max_shard_size="1MB",
                                    max_pixels=MAX_PIXELS)
    assert what == "built" and path == dest
    assert len(list(dest.glob("model-*.safetensors"))) > 1
    cfg = json.loads((dest / "config.json").read_text())
    assert cfg["text_config"]["vocab_size"] == 2000
    assert cfg["vision_config"]["hidden_size"] == 48
    pre = json.loads((dest / "preprocessor_config.json").read_text())
    assert pre["size"]["longest_edge"] == MAX_PIXELS and pre["processor_class"] == "Glm4vProcessor"
    limits = vision.processor_limits(cfg, pre)
    # one image under the limit, one over it (scaled down to it)
    sizes = [(200, 300), (900, 700)]  # (height, width)
    paths = [make_png(tmp_path, w, h, i) for i, (h, w) in enumerate(sizes)]
    planned = [vision.image_tokens(h, w, limits) for h, w in sizes]
    assert MAX_PIXELS < 2 * 700 * 900 and planned[1] <= MAX_PIXELS // 2 // 28**2

    from PIL import Image
    from transformers.models.glm4v.image_processing_pil_glm4v import Glm4vImageProcessorPil

    proc = Glm4vImageProcessorPil.from_pretrained(str(dest))
    grid = proc(images=[Image.open(p).convert("RGB") for p in paths],
                return_tensors="pt")["image_grid_thw"]
    assert [int(g.prod()) // 4 for g in grid] == planned

    client = start_client(tmp_path)
    try:
        loaded = client.wait_for(("loaded", "error"), reply_to=client.load(
            str(dest), device="cpu"), timeout=180)
        assert loaded["event"] == "loaded", dict(loaded)
        assert loaded["model_type"] == "glm4v"
        result = client.wait_for(("generated", "error"), reply_to=client.generate(
            "open settings", images=paths, max_new_tokens=3), timeout=180)
        assert result["event"] == "generated", result
        assert result["image_tokens_per_image"] == planned
        assert result["image_tokens"] == sum(planned)
        assert result["prompt_tokens"] > sum(planned) and result["tokens"] >= 1
        assert result["vision_estimate"]["image_tokens"] == sum(planned)
        assert result["rss_peak_growth_bytes"] is not None
    finally:
        client.close()

    weights = hashlib.sha256(b"".join(p.read_bytes()
                                      for p in sorted(dest.glob("*.safetensors")))).hexdigest()
    assert glm4v_build.ensure(dest, text=SMALL_TEXT, vision=SMALL_VISION, dtype="float32",
                              max_pixels=MAX_PIXELS)[1] == "reused"
    assert glm4v_build.ensure(dest, text=SMALL_TEXT, vision=SMALL_VISION, dtype="float32",
                              max_pixels=2 * MAX_PIXELS)[1] == "limits rewritten"
    pre = json.loads((dest / "preprocessor_config.json").read_text())
    assert pre["size"]["longest_edge"] == 2 * MAX_PIXELS
    assert hashlib.sha256(b"".join(p.read_bytes() for p in sorted(
        dest.glob("*.safetensors")))).hexdigest() == weights


def test_ensure_refuses_a_directory_it_did_not_build(tmp_path: Path) -> None:
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match=r"mine exists and is not a glm4v built here"):
        glm4v_build.ensure(other, text=SMALL_TEXT, vision=SMALL_VISION, max_pixels=MAX_PIXELS)
    assert (other / "notes.txt").read_text() == "keep me"
    with pytest.raises(ValueError, match="min_pixels 20000 is over max_pixels 10000"):
        glm4v_build.build(tmp_path / "bad", text=SMALL_TEXT, vision=SMALL_VISION,
                          min_pixels=20000, max_pixels=10000)
