"""`autoglm-console load` end to end: the installed console script in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CONSOLE = str(Path(sys.executable).parent / "autoglm-console")


def run_console(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CONSOLE, "load", *args], capture_output=True, text=True,
                          check=False, timeout=timeout, env=dict(os.environ))


def test_json_stream_load_generate_unload(models: dict[str, Path]) -> None:
    proc = run_console(str(models["glm4"]), "--device", "cpu", "--prompt", "hello",
                       "--max-new-tokens", "6", "--json")
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    names = [e["event"] for e in events]
    for e in events:
        assert isinstance(e["ts"], float)
    for needed in ("progress", "loaded", "token", "generated", "unloaded"):
        assert needed in names, names
    assert names.index("loaded") < names.index("generated") < names.index("unloaded")
    loaded = next(e for e in events if e["event"] == "loaded")
    assert loaded["load_s"] > 0 and "rss_bytes" in loaded["memory"]
    generated = next(e for e in events if e["event"] == "generated")
    assert generated["tokens"] == 6 or generated["stopped"] == "eos"
    assert generated["ttft_s"] > 0 and generated["tokens_per_s"] > 0
    assert names.count("token") == generated["tokens"]
    unloaded = next(e for e in events if e["event"] == "unloaded")
    assert isinstance(unloaded["freed_bytes"], int)
    assert "Loading weights" in proc.stderr  # the engine's raw output goes to stderr


def test_demo_model_human_output() -> None:
    proc = run_console("demo", "--device", "cpu", "--prompt", "hi", "--max-new-tokens", "4")
    assert proc.returncode == 0, proc.stderr
    assert "demo: random weights" in proc.stdout
    assert "generated 4 tokens" in proc.stdout
    assert "unloaded: freed" in proc.stdout
    demo_dir = Path(os.environ["AUTOGLM_CONSOLE_CACHE_DIR"]) / "demo"
    assert (demo_dir / "config.json").is_file()
    size = sum(p.stat().st_size for p in demo_dir.glob("*.safetensors"))
    assert 20e6 < size < 60e6


def test_error_exits_1_with_last_line(tmp_path: Path) -> None:
    missing = tmp_path / "nothing-here"
    proc = run_console(str(missing), "--device", "cpu", "--json")
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert str(missing) in last and "no such directory" in last
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert events[-1]["event"] == "error"


def test_remote_code_refused_in_cli(models: dict[str, Path]) -> None:
    proc = run_console(str(models["remote"]), "--device", "cpu")
    assert proc.returncode == 1
    assert "--trust-remote-code" in proc.stderr.strip().splitlines()[-2]


def test_usage_errors_exit_2() -> None:
    proc = run_console("demo", "--device", "auto", "--max-memory", "0=lots")
    assert proc.returncode == 2
    assert "--max-memory" in proc.stderr and "0=20GiB" in proc.stderr
    proc = run_console("demo", "--device", "gpu7")
    assert proc.returncode == 2 and "--device" in proc.stderr
