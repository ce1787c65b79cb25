"""Model output never writes to the terminal: OSC 0 (title) and OSC 52 (clipboard) from a
hostile tokenizer, and from a log file, reach a real tmux pane as visible text only.

tmux here has `set-clipboard on`, so an OSC 52 that reaches the pane fills a tmux paste buffer
and an OSC 0 sets the pane title. Each test first shows that a raw `printf` of the same bytes
does change both (so the check can fail), then runs the console and sees neither change.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from tests.e2e.test_tmux import Tmux, installed_console, wait_for

pytestmark = pytest.mark.e2e

OSC = "\x1b]0;PWNED\x07\x1b]52;c;UFdORUQ=\x07"  # title "PWNED", clipboard "PWNED"


@pytest.fixture
def tmux(tmp_path: Path) -> Tmux:
    session = Tmux(tmp_path)
    session.conf.write_text(
        "set -g remain-on-exit on\nset -g status off\nset -g set-clipboard on\n"
        "set -g allow-rename on\n"
    )
    yield session  # type: ignore[misc]
    session.kill_server()
    for proc in session.processes():
        proc.kill()


def buffers(tmux: Tmux) -> str:
    return tmux.tmux("list-buffers", "-F", "#{buffer_sample}", check=False)


def assert_raw_bytes_would_change_both(tmux: Tmux, tmp_path: Path) -> None:
    """The harness can fail: the raw bytes do set the title and the buffer."""
    raw = tmp_path / "raw.txt"
    raw.write_text(OSC)
    # The pane's process stays a moment after writing: a `cat` that exits at once can close the
    # pty before tmux has read its bytes (seen once on a busy 2-core machine: no title set).
    tmux.start(["sh", "-c", f"cat {shlex.quote(str(raw))}; sleep 2"])
    tmux.exit_status()
    wait_for(lambda: tmux.pane("#{pane_title}") == "PWNED", "the raw OSC 0 to set the title")
    wait_for(lambda: "PWNED" in buffers(tmux), "the raw OSC 52 to fill a buffer")
    tmux.kill_server()
    tmux.status_file.unlink()
    tmux.socket += "-console"  # a fresh server: the old one may still be going away


def run_and_check(tmux: Tmux, argv: list[str], visible: str) -> str:
    title = "clean-title"
    tmux.start(["sh", "-c", f"printf '\\033]2;{title}\\007'; exec {shlex.join(argv)}"],
               width=200, height=50)
    status = tmux.exit_status(timeout_s=120)
    screen = tmux.screen()
    assert visible in screen, screen
    assert tmux.pane("#{pane_title}") == title
    assert buffers(tmux) == ""
    return status


@pytest.fixture(scope="module")
def hostile_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from console.worker import tinymodels

    root = tmp_path_factory.mktemp("hostile")
    return tinymodels.build("gpt2", root / "osc", extra_tokens=[OSC], always_emit=OSC)


def test_load_prompt_shows_escape_tokens_visibly(tmux: Tmux, tmp_path: Path,
                                                 hostile_model: Path) -> None:
    assert_raw_bytes_would_change_both(tmux, tmp_path)
    argv = [installed_console(), "load", str(hostile_model), "--device", "cpu",
            "--prompt", "hello", "--max-new-tokens", "3"]
    status = run_and_check(tmux, argv, visible="\u241b]52;c;UFdORUQ=\u2407")
    assert status == "0"


def test_diagnose_of_a_hostile_log_changes_nothing(tmux: Tmux, tmp_path: Path) -> None:
    assert_raw_bytes_would_change_both(tmux, tmp_path)
    log = tmp_path / "hostile.log"
    log.write_text(f"Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\n"
                   f"RuntimeError: CUDA out of memory {OSC}\n")
    status = run_and_check(tmux, [installed_console(), "diagnose", str(log)],
                           visible="RuntimeError: CUDA out of memory")
    assert status == "0"
