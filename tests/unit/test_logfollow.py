"""Following a log file: the line index, appends, rotation and truncation, driven by a real
writer process; and `autoglm-console diagnose --follow FILE` printing one JSON line per incident."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from console.host.logfollow import LogFile, LogFileError

REPO = Path(__file__).resolve().parents[2]

# A writer process that does what its stdin says: "append <text>" (\\n for newlines), "rotate"
# (rename the file to .1 and start a new one, as logrotate does), "truncate" (copytruncate).
WRITER = r"""
import os, sys
path = sys.argv[1]
for command in sys.stdin:
    verb, _, arg = command.rstrip("\n").partition(" ")
    if verb == "append":
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(arg.replace("\\n", "\n"))
    elif verb == "rotate":
        os.replace(path, path + ".1")
        open(path, "w").close()
    elif verb == "truncate":
        with open(path, "r+") as fh:
            fh.truncate(0)
    print("done", flush=True)
"""

PORT_ERROR = "INFO starting server\\nERROR: [Errno 98] error while attempting to bind on address ('0.0.0.0', 8000): address already in use\\n"
OOM_TRACEBACK = (
    "Traceback (most recent call last):\\n"
    '  File \\"/srv/run.py\\", line 3, in <module>\\n'
    "    model.to('cuda')\\n"
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 23.65 GiB of which 1.02 GiB is free.\\n"
    "\\n\\n"
)
KILLED = "Loading checkpoint shards:  50%|#####     | 2/4\\nKilled\\n"


class Writer:
    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def do(self, command: str) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "done"

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[tuple[Path, Writer]]:
    path = tmp_path / "app.log"
    path.write_text("")
    w = Writer(path)
    yield path, w
    w.close()


def _poll_until(
    log: LogFile, want: int, timeout: float = 10.0
) -> list[tuple[str, tuple[str, ...]]]:
    """Poll until `want` lines arrived; (kind, lines) of each change that carried lines."""
    got: list[tuple[str, tuple[str, ...]]] = []
    deadline = time.monotonic() + timeout
    while sum(len(lines) for _, lines in got) < want and time.monotonic() < deadline:
        change = log.poll()
        if change.kind != "none":
            got.append((change.kind, change.old_lines + change.lines))
        time.sleep(0.02)
    return got


def test_index_lines_and_tail(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_bytes(b"".join(f"line {i}\n".encode() for i in range(50_000)) + b"partial")
    log = LogFile(path)
    assert log.tail_lines(2) == ["line 49998", "line 49999"]  # before any index
    log.start_indexing()
    assert log.indexed.wait(10)
    assert log.line_count == 50_000
    assert log.lines(0, 2) == ["line 0", "line 1"]
    assert log.lines(49_999, 10) == ["line 49999"]
    assert log.lines(25_000, 3) == ["line 25000", "line 25001", "line 25002"]
    log.close()


def test_lines_appended_while_the_first_pass_ran_are_indexed_by_the_next_poll(
    tmp_path: Path,
) -> None:
    """The pager shows the file's end, then indexes it in the background up to the size it had
    when the pass began; lines appended meanwhile were already read by a poll. The next poll
    indexes them, though it reads nothing new."""
    path = tmp_path / "run.log"
    path.write_text("".join(f"line {i}\n" for i in range(10)))
    log = LogFile(path)
    log.seek_end()
    size_at_start = log.size
    with path.open("a") as f:
        f.write("".join(f"late {i}\n" for i in range(5)))
    assert len(log.poll().lines) == 5  # read before the index is complete
    log._index(log._generation, size_at_start)  # the first pass, as the thread runs it
    assert log.indexed.is_set() and log.line_count == 10
    assert log.poll().kind == "none"
    assert log.line_count == 15 and log.lines(14, 1) == ["late 4"]
    log.close()


def test_follows_appends_rotation_and_truncation(writer: tuple[Path, Writer]) -> None:
    path, w = writer
    w.do("append first\\nsecond\\n")
    log = LogFile(path)
    log.seek_end()
    log.start_indexing()
    w.do("append third\\nfour")  # "four" has no newline yet: not handed out
    assert _poll_until(log, 1) == [("appended", ("third",))]
    w.do("append th\\n")
    assert _poll_until(log, 1) == [("appended", ("fourth",))]
    w.do("append last of the old file\\n")
    w.do("rotate")
    w.do("append new file\\n")
    changes = _poll_until(log, 2)
    assert changes[0][0] == "rotated"
    assert [line for _, lines in changes for line in lines] == ["last of the old file", "new file"]
    w.do("truncate")
    time.sleep(0.1)
    w.do("append after truncation\\n")
    changes = _poll_until(log, 1)
    assert changes[0] == ("truncated", ("after truncation",))
    assert log.indexed.wait(10) and log.lines(0, 5) == ["after truncation"]
    log.close()


def test_a_path_that_cannot_be_followed_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LogFileError, match=r"nope\.log: no such file"):
        LogFile(tmp_path / "nope.log")
    with pytest.raises(LogFileError, match="is a directory"):
        LogFile(tmp_path)


def _reader(stream: IO[str], out: queue.Queue[str]) -> None:
    for line in stream:
        out.put(line)


def _next_incident(out: queue.Queue[str], timeout: float = 20.0) -> dict[str, object]:
    return json.loads(out.get(timeout=timeout))


def test_diagnose_follow_prints_one_json_line_per_incident(writer: tuple[Path, Writer]) -> None:
    path, w = writer
    w.do("append " + PORT_ERROR)  # already in the file: read as the backlog
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "console.cli",
            "diagnose",
            "--follow",
            str(path),
            "--poll-interval",
            "0.05",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    out: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, out), daemon=True).start()
    try:
        first = _next_incident(out)
        assert first["causes"][0]["id"] == "port_in_use" and first["restart"] == 0  # type: ignore[index]
        w.do("append " + OOM_TRACEBACK)
        second = _next_incident(out)
        assert second["kind"] == "traceback" and second["causes"][0]["id"] == "cuda_oom"  # type: ignore[index]
        w.do("rotate")
        time.sleep(0.3)
        w.do("append " + KILLED)
        third = _next_incident(out)
        assert third["causes"][0]["id"] == "host_oom" and third["restart"] == 1  # type: ignore[index]
        w.do("truncate")
        time.sleep(0.3)
        w.do("append " + PORT_ERROR)
        fourth = _next_incident(out)
        assert fourth["causes"][0]["id"] == "port_in_use" and fourth["restart"] == 2  # type: ignore[index]
        assert out.empty()  # one line per incident, nothing else on stdout
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_follow_without_a_file_is_a_usage_error() -> None:
    from console.cli import main

    assert main(["diagnose", "--follow"]) == 2


def test_a_find_folds_case_in_any_alphabet(tmp_path: Path) -> None:
    """The pager's `/`: blocks are lower-cased as bytes (ASCII only), so the pattern carries the
    other alphabets' cases itself; an ASCII text stays a plain literal."""
    from console.host.logfollow import folded_pattern

    path = tmp_path / "run.log"
    path.write_text("INFO début\nÉCHEC DU CHARGEMENT\nINFO ok\nОшибка загрузки модели\n"
                    "STRASSE\nMaße\nERROR: Disk Full\n", encoding="utf-8")
    log = LogFile(path)
    log.index_now()
    for text, line in (("échec du", 1), ("ÉCHEC du", 1), ("ОШИБКА", 3), ("ошибка ЗАГРУЗКИ", 3),
                       ("maße", 5), ("MAßE", 5), ("disk full", 6), ("Disk FULL", 6)):
        assert log.find(folded_pattern(text), -1, fold_case=True) == line, text
    assert log.find(folded_pattern("échec du"), 1, fold_case=True) is None
    assert folded_pattern("Disk FULL").pattern == rb"disk\ full"  # ASCII: a literal
    log.close()


@pytest.mark.parametrize("block", [64, 4 << 20])
def test_find_reads_in_blocks_forward_and_backward(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    """`LogFile.find` (the pager's `/` and `n`): the nearest matching line after (before) a
    line, whether the blocks it reads hold one line or the whole file; `confirm` filters,
    `cancelled` stops it; a line longer than a block is still read."""
    import re

    from console.host import logfollow

    monkeypatch.setattr(logfollow, "CHUNK_BYTES", block)
    path = tmp_path / "run.log"
    lines = [f"INFO step {i}" for i in range(5_000)]
    for i in (7, 2_500, 4_990):
        lines[i] = f"ERROR step {i} failed"
    lines[3_000] = "x" * 200 + " needle " + "y" * 200  # longer than a 64-byte block
    path.write_text("\n".join(lines) + "\n")
    log = LogFile(path)
    log.index_now()
    error = re.compile(rb"error", re.IGNORECASE)
    assert log.find(error, -1) == 7  # from before the first line: line 0 is searched too
    assert log.find(error, 7) == 2_500
    assert log.find(error, 2_500) == 4_990
    assert log.find(error, 4_990) is None
    assert log.find(error, 4_999, backward=True) == 4_990
    assert log.find(error, 2_500, backward=True) == 7
    assert log.find(error, 7, backward=True) is None
    assert log.find(re.compile(rb"NEEDLE", re.IGNORECASE), 0) == 3_000
    assert log.find(re.compile(rb"needle"), 0, fold_case=True) == 3_000
    assert log.find(re.compile(rb"error step 2500"), 4_000, backward=True, fold_case=True) == 2_500
    assert log.find(re.compile(rb"ERROR"), 0, fold_case=True) is None  # the pattern is lower-case
    assert log.find(error, 0, confirm=lambda text, n: "4990" in text) == 4_990
    assert log.find(error, 0, cancelled=lambda: True) is None
    log.close()
