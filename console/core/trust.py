"""trust_remote_code bound to one exact model, never to a session.

A confirmation is recorded as a `TrustGrant` for a `model_key`: the model's resolved directory
(symlinks followed) and, when that directory is a Hugging Face cache snapshot
(`.../models--org--name/snapshots/<commit>`), the snapshot commit. A grant allows remote code
only for the same key: another model, the same hub id after `refs/main` moved to a new commit,
or a directory symlink pointed elsewhere all need a new confirmation. No textual, no torch.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

_COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class ModelKey:
    """What a trust confirmation is bound to."""

    name: str  # as typed (for messages)
    path: str  # the resolved directory, or "" when it does not resolve
    commit: str | None  # the HF snapshot commit, when the directory is a cache snapshot

    def describe(self) -> str:
        at = f" at commit {self.commit[:12]}" if self.commit else ""
        return f"{self.path or self.name}{at}"


def snapshot_commit(directory: Path) -> str | None:
    """The commit of an HF cache snapshot directory (`snapshots/<40 hex>`), else None."""
    if directory.parent.name == "snapshots" and _COMMIT.match(directory.name):
        return directory.name
    return None


def model_key(name: str, hf_cache: str | None = None) -> ModelKey:
    """The key for MODEL `name` now (a directory, a hub id in the local cache, or `demo`)."""
    from console.core.hfcache import resolve

    name = name.strip()
    cache = Path(hf_cache).expanduser() if hf_cache else None
    try:
        directory = Path(os.path.realpath(resolve(name, cache)))
    except (LookupError, OSError, ValueError):
        return ModelKey(name, "", None)
    return ModelKey(name, str(directory), snapshot_commit(directory))


@dataclass(frozen=True)
class TrustGrant:
    """A user's confirmation that `key`'s own code may run."""

    key: ModelKey

    def allows(self, key: ModelKey) -> bool:
        if not self.key.path:  # it never resolved: only the very same text, still unresolved
            return key == self.key
        return key.path == self.key.path and key.commit == self.key.commit
