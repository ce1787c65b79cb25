"""Table tests: every fixture log (really triggered, or synthesized from library sources) and
every dev log from public issue threads gets the cause its folder / thread names."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from console.core.diagnose import CAUSE_IDS, CAUSES, diagnose_text
from tests.fixtures.logs import generate
from tests.fixtures.logs.corpus import (
    LOGS_DIR,
    NONE_FOLDER,
    RECORDED_MARK,
    SYNTH_MARK,
    Case,
    dev_cases,
    fixture_cases,
)

# The ids of ../shared/rootcauses.md (checked against that file too when it is beside the repo).
ROOT_CAUSE_IDS = (
    "cuda_oom", "host_oom", "cuda_unavailable", "cuda_driver_mismatch", "missing_file",
    "corrupt_checkpoint", "size_mismatch", "missing_or_unexpected_keys", "version_mismatch",
    "missing_dependency", "remote_code", "dtype_unsupported", "device_mismatch",
    "quantization_error", "tokenizer_error", "permission_or_disk", "port_in_use",
    "nccl_distributed", "flash_attention", "numeric_overflow", "context_too_long",
)
SHARED_ROOTCAUSES = Path(__file__).resolve().parents[3] / "shared" / "rootcauses.md"

FIXTURES = fixture_cases()
DEV = dev_cases()


def test_cause_ids_are_exactly_the_root_cause_ids() -> None:
    assert set(CAUSE_IDS) == set(ROOT_CAUSE_IDS)
    for cause_id, info in CAUSES.items():
        assert info.id == cause_id and info.title and info.explanation and info.fixes


@pytest.mark.skipif(not SHARED_ROOTCAUSES.exists(), reason="../shared is not beside the repo")
def test_cause_ids_match_shared_rootcauses() -> None:
    ids = set(re.findall(r"^\| `([a-z_]+)` \|", SHARED_ROOTCAUSES.read_text(), re.M))
    assert ids == set(ROOT_CAUSE_IDS)


def test_every_cause_has_at_least_two_fixtures() -> None:
    counts = dict.fromkeys(ROOT_CAUSE_IDS, 0)
    for case in FIXTURES:
        for cause in case.expected:
            counts[cause] += 1
    assert all(n >= 2 for n in counts.values()), counts
    assert sum(1 for c in FIXTURES if not c.expected) >= 3  # logs that must give no cause


def test_fixture_folders_are_cause_ids() -> None:
    folders = {p.name for p in LOGS_DIR.iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert folders <= set(ROOT_CAUSE_IDS) | {NONE_FOLDER}


def test_generated_fixtures_match_the_generator() -> None:
    """Every log without a header line comes from a scenario of generate.py, and back; the
    others say where they come from, in one of two spellings."""
    scenarios = {f"{s.cause}/{s.name}" for s in generate.SCENARIOS}
    triggered = {c.name for c in FIXTURES if c.origin == "triggered"}
    assert triggered == scenarios
    for path in LOGS_DIR.glob("*/*.log"):
        head = path.read_bytes()[:200].decode("utf-8", "replace")
        if head.startswith("#"):
            assert head.startswith((SYNTH_MARK, RECORDED_MARK)), path
    assert {c.origin for c in FIXTURES} == {"triggered", "recorded", "synthesized"}


@pytest.mark.parametrize("case", FIXTURES, ids=[c.name for c in FIXTURES])
def test_fixture_log_top_cause(case: Case) -> None:
    causes = diagnose_text(case.text, case.context)
    ids = [c.id for c in causes]
    if not case.expected:
        assert ids == [], f"{case.name} must give no cause, got {ids}"
    else:
        assert ids[:1] == list(case.expected), (
            f"{case.name}: {[(c.id, c.confidence) for c in causes]}")
        top = causes[0]
        assert top.evidence and top.fixes and top.title
        assert 0.3 <= top.confidence <= 0.99


@pytest.mark.parametrize("case", DEV, ids=[c.name for c in DEV])
def test_dev_log_cause_in_top_three(case: Case) -> None:
    ids = [c.id for c in diagnose_text(case.text)]
    assert case.expected[0] in ids[:3], f"{case.name}: expected {case.expected[0]}, got {ids}"


def test_dev_set_top1_accuracy() -> None:
    hits = sum(1 for case in DEV
               if [c.id for c in diagnose_text(case.text)][:1] == list(case.expected))
    assert hits / len(DEV) >= 0.9, f"top-1 {hits}/{len(DEV)}"


def test_causes_are_ranked_and_distinct() -> None:
    for case in FIXTURES + DEV:
        causes = diagnose_text(case.text, case.context)
        confidences = [c.confidence for c in causes]
        assert confidences == sorted(confidences, reverse=True), case.name
        assert len({c.id for c in causes}) == len(causes), case.name


def test_surface_exception_is_not_the_cause() -> None:
    """Traps: what surfaced is a consequence; the rules look at the whole chain and context."""
    expectations = {
        # an import of transformers fails with RuntimeError; the chain says flash-attn's binary
        "flash_attention/undefined_symbol": "RuntimeError",
        # a DataLoader 'exited unexpectedly'; the worker died of a bus error in /dev/shm
        "permission_or_disk/dataloader_shm_bus_error": "RuntimeError",
        # a GPTQ checkpoint loaded as a plain model: the report lists MISSING/UNEXPECTED keys
        "quantization_error/gptq_checkpoint_plain_loader": None,
        # torchrun's ChildFailedError and rank 0's gloo 'Connection closed by peer' come last;
        # rank 1's size mismatch is the cause
        "size_mismatch/torchrun_rank1_size_mismatch":
            "torch.distributed.elastic.multiprocessing.errors.ChildFailedError",
        # rank 0's gloo error and torchrun's ChildFailedError; its report says the root-cause
        # rank exited with -9 (SIGKILL)
        "host_oom/torchrun_rank_killed": None,
        # a device-side assert; the assertion before it is an embedding index out of range
        "context_too_long/device_side_assert_position_index": "RuntimeError",
        # a device-side assert; the assertion is the sampler's inf/nan check
        "numeric_overflow/cuda_multinomial_assert": "RuntimeError",
    }
    by_name = {c.name: c for c in FIXTURES}
    for name, surface_type in expectations.items():
        case = by_name[name]
        causes = diagnose_text(case.text, case.context)
        assert causes[0].id == case.expected[0], name
        if surface_type is not None:
            assert dict(causes[0].facts).get("surfaced as", "").startswith(surface_type) or any(
                surface_type in e for e in causes[0].evidence), name


def test_the_name_lists_keep_every_release_they_were_written_with(tmp_path: Path) -> None:
    """generate.py --model-types adds the installed transformers' names to what the list holds:
    a class transformers 5 dropped (MarianTokenizer) stays a transformers name."""
    path = tmp_path / "tokenizer_classes.json"
    path.write_text(json.dumps({"source": "transformers 5.17.0 TOKENIZER_MAPPING_NAMES",
                                "tokenizer_classes": ["BertTokenizer", "LlamaTokenizer"]}))
    generate._write_names(path, "tokenizer_classes", {"BertTokenizer", "MarianTokenizer"},
                          "4.57.1", "TOKENIZER_MAPPING_NAMES")
    written = json.loads(path.read_text())
    assert written["releases"] == ["4.57.1", "5.17.0"]
    assert written["tokenizer_classes"] == ["BertTokenizer", "LlamaTokenizer", "MarianTokenizer"]
    generate._write_names(path, "tokenizer_classes", {"GemmaTokenizer"}, "5.20.0", "X")
    again = json.loads(path.read_text())
    assert again["releases"] == ["4.57.1", "5.17.0", "5.20.0"]
    assert "MarianTokenizer" in again["tokenizer_classes"]
    assert "GemmaTokenizer" in again["tokenizer_classes"]


def test_the_shipped_name_lists_hold_the_last_transformers_4_names() -> None:
    lists = Path(generate.__file__).resolve().parents[3] / "console" / "core" / "diagnose"
    for file, key, name in (("tokenizer_classes.json", "tokenizer_classes", "MarianTokenizer"),
                            ("model_types.json", "model_types", "transfo-xl"),
                            ("model_classes.json", "model_classes", "TFBertModel")):
        data = json.loads((lists / file).read_text())
        assert "4.57.1" in data["releases"] and name in data[key], file
