"""Causes the engine states itself: its own `error` events, with no text to guess from.

The engine refuses some loads before any library raises: a path that is not there
(`ModelNotFound`), no weight files (`NoWeights`), a `model_type` the installed transformers does
not know (`UnknownArchitecture`), remote code not allowed (`RemoteCodeRefused`), a checkpoint its
pre-flight found broken (`PreflightFailed`, with the findings and their cause ids in the
`preflight` event before it), an estimate that does not fit (`WillNotFit`), and a load the
memory guard stopped (`LoadAborted` after an `aborted` event). `EngineCauses` follows the event
stream and turns each of those into a `DiagnosedError` whose cause is what the engine said, at
a high confidence: the log pane shows it as a card like any diagnosed error. Errors that come
with a traceback (torch, transformers...) are left to the log diagnosis. No textual, no torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from console.core.diagnose import CAUSES, Cause, DiagnosedError

# error_type -> cause id, for errors whose type alone names the cause.
ERROR_TYPE_CAUSES: dict[str, str] = {
    "ModelNotFound": "missing_file",
    "NoWeights": "missing_file",
    "UnknownArchitecture": "version_mismatch",
    "RemoteCodeRefused": "remote_code",
    "PreflightFailed": "corrupt_checkpoint",  # unless the pre-flight findings name another
}
STATED_CONFIDENCE = 0.95  # the engine checked it; it is not read from text
GUARD_RESOURCE_CAUSES = {"vram": "cuda_oom", "ram": "host_oom", "swap": "host_oom",
                         "swap_in": "host_oom"}
MAX_FINDINGS = 4


def _cause(cause_id: str, evidence: Sequence[str], fixes: Sequence[str], note: str = "",
           facts: Sequence[tuple[str, str]] = ()) -> Cause:
    info = CAUSES[cause_id]
    explanation = f"{note[0].upper()}{note[1:]}. {info.explanation}" if note else info.explanation
    return Cause(id=cause_id, confidence=STATED_CONFIDENCE, title=info.title,
                 explanation=explanation, evidence=tuple(evidence),
                 fixes=tuple(dict.fromkeys([*(f for f in fixes if f), *info.fixes]))[:6],
                 facts=tuple(facts))


def _finding_cause(findings: Sequence[Mapping[str, Any]]) -> tuple[str | None, list[str]]:
    """The cause id the pre-flight's error findings agree on first, and their lines."""
    errors = [f for f in findings if f.get("severity") == "error"]
    causes = [str(f["cause"]) for f in errors if f.get("cause") in CAUSES]
    lines = []
    for f in errors[:MAX_FINDINGS]:
        where = f"{f.get('file')}: " if f.get("file") else ""
        lines.append(f"pre-flight: {where}{f.get('problem')}")
    return (causes[0] if causes else None), lines


@dataclass
class EngineCauses:
    """Follows the engine's events (one engine session or several) and returns a
    `DiagnosedError` for each refusal whose cause the engine stated."""

    _preflight: dict[int | None, Mapping[str, Any]] = field(default_factory=dict)
    _guard_abort: dict[int | None, Mapping[str, Any]] = field(default_factory=dict)

    def feed(self, msg: Mapping[str, Any]) -> DiagnosedError | None:
        event = msg.get("event")
        reply_to = msg.get("id")
        if event == "preflight":
            self._preflight[reply_to] = msg
            return None
        if event == "aborted":
            self._guard_abort[reply_to] = msg
            return None
        if event != "error":
            return None
        error_type = str(msg.get("error_type") or "")
        message = str(msg.get("message") or "")
        hint = str(msg.get("hint") or "")
        evidence = [f"{error_type}: {message}"]
        preflight = self._preflight.pop(reply_to, None)
        abort = self._guard_abort.pop(reply_to, None)
        cause_id = ERROR_TYPE_CAUSES.get(error_type)
        note = ""
        facts: list[tuple[str, str]] = []
        if error_type == "PreflightFailed" and preflight is not None:
            found, lines = _finding_cause(preflight.get("findings") or [])
            cause_id = found or cause_id
            evidence.extend(lines)
            note = "the engine's pre-flight refused the load before placing any weight"
        elif error_type == "WillNotFit":
            device = str((preflight or {}).get("device") or "")
            cause_id = "host_oom" if device == "cpu" else "cuda_oom"
            note = "the engine's estimate does not fit in the memory free now, so it did not start"
            if preflight is not None and preflight.get("reason"):
                evidence.append(f"estimate: {preflight['reason']}")
            if preflight is not None:
                facts.extend(("suggestion", str(s)) for s in preflight.get("suggestions") or [])
        elif error_type == "LoadAborted" and abort is not None:
            cause_id = GUARD_RESOURCE_CAUSES.get(str(abort.get("resource") or ""))
            note = "the memory guard stopped the load before it ran out of memory"
            evidence.append(f"guard: {abort.get('why')}")
        if cause_id is None:
            return None
        cause = _cause(cause_id, evidence, [hint], note, facts)
        summary = evidence[0] if len(evidence[0]) <= 300 else evidence[0][:297] + "..."
        return DiagnosedError("engine", 0, 0, summary, (cause,))


@dataclass
class CardDeduper:
    """One card per incident. An error is dropped ("drop") when the other source (the engine's
    statement vs the log diagnosis) reported the same cause within `window_s`, by the errors'
    own timestamps; it is merged into the newest card of the same cause ("merge") when one from
    the same source is within the window (a load report line, then its traceback; the
    same refusal twice); otherwise it is a new card ("new")."""

    window_s: float = 10.0
    _recent: list[tuple[str, str, float]] = field(default_factory=list)  # (source, id, ts)

    def classify(self, source: str, error: DiagnosedError, ts: float) -> str:
        """`source`: "stated" (EngineCauses) or "stream" (the log diagnosis)."""
        cause_id = error.causes[0].id if error.causes else ""  # "": never merged or dropped
        self._recent = [r for r in self._recent if abs(ts - r[2]) <= self.window_s]
        if cause_id and any(s != source and c == cause_id for s, c, _ in self._recent):
            return "drop"
        # Output lines of one incident can be diagnosed after a later incident's card (a
        # traceback closes only when output goes quiet), so match any recent card, not the
        # newest one only.
        same = bool(cause_id) and any(r[:2] == (source, cause_id) for r in self._recent)
        self._recent.append((source, cause_id, ts))
        return "merge" if same else "new"
