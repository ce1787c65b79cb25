"""`autoglm-console load --image` and `check --images` end to end (issue 16)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from console.worker import demo_vl

CONSOLE = str(Path(sys.executable).parent / "autoglm-console")


def run_console(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CONSOLE, *args], capture_output=True, text=True, check=False,
                          timeout=timeout, env=dict(os.environ))


def test_load_with_two_images_json() -> None:
    a, b = (str(p) for p in demo_vl.probe_images()[:2])
    proc = run_console("load", "demo-vl", "--device", "cpu", "--image", a, "--image", b,
                       "--prompt", "open the settings app", "--max-new-tokens", "5", "--json")
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    loaded = next(e for e in events if e["event"] == "loaded")
    assert loaded["label"] == "demo-vl: random weights"
    generated = next(e for e in events if e["event"] == "generated")
    assert [i["path"] for i in generated["images"]] == [a, b]
    assert generated["image_tokens"] == sum(generated["image_tokens_per_image"]) > 0
    assert len(generated["image_tokens_per_image"]) == 2
    assert sum(1 for e in events if e["event"] == "token") == generated["tokens"]
    # random weights: the AutoGLM reading of the answer is there, and flags it
    answer = generated["autoglm"]
    assert answer["ok"] is False and answer["problems"]
    assert events[-1]["event"] in ("unloaded", "exited")


def test_load_human_output_and_bad_image(tmp_path: Path) -> None:
    phone = str(demo_vl.probe_images()[-1])
    proc = run_console("load", "demo-vl", "--device", "cpu", "--image", phone, "--prompt", "hi",
                       "--max-new-tokens", "2")
    assert proc.returncode == 0, proc.stderr
    assert "images: 1," in proc.stdout and "540x1200" in proc.stdout
    assert "answer malformed:" in proc.stdout or "action:" in proc.stdout
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 10)
    proc = run_console("load", "demo-vl", "--device", "cpu", "--image", str(broken),
                       "--prompt", "hi")
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-2 if "session log" in proc.stderr else -1]
    assert str(broken) in last
    proc = run_console("load", "demo-vl", "--image", "x.png")
    assert proc.returncode == 2 and "--image" in proc.stderr and "--prompt" in proc.stderr


def test_check_images_json_and_text_only(models: dict[str, Path]) -> None:
    run_console("load", "demo-vl", "--device", "cpu")  # built on first use
    base = json.loads(run_console("check", "demo-vl", "--device", "cpu", "--json").stdout)
    proc = run_console("check", "demo-vl", "--device", "cpu", "--images", "4", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    v = data["estimate"]["vision"]
    assert v["images"] == 4 and v["image_tokens"] == 4 * v["tokens_per_image"][0] > 0
    assert v["bytes"] > 0 and v["fit"]["max_images"] >= 1
    assert data["estimate"]["peak_bytes"] > base["estimate"]["peak_bytes"]
    assert base["estimate"].get("vision") is None
    small = json.loads(run_console("check", "demo-vl", "--device", "cpu", "--images", "4",
                                   "--max-pixels", "50000", "--json").stdout)
    assert small["estimate"]["vision"]["image_tokens"] < v["image_tokens"]
    assert small["estimate"]["vision"]["limits"]["max_pixels"] == 50000
    text = run_console("check", "demo-vl", "--device", "cpu", "--images", "2")
    assert "vision" in text.stdout and "images fit" in text.stdout
    refused = run_console("check", str(models["glm4"]), "--device", "cpu", "--images", "1")
    assert refused.returncode == 2
    assert "text-only" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1


def test_check_builds_demo_vl_like_load_does(tmp_path: Path) -> None:
    """`check demo-vl` on a machine that never loaded it builds it first (the same MODEL forms
    as `load`), in a child process: the check itself still imports no torch."""
    env = dict(os.environ, AUTOGLM_CONSOLE_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run([CONSOLE, "check", "demo-vl", "--device", "cpu", "--images", "2",
                           "--json"], capture_output=True, text=True, check=False, timeout=300,
                          env=env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["estimate"]["vision"]["images"] == 2
    assert (tmp_path / "cache" / "demo-vl" / "config.json").is_file()
