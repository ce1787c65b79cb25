"""The memory estimate: exact weight bytes and KV cache against real tiny models (torch is
used here to measure, never by console.core.estimate), geometry naming, the attention paths, the
allocator rounding, the fit verdict and its suggestions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from console.core import estimate as est
from console.core.estimate import DeviceMemory, TensorSpec
from console.core.preflight import check_model_dir
from tests.unit.preflight_fixtures import built

MIB = 1024**2
GIB = 1024**3
TORCH_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


def _load(model_dir: Path, dtype: str) -> Any:
    import torch
    from transformers import AutoConfig

    from console.worker.tinymodels import model_class_for

    config = AutoConfig.from_pretrained(model_dir)
    torch_dtype = "auto" if dtype == "auto" else getattr(torch, TORCH_DTYPES[dtype])
    return model_class_for(config).from_pretrained(model_dir, dtype=torch_dtype)


def _live_bytes(model: Any) -> int:
    """Bytes of the model's persistent tensors, each storage once (tied weights share one)."""
    seen: dict[int, int] = {}
    for t in model.state_dict().values():
        seen[t.data_ptr()] = t.numel() * t.element_size()
    return sum(seen.values())


@pytest.mark.parametrize("name", ["llama", "llama_sharded", "gpt2_tied", "glm4v", "qwen2"])
@pytest.mark.parametrize("dtype", ["auto", "bf16", "fp16", "fp32"])
def test_weight_bytes_equal_the_loaded_models(name: str, dtype: str) -> None:
    report = check_model_dir(built(name))
    predicted = est.weights_breakdown(report.config or {}, report.tensors, dtype)
    model = _load(built(name), dtype)
    assert predicted.bytes == _live_bytes(model)
    assert predicted.parameters == sum(
        {t.data_ptr(): t.numel() for t in model.state_dict().values()}.values())


def test_tied_embeddings_are_counted_once() -> None:
    report = check_model_dir(built("gpt2_tied"))
    config = dict(report.config or {})
    assert config["tie_word_embeddings"] is True
    # a checkpoint that stores lm_head beside the tied embedding (some do)
    wte = next(t for t in report.tensors if t.name.endswith("wte.weight"))
    with_head = [*report.tensors, TensorSpec("lm_head.weight", wte.dtype, wte.shape)]
    tied = est.weights_breakdown(config, with_head, "fp32")
    assert tied.bytes == est.weights_breakdown(config, report.tensors, "fp32").bytes
    assert tied.tied_skipped_bytes == wte.nbytes
    untied = est.weights_breakdown({**config, "tie_word_embeddings": False}, with_head, "fp32")
    assert untied.bytes == tied.bytes + wte.nbytes


def test_keep_in_fp32_modules_stay_fp32_like_transformers(tmp_path: Path) -> None:
    """T5 keeps its `wo` projections in fp32 when loaded in fp16 (and not in bf16)."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    cfg = T5Config(vocab_size=128, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                   decoder_start_token_id=0)
    T5ForConditionalGeneration(cfg).save_pretrained(tmp_path)
    assert T5ForConditionalGeneration._keep_in_fp32_modules == ["wo"]
    assert est.KEEP_IN_FP32["t5"] == (("wo",), ())
    report = check_model_dir(tmp_path)
    for dtype, kept in (("fp16", True), ("bf16", False)):
        model = T5ForConditionalGeneration.from_pretrained(
            tmp_path, dtype=getattr(torch, TORCH_DTYPES[dtype]))
        fp32_params = sum(1 for p in model.parameters() if p.dtype == torch.float32)
        predicted = est.weights_breakdown(report.config or {}, report.tensors, dtype)
        assert predicted.bytes == _live_bytes(model)
        assert (predicted.kept_fp32_tensors > 0) is kept
        assert predicted.kept_fp32_tensors == fp32_params


@pytest.mark.parametrize("cls_path,model_type", [
    ("transformers.GptOssForCausalLM", "gpt_oss"),
    ("transformers.Glm4MoeForCausalLM", "glm4_moe"),
    ("transformers.DeepseekV3ForCausalLM", "deepseek_v3"),
    ("transformers.UMT5ForConditionalGeneration", "umt5"),
])
def test_keep_in_fp32_table_matches_this_transformers(cls_path: str, model_type: str) -> None:
    import importlib

    module, _, name = cls_path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    loose = tuple(cls._keep_in_fp32_modules or ())
    strict = tuple(cls._keep_in_fp32_modules_strict or ())
    assert est.KEEP_IN_FP32[model_type] == (loose, strict)


@pytest.mark.parametrize("name", ["llama", "qwen2", "mistral", "glm4v", "gpt2_tied"])
def test_kv_formula_equals_a_real_dynamic_cache(name: str) -> None:
    import torch

    report = check_model_dir(built(name))
    geo = est.geometry(report.config or {})
    model = _load(built(name), "fp32")
    prompt = torch.randint(10, 200, (2, 40))
    out = model.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt),
                         max_new_tokens=5, min_new_tokens=5, do_sample=False,
                         return_dict_in_generate=True, pad_token_id=0)
    cache = out.past_key_values
    actual = sum(layer.keys.nbytes + layer.values.nbytes for layer in cache.layers)
    tokens = out.sequences.shape[1] - 1  # the last token is not fed back
    assert actual == est.kv_bytes_per_token(geo, "F32") * tokens * 2
    full = est.estimate(report.config or {}, report.tensors, dtype="fp32", context=tokens,
                        batch=2, device="cpu")
    assert full.kv_cache_bytes == actual


def test_glm4v_geometry_comes_from_text_config() -> None:
    """AutoGLM-Phone-9B's text part (FACTS.md): 40 KiB of KV per token in bf16."""
    config = {
        "model_type": "glm4v",
        "text_config": {"hidden_size": 4096, "num_hidden_layers": 40, "num_attention_heads": 32,
                        "num_key_value_heads": 2, "head_dim": 128, "vocab_size": 151552,
                        "intermediate_size": 13696, "max_position_embeddings": 65536},
        "vision_config": {"hidden_size": 1536, "depth": 24, "num_heads": 12},
        "tie_word_embeddings": False,
    }
    geo = est.geometry(config)
    assert (geo.layers, geo.heads, geo.kv_heads, geo.head_dim, geo.vocab) == (40, 32, 2, 128,
                                                                              151552)
    assert est.kv_bytes_per_token(geo, "BF16") == 40 * 1024
    assert geo.mlp_kind == "fused_gate_up"
    e = est.estimate(config, [], dtype="bf16", context=25480)
    assert round(e.kv_cache_bytes / GIB, 2) == 0.97  # FACTS.md: 0.97 GiB at 25,480 tokens


@pytest.mark.parametrize("config,expected", [
    # GPT-2 naming, no head_dim: hidden / heads; n_inner None -> 4 x hidden
    ({"model_type": "gpt2", "n_layer": 12, "n_head": 12, "n_embd": 768, "vocab_size": 50257,
      "n_positions": 1024, "n_inner": None},
     {"layers": 12, "heads": 12, "kv_heads": 12, "head_dim": 64, "intermediate": 3072,
      "max_positions": 1024, "mlp_kind": "gelu"}),
    # GQA, head_dim None in the file
    ({"model_type": "llama", "num_hidden_layers": 32, "num_attention_heads": 32,
      "num_key_value_heads": 8, "hidden_size": 4096, "head_dim": None, "vocab_size": 128256,
      "intermediate_size": 14336},
     {"kv_heads": 8, "head_dim": 128, "mlp_kind": "gated", "sliding_window": None}),
    # qwen2: the window is written but switched off
    ({"model_type": "qwen2", "num_hidden_layers": 28, "num_attention_heads": 28,
      "num_key_value_heads": 4, "hidden_size": 3584, "vocab_size": 152064,
      "sliding_window": 131072, "use_sliding_window": False},
     {"sliding_window": None, "sliding_layers": 0}),
    # mistral v0.1: every layer slides
    ({"model_type": "mistral", "num_hidden_layers": 32, "num_attention_heads": 32,
      "num_key_value_heads": 8, "hidden_size": 4096, "vocab_size": 32000, "sliding_window": 4096},
     {"sliding_window": 4096, "sliding_layers": 32}),
    # gemma2-style alternation
    ({"model_type": "gemma2", "num_hidden_layers": 4, "num_attention_heads": 8,
      "num_key_value_heads": 4, "hidden_size": 256, "head_dim": 32, "vocab_size": 1000,
      "sliding_window": 512, "layer_types": ["sliding_attention", "full_attention"] * 2},
     {"sliding_window": 512, "sliding_layers": 2, "head_dim": 32}),
    # multi-query (falcon-style)
    ({"model_type": "falcon", "num_hidden_layers": 2, "num_attention_heads": 8,
      "hidden_size": 512, "vocab_size": 1000, "multi_query": True},
     {"kv_heads": 1, "head_dim": 64}),
    # mixture of experts: the per-expert width and the experts per token
    ({"model_type": "mixtral", "num_hidden_layers": 2, "num_attention_heads": 8,
      "num_key_value_heads": 2, "hidden_size": 512, "vocab_size": 1000,
      "intermediate_size": 1024, "num_local_experts": 8, "num_experts_per_tok": 2},
     {"experts_per_token": 2, "intermediate": 1024}),
])
def test_geometry_reads_every_family_naming(config: dict, expected: dict) -> None:
    geo = est.geometry(config)
    for key, value in expected.items():
        assert getattr(geo, key) == value, key


def test_geometry_names_the_missing_key() -> None:
    with pytest.raises(est.EstimateError, match="num_hidden_layers"):
        est.geometry({"model_type": "x", "hidden_size": 8, "num_attention_heads": 2,
                      "vocab_size": 10})


@pytest.mark.parametrize("dtype,impl,context,on_cpu,kernel", [
    ("BF16", "sdpa", 2048, False, "flash"),
    ("F16", "sdpa", 2048, False, "flash"),
    ("F32", "sdpa", 2048, False, "math"),  # GQA in fp32: math only (measured on the H100)
    ("F32", "sdpa", 2048, True, "flash"),  # the CPU's flash kernel takes fp32 and GQA
    ("BF16", "sdpa", 8192, False, "sdpa_masked"),  # past the 4096 window: a real mask
    ("BF16", "eager", 2048, False, "eager"),
    ("F32", "flash_attention_2", 2048, False, "flash"),
])
def test_attention_path(dtype: str, impl: str, context: int, on_cpu: bool, kernel: str) -> None:
    geo = est.geometry({"model_type": "mistral", "num_hidden_layers": 32,
                        "num_attention_heads": 32, "num_key_value_heads": 8,
                        "hidden_size": 4096, "vocab_size": 32000, "sliding_window": 4096})
    assert est.attention_kernel(geo, dtype, context, impl, on_cpu) == kernel


def test_fp32_without_gqa_uses_the_memory_efficient_kernel() -> None:
    geo = est.geometry({"model_type": "gpt2", "n_layer": 12, "n_head": 12, "n_embd": 768,
                        "vocab_size": 50257})
    assert est.attention_kernel(geo, "F32", 2048, "sdpa") == "efficient"


def test_eager_attention_grows_with_the_square_of_the_context() -> None:
    geo = est.geometry({"model_type": "llama", "num_hidden_layers": 32,
                        "num_attention_heads": 32, "num_key_value_heads": 8,
                        "hidden_size": 4096, "vocab_size": 128256, "intermediate_size": 14336})
    sdpa = est.activation_breakdown(geo, "BF16", 16384, 1)
    eager = est.activation_breakdown(geo, "BF16", 16384, 1, attn_implementation="eager")
    square = 16384 * 16384
    assert eager.attention_bytes - sdpa.attention_bytes == (
        32 * square * (2 + 4) + square * 2 + 2 * 16384 * 32 * 128 * 2)
    assert eager.total_bytes > 48 * GIB > sdpa.total_bytes
    # only the last position's logits: the vocab enters once, not per token
    assert sdpa.logits_bytes == 128256 * (2 + 8)


@pytest.mark.parametrize("sizes,reserved", [
    ([], 0),
    ([8 * 1024], 2 * MIB),  # small pool: 2 MiB segments
    ([600 * 1024, 600 * 1024, 600 * 1024, 600 * 1024], 4 * MIB),
    ([8 * MIB], 20 * MIB),  # 1-10 MiB: 20 MiB segments, first fit
    ([8 * MIB, 8 * MIB], 20 * MIB),
    ([8 * MIB, 8 * MIB, 8 * MIB], 40 * MIB),
    ([32 * MIB], 32 * MIB),  # >= 10 MiB: rounded to 2 MiB
    ([33 * MIB], 34 * MIB),
    ([33 * MIB + 1, 5 * MIB], 54 * MIB),
])
def test_allocator_rounding(sizes: list[int], reserved: int) -> None:
    assert est.allocator_reserved_bytes(sizes) == reserved


def test_dtype_names() -> None:
    assert est.dtype_code("bf16") == est.dtype_code("bfloat16") == "BF16"
    assert est.dtype_code("fp32") == "F32" and est.dtype_code("AUTO") == "auto"
    with pytest.raises(est.EstimateError):
        est.dtype_code("int3")


def test_sub_byte_dtypes() -> None:
    assert est.tensor_nbytes("F4", (3, 4)) == 6
    assert est.tensor_nbytes("F6_E2M3", (4,)) == 3


# ---------------------------------------------------------------------------------------------
# Fit and suggestions

LLAMA_8B: dict[str, Any] = {
    "model_type": "llama", "num_hidden_layers": 32, "num_attention_heads": 32,
    "num_key_value_heads": 8, "hidden_size": 4096, "intermediate_size": 14336,
    "vocab_size": 128256, "max_position_embeddings": 131072, "tie_word_embeddings": False,
    "dtype": "bfloat16",
}


def llama_8b_tensors() -> list[TensorSpec]:
    h, inter, kv = 4096, 14336, 1024
    specs = [TensorSpec("model.embed_tokens.weight", "BF16", (128256, h)),
             TensorSpec("lm_head.weight", "BF16", (128256, h)),
             TensorSpec("model.norm.weight", "BF16", (h,))]
    for i in range(32):
        p = f"model.layers.{i}."
        specs += [TensorSpec(p + "self_attn.q_proj.weight", "BF16", (h, h)),
                  TensorSpec(p + "self_attn.k_proj.weight", "BF16", (kv, h)),
                  TensorSpec(p + "self_attn.v_proj.weight", "BF16", (kv, h)),
                  TensorSpec(p + "self_attn.o_proj.weight", "BF16", (h, h)),
                  TensorSpec(p + "mlp.gate_proj.weight", "BF16", (inter, h)),
                  TensorSpec(p + "mlp.up_proj.weight", "BF16", (inter, h)),
                  TensorSpec(p + "mlp.down_proj.weight", "BF16", (h, inter)),
                  TensorSpec(p + "input_layernorm.weight", "BF16", (h,)),
                  TensorSpec(p + "post_attention_layernorm.weight", "BF16", (h,))]
    return specs


H100 = 85520809984


def test_llama_8b_numbers_match_the_measured_load() -> None:
    """FACTS.md: 8.03 B parameters, 14.99 GiB allocated after the load."""
    e = est.estimate(LLAMA_8B, llama_8b_tensors(), dtype="bf16", context=2048)
    assert round(e.weights.parameters / 1e9, 2) == 8.03
    assert abs(e.weights.bytes / GIB - 14.96) < 0.01
    assert e.kv_bytes_per_token == 128 * 1024


@pytest.mark.parametrize("used_gib,verdict", [(0.6, "fits"), (60.0, "tight"), (70.0,
                                                                               "will_not_fit")])
def test_fit_verdicts(used_gib: float, verdict: str) -> None:
    e = est.estimate(LLAMA_8B, llama_8b_tensors(), dtype="bf16", context=4096)
    memory = [DeviceMemory("cuda:0", H100, int(used_gib * GIB)), DeviceMemory("cpu", 64 * GIB, 0)]
    v = est.fit(e, memory, pause_pct=92.0)
    assert v.verdict == verdict
    assert v.devices[0].need_bytes == e.peak_bytes


def test_fit_without_a_reading_is_unknown() -> None:
    e = est.estimate(LLAMA_8B, llama_8b_tensors(), dtype="bf16", context=4096, device="cuda:1")
    assert est.fit(e, [DeviceMemory("cuda:0", H100, 0)]).verdict == "unknown"


def test_suggestions_compute_a_context_that_fits() -> None:
    e = est.estimate(LLAMA_8B, llama_8b_tensors(), dtype="bf16", context=131072)
    memory = [DeviceMemory("cuda:0", H100, 30 * GIB), DeviceMemory("cpu", 256 * GIB, 0)]
    v = est.fit(e, memory, pause_pct=92.0, config=LLAMA_8B, tensors=llama_8b_tensors())
    assert v.verdict == "will_not_fit"
    ctx = next(s for s in v.suggestions if s.kind == "context").values["context"]
    budget = int(H100 * 0.92) - 30 * GIB
    def peak(c: int) -> int:
        return est.estimate(LLAMA_8B, llama_8b_tensors(), dtype="bf16", context=c).peak_bytes
    assert peak(ctx) <= budget < peak(ctx + 256)
    offload = next(s for s in v.suggestions if s.kind == "offload")
    assert offload.values["cpu_bytes"] + offload.values["gpu_bytes"] >= (
        e.weights.reserved_bytes)


def test_suggestions_offer_bf16_for_fp32() -> None:
    e = est.estimate(LLAMA_8B, llama_8b_tensors(), dtype="fp32", context=2048)
    memory = [DeviceMemory("cuda:0", 40 * GIB, 10 * GIB), DeviceMemory("cpu", 64 * GIB, 0)]
    v = est.fit(e, memory, config=LLAMA_8B, tensors=llama_8b_tensors())
    dtype = next(s for s in v.suggestions if s.kind == "dtype")
    assert dtype.values["dtype"] == "bfloat16"
    assert "(fits)" in dtype.text


def test_spreading_over_two_gpus_halves_the_weights() -> None:
    one = est.estimate(LLAMA_8B, llama_8b_tensors(), dtype="bf16", context=4096)
    two = est.estimate(LLAMA_8B, llama_8b_tensors(), dtype="bf16", context=4096, device="auto",
                       gpu_count=2)
    assert [d.device for d in two.devices] == ["cuda:0", "cuda:1"]
    assert two.devices[0].weights_bytes == -(-one.weights.reserved_bytes // 2)
    memory = [DeviceMemory("cuda:0", 16 * GIB, 2 * GIB), DeviceMemory("cuda:1", 16 * GIB, 2 * GIB),
              DeviceMemory("cpu", 64 * GIB, 0)]
    v = est.fit(one, memory, config=LLAMA_8B, tensors=llama_8b_tensors())
    spread = next(s for s in v.suggestions if s.kind == "spread")
    assert spread.values["per_gpu_bytes"] == two.peak_bytes
    assert est.fit(two, memory).verdict == "fits"


def test_cpu_estimate_has_no_cuda_parts() -> None:
    e = est.estimate(LLAMA_8B, llama_8b_tensors(), dtype="bf16", context=1024, device="cpu")
    assert e.cuda_context_bytes == e.runtime_bytes == 0
    assert e.devices[0].device == "cpu"
    v = est.fit(e, [DeviceMemory("cpu", 8 * GIB, 1 * GIB)], config=LLAMA_8B,
                tensors=llama_8b_tensors())
    assert v.verdict == "will_not_fit"


def test_compare_reports_the_difference() -> None:
    e = est.estimate(LLAMA_8B, llama_8b_tensors(), dtype="bf16", context=2048)
    rows = est.compare(e, after_load_bytes=e.after_load_bytes, peak_bytes=e.peak_bytes + GIB,
                       kv_cache_bytes=e.kv_cache_bytes // 2)
    by = {r.what: r for r in rows}
    assert by["after load"].difference_bytes == 0 and by["after load"].difference_pct == 0
    assert by["peak during generate"].difference_bytes == GIB  # estimate was short
    assert by["peak during generate"].difference_pct < 0
    assert by["KV cache"].difference_pct == pytest.approx(100.0)
    json.dumps([r.to_json_dict() for r in rows])


def test_estimate_and_fit_are_json_serialisable() -> None:
    e = est.estimate(LLAMA_8B, llama_8b_tensors(), dtype="bf16", context=2048)
    v = est.fit(e, [DeviceMemory("cuda:0", H100, GIB)])
    doc = json.loads(json.dumps({"estimate": e.to_json_dict(), "fit": v.to_json_dict()}))
    assert doc["estimate"]["peak_bytes"] == e.peak_bytes
    assert doc["estimate"]["devices"][0]["total_bytes"] == e.peak_bytes
    assert doc["fit"]["verdict"] == "fits"
