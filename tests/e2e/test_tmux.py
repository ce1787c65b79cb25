"""End to end: the installed `autoglm-console` in a real terminal (tmux).

Each test runs its own tmux server (`-L <unique socket>`, no user config), so a user's tmux is
never touched. The console's processes are found by a unique environment tag, so the check for
leftovers sees the console and anything it started, and nothing else on the machine.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.e2e

TAG_VAR = "AUTOGLM_E2E_TAG"
FIRST_FRAME = "autoglm-console"  # the status line's title
DEADLINE_S = 20.0  # generous: CI machines are slow and shared

# Runs the console as its child and writes the child's exit status to a file, so a test can
# see how the console ended when its terminal went away. argv[1]: "forward" passes SIGHUP on
# to the console as a login shell does for its jobs on an SSH drop; "ignore" sends nothing (the
# console must notice the dead terminal by itself). The console keeps the default SIGHUP action.
WRAPPER = (
    "import os, signal, subprocess, sys\nmode, status_file, argv = sys.argv[1], sys.argv[2], "
    "sys.argv[3:]\nsignal.signal(signal.SIGHUP, signal.SIG_IGN)\nchild = subprocess.Popen(argv, "
    "preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))\nif mode == 'forward':\n    "
    "signal.signal(signal.SIGHUP, lambda *_: child.send_signal(signal.SIGHUP))\nrc = "
    "child.wait()\nopen(status_file + '.tmp', 'w').write(str(rc))\nos.rename(status_file + '.tmp', "
    "status_file)\n"
)


def installed_console() -> str:
    """The venv's console script (next to this interpreter), else the one on PATH."""
    sibling = Path(sys.executable).parent / "autoglm-console"
    found = str(sibling) if sibling.exists() else shutil.which("autoglm-console")
    if not found:
        pytest.fail("autoglm-console is not installed: run ./dev setup (pip install -e .)")
    return found


def wait_for(predicate: Callable[[], bool], what: str, timeout_s: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.05)


class Tmux:
    def __init__(self, workdir: Path) -> None:
        if shutil.which("tmux") is None:
            pytest.fail("tmux is not installed (./dev test installs it from Debian packages)")
        self.socket = f"autoglm-e2e-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.tag = uuid.uuid4().hex
        self.conf = workdir / "tmux.conf"
        # remain-on-exit keeps the pane (and its last screen) after the command ends.
        self.conf.write_text("set -g remain-on-exit on\nset -g status off\n")
        # The shell around the command writes its exit status here. tmux's own
        # #{pane_dead_status} is not reliable: now and then tmux sees the terminal close
        # but never reaps the process, and the status stays empty.
        self.status_file = workdir / "exit-status"

    def tmux(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(["tmux", "-L", self.socket, "-f", str(self.conf), *args],
                                capture_output=True, text=True, timeout=30, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def start(self, argv: list[str], width: int = 80, height: int = 24, then: str = "") -> None:
        """Run `argv` (tagged) in a new 80x24 session; `then`: shell commands to run after."""
        env = f"{TAG_VAR}={self.tag} PATH={shlex.quote(str(Path(sys.executable).parent))}:$PATH"
        status = shlex.quote(str(self.status_file))
        command = (f"env {env} {shlex.join(argv)}; echo $? > {status}.tmp; mv {status}.tmp {status}"
                   + (f"; {then}" if then else ""))
        self.tmux("new-session", "-d", "-s", "main", "-x", str(width), "-y", str(height), command)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "main", check=False)

    def wait_for_text(self, text: str, present: bool = True) -> None:
        wait_for(lambda: (text in self.screen()) == present,
                 f"{text!r} to {'appear' if present else 'go'}; screen:\n{self.screen()}")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "main", *keys)

    def pane(self, fmt: str) -> str:
        return self.tmux("display-message", "-p", "-t", "main", fmt).strip()

    def exit_status(self, timeout_s: float = DEADLINE_S) -> str:
        """Wait for the command to exit; its exit status as the shell reports it (128 + N
        for death by signal N)."""
        wait_for(self.status_file.exists, "the console to exit", timeout_s)
        return self.status_file.read_text().strip()

    def processes(self) -> list[psutil.Process]:
        """Live processes carrying this test's tag (the console and its children)."""
        found = []
        for proc in psutil.process_iter(["pid"]):
            try:
                if (proc.environ().get(TAG_VAR) == self.tag
                        and proc.status() != psutil.STATUS_ZOMBIE):
                    found.append(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return found

    def kill_server(self) -> None:
        self.tmux("kill-server", check=False)


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    session = Tmux(tmp_path)
    yield session
    session.kill_server()
    for proc in session.processes():  # never leave a console behind, even when a test fails
        proc.kill()


def nvidia_gpus() -> int:
    """GPUs the driver lists (0 without nvidia-smi or a driver): what the console must show."""
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True,
                                 timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(line.startswith("GPU ") for line in listing.stdout.splitlines())


def test_first_frame_help_key_and_q_exits_zero(tmux: Tmux) -> None:
    tmux.start([installed_console()])
    tmux.wait_for_text(FIRST_FRAME)
    tmux.wait_for_text("q quit")  # the footer: the whole frame is drawn
    assert tmux.processes(), "the console is not running under its tag"
    # A 80x24 frame: the status line is the first line, the footer the last.
    lines = tmux.screen().splitlines()
    assert FIRST_FRAME in lines[0]
    # The GPU column shows this machine's GPUs, or says it is CPU-only.
    tmux.wait_for_text("GPU 0 ·" if nvidia_gpus() else "CPU-only")
    tmux.keys("?")
    tmux.wait_for_text("esc or ? closes")
    tmux.keys("Escape")
    tmux.wait_for_text("esc or ? closes", present=False)
    tmux.keys("2")
    tmux.wait_for_text("pre-flight")
    tmux.keys("q")
    assert tmux.exit_status() == "0"
    wait_for(lambda: not tmux.processes(), "no console process left")


def wrapped(mode: str, status_file: Path) -> list[str]:
    return [sys.executable, "-c", WRAPPER, mode, str(status_file), installed_console()]


@pytest.mark.parametrize("mode", ["forward", "ignore"])
def test_terminal_going_away_ends_the_console(tmux: Tmux, tmp_path: Path, mode: str) -> None:
    """Killing the tmux session hangs up the terminal, as an SSH drop does. "forward": the
    console gets SIGHUP; "ignore": no signal, the console must see the terminal is gone."""
    status_file = tmp_path / "status"
    tmux.start(wrapped(mode, status_file))
    tmux.wait_for_text("q quit")
    assert len(tmux.processes()) == 2  # the wrapper and the console
    tmux.tmux("kill-session", "-t", "main")
    wait_for(status_file.exists, "the console's exit status")
    # 129 = 128 + SIGHUP, returned by the console after a clean shutdown; dying of the signal
    # would read -1, a crash 1.
    assert status_file.read_text() == "129"
    wait_for(lambda: not tmux.processes(), "no console process left")


def test_parent_going_away_ends_the_console(tmux: Tmux, tmp_path: Path) -> None:
    """The console's parent dies while the terminal stays (no SIGHUP anywhere): it exits."""
    # The shell stays the session leader (it runs `sleep` next), so no hangup is sent.
    tmux.start(wrapped("ignore", tmp_path / "status"), then="sleep 60")
    tmux.wait_for_text("q quit")
    procs = tmux.processes()
    wrapper = next(p for p in procs if "-c" in p.cmdline()[:3])
    console = next(p for p in procs if p.pid != wrapper.pid)
    assert console.ppid() == wrapper.pid
    wrapper.kill()
    wait_for(lambda: not tmux.processes(), "the orphaned console to exit")


# A console whose sampler hangs inside sample() (a driver call that never returns) from the
# second tick on; touches a file when it is stuck.
STUCK_SAMPLER_CONSOLE = (
    "import sys, time\nfrom pathlib import Path\nfrom console.app import run_app\nfrom "
    "console.host.config import Config\nfrom console.host.telemetry import Telemetry\nclass "
    "Stuck:\n    def __init__(self): self.telemetry, self.calls = Telemetry(), 0\n    def "
    "sample(self):\n        self.calls += 1\n        if self.calls > 1:\n            "
    "Path(sys.argv[1]).touch()\n            time.sleep(3600)\n        return "
    "self.telemetry.sample()\nsys.exit(run_app(Config(interval_s=0.25), sampler=Stuck()))\n"
)


def test_a_sampler_stuck_in_a_driver_call_does_not_keep_the_process(
        tmux: Tmux, tmp_path: Path) -> None:
    stuck = tmp_path / "stuck"
    tmux.start([sys.executable, "-c", STUCK_SAMPLER_CONSOLE, str(stuck)])
    tmux.wait_for_text("q quit")
    wait_for(stuck.exists, "the sampler to hang")
    tmux.keys("q")
    assert tmux.exit_status(timeout_s=10) == "0"
    wait_for(lambda: not tmux.processes(), "no console process left")


def engine_children(tmux: Tmux) -> list[psutil.Process]:
    """This test's live engine child processes (`python -m console.worker.worker`)."""
    found = []
    for proc in tmux.processes():
        try:
            if any("console.worker.worker" in part for part in proc.cmdline()):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def wait_for_screen(tmux: Tmux, text: str, timeout_s: float) -> None:
    try:
        wait_for(lambda: text in tmux.screen(), repr(text), timeout_s)
    except AssertionError as error:
        raise AssertionError(f"{error}; screen:\n{tmux.screen()}") from None


ENGINE_DEADLINE_S = 90.0  # the engine imports torch and builds the demo on first use
# From no focus, shift+tab walks the Model tab's focus chain backwards: the tab's scroll
# container, the output pane, top_p, temperature, max_new_tokens, then the prompt.
SHIFT_TABS_TO_PROMPT = 6


def test_demo_load_generate_unload_and_q_leaves_no_engine(tmux: Tmux) -> None:
    """The real engine child on the demo (built in this session's cache dir, tests/conftest.py)
    in an 80x24 terminal: L loads, the prompt generates, U frees, q leaves nothing running."""
    tmux.start([installed_console(), "--model", "demo", "--no-prestart"])
    tmux.wait_for_text("q quit")
    tmux.keys("2")
    tmux.wait_for_text("pre-flight")
    time.sleep(0.5)
    assert not engine_children(tmux), "--no-prestart: an engine started before a load"
    tmux.keys("L")
    wait_for_screen(tmux, "state: loaded", ENGINE_DEADLINE_S)
    assert "demo: random weights" in tmux.screen()
    assert len(engine_children(tmux)) == 1
    # Escape clears the focus (whatever had it on the Dashboard); then walk to the prompt.
    # The pauses keep the terminal's escape sequences apart (a bare ESC followed at once by
    # another sequence reads as alt+<key>).
    tmux.keys("Escape")
    for _ in range(SHIFT_TABS_TO_PROMPT):
        time.sleep(0.2)
        tmux.keys("BTab")
    time.sleep(0.2)
    tmux.keys("-l", "hello e2e")  # -l: literal text, not key names
    tmux.wait_for_text("hello e2e")
    tmux.keys("Enter")
    wait_for_screen(tmux, "tok/s", ENGINE_DEADLINE_S)  # the generation's stats line
    tmux.keys("Escape")  # leave the prompt, so U acts on the tab instead of typing a "U"
    time.sleep(0.2)
    tmux.keys("U")
    wait_for_screen(tmux, "freed", ENGINE_DEADLINE_S)
    tmux.keys("q")  # nothing loaded any more: q quits at once
    assert tmux.exit_status(timeout_s=30) == "0"
    wait_for(lambda: not tmux.processes(), "no console and no engine process left")
    assert not engine_children(tmux)


def test_one_screen_from_the_dashboard(tmux: Tmux) -> None:
    """Issue 13 on the real console and engine at 80x24: the engine starts with the console;
    L on the Dashboard loads (the strip under the tabs shows it, then "loaded"); i jumps into
    the prompt, Enter generates (tokens and tok/s); ctrl+p and "load" offers Load; q asks
    once with a model loaded, q again exits 0 and leaves no engine."""
    tmux.start([installed_console(), "--model", "demo"])
    tmux.wait_for_text("q quit")
    wait_for(lambda: bool(engine_children(tmux)), "the prestarted engine", ENGINE_DEADLINE_S)
    tmux.keys("L")
    seen: list[str] = []

    def load_shown() -> bool:
        screen = tmux.screen()
        seen.extend(word for word in ("● starting", "● loading", "● loaded") if word in screen)
        return "● loaded" in screen
    wait_for(load_shown, "the load on the Dashboard", ENGINE_DEADLINE_S)
    screen = tmux.screen()
    assert "1 Dashboard" in screen and "2 Model ● loaded" in screen, screen  # still there
    assert len(engine_children(tmux)) == 1
    time.sleep(0.2)
    tmux.keys("i")
    wait_for_screen(tmux, "Enter generate", 10)
    tmux.keys("-l", "hello e2e")
    tmux.wait_for_text("hello e2e")
    tmux.keys("Enter")
    wait_for_screen(tmux, "tok/s", ENGINE_DEADLINE_S)
    assert "tokens" in tmux.screen()
    tmux.keys("Escape")
    time.sleep(0.3)
    tmux.keys("C-p")
    time.sleep(0.3)
    tmux.keys("-l", "load")
    wait_for_screen(tmux, "Load (L)", 10)
    tmux.keys("Escape")
    time.sleep(0.3)
    tmux.keys("q")
    wait_for_screen(tmux, "q again quits and frees", 10)
    assert not tmux.status_file.exists()
    tmux.keys("q")
    assert tmux.exit_status(timeout_s=30) == "0"
    wait_for(lambda: not tmux.processes(), "no console and no engine process left")


def test_log_file_paged_whole_at_80x24(tmux: Tmux, tmp_path: Path) -> None:
    """`--log FILE` in a real terminal: `w` pages the whole file (its last line first, Home its
    first, `:` a line, `n` the next error and its causes), an escape sequence in the file is
    shown, never emitted (the window title stays), Esc goes back, q exits 0."""
    log = tmp_path / "train.log"
    with log.open("w") as f:
        for i in range(120_000):
            if i == 60_000:
                f.write("Traceback (most recent call last):\n")
            elif i == 60_001:
                f.write("RuntimeError: CUDA error: an illegal memory access was encountered\n")
            elif i == 3:
                f.write("step 3 \x1b]2;pwned-title\x07 title escape\n")
            else:
                f.write(f"INFO step {i} loss 1.25\n")
    tmux.start([installed_console(), "--no-prestart", "--log", str(log)])
    tmux.wait_for_text("q quit")
    tmux.wait_for_text("INFO step 119999 loss")  # the Log tab follows the file's end
    tmux.keys("w")
    tmux.wait_for_text("of 120,000 · train.log")  # indexed: every line reachable
    assert "120,000 INFO step 119999" in tmux.screen()
    tmux.keys("Home")
    tmux.wait_for_text("1 INFO step 0 loss")
    tmux.wait_for_text("lines 1-")  # the title's position too: the screen has taken the key
    screen = tmux.screen()
    assert "title escape" in screen and "pwned-title" in screen  # shown as text
    assert "pwned" not in tmux.pane("#{pane_title}")  # and never emitted
    tmux.keys(":")
    tmux.wait_for_text("line number, 1 to 120,000")  # the field is open before it is typed in
    tmux.keys("-l", "90000")
    tmux.keys("Enter")
    tmux.wait_for_text("INFO step 89999 loss")
    tmux.keys("Home")
    tmux.keys("n")
    tmux.wait_for_text("error at line 60,001")
    tmux.wait_for_text("line 60,001, lines 59,961-60,200: the likely causes")  # diagnosed there
    tmux.keys("Escape")
    tmux.wait_for_text("error at line 60,001", present=False)
    tmux.keys("q")
    assert tmux.exit_status() == "0"
    wait_for(lambda: not tmux.processes(), "no console process left")
