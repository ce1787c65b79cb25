"""Real serving engines failing for real, and the cause the diagnosis names for each log.

vLLM (its CPU build): a port some other process holds, a model directory that is not there, a
max-model-len whose KV cache does not fit the KV space given, and its engine-core process killed
(SIGKILL, as the OOM killer does) while serving. `transformers serve`: a port in use, a missing
model. Each failure runs once per session; the same logs, recorded on the development machine, are
also fixtures under tests/fixtures/logs (`*vllm_*`, `*transformers_serve_*`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from console.core.diagnose import diagnose_text
from tests.served_diagnosis.conftest import (
    free_port,
    port_taken,
    require_vllm,
    run_on_a_free_port,
    run_to_exit,
    start_then_kill_engine_core,
)

VLLM_ENV = {"HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1"}


def _top(log: Path) -> tuple[str, float]:
    causes = diagnose_text(log.read_bytes().decode("utf-8", errors="replace"))
    assert causes, f"no cause named for {log}"
    return causes[0].id, causes[0].confidence


def _vllm_cmd(python: Path, model: str, port: int, *extra: str) -> list[str]:
    return [
        str(python),
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        model,
        "--port",
        str(port),
        "--dtype",
        "bfloat16",
        *extra,
    ]


@pytest.fixture(scope="session")
def vllm_python() -> Path:
    return require_vllm()


def test_vllm_port_in_use(vllm_python: Path, demo_dir: Path, served_logs: Path) -> None:
    log = served_logs / "vllm_port.log"
    with port_taken() as port:
        rc = run_to_exit(
            _vllm_cmd(vllm_python, str(demo_dir), port, "--max-model-len", "512"),
            log,
            {**os.environ, **VLLM_ENV},
            timeout=300,
        )
    assert rc != 0
    assert _top(log)[0] == "port_in_use"


def test_vllm_missing_model(vllm_python: Path, tmp_path: Path, served_logs: Path) -> None:
    log = served_logs / "vllm_missing.log"
    rc = run_on_a_free_port(
        lambda port: _vllm_cmd(
            vllm_python, str(tmp_path / "no-such-model"), port, "--max-model-len", "512"
        ),
        log,
        {**os.environ, **VLLM_ENV},
        timeout=300,
    )
    assert rc != 0
    assert _top(log)[0] == "missing_file"


def test_vllm_kv_cache_too_small_for_max_model_len(
    vllm_python: Path, demo_dir: Path, served_logs: Path
) -> None:
    log = served_logs / "vllm_kv.log"
    # 8M tokens of KV cache for one sequence do not fit the 1 GiB of KV space given.
    env = {**os.environ, **VLLM_ENV, "VLLM_ALLOW_LONG_MAX_MODEL_LEN": "1"}
    rc = run_on_a_free_port(
        lambda port: _vllm_cmd(vllm_python, str(demo_dir), port, "--max-model-len", "8000000"),
        log,
        env,
        timeout=600,
    )
    assert rc != 0
    cause, confidence = _top(log)
    assert (
        cause == "cuda_oom" and confidence >= 0.9
    )  # the KV cache does not fit: memory, not the prompt


def test_vllm_engine_core_killed_while_serving(
    vllm_python: Path, demo_dir: Path, served_logs: Path
) -> None:
    log = served_logs / "vllm_killed.log"
    port = free_port()
    start_then_kill_engine_core(
        _vllm_cmd(vllm_python, str(demo_dir), port, "--max-model-len", "512"),
        port,
        log,
        {**os.environ, **VLLM_ENV},
    )
    assert _top(log)[0] == "host_oom"  # a worker killed outright: what the OOM killer does


def _transformers_cmd(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "transformers"), "serve", *args]


def test_transformers_serve_port_in_use(served_logs: Path) -> None:
    log = served_logs / "tserve_port.log"
    with port_taken() as port:
        rc = run_to_exit(
            _transformers_cmd("--host", "127.0.0.1", "--port", str(port)),
            log,
            {**os.environ, "HF_HUB_OFFLINE": "1"},
            timeout=120,
        )
    assert rc != 0
    assert _top(log)[0] == "port_in_use"


def test_transformers_serve_missing_model(tmp_path: Path, served_logs: Path) -> None:
    log = served_logs / "tserve_missing.log"
    rc = run_on_a_free_port(
        lambda port: _transformers_cmd("--port", str(port), str(tmp_path / "no-such-model")),
        log,
        {**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=120,
    )
    assert rc != 0
    assert _top(log)[0] == "missing_file"


def test_a_port_taken_before_the_server_binds_it_is_run_again_on_another(tmp_path: Path) -> None:
    # free_port() closes its socket before the server binds: another process can take the port
    # in between (seen once in CI: vLLM's missing-model run stopped at "Address already in use").
    ports: list[int] = []

    def cmd(port: int) -> list[str]:
        ports.append(port)
        said = "OSError: [Errno 98] Address already in use" if len(ports) == 1 else "no model"
        return [sys.executable, "-c", f"print({said!r})"]

    log = tmp_path / "run.log"
    assert run_on_a_free_port(cmd, log, dict(os.environ), timeout=60) == 0
    assert len(ports) == 2 and log.read_bytes().strip() == b"no model"
