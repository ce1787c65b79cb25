"""A learned lead from the words of a failure: which causes such words usually go with.

The rules (rules.py) name a cause from a library's own message, and the clues (evidence.py)
from the exception type, the frames and a few words. A report in words nobody wrote a rule
for (a message phrased from memory, another library's error, a cut log) still shares its
vocabulary with reports of the same family: "state_dict" and "unexpected" with key
mismatches, "nan" and "fp16" with overflow, "killed" and "docker" with host memory.

`lexical.json` holds, per cause, how many labelled logs contain each word (and each pair of
adjacent words), fitted by `benchmarks/diagnose_calibrate.py --write` on the corpus's "tune"
split and the project's own fixture logs only (never the held-back split). A log's words give
a naive-Bayes posterior over the causes, from the mean log-likelihood of its words (a long
log's words are not independent: their sum would make any log certain) times a sharpness
fitted the same way. The engine uses it for leads only: to rank the runners-up of
the top-3 and, when no rule or clue named a cause but the log shows a failure, to start a
ranking of leads whose calibrated confidence stays low.

What is read: the exception lines and frames of every real error block, loose lines that
read as errors, and for a report of a few lines all of it: a bounded amount of text, so a
5,000-line log costs what its errors cost.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources

from console.core.diagnose.evidence import CJK, benign, is_short_report
from console.core.diagnose.fastre import compile_fast
from console.core.diagnose.parser import ErrorBlock, LogLine, parse_lines, split_lines

_FILE = "lexical.json"
ALPHA = 0.5  # additive smoothing of a word's count per cause
MIN_DOCS = 2  # a word must appear in this many labelled logs to be kept
MAX_LINES = 120  # lines of text read per log
MAX_CHARS = 400  # characters read per line

_TOKEN = re.compile(r"[a-z][a-z0-9_]{1,29}")
_ERRORISH = compile_fast(
    r"error|exception|fail|fatal|killed|cannot|can't|could not|unable|abort|crash|not found"
    r"|no such|not supported|missing|invalid|denied|nan\b|\binf\b|mismatch|unexpected"
    r"|traceback|warning|oom|out of memory|segmentation|core dumped|assert"
)
# Words that say nothing about a cause (and would tie every log to every other).
_STOP_WORDS = (
    "the and for not with from this that are was were has have had you your but can cannot "
    "file line self return call args kwargs none true false error traceback most recent last "
    "in of to is it be on at by as or an if py site packages dist lib python usr local home "
    "root anaconda3 miniconda3 envs conda venv"
)
_STOP = frozenset(_STOP_WORDS.split())


# Chinese has no spaces: its words are read as the pairs of adjacent characters ("显存" VRAM,
# "不足" short of, "报错" reports an error).
_CJK_RUN = re.compile(f"[{CJK}]{{2,}}")


def _words(text: str) -> list[str]:
    head = text.lower()[:MAX_CHARS]
    words = [t for t in _TOKEN.findall(head) if t not in _STOP]
    for run in _CJK_RUN.findall(head):
        words.extend(run[i : i + 2] for i in range(len(run) - 1))
    return words


def _texts(lines: Sequence[LogLine], blocks: Iterable[ErrorBlock]) -> list[str]:
    """The text a lead is read from: real error blocks first (benign ones, a KeyboardInterrupt
    or a warning, are skipped), then loose error lines."""
    texts: list[str] = []
    in_block: set[int] = set()
    by_number: dict[int, LogLine] | None = None  # built once, for the first cut traceback
    for block in blocks:
        if benign(block):
            continue
        in_block.update(block.line_numbers)
        for record in block.exceptions:
            texts.append(record.type)
            texts.append(record.message)
        for frame in block.frames[-12:]:
            texts.append(f"{frame.file} {frame.function or ''}")
        if not block.exceptions:  # a cut traceback: its last lines say where it stopped
            if by_number is None:
                by_number = {line.number: line for line in lines}
            texts.extend(by_number[n].text for n in block.line_numbers[-4:] if n in by_number)
    short = is_short_report(lines)
    for line in lines:
        if len(texts) >= MAX_LINES:
            break
        if line.number in in_block or not line.text or line.info:
            continue
        if short or line.error or _ERRORISH.search(line.text.lower()) is not None:
            texts.append(line.text)
    return texts[:MAX_LINES]


def text_features(text: str) -> frozenset[str]:
    """`features` of a whole log given as text (what the fit and its tests count)."""
    parsed = parse_lines(split_lines(text))
    return features(parsed.lines, parsed.blocks)


def features(lines: Sequence[LogLine], blocks: Iterable[ErrorBlock]) -> frozenset[str]:
    """The distinct words of a log's errors, and each pair of adjacent words ("a b")."""
    out: set[str] = set()
    for text in _texts(lines, blocks):
        words = _words(text)
        out.update(words)
        out.update(f"{a} {b}" for a, b in itertools.pairwise(words))
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class Model:
    docs: Mapping[str, int]  # cause -> labelled logs
    counts: Mapping[str, Mapping[str, int]]  # word -> {cause: logs that contain it}
    totals: Mapping[str, int]  # cause -> sum of its word counts
    sharpness: float  # mean log-likelihood -> log-odds

    @property
    def vocabulary(self) -> int:
        return len(self.counts)


def fit(samples: Iterable[tuple[frozenset[str], str]], sharpness: float = 4.0) -> Model:
    """Count words per cause over (features, label) pairs; keep words of >= MIN_DOCS logs."""
    docs: dict[str, int] = {}
    raw: dict[str, dict[str, int]] = {}
    for words, label in samples:
        docs[label] = docs.get(label, 0) + 1
        for word in words:
            row = raw.setdefault(word, {})
            row[label] = row.get(label, 0) + 1
    counts = {w: row for w, row in raw.items() if sum(row.values()) >= MIN_DOCS}
    return _model(docs, counts, sharpness)


def _model(docs: Mapping[str, int], counts: Mapping[str, Mapping[str, int]],
           sharpness: float) -> Model:
    totals: dict[str, int] = dict.fromkeys(docs, 0)
    for row in counts.values():
        for cause, n in row.items():
            totals[cause] = totals.get(cause, 0) + n
    return Model(docs, counts, totals, sharpness)


def to_json(model: Model, fitted_on: str) -> dict[str, object]:
    return {
        "fitted_on": fitted_on,
        "sharpness": round(model.sharpness, 4),
        "docs": dict(sorted(model.docs.items())),
        "counts": {w: dict(sorted(row.items())) for w, row in sorted(model.counts.items())},
    }


@functools.cache
def model() -> Model | None:
    """The fitted model; None when none was written (no lexical leads then)."""
    path = resources.files("console.core.diagnose").joinpath(_FILE)
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    docs, counts, sharpness = data.get("docs"), data.get("counts"), data.get("sharpness")
    if (not isinstance(docs, dict) or not isinstance(counts, dict)
            or not isinstance(sharpness, int | float) or sharpness <= 0):
        raise ValueError(f"{_FILE}: 'docs', 'counts' and a 'sharpness' > 0 are required; "
                         "rerun benchmarks/diagnose_calibrate.py --write")
    return _model({str(k): int(v) for k, v in docs.items()},
                  {str(w): {str(c): int(n) for c, n in row.items()} for w, row in counts.items()},
                  float(sharpness))


@functools.cache
def _count_gains() -> tuple[float, ...]:
    """log(count + ALPHA) - log(ALPHA) for the counts a word's row usually holds."""
    return tuple(math.log(count + ALPHA) - math.log(ALPHA) for count in range(4096))


def posterior(words: frozenset[str], fitted: Model | None = None) -> dict[str, float]:
    """P(cause | the words); {} when no known word is present."""
    m = fitted if fitted is not None else model()
    if m is None:
        return {}
    known = [w for w in words if w in m.counts]
    if not known:
        return {}
    vocab = m.vocabulary
    total_docs = sum(m.docs.values())
    # Sum of log(count + ALPHA) over the known words, per cause: every word contributes
    # log(ALPHA), and the few causes in its row (rows are sparse) their gain over it.
    likelihood = dict.fromkeys(m.docs, len(known) * math.log(ALPHA))
    gain = _count_gains()
    for word in known:
        for cause, count in m.counts[word].items():
            if cause in likelihood:
                likelihood[cause] += (gain[count] if count < len(gain)
                                      else math.log(count + ALPHA) - math.log(ALPHA))
    scores: dict[str, float] = {}
    for cause, n_docs in m.docs.items():
        denominator = math.log(m.totals.get(cause, 0) + ALPHA * vocab)
        mean = likelihood[cause] / len(known) - denominator
        scores[cause] = math.log(n_docs / total_docs) + m.sharpness * mean
    top = max(scores.values())
    exp = {c: math.exp(s - top) for c, s in scores.items()}
    norm = sum(exp.values())
    return {c: v / norm for c, v in sorted(exp.items(), key=lambda kv: -kv[1])}


def lead(lines: Sequence[LogLine], blocks: Iterable[ErrorBlock]) -> dict[str, float]:
    """The posterior for one log's lines and error blocks."""
    if model() is None:
        return {}
    return posterior(features(lines, blocks))
