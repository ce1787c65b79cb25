"""Causes the engine states in its own events, and one card per incident."""

from __future__ import annotations

from typing import Any

import pytest

from console.core.causetext import ErrorRecord, format_record, live_facts
from console.core.diagnose import DiagnosedError, DiagnosisContext, diagnose_text
from console.core.doctor_judge import Check, Report
from console.core.engine_causes import CardDeduper, EngineCauses
from tests.ui.fakes import h100_at


def error(error_type: str, message: str = "it failed", hint: str = "", id: int = 1) -> dict[str,
                                                                                            Any]:
    return {"v": 1, "event": "error", "ts": 1.0, "id": id, "command": "load",
            "error_type": error_type, "message": message, "hint": hint, "traceback": ""}


@pytest.mark.parametrize(("error_type", "cause_id"), [
    ("ModelNotFound", "missing_file"),
    ("NoWeights", "missing_file"),
    ("UnknownArchitecture", "version_mismatch"),
    ("RemoteCodeRefused", "remote_code"),
    ("PreflightFailed", "corrupt_checkpoint"),
])
def test_error_types_that_name_their_cause(error_type: str, cause_id: str) -> None:
    found = EngineCauses().feed(error(error_type, "x: no such directory", "check the path"))
    assert found is not None
    cause = found.causes[0]
    assert cause.id == cause_id and cause.confidence >= 0.9
    assert cause.evidence[0] == f"{error_type}: x: no such directory"
    assert cause.fixes[0] == "check the path"


@pytest.mark.parametrize("error_type", ["Busy", "NotLoaded", "BadCommand", "LoadAborted",
                                        "OutOfMemoryError", "RuntimeError"])
def test_errors_without_a_stated_cause_are_left_to_the_log(error_type: str) -> None:
    assert EngineCauses().feed(error(error_type)) is None


def test_preflight_findings_name_the_cause_of_a_refusal() -> None:
    causes = EngineCauses()
    assert causes.feed({"event": "preflight", "id": 7, "ok": False, "verdict": None, "findings": [
        {"severity": "warning", "code": "pickle_weights", "file": "a.bin", "problem": "pickle",
         "fix": "", "cause": ""},
        {"severity": "error", "code": "missing_shard", "file": "model-00002.safetensors",
         "problem": "listed in the index but not on disk", "fix": "download it",
         "cause": "missing_file"},
    ]}) is None
    found = causes.feed(error("PreflightFailed", "pre-flight: error: ...", id=7))
    assert found is not None and found.causes[0].id == "missing_file"
    evidence = "pre-flight: model-00002.safetensors: listed in the index but not on disk"
    assert evidence in found.causes[0].evidence
    # The findings belong to that load only.
    assert causes.feed(error("PreflightFailed",
                             id=8)).causes[0].id == "corrupt_checkpoint"  # type: ignore[union-attr]


def test_will_not_fit_and_guard_aborts_are_memory_causes() -> None:
    causes = EngineCauses()
    causes.feed({"event": "preflight", "id": 1, "ok": False, "device": "cpu", "findings": [],
                 "verdict": "will_not_fit", "reason": "needs 30 GiB, 12 GiB free",
                 "suggestions": ["load in bf16"]})
    found = causes.feed(error("WillNotFit", id=1))
    assert found is not None and found.causes[0].id == "host_oom"
    assert "estimate: needs 30 GiB, 12 GiB free" in found.causes[0].evidence
    causes.feed({"event": "preflight", "id": 2, "ok": False, "device": "cuda:0", "findings": []})
    assert causes.feed(error("WillNotFit",
                             id=2)).causes[0].id == "cuda_oom"  # type: ignore[union-attr]
    causes.feed({"event": "aborted", "id": 3, "resource": "vram", "value": 97.0,
                 "threshold": 95.0, "why": "VRAM 97% >= 95%"})
    aborted = causes.feed(error("LoadAborted", id=3))
    assert aborted is not None and aborted.causes[0].id == "cuda_oom"
    assert "guard: VRAM 97% >= 95%" in aborted.causes[0].evidence


def diagnosed(cause_id: str) -> DiagnosedError:
    found = EngineCauses().feed(error({"missing_file": "ModelNotFound",
                                       "remote_code": "RemoteCodeRefused"}[cause_id]))
    assert found is not None
    return found


def test_deduper_one_card_per_incident() -> None:
    dedupe = CardDeduper(window_s=10)
    missing, remote = diagnosed("missing_file"), diagnosed("remote_code")
    assert dedupe.classify("stream", missing, 100.0) == "new"
    assert dedupe.classify("stated", missing, 101.0) == "drop"  # the other source, same cause
    assert dedupe.classify("stream", missing, 102.0) == "merge"  # same source: the same incident
    assert dedupe.classify("stream", remote, 103.0) == "new"
    # Same source and cause in the window, even with another card in between (a traceback is
    # diagnosed only once output goes quiet, possibly after the next incident's card): merged.
    assert dedupe.classify("stream", missing, 104.0) == "merge"
    assert dedupe.classify("stated", missing, 200.0) == "new"  # outside the window
    unknown = DiagnosedError("traceback", 0, 1, "ValueError: x", ())
    assert dedupe.classify("stream", unknown, 201.0) == "new"
    assert dedupe.classify("stream", unknown, 202.0) == "new"  # unrecognised errors never merge
    assert dedupe.classify("stated", missing,
                           203.0) == "merge"  # the 200.0 card, past the unknown one
    assert dedupe.classify("stream", remote, 204.0) == "new"  # the 103.0 one is out of the window


def test_live_facts_and_the_card_text() -> None:
    sample = h100_at(10)
    context = DiagnosisContext.from_sample(sample, engine_pid=48213)
    report = Report((
        Check("nvidia_driver", "pass", "NVIDIA driver", "580.159.04"),
        Check("alloc_conf", "warn", "PYTORCH_CUDA_ALLOC_CONF", "not set",
              fix="export PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True"),
        Check("swap", "fail", "swap", "none configured", fix="add swap"),
    ))
    oom_text = ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 "
                "has a total capacity of 79.19 GiB of which 1.00 GiB is free.")
    causes = diagnose_text(oom_text, context)
    assert causes and causes[0].id == "cuda_oom"
    facts = live_facts("cuda_oom", context, report, None)
    assert facts[0].startswith("RAM ") and "swap 6% used" in facts[0]
    assert facts[1] == "GPU 0 (NVIDIA H100 80GB HBM3): 11.0 GiB of 80.0 GiB used (14%)"
    assert facts[2] == "  pid 48213 autoglm-engine (the engine): 10.0 GiB"
    # The doctor's check for this cause, and any failure; passes of unrelated checks are left out.
    assert ("doctor WARN PYTORCH_CUDA_ALLOC_CONF: not set (fix: export "
            "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True)") in facts
    assert "doctor FAIL swap: none configured (fix: add swap)" in facts
    assert not any("NVIDIA driver" in f for f in facts)
    text = format_record(ErrorRecord(DiagnosedError("traceback", 0, 0, oom_text[:40],
                                                    tuple(causes)),
                                     ts=0.0, facts=facts))
    assert text.splitlines()[0] == f"traceback: {oom_text[:40]}"
    assert "[cuda_oom, confidence" in text and "live facts at the time:" in text
