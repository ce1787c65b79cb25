"""Shared by the hardening tests: run the installed CLI for real, as another user, on a tmpfs."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

NOBODY = 65534
REPO = Path(__file__).resolve().parents[2]


def cli(argv: list[str], *, env: dict[str, str] | None = None, stdin: object = None,
        as_nobody: bool = False, timeout: float = 120,
        input_bytes: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m console.cli argv` in a child process, this worktree's code first."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(REPO)
    full_env.update(env or {})
    cmd = [sys.executable, "-m", "console.cli", *argv]
    if as_nobody:
        cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *cmd]
    kwargs: dict[str, object] = {}
    if input_bytes is not None:
        kwargs["input"] = input_bytes
    else:
        kwargs["stdin"] = stdin if stdin is not None else subprocess.DEVNULL
    result = subprocess.run(cmd, capture_output=True, env=full_env, timeout=timeout,
                            cwd=str(REPO), check=False, **kwargs)  # type: ignore[call-overload]
    return subprocess.CompletedProcess(result.args, result.returncode,
                                       result.stdout.decode("utf-8", "replace"),
                                       result.stderr.decode("utf-8", "replace"))


def need_other_user() -> None:
    """Permission tests need a user the mode bits apply to: root ignores them."""
    if os.geteuid() != 0:
        return
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot drop to a user mode bits apply to")


@contextlib.contextmanager
def tmpfs(size: str = "1m", *, readonly: bool = False) -> Iterator[Path]:
    """A small tmpfs mounted for the test (disk full / read-only cases). Skips, saying why,
    where mounting is not allowed (not root, or a container without CAP_SYS_ADMIN)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root); not root here")
    mnt = Path(tempfile.mkdtemp(prefix="autoglm-tmpfs-"))
    opts = f"size={size}" + (",ro" if readonly else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(mnt)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        mnt.rmdir()
        pytest.skip(f"mount -t tmpfs is not allowed here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, check=False)
        with contextlib.suppress(OSError):
            mnt.rmdir()
