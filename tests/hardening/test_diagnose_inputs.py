"""`diagnose` reads with a bound and behaves like a Unix tool at both ends of its pipes."""

from __future__ import annotations

import io
import itertools
import subprocess
import sys
from pathlib import Path

from console.core.diagnose import diagnose_text
from console.host.bounded import BoundedResult, diagnose_stream, iter_lines, windows
from tests.hardening.helpers import REPO, cli

OOM = """Traceback (most recent call last):
  File "/app/train.py", line 88, in <module>
    loss = model(**batch).loss
torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total \
capacity of 79.19 GiB of which 1.02 GiB is free.
"""
KILLED = "Killed\n"


def big_log(lines: int) -> str:
    body = "".join(f"step {i} loss 2.{i:04d} lr 3e-05\n" for i in range(lines))
    return body + OOM + body + KILLED + body


def test_one_window_is_exactly_diagnose_text() -> None:
    text = big_log(200)
    result = diagnose_stream(io.BytesIO(text.encode()))
    assert [c.to_dict() for c in result.causes] == [c.to_dict() for c in diagnose_text(text)]
    assert result.lines == text.count("\n")
    assert result.stopped is None


def test_many_windows_find_what_one_finds_and_a_traceback_on_an_edge() -> None:
    text = big_log(3000)
    whole = {c.id for c in diagnose_text(text) if not c.lead}
    assert whole  # the fixture holds something to find
    for size in (4096, 10_000, 33_333):
        result = diagnose_stream(io.BytesIO(text.encode()), window_bytes=size)
        # The same findings; each window's weak leads only complete the top-3.
        assert {c.id for c in result.causes if not c.lead} == whole, size
        assert len(result.causes) == max(3, len(whole)), size
        assert all(c.lead for c in result.causes[len(whole):]), size
    # The traceback straddles a window edge: the overlap gives it whole to the next window.
    lines = text.splitlines()
    start = lines.index("Traceback (most recent call last):")
    cut = sum(len(x) + 1 for x in lines[:start + 2])
    result = diagnose_stream(io.BytesIO(text.encode()), window_bytes=cut)
    assert "cuda_oom" in {c.id for c in result.causes}


def test_windows_overlap_and_cover_every_line() -> None:
    lines = [f"line {i}" for i in range(1000)]
    got = list(windows(iter(lines), window_bytes=500, overlap=10))
    assert got[0][0] == "line 0" and got[-1][-1] == "line 999"
    for before, after in itertools.pairwise(got):
        assert after[:10] == before[-10:]


def test_long_lines_never_make_the_overlap_fill_a_window() -> None:
    # 400 lines of overlap at 1,000 bytes each would fill a 10 kB window: every further line
    # was a window of its own (~1,000 windows, each diagnosed). The overlap is at most half a
    # window, so each window brings half a window of new lines.
    lines = [f"{i:04d} " + "x" * 995 for i in range(1000)]
    got = list(windows(iter(lines), window_bytes=10_000, overlap=400))
    assert len(got) <= 2 * 1000 * 1000 // 10_000 + 1, len(got)
    assert got[0][0] == lines[0] and got[-1][-1] == lines[-1]
    for before, after in itertools.pairwise(got[:-1]):  # the last window holds what is left
        shared = len(set(before) & set(after))
        assert shared >= 1 and sum(len(x) + 1 for x in after[shared:]) >= 10_000 // 2 - 1000


def test_a_long_word_beside_a_needle_does_not_make_a_pattern_backtrack() -> None:
    # Session 25: patterns that open with an unanchored run (`\w*\s*does not exist or is not
    # currently imported`, `\w*\.?is_open\(\)`) backtracked over a long word beside their
    # needle: this line of 120,000 characters (the diagnosis takes lines up to 64 KiB, and
    # diagnose_text any) took 80 s. A regex now reads 2,000 characters on each side of its
    # needle; the line takes about 0.5 s. The bound catches only the quadratic case.
    word = "x" * 60_000
    line = f"{word} does not exist or is not currently imported; {word}.is_open() failed"
    code = ("import sys; from console.core.diagnose import diagnose_text; "
            "diagnose_text(sys.stdin.read())")
    subprocess.run([sys.executable, "-c", code], input=line, text=True, cwd=REPO, timeout=30,
                   check=True)
    # A message far into a long line is still read whole.
    far = ("a " * 5000 + "OSError: Tokenizer class FooBarTokenizer does not exist or is not "
           "currently imported.")
    assert "remote_code" in [c.id for c in diagnose_text(far) if not c.lead]


def test_long_lines_are_cut_and_the_total_is_bounded() -> None:
    res = BoundedResult()
    out = list(iter_lines(io.BytesIO(b"x" * 10_000 + b"\nok\n"), max_line=100, block=64,
                          result=res))
    assert out == ["x" * 100, "ok"]
    res = BoundedResult()
    list(iter_lines(io.BytesIO(b"y\n" * 10_000), max_total=1000, result=res))
    assert res.bytes_read == 1000 and res.stopped is not None


def test_endless_stream_stops_at_the_bound_with_a_message() -> None:
    with open("/dev/zero", "rb") as zero:
        done = cli(["diagnose", "-"], stdin=zero, timeout=300)
    assert done.returncode == 0
    assert done.stderr.strip().startswith("autoglm-console diagnose: stopped after reading "
                                          "1.0 GiB, the most one run reads")
    assert done.stdout.startswith("No known root cause recognised in 1 lines.")


def shell(command: str) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    return subprocess.run(["bash", "-c", f"set -o pipefail; {command}"], capture_output=True,
                          text=True, timeout=120, env=env, check=False)


def test_closed_stdin_is_one_line_exit_2() -> None:
    done = shell(f"{sys.executable} -m console.cli diagnose - <&-")
    assert done.returncode == 2
    assert done.stderr == ("autoglm-console diagnose: standard input is closed: pass a FILE, "
                           "or pipe a log into it ('-')\n")


def test_reader_going_away_is_quiet_like_cat(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text(big_log(50))
    done = shell(f"{sys.executable} -m console.cli diagnose {log} | true")
    assert done.stderr == ""
    assert done.returncode == 141  # as `cat FILE | true` under pipefail
    control = shell("yes | head -c 1 >/dev/null; exit ${PIPESTATUS[0]}")
    assert control.returncode == 141  # what a Unix tool reports for the same thing


def test_stdout_closed_is_quiet(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text(big_log(50))
    done = shell(f"{sys.executable} -m console.cli diagnose {log} >&-")
    assert "Traceback" not in done.stderr
