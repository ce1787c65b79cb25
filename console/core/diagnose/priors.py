"""Filling the ranked top-3 from general evidence when the rules and clues name fewer causes.

A log whose failure points somewhere (a library message, or any clue of evidence.py) always gets
three ranked candidates. Beyond what the messages and the clues named, the runners-up come, in
this order of weight, from:

- weak clues below the threshold at which a clue alone is offered (evidence.py);
- co-occurrence: which causes turn out to be the label when a cause is named. The table is
  learned on the corpus's "tune" split only (`benchmarks/diagnose_calibrate.py --write` writes
  `priors.json`) and smoothed by the families of causes below, which say which causes share a
  surface (a weights file that will not load: missing, corrupt, unreadable; a wrong install:
  version, dependency, remote code; ...);
- the base rate of each cause in the tune split, last.

Their raw scores stay below anything named, so the calibrated confidences of these candidates
are low: they are leads to check, not findings. A log that shows no failure, or a failure that
points nowhere (a plain bug in user code), still gets no candidate.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

_FILE = "priors.json"
WANT = 3  # candidates a failure gets
WEAK_SCALE = 0.45  # a weak clue's weight -> raw score (as evidence.py's clues alone)
NEIGHBOUR_SCALE = 0.12  # co-occurrence probability x the named cause's raw score -> raw score
BASE_SCALE = 0.02  # base rate -> raw score
BELOW = 0.9  # a filled candidate stays under this fraction of the weakest named one
MIN_LEAD = 0.15  # with no cause named, words on error lines must reach this to start a ranking
MIN_WORDS_LEAD = 0.5  # the words' posterior (lexical.py) offers a cause from this share up
MIN_WORDS_ALONE = 0.05  # with nothing named, words that lean anywhere (> 1/21) start a ranking
WORDS_SCALE = 0.12  # the words' posterior -> raw score: a band of its own, calibrated as such
# Which causes complete a ranking (runners-up; the values they are stated with keep the words at
# WORDS_SCALE, see fill). Until session 26 the words weighed WORDS_SCALE here too. Replayed on the
# 900 tune logs of the last 28 batches scored fresh, each by the code before its rules with this
# fill (benchmarks/diagnose_fill_replay.py), 0.24 turned 7 top-3 misses into hits and 1 hit into
# a miss, top-1 untouched (0.18: 5 and 1; 0.36: 7 and 3); doubling WORDS_SCALE itself won the
# same top-3 hits but moved 10 top-1 results (6 won, 4 lost).
FILL_WORDS_SCALE = 0.24
FAMILY_PSEUDO = 1.0  # pseudo-count a family adds to each pair of its causes

# Causes that share a surface: one of them named, the others are the usual alternatives.
FAMILIES: tuple[tuple[str, ...], ...] = (
    ("cuda_oom", "host_oom", "context_too_long"),
    ("cuda_oom", "quantization_error", "dtype_unsupported"),
    ("cuda_unavailable", "cuda_driver_mismatch", "device_mismatch"),
    ("cuda_driver_mismatch", "flash_attention", "quantization_error", "version_mismatch"),
    ("version_mismatch", "missing_dependency", "remote_code"),
    ("version_mismatch", "tokenizer_error", "missing_dependency"),
    ("missing_file", "corrupt_checkpoint", "permission_or_disk"),
    ("missing_file", "remote_code", "version_mismatch"),
    ("size_mismatch", "missing_or_unexpected_keys", "version_mismatch", "quantization_error"),
    ("dtype_unsupported", "device_mismatch", "numeric_overflow"),
    ("port_in_use", "nccl_distributed", "permission_or_disk"),
    ("nccl_distributed", "host_oom", "cuda_oom"),
    ("context_too_long", "tokenizer_error", "size_mismatch"),
)


@dataclass(frozen=True, slots=True)
class Priors:
    # named cause -> {label: P(label | the cause was named, label != named)}
    neighbours: Mapping[str, Mapping[str, float]]
    base: Mapping[str, float]  # label -> share of the tune split


def family_counts() -> dict[str, dict[str, float]]:
    """The families as pseudo-counts between each pair of their causes."""
    counts: dict[str, dict[str, float]] = {}
    for family in FAMILIES:
        for a in family:
            for b in family:
                if a != b:
                    row = counts.setdefault(a, {})
                    row[b] = row.get(b, 0.0) + FAMILY_PSEUDO
    return counts


def normalise(counts: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for named, row in counts.items():
        total = sum(row.values())
        if total > 0:
            out[named] = {label: round(v / total, 4) for label, v in sorted(row.items())}
    return out


@functools.cache
def table() -> Priors:
    """The fitted table; the families alone (and no base rate) when none was written."""
    path = resources.files("console.core.diagnose").joinpath(_FILE)
    if not path.is_file():
        return Priors(normalise(family_counts()), {})
    data = json.loads(path.read_text())
    neighbours = data.get("neighbours")
    base = data.get("base")
    if not isinstance(neighbours, dict) or not isinstance(base, dict):
        raise ValueError(f"{_FILE}: 'neighbours' and 'base' must be objects; rerun "
                         "benchmarks/diagnose_calibrate.py --write")
    return Priors(
        {str(k): {str(a): float(b) for a, b in v.items()} for k, v in neighbours.items()},
        {str(k): float(v) for k, v in base.items()},
    )


def fill(scores: Mapping[str, float], weak: Mapping[str, float],
         words: Mapping[str, float] | None = None,
         want: int = WANT) -> dict[str, tuple[float, str]]:
    """Raw scores, with what they rest on, for the candidates that complete `scores` (named
    causes, raw) to `want`, from the weak clues `weak` (cause -> clue score), the posterior of
    the log's words `words` (lexical.py), co-occurrence and the base rate. Empty when `scores`
    already has `want` causes or nothing points anywhere (no score, no clue, no word)."""
    missing = want - len(scores)
    words = words or {}
    if missing <= 0 or (not scores and not any(v > 0 for v in weak.values())
                        and max(words.values(), default=0.0) < MIN_WORDS_ALONE):
        return {}
    priors = table()
    parts: dict[str, dict[str, float]] = {}  # cause -> {"weak"|"near <x>"|"base": raw}

    def add(cause: str, part: str, value: float) -> None:
        if cause not in scores and value > 0:
            row = parts.setdefault(cause, {})
            row[part] = row.get(part, 0.0) + value

    for cause, weight in weak.items():
        add(cause, "weak", WEAK_SCALE * weight)
    for cause, p in words.items():
        add(cause, "words", WORDS_SCALE * p)
    named = dict(scores) or {c: WEAK_SCALE * w for c, w in weak.items() if w > 0}
    for cause, score in named.items():
        for label, p in priors.neighbours.get(cause, {}).items():
            add(label, f"near {cause}", NEIGHBOUR_SCALE * score * p)
    for label, share in priors.base.items():
        add(label, "base", BASE_SCALE * share)
    raw = {cause: sum(row.values()) for cause, row in parts.items()}
    # Which causes complete the ranking: the words weigh FILL_WORDS_SCALE here. The values they
    # are stated with keep the words at WORDS_SCALE, the scale of the raw scores the calibration
    # was fitted on (a filled cause is the top one when nothing was named).
    boost = FILL_WORDS_SCALE - WORDS_SCALE
    chosen = sorted(raw, key=lambda c: (-(raw[c] + boost * words.get(c, 0.0)), c))[:missing]
    ranked = sorted(((c, raw[c]) for c in chosen), key=lambda kv: (-kv[1], kv[0]))
    if not ranked:
        return {}
    scale = 1.0
    if scores:  # stay under the weakest named cause, keeping the order
        ceiling = BELOW * min(scores.values())
        scale = min(1.0, ceiling / ranked[0][1])
    out: dict[str, tuple[float, str]] = {}
    for cause, value in ranked:
        strongest = max(parts[cause].items(), key=lambda kv: kv[1])[0]
        out[cause] = (value * scale, strongest)
    return out
