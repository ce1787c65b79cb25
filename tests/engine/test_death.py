"""Engine death: SIGKILL mid-load (the OOM killer's signal), a segfault, hard unload, restart.

The load is made slow deterministically with the engine's test-only knob
AUTOGLM_ENGINE_TEST_SLOW_LOAD_S (a sleep before each tensor in the progress hook).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from console.engines.local import EngineClient, EngineDead

from .conftest import start_client


def test_sigkill_mid_load_then_restart(models: dict[str, Path], tmp_path: Path) -> None:
    client = start_client(tmp_path, AUTOGLM_ENGINE_TEST_SLOW_LOAD_S="0.3")
    try:
        first_pid = client.pid
        assert first_pid is not None
        # Abort mid-load: the engine stops before the next tensor and frees what it placed.
        msg_id = client.load(str(models["sharded"]), device="cpu")
        client.wait_for("progress", reply_to=msg_id, timeout=120)
        client.abort()
        aborted = client.wait_for(("loaded", "error"), reply_to=msg_id, timeout=120)
        assert aborted["event"] == "error" and aborted["error_type"] == "LoadAborted"
        # An abort is the user's decision, not a failure: the engine is idle again.
        assert client.wait_for("state", reply_to=msg_id, timeout=30)["state"] == "idle"

        msg_id = client.load(str(models["sharded"]), device="cpu")
        # Wait until weights are really moving: at least one tensor done.
        seen: list[dict] = []
        while True:
            msg = client.wait_for(("progress", "loaded", "error"), reply_to=msg_id, timeout=120,
                                  seen=seen)
            assert msg["event"] == "progress", msg
            if msg["tensors_done"] >= 1:
                break
        assert msg["tensors_done"] < msg["tensors_total"]  # mid-load
        assert msg["current_file"].startswith("model-0000")
        assert client.state == "loading"

        os.kill(first_pid, signal.SIGKILL)
        exited = client.wait_for("exited", timeout=30)
        assert exited["event"] == "exited"
        assert exited["signal"] == "SIGKILL"
        assert exited["returncode"] == -signal.SIGKILL
        assert exited["expected"] is False
        assert client.state == "dead"
        assert client.exit_info == exited
        assert any("Loading weights" in line for line in exited["last_lines"])
        with pytest.raises(EngineDead):
            client.unload()

        # One call restarts it; the new engine (not slowed this time) loads and answers.
        client.extra_env["AUTOGLM_ENGINE_TEST_SLOW_LOAD_S"] = "0"
        new_pid = client.restart()
        assert new_pid != first_pid
        assert client.wait_for("hello", timeout=120)["pid"] == new_pid
        msg_id = client.load(str(models["gpt2"]), device="cpu")
        loaded = client.wait_for(("loaded", "error"), reply_to=msg_id, timeout=120)
        assert loaded["event"] == "loaded", dict(loaded)

        # A segfault is reported by its signal too.
        os.kill(new_pid, signal.SIGSEGV)
        exited = client.wait_for("exited", timeout=30)
        assert exited["signal"] == "SIGSEGV" and exited["expected"] is False

        log_text = client.log_path.read_text() if client.log_path else ""
        assert "killed by SIGKILL" in log_text and "unexpectedly" in log_text
    finally:
        client.close()


def test_hard_unload_ends_the_process(models: dict[str, Path], tmp_path: Path) -> None:
    client = start_client(tmp_path)
    try:
        pid = client.pid
        msg_id = client.load(str(models["llama"]), device="cpu")
        assert client.wait_for(("loaded", "error"), reply_to=msg_id, timeout=120)["event"] == \
            "loaded"
        info = client.hard_unload(grace_s=5)
        assert info is not None and info["expected"] is True
        assert info["signal"] == "SIGTERM"
        assert not client.alive and client.state == "stopped"
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # gone: its memory went with it
    finally:
        client.close()


def test_engine_exits_when_the_app_goes_away(tmp_path: Path) -> None:
    """Closing the commands pipe (the app died) ends the engine on its own."""
    client = start_client(tmp_path)
    try:
        assert client._cmd is not None
        client._cmd.close()
        client._cmd = None
        exited = client.wait_for("exited", timeout=30)
        assert exited["returncode"] == 0
    finally:
        client.close()


def test_callback_delivery(models: dict[str, Path], tmp_path: Path) -> None:
    """The callback sees the same stream (from reader threads) and a faulty one is harmless."""
    got: list[dict] = []

    def on_message(msg: dict) -> None:
        got.append(msg)
        if msg["event"] == "state":
            raise RuntimeError("a buggy callback")

    client = EngineClient(on_message=on_message, use_queue=False,
                          env={"HF_MODULES_CACHE": str(tmp_path)})
    client.start()
    try:
        import time

        deadline = time.monotonic() + 120
        while not any(m["event"] == "hello" for m in got) and time.monotonic() < deadline:
            time.sleep(0.05)
        client.load(str(models["gpt2"]), device="cpu")
        while not any(m["event"] in ("loaded", "error") for m in got) and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        names = [m["event"] for m in got]
        assert "loaded" in names and "output" in names and "progress" in names
        with pytest.raises(RuntimeError, match="callback only"):
            client.wait_for("hello", timeout=1)
    finally:
        client.close()
    assert got[-1]["event"] == "exited" and got[-1]["expected"] is True
