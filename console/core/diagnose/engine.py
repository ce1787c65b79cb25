"""From parsed lines to ranked causes: matching, aggregation, and what the console knows.

One pass finds every signature needle (a trie-shaped regex over the lower-cased log), the
signature's own regex and `refine` confirm each candidate line, hits are grouped by cause,
symptoms are demoted when a better-founded cause is present, and the live facts of a
`DiagnosisContext` (how the engine died, RAM and swap at the time, NVML's process list, the
model's estimate) raise, lower or specialise the result.
"""

from __future__ import annotations

import functools
import json
import re
from bisect import bisect_right
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from itertools import islice
from typing import Any

from console.core.diagnose import calibration, lexical, numbers, priors
from console.core.diagnose.evidence import (
    Clue,
    benign,
    block_clues,
    log_clues,
    log_failed,
    plain_bug,
    points_somewhere,
    records_handed_over,
    score_clues,
)
from console.core.diagnose.fastre import trie_pattern
from console.core.diagnose.parser import (
    CODE,
    FRAME,
    LOOSE,
    WARNING,
    ErrorBlock,
    ExceptionRecord,
    LogLine,
    LogParser,
    digit_shape,
    parse_lines,
    split_lines,
)
from console.core.diagnose.rules import CAUSES, Signature, all_signatures
from console.core.sample import GpuSample, Sample
from console.core.units import fmt_pct

MIN_CONFIDENCE = 0.3  # below this a cause is not reported: an empty answer beats a wrong one
MAX_CAUSES = 5
_WARN_RECORD_WEIGHT = 0.75
EVIDENCE_BOOST = 0.08  # how much the weak clues raise a cause a library message named
EVIDENCE_SCALE = 0.45  # clues alone: below anything a message named with confidence
MIN_EVIDENCE = 0.2  # clue score below which a cause no message named is not offered
MIN_EVIDENCE_ALONE = 0.2  # the same when no message named anything: a weak lead beats none
MAX_EVIDENCE = 6
_EVIDENCE_CHARS = 300
_PRECEDING_LINES = 30  # lines before a block that its refine functions may look at
_SIGKILL = 9
_KILL_FALLOUT_LINES = 200  # how far after a kill later errors count as its fallout
WORDS_BLEND = 0.1  # how much the words' posterior (lexical.py) raises a cause already named


@dataclass(frozen=True, slots=True)
class DiagnosisContext:
    """Live facts the console knows at the moment of the error; every field optional."""

    exit_code: int | None = None  # engine return code as subprocess reports it (-9: SIGKILL)
    exit_signal: int | None = None  # the signal that ended the engine, when known
    killed_by_console: bool = False  # the console sent that signal itself (abort/unload)
    ram_used_fraction: float | None = None  # host RAM in use at the time, 0..1
    swap_used_fraction: float | None = None  # swap in use at the time, 0..1 (None: no swap)
    gpus: tuple[GpuSample, ...] = ()  # NVML's view, processes included
    engine_pid: int | None = None
    phase: str | None = None  # "load" | "generate" when the console knows what was running
    weights_bytes: int | None = None  # the model's estimated weight bytes
    kv_bytes_per_token: int | None = None
    context_tokens: int | None = None
    # The kernel's own word that it OOM-killed something at the time (its counter rose, a
    # kernel log line): console/host/oomkill.py. A SIGKILL is host_oom only with this or with
    # RAM / swap near full; otherwise it is a signal from outside.
    oom_kill_evidence: str | None = None
    # The kernel log's line naming the engine's PID as OOM-killed, quoted ("kernel log: Out of
    # memory: Killed process 4242 (python) ..."): the strongest evidence there is. When there
    # is none, `kernel_log_note` says why ("kernel log not readable (...)", "no OOM kill of
    # PID n"), so the card says it instead of nothing. console/host/kernellog.kernel_oom.
    kernel_oom_line: str | None = None
    kernel_log_note: str | None = None

    @classmethod
    def from_sample(cls, sample: Sample | None, **facts: Any) -> DiagnosisContext:
        """RAM, swap and GPUs from a telemetry sample, plus any other field given by name."""
        if sample is None:
            return cls(**facts)
        host = sample.host
        return cls(
            ram_used_fraction=host.ram_used_fraction,
            swap_used_fraction=host.swap_used_fraction,
            gpus=sample.gpus,
            **facts,
        )

    @property
    def died_by_sigkill(self) -> bool:
        return self.exit_signal == _SIGKILL or self.exit_code in (-_SIGKILL, 128 + _SIGKILL)


@dataclass(frozen=True, slots=True)
class Cause:
    id: str  # one of ../shared/rootcauses.md
    confidence: float  # 0..1
    title: str
    explanation: str
    evidence: tuple[str, ...]  # log lines (cleaned) and live facts that support it
    fixes: tuple[str, ...]
    evidence_lines: tuple[int, ...] = ()  # 0-based input line numbers of the log evidence
    facts: tuple[tuple[str, str], ...] = ()  # (label, value): OOM figures, RAM at exit, ...
    lead: bool = False  # no library message or live fact named it: weak evidence, not a finding

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "confidence": round(self.confidence, 2),
            "title": self.title,
            "explanation": self.explanation,
            "evidence": list(self.evidence),
            "fixes": list(self.fixes),
            "facts": dict(self.facts),
            "lead": self.lead,
        }


@dataclass(frozen=True, slots=True)
class Hit:
    signature: Signature
    line: LogLine
    confidence: float
    block: ErrorBlock | None


@dataclass(frozen=True, slots=True)
class DiagnosedError:
    """One error the log pane shows a card for."""

    kind: str  # "traceback" | "line" | "exit"
    first_line: int
    last_line: int
    summary: str
    causes: tuple[Cause, ...]
    block: ErrorBlock | None = None


# -- the needle index ----------------------------------------------------------------------------

# Digits are the ASCII ones here: a line's shape maps each to "0" (parser.digit_shape), and a
# needle with none of them matches a line where it matches its shape.
_DIGIT = re.compile(r"[0-9]")


def _shape(text: str) -> str:
    """A line's (or a needle's) shape as text, to be matched by the shape regex."""
    return digit_shape(text).decode("utf-8", "surrogatepass")


def _shares_words(a: str, b: str) -> bool:
    """Whether a's tail, starting at a word boundary, is b's head (b not inside a)."""
    for k in range(2, min(len(a), len(b))):
        if a.endswith(b[:k]) and (len(a) == k or not a[-k - 1].isalnum()):
            return True
    return False


def _may_hide(needles: Sequence[str]) -> frozenset[str]:
    """The needles a for which `_shares_words(a, b)` holds for another needle b, found through a
    table of the needles' heads: linear in the needles' length, where trying every pair took
    seconds once the rules numbered a thousand (the first diagnosis of every process paid it)."""
    heads: dict[str, int] = {}  # a head b[:k] (2 <= k < len(b)) -> how many needles have it
    for b in needles:
        for k in range(2, len(b)):
            heads[b[:k]] = heads.get(b[:k], 0) + 1
    found: set[str] = set()
    for a in needles:
        for k in range(2, len(a)):
            if a[-k - 1].isalnum():
                continue  # the tail must start at a word
            tail = a[-k:]
            count = heads.get(tail, 0) - (1 if a.startswith(tail) else 0)  # b != a
            if count > 0:
                found.add(a)
                break
    return frozenset(found)


class _Index:
    """Every needle in one trie-shaped regex; a match maps to the signatures of every needle it
    contains. The whole-log scan finds non-overlapping matches (fast); a line whose match could
    hide a partly overlapping needle is rescanned with the overlapping (lookahead) form."""

    def __init__(self, signatures: Sequence[Signature]) -> None:
        by_needle: dict[str, list[Signature]] = {}
        for sig in signatures:
            by_needle.setdefault(sig.needle, []).append(sig)
        self.needles = sorted(by_needle)
        trie = trie_pattern(self.needles)
        self.regex = re.compile(trie)
        # The whole-log scan reads each line's shape (its digits all read "0"), so lines that
        # differ only in their numbers (metrics, progress, timestamps) are read once. A needle
        # without a digit matches a shape where it matches its lines. The shape of a needle
        # with a digit inside ("exit code: 0") marks the shape's lines, each then read whole
        # with every needle; a needle that starts with a digit
        # ("401 client error") is looked for in the lines, where only digits can start it.
        digits = {n for n in self.needles if _DIGIT.search(n) is not None}
        self.words = frozenset(n for n in self.needles if n not in digits)
        self.shape_regex = re.compile(trie_pattern(
            {*self.words, *(_shape(n) for n in digits if not n[0].isdigit())}))
        self.digit_first_regex = re.compile(trie_pattern(n for n in digits if n[0].isdigit()))
        self.overlapping_regex = re.compile("(?=(" + trie + "))")
        self._by_match: dict[str, tuple[Signature, ...]] = {}
        for needle in self.needles:
            self._by_match[needle] = tuple(
                s for other in self.needles if other in needle for s in by_needle[other]
            )
        # Needles whose last words can be the first words of another needle ("... bus error" /
        # "error while ..."): a match of one can hide the other.
        self.may_hide: frozenset[str] = _may_hide(self.needles)
        # Needles longer than a cut line's shortest useful tail, by their first characters.
        self.cut_heads: dict[str, tuple[str, ...]] = {}
        for needle in self.needles:
            if len(needle) > _CUT_MIN_CHARS:
                head = needle[:_CUT_MIN_CHARS]
                self.cut_heads[head] = (*self.cut_heads.get(head, ()), needle)

    def signatures(self, matched: str) -> tuple[Signature, ...]:
        return self._by_match[matched]

    def line_signatures(self, lower: str) -> set[Signature]:
        found: set[Signature] = set()
        for m in self.overlapping_regex.finditer(lower):
            found.update(self._by_match[m.group(1)])
        return found


@functools.cache
def _index() -> _Index:
    """Built on first use (about 0.4 s on a 2-core machine), so importing the diagnosis costs
    the app's start-up nothing; the log view's first diagnosis runs on its worker thread."""
    return _Index(all_signatures())


class _Surroundings:
    """Lazy views of a hit's surroundings for the refine functions."""

    __slots__ = ("_block", "_block_text", "_frames_text", "_lines", "_number", "line_text")

    def __init__(self, line: LogLine, block: ErrorBlock | None, lines: _LineStore) -> None:
        self.line_text = line.text
        self._number = line.number
        self._block = block
        self._lines = lines
        self._block_text: str | None = None
        self._frames_text: str | None = None

    @property
    def block_text(self) -> str:
        if self._block_text is None:
            numbers_: list[int]
            if self._block is None:  # a line on its own: it and its neighbours
                numbers_ = list(range(max(0, self._number - 5), self._number + 4))
                self._block_text = "\n".join(self._lines.text(n) for n in numbers_).lower()
            else:
                start = self._block.first_line
                numbers_ = [*range(max(0, start - _PRECEDING_LINES), start),
                            *self._block.line_numbers]
                self._block_text = "\n".join(self._lines.text(n) for n in numbers_).lower()
        return self._block_text

    @property
    def frames_text(self) -> str:
        if self._frames_text is None:
            frames = self._block.frames if self._block is not None else ()
            self._frames_text = " ".join(f"{f.file} {f.function or ''}" for f in frames).lower()
        return self._frames_text

    @property
    def surface_type(self) -> str:
        surface = self._block.surface if self._block is not None else None
        return surface.type if surface is not None else ""


class _LineStore:
    """Line texts by number: the whole log, or a window of recent lines when streaming."""

    def __init__(self, lines: Sequence[LogLine] | deque[LogLine]) -> None:
        self._lines = lines

    def get(self, number: int) -> LogLine | None:
        if not self._lines:
            return None
        offset = number - self._lines[0].number
        if 0 <= offset < len(self._lines):
            return self._lines[offset]
        return None

    def text(self, number: int) -> str:
        line = self.get(number)
        return line.text if line is not None else ""


# A signature's regex reads at most this many characters on each side of its needle. Many
# start with an unanchored run (`\w*does not exist`, `[\w.-]+ is not registered`): on a line of
# one 30,000-character word beside the needle such a search backtracks for seconds (64 KiB
# lines reach the diagnosis). Real messages sit well within the span.
_SEARCH_SPAN = 2_000


def _search(sig: Signature, text: str) -> re.Match[str] | None:
    """`sig.pattern.search(text)`, on a long line only within _SEARCH_SPAN of each needle (every
    caller found the needle as written in the lower-cased text)."""
    assert sig.pattern is not None
    if len(text) <= 2 * _SEARCH_SPAN:  # nearly every line
        return sig.pattern.search(text)
    lower = text.lower()
    at = lower.find(sig.needle)
    while at >= 0:
        end = at + len(sig.needle)
        m = sig.pattern.search(text, max(0, at - _SEARCH_SPAN), end + _SEARCH_SPAN)
        if m is not None:
            return m
        at = lower.find(sig.needle, end + _SEARCH_SPAN)
    return None


def _confirm(line: LogLine, signatures: Iterable[Signature], block: ErrorBlock | None,
             store: _LineStore, out: list[Hit]) -> None:
    surroundings: _Surroundings | None = None
    for sig in signatures:
        m = None
        if sig.pattern is not None:
            m = _search(sig, line.text)
            if m is None:
                continue
        confidence = sig.confidence
        if sig.refine is not None:
            if surroundings is None:
                surroundings = _Surroundings(line, block, store)
            refined = sig.refine(m, surroundings)
            if refined is None:
                continue
            # 1.0 keeps the signature's confidence; any other value replaces it.
            confidence = sig.confidence if refined >= 1.0 else refined
        out.append(Hit(sig, line, confidence, block))


def _line_signatures(lower: str) -> set[Signature]:
    if _index().regex.search(lower) is None:  # the common case, and the cheap test
        return set()
    return _index().line_signatures(lower)


# A traceback pasted with its lines joined: the exception follows the quoted source line
# ("raise RuntimeError(...).format( RuntimeError: Error(s) in loading state_dict ...").
_GLUED_EXCEPTION = re.compile(r"\s[A-Z]\w*(?:Error|Exception): \S")


def _scanned(line: LogLine) -> bool:
    """Lines that can carry evidence: not quoted source code (unless the exception was pasted
    onto it), not INFO/DEBUG records."""
    if not line.text or line.info or line.role == FRAME:
        return False
    return line.role != CODE or _GLUED_EXCEPTION.search(line.text) is not None


def _scan_lines(lines: Sequence[LogLine], block_of: dict[int, ErrorBlock],
                store: _LineStore) -> list[Hit]:
    """Hits for every line: one regex pass for the needles over the distinct shapes of the
    lines (long logs repeat themselves: warnings, progress bars, metrics that differ only in
    their numbers), then each candidate line is confirmed."""
    scanned = [line for line in lines if _scanned(line)]
    distinct: dict[str, int] = {}
    for line in scanned:
        distinct.setdefault(line.text, len(distinct))
    texts = list(distinct)
    lowered = [text.lower() for text in texts]
    by_shape: dict[str, list[int]] = {}  # the line with its digits read as "0" -> its lines
    for index, lower in enumerate(lowered):
        by_shape.setdefault(_shape(lower), []).append(index)
    shapes = list(by_shape)
    owners = list(by_shape.values())
    candidates: dict[int, set[Signature]] = {}
    rescan: set[int] = set()
    needles = _index()
    may_hide = needles.may_hide

    def matches(regex: re.Pattern[str], read: list[str]) -> Iterator[tuple[int, str]]:
        """(which text, the match) for each match in the texts read as one."""
        starts: list[int] = []
        pos = 0
        for text in read:
            starts.append(pos)
            pos += len(text) + 1
        for m in regex.finditer("\n".join(read)):
            yield bisect_right(starts, m.start()) - 1, m.group(0)

    def found(index: int, matched: str) -> None:
        candidates.setdefault(index, set()).update(needles.signatures(matched))
        if matched in may_hide:
            rescan.add(index)

    marked: set[int] = set()
    for which, matched in matches(needles.shape_regex, shapes):
        if matched in needles.words:
            for index in owners[which]:
                found(index, matched)
        else:  # the shape of a needle with a digit inside (it may cover a word needle too)
            marked.update(owners[which])
    for index in marked:  # each such line read whole, as one line of the plain scan
        for m in needles.regex.finditer(lowered[index]):
            found(index, m.group(0))
    for which, matched in matches(needles.digit_first_regex, lowered):
        found(which, matched)
    for index in rescan:
        candidates[index] = _line_signatures(texts[index].lower())
    ordered = {index: sorted(sigs, key=_sig_order) for index, sigs in candidates.items()}
    hits: list[Hit] = []
    for line in scanned:
        signatures = ordered.get(distinct[line.text])
        if signatures:
            _confirm(line, signatures, block_of.get(line.number), store, hits)
    return hits


@functools.cache
def _sig_orders() -> dict[Signature, int]:
    return {sig: i for i, sig in enumerate(all_signatures())}


def _sig_order(sig: Signature) -> int:
    return _sig_orders()[sig]


_CUT_MIN_CHARS = 16  # the shortest cut-off head of a message that still names it
_CUT_CONFIDENCE = 0.85  # a message read from its first words only is a little less certain
# A head that ends where a word of the message ends may be a whole message of its own ("... is
# not supported"): it must be longer to be read as the start of a longer one.
_CUT_WORD_MIN_CHARS = 24


def _cut_tail_hits(lines: Sequence[LogLine], block_of: dict[int, ErrorBlock], store: _LineStore,
                   hits: Sequence[Hit]) -> list[Hit]:
    """A log cut mid-line ("OverflowError: out of range integral t"): the last line's tail may
    be the first words of a known message. Signatures confirmed by a regex cannot be checked on
    half a message, so only plain-needle ones count."""
    last = next((ln for ln in reversed(lines) if ln.text.strip()), None)
    if last is None or not _scanned(last) or any(h.line.number == last.number for h in hits):
        return []
    lower = last.text.lower().rstrip()
    if len(lower) < _CUT_MIN_CHARS:
        return []
    # Each tail of the line that starts at a word and is at least _CUT_MIN_CHARS long may be
    # the head of a longer needle: look its first characters up instead of trying every needle.
    heads = _index().cut_heads
    matched: set[str] = set()
    for start in range(len(lower) - _CUT_MIN_CHARS + 1):
        if start and lower[start - 1].isalnum():
            continue
        tail = lower[start:]
        for needle in heads.get(tail[:_CUT_MIN_CHARS], ()):
            if len(tail) < len(needle) and needle.startswith(tail) and needle not in lower:
                mid_word = tail[-1].isalnum() and needle[len(tail)].isalnum()
                if mid_word or len(tail) >= _CUT_WORD_MIN_CHARS:
                    matched.add(needle)
    found: list[Hit] = []
    for needle in sorted(matched):
        for sig in _index().signatures(needle):
            if sig.pattern is None and sig.refine is None and sig.needle == needle:
                found.append(Hit(sig, last, sig.confidence * _CUT_CONFIDENCE,
                                 block_of.get(last.number)))
    return found


# -- rules over whole blocks (frames rather than messages) ---------------------------------------

_REMOTE_SYNTAX = ("SyntaxError", "IndentationError", "NameError", "TabError")


_RAISE_RE = re.compile(
    r"^(?:-*>\s*)?(?:\d+\s+)?raise\s+(?P<type>[A-Za-z_][\w.]*)\(\s*f?(?P<q>[\"'])(?P<msg>.+?)(?:(?P=q)|$)")
_RAISE_CONFIDENCE = 0.9  # the message the code was about to raise, not one it printed
# `raise SomeError(` with its message on lines Python does not print: the raise site (the
# library file and function) says what that function raises (raise_sites.json, written by
# benchmarks/diagnose_raise_sites.py from the libraries' source and these rules).
_RAISE_OPEN_RE = re.compile(r"^(?:-*>\s*)?(?:\d+\s+)?raise\s+(?P<type>[A-Za-z_][\w.]*)\(")
# `assert <condition>[, "message"]` as a cut traceback's last source line: the AssertionError
# the log lost carries the message, or else the condition Python would not print either.
_ASSERT_RE = re.compile(
    r"^(?:-*>\s*)?(?:\d+\s+)?assert\s+(?P<cond>.+?)(?:,\s*f?(?P<q>[\"'])(?P<msg>.+)(?P=q)\s*)?$")
_ARROW_RE = re.compile(r"^-+>")
RAISE_SITES_FILE = "raise_sites.json"


@dataclass(frozen=True, slots=True)
class _RaiseSite:
    file: str  # the path under site-packages, "transformers/modeling_utils.py"
    signature: Signature


@functools.cache
def _raise_sites() -> dict[tuple[str, str], tuple[_RaiseSite, ...]]:
    """(function, exception type) -> the sites of that name; {} when none were written."""
    path = resources.files("console.core.diagnose").joinpath(RAISE_SITES_FILE)
    if not path.is_file():
        return {}
    return parse_raise_sites(json.loads(path.read_text()))


def parse_raise_sites(data: object) -> dict[tuple[str, str], tuple[_RaiseSite, ...]]:
    """raise_sites.json's content by (function, exception type); ValueError naming the site,
    the key and the fix."""
    rows = data.get("sites") if isinstance(data, dict) else None
    fix = "; rerun benchmarks/diagnose_raise_sites.py --write"
    if not isinstance(rows, list):
        raise ValueError(f"{RAISE_SITES_FILE}: 'sites' must be a list{fix}")
    out: dict[tuple[str, str], list[_RaiseSite]] = {}
    for n, row in enumerate(rows):
        try:
            file, function, kind = str(row["file"]), str(row["function"]), str(row["type"])
            cause, confidence = str(row["cause"]), float(row["confidence"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{RAISE_SITES_FILE}: site {n} needs file, function, type, cause "
                             f"and confidence{fix}") from None
        if cause not in CAUSES:
            raise ValueError(f"{RAISE_SITES_FILE}: site {n}: unknown cause {cause!r}{fix}")
        note = (f"the traceback stops at a `raise {kind}(` in {file} ({function}), whose "
                "messages there mean this cause (read from the library's source)")
        out.setdefault((function, kind), []).append(
            _RaiseSite(file, Signature(cause, "", confidence, note)))
    return {key: tuple(sites) for key, sites in out.items()}


def _raise_site_hit(block: ErrorBlock, line: LogLine, kind: str) -> list[Hit]:
    """The raise site of a cut traceback's innermost frame, when it is a known one."""
    if not block.frames:
        return []
    frame = block.frames[-1]
    path = frame.file.replace("\\", "/")
    for site in _raise_sites().get((frame.function or "", kind.rsplit(".", 1)[-1]), ()):
        if path == site.file or path.endswith("/" + site.file):
            return [Hit(site.signature, line, site.signature.confidence, block)]
    return []


def _raised_but_cut_hits(block: ErrorBlock, store: _LineStore) -> list[Hit]:
    """A traceback cut before its exception line whose last source line is a `raise X("...")`:
    that literal is the message the log lost; the rules read it as the exception line."""
    if block.surface is not None or not block.truncated_tail:
        return []
    for number in reversed(block.line_numbers[-4:]):
        line = store.get(number)
        if line is None or line.role != CODE:
            continue
        asserted = _ASSERT_RE.match(line.text.strip())
        if asserted is not None:
            return _assert_hits(asserted, line, block, store)
        opened = _RAISE_OPEN_RE.match(line.text.strip())
        if opened is None:
            continue
        m = _RAISE_RE.match(line.text.strip())
        found = (_cut_message_hits(f"{m.group('type')}: {m.group('msg')}", line, block, store)
                 if m is not None else [])
        return found or _raise_site_hit(block, line, opened.group("type"))
    return []


def _bare_assert_hits(block: ErrorBlock, surface: ExceptionRecord,
                      store: _LineStore) -> list[Hit]:
    """A bare `AssertionError` (no message): the `assert` source line printed above it says
    what failed (Python prints the condition only as source, IPython with a `---->` arrow)."""
    if surface.type.rsplit(".", 1)[-1] != "AssertionError" or surface.message.strip():
        return []
    end = surface.line_numbers[0] if surface.line_numbers else block.last_line
    code = [line for n in block.line_numbers if n < end
            if (line := store.get(n)) is not None and line.role == CODE][-6:]
    # IPython prints lines around the failing one and marks it with an arrow.
    candidates = [line for line in code if _ARROW_RE.match(line.text.strip())] or code
    if not candidates:
        return []
    asserted = _ASSERT_RE.match(candidates[-1].text.strip())
    return _assert_hits(asserted, candidates[-1], block, store) if asserted is not None else []


def _assert_hits(asserted: re.Match[str], line: LogLine, block: ErrorBlock,
                 store: _LineStore) -> list[Hit]:
    """The rules' reading of `AssertionError: <the assert's message, else its condition>`."""
    return _cut_message_hits(
        f"AssertionError: {asserted.group('msg') or asserted.group('cond')}", line, block, store)


def _cut_message_hits(text: str, line: LogLine, block: ErrorBlock,
                      store: _LineStore) -> list[Hit]:
    """The rules' reading of the exception line a cut traceback lost (`text`), on `line`."""
    found: list[Hit] = []
    synthetic = line._replace(text=text, role="exception")
    _confirm(synthetic, sorted(_line_signatures(text.lower()), key=_sig_order), block, store,
             found)
    return [Hit(h.signature, line, h.confidence * _RAISE_CONFIDENCE, block) for h in found]


def _wrapped_hits(block: ErrorBlock, store: _LineStore) -> list[Hit]:
    """Messages a terminal or an issue form wrapped over several lines ("... out of shared" /
    "memory"): the signatures that match the joined message and no single line of it."""
    hits: list[Hit] = []
    for record in block.exceptions:
        numbers = record.line_numbers
        first = store.get(numbers[0]) if numbers else None
        if 1 < len(numbers) <= _WRAPPED_MAX_LINES and first is not None:
            hits.extend(_joined_hits(first, [store.text(n) for n in numbers], block, store))
    return hits


def _joined_hits(first: LogLine, texts: Sequence[str], block: ErrorBlock | None,
                 store: _LineStore) -> list[Hit]:
    """The hits of lines read as one (on the first one's line) that no single one of them has."""
    found: list[Hit] = []
    texts = [t for t in (text.strip() for text in texts) if t]
    joined = " ".join(texts)
    signatures = _line_signatures(joined.lower())
    for text in texts:
        if signatures:
            signatures -= _line_signatures(text.lower())
    if signatures:
        _confirm(first._replace(text=joined), sorted(signatures, key=_sig_order), block, store,
                 found)
    return found


_WRAPPED_MAX_LINES = 6  # a longer message is a listing, not one wrapped sentence


def _wrapped_warning_hits(lines: Sequence[LogLine], store: _LineStore,
                          hits: Sequence[Hit]) -> list[Hit]:
    """A warning wrapped over the lines after it ("UserWarning: NVIDIA B200 with CUDA capability
    sm_100 is not compatible" / "with the current PyTorch installation."): as `_wrapped_hits`
    for exception messages, the hits of the warning and its continuation lines joined. Only a
    warning nothing matched yet is read."""
    found: list[Hit] = []
    matched = {h.line.number for h in hits}
    silent: set[tuple[str, ...]] = set()  # chains read before that named nothing (logs repeat)
    for i, line in enumerate(lines):
        if line.role != WARNING or line.number in matched or line.info:
            continue
        chain = _warning_chain(lines, i)
        if len(chain) < 2:
            continue
        key = tuple(ln.text for ln in chain)
        if key in silent:
            continue
        hits_here = _joined_hits(line, key, None, store)
        if not hits_here:
            silent.add(key)
        found.extend(hits_here)
    return found


def _warning_chain(lines: Sequence[LogLine], i: int) -> list[LogLine]:
    """The warning lines[i] and the lines a wrap continued it on: each starts where the warning
    starts (the first column, or the paste's indent; one indented further is another thing,
    such as the source line Python prints under a warning) and follows a line that stopped
    mid-sentence (one that ends a sentence was not cut by a wrap)."""
    chain = [lines[i]]
    indent = _indent(lines[i].text)
    for follow in lines[i + 1:i + _WRAPPED_MAX_LINES]:
        text = follow.text
        if chain[-1].text.rstrip().endswith(_SENTENCE_ENDS) or follow.role != LOOSE \
                or follow.info or not text.strip() or _indent(text) != indent:
            break
        chain.append(follow)
    return chain


_SENTENCE_ENDS = (".", "!", "?", ":", ")", "]", "\u3002")


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip())


def _block_hits(block: ErrorBlock, store: _LineStore) -> list[Hit]:
    surface = block.surface
    if surface is None:
        return _raised_but_cut_hits(block, store)
    wrapped = _wrapped_hits(block, store) + _bare_assert_hits(block, surface, store)
    if not block.frames:
        return wrapped
    line = store.get(surface.line_numbers[0]) if surface.line_numbers else None
    if line is None:
        return wrapped
    hits: list[Hit] = []
    files = [f.file.replace("\\", "/") for f in block.frames]
    last_file = files[-1]
    remote = [f for f in files if "transformers_modules" in f or "/huggingface/modules/" in f]
    exc_name = surface.type.rsplit(".", 1)[-1]
    loads_remote_code = any("dynamic_module_utils" in f for f in files)
    if (remote or loads_remote_code) and exc_name in _REMOTE_SYNTAX:
        hits.append(Hit(_BLOCK_SIGNATURES["remote_syntax"], line, 0.8, block))
    elif remote and (remote[-1] == last_file or "transformers_modules" in last_file):
        hits.append(Hit(_BLOCK_SIGNATURES["remote_raised"], line, 0.45, block))
    if any("sentencepiece" in f for f in files[-3:]):
        hits.append(Hit(_BLOCK_SIGNATURES["spm_frames"], line, 0.7, block))
    if any("flash_attn" in f for f in files) and exc_name in ("ImportError", "OSError",
        "ModuleNotFoundError", "RuntimeError"):
        hits.append(Hit(_BLOCK_SIGNATURES["flash_frames"], line, 0.75, block))
    if any("bitsandbytes" in f for f in files):
        hits.append(Hit(_BLOCK_SIGNATURES["bnb_frames"], line, 0.6, block))
    return wrapped + hits


_BLOCK_SIGNATURES = {
    "remote_syntax": Signature("remote_code", "", 0.8,
        "the model's own code (shipped in its repository) does not even import"),
    "remote_raised": Signature("remote_code", "", 0.45,
        "the error was raised inside the model's own code (from its repository)"),
    "flash_frames": Signature("flash_attention", "", 0.75,
                              "the failure comes from inside flash-attn"),
    "bnb_frames": Signature("quantization_error", "", 0.6,
                            "the failure comes from inside bitsandbytes"),
    "spm_frames": Signature("tokenizer_error", "", 0.7,
                            "sentencepiece could not load tokenizer.model (wrong kind of file, or "
                            "damaged)"),
}


# -- aggregation ---------------------------------------------------------------------------------

_LOAD_MARKERS = ("from_pretrained", "_load_pretrained_model", "caching_allocator_warmup",
                 "load_state_dict",
                 "safe_open", "load_checkpoint", "_materialize", "dispatch_model",
                 "set_module_tensor_to_device",
                 "load_model", "convert_and_load", "model.to", "module.py\" _apply")
_GENERATE_MARKERS = ("generate", "_sample", "greedy_search", "beam_search", "sample", "cache_utils",
                     "past_key_values", "decode")


def _oom_phase(hits: Sequence[Hit]) -> str | None:
    for hit in hits:
        if hit.block is None:
            continue
        functions = " ".join(f"{f.file} {f.function or ''}" for f in hit.block.frames).lower()
        if any(m.lower() in functions for m in _GENERATE_MARKERS if m not in ("sample", "decode")):
            return "generate"
        if any(m.lower() in functions for m in _LOAD_MARKERS):
            return "load"
    return None


def _oom_text(hits: Sequence[Hit], store: _LineStore) -> str:
    """The out-of-memory message: the hit line and what follows it (it may be wrapped)."""
    for hit in sorted(hits, key=lambda h: -h.confidence):
        text = hit.line.text
        if "out of memory" not in text.lower():
            continue
        following = [store.text(n) for n in range(hit.line.number + 1, hit.line.number + 8)]
        return " ".join([text, *following])
    return ""


def _fmt_signal(ctx: DiagnosisContext) -> str:
    if ctx.exit_signal is not None:
        return f"signal {ctx.exit_signal}" + (" (SIGKILL)" if ctx.exit_signal == _SIGKILL else "")
    return f"exit code {ctx.exit_code}"


def _pressure_facts(ctx: DiagnosisContext) -> list[tuple[str, str]]:
    facts: list[tuple[str, str]] = []
    if ctx.ram_used_fraction is not None:
        facts.append(("RAM used", fmt_pct(100 * ctx.ram_used_fraction)))
    if ctx.swap_used_fraction is not None:
        facts.append(("swap used", fmt_pct(100 * ctx.swap_used_fraction)))
    return facts


def aggregate(hits: Sequence[Hit], store: _LineStore, context: DiagnosisContext | None = None,
              blocks: Sequence[ErrorBlock] = (), clues: Sequence[Clue] = (), *,
              failed: bool = True, words: Mapping[str, float] | None = None,
              bug: bool = False) -> list[Cause]:
    """Rank the causes the hits point at, then the weaker clues (evidence.py), fill the top-3
    (priors.py) when the log shows a failure (`failed`) or a message named a cause, calibrate
    the log's scores (calibration.py), and adjust by the live context. `words`: the
    posterior of the log's words (lexical.py), a lead for the top-3; `bug`: the failure is a
    plain bug in the user's code (evidence.plain_bug), whose words start nothing."""
    ctx = context or DiagnosisContext()
    hits = list(hits)
    if ctx.killed_by_console:
        hits = [h for h in hits if h.signature.tag != "kill"]
    has_block_errors = any(h.block is not None for h in hits)
    has_error_record = any(not h.line.warn for h in hits)
    # A process killed outright (SIGKILL, exit -9/137): the errors printed after it are mostly
    # its fallout (a checkpoint never written, a collective whose peer vanished).
    first_kill = min((h.line.number for h in hits if h.signature.tag == "kill"
                      and h.confidence >= 0.6),
                     default=None)
    weighted: list[Hit] = []
    for hit in hits:
        confidence = hit.confidence
        if has_block_errors and hit.block is None and hit.line.role == WARNING:
            confidence *= 0.85  # a warning beside a real error matters less than the error
        elif hit.line.warn and has_error_record:
            confidence *= _WARN_RECORD_WEIGHT  # a WARNING-level record beside an error-level one
        if (first_kill is not None and 0 < hit.line.number - first_kill <= _KILL_FALLOUT_LINES
                and hit.signature.cause != "host_oom"):
            confidence *= 0.7
        weighted.append(Hit(hit.signature, hit.line, confidence, hit.block))
    by_cause: dict[str, list[Hit]] = {}
    for hit in weighted:
        by_cause.setdefault(hit.signature.cause, []).append(hit)

    founded = {cause for cause, hs in by_cause.items()
               if any(h.signature.kind == "error" and h.confidence >= 0.55 for h in hs)}
    scores: dict[str, float] = {}
    for cause, hs in by_cause.items():
        best = max(h.confidence for h in hs)
        distinct = len({h.signature for h in hs})
        score = min(0.99, best + 0.04 * min(distinct - 1, 2))
        others = founded - {cause}
        kinds = {h.signature.kind for h in hs}
        if others and kinds == {"symptom"}:
            score *= 0.5
        elif others and kinds <= {"symptom", "hint"}:
            score *= 0.6
        scores[cause] = score
    _outrank_fallout(weighted, scores)

    extra_evidence: dict[str, list[str]] = {}
    extra_facts: dict[str, list[tuple[str, str]]] = {}
    if ctx.killed_by_console:  # the console's own kill: the words about it are not a failure
        clues = [c for c in clues if c.cause != "host_oom"]
    # Settings read from a command line rank the weak leads only (priors.fill below).
    clue_scores = score_clues([c for c in clues if not c.what.startswith("setting:")])
    for cause, weight in clue_scores.items():
        if cause in scores:
            scores[cause] = min(0.99, scores[cause] + EVIDENCE_BOOST * weight)
        elif weight >= (MIN_EVIDENCE if by_cause else MIN_EVIDENCE_ALONE):
            scores[cause] = EVIDENCE_SCALE * weight
            described = sorted({c.what for c in clues if c.cause == cause},
                               key=lambda w: -max(c.weight for c in clues
                                                  if c.cause == cause and c.what == w))
            extra_evidence[cause] = ["weak evidence: " + ", ".join(described[:4])]
    evidence_only = set(scores) - set(by_cause)
    kept = {c: v for c, v in scores.items() if v >= MIN_CONFIDENCE or c in evidence_only}
    # Fill the top-3 from weaker, general evidence (priors.py): clues under the threshold,
    # rule hits too weak to report, what usually goes with the named causes, the base rate.
    # A message scored under MIN_CONFIDENCE on purpose (a hint, a benign line) is no lead.
    weak = {c: w for c, w in score_clues(clues).items() if c not in kept}
    # The console's own kill ends the log: its words are no failure either.
    words = {} if ctx.killed_by_console or not words else words
    # The words' posterior (lexical.py) raises a cause already named a little, and offers one
    # itself when it is strong enough: a lead, as no message named it.
    for cause, p in words.items():
        if cause in kept:
            kept[cause] = min(0.99, kept[cause] + WORDS_BLEND * p)
        elif p >= priors.MIN_WORDS_LEAD and not bug:
            kept[cause] = priors.WORDS_SCALE * p
            extra_evidence[cause] = [_fill_reason(cause, "words", clues)]
    points = bool(kept) or (failed and (
        points_somewhere(clues, priors.MIN_LEAD)
        or (not bug and max(words.values(), default=0.0) >= priors.MIN_WORDS_ALONE)))
    filled = priors.fill(kept, weak, words) if points else {}
    for cause, (value, reason) in filled.items():
        kept[cause] = value
        extra_evidence[cause] = [_fill_reason(cause, reason, clues)]
    scores = calibration.calibrate_ranked(kept, {c for c in kept if c not in by_cause})
    _apply_exit_context(ctx, by_cause, scores, extra_evidence, extra_facts)

    causes: list[Cause] = []
    last_block = max(blocks, key=lambda b: b.last_line) if blocks else None
    for cause_id, score in scores.items():
        built = _build_cause(cause_id, score, by_cause.get(cause_id, []), store, ctx=ctx,
                             extra_evidence=extra_evidence.get(cause_id, []),
                             extra_facts=extra_facts.get(cause_id, []),
                             last_block=last_block)
        # A lead: no library message named it and the live context did not either (weak clues,
        # co-occurrence, the base rate); a finding otherwise.
        lead = cause_id not in by_cause and cause_id not in extra_facts
        causes.append(replace(built, lead=True) if lead else built)
    rank = {cause_id: i for i, cause_id in enumerate(scores)}  # ties keep the raw order
    causes.sort(key=lambda c: (-c.confidence, rank.get(c.id, len(rank)), c.id))
    return causes[:MAX_CAUSES]


_FALLOUT_WEIGHT = 0.8  # a cause whose errors another message explains ranks this far below it


def _outrank_fallout(hits: Sequence[Hit], scores: dict[str, float]) -> None:
    """A message that names the root of another cause's errors (signature tag
    "over:<cause>": NCCL's failed shared-memory segment under its "unhandled system error")
    puts that cause below its own: the other cause's errors are its fallout."""
    for hit in hits:
        over = hit.signature.tag.removeprefix("over:")
        if (over != hit.signature.tag and over in scores and hit.confidence >= 0.9
                and hit.signature.cause in scores):
            scores[over] = min(scores[over], _FALLOUT_WEIGHT * scores[hit.signature.cause])


def _fill_reason(cause: str, reason: str, clues: Sequence[Clue]) -> str:
    """One line saying what a filled-in candidate rests on."""
    if reason == "weak":
        described = sorted({c.what for c in clues if c.cause == cause},
                           key=lambda w: -max(c.weight for c in clues
                                              if c.cause == cause and c.what == w))
        return "weak lead: " + (", ".join(described[:3]) or "a message too weak to report")
    if reason == "words":
        return ("weak lead: the words of this error usually go with this cause "
                "(word statistics of the labelled corpus)")
    if reason.startswith("near "):
        return (f"weak lead: often the real cause when {reason[5:]} is named "
                "(co-occurrence in the labelled corpus)")
    return "weak lead: a common cause of failures (base rate in the labelled corpus)"


def _apply_exit_context(ctx: DiagnosisContext, by_cause: dict[str, list[Hit]],
                        scores: dict[str, float], evidence: dict[str, list[str]],
                        facts: dict[str, list[tuple[str, str]]]) -> None:
    """How the engine died and the memory pressure at the time change the host-OOM verdict."""
    ram, swap = ctx.ram_used_fraction, ctx.swap_used_fraction
    pressure = (ram is not None and ram >= 0.9) or (swap is not None and swap >= 0.8)
    relaxed = ram is not None and ram < 0.7 and (swap is None or swap < 0.5)
    log_score = scores.get("host_oom", 0.0)
    only_kill_hits = bool(by_cause.get("host_oom")) and all(
        h.signature.tag == "kill" for h in by_cause["host_oom"])
    if ctx.died_by_sigkill and not ctx.killed_by_console:
        if not (pressure or ctx.oom_kill_evidence or ctx.kernel_oom_line):
            # No evidence of an OOM kill: a signal from outside (a user, a job scheduler, a
            # supervisor). Only log lines that name a memory failure keep host_oom.
            if only_kill_hits:
                scores.pop("host_oom", None)
            return
        # The kernel's own line naming the engine is the strongest word there is.
        score = max(log_score, 0.97 if ctx.kernel_oom_line else 0.92)
        scores["host_oom"] = score
        said = evidence.setdefault("host_oom", [])
        if ctx.kernel_oom_line:
            said.append(ctx.kernel_oom_line)
        said.append(f"the engine was killed: {_fmt_signal(ctx)}")
        if ctx.oom_kill_evidence:
            said.append(ctx.oom_kill_evidence)
        if ctx.kernel_log_note and not ctx.kernel_oom_line:
            said.append(ctx.kernel_log_note)
        if pressure or relaxed:
            evidence["host_oom"].append(
                ", ".join(f"{label} {value}" for label,
                          value in _pressure_facts(ctx)) + " at the time")
        facts.setdefault("host_oom", []).extend([("engine exit", _fmt_signal(ctx)),
                                                 *_pressure_facts(ctx)])
    elif "host_oom" in scores:
        if pressure:
            scores["host_oom"] = min(0.99, log_score + 0.1)
        elif relaxed and only_kill_hits:
            scores["host_oom"] = min(log_score * 0.7, 0.55)  # RAM was fine: the kill alone is weak
        if pressure or relaxed:
            facts.setdefault("host_oom", []).extend(_pressure_facts(ctx))


def _build_cause(cause_id: str, score: float, hits: Sequence[Hit], store: _LineStore, *,
                 ctx: DiagnosisContext, extra_evidence: Sequence[str],
                 extra_facts: Sequence[tuple[str, str]], last_block: ErrorBlock | None) -> Cause:
    info = CAUSES[cause_id]
    ordered = sorted(hits, key=lambda h: -h.confidence)
    notes: list[str] = []
    fixes: list[str] = []
    for hit in ordered:
        if hit.signature.note and hit.signature.note not in notes:
            notes.append(hit.signature.note)
        fixes.extend(hit.signature.fixes)
    title = info.title
    explanation = info.explanation
    if notes:
        explanation = notes[0][0].upper() + notes[0][1:] + ". " + info.explanation
    facts: list[tuple[str, str]] = list(extra_facts)
    if cause_id == "cuda_oom":
        parsed = numbers.parse_cuda_oom(_oom_text(hits, store))
        verdict = numbers.judge_oom(
            parsed, phase=ctx.phase or _oom_phase(hits), gpus=ctx.gpus, engine_pid=ctx.engine_pid,
            weights_bytes=ctx.weights_bytes, kv_bytes_per_token=ctx.kv_bytes_per_token,
            context_tokens=ctx.context_tokens,
        )
        title = verdict.title
        explanation = verdict.explanation
        fixes = [*verdict.fixes, *fixes]
        facts.extend(verdict.facts)
    if any(h.block is not None and h.block.async_cuda for h in hits):
        fixes.append("CUDA errors are reported asynchronously: rerun with CUDA_LAUNCH_BLOCKING=1 "
                     "to see the operation that really failed")
    # When the last error printed is not what names the cause, say what surfaced.
    if last_block is not None and last_block.surface is not None and hits:
        surface_lines = set(last_block.surface.line_numbers)
        if not any(h.line.number in surface_lines for h in hits):
            facts.append(("surfaced as", last_block.summary[:200]))
    fixes.extend(info.fixes)
    seen_lines: list[int] = []
    for hit in sorted(hits, key=lambda h: h.line.number):
        if hit.line.number not in seen_lines:
            seen_lines.append(hit.line.number)
    # Keep the strongest evidence when there is more than fits.
    if len(seen_lines) > MAX_EVIDENCE:
        strongest = {h.line.number for h in ordered[:MAX_EVIDENCE]}
        seen_lines = [n for n in seen_lines if n in strongest][:MAX_EVIDENCE]
    evidence = [_clip(store.text(n)) for n in seen_lines]
    evidence.extend(extra_evidence)
    return Cause(
        id=cause_id,
        confidence=round(min(score, 0.99), 2),
        title=title,
        explanation=explanation,
        evidence=tuple(evidence),
        fixes=tuple(dict.fromkeys(fixes))[:6],
        evidence_lines=tuple(seen_lines),
        facts=tuple(dict(facts).items()),
    )


def _clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _EVIDENCE_CHARS else text[: _EVIDENCE_CHARS - 3] + "..."


# -- public entry points -------------------------------------------------------------------------

def diagnose_lines(raw_lines: Sequence[str],
                   context: DiagnosisContext | None = None) -> list[Cause]:
    parsed = parse_lines(raw_lines)
    if context is None or context == DiagnosisContext():
        parsed = records_handed_over(parsed)
    store = _LineStore(parsed.lines)
    block_of = {n: b for b in parsed.blocks for n in b.line_numbers}
    hits = _scan_lines(parsed.lines, block_of, store)
    for block in parsed.blocks:
        hits.extend(_block_hits(block, store))
    hits.extend(_cut_tail_hits(parsed.lines, block_of, store, hits))
    hits.extend(_wrapped_warning_hits(parsed.lines, store, hits))
    clues = log_clues(parsed.lines, parsed.blocks)
    # Without live facts the text was handed over by a person: a few lines of it are a report.
    failed = log_failed(parsed.lines, parsed.blocks,
                        handed_over=context is None or context == DiagnosisContext())
    # Words are read from a failure only: a clean run's words are no lead.
    words = lexical.lead(parsed.lines, parsed.blocks) if failed else {}
    bug = failed and plain_bug(parsed.lines, parsed.blocks)
    return aggregate(hits, store, context, parsed.blocks, clues, failed=failed, words=words,
                     bug=bug)


def diagnose_text(text: str, context: DiagnosisContext | None = None) -> list[Cause]:
    """Ranked causes for a whole log (best first); [] when nothing is recognised."""
    return diagnose_lines(split_lines(text), context)


@dataclass
class StreamingDiagnoser:
    """Feed lines as they arrive; get a `DiagnosedError` as each error completes.

    A traceback is complete when the line after it shows it is over (or on `flush()`, which the
    log pane calls when the engine goes quiet or exits). Lines that carry a cause on their own
    ("Killed", a driver warning, an NCCL failure) are reported at once. Memory stays bounded:
    only the last `window` lines are kept.
    """

    window: int = 400
    _parser: LogParser = field(default_factory=LogParser)
    _recent: deque[LogLine] = field(init=False)
    _loose_hits: deque[Hit] = field(init=False)
    _partial: str = ""
    _last_loose: tuple[int, str] = (-(10**9), "")

    def __post_init__(self) -> None:
        self._recent = deque(maxlen=self.window)
        self._loose_hits = deque(maxlen=200)

    def feed(self, line: str, context: DiagnosisContext | None = None) -> list[DiagnosedError]:
        log_line, completed = self._parser.feed(line)
        self._recent.append(log_line)
        out = [self._diagnose_block(block, context) for block in completed]
        if _scanned(log_line) and not self._in_open_block(log_line):
            out.extend(self._loose(log_line, context) or self._wrapped(log_line, context))
        return [d for d in out if d is not None]

    def feed_text(self, chunk: str,
                  context: DiagnosisContext | None = None) -> list[DiagnosedError]:
        """Feed raw output that may end mid-line; the partial line waits for its end."""
        data = self._partial + chunk
        lines = data.split("\n")
        self._partial = lines.pop()
        out: list[DiagnosedError] = []
        for line in lines:
            out.extend(self.feed(line[:-1] if line.endswith("\r") else line, context))
        return out

    def flush(self, context: DiagnosisContext | None = None) -> list[DiagnosedError]:
        """The stream paused or ended: close open tracebacks; with exit facts, explain the exit."""
        out: list[DiagnosedError] = []
        if self._partial:
            partial, self._partial = self._partial, ""
            out.extend(self.feed(partial, context))
        out.extend(d for d in (self._diagnose_block(b,
            context) for b in self._parser.close()) if d is not None)
        if context is not None and (context.exit_code is not None
                                    or context.exit_signal is not None):
            store = _LineStore(self._recent)
            causes = aggregate(list(self._loose_hits), store, context)
            if causes:
                last = self._recent[-1].number if self._recent else 0
                out.append(DiagnosedError("exit", last, last,
                                          f"engine exited ({_fmt_signal(context)})",
                                          tuple(causes)))
        return out

    def _in_open_block(self, line: LogLine) -> bool:
        return line.role not in ("loose", "warning")

    def _loose(self, line: LogLine, context: DiagnosisContext | None) -> list[DiagnosedError]:
        signatures = _line_signatures(line.text.lower())
        if not signatures:
            return []
        hits: list[Hit] = []
        store = _LineStore(self._recent)
        _confirm(line, sorted(signatures, key=_sig_order), None, store, hits)
        if not hits:
            return []
        self._loose_hits.extend(hits)
        if not any(h.signature.kind == "error" and h.confidence >= 0.5 for h in hits):
            return []  # a hint: kept for the errors that follow
        causes = aggregate(hits + self._recent_hints(line.number), store, context)
        if not causes:
            return []
        last_number, last_cause = self._last_loose
        if causes[0].id == last_cause and line.number - last_number <= 5:
            self._last_loose = (line.number, last_cause)
            return []  # the same cause on the next lines: one card is enough
        self._last_loose = (line.number, causes[0].id)
        return [DiagnosedError("line", line.number, line.number, _clip(line.text), tuple(causes))]

    def _wrapped(self, line: LogLine, context: DiagnosisContext | None) -> list[DiagnosedError]:
        """A loose line that may continue a warning with no finding of its own: the chain that
        `_wrapped_warning_hits` reads in a whole log, once it ends at this line; one card."""
        if line.role != LOOSE or line.info:
            return []
        recent = list(islice(reversed(self._recent), _WRAPPED_MAX_LINES))[::-1]
        start = next((i for i in range(len(recent) - 2, -1, -1)
                      if recent[i].role == WARNING), None)
        if start is None:
            return []
        warning = recent[start]
        chain = _warning_chain(recent, start)
        if chain[-1] is not line or warning.info or warning.number == self._last_loose[0]:
            return []
        store = _LineStore(self._recent)
        hits = _joined_hits(warning, [ln.text for ln in chain], None, store)
        if not any(h.signature.kind == "error" and h.confidence >= 0.5 for h in hits):
            return []
        self._loose_hits.extend(hits)
        causes = aggregate(hits + self._recent_hints(warning.number), store, context)
        if not causes:
            return []
        self._last_loose = (warning.number, causes[0].id)
        return [DiagnosedError("line", warning.number, line.number, _clip(hits[0].line.text),
                               tuple(causes))]

    def _recent_hints(self, before: int) -> list[Hit]:
        oldest = self._recent[0].number if self._recent else 0
        return [h for h in self._loose_hits
                if h.signature.kind == "hint" and oldest <= h.line.number < before]

    def _diagnose_block(self, block: ErrorBlock,
                        context: DiagnosisContext | None) -> DiagnosedError | None:
        store = _LineStore(self._recent)
        hits: list[Hit] = []
        for number in block.line_numbers:
            line = store.get(number)
            if line is None or not _scanned(line):
                continue
            signatures = _line_signatures(line.text.lower())
            if signatures:
                _confirm(line, sorted(signatures, key=_sig_order), block, store, hits)
        hits.extend(_block_hits(block, store))
        hits.extend(self._recent_hints(block.first_line))
        recent = list(self._recent)
        clues = block_clues(block, recent)
        in_block = set(block.line_numbers)
        own = [line for line in recent if line.number in in_block]
        words = {} if benign(block) else lexical.lead(own, (block,))
        causes = aggregate(hits, store, context, (block,), clues, words=words,
                           bug=plain_bug(own, (block,)))
        return DiagnosedError("traceback", block.first_line, block.last_line, _clip(block.summary),
                              tuple(causes), block)
