"""Structured errors out of real, noisy logs.

A log line is cleaned first (ANSI colours removed, a carriage-return progress bar reduced to its
last state, log prefixes such as timestamps, levels and `[rank1]:` tags stripped, the rank kept
as the line's source), then fed to a small state machine per source, so that tracebacks from
several interleaved processes stay apart. The machine recognises Python tracebacks (chained with
"During handling of the above exception..." / "The above exception was the direct cause...",
exception groups with their `|`-prefixed sub-tracebacks, IPython's format), tracebacks cut off
at either end, and bare exception lines. Each line gets a role, so that the rules can ignore code
lines quoted inside a traceback and weigh exception messages above chatter.

`LogParser.feed(raw_line)` is incremental (the log pane feeds lines as they arrive and gets blocks
back as they complete); `parse_log(text)` runs the same machine over a whole text.
No torch, no textual: this module only reads strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

# Line roles.
HEADER = "header"  # "Traceback (most recent call last):" and its variants
FRAME = "frame"  # '  File "x.py", line 3, in f'
CODE = "code"  # source lines, carets and elisions inside a traceback
EXCEPTION = "exception"  # "ValueError: ..." closing a traceback, or a bare exception line
MESSAGE = "message"  # continuation lines of an exception message
CHAIN = "chain"  # "During handling of the above exception..." and group separators
WARNING = "warning"  # "...: UserWarning: ..."
LOOSE = "loose"  # anything else

_ANSI_RE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")

# Log prefixes at the start of a line, matched as one run: rank tags, timestamps, levels, glog
# headers, then (only after one of those) logger locations such as "[core.py:517]". The
# alternatives are grouped by their first character so that the regex engine rejects a wrong
# branch on that character (this runs on most lines of a long log).
_TIME = r"\d\d:\d\d:\d\d(?:[.,]\d+)?"
_DATE_TIME = r"\d{4}-\d\d-\d\d[T\s_]" + _TIME + r"(?:Z|\s?[+-]\d\d:?\d\d)?"
_LEVEL = r"(?:DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL|TRACE)"
_GLOG = r"[IWEF]\d{3,4}\s" + _TIME + r"\s+(?:\d+\s+)?[\w./-]+:\d+\]"
_PREFIX_TOKEN = (
    r"(?:\d(?:\d{3}" + _DATE_TIME[len(r"\d{4}"):] + r"(?:\s*-)?\s?"  # 2024-06-17 13:18:29,371
    + r"|\d-\d\d\s" + _TIME + r"\s?"  # vLLM's 06-13 07:35:59
    + r"|\d:\d\d:\d\d(?:[.,]\d+)?(?:\s*-)?\s)"  # 10:02:11
    + r"|" + _LEVEL + r"(?::[\w.]*:|\s*[:|]|\s+-)?\s?"  # ERROR / WARNING:root: / INFO -
    + r"|" + _GLOG + r"\s?"  # E0814 10:12:17.539000 1402 api.py:869]
    + r"|\[(?:" + _DATE_TIME + r"\](?:\s*-)?|\d\d-\d\d\s" + _TIME + r"\]|" + _TIME + r"\](?:\s*-)?"
    + r"|" + _GLOG[:-2] + r"\]|" + _LEVEL + r"\s*\](?::[\w.]*:|\s*[:|]|\s+-)?"
    + r"|(?:rank|Rank|RANK)\s*\d+\]:?|default\d+\]:|RANK:\d+\]|PID:\d+\])\s?"  # [rank1]: [PID:12]
    + r"|\[\d+\]\(https?://[^)\s]+\)"  # a GitHub Actions log line copied with its link
    # (VllmWorker pid=12), Ray's (head, rank=0, pid=8292)
    + r"|\([A-Za-z_][\w.-]*(?:,?\s+\w+=[\w.:-]+)*?,?\s+pid=\d+[^)]*\)\s?"
    + r"|(?:localhost|[a-z][a-z0-9-]*\d):\s)"  # pdsh / deepspeed host tags
)
_PREFIX_RUN_RE = re.compile(
    _PREFIX_TOKEN + r"(?:" + _PREFIX_TOKEN + r"|\[[\w.\-/]+(?::\d+)?(?::\w+)?\]\s?)*"
)
# Every prefix token starts with one of these: the regex is skipped for other lines.
_PREFIX_FIRST_CHARS = frozenset("[(0123456789IWEFDCTabcdefghijklmnopqrstuvwxyz")
# A glog record opens the line, a bracket, or follows a rank tag ("[rank5]:W0215 ...").
_GLOG_INFO_RE = re.compile(r"(?:^|\[|\]:)I\d{3,4}\s")
# Which process wrote the line, from the prefix run.
_SOURCE_RE = re.compile(
    r"\[(?:rank|Rank|RANK|default)\s*:?\s*(?P<rank>\d+)\]|\([^)]*?\bpid=(?P<pid>\d+)"
    r"|^(?:rank(?P<bare_rank>\d+)|(?P<host>localhost|[a-z][a-z0-9-]*\d)):\s"
)
# A prefix made only of source tags: the line is still a continuation, not a new log record.
_SOURCE_ONLY_RE = re.compile(
    r"(?:\[(?:rank|Rank|RANK)\s*\d+\]:?\s?|\[default\d+\]:\s?|\([^)]*pid=\d+[^)]*\)\s?"
    r"|(?:localhost|[a-z][a-z0-9-]*\d):\s)+")
# Markdown and e-mail quoting left over when a log was pasted into an issue.
_QUOTE_RE = re.compile(r"^(?:\s*>+\s?)*\s*(?:\*\*(?=\S))?")
_FENCE_RE = re.compile(r"^\s*```")

_HEADER_RE = re.compile(
    r"^(?:\+\s*)?(?:Exception Group )?Traceback \(most recent call last\):?\s*$"
    r"|^(?P<ipy_type>[A-Za-z_][\w.]*)\s{2,}Traceback \(most recent call last\)"
    r"|^[╭┌]─+ Traceback \(most recent call last\) ─+[╮┐]"  # rich.traceback's box
)
# Inside rich's box: "│ /path/x.py:123 in func                │"
_RICH_FRAME_RE = re.compile(r"^[│|] (?P<file>\S+\.py|<\w+>):(?P<line>\d+) in (?P<func>\S+)")
_FRAME_RE = re.compile(
    r'^File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>.+))?'
    # IPython >= 8: "File /x/y.py:1603, in _LazyModule._get_module(self, name)",
    # "Cell In[3], line 5"
    r"|^(?:File (?P<ifile>[^\s\"]+):(?P<iline>\d+)|Cell (?P<cell>In ?\[\d*\]), line "
    r"(?P<cline>\d+))(?:, in (?P<ifunc>[\w.<>]+))?"
)
# A frame line whose start was cut off ('le.py", line 845, in load_state_dict').
_CUT_FRAME_RE = re.compile(r'^\S*", line (?P<line>\d+), in (?P<func>\S+)')
# IPython: "/path/x.py in func(self)" or "[<ipython-input-1>](...) in <cell line: 17>()".
_IPY_FRAME_RE = re.compile(r"^\[?(?P<file>[^\s\]]+\.py|<ipython-input[^>]*>)\]?(?:\([^)]*\))? in "
                           r"(?P<func>[\w<>:\s]+)\(")
_CHAIN_RE = re.compile(
    r"^(?P<context>During handling of the above exception, another exception occurred:)"
    r"|^(?P<cause>The above exception was the direct cause of the following exception:)"
)
_GROUP_SEP_RE = re.compile(r"^\+?-\+-+ (?:\d+|\.\.\.) -+$|^\+?-\+?-{8,}$")
_GROUP_LINE_RE = re.compile(r"^(?:\s*\|)+ ?|^\s*\+(?=[- ])")
_IDENT_RE = re.compile(r"(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*")
_EXC_SUFFIX_RE = re.compile(
    r"(?:Error|Exception|Exit|Interrupt|Failure|Fault|Timeout|Abort|Group|Warning|Iteration|"
    r"BrokenProcessPool|Killed)$"
)
_BARE_EXCEPTIONS = frozenset(
    {"MemoryError", "AssertionError", "KeyboardInterrupt", "StopIteration", "SystemExit",
     "RecursionError", "NotImplementedError", "ZeroDivisionError", "BrokenPipeError"}
)
_WARNING_RE = re.compile(r"^(?:.*?:\d+: )?(?P<type>[A-Z]\w*Warning): ")
_CODE_HINT_RE = re.compile(r"^(?:\^+|~+|[~^ ]+|\.\.\.<\d+ lines>\.\.\.|\[Previous line repeated "
                           r"\d+ more times?\]|-*> ?\d+ .*|\s*\d+ .*|\d+ frames?)$")
_ASYNC_CUDA_MARK = "might be asynchronously reported"

_MAX_MESSAGE_LINES = 80


_new_line = tuple.__new__  # LogLine without the NamedTuple constructor's extra frame (hot path)


class LogLine(NamedTuple):
    number: int  # 0-based index of the line in the input
    text: str  # cleaned text
    source: str | None  # "rank1", "pid 123" when the prefix said which process wrote it
    role: str
    prefixed: bool  # a timestamp / level prefix was stripped (a new log record)
    info: bool = False  # logged at INFO/DEBUG level: information, not a failure
    warn: bool = False  # logged at WARNING level: weighs less than an error beside it
    error: bool = False  # logged at ERROR/CRITICAL/FATAL level: a failure, whatever its words


@dataclass(frozen=True, slots=True)
class Frame:
    file: str
    line: int | None
    function: str | None


@dataclass(frozen=True, slots=True)
class ExceptionRecord:
    type: str  # "RuntimeError", "torch.OutOfMemoryError"
    message: str  # first line and continuation lines joined with "\n"
    frames: tuple[Frame, ...]  # innermost last
    line_numbers: tuple[int, ...]  # the exception line and its continuation lines
    relation: str  # "" (first), "context", "cause" or "group": how it links to the one before
    truncated_head: bool  # the traceback's start was not in the log

    @property
    def first_line(self) -> str:
        first = self.message.strip().splitlines()[0] if self.message.strip() else ""
        return f"{self.type}: {first}" if first else self.type


@dataclass(frozen=True, slots=True)
class ErrorBlock:
    """One traceback (with its chain) or one bare exception line, as printed by one source."""

    first_line: int
    last_line: int
    source: str | None
    exceptions: tuple[ExceptionRecord, ...]  # print order: the last one is what surfaced
    frames: tuple[Frame, ...]  # every frame of every traceback in the block
    truncated_tail: bool  # frames were printed but the exception line never came
    async_cuda: bool  # "CUDA kernel errors might be asynchronously reported"
    line_numbers: tuple[int, ...]  # every line that belongs to the block

    @property
    def surface(self) -> ExceptionRecord | None:
        return self.exceptions[-1] if self.exceptions else None

    @property
    def summary(self) -> str:
        if self.surface is not None:
            return self.surface.first_line
        return "traceback cut off before its exception line"


@dataclass
class _Builder:
    source: str | None
    first_line: int
    last_line: int
    prefixed: bool
    state: str = "tb"  # "tb" frames, "msg" after an exception line, "chain" waiting for a header
    frames: list[Frame] = field(default_factory=list)
    all_frames: list[Frame] = field(default_factory=list)
    exceptions: list[ExceptionRecord] = field(default_factory=list)
    line_numbers: list[int] = field(default_factory=list)
    exc_type: str = ""
    exc_lines: list[str] = field(default_factory=list)
    exc_numbers: list[int] = field(default_factory=list)
    relation: str = ""
    next_relation: str = ""
    truncated_head: bool = False
    in_group: bool = False
    blank_run: int = 0
    last_role: str = HEADER
    async_cuda: bool = False
    bare: bool = False  # the exception line had no ":": Python printed no message after it

    def add_line(self, number: int) -> None:
        self.line_numbers.append(number)
        self.last_line = number

    def close_exception(self) -> None:
        if not self.exc_type:
            return
        # Trailing blank continuation lines are not part of the message.
        while self.exc_lines and not self.exc_lines[-1].strip():
            self.exc_lines.pop()
            self.exc_numbers.pop()
        self.exceptions.append(
            ExceptionRecord(
                type=self.exc_type,
                message="\n".join(self.exc_lines),
                frames=tuple(self.frames),
                line_numbers=tuple(self.exc_numbers),
                relation=self.relation,
                truncated_head=self.truncated_head,
            )
        )
        self.exc_type = ""
        self.exc_lines = []
        self.exc_numbers = []
        self.frames = []

    def start_traceback(self, relation: str, truncated_head: bool) -> None:
        self.close_exception()
        self.relation = relation
        self.truncated_head = truncated_head
        self.frames = []
        self.state = "tb"

    def build(self) -> ErrorBlock | None:
        truncated_tail = self.state == "tb" and not self.exc_type
        self.close_exception()
        if not self.exceptions and not self.all_frames:
            return None
        return ErrorBlock(
            first_line=self.first_line,
            last_line=self.last_line,
            source=self.source,
            exceptions=tuple(self.exceptions),
            frames=tuple(self.all_frames),
            truncated_tail=truncated_tail,
            async_cuda=self.async_cuda,
            line_numbers=tuple(self.line_numbers),
        )


def clean_line(raw: str) -> tuple[str, str | None, bool, bool]:
    """(text, source, prefixed, info): ANSI removed, last carriage-return state, log prefixes
    stripped; `info` when the prefix says INFO/DEBUG (or NCCL says "NCCL INFO")."""
    return clean_line_levels(raw)[:4]


_GLOG_WARN_RE = re.compile(r"(?:^|\[|\]:)W\d{3,4}\s")
_GLOG_ERROR_RE = re.compile(r"(?:^|\[|\]:)[EF]\d{3,4}\s")


def clean_line_levels(raw: str) -> tuple[str, str | None, bool, bool, bool, bool]:
    """clean_line's answer, `warn`: the prefix says WARNING (or a glog W record), and `error`:
    it says ERROR, CRITICAL or FATAL (or a glog E/F record), which the stripped text may no
    longer show ("ERROR: Arch mismatch" is left as "Arch mismatch")."""
    return _clean(raw)[:6]


# Lines of a long log repeat their shape with other numbers (timestamps, steps, ranks). Every
# regex that reads a log prefix, and every test that gives an idle line its role, treats the
# ten digits alike (`\d`, or a class holding all of them), so what they find depends only on
# the line with its digits read as 0: a line's prefix facts, and the role of a line that opens
# nothing, are kept per shape (tests/unit/test_diagnose_parser_shapes.py checks this against
# the reading of every line on its own). Bounded: emptied when full.
_ZERO_BYTES = bytes.maketrans(b"123456789", b"000000000")
_MAX_SHAPES = 8192
_MEMORIES: list[dict[bytes, Any]] = []


def shape_memory() -> dict[bytes, Any]:
    """A new memory of what was read per line shape, kept bounded by `remember` and emptied
    with every other one by `forget_shapes`."""
    memory: dict[bytes, Any] = {}
    _MEMORIES.append(memory)
    return memory


def remember(memory: dict[bytes, Any], shape: bytes, found: Any) -> None:
    if len(memory) >= _MAX_SHAPES:
        memory.clear()
    memory[shape] = found


def forget_shapes() -> None:
    """Empty every memory of line shapes (a benchmark's first reading starts from nothing)."""
    for memory in _MEMORIES:
        memory.clear()


# shape -> (end of the prefix run, has a source tag, prefixed, info, warn, error)
_PREFIX_SHAPES = shape_memory()
_IDLE_SHAPES = shape_memory()  # a line's shape -> the role of its text: LOOSE or WARNING


def digit_shape(text: str) -> bytes:
    """`text` in UTF-8 with each ASCII digit read as "0" (a digit's byte is never inside another
    character's bytes). Through bytes: str.translate costs some 20x more per line."""
    return text.encode("utf-8", "surrogatepass").translate(_ZERO_BYTES)


def _clean(raw: str) -> tuple[str, str | None, bool, bool, bool, bool, bytes]:
    """clean_line_levels' answer and the shape of the cleaned line, its log prefixes included
    (digits read as 0): the prefix run, and so the text after it, follow from it."""
    line = raw
    if "\x1b" in line:
        line = _ANSI_RE.sub("", line)
    if "\r" in line:
        last = line[line.rfind("\r") + 1:]
        if last.strip():
            line = last
        else:  # ended with "\r": the last non-empty state
            parts = [p for p in line.split("\r") if p.strip()]
            line = parts[-1] if parts else ""
    if "\t" in line:
        line = line.replace("\t", "    ")
    line = line.rstrip()
    if not line:
        return "", None, False, False, False, False, b""
    first = line[0]
    if first in "`>*" or (first == " " and line.lstrip()[:1] in (">", "*", "`")):
        if _FENCE_RE.match(line):
            return "", None, False, False, False, False, b""
        line = _QUOTE_RE.sub("", line, count=1)
        if line.endswith("**"):
            line = line[:-2].rstrip()
        if not line:
            return "", None, False, False, False, False, b""
    shape = digit_shape(line)
    facts: tuple[int, bool, bool, bool, bool, bool] | None = _PREFIX_SHAPES.get(shape)
    if facts is None:
        facts = _prefix_facts(line)
        remember(_PREFIX_SHAPES, shape, facts)
    cut, tagged, prefixed, info, warn, error = facts
    source = _source(line[:cut]) if tagged else None
    return line[cut:], source, prefixed, info, warn, error, shape


def _source(prefix: str) -> str | None:
    """The rank, process or host a log prefix names ("[rank3]:", "(Worker pid=12)", "node-2:")."""
    tag = _SOURCE_RE.search(prefix)
    if tag is None:
        return None
    rank = tag.group("rank") or tag.group("bare_rank")
    if rank:
        return f"rank{rank}"
    pid = tag.group("pid")
    return f"pid {pid}" if pid else tag.group("host")


def _prefix_facts(line: str) -> tuple[int, bool, bool, bool, bool, bool]:
    """(where the text after the log prefixes starts, whether the prefix names a source,
    prefixed, info, warn, error) for a cleaned, non-empty line."""
    first = line[0]
    cut = 0
    tagged = prefixed = info = warn = error = False
    m = _PREFIX_RUN_RE.match(line) if first in _PREFIX_FIRST_CHARS else None
    if m is not None and 0 < m.end() < len(line):
        prefix = m.group(0)
        prefixed = True
        if ("ank" in prefix or "pid=" in prefix or "default" in prefix or "RANK" in prefix
                or first.islower()) and _SOURCE_RE.search(prefix) is not None:
            tagged = True
            prefixed = _SOURCE_ONLY_RE.fullmatch(prefix) is None
        info = ("INFO" in prefix or "DEBUG" in prefix
                or (("[I" in prefix or "]:I" in prefix or first == "I")
                    and _GLOG_INFO_RE.search(prefix) is not None))
        warn = ("WARN" in prefix
                or (("[W" in prefix or "]:W" in prefix or first == "W")
                    and _GLOG_WARN_RE.search(prefix) is not None))
        error = ("ERROR" in prefix or "CRITICAL" in prefix or "FATAL" in prefix
                 or (("[E" in prefix or "[F" in prefix or "]:E" in prefix or "]:F" in prefix
                      or first in "EF")
                     and _GLOG_ERROR_RE.search(prefix) is not None))
        cut = m.end()
        line = line[cut:]
    if " NCCL INFO " in line:
        info = True
    if info:
        lower = line.lower()
        if ("error" in lower or "exception" in lower or "traceback" in lower or "fail" in lower
                or "killed" in lower or "warn" in lower):
            info = False  # records glued onto an INFO line (a paste that lost its newlines)
    return cut, tagged, prefixed, info, warn, error


def _exception_match(stripped: str, strict: bool) -> tuple[str, str] | None:
    """(type, first message line) when `stripped` reads as an exception line."""
    colon = stripped.find(":")
    if colon < 0:
        # A bare name: only the exceptions Python prints without a message.
        last = stripped.rsplit(".", 1)[-1]
        if last in _BARE_EXCEPTIONS and _IDENT_RE.fullmatch(stripped) is not None:
            return stripped, ""
        return None
    head = stripped[:colon]
    if not head or " " in head:
        return None
    rest = stripped[colon + 1:]
    if rest and not rest[0].isspace():
        return None  # "http://...", "a:b"
    if _IDENT_RE.fullmatch(head) is None:
        return None
    last = head.rsplit(".", 1)[-1]
    if _EXC_SUFFIX_RE.search(last) is not None or last in _BARE_EXCEPTIONS:
        if strict and last.endswith("Warning"):
            return None
        return head, rest.strip()
    if not strict and last[:1].isupper() and "." in head:
        return head, rest.strip()  # "concurrent.futures.process.BrokenProcessPool: ..."
    return None


class LogParser:
    """Incremental: feed raw lines, get `ErrorBlock`s back as they complete."""

    def __init__(self) -> None:
        self._open: dict[str | None, _Builder] = {}
        self._next_number = 0

    @property
    def lines_seen(self) -> int:
        return self._next_number

    def feed(self, raw: str) -> tuple[LogLine, Sequence[ErrorBlock]]:
        """The cleaned line with its role, and the blocks this line completed (often none)."""
        done: list[ErrorBlock] = []
        return self._feed(raw, done), done

    def _feed(self, raw: str, done: list[ErrorBlock]) -> LogLine:
        number = self._next_number
        self._next_number = number + 1
        text, source, prefixed, info, warn, error, shape = _clean(raw)
        if self._open:
            role = self._step(number, text, source, prefixed, done)
        elif not text:
            role = LOOSE
        else:
            known: str | None = _IDLE_SHAPES.get(shape)
            if known is not None:
                role = known
            else:
                role = self._idle(number, text, text.strip(), source, prefixed)
                if not self._open:  # it opened no block: LOOSE or WARNING, the same per shape
                    remember(_IDLE_SHAPES, shape, role)
        return _new_line(LogLine, (number, text, source, role, prefixed, info, warn, error))

    def close(self) -> list[ErrorBlock]:
        """End of input (or an idle pause): every open block is complete."""
        done: list[ErrorBlock] = []
        for source in list(self._open):
            self._finish(source, done)
        return done

    # -- the state machine -------------------------------------------------------------------

    def _finish(self, source: str | None, done: list[ErrorBlock]) -> None:
        builder = self._open.pop(source, None)
        if builder is not None:
            block = builder.build()
            if block is not None:
                done.append(block)

    def _step(self, number: int, text: str, source: str | None, prefixed: bool,
              done: list[ErrorBlock]) -> str:
        builder = self._open.get(source) if self._open else None
        if builder is None:
            return self._idle(number, text, text.strip(), source, prefixed) if text else LOOSE
        if builder.in_group or text.lstrip().startswith("+"):
            text = _GROUP_LINE_RE.sub("", text, count=1)
        stripped = text.strip()
        if builder is not None:
            role = self._continue(builder, number, text, stripped, prefixed)
            if role is not None:
                builder.last_role = role
                if _ASYNC_CUDA_MARK in stripped:
                    builder.async_cuda = True
                return role
            self._finish(source, done)
        return self._idle(number, text, stripped, source, prefixed)

    def _idle(self, number: int, text: str, stripped: str, source: str | None,
              prefixed: bool) -> str:
        if not stripped:
            return LOOSE
        if "Traceback" in stripped:
            header = _HEADER_RE.match(stripped)
            if header is not None:
                builder = _Builder(source, number, number, prefixed)
                builder.in_group = "Exception Group" in stripped
                builder.add_line(number)
                self._open[source] = builder
                return HEADER
        frame = (_parse_frame(stripped)
                 if ('", line ' in stripped or " in " in stripped or stripped.startswith(("File ",
                     "Cell In")))
                 else None)
        if frame is not None:
            builder = _Builder(source, number, number, prefixed, truncated_head=True)
            builder.frames.append(frame)
            builder.all_frames.append(frame)
            builder.add_line(number)
            builder.last_role = FRAME
            self._open[source] = builder
            return FRAME
        first = stripped[0]
        colon = stripped.find(":")
        # Cheap filter first: an exception line is "Name: ..." (no space before the colon) or a
        # bare name such as "MemoryError".
        if (first.isalpha() or first == "_") and (
                (colon > 0 and " " not in stripped[:colon]) or (colon < 0 and " " not in stripped)):
            exc = _exception_match(stripped, strict=True)
            if exc is not None:
                builder = _Builder(source, number, number, prefixed, truncated_head=True)
                builder.state = "msg"
                builder.exc_type, first = exc
                builder.bare = ":" not in stripped
                builder.exc_lines = [first]
                builder.exc_numbers = [number]
                builder.add_line(number)
                builder.last_role = EXCEPTION
                if _ASYNC_CUDA_MARK in stripped:
                    builder.async_cuda = True
                self._open[source] = builder
                return EXCEPTION
            if "Warning" in stripped and _WARNING_RE.match(stripped):
                return WARNING
        elif "Warning: " in stripped and _WARNING_RE.match(stripped):
            return WARNING
        return LOOSE

    def _continue(self, b: _Builder, number: int, text: str, stripped: str,
                  prefixed: bool) -> str | None:
        """The role of this line within the open block, or None when the block is complete."""
        if b.state == "tb":
            return self._in_frames(b, number, text, stripped)
        if b.state == "chain":
            if not stripped:
                b.add_line(number)
                return LOOSE
            header = _HEADER_RE.match(stripped) if "Traceback" in stripped else None
            if header is not None:
                b.start_traceback(b.next_relation, truncated_head=False)
                b.in_group = b.in_group or "Exception Group" in stripped
                b.add_line(number)
                return HEADER
            return None
        # "msg": after an exception line.
        chain = _CHAIN_RE.match(stripped) if stripped[:3] in ("Dur", "The") else None
        if chain is not None:
            b.close_exception()
            b.next_relation = "context" if chain.group("context") else "cause"
            b.state = "chain"
            b.blank_run = 0
            b.add_line(number)
            return CHAIN
        if b.in_group and stripped.startswith(("+-", "-+", "+")) and _GROUP_SEP_RE.match(stripped):
            b.close_exception()
            b.next_relation = "group"
            b.state = "chain" if not set(stripped) <= {"+", "-"} else "msg"
            if set(stripped) <= {"+", "-"}:
                b.in_group = False  # the group's closing rule
            b.add_line(number)
            return CHAIN
        if "Traceback" in stripped and _HEADER_RE.match(stripped):
            if b.in_group:
                b.start_traceback("group", truncated_head=False)
                b.add_line(number)
                return HEADER
            return None
        if not stripped:
            b.blank_run += 1
            if b.blank_run >= 2:
                return None
            return LOOSE
        if b.bare:
            return None  # "MemoryError" alone: no message follows it
        if _parse_frame(stripped) is not None:
            return None
        if prefixed and not b.prefixed:
            return None  # a new log record
        if len(b.exc_lines) >= _MAX_MESSAGE_LINES:
            return None
        if not text[:1].isspace() and _exception_match(stripped, strict=True) is not None:
            return None  # a new exception line starts a new error
        if "Warning: " in stripped and _WARNING_RE.match(stripped):
            return None  # a warning printed after the error
        if b.blank_run:
            b.exc_lines.append("")
            b.exc_numbers.append(number - 1)
            b.blank_run = 0
        b.exc_lines.append(text.rstrip())
        b.exc_numbers.append(number)
        b.add_line(number)
        return MESSAGE

    def _in_frames(self, b: _Builder, number: int, text: str, stripped: str) -> str | None:
        if not stripped:
            b.blank_run += 1
            if b.blank_run >= 3:
                return None
            return LOOSE
        b.blank_run = 0
        if stripped[0] in "│╰└":  # inside rich's traceback box: frames and source
            rich = _RICH_FRAME_RE.match(stripped)
            if rich is not None:
                boxed = Frame(rich.group("file"), int(rich.group("line")), rich.group("func"))
                b.frames.append(boxed)
                b.all_frames.append(boxed)
            b.add_line(number)
            return FRAME if rich is not None else CODE
        frame = _parse_frame(stripped)
        if frame is not None:
            b.frames.append(frame)
            b.all_frames.append(frame)
            b.add_line(number)
            return FRAME
        if "Traceback" in stripped and _HEADER_RE.match(stripped):
            return None  # a new traceback without a chain marker: this one was cut off
        indented = text[:1].isspace()
        if indented and b.last_role == FRAME:
            b.add_line(number)
            return CODE  # the source line Python prints under each frame
        exc = _exception_match(stripped, strict=False)
        if exc is not None:
            b.state = "msg"
            b.exc_type, first = exc
            b.bare = ":" not in stripped
            b.exc_lines = [first]
            b.exc_numbers = [number]
            b.add_line(number)
            return EXCEPTION
        if indented or b.last_role == FRAME or _CODE_HINT_RE.match(stripped):
            b.add_line(number)
            return CODE
        return None


def _parse_frame(stripped: str) -> Frame | None:
    if stripped.startswith(("File ", "Cell In")):
        m = _FRAME_RE.match(stripped)
        if m is not None:
            if m.group("file") is not None:
                return Frame(m.group("file"), int(m.group("line")), m.group("func"))
            return Frame(m.group("ifile") or m.group("cell"),
                         int(m.group("iline") or m.group("cline")),
                         m.group("ifunc"))
    if '", line ' in stripped:
        m = _CUT_FRAME_RE.match(stripped)
        if m is not None:
            return Frame("", int(m.group("line")), m.group("func"))
    if (".py" in stripped or "<ipython" in stripped) and " in " in stripped:
        m = _IPY_FRAME_RE.match(stripped)
        if m is not None:
            return Frame(m.group("file"), None, m.group("func").strip())
    return None


@dataclass(frozen=True, slots=True)
class ParsedLog:
    lines: tuple[LogLine, ...]
    blocks: tuple[ErrorBlock, ...]


def split_lines(text: str) -> list[str]:
    r"""Lines on "\n" only: a carriage return inside a line is a progress-bar update, kept.
    ANSI colour codes are removed here in one pass (clean_line removes them line by line too)."""
    if "\x1b" in text:
        text = _ANSI_RE.sub("", text)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def parse_lines(raw_lines: Iterable[str]) -> ParsedLog:
    parser = LogParser()
    feed = parser._feed
    blocks: list[ErrorBlock] = []
    lines = [feed(raw, blocks) for raw in raw_lines]
    blocks.extend(parser.close())
    blocks.sort(key=lambda b: b.first_line)
    return ParsedLog(tuple(lines), tuple(blocks))


def parse_log(text: str) -> ParsedLog:
    return parse_lines(split_lines(text))
