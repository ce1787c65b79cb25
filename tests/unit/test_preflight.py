"""Pre-flight checks on real tiny models and real broken files made here."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from console.core import preflight
from console.core.preflight import check_model_dir, read_safetensors_header, verify_hashes
from tests.paths import REPO
from tests.unit.preflight_fixtures import (
    BROKEN,
    CONFIG_ERROR_AT,
    built,
    copy_of,
    make_broken,
    make_hf_cache,
    shards,
    sparse_checkpoint,
)

ROOT_CAUSES = {
    "cuda_oom", "host_oom", "cuda_unavailable", "cuda_driver_mismatch", "missing_file",
    "corrupt_checkpoint", "size_mismatch", "missing_or_unexpected_keys", "version_mismatch",
    "missing_dependency", "remote_code", "dtype_unsupported", "device_mismatch",
    "quantization_error", "tokenizer_error", "permission_or_disk", "port_in_use",
    "nccl_distributed", "flash_attention", "numeric_overflow", "context_too_long",
}


@pytest.mark.parametrize("name", ["llama", "llama_sharded", "gpt2_tied", "glm4v"])
def test_whole_models_have_no_findings(name: str) -> None:
    report = check_model_dir(built(name))
    assert report.ok, [f.line() for f in report.findings]
    assert report.findings == ()
    assert report.weight_format == "safetensors"
    assert report.config is not None and report.config["model_type"]
    # every tensor of every file, read from the headers alone
    from safetensors import safe_open

    expected = {}
    for f in sorted(built(name).glob("*.safetensors")):
        with safe_open(str(f), framework="pt") as st:
            for key in st.keys():  # noqa: SIM118 - safe_open is not a mapping
                sl = st.get_slice(key)
                expected[key] = tuple(sl.get_shape())
    assert {t.name: t.shape for t in report.tensors} == expected
    assert report.checkpoint_bytes == sum(f.stat().st_size
                                          for f in built(name).glob("*.safetensors"))


def test_sharded_model_really_has_an_index() -> None:
    model = built("llama_sharded")
    assert (model / "model.safetensors.index.json").exists()
    assert len(shards(model)) >= 4


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_each_broken_file_gives_its_finding(case: str, tmp_path: Path) -> None:
    model, named_file, code = make_broken(case, tmp_path)
    report = check_model_dir(model)
    assert not report.ok
    codes = {f.code for f in report.findings}
    assert code in codes, [f.line() for f in report.findings]
    finding = next(f for f in report.findings if f.code == code)
    assert finding.severity == "error"
    assert finding.file == named_file
    assert finding.fix, "every error says what to do"
    assert finding.cause in ROOT_CAUSES
    for f in report.errors:
        assert f.fix and f.cause in ROOT_CAUSES, f


def test_config_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    model, _, _ = make_broken("config_syntax_error", tmp_path)
    finding = next(f for f in check_model_dir(model).findings if f.code == "json_invalid")
    assert CONFIG_ERROR_AT in finding.problem
    assert "line 3" in finding.fix


def test_truncated_shard_names_the_tensor_and_the_sizes(tmp_path: Path) -> None:
    model, shard, _ = make_broken("truncated_shard", tmp_path)
    finding = next(f for f in check_model_dir(model).findings if f.code == "safetensors_offsets")
    assert "past the" in finding.problem and "data region" in finding.problem
    assert shard.endswith(".safetensors")


def test_lfs_pointer_reports_the_real_size(tmp_path: Path) -> None:
    model, shard, _ = make_broken("lfs_pointer", tmp_path)
    original = (built("llama_sharded") / shard).stat().st_size
    finding = next(f for f in check_model_dir(model).findings if f.code == "lfs_pointer")
    assert f"({original} bytes)" in finding.problem
    assert "git lfs pull" in finding.fix


def test_unknown_model_type_with_a_known_first_version(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A transformers too old for glm4v: the fix names the version that added it."""
    known = preflight.known_model_types()
    assert known is not None and "glm4v" in known
    monkeypatch.setattr(preflight, "known_model_types", lambda: known - {"glm4v"})
    model = copy_of("glm4v", tmp_path)
    finding = next(f for f in check_model_dir(model).findings if f.code == "unknown_model_type")
    assert "transformers >= 4.53.0" in finding.fix
    assert finding.cause == "version_mismatch"


def test_unknown_model_type_without_a_known_version(tmp_path: Path) -> None:
    model, _, _ = make_broken("unknown_model_type", tmp_path)
    finding = next(f for f in check_model_dir(model).findings if f.code == "unknown_model_type")
    assert "'nosuchmodel'" in finding.problem and "version unknown" in finding.fix


def test_auto_map_with_opt_in_is_allowed_with_a_warning(tmp_path: Path) -> None:
    model, _, _ = make_broken("auto_map_without_opt_in", tmp_path)
    report = check_model_dir(model, trust_remote_code=True)
    assert report.ok, [f.line() for f in report.findings]
    assert [f.code for f in report.warnings] == ["remote_code"]


def test_auto_map_on_a_builtin_model_type_is_information(tmp_path: Path) -> None:
    model = copy_of("llama", tmp_path)
    cfg = json.loads((model / "config.json").read_text())
    cfg["auto_map"] = {"AutoModelForCausalLM": "modeling_x.XForCausalLM"}
    (model / "config.json").write_text(json.dumps(cfg))
    report = check_model_dir(model)
    assert report.ok
    assert [f.code for f in report.findings] == ["remote_code_ignored"]


def test_bin_pickle_is_flagged_and_loads_only_with_weights_only(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    model = copy_of("llama", tmp_path)
    state = load_file(str(model / "model.safetensors"))
    (model / "model.safetensors").unlink()
    torch.save(state, model / "pytorch_model.bin")
    report = check_model_dir(model)
    assert report.ok  # flagged, not broken
    assert report.weight_format == "pickle"
    flagged = next(f for f in report.findings if f.code == "pickle_weights")
    assert flagged.severity == "warning" and "weights_only" in flagged.problem
    assert report.weight_files == ("pytorch_model.bin",)


def test_unreferenced_shard_is_a_warning(tmp_path: Path) -> None:
    model = copy_of("llama_sharded", tmp_path)
    (model / "model-00009-of-00009.safetensors").write_bytes(shards(model)[0].read_bytes())
    report = check_model_dir(model)
    assert report.ok
    assert [(f.code, f.file) for f in report.warnings] == [
        ("unreferenced_shard", "model-00009-of-00009.safetensors")]


def test_same_tensor_in_two_unindexed_files_is_an_error(tmp_path: Path) -> None:
    model = copy_of("llama", tmp_path)
    (model / "model.safetensors").rename(model / "a.safetensors")
    (model / "b.safetensors").write_bytes((model / "a.safetensors").read_bytes())
    report = check_model_dir(model)
    assert "duplicate_tensor" in {f.code for f in report.errors}
    assert "nonstandard_weights" in {f.code for f in report.warnings}


def test_other_files_beside_model_safetensors_are_not_counted(tmp_path: Path) -> None:
    model = copy_of("llama", tmp_path)
    (model / "consolidated.safetensors").write_bytes((model / "model.safetensors").read_bytes())
    report = check_model_dir(model)
    assert report.ok
    assert [f.code for f in report.findings] == ["safetensors_ignored"]
    assert report.weight_files == ("model.safetensors",)
    assert len(report.tensors) == len(check_model_dir(built("llama")).tensors)


def test_sentencepiece_needed_when_there_is_no_tokenizer_json(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = copy_of("llama", tmp_path)
    (model / "tokenizer.json").unlink()
    (model / "tokenizer.model").write_bytes(b"\x0a\x05hello")
    monkeypatch.setattr(preflight, "_installed", lambda module: module not in (
        "sentencepiece", "google.protobuf"))
    report = check_model_dir(model)
    codes = {(f.code, f.severity) for f in report.findings}
    assert ("needs_sentencepiece", "error") in codes
    assert ("needs_protobuf", "warning") in codes
    monkeypatch.setattr(preflight, "_installed", lambda module: True)
    assert check_model_dir(model).ok


def test_tiktoken_files_need_tiktoken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = copy_of("llama", tmp_path)
    (model / "tokenizer.json").unlink()
    (model / "qwen.tiktoken").write_text("aGVsbG8= 0\n")
    monkeypatch.setattr(preflight, "_installed", lambda module: module != "tiktoken")
    finding = next(f for f in check_model_dir(model).errors if f.code == "needs_tiktoken")
    assert finding.file == "qwen.tiktoken" and "pip install tiktoken" in finding.fix


def test_model_types_read_without_importing_transformers_match_its_mapping() -> None:
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    # the function prefers an already imported module: read the source file instead
    module = sys.modules.pop("transformers.models.auto.configuration_auto")
    try:
        from_source = preflight.known_model_types()
    finally:
        sys.modules["transformers.models.auto.configuration_auto"] = module
    assert from_source == frozenset(CONFIG_MAPPING_NAMES)
    assert {"llama", "glm4v", "glm", "glm4", "gpt2"} <= from_source


def test_the_version_table_is_consistent_with_the_installed_transformers() -> None:
    """Every model_type the table dates is one this transformers (5.17) knows."""
    known = preflight.known_model_types()
    assert known is not None
    assert set(preflight.MODEL_TYPE_SINCE) <= known


def _run_isolated(code: str, *, no_site: bool = False) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    cmd = [sys.executable, *(["-S"] if no_site else []), "-c",
           f"import sys; sys.path.insert(0, {str(REPO)!r})\n" + code]
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_checks_never_import_torch_or_transformers() -> None:
    found = _run_isolated(
        "import json\nfrom console.core.preflight import check_model_dir\n"
        f"r = check_model_dir({str(built('glm4v'))!r})\n"
        "print(json.dumps({'ok': r.ok, 'loaded': [m for m in ('torch', 'transformers', "
        "'safetensors', 'textual') if m in sys.modules]}))\n")
    assert found == {"ok": True, "loaded": []}


def test_without_transformers_installed_model_type_is_not_checked() -> None:
    """python -S: no site-packages at all, so transformers is really absent."""
    found = _run_isolated(
        "import json\nfrom console.core.preflight import check_model_dir\n"
        f"r = check_model_dir({str(built('llama'))!r})\n"
        "print(json.dumps({'ok': r.ok, 'version': r.transformers_version,\n"
        "                  'codes': [f.code for f in r.findings]}))\n", no_site=True)
    assert found == {"ok": True, "version": None, "codes": ["transformers_absent"]}


def test_header_reader_never_reads_tensor_data(tmp_path: Path) -> None:
    """A 20 GB checkpoint made sparse: the header is all that exists on disk, and it is whole."""
    model = sparse_checkpoint(tmp_path / "big", 20 * 10**9)
    path = model / "model.safetensors"
    assert path.stat().st_size > 19 * 10**9
    assert path.stat().st_blocks * 512 < 10**7  # nothing but the header was written
    header, findings = read_safetensors_header(path)
    assert findings == [] and header is not None
    assert len(header.tensors) == 200
    report = check_model_dir(model)
    assert report.ok, [f.line() for f in report.findings]
    assert report.checkpoint_bytes == path.stat().st_size


def test_a_file_shorter_than_the_length_field(tmp_path: Path) -> None:
    path = tmp_path / "x.safetensors"
    path.write_bytes(b"\x01\x02\x03")
    _, findings = read_safetensors_header(path)
    assert [f.code for f in findings] == ["safetensors_truncated"]
    path.write_bytes(struct.pack("<Q", 200_000_000) + b"{}" * 10)
    _, findings = read_safetensors_header(path)
    assert [f.code for f in findings] == ["safetensors_header_length"]
    assert "100 MB" in findings[0].problem


def test_not_a_directory(tmp_path: Path) -> None:
    report = check_model_dir(tmp_path / "nope")
    assert [f.code for f in report.errors] == ["not_a_directory"]


# ---------------------------------------------------------------------------------------------
# --verify-hashes


def test_verify_hashes_in_an_hf_cache(tmp_path: Path) -> None:
    snap = make_hf_cache(built("llama_sharded"), tmp_path / "hub")
    report = check_model_dir(snap)
    assert report.ok and report.hub_cache
    seen: list[tuple[int, int, str]] = []
    hashes, findings = verify_hashes(snap, progress=lambda d, t, f: seen.append((d, t, f)))
    assert hashes is not None and findings == []
    assert hashes.mismatched == () and hashes.unverifiable == ()
    files = sorted(p.name for p in snap.iterdir())
    assert hashes.files == len(files)
    assert hashes.bytes == sum((snap / f).stat().st_size for f in files)
    assert seen[-1] == (hashes.bytes, hashes.bytes, "")
    assert any(f.endswith(".safetensors") for _, _, f in seen)


def test_verify_hashes_catches_a_flipped_byte(tmp_path: Path) -> None:
    snap = make_hf_cache(built("llama_sharded"), tmp_path / "hub")
    shard = shards(snap)[1]
    blob = shard.resolve()
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF  # inside tensor data: the header checks cannot see it
    blob.write_bytes(bytes(data))
    assert check_model_dir(snap).ok
    hashes, findings = verify_hashes(snap)
    assert hashes is not None and hashes.mismatched == (shard.name,)
    assert [(f.code, f.file, f.severity) for f in findings] == [
        ("hash_mismatch", shard.name, "error")]
    assert str(blob) in findings[0].fix


def test_verify_hashes_outside_the_cache_says_so(tmp_path: Path) -> None:
    hashes, findings = verify_hashes(built("llama"))
    assert hashes is None
    assert [f.code for f in findings] == ["hashes_unavailable"]


def test_report_is_json_serialisable(tmp_path: Path) -> None:
    model, _, _ = make_broken("truncated_shard", tmp_path)
    data = json.loads(json.dumps(check_model_dir(model).to_json_dict()))
    assert data["ok"] is False
    assert {"severity", "code", "file", "problem", "fix", "cause"} <= set(data["findings"][0])
    assert data["tensor_count"] > 0
