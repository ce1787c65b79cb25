"""`autoglm-console check`: exit codes, the report, JSON, hub ids, GPU fit from recorded NVML."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.cli import main
from tests.paths import NVML_FIXTURES, REPO
from tests.unit.preflight_fixtures import (
    BROKEN,
    built,
    make_broken,
    make_hf_cache,
    shards,
    sparse_checkpoint,
)

H100_RECORDING = NVML_FIXTURES / "h100_handmade.json"


@pytest.fixture(autouse=True)
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI has no GPU; a test that wants one points telemetry at a recording."""
    monkeypatch.delenv("AUTOGLM_CONSOLE_NVML_RECORDING", raising=False)


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = main(["check", *argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_whole_model_fits_on_the_host_without_a_gpu(capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = run_json(capsys, str(built("llama_sharded")))
    assert code == 0 and doc["ok"] and doc["exit_code"] == 0
    assert doc["device"] == "cpu"
    assert any("no GPU" in n for n in doc["notes"])
    assert doc["fit"]["verdict"] == "fits"
    assert doc["preflight"]["findings"] == []
    assert doc["estimate"]["weights"]["bytes"] > 0
    assert doc["schema_version"] == 1


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_model_exits_1_with_its_finding(case: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    model, named_file, finding_code = make_broken(case, tmp_path)
    code, doc = run_json(capsys, str(model))
    assert code == 1 and doc["exit_code"] == 1 and not doc["ok"]
    found = [(f["code"], f["file"]) for f in doc["preflight"]["findings"]]
    assert (finding_code, named_file) in found


def test_text_report_names_file_and_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model, shard, _ = make_broken("truncated_shard", tmp_path)
    assert main(["check", str(model)]) == 1
    out = capsys.readouterr().out
    line = next(row for row in out.splitlines() if "error:" in row)
    assert shard in line and "download it again" in line
    assert "result    NOT OK (exit 1)" in out


def test_text_report_of_a_whole_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(built("glm4v")), "--dtype", "bf16", "--context", "256"]) == 0
    out = capsys.readouterr().out
    for expected in ("glm4v", "0 error(s), 0 warning(s)", "bfloat16 · context 256 x batch 1",
                     "KV cache", "activations", "peak", "fit       fits", "result    OK (exit 0)"):
        assert expected in out, out


def test_auto_map_needs_the_opt_in_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model, _, _ = make_broken("auto_map_without_opt_in", tmp_path)
    assert main(["check", str(model), "--json"]) == 1
    capsys.readouterr()
    code, doc = run_json(capsys, str(model), "--trust-remote-code")
    assert code == 0
    assert [f["code"] for f in doc["preflight"]["findings"]] == ["remote_code"]


@pytest.mark.parametrize("argv", [
    ["/no/such/model/dir"],
    ["not-a-hub-id-and-not-a-dir"],
    ["{model}", "--context", "0"],
    ["{model}", "--batch", "0"],
    ["{model}", "--device", "tpu"],
    ["{model}", "--device", "cuda:x"],
])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a.replace("{model}", str(built("llama"))) for a in argv]
    capsys.readouterr()  # building the model may print progress
    assert main(["check", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("autoglm-console check: ") and len(err.strip().splitlines()) == 1


def test_bad_dtype_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["check", str(built("llama")), "--dtype", "int3"])
    assert exc.value.code == 2


def test_cuda_requested_without_a_gpu_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = run_json(capsys, str(built("llama")), "--device", "cuda")
    assert code == 1
    assert doc["device_problem"].startswith("no GPU: cannot check fit on cuda:0")
    assert doc["fit"] is None and doc["estimate"] is not None


def test_fits_on_a_recorded_h100(monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AUTOGLM_CONSOLE_NVML_RECORDING", str(H100_RECORDING))
    code, doc = run_json(capsys, str(built("glm4v")))
    assert code == 0
    assert doc["device"] == "cuda:0"
    gpu = next(m for m in doc["memory_now"] if m["device"] == "cuda:0")
    assert gpu["total_bytes"] == 85520809984
    assert doc["fit"]["verdict"] == "fits"
    assert doc["fit"]["devices"][0]["need_bytes"] == doc["estimate"]["peak_bytes"]


def test_a_gpu_that_is_not_there(monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AUTOGLM_CONSOLE_NVML_RECORDING", str(H100_RECORDING))
    code, doc = run_json(capsys, str(built("llama")), "--device", "cuda:3")
    assert code == 1
    assert doc["device_problem"] == "cuda:3: no such GPU here (1 GPU(s) found)"


def test_will_not_fit_exits_1_with_ways_to_fit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """An 100 GB (sparse) bf16 checkpoint on an 80 GB GPU, checked in fp32."""
    monkeypatch.setenv("AUTOGLM_CONSOLE_NVML_RECORDING", str(H100_RECORDING))
    model = sparse_checkpoint(tmp_path / "huge", 100 * 10**9)
    code, doc = run_json(capsys, str(model), "--dtype", "fp32", "--context", "8192")
    assert code == 1
    assert doc["preflight"]["ok"] is True  # whole, just too big
    assert doc["fit"]["verdict"] == "will_not_fit"
    kinds = [s["kind"] for s in doc["fit"]["suggestions"]]
    assert "dtype" in kinds and "offload" in kinds
    offload = next(s for s in doc["fit"]["suggestions"] if s["kind"] == "offload")
    assert set(offload["values"]["max_memory"]) == {"0", "cpu"}


def test_hub_id_resolves_from_the_local_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    make_hf_cache(built("llama_sharded"), tmp_path / "hub", repo_id="tiny-org/tiny-llama")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    code, doc = run_json(capsys, "tiny-org/tiny-llama")
    assert code == 0, doc["preflight"]["findings"]
    assert doc["model_dir"].endswith("snapshots/0123456789abcdef0123456789abcdef01234567")
    assert doc["preflight"]["hub_cache"] is True
    assert main(["check", "tiny-org/not-cached"]) == 2


def test_verify_hashes_with_progress_on_stderr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    snap = make_hf_cache(built("llama_sharded"), tmp_path / "hub")
    code = main(["check", str(snap), "--verify-hashes"])
    captured = capsys.readouterr()
    assert code == 0
    assert "verify hashes [" in captured.err and "100.0%" in captured.err
    assert "mismatched" in captured.out
    blob = shards(snap)[0].resolve()
    data = bytearray(blob.read_bytes())
    data[-1] ^= 1
    blob.write_bytes(bytes(data))
    code, doc = run_json(capsys, str(snap), "--verify-hashes")
    assert code == 1
    assert [f["code"] for f in doc["preflight"]["findings"]] == ["hash_mismatch"]
    assert doc["preflight"]["hashes"]["mismatched"] == [shards(snap)[0].name]


def test_check_never_imports_the_engine_side_or_textual() -> None:
    code = (
        "import contextlib, io, json, sys\n"
        "from console.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    rc = main(['check', {str(built('glm4v'))!r}, '--json'])\n"
        "print(json.dumps({'rc': rc, 'loaded': [m for m in ('torch', 'transformers', "
        "'safetensors', 'textual') if m in sys.modules]}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"rc": 0, "loaded": []}
