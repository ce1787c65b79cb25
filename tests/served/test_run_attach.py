"""`autoglm-console run` and `attach` on real commands: scripts that allocate memory, crash with
a traceback, bind a taken port, get SIGKILLed; causes by id, exit codes passed on."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import psutil

CLI = [sys.executable, "-m", "console.cli"]


def _script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return str(path)


def _last(events: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(e for e in reversed(events) if e["event"] == kind)


def _run_json(
    argv: list[str], timeout: float = 60, config: Path | None = None
) -> tuple[int, list[dict[str, Any]]]:
    head = [*CLI, "--config", str(config)] if config else CLI
    out = subprocess.run(
        check=False,
        args=[*head, "run", "--json", "--sample-seconds", "0.1", "--", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    events = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    return out.returncode, events


ALLOC_THEN_CRASH = """
    import time
    block = bytearray(300 * 1024 * 1024)
    for i in range(0, len(block), 4096):
        block[i] = 1
    print("allocated", flush=True)
    time.sleep(1.0)
    raise MemoryError("could not allocate 8 GiB for the next batch")
"""


def test_run_samples_rss_and_diagnoses_a_traceback(tmp_path: Path) -> None:
    code, events = _run_json([sys.executable, _script(tmp_path, "crash.py", ALLOC_THEN_CRASH)])
    assert code == 1
    rss = [e["rss_bytes"] for e in events if e["event"] == "memory"]
    assert rss and max(rss) >= 300 * 1024 * 1024
    diagnosed = [e for e in events if e["event"] == "diagnosis"]
    assert diagnosed and diagnosed[0]["causes"][0]["id"] == "host_oom"
    exit_event = _last(events, "exit")
    assert exit_event["code"] == 1
    assert "host_oom" in exit_event["causes"]


def test_run_diagnoses_a_taken_port(tmp_path: Path) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        script = _script(
            tmp_path,
            "bind.py",
            f"""
            import socket
            s = socket.socket()
            s.bind(("127.0.0.1", {port}))
        """,
        )
        code, events = _run_json([sys.executable, script])
    finally:
        holder.close()
    assert code == 1
    ids = [c["id"] for e in events if e["event"] == "diagnosis" for c in e["causes"]]
    assert "port_in_use" in ids


def test_run_passes_a_sigkill_on_and_explains_it(tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        "killed.py",
        """
        import os, signal
        print("about to be killed", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """,
    )
    code, events = _run_json([sys.executable, script])
    assert code == 128 + signal.SIGKILL
    exit_event = _last(events, "exit")
    assert exit_event["why"] == "killed by SIGKILL (9)"
    # A SIGKILL with no OOM-kill evidence (the kernel's counter did not rise, RAM was fine) is
    # a signal from outside: not named host_oom (the diagnosis's rule since issue 13).
    assert "host_oom" not in exit_event["causes"]


def test_run_passes_the_exit_code_on(tmp_path: Path) -> None:
    code, events = _run_json([sys.executable, "-c", "import sys; print('bye'); sys.exit(7)"])
    assert code == 7 and _last(events, "exit")["code"] == 7


def test_run_guard_pauses_the_group_with_sigstop(tmp_path: Path) -> None:
    # a pause level the machine is always over (no abort): the guard must SIGSTOP the command;
    # Ctrl-C to `run` then stops it (SIGCONT, SIGINT, ...) and `run` exits
    config = tmp_path / "guard.toml"
    config.write_text("[thresholds.ram]\nwarn = 0.01\npause = 0.02\nresume = 0.01\nabort = false\n")
    script = _script(
        tmp_path,
        "slow.py",
        """
        import time
        for i in range(600):
            print(i, flush=True)
            time.sleep(0.1)
    """,
    )
    run = subprocess.Popen(
        [
            *CLI,
            "--config",
            str(config),
            "run",
            "--json",
            "--sample-seconds",
            "0.2",
            "--",
            sys.executable,
            script,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert run.stdout is not None
    events: list[dict[str, Any]] = []
    child = None
    for line in run.stdout:
        event = json.loads(line)
        events.append(event)
        if event["event"] == "started":
            child = event["pid"]
        if event["event"] == "paused":
            break
    assert child is not None and events[-1]["event"] == "paused"
    assert events[-1]["holds_rss_bytes"] > 0 and events[-1]["stopped_processes"] == 1
    assert psutil.Process(child).status() == psutil.STATUS_STOPPED
    time.sleep(0.5)
    assert psutil.Process(child).status() == psutil.STATUS_STOPPED  # it stays stopped
    run.send_signal(signal.SIGINT)
    rest, _ = run.communicate(timeout=60)
    events += [json.loads(line) for line in rest.splitlines() if line.startswith("{")]
    kinds = [e["event"] for e in events]
    assert "stopped" in kinds and "exit" in kinds
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE
    assert run.returncode != 0


def test_run_refuses_a_missing_program() -> None:
    out = subprocess.run(
        check=False,
        args=[*CLI, "run", "--", "/no/such/program"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 127 and "no such program" in out.stderr


def test_attach_follows_a_log_and_the_tree_memory(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    script = _script(
        tmp_path,
        "worker.py",
        f"""
        import time, subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", "import time; b = bytearray(100 * 2**20); "
                                  "b[::4096] = b'x' * len(b[::4096]); time.sleep(30)"])
        time.sleep(1.5)
        with open({str(log)!r}, "a") as f:
            f.write("Traceback (most recent call last):\\n")
            f.write('  File "serve.py", line 3, in <module>\\n')
            f.write("OSError: [Errno 98] Address already in use\\n")
            f.write("shutting down\\n")
        time.sleep(1.5)
        child.kill()
    """,
    )
    proc = subprocess.Popen([sys.executable, script])
    try:
        out = subprocess.run(
            check=False,
            args=[
                *CLI,
                "attach",
                str(proc.pid),
                "--log",
                str(log),
                "--json",
                "--interval",
                "0.3",
                "--seconds",
                "20",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        proc.kill()
        proc.wait()
    events = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert out.returncode == 0
    assert max(e["rss_bytes"] for e in events if e["event"] == "memory") >= 100 * 2**20
    assert any(e["event"] == "log" and "Address already in use" in e["line"] for e in events)
    ids = [c["id"] for e in events if e["event"] == "diagnosis" for c in e["causes"]]
    assert "port_in_use" in ids
    assert events[-1]["event"] == "gone"


def test_attach_to_a_missing_pid_is_one_line() -> None:
    out = subprocess.run(
        check=False, args=[*CLI, "attach", "999999999"], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 2 and out.stderr.strip().endswith("no such process")


def test_run_names_and_removes_shm_left_by_a_killed_process(tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        "shm.py",
        """
        import mmap, os, signal, sys
        fd = os.open("/dev/shm/" + sys.argv[1], os.O_CREAT | os.O_RDWR, 0o600)
        os.ftruncate(fd, 1 << 20)
        m = mmap.mmap(fd, 1 << 20)
        m[:5] = b"hello"
        print("mapped", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """,
    )
    names = [f"autoglm-test-{os.getpid()}-{time.monotonic_ns()}-{i}" for i in (1, 2)]
    try:
        code, events = _run_json([sys.executable, script, names[0]])
        assert code == 128 + signal.SIGKILL
        path = Path("/dev/shm") / names[0]
        shm = _last(events, "shm")
        assert {"path": str(path), "size_bytes": 1 << 20} in shm["leftovers"]
        assert shm["removed"] is False and path.exists()  # named, not removed unasked
        out = subprocess.run(
            check=False,
            args=[*CLI, "run", "--json", "--clean-shm", "--", sys.executable, script, names[1]],
            capture_output=True,
            text=True,
            timeout=60,
        )
        events = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
        path = Path("/dev/shm") / names[1]
        shm = _last(events, "shm")
        assert str(path) in [f["path"] for f in shm["leftovers"]]
        assert shm["removed"] is True and not path.exists()
    finally:
        for name in names:
            (Path("/dev/shm") / name).unlink(missing_ok=True)


def test_serve_sigint_stops_the_server_and_exits(demo_dir: Path) -> None:
    from console.host import procs

    port = procs.free_port()
    serve = subprocess.Popen(
        [*CLI, "serve", "demo", "--engine", "transformers", "--port", str(port), "--json"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert serve.stdout is not None
    events: list[dict[str, Any]] = []
    server_pid = None
    for line in serve.stdout:
        event = json.loads(line)
        events.append(event)
        if event["event"] == "started":
            server_pid = event["pid"]
        if event["event"] in ("ready", "exit"):
            break
    assert events[-1]["event"] == "ready" and events[-1]["url"] == f"http://127.0.0.1:{port}"
    assert server_pid is not None and psutil.pid_exists(server_pid)
    serve.send_signal(signal.SIGINT)
    rest, _ = serve.communicate(timeout=60)
    events += [json.loads(line) for line in rest.splitlines() if line.startswith("{")]
    assert serve.returncode == 0
    stopped = next(e for e in events if e["event"] == "stopped")
    assert stopped["signals"][0] == "SIGINT" and stopped["pids_left"] == []
    assert (
        not psutil.pid_exists(server_pid)
        or psutil.Process(server_pid).status() == psutil.STATUS_ZOMBIE
    )
    assert procs.port_owner(port) is None


def test_serve_flags_a_stalled_phase_and_gives_up_at_the_ready_timeout(
    tmp_path: Path, demo_dir: Path
) -> None:
    # a real process that prints what transformers serve prints first, then hangs
    hang = _script(
        tmp_path,
        "hang.py",
        """
        import sys, time
        print("[transformers] loading weights file " + sys.argv[1], flush=True)
        time.sleep(120)
        """,
    )
    from console.host import procs

    out = subprocess.run(
        check=False,
        args=[
            *CLI,
            "serve",
            "demo",
            "--engine",
            "transformers",
            "--port",
            str(procs.free_port()),
            "--engine-cmd",
            f"{sys.executable} {hang}",
            "--stall-seconds",
            "1",
            "--ready-timeout",
            "4",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    events = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert out.returncode == 1
    phases = [e["phase"] for e in events if e["event"] == "phase"]
    assert phases == ["weights_loading"]
    stalled = _last(events, "stalled")
    assert stalled["phase"] == "weights_loading" and "stuck in 'weights_loading'" in stalled["why"]
    assert any("not ready after 4 s" in e.get("why", "") for e in events if e["event"] == "warning")
    stopped = _last(events, "stopped")
    assert stopped["signals"][0] == "SIGINT" and stopped["pids_left"] == []


def test_serve_explains_a_server_that_dies_at_start(demo_dir: Path) -> None:
    from console.host import procs

    out = subprocess.run(
        check=False,
        args=[
            *CLI,
            "serve",
            "demo",
            "--engine",
            "transformers",
            "--port",
            str(procs.free_port()),
            "--json",
            "--",
            "--no-such-flag",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    events = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert out.returncode == 1
    exit_event = _last(events, "exit")
    assert exit_event["code"] != 0 and "exit code" in exit_event["why"]
    assert any("no-such-flag" in e["line"] for e in events if e["event"] == "log")
    assert not any(e["event"] == "ready" for e in events)


def test_a_server_is_blamed_only_for_the_shm_files_its_own_processes_held(tmp_path: Path) -> None:
    """What a supervised server leaves in /dev/shm is named; a file another program created and
    abandoned while the server ran is not put on the server's account (session 6: a vLLM
    semaphore was blamed on a transformers server stopped while vLLM was starting)."""
    from console.engines.supervise import ProcessWatch
    from console.host import procs

    script = _script(
        tmp_path,
        "holder.py",
        """
        import mmap, os, sys, time
        fd = os.open("/dev/shm/" + sys.argv[1], os.O_CREAT | os.O_RDWR, 0o600)
        os.ftruncate(fd, 4096)
        m = mmap.mmap(fd, 4096)
        print("mapped", flush=True)
        time.sleep(60)
    """,
    )
    stamp = f"{os.getpid()}-{time.monotonic_ns()}"
    mine, other = f"autoglm-test-mine-{stamp}", f"autoglm-test-other-{stamp}"
    before = procs.shm_snapshot()
    watch = ProcessWatch([sys.executable, script, mine], lambda event: None, sample_s=0.1)
    try:
        watch.start()
        deadline = time.monotonic() + 20
        while not (Path("/dev/shm") / mine).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        (Path("/dev/shm") / other).write_bytes(b"x" * 32)  # another program's, abandoned
        watch.stop()
        left = [f.path.name for f in procs.shm_leftovers(before, seen=watch.shm_seen)]
        assert left == [mine]
        everything = [f.path.name for f in procs.shm_leftovers(before)]
        assert set(everything) >= {mine, other}  # without `seen`, both would be named
    finally:
        watch.close()
        for name in (mine, other):
            (Path("/dev/shm") / name).unlink(missing_ok=True)
