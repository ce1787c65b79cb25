"""The migration check across engines (issue 18): the demo model fingerprinted in the
console's own engine process (fp32) and through the OpenAI API of a real `transformers serve`
and a real vLLM (CPU build) serving the same files, then compared.

Measured on the 2-core dev box (docs/migration.md): `transformers serve` 5.17 ignores
`logprobs`, so its probes are compared on the greedy text: all five the same text (close).
vLLM 0.32 CPU in bf16 (the session fixture) against the in-process fp32: close, the largest
log-probability difference ~0.02 within the bf16 tolerance, with flips only at near ties; its
--max-model-len 512 is shorter than the long-context probe, which is listed as not compared.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.served.conftest import Server

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=900, check=False)


@pytest.fixture(scope="module")
def in_process(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fp") / "local.json"
    r = _cli("fingerprint", str(demo_dir), "--device", "cpu", "--dtype", "fp32", "--out",
             str(out))
    assert r.returncode == 0, r.stderr
    return out


def _served(server: Server, demo_dir: Path, engine: str, out: Path,
            *extra: str) -> subprocess.CompletedProcess[str]:
    assert server.engine.watch.running, "the session's server was stopped by an earlier test"
    r = _cli("fingerprint", str(demo_dir), "--engine", engine, "--url", server.engine.url,
             "--out", str(out), *extra)
    assert r.returncode == 0, r.stderr
    return r


def _compare(a: Path, b: Path) -> tuple[int, dict[str, Any], str]:
    r = _cli("compare", str(a), str(b), "--json")
    assert r.returncode in (0, 1), r.stderr
    text = _cli("compare", str(a), str(b)).stdout
    return r.returncode, json.loads(r.stdout), text


def test_in_process_vs_transformers_serve_on_the_greedy_text(
        transformers_server: Server, demo_dir: Path, in_process: Path, tmp_path: Path) -> None:
    out = tmp_path / "tf.json"
    r = _served(transformers_server, demo_dir, "transformers", out)
    assert "no log-probabilities" in r.stderr  # said, not silently recorded
    doc = json.loads(out.read_text())
    assert doc["env"]["logprobs"] is False and doc["env"]["engine"] == "transformers"
    assert doc["env"]["served_model"] == str(demo_dir)  # what transformers serve loads
    probes = doc["behaviour"]["probes"]
    assert len(probes) == 5 and all(p["logprobs"] is False and p["text"] for p in probes)
    code, verdict, text = _compare(in_process, out)
    assert (code, verdict["verdict"]) == (0, "close"), text
    assert verdict["text_only_probes"] == 5 and verdict["divergences"] == 0
    assert verdict["not_compared"] == []
    assert len(verdict["logprobs_missing"]) == 1
    assert verdict["logprobs_missing"][0].startswith("B (transformers at http://")
    assert "B (transformers at http://" in text and "has none" in text


def test_in_process_vs_vllm_with_logprobs(vllm_server: Server, demo_dir: Path,
                                          in_process: Path, tmp_path: Path) -> None:
    out = tmp_path / "vllm.json"
    _served(vllm_server, demo_dir, "vllm", out, "--dtype", "bf16")  # how the fixture serves it
    doc = json.loads(out.read_text())
    assert doc["env"]["dtype"] == "bfloat16" and doc["env"]["engine_version"]
    by_id = {p["id"]: p for p in doc["behaviour"]["probes"]}
    # The long-context probe is longer than the fixture's --max-model-len 512: marked.
    assert "context too long" in by_id["long-context"]["skipped"]
    steps = by_id["short-count"]["steps"]
    assert steps and all(isinstance(s["id"], int) for s in steps)  # vLLM's token ids
    assert len(steps[0]["top"]) == 5
    code, verdict, text = _compare(in_process, out)
    assert (code, verdict["verdict"]) == (0, "close"), text
    assert verdict["logprobs_missing"] == [] and verdict["text_only_probes"] == 0
    assert [p for p, _ in verdict["not_compared"]] == ["long-context"]
    assert "probe 'long-context' not compared: B skipped it: context too long" in text
    assert verdict["steps_compared"] >= 40
    # bf16 against fp32: not bit-equal, and within the bf16 tolerance.
    assert 0 < verdict["max_logprob_diff"] <= verdict["tolerance"] == 0.25
    assert "dtype" in verdict["env_changes"] and "engine" in verdict["env_changes"]
