"""Session logs and bundles: private, rotated, and never a reason for a load to fail.

Real processes (`autoglm-console load` on a real tiny model), real files, a real tmpfs for the
disk-full and read-only cases (skipped, saying why, where mounting is not allowed).
"""

from __future__ import annotations

import errno
import os
import stat
import time
from pathlib import Path

import pytest

from console.host.logs import SessionLog, rotate
from tests.corpus.secrets import SECRETS
from tests.hardening.helpers import cli, tmpfs


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from console.worker import tinymodels

    return tinymodels.build("llama", tmp_path_factory.mktemp("tiny") / "llama")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_log_dir_0700_and_files_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        log = SessionLog(tmp_path / "logs" / "session-1.log")
        log.write("CMD", "hello")
        log.close()
    finally:
        os.umask(old)
    assert mode(tmp_path / "logs") == 0o700
    assert mode(tmp_path / "logs" / "session-1.log") == 0o600


def test_existing_open_log_dir_is_tightened(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir(mode=0o755)
    os.chmod(tmp_path / "logs", 0o755)
    SessionLog(tmp_path / "logs" / "session-1.log").close()
    assert mode(tmp_path / "logs") == 0o700


def test_rotation_keeps_last_n_sessions_and_m_mib(tmp_path: Path) -> None:
    now = time.time()
    for i in range(10):
        p = tmp_path / f"session-{i:02d}.log"
        p.write_bytes(b"x" * 300_000)
        os.utime(p, (now - 100 + i, now - 100 + i))
    (tmp_path / "other.txt").write_text("not a session log")
    removed = rotate(tmp_path, keep_sessions=6, max_mib=100)
    assert sorted(p.name for p in removed) == [f"session-{i:02d}.log" for i in range(4)]
    removed = rotate(tmp_path, keep_sessions=6, max_mib=1.0)  # 1 MiB holds 3 of 300 kB
    left = sorted(p.name for p in tmp_path.glob("session-*.log"))
    assert left == ["session-07.log", "session-08.log", "session-09.log"]
    assert (tmp_path / "other.txt").exists()
    # The log being written is never removed, even when it alone is over the limits.
    rotate(tmp_path, keep_sessions=1, max_mib=1.0, keep=tmp_path / "session-07.log")
    assert (tmp_path / "session-07.log").exists()


def test_a_new_session_rotates_the_directory(tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"session-old-{i}.log").write_text("x")
        os.utime(tmp_path / f"session-old-{i}.log", (1000 + i, 1000 + i))
    SessionLog(tmp_path / "session-new.log", keep_sessions=3).close()
    assert sorted(p.name for p in tmp_path.glob("session-*.log")) == [
        "session-new.log", "session-old-3.log", "session-old-4.log"]


def test_disk_full_turns_the_log_off_once_and_never_raises() -> None:
    with tmpfs("64k") as mnt:
        said: list[str] = []
        log = SessionLog(mnt / "logs" / "session-x.log", on_off=said.append)
        for _ in range(2000):
            log.write("OUTPUT", "y" * 200)
        assert said == ["disk full"]
        assert not log.active
        log.close()


def test_unwritable_dir_turns_the_log_off_with_the_reason() -> None:
    with tmpfs("64k", readonly=True) as mnt:
        said: list[str] = []
        log = SessionLog(mnt / "logs" / "session-x.log", on_off=said.append)
        log.write("CMD", "x")
        log.write("CMD", "y")
        assert said == [f"read-only file system ({mnt / 'logs'})"]


def fill(path: Path) -> None:
    """Write to `path` until the file system is full."""
    with path.open("wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def test_load_with_a_full_log_disk_finishes_and_says_so_once(tiny: Path) -> None:
    with tmpfs("256k") as mnt:
        (mnt / "logs").mkdir()
        fill(mnt / "filler")
        done = cli(["load", str(tiny), "--device", "cpu", "--prompt", "hello",
                    "--max-new-tokens", "4", "--verbose", "--timeout", "60"],
                   env={"AUTOGLM_CONSOLE_LOG_DIR": str(mnt / "logs")})
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("session log off: disk full") == 1, done.stderr
    assert "generated 4 tokens" in done.stdout


def test_load_demo_with_a_read_only_home(tmp_path: Path) -> None:
    with tmpfs("64k", readonly=True) as home:
        env = {"HOME": str(home), "XDG_CACHE_HOME": "", "XDG_STATE_HOME": "",
               "XDG_CONFIG_HOME": "", "AUTOGLM_CONSOLE_LOG_DIR": "",
               "AUTOGLM_CONSOLE_CACHE_DIR": "", "AUTOGLM_CONSOLE_CONFIG_DIR": "",
               "TMPDIR": str(tmp_path)}
        done = cli(["load", "demo", "--device", "cpu", "--timeout", "120"], env=env,
                   timeout=240)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("session log off: read-only file system") == 1, done.stderr
    assert "loaded demo" in done.stdout


def test_bundle_of_a_session_with_every_secret_in_its_prompt_holds_none(
        tmp_path: Path, tiny: Path) -> None:
    prompt = "\n".join(text for _, text, _, _ in SECRETS)
    logs = tmp_path / "logs"
    env = {"AUTOGLM_CONSOLE_LOG_DIR": str(logs)}
    done = cli(["load", str(tiny), "--device", "cpu", "--prompt", prompt,
                "--max-new-tokens", "2"], env=env)
    assert done.returncode == 0, done.stderr
    [session] = list(logs.glob("session-*.log"))
    out = tmp_path / "bundle.txt"
    old = os.umask(0)
    try:
        done = cli(["bundle", str(out), "--log", str(session), "--no-doctor"], env=env)
    finally:
        os.umask(old)
    assert done.returncode == 0, done.stderr
    assert mode(out) == 0o600
    assert mode(session) == 0o600 and mode(logs) == 0o700
    for text in (out.read_text(), session.read_text()):
        assert '"cmd":"generate"' in text.replace(" ", "") or "generate" in text
        for label, _, secret, _ in SECRETS:
            assert secret not in text, label


def test_load_rotates_by_the_config_keys(tmp_path: Path, tiny: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    for i in range(4):
        old = logs / f"session-old-{i}.log"
        old.write_text("x\n")
        os.utime(old, (1000 + i, 1000 + i))
    config = tmp_path / "config.toml"
    config.write_text("[logs]\nkeep_sessions = 2\nmax_mib = 1\n")
    done = cli(["--config", str(config), "load", str(tiny), "--device", "cpu"],
               env={"AUTOGLM_CONSOLE_LOG_DIR": str(logs)})
    assert done.returncode == 0, done.stderr
    left = sorted(p.name for p in logs.glob("session-*.log"))
    assert len(left) == 2 and "session-old-3.log" in left, left
