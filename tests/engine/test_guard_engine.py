"""The load guard in the real engine process, on real models, driven by real host-RAM readings.

The thresholds are the real config fields (`Levels` per resource, in % used), set so that they
trip on this machine whatever else runs on it: a RAM pause level of 1% is under any real usage
(so the first tensor's check trips it), 100% is over any. Nothing here fakes a sample.

RSS figures are the engine's own, read from this process with psutil. The medium model is
loaded as bf16 from an fp32 checkpoint so that every tensor the load places is new anonymous
memory (a same-dtype CPU load would map the safetensors file and grow RSS by ~nothing).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from console.engines.local import EngineClient

from .conftest import start_client

Msg = dict[str, Any]

# For tests whose loads the host's free memory decides (the engine's own recheck, the guard
# under a forced load): they run on the worker of the real servers (tests/conftest.py), never
# beside a vLLM that holds gigabytes of it. In one fresh-clone run of session 29 two such loads
# ended in an error (its message was not printed then; it is now) while passing alone and in
# every other run.
BESIDE_NO_SERVER = pytest.mark.xdist_group("servers")
MIB = 1024**2
RAM_TRIPS = {"ram": {"pause": 1.0}}  # under any real usage: the first tensor's check trips
RAM_NEVER = {"ram": {"pause": 100.0, "resume": 99.0}}  # over any real usage
INPUT_IDS = [2, 11, 42, 7, 99, 5]
CONSOLE = str(Path(sys.executable).parent / "autoglm-console")


@pytest.fixture(scope="module")
def medium(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Llama-shaped, ~90 MB in fp32, 57 tensors in 5 shards (the largest tensor 4 MiB)."""
    from console.worker import tinymodels

    return tinymodels.build(
        "llama", tmp_path_factory.mktemp("guard") / "medium", max_shard_size="24MB",
        overrides={"hidden_size": 512, "intermediate_size": 2048, "num_hidden_layers": 6,
                   "num_attention_heads": 8, "num_key_value_heads": 2})


def drain(engine: EngineClient) -> None:
    """Drop what earlier tests left in the queue."""
    assert engine.messages is not None
    while not engine.messages.empty():
        engine.messages.get_nowait()


def until(engine: EngineClient, names: tuple[str, ...], reply_to: int | None, seen: list[Msg],
          timeout: float = 60) -> Msg:
    return engine.wait_for((*names, "error"), reply_to=reply_to, timeout=timeout, seen=seen)


def rss(engine: EngineClient) -> int:
    assert engine.pid is not None
    return int(psutil.Process(engine.pid).memory_info().rss)


def reference(path: Path, dtype: str | None = None) -> dict[str, Any]:
    """The same fingerprint of a plain `from_pretrained`, in this process."""
    import torch
    from transformers import AutoConfig

    from console.worker.parity import fingerprint
    from console.worker.tinymodels import model_class_for

    kwargs: dict[str, Any] = {"dtype": getattr(torch, dtype)} if dtype else {}
    model = model_class_for(AutoConfig.from_pretrained(path)).from_pretrained(path, **kwargs)
    model.eval()
    return fingerprint(model, input_ids=INPUT_IDS)


def engine_fingerprint(engine: EngineClient) -> Msg:
    msg = engine.wait_for(("fingerprint", "error"), reply_to=engine.fingerprint(
        input_ids=INPUT_IDS), timeout=60)
    assert msg["event"] == "fingerprint", msg
    return msg


def assert_same_model(got: Msg, want: dict[str, Any]) -> None:
    assert set(got["tensors"]) == set(want["tensors"])
    differ = [n for n in want["tensors"] if got["tensors"][n] != want["tensors"][n]]
    assert not differ, f"tensors that differ from from_pretrained: {differ}"
    assert any("inv_freq" in b for b in got["buffers"])  # non-persistent buffers compared too
    assert got["logits"] == want["logits"]


def unload(engine: EngineClient) -> None:
    msg = engine.wait_for(("unloaded", "error"), reply_to=engine.unload(), timeout=60)
    assert msg["event"] == "unloaded", msg


# ------------------------------------------------------------------------------------------
# pause, resume, raise the threshold, auto-resume, abort level


def test_ram_pause_holds_the_load_then_raise_and_resume(engine: EngineClient,
                                                        medium: Path) -> None:
    drain(engine)
    seen: list[Msg] = []
    load_id = engine.load(str(medium), device="cpu", dtype="bf16",
                          guard={"thresholds": RAM_TRIPS})
    paused = until(engine, ("paused", "loaded"), load_id, seen)
    assert paused["event"] == "paused", paused
    assert paused["resource"] == "ram" and paused["threshold"] == 1.0
    assert paused["value"] > 1.0 and paused["by_user"] is False
    assert paused["tensor_index"] == 0 and paused["tensors_done"] == 0
    assert paused["why"].startswith("paused: host RAM") and "next tensor" in paused["why"]
    assert engine.guard_mode == "paused"
    rss_paused = rss(engine)

    # Held: no tensor moves while paused (the monitor keeps sampling meanwhile).
    time.sleep(1.0)
    during: list[Msg] = []
    refused = until(engine, ("resumed",), engine.resume(), during)
    assert refused["event"] == "error" and refused["error_type"] == "ResumeRefused"
    assert "host RAM" in refused["message"] and "1%" in refused["message"]
    assert not [m for m in during if m["event"] in ("progress", "loaded")
                and m.get("tensors_done", 0) > 0]
    assert abs(rss(engine) - rss_paused) < 1 * MIB

    # Raise the threshold live, then resume: the load completes.
    answer = until(engine, ("guard",), engine.set_thresholds(RAM_NEVER), seen)
    assert answer["event"] == "guard" and answer["thresholds"]["ram"]["pause"] == 100.0
    assert answer["mode"] == "paused"
    resume_id = engine.resume()
    resumed = until(engine, ("resumed",), load_id, seen)
    assert resumed["event"] == "resumed" and resumed["by_user"] is True
    assert resumed["command_id"] == resume_id and resumed["paused_s"] >= 1.0
    loaded = until(engine, ("loaded",), load_id, seen)
    assert loaded["event"] == "loaded", dict(loaded)
    assert loaded["tensors"] == 57
    assert loaded["guard"]["tensor_checks"] == 57

    assert_same_model(engine_fingerprint(engine), reference(medium, "bfloat16"))
    unload(engine)


@pytest.mark.parametrize("loader", ["stock", "auto"])
def test_guarded_load_equals_from_pretrained(engine: EngineClient, models: dict[str, Path],
                                             loader: str) -> None:
    """Synchronous, without the allocator warm-up (stock) or through the fast loader (auto):
    every tensor, buffer and the logits equal a plain from_pretrained's, bit for bit."""
    drain(engine)
    loaded = engine.wait_for(("loaded", "error"), reply_to=engine.load(
        str(models["llama"]), device="cpu", loader=loader), timeout=120)
    assert loaded["event"] == "loaded", dict(loaded)
    if loaded.get("loader") == "stock":
        assert loaded["guard"]["synchronous"] and loaded["guard"]["warmup_patched"]
    assert loaded["guard"]["tensor_checks"] == loaded["tensors"] > 0
    assert_same_model(engine_fingerprint(engine), reference(models["llama"]))
    unload(engine)


def test_auto_resume_when_every_resource_is_back_under_resume(engine: EngineClient,
                                                              models: dict[str, Path]) -> None:
    drain(engine)
    seen: list[Msg] = []
    load_id = engine.load(str(models["llama"]), device="cpu",
                          guard={"thresholds": RAM_TRIPS, "auto_resume": True})
    assert until(engine, ("paused", "loaded"), load_id, seen)["event"] == "paused"
    # No resume command: the engine's own sampling sees RAM under the new resume level.
    engine.set_thresholds(RAM_NEVER)
    resumed = until(engine, ("resumed", "loaded"), load_id, seen)
    assert resumed["event"] == "resumed", resumed
    assert resumed["by_user"] is False and resumed["command_id"] is None
    assert resumed["why"] == "resumed: every resource is back under its resume level"
    assert until(engine, ("loaded",), load_id, seen)["event"] == "loaded"
    unload(engine)


def test_a_user_pause_does_not_auto_resume(slow_engine: EngineClient,
                                           models: dict[str, Path]) -> None:
    drain(slow_engine)
    seen: list[Msg] = []
    load_id = slow_engine.load(str(models["llama"]), device="cpu",
                               guard={"thresholds": RAM_NEVER, "auto_resume": True})
    until(slow_engine, ("progress",), load_id, seen)
    slow_engine.pause()
    paused = until(slow_engine, ("paused", "loaded"), load_id, seen)
    assert paused["event"] == "paused" and paused["by_user"] is True
    assert paused["why"] == "paused by the user" and paused["resource"] is None
    with pytest.raises(TimeoutError):  # auto-resume is for the guard's pauses, not the user's
        slow_engine.wait_for("resumed", reply_to=load_id, timeout=0.8)
    slow_engine.resume()
    assert until(slow_engine, ("loaded",), load_id, seen, timeout=120)["event"] == "loaded"
    unload(slow_engine)


@pytest.mark.parametrize(("guard", "why"), [
    ({"thresholds": {"ram": {"abort": 1.0}}}, "aborted: host RAM"),
    ({"thresholds": RAM_TRIPS, "on_pause": "abort"}, "aborted (on pause: abort): host RAM"),
])
def test_abort_level_and_on_pause_abort(engine: EngineClient, models: dict[str, Path],
                                        guard: dict[str, Any], why: str) -> None:
    drain(engine)
    seen: list[Msg] = []
    load_id = engine.load(str(models["llama"]), device="cpu", guard=guard)
    result = until(engine, ("loaded",), load_id, seen)
    assert result["event"] == "error" and result["error_type"] == "LoadAborted", result
    aborted = next(m for m in seen if m["event"] == "aborted")
    assert aborted["why"].startswith(why) and aborted["resource"] == "ram"
    assert aborted["threshold"] == 1.0 and aborted["tensor_index"] == 0
    assert any(m["event"] == "unloaded" and m["id"] == load_id for m in seen)
    state = engine.wait_for("state", reply_to=load_id, timeout=10)
    assert state["state"] == "idle" and engine.guard_mode == "aborted"


# ------------------------------------------------------------------------------------------
# pause mid-load, flat, abort back to the baseline


def test_pause_mid_load_is_flat_and_abort_returns_to_baseline(slow_engine: EngineClient,
                                                              medium: Path,
                                                              models: dict[str, Path]) -> None:
    drain(slow_engine)
    # One full load first: the code a load imports stays in RSS for good; the baseline after
    # it is what an abort must return to.
    first = slow_engine.wait_for(("loaded", "error"), reply_to=slow_engine.load(
        str(medium), device="cpu", dtype="bf16"), timeout=120)
    assert first["event"] == "loaded", first
    unload(slow_engine)
    baseline = rss(slow_engine)

    seen: list[Msg] = []
    load_id = slow_engine.load(str(medium), device="cpu", dtype="bf16",
                               guard={"thresholds": RAM_NEVER})
    while True:
        msg = until(slow_engine, ("progress", "loaded"), load_id, seen)
        assert msg["event"] == "progress", msg
        if msg["bytes_done"] >= 0.4 * msg["bytes_total"]:
            break
    slow_engine.pause()
    paused = until(slow_engine, ("paused", "loaded"), load_id, seen)
    assert paused["event"] == "paused", paused
    assert 0 < paused["tensor_index"] < paused["tensors_total"]
    placed = rss(slow_engine) - baseline
    assert placed > 20 * MIB  # ~half of the 45 MiB of bf16 weights, plus reads in flight

    # Flat while paused: not one more tensor (each is 0.25-2 MiB here) for 1.5 s.
    samples = []
    for _ in range(6):
        time.sleep(0.25)
        samples.append(rss(slow_engine))
    during: list[Msg] = []
    with pytest.raises(TimeoutError):
        slow_engine.wait_for(("progress", "loaded"), reply_to=load_id, timeout=0.1,
                             seen=during)
    assert not [m for m in during if m["event"] == "progress"]
    assert max(samples) - min(samples) < 1 * MIB, [s - baseline for s in samples]

    slow_engine.abort()
    result = until(slow_engine, ("loaded",), load_id, seen)
    assert result["event"] == "error" and result["error_type"] == "LoadAborted"
    aborted = next(m for m in seen if m["event"] == "aborted")
    assert aborted["by_user"] is True and aborted["why"] == "aborted by the user"
    assert aborted["tensor_index"] == paused["tensor_index"]  # it never moved on
    unloaded = next(m for m in seen if m["event"] == "unloaded")
    # Freed counts from the moment of the abort (what the load held while paused), not from
    # later, when unwinding the loader had already released its read buffers.
    assert unloaded["freed_bytes"] > 0.9 * placed, (unloaded["freed_bytes"] / MIB, placed / MIB)
    assert slow_engine.wait_for("state", reply_to=load_id, timeout=10)["state"] == "idle"
    # Back at the baseline: the load placed > 20 MiB; what is left is allocator noise (we
    # see < 0.3 MiB; 4 MiB leaves room for glibc arenas while still failing a leak of even
    # two of the 2 MiB MLP tensors).
    assert rss(slow_engine) - baseline < 4 * MIB, (rss(slow_engine) - baseline) / MIB

    # A new load works.
    again = slow_engine.wait_for(("loaded", "error"), reply_to=slow_engine.load(
        str(models["llama"]), device="cpu"), timeout=120)
    assert again["event"] == "loaded", again
    unload(slow_engine)


def test_stall_is_reported_with_evidence(models: dict[str, Path], tmp_path: Path) -> None:
    client = start_client(tmp_path, AUTOGLM_ENGINE_TEST_SLOW_LOAD_S="1.5")
    try:
        seen: list[Msg] = []
        load_id = client.load(str(models["sharded"]), device="cpu",
                              guard={"stall_s": 0.5, "thresholds": RAM_NEVER})
        # A stall mid-load (one may come earlier, before the first tensor: no file yet).
        while True:
            stalled = until(client, ("stalled", "loaded"), load_id, seen, timeout=60)
            assert stalled["event"] == "stalled", stalled
            if stalled["tensors_done"] >= 1:
                break
        assert stalled["seconds"] >= 0.5 and stalled["stall_s"] == 0.5
        assert stalled["text"].startswith("stalled: no progress for")
        for evidence in ("disk read", "swap-in", "engine CPU"):
            assert evidence in stalled["text"]
        for key in ("disk_read_bytes_per_s", "swap_in_bytes_per_s", "engine_cpu_percent",
                    "likely"):
            assert key in stalled
        assert stalled["current_file"].startswith("model-000")  # the shard being read
        client.abort()
        result = until(client, ("loaded",), load_id, seen)
        assert result["event"] == "error" and result["error_type"] == "LoadAborted"
    finally:
        client.close()


# ------------------------------------------------------------------------------------------
# generation, the pre-load gate, a broken checkpoint


def test_generation_stopped_by_guard(engine: EngineClient, models: dict[str, Path]) -> None:
    drain(engine)
    loaded = engine.wait_for(("loaded", "error"), reply_to=engine.load(
        str(models["llama"]), device="cpu", guard={"thresholds": RAM_NEVER}), timeout=120)
    assert loaded["event"] == "loaded", dict(loaded)
    control = engine.wait_for(("generated", "error"), reply_to=engine.generate(
        "hello", max_new_tokens=12, min_new_tokens=12), timeout=60)
    assert control["stopped"] == "length" and control["guard"] is None

    engine.set_thresholds(RAM_TRIPS)
    seen: list[Msg] = []
    gen_id = engine.generate("hello", max_new_tokens=12, min_new_tokens=12)
    generated = until(engine, ("generated",), gen_id, seen)
    assert generated["event"] == "generated", generated
    assert generated["stopped"] == "guard" and generated["tokens"] < 12
    figures = generated["guard"]
    assert figures["why"].startswith("stopped by guard: host RAM")
    assert figures["resource"] == "ram" and figures["threshold"] == 1.0
    assert figures["used_bytes"] > 0 and figures["total_bytes"] > figures["used_bytes"]
    assert figures["kv_growth_bytes"] == loaded["kv_bytes_per_token_estimate"] * 8
    assert any(m["event"] == "log" and "stopped by guard" in m["message"] for m in seen)
    engine.set_thresholds(RAM_NEVER)
    unload(engine)


@BESIDE_NO_SERVER
def test_preload_gate_refuses_what_will_not_fit_unless_forced(engine: EngineClient,
                                                              models: dict[str, Path]) -> None:
    drain(engine)
    seen: list[Msg] = []
    # 100,000 sequences of 512 tokens: the KV cache alone is ~25 GB, more than this host has.
    load_id = engine.load(str(models["llama"]), device="cpu", batch=100_000, context=512)
    refused = until(engine, ("loaded",), load_id, seen)
    assert refused["event"] == "error" and refused["error_type"] == "WillNotFit", refused
    assert refused["message"].startswith("will not fit: cpu: needs")
    assert "--force" in refused["hint"]
    preflight = next(m for m in seen if m["event"] == "preflight")
    assert preflight["ok"] is False and preflight["verdict"] == "will_not_fit"
    assert preflight["batch"] == 100_000 and preflight["source"] == "engine"
    assert not [m for m in seen if m["event"] == "progress"]  # no weight was placed

    seen = []
    load_id = engine.load(str(models["llama"]), device="cpu", batch=100_000, context=512,
                          force=True)
    loaded = until(engine, ("loaded",), load_id, seen)
    assert loaded["event"] == "loaded", dict(loaded)
    assert next(m for m in seen if m["event"] == "preflight")["forced"] is True
    assert any(m["event"] == "log" and "loading anyway" in m["message"] for m in seen)
    unload(engine)


@BESIDE_NO_SERVER
def test_the_apps_preflight_stands_and_only_free_memory_is_rechecked(
        engine: EngineClient, models: dict[str, Path]) -> None:
    from console.core.check import assess
    from console.core.preflight import check_model_dir
    from console.core.session import Check
    from console.host.config import Config
    from console.host.telemetry import Telemetry

    path = models["llama"]
    telemetry = Telemetry()
    result = assess("llama", path, check_model_dir(path), telemetry.sample(),
                    Config().thresholds, device="cpu")
    telemetry.close()
    wire = Check("llama", result, "", result.fit.verdict).wire()
    assert wire is not None and wire["needs"] == {"cpu": result.estimate.devices[0].total_bytes}
    drain(engine)
    seen: list[Msg] = []
    load_id = engine.load(str(path), device="cpu", preflight=wire)
    loaded = until(engine, ("loaded",), load_id, seen)
    assert loaded["event"] == "loaded", dict(loaded)
    preflight = next(m for m in seen if m["event"] == "preflight")
    # The checkpoint was not read again (no findings of its own); the fit is of memory now.
    assert preflight["source"] == "app" and preflight["findings"] == []
    assert preflight["peak_bytes"] == result.estimate.peak_bytes
    assert preflight["verdict"] in ("fits", "tight")
    assert loaded["kv_bytes_per_token_estimate"] == result.estimate.kv_bytes_per_token
    unload(engine)

    # The same pre-flight claiming more than this host has: the engine's re-check refuses it.
    seen = []
    load_id = engine.load(str(path), device="cpu", preflight={**wire, "needs": {"cpu": 2**60}})
    refused = until(engine, ("loaded",), load_id, seen)
    assert refused["event"] == "error" and refused["error_type"] == "WillNotFit", refused
    preflight = next(m for m in seen if m["event"] == "preflight")
    assert preflight["source"] == "app" and preflight["verdict"] == "will_not_fit"
    assert not [m for m in seen if m["event"] == "progress"]


def test_truncated_shard_fails_before_any_weight_is_placed(engine: EngineClient,
                                                           models: dict[str, Path],
                                                           tmp_path: Path) -> None:
    broken = tmp_path / "truncated"
    shutil.copytree(models["sharded"], broken)
    shard = sorted(broken.glob("model-*.safetensors"))[3]
    with shard.open("r+b") as fh:
        fh.truncate(shard.stat().st_size - 1000)
    drain(engine)
    seen: list[Msg] = []
    load_id = engine.load(str(broken), device="cpu")
    result = until(engine, ("loaded",), load_id, seen)
    assert result["event"] == "error" and result["error_type"] == "PreflightFailed", result
    assert result["message"].startswith("pre-flight: error: " + shard.name)
    preflight = next(m for m in seen if m["event"] == "preflight")
    assert [f["file"] for f in preflight["findings"] if f["severity"] == "error"] == [shard.name]
    # The tracker that calls the per-tensor hooks is made after the gate: no progress at all
    # means no hook ran and no tensor was read.
    assert not [m for m in seen if m["event"] in ("progress", "paused", "aborted")]
    assert engine.wait_for("state", reply_to=load_id, timeout=10)["state"] == "error"
    status = engine.wait_for("guard", reply_to=engine.set_thresholds(), timeout=10)
    assert status["tensor_checks"] == 0  # the guard's hook was never called for this load


# ------------------------------------------------------------------------------------------
# headless


def run_load(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CONSOLE, "load", *args], capture_output=True, text=True,
                          check=False, timeout=240, env=dict(os.environ),
                          stdin=subprocess.DEVNULL)


def test_headless_pause_at_with_on_pause_abort(models: dict[str, Path]) -> None:
    proc = run_load(str(models["llama"]), "--device", "cpu", "--pause-at", "ram=1",
                    "--on-pause", "abort", "--json")
    assert proc.returncode == 1, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    aborted = next(e for e in events if e["event"] == "aborted")
    assert aborted["resource"] == "ram" and aborted["threshold"] == 1.0
    assert aborted["value"] > 1.0
    assert "aborted (on pause: abort): host RAM" in aborted["why"]
    assert "load aborted" in proc.stderr.strip().splitlines()[-1]


def test_headless_gate_and_force(models: dict[str, Path]) -> None:
    refused = run_load(str(models["llama"]), "--device", "cpu", "--batch", "100000",
                       "--context", "512")
    assert refused.returncode == 1
    assert "will not fit" in refused.stderr and "--force" in refused.stderr
    forced = run_load(str(models["llama"]), "--device", "cpu", "--batch", "100000",
                      "--context", "512", "--force", "--pause-at", "vram=90,ram=99",
                      "--abort-at", "ram=99.5")
    assert forced.returncode == 0, forced.stderr
    assert "loading anyway (--force)" in forced.stderr


@pytest.mark.parametrize(("flags", "names"), [
    (("--pause-at", "ram=lots"), "--pause-at: ram=lots: expected RESOURCE=LEVEL"),
    (("--pause-at", "gpu=50"), "--pause-at: gpu=50"),
    (("--pause-at", "150"), "--pause-at: thresholds.vram.pause: is a percentage"),
    (("--abort-at", "ram=80", "--pause-at", "ram=90"), "thresholds.ram.abort"),
])
def test_headless_guard_flag_errors_exit_2(flags: tuple[str, ...], names: str) -> None:
    proc = run_load("demo", "--device", "cpu", *flags)
    assert proc.returncode == 2, proc.stderr
    assert names in proc.stderr
