"""Open any log file and follow it: a line index built in the background, appends, rotation and
truncation followed, lines read on demand (bounded memory whatever the file's size).

`LogFile(path)` opens at once; `start_indexing()` indexes line starts in a background thread (8
bytes a line, as Textualize's toolong does), so a viewer can show the last lines before the index
is complete (`tail_lines`) and any range once it is (`lines(start, count)`). `poll()` reads what
was appended since the last call and returns it as complete lines, with what happened to the file:
"appended", "truncated" (the file shrank: read again from its start) or "rotated" (a new file at
the path, e.g. by logrotate: read it from its start). No textual, no torch.
"""

from __future__ import annotations

import itertools
import operator
import os
import re
import threading
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

CHUNK_BYTES = 4 << 20  # read size while finding
INDEX_CHUNK_BYTES = 1 << 20  # read size while indexing
MAX_LINE_BYTES = 64 << 10  # longer lines are cut for display (the index still counts them once)
_CHECK_BYTES = 64  # bytes before the read point compared on each poll (truncate-and-rewrite)


class LogFileError(OSError):
    """The path cannot be followed: the message names the file and the problem."""


@dataclass(frozen=True, slots=True)
class Change:
    kind: str  # "appended" | "truncated" | "rotated" | "none"
    lines: tuple[str, ...]  # new complete lines, decoded (UTF-8, undecodable bytes replaced)
    old_lines: tuple[str, ...] = ()  # "rotated": the last lines the old file got before the switch


@dataclass
class LogFile:
    path: Path
    _fh: BinaryIO = field(init=False, repr=False)
    _ident: tuple[int, int] = field(init=False, default=(0, 0))
    _offsets: array[int] = field(init=False, repr=False)
    _indexed_to: int = field(init=False, default=0)  # bytes scanned by the index
    _read_to: int = field(init=False, default=0)  # bytes handed out by poll()
    _partial: bytes = field(init=False, default=b"")
    _last_bytes: bytes = field(init=False, default=b"")  # the bytes just before _read_to
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    _index_thread: threading.Thread | None = field(init=False, default=None)
    _generation: int = field(init=False, default=0)
    indexed: threading.Event = field(init=False, default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self._open()

    # -- opening -------------------------------------------------------------------------------

    def _open(self) -> None:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - kept open while following
        except FileNotFoundError:
            raise LogFileError(f"{self.path}: no such file") from None
        except IsADirectoryError:
            raise LogFileError(f"{self.path}: is a directory, not a log file") from None
        except PermissionError:
            raise LogFileError(f"{self.path}: permission denied") from None
        except OSError as exc:
            raise LogFileError(f"{self.path}: cannot open it ({exc.strerror or exc})") from None
        st = os.fstat(fh.fileno())
        self._fh = fh
        self._ident = (st.st_dev, st.st_ino)
        self._offsets = array("q", [0])
        self._indexed_to = 0
        self._partial = b""
        self._generation += 1
        self.indexed.clear()

    def close(self) -> None:
        self._generation += 1
        self._fh.close()

    @property
    def size(self) -> int:
        return os.fstat(self._fh.fileno()).st_size

    # -- the index -------------------------------------------------------------------------------

    def start_indexing(self) -> None:
        """Index line starts in a background thread; `indexed` is set when done."""
        generation = self._generation
        end = self.size
        thread = threading.Thread(
            target=self._index, args=(generation, end), daemon=True, name="logfollow-index"
        )
        self._index_thread = thread
        thread.start()

    def index_now(self) -> None:
        """Index synchronously (tests, small files)."""
        self._index(self._generation, self.size)

    def _index(self, generation: int, end: int) -> None:
        with open(self.path, "rb") as fh:
            pos = self._indexed_to
            fh.seek(pos)
            while pos < end and generation == self._generation:
                chunk = fh.read(min(INDEX_CHUNK_BYTES, end - pos))
                if not chunk:
                    break
                # The start of the line after each newline, in C (split, map, accumulate): the
                # thread holds the interpreter a millisecond or two per chunk, not a loop's worth.
                parts = chunk.split(b"\n")
                parts.pop()  # after the last newline
                starts = itertools.accumulate(
                    map(operator.add, map(len, parts), itertools.repeat(1)), initial=pos)
                next(starts)
                found = array("q", starts)
                with self._lock:
                    if generation != self._generation:
                        return
                    self._offsets.extend(found)
                    pos += len(chunk)
                    self._indexed_to = pos
        if generation == self._generation:
            self.indexed.set()

    @property
    def indexed_bytes(self) -> int:
        """How far the index has read (of `size`)."""
        return self._indexed_to

    @property
    def line_count(self) -> int:
        """Complete lines indexed so far (a last line without its newline is not counted)."""
        with self._lock:
            return len(self._offsets) - 1

    def lines(self, start: int, count: int) -> list[str]:
        """Lines [start, start + count) of the indexed part, read from the file now."""
        with self._lock:
            last = len(self._offsets) - 1
            start = max(0, min(start, last))
            stop = max(start, min(start + count, last))
            if stop <= start:
                return []
            begin, finish = self._offsets[start], self._offsets[stop]
            bounds = self._offsets[start : stop + 1].tolist()
        with open(self.path, "rb") as fh:
            fh.seek(begin)
            data = fh.read(min(finish - begin, count * MAX_LINE_BYTES))
        out: list[str] = []
        for a, b in itertools.pairwise(bounds):
            raw = data[a - begin : min(b - begin - 1, a - begin + MAX_LINE_BYTES)]  # without "\n"
            out.append(_decode(raw))
        return out

    def find(
        self,
        pattern: re.Pattern[bytes],
        start: int,
        *,
        backward: bool = False,
        confirm: Callable[[str, int], bool] | None = None,
        cancelled: Callable[[], bool] | None = None,
        fold_case: bool = False,
    ) -> int | None:
        """The nearest indexed line after `start` (before it when `backward`) whose bytes
        `pattern` matches and, with `confirm`, for which `confirm(text, line)` holds; None when
        there is none (or `cancelled()` turned true). `fold_case`: each block is lower-cased
        (ASCII, as re.IGNORECASE on bytes) before a lower-case `pattern` is searched, about five
        times faster than IGNORECASE for a literal (`folded_pattern` makes such a pattern, other
        alphabets' cases included). Reads CHUNK_BYTES at a time, so memory stays
        bounded whatever the file's size; a search of a 200 MB file is one pass over it."""
        pos = start if backward else start + 1
        while not (cancelled is not None and cancelled()):
            with self._lock:
                last = len(self._offsets) - 1
                if backward:
                    hi = min(pos, last)
                    if hi <= 0:
                        return None
                    lo = bisect_left(self._offsets, self._offsets[hi] - CHUNK_BYTES, 0, hi)
                    lo = min(lo, hi - 1)
                else:
                    lo = max(pos, 0)
                    if lo >= last:
                        return None
                    hi = bisect_right(self._offsets, self._offsets[lo] + CHUNK_BYTES, lo + 1,
                                      last + 1) - 1
                    hi = max(hi, lo + 1)
                bounds = self._offsets[lo : hi + 1].tolist()
            begin = bounds[0]
            with open(self.path, "rb") as fh:
                fh.seek(begin)
                # one block is at most CHUNK_BYTES, unless one line is longer: its head is read
                data = fh.read(min(bounds[-1] - begin, CHUNK_BYTES + MAX_LINE_BYTES))
            if fold_case:
                data = data.lower()
            found = self._find_in(data, bounds, lo, pattern, confirm=confirm, backward=backward)
            if found is not None:
                return found
            pos = lo if backward else hi
        return None

    @staticmethod
    def _find_in(
        data: bytes,
        bounds: list[int],
        first: int,
        pattern: re.Pattern[bytes],
        *,
        confirm: Callable[[str, int], bool] | None,
        backward: bool,
    ) -> int | None:
        """The first (last, `backward`) line of one block of lines that matches."""
        begin = bounds[0]
        best: int | None = None
        at = 0
        while (m := pattern.search(data, at)) is not None:
            k = bisect_right(bounds, begin + m.start()) - 1  # the block's k-th line
            a, b = bounds[k] - begin, bounds[k + 1] - begin
            if confirm is None or confirm(_decode(data[a : min(b - 1, a + MAX_LINE_BYTES)]),
                                          first + k):
                if not backward:
                    return first + k
                best = first + k
            at = b  # the next line
        return best

    @property
    def read_offset(self) -> int:
        """Where poll() goes on from."""
        return self._read_to

    def tail_lines(self, count: int, max_bytes: int = 1 << 20, end: int | None = None) -> list[str]:
        """The last `count` complete lines before byte `end` (default: the file's end), read
        straight from there (no index needed)."""
        size = self.size if end is None else end
        with open(self.path, "rb") as fh:
            fh.seek(max(0, size - max_bytes))
            data = fh.read(size - max(0, size - max_bytes))
        if size > max_bytes:
            data = data[data.find(b"\n") + 1 :]
        parts = data.split(b"\n")
        parts.pop()  # after the last newline: an incomplete line or nothing
        return [_decode(p[:MAX_LINE_BYTES]) for p in parts[-count:]]

    # -- following -------------------------------------------------------------------------------

    def seek_end(self) -> None:
        """poll() hands out only what is appended from now on."""
        self._read_to = self.size
        self._partial = b""
        self._fh.seek(max(0, self._read_to - _CHECK_BYTES))
        self._last_bytes = self._fh.read(self._read_to - max(0, self._read_to - _CHECK_BYTES))

    def seek_start(self) -> None:
        self._read_to = 0
        self._partial = b""
        self._last_bytes = b""

    def poll(self) -> Change:
        """What changed since the last call: new complete lines, after truncation or rotation."""
        kind = "appended"
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None  # rotated away and not yet recreated: keep reading the old file
        if st is not None and (st.st_dev, st.st_ino) != self._ident:
            # Rotation: drain what the old file still holds, then switch to the new one.
            old = self._read_new()
            self._fh.close()
            self._open()
            self.seek_start()
            new = self._read_new()
            self.start_indexing()
            return Change("rotated", tuple(new), tuple(old))
        size = self.size
        if size < self._read_to or not self._unchanged_before_read_point():
            with self._lock:
                self._generation += 1
                self._offsets = array("q", [0])
                self._indexed_to = 0
            self.indexed.clear()
            self.seek_start()
            kind = "truncated"
            self.start_indexing()
        lines = self._read_new()
        self._extend_index()
        if kind == "appended" and not lines:
            kind = "none"
        return Change(kind, tuple(lines))

    def _unchanged_before_read_point(self) -> bool:
        """Truncated and rewritten past the old end between two polls: the bytes already read
        are no longer there."""
        if not self._last_bytes:
            return True
        self._fh.seek(self._read_to - len(self._last_bytes))
        return self._fh.read(len(self._last_bytes)) == self._last_bytes

    def _read_new(self) -> list[str]:
        fh = self._fh
        fh.seek(self._read_to)
        data = fh.read()
        if not data:
            return []
        self._read_to += len(data)
        self._last_bytes = (self._last_bytes + data)[-_CHECK_BYTES:]
        data = self._partial + data
        parts = data.split(b"\n")
        self._partial = parts.pop()
        return [_decode(p[:MAX_LINE_BYTES]) for p in parts]

    def _extend_index(self) -> None:
        """Once the first pass has finished, index what was appended since (also while that
        pass ran); nothing to do when the index is at the end."""
        if self.indexed.is_set() and self._indexed_to < self.size:
            self._index(self._generation, self.size)


def folded_pattern(text: str) -> re.Pattern[bytes]:
    """`text` as a pattern for `LogFile.find(..., fold_case=True)`, which lower-cases each block
    as bytes (ASCII letters only): ASCII letters lower-case, every other letter that has case
    in any of its single-character cases ("É" or "é", "Ж" or "ж"), so a find folds case in any
    alphabet and stays a plain literal search when the text is ASCII."""
    parts: list[bytes] = []
    for ch in text:
        if ch.isascii():
            parts.append(re.escape(ch.lower().encode("ascii")))
            continue
        forms = sorted({f.encode("utf-8", "replace")
                        for f in (ch, ch.lower(), ch.upper(), ch.title()) if len(f) == 1})
        escaped = [re.escape(f) for f in forms]
        parts.append(escaped[0] if len(escaped) == 1 else b"(?:" + b"|".join(escaped) + b")")
    return re.compile(b"".join(parts))


def _decode(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")
    return text[:-1] if text.endswith("\r") else text
