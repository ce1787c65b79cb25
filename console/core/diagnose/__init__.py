"""Log parsing and root-cause diagnosis (ids from ../shared/rootcauses.md). No torch, no textual.

- `diagnose_text(text, context=None) -> list[Cause]`: ranked causes for a whole log, best first;
  `[]` when nothing is recognised.
- `StreamingDiagnoser`: feed lines as they arrive (`feed`, `feed_text`), get a `DiagnosedError`
  (the error, its causes) as each error completes; `flush(context)` at a pause or when the engine
  exits (with the exit facts, a death without a traceback is explained too).
- `DiagnosisContext`: what the console knows live (engine exit code/signal, RAM and swap at the
  time, NVML GPUs and their processes, the model's estimate); `from_sample(sample, ...)` fills
  RAM, swap and GPUs from a telemetry `Sample`.
- `parse_log(text)`: the structured errors alone (tracebacks, chains, groups, sources).
"""

from __future__ import annotations

from console.core.diagnose.engine import (
    MIN_CONFIDENCE,
    Cause,
    DiagnosedError,
    DiagnosisContext,
    StreamingDiagnoser,
    diagnose_lines,
    diagnose_text,
)
from console.core.diagnose.numbers import OomNumbers, judge_oom, parse_cuda_oom
from console.core.diagnose.parser import (
    ErrorBlock,
    ExceptionRecord,
    Frame,
    LogParser,
    ParsedLog,
    parse_log,
)
from console.core.diagnose.rules import CAUSES, CauseInfo

CAUSE_IDS: tuple[str, ...] = tuple(CAUSES)

__all__ = [
    "CAUSES",
    "CAUSE_IDS",
    "MIN_CONFIDENCE",
    "Cause",
    "CauseInfo",
    "DiagnosedError",
    "DiagnosisContext",
    "ErrorBlock",
    "ExceptionRecord",
    "Frame",
    "LogParser",
    "OomNumbers",
    "ParsedLog",
    "StreamingDiagnoser",
    "diagnose_lines",
    "diagnose_text",
    "judge_oom",
    "parse_cuda_oom",
    "parse_log",
]
