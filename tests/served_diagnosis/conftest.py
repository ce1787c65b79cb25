"""Real serving engines failing for real, for the diagnosis tests: each failure is produced once
per test session and its whole log kept.

vLLM is its CPU build in its own venv: $AUTOGLM_VLLM_PYTHON (a python), else
$AUTOGLM_VLLM_VENV/bin/python, else `.venv-vllm/bin/python` at the repository root or beside the
running venv. A missing build fails the vLLM tests with that reason; AUTOGLM_NO_VLLM=1 (an
explicit opt-out) skips them. `transformers serve` comes from the running venv.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from console.host.procs import free_port

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 480  # a vLLM CPU start on a busy 2-core machine takes one to two minutes


def vllm_python() -> Path:
    if os.environ.get("AUTOGLM_VLLM_PYTHON"):
        return Path(os.environ["AUTOGLM_VLLM_PYTHON"])
    if os.environ.get("AUTOGLM_VLLM_VENV"):
        return Path(os.environ["AUTOGLM_VLLM_VENV"]) / "bin" / "python"
    for venv in (REPO / ".venv-vllm", Path(sys.prefix).parent / ".venv-vllm"):
        if (venv / "bin" / "python").exists():
            return venv / "bin" / "python"
    return REPO / ".venv-vllm" / "bin" / "python"


def require_vllm() -> Path:
    if os.environ.get("AUTOGLM_NO_VLLM") == "1":
        pytest.skip("vLLM opted out (AUTOGLM_NO_VLLM=1)")
    python = vllm_python()
    if not python.exists():
        pytest.fail(
            f"no vLLM python at {python}: build .venv-vllm (./dev), or set AUTOGLM_VLLM_PYTHON, "
            "or AUTOGLM_NO_VLLM=1 to opt out"
        )
    return python


@contextmanager
def port_taken() -> Iterator[int]:
    """A port some other process listens on, for as long as the block runs."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import socket, sys, time\n"
            "s = socket.socket(); s.bind(('0.0.0.0', 0)); s.listen()\n"
            "print(s.getsockname()[1], flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        yield int(holder.stdout.readline())
    finally:
        holder.kill()
        holder.wait(timeout=10)


def run_to_exit(cmd: list[str], log: Path, env: dict[str, str], timeout: float) -> int:
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            pytest.fail(f"{cmd[:3]} did not exit within {timeout:.0f} s; log: {log}")


def run_on_a_free_port(cmd: Callable[[int], list[str]], log: Path, env: dict[str, str],
                       timeout: float, tries: int = 3) -> int:
    """run_to_exit on a free port, again on another when a process took the port between
    free_port() and the server's bind: the log then stops at "Address already in use" (vLLM binds
    before it reads the model), before the failure the test is after. For the tests whose port is
    only a means; the port-in-use tests hold theirs (port_taken)."""
    for _ in range(tries):
        rc = run_to_exit(cmd(free_port()), log, env, timeout)
        if b"Address already in use" not in log.read_bytes():
            return rc
    pytest.fail(f"{tries} free ports were taken before the server bound them; last log: {log}")


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def start_then_kill_engine_core(cmd: list[str], port: int, log: Path, env: dict[str, str]) -> int:
    """Start a healthy vLLM, SIGKILL its engine-core process (as the OOM killer would), and wait
    for the API server to notice and exit."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while not _healthy(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"vLLM did not become healthy (exit {proc.poll()}); log: {log}")
                time.sleep(1)
            children = psutil.Process(proc.pid).children(recursive=True)
            core = [c for c in children if "EngineCore" in c.name()]
            assert core, f"no EngineCore process among {[c.name() for c in children]}"
            core[0].send_signal(signal.SIGKILL)
            return proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    from console.worker import demo

    return demo.ensure()


@pytest.fixture(scope="session")
def served_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("served-logs")
