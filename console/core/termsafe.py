r"""Text from a model, a tokenizer, a log file or the engine, made safe to show on a terminal.

`safe(text)` returns the text with every control character shown as a visible picture instead
of being emitted: ESC becomes `␛`, BEL `␇`, and so on (U+2400 + code), DEL `␡`, a C1 control
(U+0080..U+009F, which terminals treat like ESC + a letter) `␛` + its 7-bit letter, e.g. CSI
U+009B as `␛[`. So an OSC 52 clipboard write arrives as the harmless text `␛]52;c;…␇`, and CSI,
OSC (0, 2, 8, 52...), DCS, APC, PM and SOS sequences can never reach the terminal: they all
start with ESC or a C1 control. Newlines and tabs stay; "\\r\\n" becomes "\\n" and a lone
carriage return (which would let text overwrite what is already on the line) is shown as `␍`.
Bidirectional overrides (U+202A..U+202E, U+2066..U+2069), which can make text read differently
from what it is, are shown as `<U+202E>`.

The session log keeps the raw text; only what is displayed goes through here. No I/O.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterator

_KEEP = frozenset("\n\t")
_BIDI = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))


def _picture(ch: str) -> str:
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)
    if code == 0x7F:
        return "\u2421"
    if 0x80 <= code <= 0x9F:
        return "\u241b" + chr(code - 0x40)
    return f"<U+{code:04X}>"


_TABLE: dict[int, str] = {
    c: _picture(chr(c)) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if chr(c) not in _KEEP
}
_TABLE.update({ord(ch): _picture(ch) for ch in _BIDI})
# Quick test: does the text hold anything that needs replacing at all (most text does not).
_UNSAFE_RE = re.compile(
    "[" + "".join(re.escape(chr(c)) for c in sorted(_TABLE)) + "]"
)


def is_safe(text: str) -> bool:
    """True when `text` holds nothing a terminal would act on (besides newline and tab)."""
    return _UNSAFE_RE.search(text) is None


def safe(text: str) -> str:
    """`text` with every control character and escape sequence shown visibly, never emitted."""
    if _UNSAFE_RE.search(text) is None:
        return text
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    return text.translate(_TABLE)


def safe_line(text: str) -> str:
    """`safe(text)` for a one-line display: newlines shown as `␊` too."""
    return safe(text).replace("\n", "\u240a")


class SafeStream:
    """A text stream that passes everything written through `safe()` to the stream it wraps.

    The CLI wraps stdout and stderr in one of these for every sub-command, so no print in any
    command can reach the terminal raw. A command's own cursor control (the one updating
    progress line) goes through `write_control`, which only the console's own code calls.
    """

    def __init__(self, stream: object) -> None:
        self.wrapped = stream

    def write(self, text: str) -> int:
        self.wrapped.write(safe(text))  # type: ignore[attr-defined]
        return len(text)

    def write_control(self, control: str) -> None:
        """The console's own escape sequence, written as is (never model or log text)."""
        self.wrapped.write(control)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self.wrapped, name)


def write_control(stream: object, control: str, text: str = "") -> None:
    """Write the console's own `control` sequence raw, then `text` sanitised, to `stream`
    (a `SafeStream` or any text stream)."""
    if isinstance(stream, SafeStream):
        stream.write_control(control)
        stream.write(text)
    else:
        stream.write(control + safe(text))  # type: ignore[attr-defined]


@contextlib.contextmanager
def safe_std_streams() -> Iterator[None]:
    """sys.stdout and sys.stderr wrapped in `SafeStream` for the duration (restored after)."""
    saved = sys.stdout, sys.stderr
    if sys.stdout is not None and not isinstance(sys.stdout, SafeStream):
        sys.stdout = SafeStream(sys.stdout)
    if sys.stderr is not None and not isinstance(sys.stderr, SafeStream):
        sys.stderr = SafeStream(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


# Exit status of a command whose reader went away (`... | head`): what a shell reports for a
# Unix tool ended by SIGPIPE (128 + 13), with nothing printed.
BROKEN_PIPE_EXIT = 141


def quiet_broken_pipe() -> int:
    """After a BrokenPipeError on stdout: point stdout at /dev/null so the interpreter's final
    flush cannot raise again, and return `BROKEN_PIPE_EXIT`, quietly (as `cat | head` does)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno() if sys.__stdout__ is not None else 1)
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return BROKEN_PIPE_EXIT
