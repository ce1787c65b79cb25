"""The diagnostic bundle: one paste-ready text file for a bug report or a colleague.

`write_bundle(path, ...)` writes, in order: a header (versions, platform), the doctor report,
the last telemetry sample, the current model's pre-flight and estimate, the last errors with
their diagnosis (and the errors the engine reported), and the tail of the session log. The
whole text passes through `console.core.redact.clean` on its way out: tokens, keys and passwords
are masked, the home directory is written `~`.

The session log helpers read the file the engine client writes (docs/engine.md, "The session
log"): `read_session_log`, `newest_session_log`, `diagnose_session_log`. The `bundle` command
and the TUI's bundle key both end in `write_bundle`. No textual, no torch.
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from console import __version__
from console.core.causetext import ErrorRecord, format_record
from console.core.diagnose import DiagnosedError, DiagnosisContext, StreamingDiagnoser
from console.core.engine_causes import CardDeduper, EngineCauses
from console.core.exits import parse_ended_line
from console.core.redact import clean

TAIL_LINES = 300
LAST_ERRORS = 5
# Lines of a session log that `diagnose_session_log` reads (the tail of a long session).
DIAGNOSE_LINES = 20_000
IDLE_FLUSH_S = 0.4  # a pause in the engine's output this long closes open tracebacks
_RULE = "=" * 78

# `2026-11-21T15:25:56.750 ENGINE text`: the stamp (23 characters), the kind padded to 6, one
# space, the text as is (its leading spaces matter: traceback frames).
_STAMP_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$")
_STAMP_LEN = 23
_KIND_WIDTH = 6


@dataclass(frozen=True, slots=True)
class SessionRecord:
    stamp: str  # ISO time as written
    kind: str  # CMD | EVENT | ENGINE | CLIENT
    text: str

    @property
    def ts(self) -> float | None:
        try:
            return time.mktime(time.strptime(self.stamp[:19], "%Y-%m-%dT%H:%M:%S")) + float(
                "0" + self.stamp[19:])
        except ValueError:
            return None


def parse_session_line(line: str) -> SessionRecord | None:
    """One line of a session log; None for a line that is not one (a foreign file)."""
    line = line.rstrip("\n")
    stamp = line[:_STAMP_LEN]
    kind_end = _STAMP_LEN + 1 + _KIND_WIDTH
    if len(line) < kind_end or line[_STAMP_LEN] != " " or not _STAMP_RE.match(stamp):
        return None
    kind = line[_STAMP_LEN + 1:kind_end].rstrip()
    if not kind.isalpha():
        return None
    return SessionRecord(stamp, kind, line[kind_end + 1:])


def tail_lines(path: Path, count: int) -> list[str]:
    """The last `count` lines of a text file, read from its end (session logs grow large)."""
    if count <= 0:
        return []
    block = 1 << 16
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        end = fh.tell()
        data = b""
        pos = end
        while pos > 0 and data.count(b"\n") <= count:
            step = min(block, pos)
            pos -= step
            fh.seek(pos)
            data = fh.read(step) + data
    lines = data.decode("utf-8", errors="replace").splitlines()
    return lines[-count:]


def read_session_log(path: Path, last: int | None = None) -> list[SessionRecord]:
    """The records of a session log (the last `last` lines when given)."""
    lines = tail_lines(path, last) if last is not None else path.read_text(
        encoding="utf-8", errors="replace").splitlines()
    return [r for r in (parse_session_line(line) for line in lines) if r is not None]


def newest_session_log(log_dir: Path) -> Path | None:
    """The most recently written `session-*.log` in `log_dir`, or None."""
    try:
        logs = [p for p in log_dir.glob("session-*.log") if p.is_file()]
    except OSError:
        return None
    return max(logs, key=lambda p: (p.stat().st_mtime, p.name), default=None)


def _exit_context(record: SessionRecord) -> DiagnosisContext | None:
    ended = parse_ended_line(record.text)
    if ended is None:
        return None
    return DiagnosisContext(
        exit_code=ended.exit_code, exit_signal=ended.exit_signal,
        killed_by_console=ended.expected, engine_pid=ended.pid,
    )


def _event(record: SessionRecord) -> dict[str, Any] | None:
    try:
        msg = json.loads(record.text)
    except json.JSONDecodeError:
        return None
    return msg if isinstance(msg, dict) else None


def diagnose_records(records: Iterable[SessionRecord],
                     context: DiagnosisContext | None = None) -> list[ErrorRecord]:
    """What the log pane would have shown: the engine's lines through the diagnosis, the
    causes the engine stated in its events (console.core.engine_causes), and an engine that ended
    unexpectedly explained with its exit facts (plus `context`'s, when given)."""
    diagnoser = StreamingDiagnoser()
    stated = EngineCauses()
    deduper = CardDeduper()
    found: list[ErrorRecord] = []
    last_ts = 0.0

    def keep(errors: Sequence[DiagnosedError], ts: float, source: str = "stream") -> None:
        for error in errors:
            verdict = deduper.classify(source, error, ts)
            if verdict == "merge" and found:
                found[-1] = ErrorRecord(error, ts)  # the later report of an incident says more
            elif verdict != "drop":
                found.append(ErrorRecord(error, ts))

    last_line_ts: float | None = None
    for record in records:
        ts = record.ts or last_ts
        last_ts = ts
        if record.kind == "ENGINE":
            if last_line_ts is not None and ts - last_line_ts > IDLE_FLUSH_S:
                # As the log pane does when the output pauses: open tracebacks are complete.
                keep(diagnoser.flush(context), last_line_ts)
            last_line_ts = ts
            keep(diagnoser.feed(record.text, context), ts)
        elif record.kind == "EVENT":
            msg = _event(record)
            if msg is not None and msg.get("event") == "error":
                # The engine reports an error after printing it: its traceback is complete.
                keep(diagnoser.flush(context), last_line_ts or ts)
            error = stated.feed(msg) if msg is not None else None
            if error is not None:
                keep([error], ts, "stated")
        elif record.kind == "CLIENT":
            ended = _exit_context(record)
            if ended is None:
                continue
            if ended.killed_by_console:
                keep(diagnoser.flush(context), ts)
            else:
                merged = ended if context is None else replace(
                    context, exit_code=ended.exit_code, exit_signal=ended.exit_signal,
                    killed_by_console=False, engine_pid=ended.engine_pid)
                keep(diagnoser.flush(merged), ts)
    keep(diagnoser.flush(context), last_ts)
    return found


def diagnose_session_log(path: Path, context: DiagnosisContext | None = None,
                         last: int = DIAGNOSE_LINES) -> list[ErrorRecord]:
    return diagnose_records(read_session_log(path, last), context)


def engine_errors(records: Iterable[SessionRecord], last: int = LAST_ERRORS) -> list[str]:
    """The `error` events the engine sent (its own words and fix), newest last."""
    out: deque[str] = deque(maxlen=last)
    for record in records:
        if record.kind != "EVENT" or '"error"' not in record.text:
            continue
        msg = _event(record)
        if msg is None or msg.get("event") != "error":
            continue
        hint = f" (fix: {msg['hint']})" if msg.get("hint") else ""
        out.append(f"{record.stamp} {msg.get('command') or '?'}: {msg.get('error_type')}: "
                   f"{msg.get('message')}{hint}")
    return list(out)


# -- the file -----------------------------------------------------------------------------------

def _section(title: str, body: str | Iterable[str]) -> Iterator[str]:
    yield ""
    yield _RULE
    yield f"## {title}"
    yield _RULE
    if isinstance(body, str):
        yield body.rstrip("\n")
    else:
        yield from body


def _header(now: float) -> list[str]:
    uname = platform.uname()
    return [
        "autoglm-console diagnostic bundle",
        f"written   {time.strftime('%Y-%m-%d %H:%M:%S %Z', time.localtime(now))}",
        f"console   autoglm-console {__version__}",
        f"python    {platform.python_version()} ({sys.executable})",
        f"platform  {uname.system} {uname.release} {uname.machine}",
        "secrets   tokens, keys and passwords are masked as ***; the home directory is ~",
    ]


def _doctor_section(report: Any, problem: str | None) -> str:
    if report is None:
        return f"not run{': ' + problem if problem else ''}"
    from console.core.doctor_judge import format_report

    return format_report(report, verbose=True)


def _telemetry_section(sample: Any) -> str:
    if sample is None:
        return "no sample"
    from console.core.sample_text import format_sample

    return format_sample(sample)


def _check_section(result: Any, problem: str | None) -> str:
    if result is None:
        return f"no model checked{': ' + problem if problem else ''}"
    from console.commands.check import format_text

    return format_text(result)


def _errors_section(errors: Sequence[ErrorRecord | DiagnosedError], engine_reported: Sequence[str],
                    last: int) -> list[str]:
    lines: list[str] = []
    shown = list(errors)[-last:]
    if not shown:
        lines.append("no error diagnosed")
    for number, record in enumerate(shown, start=1):
        lines.append(f"[{number}/{len(shown)}] " + format_record(record))
        lines.append("")
    if engine_reported:
        lines.append("errors the engine reported:")
        lines.extend(f"  {line}" for line in engine_reported)
    return lines


def _log_section(path: Path | None, count: int) -> list[str]:
    if path is None:
        return ["no session log"]
    try:
        lines = tail_lines(path, count)
    except OSError as exc:
        return [f"{path}: cannot read: {exc.strerror or exc}"]
    return [f"{path} (last {len(lines)} lines)", "", *lines]


def build_bundle(
    *,
    doctor_report: Any = None,
    sample: Any = None,
    check_result: Any = None,
    diagnosed_errors: Sequence[ErrorRecord | DiagnosedError] = (),
    session_log_path: Path | None = None,
    tail: int = TAIL_LINES,
    last_errors: int = LAST_ERRORS,
    doctor_problem: str | None = None,
    check_problem: str | None = None,
    notes: Sequence[str] = (),
    now: float | None = None,
    home: str | None = None,
) -> str:
    """The bundle's text, already redacted and home-shortened."""
    now = time.time() if now is None else now
    engine_reported: list[str] = []
    if session_log_path is not None:
        try:
            engine_reported = engine_errors(read_session_log(session_log_path, DIAGNOSE_LINES),
                                            last_errors)
        except OSError:
            engine_reported = []
    parts: list[str] = _header(now)
    parts.extend(f"note      {note}" for note in notes)
    parts.extend(_section("doctor", _doctor_section(doctor_report, doctor_problem)))
    parts.extend(_section("telemetry (last sample)", _telemetry_section(sample)))
    parts.extend(_section("model: pre-flight and estimate", _check_section(check_result,
                                                                           check_problem)))
    parts.extend(_section("last errors and their diagnosis",
                          _errors_section(diagnosed_errors, engine_reported, last_errors)))
    parts.extend(_section("session log (tail)", _log_section(session_log_path, tail)))
    return clean("\n".join(parts) + "\n", home)


def write_bundle(
    path: Path,
    *,
    doctor_report: Any = None,
    sample: Any = None,
    check_result: Any = None,
    diagnosed_errors: Sequence[ErrorRecord | DiagnosedError] = (),
    session_log_path: Path | None = None,
    **options: Any,
) -> Path:
    """Write the bundle to `path` and return it. `doctor_report`: console.core.doctor_judge.Report;
    `sample`: the last telemetry Sample; `check_result`: console.commands.check.CheckResult of
    the current model; `diagnosed_errors`: oldest first (the last LAST_ERRORS are written);
    `options`: the other keywords of `build_bundle` (tail, doctor_problem, check_problem,
    notes, now, home). Written to a temporary name first: a reader never sees half a bundle."""
    text = build_bundle(doctor_report=doctor_report, sample=sample, check_result=check_result,
                        diagnosed_errors=diagnosed_errors, session_log_path=session_log_path,
                        **options)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def default_bundle_name(now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if now is None else now))
    return f"autoglm-bundle-{stamp}.txt"
