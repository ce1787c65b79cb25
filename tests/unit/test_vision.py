"""console.core.vision: the smart-resize rule, image tokens, the encoder estimate, the fit."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from console.core import vision

GLM4V_CONFIG = {  # AutoGLM-Phone-9B / GLM-4.1V-9B-Thinking shapes (../shared/FACTS.md)
    "model_type": "glm4v",
    "text_config": {"hidden_size": 4096, "num_hidden_layers": 40},
    "vision_config": {"hidden_size": 1536, "depth": 24, "num_heads": 12,
                      "intermediate_size": 13696, "patch_size": 14, "spatial_merge_size": 2,
                      "temporal_patch_size": 2, "out_hidden_size": 4096},
}
SIZES = [(2400, 1080), (1080, 2400), (64, 64), (10, 300), (300, 10), (1000, 1000),
         (28, 28), (123, 457), (4000, 3000), (56, 2000)]


@pytest.mark.parametrize("max_pixels", [28 * 28 * 64, 5_000_000, vision.GLM4V_MAX_PIXELS])
def test_tokens_equal_the_glm4v_processors_own_count(max_pixels: int) -> None:
    from transformers.models.glm4v.image_processing_pil_glm4v import Glm4vImageProcessorPil

    proc = Glm4vImageProcessorPil(size={"shortest_edge": vision.GLM4V_MIN_PIXELS,
                                        "longest_edge": max_pixels})
    limits = vision.processor_limits(GLM4V_CONFIG, proc.to_dict())
    assert limits.max_pixels == max_pixels and limits.temporal_in_limit
    for h, w in SIZES:
        want = proc.get_number_of_image_patches(h, w, {}) // 4
        assert vision.image_tokens(h, w, limits) == want, (h, w)


def test_smart_resize_keeps_within_the_limits() -> None:
    limits = vision.processor_limits(GLM4V_CONFIG, max_pixels=5_000_000)
    for h, w in itertools.product([30, 500, 1080, 2400, 5000], repeat=2):
        rh, rw = vision.smart_resize(h, w, limits)
        assert rh % 28 == 0 and rw % 28 == 0
        assert 2 * rh * rw <= 5_000_000
    # a phone screenshot just over the limit is shrunk a little, not halved
    rh, rw = vision.smart_resize(2400, 1080, limits)
    assert 2 * rh * rw > 0.9 * 5_000_000


def test_bad_sizes_and_configs_say_one_line() -> None:
    limits = vision.processor_limits(GLM4V_CONFIG)
    with pytest.raises(vision.VisionError, match="aspect ratio"):
        vision.smart_resize(10, 5000, limits)
    with pytest.raises(vision.VisionError, match="text-only"):
        vision.vision_geometry({"model_type": "llama"})
    with pytest.raises(vision.VisionError, match="heads"):
        vision.vision_geometry({"model_type": "glm4v", "vision_config": {"hidden_size": 8,
                                                                         "depth": 1}})
    with pytest.raises(vision.VisionError, match="min_pixels"):
        vision.processor_limits(GLM4V_CONFIG, max_pixels=100, min_pixels=1000)


def test_qwen2vl_limits_count_h_times_w() -> None:
    cfg = {"model_type": "qwen2_vl", "vision_config": {"embed_dim": 1280, "depth": 32,
                                                        "num_heads": 16, "mlp_ratio": 4}}
    limits = vision.processor_limits(cfg, {"min_pixels": 3136, "max_pixels": 12845056})
    assert not limits.temporal_in_limit
    assert vision.image_tokens(28 * 10, 28 * 20, limits) == 200


def test_estimate_scales_with_patches_and_counts_kv() -> None:
    geo = vision.vision_geometry(GLM4V_CONFIG)
    limits = vision.processor_limits(GLM4V_CONFIG, max_pixels=5_000_000)
    one = vision.estimate(geo, limits, [(2400, 1080)], kv_bytes_per_token=40 * 1024)
    ten = vision.estimate(geo, limits, [(2400, 1080)] * 10, kv_bytes_per_token=40 * 1024)
    assert ten.image_tokens == 10 * one.image_tokens
    assert ten.kv_bytes == ten.image_tokens * 40 * 1024
    assert ten.bytes == pytest.approx(10 * one.bytes, rel=0.01)
    # AutoGLM's worst case: ten max-size screenshots (124,320 patches) in bf16: the blocks'
    # MLP alone is 3 x 124,320 x 4,096 x 2 B = 2.8 GiB; with the stream and pixels 5-6 GiB
    assert ten.patches == 10 * one.patches
    assert 5 * 2**30 < ten.bytes - ten.slack_bytes < 6 * 2**30
    # plus the allocator's slack: 4.51 x one block MLP tensor (124,320 x 4,096 x 2 B)
    assert ten.largest_tensor_bytes == 124_320 * 4096 * 2
    assert ten.slack_bytes == int(vision.VISION_SLACK_BLOCKS * ten.largest_tensor_bytes)
    assert ten.encoder_bytes > 3 * ten.patches * 4096 * 2
    eager = vision.estimate(geo, limits, [(2400, 1080)], attn_implementation="eager")
    assert eager.encoder_bytes > one.encoder_bytes
    assert vision.estimate(geo, limits, []).bytes == 0


def test_images_that_fit_beside_autoglms_context() -> None:
    limits = vision.processor_limits(GLM4V_CONFIG, max_pixels=5_000_000)
    per = vision.image_tokens(2400, 1080, limits)
    fit = vision.images_that_fit(per, 25480)
    assert fit.max_images == (25480 - 1024) // per
    assert fit.max_images < 10  # ten max-size screenshots do not fit in 25,480 tokens
    tight = vision.images_that_fit(per, 25480, bytes_per_image=10**9, budget_bytes=3 * 10**9)
    assert tight.max_images == 3 and "memory" in tight.reason


def test_check_images_and_the_panels_helpers_stay_off_the_engine_side(tmp_path: Path) -> None:
    """`check --images` and the app-side helpers (vision, autoglm, imageinfo) in a fresh
    interpreter: no torch, transformers, safetensors, PIL or textual gets imported."""
    import json
    import os
    import subprocess
    import sys

    from console.worker import tinymodels

    model = tinymodels.build("glm4v", tmp_path / "glm4v")
    repo = Path(__file__).resolve().parents[2]
    probe = repo / "console" / "assets" / "probe" / "phone_screen.png"
    code = (
        "import contextlib, io, json, sys\n"
        "from console.cli import main\n"
        "from console.core import autoglm, imageinfo, vision\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        f"    rc = main(['check', {str(model)!r}, '--device', 'cpu', '--images', '2', '--json'])\n"
        f"imageinfo.read_header({str(probe)!r})\n"
        "autoglm.parse('<think>x</think><answer>do(action=\"Back\")</answer>')\n"
        "bad = ('torch', 'transformers', 'safetensors', 'PIL', 'textual')\n"
        "print(json.dumps({'rc': rc, 'vision': json.loads(out.getvalue())['estimate']['vision'],"
        " 'loaded': [m for m in bad if m in sys.modules]}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["loaded"] == []
    assert found["rc"] == 0 and found["vision"]["images"] == 2
    assert found["vision"]["limits"]["source"] == "defaults"  # tinymodels writes no processor


def test_the_allocator_slack_is_a_block_mlp_tensor_times_the_factor() -> None:
    """The CUDA caching allocator's slack (fitted on the H200, docs/check.md): slack blocks x
    one block MLP tensor (patches x mlp_width x e); none on the CPU; in `bytes` and in what the
    images add to a prefill's peak."""
    geo = vision.vision_geometry(GLM4V_CONFIG)
    limits = vision.processor_limits(GLM4V_CONFIG, max_pixels=5_000_000)
    sizes = [(2400, 1080)] * 4
    shipped = vision.estimate(geo, limits, sizes)
    none = vision.estimate(geo, limits, sizes, slack_blocks=0.0)
    cpu = vision.estimate(geo, limits, sizes, on_cpu=True)
    assert shipped.largest_tensor_bytes == shipped.patches * geo.mlp_width * 2 == 49_728 * 4096 * 2
    assert shipped.slack_bytes == int(vision.VISION_SLACK_BLOCKS * shipped.largest_tensor_bytes)
    assert shipped.bytes - none.bytes == shipped.slack_bytes > 0
    assert cpu.slack_bytes == 0 and cpu.bytes == none.bytes
    double = vision.estimate(geo, limits, sizes, slack_blocks=2 * vision.VISION_SLACK_BLOCKS)
    assert double.slack_bytes == int(2 * vision.VISION_SLACK_BLOCKS * shipped.largest_tensor_bytes)
    text = 10**9
    assert (vision.added_peak_bytes(shipped, text) - vision.added_peak_bytes(none, text)
            == shipped.slack_bytes)
    assert shipped.to_json_dict()["slack_bytes"] == shipped.slack_bytes
    with pytest.raises(vision.VisionError, match=r"slack_blocks -1\.0 is negative"):
        vision.estimate(geo, limits, sizes, slack_blocks=-1.0)
