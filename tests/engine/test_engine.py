"""The real engine process on real tiny models: load, generate, unload, GC, errors."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from console.core import protocol
from console.engines.local import EngineClient

from .conftest import ARCHS

Msg = dict[str, Any]


def answer(engine: EngineClient, msg_id: int, *names: str, timeout: float = 120
           ) -> tuple[Msg, list[Msg]]:
    """The event answering command `msg_id` (one of `names`, or an error) and all seen."""
    seen: list[Msg] = []
    result = engine.wait_for((*names, "error"), reply_to=msg_id, timeout=timeout, seen=seen)
    return result, seen


def load_ok(engine: EngineClient, model: Path | str, **kw: Any) -> tuple[Msg, list[Msg]]:
    result, seen = answer(engine, engine.load(str(model), device="cpu", **kw), "loaded")
    assert result["event"] == "loaded", result
    return result, seen


def unload_ok(engine: EngineClient) -> Msg:
    result, _ = answer(engine, engine.unload(), "unloaded")
    assert result["event"] == "unloaded", result
    return result


def reference_generate(path: Path, prompt: str, max_new_tokens: int, **sampling: Any
                       ) -> list[int]:
    """What plain transformers generates for the same prompt (chat template, same seed)."""
    import torch
    from transformers import AutoConfig, AutoTokenizer

    from console.worker.tinymodels import model_class_for

    tok = AutoTokenizer.from_pretrained(path)
    model = model_class_for(AutoConfig.from_pretrained(path)).from_pretrained(path)
    enc = tok.apply_chat_template([{"role": "user", "content": prompt}],
                                  add_generation_prompt=True, return_tensors="pt",
                                  return_dict=True)
    seed = sampling.pop("seed", None)
    if seed is not None:
        torch.manual_seed(seed)
    with torch.inference_mode():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, **sampling)
    return [int(x) for x in out[0, enc["input_ids"].shape[-1]:]]


def test_hello_reports_versions(engine: EngineClient) -> None:
    hello = engine.hello
    assert hello is not None
    assert hello["pid"] == engine.pid
    assert hello["protocol"] == 1
    assert hello["torch"] and hello["transformers"]
    assert hello["offline"] is True  # never downloads unless asked


@pytest.mark.parametrize("arch", ARCHS)
def test_load_generate_unload(engine: EngineClient, models: dict[str, Path], arch: str) -> None:
    loaded, seen = load_ok(engine, models[arch])
    assert loaded["model_type"] == arch
    expected_class = "Glm4vForConditionalGeneration" if arch == "glm4v" else None
    if expected_class:
        assert loaded["model_class"] == expected_class
    assert loaded["load_s"] > 0
    assert loaded["memory"]["rss_bytes"] > 0
    assert loaded["params"] > 0 and loaded["param_bytes"] >= loaded["params"]
    progress = [m for m in seen if m["event"] == "progress"]
    assert progress, "no progress events"
    last = progress[-1]
    assert last["tensors_done"] == last["tensors_total"] > 0
    assert last["bytes_done"] == last["bytes_total"] > 0
    assert last["current_file"] == "model.safetensors"
    states = [m["state"] for m in seen if m["event"] == "state" and m.get("id") == loaded["id"]]
    assert states == ["loading"]  # "loaded" follows the result event

    result, seen = answer(engine, engine.generate("hello world", max_new_tokens=12), "generated")
    assert result["event"] == "generated", result
    tokens = [m for m in seen if m["event"] == "token"]
    assert len(tokens) == result["tokens"] > 0
    streamed = [t for m in tokens for t in m["token_ids"]]
    assert streamed == result["output_ids"]
    assert streamed == reference_generate(models[arch], "hello world", 12, do_sample=False)
    assert result["ttft_s"] is not None and result["ttft_s"] > 0
    assert result["tokens_per_s"] > 0
    # The KV cache measured from the cache object equals the formula for the positions held.
    assert result["kv_cache_bytes"] > 0
    assert tokens[-1]["kv_cache_bytes"] > tokens[0]["kv_cache_bytes"]

    unloaded = unload_ok(engine)
    assert unloaded["had_model"] is True
    assert "freed" in unloaded["message"]
    assert "host_rss_above_pre_load_bytes" in unloaded["held_by"]


def test_sampling_with_seed_matches_plain_generate(engine: EngineClient,
                                                   models: dict[str, Path]) -> None:
    load_ok(engine, models["llama"])
    msg_id = engine.generate("the quick brown fox", max_new_tokens=16, temperature=0.9,
                             top_p=0.95, seed=1234)
    result, _ = answer(engine, msg_id, "generated")
    assert result["event"] == "generated", result
    expected = reference_generate(models["llama"], "the quick brown fox", 16, do_sample=True,
                                  temperature=0.9, top_p=0.95, seed=1234)
    assert result["output_ids"] == expected
    unload_ok(engine)


def test_kv_cache_size_matches_formula(engine: EngineClient, models: dict[str, Path]) -> None:
    loaded, _ = load_ok(engine, models["glm4"])
    per_token = loaded["kv_bytes_per_token"]
    # tiny glm4: 2 layers x 2 kv heads x head_dim 128 x fp32 x (K and V)
    assert per_token == 2 * 2 * 2 * 128 * 4
    result, _ = answer(engine, engine.generate("hi", max_new_tokens=5, min_new_tokens=5),
                       "generated")
    # generate() feeds every token but the last through the model
    positions = result["prompt_tokens"] + result["tokens"] - 1
    assert result["kv_cache_bytes"] == per_token * positions
    unload_ok(engine)


def test_stop_generation(engine: EngineClient, models: dict[str, Path]) -> None:
    load_ok(engine, models["llama"])
    msg_id = engine.generate("go on", max_new_tokens=100000, min_new_tokens=100000)
    seen: list[Msg] = []
    first = engine.wait_for("token", reply_to=msg_id, timeout=60, seen=seen)
    assert first["event"] == "token"
    # The engine answers a memory report while it generates.
    report, _ = answer(engine, engine.memory_report(), "memory_report", timeout=30)
    assert report["event"] == "memory_report" and report["state"] == "generating"
    engine.stop_generation()
    result, _ = answer(engine, msg_id, "generated")
    assert result["event"] == "generated", result
    assert result["stopped"] == "stop"
    assert 0 < result["tokens"] < 100000
    unload_ok(engine)


def test_gc_empty_cache_memory_report(engine: EngineClient, models: dict[str, Path]) -> None:
    load_ok(engine, models["qwen2"])
    for send, name in ((engine.gc, "gc"), (engine.empty_cache, "empty_cache")):
        result, _ = answer(engine, send(), name)
        assert result["event"] == name, result
        for side in ("before", "after"):
            assert result[side]["rss_bytes"] > 0
            assert isinstance(result[side]["devices"], list)
    result, _ = answer(engine, engine.gc(), "gc")
    assert result["collected"] >= 0
    report, _ = answer(engine, engine.memory_report(), "memory_report")
    assert report["state"] == "loaded"
    assert report["rss_bytes"] > 0
    unload_ok(engine)


def test_busy_and_not_loaded(engine: EngineClient) -> None:
    result, _ = answer(engine, engine.generate("x"), "generated")
    assert result["event"] == "error"
    assert result["error_type"] == "NotLoaded"


def test_remote_code_refused_then_loads_with_opt_in(engine: EngineClient,
                                                    models: dict[str, Path]) -> None:
    result, seen = answer(engine, engine.load(str(models["remote"]), device="cpu"), "loaded")
    assert result["event"] == "error"
    assert result["error_type"] == "RemoteCodeRefused"
    assert "auto_map" in result["message"] and "trust_remote_code" in result["message"]
    assert "--trust-remote-code" in result["hint"]
    assert engine.wait_for("state", reply_to=result["id"], timeout=30)["state"] == "error"

    loaded, seen = load_ok(engine, models["remote"], trust_remote_code=True)
    assert loaded["model_class"] == "TinyRemoteForCausalLM"
    assert loaded["trust_remote_code"] is True
    warnings = [m for m in seen if m["event"] == "log" and m["level"] == "warning"]
    assert any("own code" in m["message"] for m in warnings)
    unload_ok(engine)


def test_unknown_architecture(engine: EngineClient, models: dict[str, Path]) -> None:
    import transformers

    result, _ = answer(engine, engine.load(str(models["unknown"]), device="cpu"), "loaded")
    assert result["event"] == "error"
    assert result["error_type"] == "UnknownArchitecture"
    assert "not_a_real_arch_xyz" in result["message"]
    assert transformers.__version__ in result["message"]


def test_path_that_does_not_exist(engine: EngineClient, tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "model"
    result, _ = answer(engine, engine.load(str(missing), device="cpu"), "loaded")
    assert result["event"] == "error"
    assert result["error_type"] == "ModelNotFound"
    assert str(missing) in result["message"]


def test_directory_without_weights(engine: EngineClient, models: dict[str, Path]) -> None:
    result, _ = answer(engine, engine.load(str(models["no_weights"]), device="cpu"), "loaded")
    assert result["event"] == "error"
    assert result["error_type"] == "NoWeights"
    assert str(models["no_weights"]) in result["message"]
    # After a failed load the engine still works.
    load_ok(engine, models["gpt2"])
    unload_ok(engine)


def test_bad_options_are_refused(engine: EngineClient, models: dict[str, Path]) -> None:
    result, _ = answer(engine, engine.load(str(models["llama"]), dtype="fp8", device="cpu"),
                       "loaded")
    assert result["event"] == "error" and "fp8" in result["message"]
    result, _ = answer(engine, engine.load(str(models["llama"]), device="tpu:0"), "loaded")
    assert result["event"] == "error" and "tpu:0" in result["message"]


def test_dtype_option(engine: EngineClient, models: dict[str, Path]) -> None:
    loaded, _ = load_ok(engine, models["llama"], dtype="bf16")
    assert loaded["dtype"] == "bfloat16"
    unload_ok(engine)


def test_load_from_fake_hf_cache(engine: EngineClient, models: dict[str, Path],
                                 tmp_path: Path) -> None:
    """A hub id resolves offline to the snapshot `refs/main` names, in a real cache layout."""
    from .test_hfcache import make_cached_repo

    cache = tmp_path / "hub"
    snapshot = make_cached_repo(cache, "tiny-org/tiny-llama", models["llama"])
    # The engine reads HF_HUB_CACHE from its environment: use a second engine for this.
    client = EngineClient(env={"HF_HUB_CACHE": str(cache)})
    client.start()
    try:
        assert client.wait_for("hello", timeout=120)["event"] == "hello"
        loaded, _ = load_ok(client, "tiny-org/tiny-llama")
        assert loaded["path"] == str(snapshot.resolve())
        missing, _ = answer(client, client.load("tiny-org/not-cached", device="cpu"), "loaded")
        assert missing["event"] == "error" and missing["error_type"] == "ModelNotFound"
        assert "not in the local Hugging Face cache" in missing["message"]
    finally:
        client.close()


def test_session_log_has_events_and_raw_lines(engine: EngineClient,
                                              models: dict[str, Path]) -> None:
    load_ok(engine, models["llama"])
    unload_ok(engine)
    path = engine.log_path
    assert path is not None and path.parent == Path(os.environ["AUTOGLM_CONSOLE_LOG_DIR"])
    text = path.read_text()
    assert " CMD " in text and '"cmd":"load"' in text
    assert " EVENT " in text and '"event": "loaded"' in text
    assert " ENGINE " in text and "Loading weights" in text  # the raw tqdm bar


def test_bin_pickles_load_weights_only_and_need_opt_in(engine: EngineClient,
                                                       models: dict[str, Path]) -> None:
    loaded, seen = load_ok(engine, models["bin_safe"])
    assert any("weights_only=True" in m["message"] for m in seen if m["event"] == "log")
    assert loaded["bytes"] > 0
    unload_ok(engine)

    result, _ = answer(engine, engine.load(str(models["bin_unsafe"]), device="cpu"), "loaded")
    assert result["event"] == "error"
    assert result["error_type"] == "UnpicklingError"
    assert "--allow-pickle" in result["hint"]
    assert "Traceback" in result["traceback"]  # the text, never the objects

    loaded, seen = load_ok(engine, models["bin_unsafe"], allow_pickle=True)
    warnings = [m["message"] for m in seen if m["event"] == "log" and m["level"] == "warning"]
    assert any("full unpickling" in w for w in warnings)
    unload_ok(engine)


def test_fallback_progress_hook(models: dict[str, Path], tmp_path: Path) -> None:
    """Where set_tqdm_hook is missing (transformers 5.0-5.16) the engine patches the loading
    loop's tqdm instead; forced here, it counts the same tensors and bytes."""
    from .conftest import start_client

    client = start_client(tmp_path, AUTOGLM_ENGINE_PROGRESS_METHOD="patch")
    try:
        loaded, seen = load_ok(client, models["sharded"])
        assert loaded["progress_method"] == "patch core_model_loading.tqdm"
        progress = [m for m in seen if m["event"] == "progress"]
        assert progress[-1]["tensors_done"] == progress[-1]["tensors_total"] > 10
        assert progress[-1]["bytes_done"] == progress[-1]["bytes_total"] == sum(
            p.stat().st_size for p in models["sharded"].glob("*.safetensors")) - sum(
            8 + int.from_bytes(p.read_bytes()[:8], "little")
            for p in models["sharded"].glob("*.safetensors"))
    finally:
        client.close()


def test_protocol_garbage_is_answered_not_fatal(engine: EngineClient) -> None:
    assert engine._cmd is not None
    engine._cmd.write(b'{"v": 1, "cmd": "launch", "id": 5}\nnot json\n')
    errors = [engine.wait_for("error", timeout=30), engine.wait_for("error", timeout=30)]
    assert all(e["error_type"] == "BadCommand" for e in errors)
    assert "unknown command" in errors[0]["message"]
    gc_id = engine.send(protocol.new_command(protocol.Gc))  # it still answers
    assert engine.wait_for("gc", reply_to=gc_id, timeout=30)["collected"] >= 0


def test_ping_echoes_the_send_time_and_the_session_keeps_the_round_trip(
        engine: EngineClient) -> None:
    ping_id = engine.send(protocol.new_command(protocol.Ping, sent_ts=time.time()))
    pong = engine.wait_for("pong", reply_to=ping_id, timeout=30)
    assert isinstance(pong, protocol.Pong) and pong.sent_ts is not None
    # The session keeps the round trip: the pong's arrival minus the ping's send time.
    rtt = engine.session.ping_rtt_s
    assert rtt is not None and 0.0 <= rtt < 30.0


def test_load_while_loaded_unloads_first(engine: EngineClient, models: dict[str, Path]) -> None:
    load_ok(engine, models["llama"])
    loaded, seen = load_ok(engine, models["gpt2"])
    assert loaded["model_type"] == "gpt2"
    unloaded = [m for m in seen if m["event"] == "unloaded"]
    assert len(unloaded) == 1 and unloaded[0]["label"] == str(models["llama"])
    unload_ok(engine)


def test_unload_during_generation_stops_it_first(engine: EngineClient,
                                                 models: dict[str, Path]) -> None:
    load_ok(engine, models["llama"])
    gen_id = engine.generate("go", max_new_tokens=100000, min_new_tokens=100000)
    assert engine.wait_for("token", reply_to=gen_id, timeout=60)["event"] == "token"
    unload_id = engine.unload()
    generated = engine.wait_for(("generated", "error"), reply_to=gen_id, timeout=60)
    assert generated["event"] == "generated" and generated["stopped"] == "stop"
    unloaded = engine.wait_for(("unloaded", "error"), reply_to=unload_id, timeout=60)
    assert unloaded["event"] == "unloaded" and unloaded["had_model"] is True


def test_jobs_run_in_order_on_one_long_lived_thread(models: dict[str, Path]) -> None:
    """Every job (load, generate, unload) runs on the engine's one job thread: a thread made
    per job generated 2.7x slower on the H100 host (benchmarks/generate_overhead.py). An
    unload sent during a generation keeps its place: the stopped generation's last word does
    not clear it (so the engine still answers Busy until the unload is done). In-process: the
    real Engine class and model, events collected instead of written to a pipe."""
    import threading

    from console.worker import worker

    events: list[tuple[str, dict[str, Any]]] = []
    tokens_of: list[int | None] = []
    kind_when: dict[str, str] = {}
    engine: Any = None

    def sink(name: str, reply_to: int | None = None, **fields: Any) -> None:
        events.append((name, fields))
        if name == "token":
            tokens_of.append(reply_to)
        if name == "generated" and fields.get("stopped") == "stop":
            kind_when["stopped generation said its last word"] = engine.job_kind

    engine = worker.Engine(sink)
    ran_on: list[tuple[str, int]] = []
    def recording(name: str) -> Any:
        original = getattr(engine, name)

        def wrapped(msg: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            ran_on.append((name, threading.get_ident()))
            return original(msg, *args, **kwargs)
        return wrapped

    for name in ("_job_load", "_job_generate", "_job_unload"):
        setattr(engine, name, recording(name))

    def cmd(**wire: Any) -> protocol.AnyCommand:
        return protocol.to_command(protocol.validate({"v": protocol.PROTOCOL_VERSION, **wire}))

    engine.handle(cmd(cmd="load", id=1, model=str(models["llama"]), device="cpu"))
    assert engine.wait_jobs(timeout=120)
    for msg_id in (2, 3):
        engine.handle(cmd(cmd="generate", id=msg_id, prompt="hi", max_new_tokens=4,
                          min_new_tokens=4))
        assert engine.wait_jobs(timeout=120)
    engine.handle(cmd(cmd="generate", id=4, prompt="hi", max_new_tokens=5000,
                      min_new_tokens=5000))
    deadline = time.monotonic() + 60
    while 4 not in tokens_of and time.monotonic() < deadline:
        time.sleep(0.01)
    engine.handle(cmd(cmd="unload", id=5))
    assert engine.job_kind == "unload"
    assert engine.wait_jobs(timeout=120)
    names = [name for name, _ in events if name in ("loaded", "generated", "unloaded", "error")]
    assert names == ["loaded", "generated", "generated", "generated", "unloaded"], events[-3:]
    assert kind_when == {"stopped generation said its last word": "unload"}
    assert engine.job_kind == ""
    assert [n for n, _ in ran_on] == ["_job_load", "_job_generate", "_job_generate",
                                      "_job_generate", "_job_unload"]
    assert {ident for _, ident in ran_on} == {engine.job_thread.ident}
    assert engine.job_thread.ident != threading.get_ident()
