"""AutoGLM's answer, readable: `<think>…</think><answer>do(action="Tap", element=[x,y])</answer>`.

Pure. `parse(text)` finds the think and answer parts, reads the action call with Python's
parser (`ast`, no evaluation: only literal arguments are accepted) and lists what is wrong with
the answer: the signs Open-AutoGLM's documentation gives of a broken deployment (missing tags,
garbled text, an immediate end of sequence, repetition). Coordinates are in AutoGLM's
0-1000 relative screen space, as the model writes them.
"""

from __future__ import annotations

import ast
import re
from dataclasses import asdict, dataclass, field
from typing import Any

# Action names the phone agent executes (Open-AutoGLM's action space), compared casefolded
# with spaces and underscores removed.
KNOWN_ACTIONS = ("Launch", "Tap", "Type", "Type_Name", "Swipe", "Back", "Home", "Long Press",
                 "Double Tap", "Wait", "Take_over", "Note", "Call_API", "Interact")
_KNOWN = {re.sub(r"[\s_]", "", a).casefold(): a for a in KNOWN_ACTIONS}
COORD_MAX = 1000
_THINK_RE = re.compile(r"<think>(.*?)(</think>|$)", re.DOTALL)
_ANSWER_RE = re.compile(r"<answer>(.*?)(</answer>|$)", re.DOTALL)
_CALL_RE = re.compile(r"\b(do|finish)\s*\(", re.DOTALL)
# Repetition: a unit of 1..64 characters repeated back to back covering this many characters.
REPEAT_MIN_CHARS = 48
REPEAT_MIN_TIMES = 4
GARBLED_FRACTION = 0.2


@dataclass(frozen=True, slots=True)
class Action:
    kind: str  # "do" | "finish"
    action: str | None  # "Tap", "Type", ... (None for finish)
    element: tuple[int, int] | None  # Tap / Long Press / Double Tap
    start: tuple[int, int] | None  # Swipe
    end: tuple[int, int] | None
    text: str | None  # Type's text, finish's message, Launch's app, ...
    args: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        if self.kind == "finish":
            return f"finish: {safe(self.text or '')}".rstrip()
        parts = [safe(self.action or "?")]
        if self.element is not None:
            parts.append(f"at ({self.element[0]}, {self.element[1]})")
        if self.start is not None and self.end is not None:
            parts.append(f"from ({self.start[0]}, {self.start[1]}) to ({self.end[0]}, "
                         f"{self.end[1]})")
        if self.text:
            parts.append(repr(self.text))
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Answer:
    think: str | None
    answer: str | None
    action: Action | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems and self.action is not None

    def to_json_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["problems"] = list(self.problems)
        return data


def _point(value: Any) -> tuple[int, int] | None:
    if (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        return int(value[0]), int(value[1])
    return None


def parse_call(source: str) -> tuple[Action | None, str | None]:
    """The first `do(...)` / `finish(...)` call in `source`: (action, None) or (None, why)."""
    match = _CALL_RE.search(source)
    if match is None:
        return None, "the answer holds no do(...) or finish(...) call"
    depth, in_str, quote, end = 0, False, "", None
    i = match.end() - 2
    while i + 1 < len(source):
        i += 1
        ch = source[i]
        if in_str:
            if ch == "\\":
                i += 1  # the escaped character
            elif ch == quote:
                in_str = False
        elif ch in "\"'":
            in_str, quote = True, ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                end = i + 1
                break
    if end is None:
        return None, f"the {match.group(1)}(...) call is not closed"
    text = source[match.start():end]
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None, f"the {match.group(1)}(...) call does not parse: {_clip(text)}"
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        return None, f"not a call: {_clip(text)}"
    args: dict[str, Any] = {}
    for kw in node.keywords:
        if kw.arg is None:
            return None, "the call has **arguments"
        try:
            args[kw.arg] = ast.literal_eval(kw.value)
        except ValueError:
            return None, f"argument {kw.arg} is not a literal: {_clip(ast.unparse(kw.value))}"
    if node.args:
        return None, "the call has positional arguments (AutoGLM writes name=value)"
    kind = node.func.id
    if kind == "finish":
        message = args.get("message")
        return Action("finish", None, None, None, None,
                      str(message) if message is not None else None, args), None
    name = args.get("action")
    if not isinstance(name, str):
        return None, "do(...) has no action=\"...\""
    canonical = _KNOWN.get(re.sub(r"[\s_]", "", name).casefold())
    if canonical is None:
        return None, f"unknown action {name!r}"
    element = _point(args.get("element"))
    start, end_pt = _point(args.get("start")), _point(args.get("end"))
    if canonical in ("Tap", "Long Press", "Double Tap") and element is None:
        return None, f"{canonical} needs element=[x, y]"
    if canonical == "Swipe" and (start is None or end_pt is None):
        return None, "Swipe needs start=[x, y] and end=[x, y]"
    for pt in (element, start, end_pt):
        if pt is not None and not all(0 <= v <= COORD_MAX for v in pt):
            return None, f"coordinates {list(pt)} are outside 0..{COORD_MAX}"
    text_value = next((args[k] for k in ("text", "app", "message", "duration", "instruction")
                       if k in args), None)
    return Action("do", canonical, element, start, end_pt,
                  str(text_value) if text_value is not None else None, args), None


def safe(text: str) -> str:
    """Model text made safe to print: control and other non-printable characters escaped
    (an ESC from a broken model must not reach a terminal)."""
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" if ord(ch) < 0x100
                   else f"\\u{ord(ch):04x}" for ch in text)


def _clip(text: str, width: int = 60) -> str:
    flat = safe(" ".join(text.split()))
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def repetition(text: str) -> str | None:
    """A unit repeated back to back at the end of `text` (a looping generation), or None."""
    tail = text[-512:]
    for unit in range(1, 65):
        if len(tail) < unit * REPEAT_MIN_TIMES:
            break
        piece = tail[-unit:]
        if not piece.strip():
            continue
        count = 1
        pos = len(tail) - unit
        while pos >= unit and tail[pos - unit:pos] == piece:
            count += 1
            pos -= unit
        if count >= REPEAT_MIN_TIMES and count * unit >= REPEAT_MIN_CHARS:
            return f"repetition: {_clip(piece, 24)!r} x {count} at the end"
    return None


def garbled(text: str) -> str | None:
    """Replacement characters, control characters or unpaired surrogates over
    GARBLED_FRACTION of the text: a wrong tokenizer, dtype or broken weights."""
    if not text:
        return None
    bad = sum(1 for ch in text if ch == "\ufffd" or (ord(ch) < 32 and ch not in "\n\r\t")
              or 0xD800 <= ord(ch) <= 0xDFFF)
    if bad / len(text) > GARBLED_FRACTION:
        return f"garbled text: {bad} of {len(text)} characters are not printable"
    return None


def parse(text: str, *, tokens: int | None = None, stopped: str | None = None) -> Answer:
    """Read one AutoGLM answer. `tokens` / `stopped` (from the `generated` event) let an
    immediate end of sequence be told from a short answer."""
    problems: list[str] = []
    stripped = text.strip()
    if not stripped or (tokens is not None and tokens <= 1 and stopped == "eos"):
        problems.append("immediate end of sequence: the model wrote "
                        + ("nothing" if not stripped else f"only {_clip(stripped, 20)!r}"))
        return Answer(None, None, None, tuple(problems))
    think_m = _THINK_RE.search(text)
    think = think_m.group(1).strip() if think_m else None
    if think_m is None:
        problems.append("missing <think> tag")
    elif not think_m.group(2):
        problems.append("missing </think> tag")
    answer_m = _ANSWER_RE.search(text)
    answer = answer_m.group(1).strip() if answer_m else None
    action: Action | None = None
    if answer_m is None:
        problems.append("missing <answer> tag")
        # the call may still be there (a template without the tags): read it, keep the flag
        action, _ = parse_call(text[think_m.end():] if think_m else text)
    else:
        if not answer_m.group(2):
            problems.append("missing </answer> tag")
        action, why = parse_call(answer or "")
        if why is not None:
            problems.append(why)
    for check in (garbled(text), repetition(text)):
        if check is not None:
            problems.append(check)
    return Answer(think, answer, action, tuple(problems))
