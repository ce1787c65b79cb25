"""A real `transformers serve` and a real vLLM (CPU build) on the demo model: ready, chat with
TTFT and tok/s, the start-up timeline, metrics, the CLI's port check, and the stop proof."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import psutil
import pytest

from console.engines.served import fetch_metrics
from console.host import procs
from tests.served.conftest import Server

CLI = [sys.executable, "-m", "console.cli"]


def _stop_and_prove(server: Server) -> None:
    engine = server.engine
    group = engine.watch.group
    assert group is not None
    pids = group.members()
    assert pids
    rss_before = sum(psutil.Process(p).memory_info().rss for p in pids if psutil.pid_exists(p))
    report = engine.stop()
    assert report.signals[0] == "SIGINT"
    gone = [p for p in pids if procs._alive(p)]
    assert gone == [], f"processes left after stop: {gone}"
    stopped = server.of("stopped")[-1]
    assert stopped["rss_before_bytes"] >= rss_before * 0.5
    assert stopped["rss_after_bytes"] == 0 and stopped["pids_left"] == []
    assert server.of("shm")[-1]["leftovers"] == []


# -- transformers serve --------------------------------------------------------------------


def test_transformers_ready_event_and_timeline(transformers_server: Server) -> None:
    ready = transformers_server.of("ready")
    assert len(ready) == 1
    assert ready[0]["url"] == transformers_server.engine.url
    assert ready[0]["first_reply"]["completion_tokens"] >= 1
    phases = [m["phase"] for m in ready[0]["timeline"]]
    assert phases[0] == "started"
    assert "weights_loaded" in phases and phases[-1] == "server_up"
    times = [m["t_s"] for m in ready[0]["timeline"]]
    assert times == sorted(times)
    loaded = next(m for m in ready[0]["timeline"] if m["phase"] == "weights_loaded")
    assert loaded["rss_bytes"] and loaded["rss_bytes"] > 50 * 2**20


def test_transformers_paused_during_startup(transformers_server: Server) -> None:
    facts = transformers_server.facts
    assert facts["paused_states"] and all(
        s == psutil.STATUS_STOPPED for s in facts["paused_states"]
    )
    assert facts["cpu_while_paused_s"] < 0.2
    assert facts["ready_while_paused"] is False
    kinds = [e["event"] for e in transformers_server.events]
    assert kinds.index("paused") < kinds.index("resumed") < kinds.index("ready")
    paused = transformers_server.of("paused")[0]
    assert paused["holds_rss_bytes"] > 0 and paused["stopped_processes"] >= 1


def test_transformers_chat_streams_with_ttft(transformers_server: Server) -> None:
    result = transformers_server.engine.chat("the quick brown fox", max_tokens=12)
    assert result.completion_tokens == 12
    assert result.ttft_s is not None and 0 < result.ttft_s <= result.total_s
    assert result.tokens_per_s is not None and result.tokens_per_s > 0
    assert transformers_server.of("chat")[-1]["completion_tokens"] == 12


def test_chat_hands_each_token_chunk_over_as_it_arrives(transformers_server: Server) -> None:
    from console.engines.served import chat

    engine = transformers_server.engine
    pieces: list[tuple[str, int, float]] = []
    result = chat(
        engine.url,
        engine.model_name,
        [{"role": "user", "content": [{"type": "text", "text": "hello"}]}],
        max_tokens=6,
        on_text=lambda text, i: pieces.append((text, i, time.perf_counter())),
    )
    assert [i for _, i, _ in pieces] == list(range(len(pieces)))
    assert "".join(t for t, _, _ in pieces) == result.text
    # a random model's token may decode to nothing on its own: fewer chunks than tokens
    assert 1 <= len(pieces) <= result.completion_tokens == 6


def test_transformers_has_no_metrics(transformers_server: Server) -> None:
    assert fetch_metrics(transformers_server.engine.url, "vllm") is None
    assert transformers_server.of("memory")[-1]["rss_bytes"] > 0


def test_serve_refuses_a_taken_port_naming_the_pid(transformers_server: Server) -> None:
    port = transformers_server.engine.spec.port
    out = subprocess.run(
        check=False,
        args=[*CLI, "serve", "demo", "--engine", "transformers", "--port", str(port), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    event = json.loads(out.stdout)
    assert event["event"] == "refused"
    members = transformers_server.engine.watch.group.members()  # type: ignore[union-attr]
    assert event["pid"] in members
    assert f"port {port} is taken by PID {event['pid']}" in event["why"]
    assert "transformers" in event["command"]


def test_transformers_stop_returns_memory(transformers_server: Server) -> None:
    _stop_and_prove(transformers_server)


# -- vLLM (CPU build) ------------------------------------------------------------------------


def test_vllm_ready_timeline_and_chat(vllm_server: Server) -> None:
    ready = vllm_server.of("ready")
    assert len(ready) == 1 and ready[0]["url"].startswith("http://127.0.0.1:")
    phases = [m["phase"] for m in ready[0]["timeline"]]
    for phase in ("weights_loading", "weights_loaded", "profiling", "kv_cache_sized", "server_up"):
        assert phase in phases, phases
    result = vllm_server.engine.chat("hello world", max_tokens=8)
    assert result.completion_tokens == 8 and result.ttft_s is not None


def test_vllm_metrics_polled(vllm_server: Server) -> None:
    vllm_server.engine.chat("the answer", max_tokens=8)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        polled = [
            e for e in vllm_server.of("metrics") if (e.get("generation_tokens_total") or 0) >= 8
        ]
        if polled:
            break
        time.sleep(0.5)
    assert polled, "no /metrics poll saw the generated tokens"
    last = polled[-1]
    assert last["kv_cache_usage"] is not None and 0 <= last["kv_cache_usage"] <= 1
    assert last["running"] is not None and last["waiting"] is not None
    assert last["preemptions_total"] == 0
    assert last["ttft_mean_s"] is not None and last["ttft_mean_s"] > 0


def test_attach_to_the_vllm_server_reads_health_metrics_and_tree(vllm_server: Server) -> None:
    engine = vllm_server.engine
    assert engine.watch.group is not None and engine.watch.running
    out = subprocess.run(
        check=False,
        args=[
            *CLI,
            "attach",
            str(engine.watch.group.pid),
            "--url",
            engine.url,
            "--json",
            "--interval",
            "0.5",
            "--seconds",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert {e["status"] for e in events if e["event"] == "health"} == {200}
    metrics = [e for e in events if e["event"] == "metrics"]
    assert metrics and metrics[-1]["kv_cache_usage"] is not None
    memory = [e for e in events if e["event"] == "memory"]
    assert memory[-1]["pids"] >= 3  # API server, EngineCore, Worker (the stream counts them)
    assert memory[-1]["rss_bytes"] > 500 * 2**20


def test_vllm_stop_returns_memory_and_leaves_no_shm(vllm_server: Server) -> None:
    _stop_and_prove(vllm_server)


def test_vllm_dry_run_json_names_command_and_fit(demo_dir: object) -> None:
    env = {**os.environ, "AUTOGLM_VLLM_VENV": ""}
    out = subprocess.run(
        check=False,
        args=[
            *CLI,
            "serve",
            "demo",
            "--engine",
            "vllm",
            "--port",
            str(procs.free_port()),
            "--preset",
            "autoglm",
            "--dry-run",
            "--json",
            "--",
            "--dtype",
            "bfloat16",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    cmd = data["command"]
    assert cmd[:3] == ["python", "-m", "vllm.entrypoints.openai.api_server"]
    assert cmd[cmd.index("--max-model-len") + 1] == "25480"
    assert cmd[-2:] == ["--dtype", "bfloat16"]
    assert data["fit"]["verdict"] in ("fits", "will_not_fit", "cannot_fit")
    assert data["fit"]["need"]["kv_bytes_per_token"] > 0


@pytest.mark.parametrize("engine", ["sglang"])
def test_sglang_dry_run_has_metrics_flag(engine: str, demo_dir: object) -> None:
    out = subprocess.run(
        check=False,
        args=[
            *CLI,
            "serve",
            "demo",
            "--engine",
            engine,
            "--port",
            str(procs.free_port()),
            "--preset",
            "autoglm",
            "--dry-run",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert "--enable-metrics" in data["command"] and "--mm-enable-dp-encoder" in data["command"]
    assert (
        "sglang: not installed" in " ".join(data["versions"]["problems"])
        or data["versions"]["versions"] is None
        or data["versions"]["versions"]["sglang"] is None
    )


def test_serve_dry_run_and_run_never_import_the_engine_side(demo_dir: object) -> None:
    code = (
        "import contextlib, io, json, sys\n"
        "from console.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['serve', 'demo', '--engine', 'transformers', '--port', '1', '--dry-run',"
        " '--json']) == 0\n"
        "    assert main(['run', '--json', '--', 'true']) == 0\n"
        "print(json.dumps([m for m in ('torch', 'transformers', 'safetensors', 'textual')"
        " if m in sys.modules]))\n"
    )
    out = subprocess.run(
        check=False, args=[sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
