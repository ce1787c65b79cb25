"""A hint (a fix the engine or the pre-flight gives) is said once per run.

One run is one load and what follows it. The same fix reaches the screen by several roads:
each pre-flight finding carries one (sixteen truncated tensors: sixteen times the same
"download it again"), the engine's `error` event carries it beside its message, the log pane,
the cause card and the model view's result line each show the error. These helpers keep one
copy: texts are compared by their normalized form (case, runs of white space, trailing
punctuation), so a hint matches however it was wrapped or capitalised.

- `with_hint(message, hint)`: the message and its hint, unless the message says it already.
- `drop_hint(text, hint)`: the text without the hint (and the " - " / " — fix: " / "(...)"
  that joined it).
- `fixes_once(items)`: (problem, fix) pairs as lines, each fix after the first problem it
  covers only, with "(xN)" where N problems share it.
- `HintLedger`: the hints of one run; `once(text)` drops those already shown.

Pure: no textual, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

__all__ = ["HintLedger", "contains_hint", "drop_hint", "fixes_once", "normalize", "with_hint"]

_TRAILING = " \t.;:,"
_MIN_HINT_CHARS = 8  # shorter "hints" ("ok", "retry") are too common to cut out of text


def normalize(text: str) -> str:
    """Lower case, one space between words, no trailing punctuation."""
    return " ".join(text.lower().split()).rstrip(_TRAILING)


def contains_hint(text: str, hint: str) -> bool:
    key = normalize(hint)
    return bool(key) and key in normalize(text)


def _pattern(hint: str) -> re.Pattern[str] | None:
    words = hint.strip().rstrip(_TRAILING).split()
    if len(" ".join(words)) < _MIN_HINT_CHARS:
        return None
    body = r"\s+".join(re.escape(w) for w in words) + r"[.]?(?:\s*\(x\d+\))?"
    # With what joined it to the text before: " (fix: ...)", " - ", " — fix: ", "; fix: ".
    paren = rf"\s*\((?:fix:\s*)?{body}\)"
    joined = rf"(?:\s*[-–—]\s*(?:fix:\s*)?|\s*;?\s*fix:\s*|\s+|^){body}"
    return re.compile(f"{paren}|{joined}", re.IGNORECASE)


def drop_hint(text: str, hint: str, *, keep_first: bool = False) -> str:
    """`text` without `hint` (every occurrence, or every one after the first)."""
    pattern = _pattern(hint)
    if pattern is None:
        return text
    seen = [not keep_first]

    def cut(match: re.Match[str]) -> str:
        if seen[0]:
            return ""
        seen[0] = True
        return match.group(0)

    return pattern.sub(cut, text)


def with_hint(message: str, hint: str, joint: str = " — fix: ") -> str:
    """`message` and its `hint`, unless the message already says the hint."""
    if not hint.strip() or contains_hint(message, hint):
        return message
    return f"{message}{joint}{hint}"


def fixes_once(items: Sequence[tuple[str, str]]) -> list[str]:
    """(problem, fix) pairs as "problem - fix" lines, each fix said once: after the first
    problem it covers, with "(xN)" when N problems share it; later ones show their problem."""
    counts: dict[str, int] = {}
    for _, fix in items:
        if fix:
            counts[normalize(fix)] = counts.get(normalize(fix), 0) + 1
    said: set[str] = set()
    lines = []
    for problem, fix in items:
        key = normalize(fix)
        if not fix or key in said:
            lines.append(problem)
            continue
        said.add(key)
        many = f" (x{counts[key]})" if counts[key] > 1 else ""
        lines.append(f"{problem} - {fix}{many}")
    return lines


class HintLedger:
    """The hints known in one run and how often each was meant to be shown. `learn` the hints
    as they arrive (an error event's `hint`, the pre-flight findings' fixes); pass every text
    about to be shown through `once`: a hint already shown is cut out of it. `new_run()`
    forgets them all (a new load). (A plain class: the app imports it at startup.)"""

    def __init__(self) -> None:
        self.known: dict[str, str] = {}  # normalized -> as given
        self.shown: dict[str, int] = {}  # normalized -> times met in texts

    def new_run(self) -> None:
        self.known.clear()
        self.shown.clear()

    def learn(self, hints: Iterable[str], *, already_shown_in: Iterable[str] = ()) -> None:
        """Know these hints; those found in `already_shown_in` (texts shown before they were
        known: events can arrive in any order) count as shown."""
        earlier = [normalize(t) for t in already_shown_in]
        for hint in hints:
            key = normalize(hint)
            if len(key) < _MIN_HINT_CHARS or key in self.known:
                continue
            self.known[key] = hint
            if any(key in text for text in earlier):
                self.shown[key] = self.shown.get(key, 0) + 1

    def once(self, text: str) -> str:
        """`text` with every known hint already shown cut out (and a hint's repeats inside
        `text` itself); the hints it keeps count as shown from now on."""
        if not self.known:
            return text
        flat = normalize(text)
        for key, hint in self.known.items():
            if key not in flat:
                continue
            before = self.shown.get(key, 0)
            self.shown[key] = before + flat.count(key)
            text = drop_hint(text, hint, keep_first=before == 0)
        return text

    def count(self, hint: str) -> int:
        """How many times `hint` was met in the texts of this run (shown or cut)."""
        return self.shown.get(normalize(hint), 0)
