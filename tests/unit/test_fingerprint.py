"""Migration check, app side: weight hashing on real safetensors files and the verdicts.

The behaviour half (greedy tokens and log-probs from the real engine) is tested in
tests/engine/test_fingerprint_engine.py; here the verdict logic gets documents whose steps
are written out, so that each verdict's boundary is pinned.
"""

from __future__ import annotations

import copy
import json
import shutil
import struct
from pathlib import Path
from typing import Any

import pytest

from console.core.fingerprint import (
    DTYPE_TOLERANCE,
    FINGERPRINT_SCHEMA,
    FingerprintError,
    compare,
    render_text,
    validate,
)
from console.host.weighthash import hash_model, hash_safetensors, raw_read, weight_files


def _write_safetensors(path: Path, tensors: dict[str, bytes], pad_header: int = 0) -> None:
    header: dict[str, Any] = {}
    offset = 0
    for name, data in tensors.items():
        header[name] = {"dtype": "U8", "shape": [len(data)], "data_offsets": [offset,
                                                                             offset + len(data)]}
        offset += len(data)
    raw = json.dumps(header).encode() + b" " * pad_header
    with path.open("wb") as fh:
        fh.write(struct.pack("<Q", len(raw)))
        fh.write(raw)
        for data in tensors.values():
            fh.write(data)


def _model(tmp: Path, tensors: dict[str, bytes], tokenizer: str = '{"v": 1}') -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    _write_safetensors(tmp / "model.safetensors", tensors)
    (tmp / "config.json").write_text('{"model_type": "llama"}')
    (tmp / "tokenizer.json").write_text(tokenizer)
    return tmp


def test_tensor_hashes_follow_bytes_across_chunk_boundaries(tmp_path: Path) -> None:
    """Tiny chunks force every tensor across several reads; the hashes must not depend on it."""
    tensors = {"a": bytes(range(256)) * 3, "b": b"", "c": b"\x01" * 1000, "d": b"xyz"}
    path = tmp_path / "m.safetensors"
    _write_safetensors(path, tensors)
    seen: list[int] = []
    small = hash_safetensors(path, buf=bytearray(7), on_bytes=seen.append, mapped=False)
    big = hash_safetensors(path, buf=bytearray(1 << 20), on_bytes=lambda n: None, mapped=False)
    mapped_seen: list[int] = []
    mapped = hash_safetensors(path, buf=bytearray(7), on_bytes=mapped_seen.append, mapped=True)
    assert small.tensors == big.tensors == mapped.tensors  # read pass and mapping agree
    assert small.header_sha256 == mapped.header_sha256
    assert sum(seen) == path.stat().st_size  # every byte read once, header included
    assert sum(mapped_seen) == path.stat().st_size
    assert len(set(small.tensors.values())) == 4  # different bytes, different hashes
    import xxhash

    assert small.tensors["c"] == xxhash.xxh3_128(tensors["c"]).hexdigest()


def test_one_changed_byte_names_its_tensor(tmp_path: Path) -> None:
    tensors = {f"layer.{i}.weight": bytes([i]) * 4096 for i in range(6)}
    a = hash_model(_model(tmp_path / "a", tensors))
    tensors["layer.3.weight"] = bytes([3]) * 4095 + b"\xff"
    b = hash_model(_model(tmp_path / "b", tensors))
    changed = [k for k in a.tensors() if a.tensors()[k] != b.tensors()[k]]
    assert changed == ["layer.3.weight"]
    assert a.files[0].header_sha256 == b.files[0].header_sha256  # same layout, other bytes


def test_a_truncated_file_is_one_error_not_a_traceback(tmp_path: Path) -> None:
    from console.host.weighthash import WeightHashError

    d = _model(tmp_path / "m", {"w": b"\x00" * 1000})
    data = (d / "model.safetensors").read_bytes()
    (d / "model.safetensors").write_bytes(data[:-10])
    with pytest.raises(WeightHashError, match=r"model\.safetensors"):
        hash_model(d)


def test_hashing_reads_as_much_as_the_raw_read(tmp_path: Path) -> None:
    d = _model(tmp_path / "m", {"w": b"\x07" * (3 << 20)})
    h = hash_model(d, chunk_bytes=1 << 20)
    n, _ = raw_read(weight_files(d))
    assert h.bytes_total == n == (d / "model.safetensors").stat().st_size


# ---- verdicts


def _doc(steps: list[list[tuple[int, float, list[tuple[int, float]]]]], *, dtype: str = "float32",
         tensors: dict[str, str] | None = None, tokenizer: str = "t1",
         noise: float | None = 0.0, env: dict[str, Any] | None = None) -> dict[str, Any]:
    probes = []
    for i, probe_steps in enumerate(steps):
        probes.append({"id": f"p{i}", "steps": [
            {"id": tid, "token": f"<{tid}>", "logprob": lp,
             "top": [[f"<{j}>", v, j] for j, v in top]} for tid, lp, top in probe_steps]})
    return validate({
        "schema": FINGERPRINT_SCHEMA,
        "model": {"files": [{"name": "model.safetensors", "tensors": tensors or {"w": "h1"}}],
                  "config": {"config.json": "c1"}, "tokenizer": {"tokenizer.json": tokenizer},
                  "config_fields": {"model_type": "llama"}},
        "env": {"dtype": dtype, "torch": "2.13.0", "attn_implementation": "sdpa",
                **(env or {})},
        "behaviour": {"probe_set": "v1", "noise": noise, "probes": probes},
    })


STEPS = [[(5, -0.1, [(5, -0.1), (7, -2.5)]), (9, -0.3, [(9, -0.3), (2, -1.9)])]]


def test_identical() -> None:
    v = compare(_doc(STEPS), _doc(copy.deepcopy(STEPS)))
    assert (v.verdict, v.exit_code) == ("identical", 0)


def test_small_drift_is_close_and_large_drift_diverges() -> None:
    tol = DTYPE_TOLERANCE["bfloat16"]
    drift = [[(5, -0.1 + tol / 2, [(5, -0.1 + tol / 2), (7, -2.5)]), (9, -0.3, [(9, -0.3)])]]
    v = compare(_doc(STEPS), _doc(drift, dtype="bfloat16"))
    assert (v.verdict, v.exit_code) == ("close", 0)
    assert v.max_logprob_diff == pytest.approx(tol / 2)
    far = [[(5, -0.1 + 3 * tol, [(5, -0.1 + 3 * tol), (7, -2.5)]), (9, -0.3, [(9, -0.3)])]]
    v = compare(_doc(STEPS), _doc(far, dtype="bfloat16", env={"dtype": "bfloat16"}))
    assert (v.verdict, v.exit_code) == ("diverged", 1)
    assert any("dtype" in c for c in v.likely_causes)


def test_a_flip_at_a_near_tie_is_close_and_a_confident_flip_diverges() -> None:
    tie = [[(5, -0.690, [(5, -0.690), (7, -0.691)])]]
    flip = [[(7, -0.690, [(7, -0.690), (5, -0.691)])]]
    v = compare(_doc(tie), _doc(flip))
    assert v.verdict == "close" and v.first_divergence is not None
    assert v.first_divergence.near_tie and v.first_divergence.position == 0
    sure = [[(5, -0.01, [(5, -0.01), (7, -5.0)])]]
    v = compare(_doc(sure), _doc(flip))
    assert v.verdict == "diverged" and not v.first_divergence.near_tie  # type: ignore[union-attr]
    assert "p0" in v.summary and "'<5>' vs '<7>'" in v.summary


def test_weights_and_tokenizer_changes_are_named_first() -> None:
    v = compare(_doc(STEPS, tensors={"w": "h1", "lm_head.weight": "x"}),
                _doc(STEPS, tensors={"w": "h1", "lm_head.weight": "y", "extra": "z"}))
    assert v.verdict == "different_weights" and v.changed_tensors == ("lm_head.weight",)
    assert v.extra_tensors == ("extra",)
    assert any("lm_head.weight" in line for line in render_text(v))
    v = compare(_doc(STEPS), _doc(STEPS, tokenizer="t2"))
    assert v.verdict == "different_tokenizer_or_config" and v.changed_files == ("tokenizer.json",)


def test_the_noise_floor_widens_the_tolerance() -> None:
    d = [[(5, -0.1 + 0.01, [(5, -0.09)]), (9, -0.3, [(9, -0.3)])]]
    assert compare(_doc(STEPS), _doc(d)).verdict == "diverged"  # fp32: 0.01 > 2e-3
    assert compare(_doc(STEPS, noise=0.005), _doc(d)).verdict == "close"  # 3 x noise covers it


def _served(doc: dict[str, Any], texts: list[str] | None = None,
            skip: dict[int, str] | None = None) -> dict[str, Any]:
    """`doc` as a served engine would record it: text only (no log-probabilities) when
    `texts` is given, and the probes in `skip` skipped with that reason."""
    out = copy.deepcopy(doc)
    out["env"].update(engine="transformers", url="http://127.0.0.1:8000")
    for i, probe in enumerate(out["behaviour"]["probes"]):
        if texts is not None:
            probe.update(steps=[], text=texts[i], logprobs=False)
        if skip and i in skip:
            probe.update(steps=[], skipped=skip[i])
    return out


def _decoded(doc: dict[str, Any], texts: list[str]) -> dict[str, Any]:
    for probe, text in zip(doc["behaviour"]["probes"], texts, strict=True):
        probe["decoded"] = text
    return doc


TWO = [STEPS[0], [(3, -0.2, [(3, -0.2), (4, -1.0)])]]


def test_a_side_without_logprobs_is_compared_on_the_greedy_text() -> None:
    a = _decoded(_doc(TWO), ["Paris", "1, 2, 3"])
    v = compare(a, _served(_doc(TWO), texts=["Paris", "1, 2, 3"]))
    assert (v.verdict, v.equivalent, v.text_only_probes) == ("close", True, 2)
    assert v.logprobs_missing == ("B (transformers at http://127.0.0.1:8000)",)
    text = "\n".join(render_text(v))
    assert "B (transformers at http://127.0.0.1:8000) has none" in text
    assert "greedy text only" in v.summary
    # Not called identical: without log-probabilities nothing says they are bit-equal.
    v = compare(a, _served(_doc(TWO), texts=["Paris", "1, 2, 4"]))
    assert v.verdict == "diverged" and v.first_divergence is not None
    d = v.first_divergence
    assert (d.probe, d.unit, d.position, d.token_a, d.token_b) == ("p1", "character", 6, "3",
                                                                   "4")
    assert any("no log-probabilities" in c for c in v.likely_causes)
    # An older fingerprint without the whole decode: its step texts joined.
    assert compare(_doc(TWO), _served(_doc(TWO), texts=["Paris", "x"])).verdict == "diverged"


def test_a_skipped_probe_is_listed_as_not_compared_never_dropped() -> None:
    why = "context too long for the server (maximum context length is 512 tokens)"
    v = compare(_doc(TWO), _served(_doc(TWO), skip={1: why}))
    assert v.verdict == "identical" and v.not_compared == (("p1", f"B skipped it: {why}"),)
    assert "1 probe(s) not compared" in v.summary
    assert f"probe 'p1' not compared: B skipped it: {why}" in render_text(v)
    b = _doc(TWO)
    b["behaviour"]["probes"].append({"id": "screen-tap", "steps": []})
    v = compare(_doc(TWO), b)
    assert v.not_compared == (("screen-tap", "only B has it"),)
    v = compare(_doc(TWO), _served(_doc(TWO), skip={0: why, 1: why}))
    assert (v.verdict, v.exit_code) == ("incomparable", 1)


def test_served_steps_take_vllm_token_ids() -> None:
    from console.commands.fingerprint import served_steps

    choice = {"logprobs": {"content": [
        {"token": "token_id:84", "logprob": -4.2, "top_logprobs": [
            {"token": "token_id:84", "logprob": -4.2}, {"token": "token_id:51", "logprob": -4.5}]},
        {"token": " the", "logprob": -1.0, "top_logprobs": [{"token": " the", "logprob": -1.0}]},
    ]}}
    steps = served_steps(choice)
    assert steps[0] == {"token": "token_id:84", "id": 84, "logprob": -4.2,
                        "top": [["token_id:84", -4.2, 84], ["token_id:51", -4.5, 51]]}
    assert "id" not in steps[1] and steps[1]["top"] == [[" the", -1.0]]


def test_not_a_fingerprint_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FingerprintError, match="schema"):
        validate({"schema": "other"}, "x.json")
    with pytest.raises(FingerprintError, match="not a JSON object"):
        validate([1, 2], "x.json")


def test_compare_command_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from console.cli import main

    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    a.write_text(json.dumps(_doc(STEPS)))
    b.write_text(json.dumps(_doc(STEPS)))
    c.write_text(json.dumps(_doc(STEPS, tensors={"w": "other"})))
    assert main(["compare", str(a), str(b)]) == 0
    assert "identical" in capsys.readouterr().out
    assert main(["compare", str(a), str(c), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == "different_weights" and out["changed_tensors"] == ["w"]
    assert main(["compare", str(a), str(tmp_path / "missing.json")]) == 2
    err = capsys.readouterr().err
    assert "missing.json" in err and err.count("\n") == 1
    (tmp_path / "bad.json").write_text("{not json")
    assert main(["compare", str(a), str(tmp_path / "bad.json")]) == 2


def test_demo_hashes_match_safetensors_own_bytes(tmp_path: Path) -> None:
    """On the real demo checkpoint: each tensor's hash is the hash of the bytes safetensors
    loads."""
    pytest.importorskip("safetensors")
    import xxhash
    from safetensors import safe_open

    from console.worker import demo

    src = demo.ensure()
    d = tmp_path / "demo"
    shutil.copytree(src, d)
    h = hash_model(d)
    import torch

    with safe_open(str(weight_files(d)[0]), framework="pt") as f:
        for name in list(f.keys())[:8]:
            raw = f.get_tensor(name).contiguous().view(torch.uint8).numpy().tobytes()
            assert h.tensors()[name] == xxhash.xxh3_128(raw).hexdigest()
