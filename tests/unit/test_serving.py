"""console.core.serving: command lines, the fit advisor, the start-up timeline, /metrics."""

from __future__ import annotations

import json

import pytest

from console.core import estimate as est
from console.core import serving
from console.core.serving import FitInput, ServeSpec, Timeline

GIB = 1024**3

# AutoGLM-Phone-9B's geometry (FACTS.md): 40 layers, 2 KV heads, head_dim 128, vocab 151552.
AUTOGLM_CONFIG = {
    "model_type": "glm4v",
    "text_config": {
        "hidden_size": 4096,
        "num_hidden_layers": 40,
        "num_attention_heads": 32,
        "num_key_value_heads": 2,
        "head_dim": 128,
        "intermediate_size": 13696,
        "vocab_size": 151552,
        "max_position_embeddings": 65536,
        "dtype": "bfloat16",
    },
    # GLM-4.1V-9B's vision tower (its config.json).
    "vision_config": {"hidden_size": 1536, "patch_size": 14, "depth": 24, "num_heads": 12,
                      "spatial_merge_size": 2, "temporal_patch_size": 2, "in_channels": 3,
                      "out_hidden_size": 4096, "intermediate_size": 13696,
                      "model_type": "glm4v"},
    "transformers_version": "5.0.0",
}
# ~20.6 GB of bf16 weights as one spec (the estimate only sums them).
AUTOGLM_TENSORS = [est.TensorSpec("model.weights", "BF16", (10_300_000_000,))]


def test_vllm_autoglm_preset_has_the_official_flags() -> None:
    cmd = serving.build_command(ServeSpec("vllm", "/m", port=8001, preset="autoglm"))
    assert cmd[:5] == ["python", "-m", "vllm.entrypoints.openai.api_server", "--model", "/m"]
    assert cmd[cmd.index("--max-model-len") + 1] == "25480"
    assert json.loads(cmd[cmd.index("--limit-mm-per-prompt") + 1]) == {"image": 10}
    assert json.loads(cmd[cmd.index("--mm-processor-kwargs") + 1]) == {"max_pixels": 5000000}
    for flag, value in (
        ("--mm-encoder-tp-mode", "data"),
        ("--mm_processor_cache_type", "shm"),
        ("--chat-template-content-format", "string"),
        ("--allowed-local-media-path", "/"),
        ("--port", "8001"),
    ):
        assert cmd[cmd.index(flag) + 1] == value


def test_extra_args_win_over_the_preset() -> None:
    spec = ServeSpec(
        "vllm",
        "/m",
        preset="autoglm",
        extra_args=("--max-model-len", "8192"),
        engine_cmd=("/venv/bin/python", "-m", "vllm.entrypoints.openai.api_server"),
    )
    cmd = serving.build_command(spec)
    assert cmd[0] == "/venv/bin/python"
    assert cmd.count("--max-model-len") == 1 and cmd[-2:] == ["--max-model-len", "8192"]


def test_sglang_is_started_with_metrics_and_its_preset() -> None:
    cmd = serving.build_command(ServeSpec("sglang", "/m", port=30000, preset="autoglm"))
    assert cmd[:5] == ["python", "-m", "sglang.launch_server", "--model-path", "/m"]
    assert "--enable-metrics" in cmd and "--mm-enable-dp-encoder" in cmd
    assert cmd[cmd.index("--context-length") + 1] == "25480"


def test_transformers_serve_takes_the_model_as_its_argument() -> None:
    cmd = serving.build_command(ServeSpec("transformers", "/m", port=9))
    assert cmd[:3] == ["transformers", "serve", "/m"] and cmd[cmd.index("--port") + 1] == "9"


def test_bad_engine_and_engine_cmd_are_one_line_errors() -> None:
    with pytest.raises(serving.ServeError, match="--engine: 'tgi'"):
        serving.build_command(ServeSpec("tgi", "/m"))
    with pytest.raises(serving.ServeError, match="--engine-cmd: cannot split"):
        serving.parse_engine_cmd("python -m 'vllm")
    with pytest.raises(serving.ServeError, match="empty command"):
        serving.parse_engine_cmd("  ")


def _req(total_gib: float, **kw: object) -> FitInput:
    base: dict[str, object] = {
        "max_model_len": 25480,
        "max_images": 10,
        "max_pixels": 5_000_000,
        "gpu_memory_utilization": 0.9,
        "total_bytes": int(total_gib * GIB),
        "used_by_others_bytes": int(0.5 * GIB),
    }
    base.update(kw)
    return FitInput(**base)  # type: ignore[arg-type]


def test_autoglm_fits_an_80gb_gpu() -> None:
    advice = serving.advise(AUTOGLM_CONFIG, AUTOGLM_TENSORS, _req(80))
    assert advice.verdict == "fits"
    need = advice.need
    assert need.kv_bytes_per_token == 40 * 1024  # 40 KiB per token in bf16 (FACTS.md)
    assert need.kv_bytes == 40 * 1024 * 25480
    assert 20.5e9 < need.weights_bytes < 20.7e9


def test_autoglm_on_28gb_gets_the_largest_pixels_that_fit() -> None:
    # 10 images at 5 MP: the vision pass (~5.7 GiB, console.core.vision) breaks it, not the KV.
    advice = serving.advise(AUTOGLM_CONFIG, AUTOGLM_TENSORS, _req(28))
    assert advice.verdict == "will_not_fit"
    assert advice.need.vision_bytes > advice.need.kv_bytes  # the images, not the KV, break it
    assert "max_pixels" in advice.proposals and advice.proposals["max_pixels"] < 5_000_000
    # the proposal really fits, and one pixel more does not
    px = advice.proposals["max_pixels"]
    assert (
        serving.advise(AUTOGLM_CONFIG, AUTOGLM_TENSORS, _req(28, max_pixels=px)).verdict == "fits"
    )
    assert (
        serving.advise(AUTOGLM_CONFIG, AUTOGLM_TENSORS, _req(28, max_pixels=px + 1)).verdict
        != "fits"
    )
    data = advice.to_json_dict()
    assert data["need_bytes"] > data["budget_bytes"]


def test_autoglm_on_24gb_needs_every_limit_lowered() -> None:
    advice = serving.advise(AUTOGLM_CONFIG, AUTOGLM_TENSORS, _req(24))
    assert advice.verdict == "will_not_fit"
    p = advice.proposals
    assert p["max_images"] == 1 and p["max_model_len"] < 25480
    ok = _req(24, max_images=1, max_pixels=p["max_pixels"], max_model_len=p["max_model_len"])
    assert serving.advise(AUTOGLM_CONFIG, AUTOGLM_TENSORS, ok).verdict == "fits"
    more = _req(24, max_images=1, max_pixels=p["max_pixels"], max_model_len=p["max_model_len"] + 1)
    assert serving.advise(AUTOGLM_CONFIG, AUTOGLM_TENSORS, more).verdict != "fits"
    assert advice.lines[-1].startswith("fits only with all of")


def test_weights_that_cannot_fit_are_refused() -> None:
    advice = serving.advise(AUTOGLM_CONFIG, AUTOGLM_TENSORS, _req(16))
    assert advice.verdict == "cannot_fit"
    assert "cannot fit" in advice.lines[-1]


# -- timeline ----------------------------------------------------------------------------------

# vLLM 0.32 CPU build, lines as measured here (trimmed to the parts the patterns read).
VLLM_LOG = """\
(Worker pid=1) INFO 12-04 23:18:24 [cpu_model_runner.py:68] Starting to load model /m...
(Worker pid=1) INFO 12-04 23:18:25 [default_loader.py:501] Loading weights took 0.03 seconds
(Worker pid=1) INFO 12-04 23:18:26 [cpu_model_runner.py:87] Warming up model for the compilation...
(EngineCore pid=2) INFO 12-04 23:18:58 [kv_cache_utils.py:2327] CPU KV cache size: 524,288 tokens, Maximum concurrency for 512 tokens per request: 1024.00x
(EngineCore pid=2) INFO 12-04 23:18:59 [core.py:402] init engine (profile, create kv cache, warmup model) took 33.92 s
INFO:     Application startup complete.
"""
# SGLang's documented start-up lines (never run here: no CPU build).
SGLANG_LOG = """\
[2025-01-01 10:00:00 TP0] Load weight begin. avail mem=78.50 GB
[2025-01-01 10:00:20 TP0] Load weight end. type=Glm4vForConditionalGeneration, dtype=torch.bfloat16, avail mem=58.20 GB, mem usage=20.30 GB.
[2025-01-01 10:00:21 TP0] KV Cache is allocated. #tokens: 500000, K size: 9.5 GB, V size: 9.5 GB
[2025-01-01 10:00:22 TP0] Capture cuda graph begin. This can take up to several minutes. avail mem=38.1 GB
[2025-01-01 10:00:40 TP0] Capture cuda graph end. Time elapsed: 18.20 s. mem usage=0.80 GB. avail mem=37.3 GB.
[2025-01-01 10:00:42] INFO:     Uvicorn running on http://127.0.0.1:30000 (Press CTRL+C to quit)
[2025-01-01 10:00:45] The server is fired up and ready to roll!
"""


def _phases(engine: str, log: str) -> list[str]:
    tl = Timeline(engine)
    for i, line in enumerate(log.splitlines()):
        tl.feed(line, float(i))
    return [m.phase for m in tl.marks]


def test_vllm_timeline() -> None:
    assert _phases("vllm", VLLM_LOG) == [
        "started",
        "weights_loading",
        "weights_loaded",
        "profiling",
        "kv_cache_sized",
        "server_up",
    ]


def test_sglang_timeline() -> None:
    assert _phases("sglang", SGLANG_LOG) == [
        "started",
        "weights_loading",
        "weights_loaded",
        "kv_cache_sized",
        "cuda_graphs",
        "server_up",
    ]


def test_a_phase_held_past_the_threshold_is_named() -> None:
    tl = Timeline("vllm")
    tl.feed("Loading weights took 3.1 seconds", 5.0)
    assert tl.stalled(50.0, 60.0) is None
    why = tl.stalled(70.0, 60.0)
    assert why is not None and "weights_loaded" in why and "65 s" in why
    tl.feed("INFO:     Application startup complete.", 71.0)
    assert tl.stalled(500.0, 60.0) is None


def test_log_lines_are_cleaned_of_escapes() -> None:
    assert serving.clean_line("\x1b[31mred\x1b[0m \x07bell") == "red bell"


# -- metrics -----------------------------------------------------------------------------------

VLLM_METRICS = """\
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 2.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="m"} 1.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.25
# HELP vllm:num_preemptions_total Cumulative number of preemption from the engine.
# TYPE vllm:num_preemptions_total counter
vllm:num_preemptions_total{engine="0",model_name="m"} 3.0
# HELP vllm:generation_tokens_total Number of generation tokens processed.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{engine="0",model_name="m"} 120.0
# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.1",model_name="m"} 1.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="m"} 4.0
vllm:time_to_first_token_seconds_count{engine="0",model_name="m"} 4.0
vllm:time_to_first_token_seconds_sum{engine="0",model_name="m"} 0.8
"""
# SGLang's documented metric names (with --enable-metrics).
SGLANG_METRICS = """\
# HELP sglang:num_running_reqs The number of running requests.
# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{model_name="m"} 4.0
# HELP sglang:num_queue_reqs The number of requests in the waiting queue.
# TYPE sglang:num_queue_reqs gauge
sglang:num_queue_reqs{model_name="m"} 0.0
# HELP sglang:token_usage The token usage.
# TYPE sglang:token_usage gauge
sglang:token_usage{model_name="m"} 0.5
# HELP sglang:gen_throughput The generation throughput (token/s).
# TYPE sglang:gen_throughput gauge
sglang:gen_throughput{model_name="m"} 55.5
# HELP sglang:generation_tokens_total Number of generation tokens processed.
# TYPE sglang:generation_tokens_total counter
sglang:generation_tokens_total{model_name="m"} 900.0
"""


def test_vllm_metrics() -> None:
    m = serving.parse_metrics(VLLM_METRICS, "vllm")
    assert (m.running, m.waiting, m.kv_cache_usage, m.preemptions_total) == (2.0, 1.0, 0.25, 3.0)
    assert m.ttft_mean_s == pytest.approx(0.2)
    later = serving.parse_metrics(VLLM_METRICS.replace("} 120.0", "} 220.0"), "vllm")
    assert serving.tokens_per_second(m, later, 2.0) == pytest.approx(50.0)


def test_sglang_metrics() -> None:
    m = serving.parse_metrics(SGLANG_METRICS, "sglang")
    assert (m.running, m.waiting, m.kv_cache_usage) == (4.0, 0.0, 0.5)
    assert m.throughput_tok_s == 55.5 and m.generation_tokens_total == 900.0


def test_metrics_that_are_not_prometheus_text_raise() -> None:
    with pytest.raises(serving.MetricsError):
        serving.parse_metrics("<html>not metrics</html>\n{", "vllm")


# -- versions ----------------------------------------------------------------------------------


def test_vllm_with_transformers_4_is_refused_for_autoglm() -> None:
    problems = serving.check_versions(
        "vllm",
        AUTOGLM_CONFIG,
        {"vllm": "0.12.0", "transformers": "4.57.1", "torch": "2.9.0", "torch.cuda": "12.8"},
        gpu=True,
    )
    assert [p.package for p in problems] == ["transformers", "transformers"]
    assert "needs >= 5.0" in problems[0].line()


def test_old_vllm_and_cpu_torch_on_a_gpu_are_named() -> None:
    problems = serving.check_versions(
        "vllm",
        AUTOGLM_CONFIG,
        {"vllm": "0.10.1", "transformers": "5.2.0", "torch": "2.8.0+cpu", "torch.cuda": None},
        gpu=True,
    )
    lines = " | ".join(p.line() for p in problems)
    assert "vllm 0.10.1: needs >= 0.12" in lines and "a CUDA build" in lines


def test_missing_engine_package_is_named() -> None:
    problems = serving.check_versions("sglang", AUTOGLM_CONFIG, {"sglang": None}, gpu=False)
    assert problems[0].line().startswith("sglang not installed")


def test_config_serve_keys() -> None:
    from console.host.config import ConfigError, parse_config

    cfg = parse_config(
        {"serve": {"vllm_cmd": "/opt/v/bin/python -m vllm.entrypoints.openai.api_server"}}, "c.toml"
    )
    assert serving.parse_engine_cmd(cfg.serve_cmds["vllm"])[0] == "/opt/v/bin/python"
    with pytest.raises(ConfigError, match=r"c.toml: serve.vllm_cmd: expected a command string"):
        parse_config({"serve": {"vllm_cmd": 3}}, "c.toml")
    with pytest.raises(ConfigError, match=r"serve.vlm_cmd: unknown key"):
        parse_config({"serve": {"vlm_cmd": "x"}}, "c.toml")


def test_growth_watch_warns_only_on_memory_that_keeps_growing() -> None:
    from console.host.procs import GrowthWatch

    mib = 1024**2
    steady = GrowthWatch(window_s=100, min_growth_bytes=200 * mib)
    assert all(steady.add(float(t), 1000 * mib + (t % 3) * mib) is None for t in range(0, 200, 5))
    sawtooth = GrowthWatch(window_s=100, min_growth_bytes=200 * mib)
    # grows by 300 MiB but falls back half way: a cache that filled and was freed, not a leak
    values = [1000 + 6 * t for t in range(0, 50, 5)] + [900 + 6 * t for t in range(50, 100, 5)]
    assert all(
        sawtooth.add(float(t), v * mib) is None
        for t, v in zip(range(0, 100, 5), values, strict=True)
    )
    leak = GrowthWatch(window_s=100, min_growth_bytes=200 * mib)
    warnings = [leak.add(float(t), (1000 + 4 * t) * mib) for t in range(0, 120, 5)]
    assert warnings[-1] is not None and "memory keeps growing: +" in warnings[-1]
    assert warnings[0] is None
