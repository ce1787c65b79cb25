"""Session logs and other private files: private, bounded, and never a reason to fail.

- The log directory is created 0700 (and tightened to 0700 when it exists and is ours); every
  file written here (`open_private`) is 0600 whatever the umask.
- `rotate(directory)` keeps the newest `keep_sessions` session logs and at most `max_mib` MiB
  of them (config `[logs] keep_sessions` / `max_mib`, defaults below); the log being written
  is never removed.
- `SessionLog` writes one redacted, timestamped line per command, event and raw output line.
  A write that fails (disk full, read-only file system, quota, a directory that cannot be
  made) turns the log off: `reason` says why, `on_off(reason)` is called once (the console
  shows "session log off: <reason>") and every later write is a no-op. It never raises.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from console.core.redact import redact_json_line

DEFAULT_KEEP_SESSIONS = 50
DEFAULT_MAX_MIB = 200.0
SESSION_GLOB = "session-*.log"


def ensure_private_dir(directory: Path) -> None:
    """Create `directory` (and parents) with mode 0700; tighten it to 0700 when it exists and
    belongs to this user. OSError when it cannot be made."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = directory.stat()
    if st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(directory, 0o700)


def open_private(path: Path, *, append: bool = True) -> int:
    """A file descriptor for writing `path`, created 0600 whatever the umask (an existing file
    of ours is set to 0600 too). Never follows a symlink at `path`."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
    except OSError:
        os.close(fd)
        raise
    return fd


def write_private_text(path: Path, text: str) -> None:
    """Write `text` to `path` (0600) through a temporary name, so a reader never sees half."""
    tmp = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = open_private(tmp, append=False)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def rotate(directory: Path, *, keep_sessions: int = DEFAULT_KEEP_SESSIONS,
           max_mib: float = DEFAULT_MAX_MIB, keep: Path | None = None) -> list[Path]:
    """Remove the oldest session logs in `directory` beyond the newest `keep_sessions` and
    beyond `max_mib` MiB in all; `keep` (the log being written) is never removed. Returns the
    removed paths; errors (a file gone meanwhile, no permission) are skipped."""
    found: list[tuple[float, Path, int]] = []
    try:
        candidates = list(directory.glob(SESSION_GLOB))
    except OSError:
        return []
    for path in candidates:
        try:
            st = path.lstat()
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            found.append((st.st_mtime, path, st.st_size))
    found.sort(key=lambda item: (item[0], item[1].name), reverse=True)  # newest first
    budget = int(max_mib * 1024 * 1024)
    kept_count = 0
    kept_bytes = 0
    removed: list[Path] = []
    for _, path, size in found:
        is_current = keep is not None and path == keep
        if is_current or (kept_count < keep_sessions and kept_bytes + size <= budget):
            kept_count += 1
            kept_bytes += size
            continue
        try:
            path.unlink()
            removed.append(path)
        except OSError:
            continue
    return removed


def describe_os_error(exc: OSError) -> str:
    """'disk full', 'read-only file system', ... : the reason in a few words."""
    names = {
        errno.ENOSPC: "disk full",
        errno.EDQUOT: "disk quota exceeded",
        errno.EROFS: "read-only file system",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.EIO: "I/O error",
    }
    what = names.get(exc.errno or 0) or (exc.strerror or str(exc))
    where = f" ({exc.filename})" if exc.filename else ""
    return what + where


class SessionLog:
    """One file per session; every command, event and raw line, timestamped, redacted, written
    at once. Fail-safe: see the module docstring."""

    def __init__(self, path: Path, *, on_off: Callable[[str], None] | None = None,
                 keep_sessions: int = DEFAULT_KEEP_SESSIONS,
                 max_mib: float = DEFAULT_MAX_MIB) -> None:
        self.path = path
        self.on_off = on_off
        self.reason: str | None = None
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._reported = False
        try:
            ensure_private_dir(path.parent)
            self._fd = open_private(path)
        except OSError as exc:
            self.reason = describe_os_error(exc)
            return
        rotate(path.parent, keep_sessions=keep_sessions, max_mib=max_mib, keep=path)

    @property
    def active(self) -> bool:
        return self._fd is not None

    def report(self) -> None:
        """Call `on_off` with the reason once, if the log is off (for an `on_off` set late)."""
        with self._lock:
            reason, report = self.reason, self.reason is not None and not self._reported
            if report:
                self._reported = True
        if report and self.on_off is not None and reason is not None:
            with contextlib.suppress(Exception):  # the report must not break the caller
                self.on_off(reason)

    def write(self, kind: str, text: str) -> None:
        stamp = datetime.now().isoformat(timespec="milliseconds")
        line = redact_json_line(text).replace("\n", "\\n")
        data = f"{stamp} {kind:<6} {line}\n".encode("utf-8", errors="replace")
        failed = False
        with self._lock:
            if self._fd is None:
                failed = self.reason is not None and not self._reported
            else:
                try:
                    view = memoryview(data)
                    while view:
                        written = os.write(self._fd, view)
                        view = view[written:]
                except OSError as exc:
                    self.reason = describe_os_error(exc)
                    self._close_locked()
                    failed = True
        if failed:
            self.report()

    def _close_locked(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.close(fd)

    def close(self) -> None:
        with self._lock:
            self._close_locked()
