"""JSON from outside (a model's config.json, a safetensors header, an index) parsed without
tracebacks: every way it can be hostile becomes one `JsonProblem` with a readable reason.

Refused, beyond syntax errors: nesting deeper than `MAX_DEPTH` (checked before parsing, so
200,000 brackets cost one scan, not a RecursionError), integers longer than Python's digit
limit, and NaN / Infinity (not JSON; Python's json accepts them and a NaN `hidden_size` would
otherwise pass every comparison). No I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

MAX_DEPTH = 256
# A whole string (skipped) or one bracket.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


class JsonProblem(ValueError):
    """Why a text is not acceptable JSON: `reason` (one phrase), `fix_hint`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def nesting_depth(text: str, limit: int = MAX_DEPTH) -> int:
    """The deepest bracket nesting outside strings, stopping early once past `limit`."""
    depth = deepest = 0
    for m in _TOKENS.finditer(text):
        ch = m.group()
        if ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif ch in "]}":
            depth -= 1
    return deepest


def _no_constants(name: str) -> Any:
    raise JsonProblem(f"holds {name}, which is not a JSON number")


def loads(text: str, *, object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None
          ) -> Any:
    """json.loads, refusing what `JsonProblem` says; a syntax error stays a JSONDecodeError
    (its line and column name the place)."""
    depth = nesting_depth(text)
    if depth > MAX_DEPTH:
        raise JsonProblem(f"is nested more than {MAX_DEPTH} levels deep")
    try:
        return json.loads(text, parse_constant=_no_constants, object_pairs_hook=object_pairs_hook)
    except RecursionError:
        raise JsonProblem(f"is nested too deeply to read (over {MAX_DEPTH} levels)") from None
    except json.JSONDecodeError:
        raise
    except JsonProblem:
        raise
    except ValueError as exc:  # "Exceeds the limit (4300 digits) for integer string conversion"
        if "digits" in str(exc):
            raise JsonProblem("holds an integer with thousands of digits") from None
        raise JsonProblem(str(exc)) from None
