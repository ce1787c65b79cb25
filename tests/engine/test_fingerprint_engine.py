"""Migration check end to end: `autoglm-console fingerprint` on the real engine process and the
real demo checkpoint (copies of it, damaged on purpose), then `compare`.

Measured tolerances these verdicts rest on (docs/migration.md): on the demo, fp32 sdpa vs
eager differ by < 1e-5 in log-probability (tolerance 2e-3: close); bf16 vs fp32 by ~0.02 with
flips only at near ties (tolerance 0.25: close).
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, check=False)


def _fingerprint(model: str | Path, out: Path, *extra: str) -> dict[str, Any]:
    r = _cli("fingerprint", str(model), "--out", str(out), "--device", "cpu", *extra)
    assert r.returncode == 0, r.stderr
    assert "GB/s" in r.stderr  # the hashing rate is shown
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


def _compare(a: Path, b: Path) -> tuple[int, dict[str, Any]]:
    r = _cli("compare", str(a), str(b), "--json")
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, json.loads(r.stdout)


@pytest.fixture(scope="module")
def demo_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from console.worker import demo

    dst = tmp_path_factory.mktemp("fp") / "demo"
    shutil.copytree(demo.ensure(), dst)
    return dst


@pytest.fixture(scope="module")
def reference(demo_copy: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fp") / "ref.json"
    _fingerprint(demo_copy, out, "--dtype", "fp32")
    return out


def test_the_same_model_twice_is_identical(reference: Path, demo_copy: Path,
                                           tmp_path: Path) -> None:
    doc = json.loads(reference.read_text())
    assert doc["env"]["dtype"] == "float32" and doc["env"]["torch"]
    assert doc["behaviour"]["noise"] == 0.0  # CPU fp32 is deterministic in one process
    assert len(doc["behaviour"]["probes"]) >= 5
    steps = doc["behaviour"]["probes"][0]["steps"]
    assert steps and len(steps[0]["top"]) == 5 and steps[0]["top"][0][1] >= steps[0]["top"][1][1]
    again = tmp_path / "again.json"
    _fingerprint(demo_copy, again, "--dtype", "fp32")
    code, verdict = _compare(reference, again)
    assert (code, verdict["verdict"]) == (0, "identical")


def _perturb(model_dir: Path, tensor: str) -> None:
    path = next(model_dir.glob("*.safetensors"))
    data = bytearray(path.read_bytes())
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    begin, end = header[tensor]["data_offsets"]
    start = 8 + n + begin
    for i in range(start, min(start + 64, 8 + n + end)):
        data[i] ^= 0x40  # flip a bit of the first bytes: a damaged copy, same size
    path.write_bytes(bytes(data))


def test_one_perturbed_tensor_is_named(reference: Path, demo_copy: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged"
    shutil.copytree(demo_copy, damaged)
    name = "model.layers.0.mlp.down_proj.weight"
    _perturb(damaged, name)
    out = tmp_path / "damaged.json"
    _fingerprint(damaged, out, "--dtype", "fp32")
    code, verdict = _compare(reference, out)
    assert code == 1 and verdict["verdict"] == "different_weights"
    assert verdict["changed_tensors"] == [name]
    text = _cli("compare", str(reference), str(out)).stdout
    assert f"changed tensor: {name}" in text


def test_a_changed_tokenizer_is_named(reference: Path, demo_copy: Path, tmp_path: Path) -> None:
    other = tmp_path / "tok"
    shutil.copytree(demo_copy, other)
    cfg_path = other / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["model_max_length"] = 1234  # a tokenizer setting only: weights untouched
    cfg_path.write_text(json.dumps(cfg))
    out = tmp_path / "tok.json"
    _fingerprint(other, out, "--dtype", "fp32")
    code, verdict = _compare(reference, out)
    assert code == 1 and verdict["verdict"] == "different_tokenizer_or_config"
    assert verdict["changed_files"] == ["tokenizer_config.json"]


@pytest.mark.parametrize(("flags", "changed"), [
    (("--dtype", "bf16"), "dtype"),
    (("--dtype", "fp32", "--attn", "eager"), "attn_implementation"),
])
def test_numeric_variants_are_close_within_measured_tolerances(
        reference: Path, demo_copy: Path, tmp_path: Path, flags: tuple[str, ...],
        changed: str) -> None:
    out = tmp_path / "variant.json"
    _fingerprint(demo_copy, out, *flags)
    code, verdict = _compare(reference, out)
    assert verdict["verdict"] == "close", verdict
    assert code == 0
    assert changed in verdict["env_changes"]
    assert verdict["max_logprob_diff"] <= verdict["tolerance"]
    if changed == "attn_implementation":
        assert verdict["max_logprob_diff"] < 1e-4  # fp32 kernels: far inside 2e-3
