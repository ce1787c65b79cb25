"""The local Hugging Face hub cache, read offline from its directory layout (no torch, no hub).

Layout (huggingface_hub): `<cache>/models--<org>--<name>/refs/<revision>` holds a commit hash;
`<cache>/models--<org>--<name>/snapshots/<hash>/` holds the files (symlinks into `blobs/`).
Reading the layout directly costs microseconds and no imports; nothing here touches the network.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


class ModelNotFound(LookupError):
    """No local directory and no complete snapshot in the HF cache for a model name."""


@dataclass(frozen=True, slots=True)
class CachedModel:
    repo_id: str
    snapshot: Path  # the snapshot `refs/main` points at, else the newest one
    revision: str  # commit hash of that snapshot
    size_bytes: int  # unique blob bytes of the whole repo in the cache
    has_weights: bool


def hub_cache_dir() -> Path:
    """Where huggingface_hub keeps its cache (same environment variables it reads)."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    hf_home = os.environ.get("HF_HOME")
    if hf_home:
        return Path(hf_home).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def looks_like_repo_id(name: str) -> bool:
    return bool(_REPO_ID.match(name)) and not name.startswith((".", "/", "~"))


def _repo_dir(repo_id: str, cache: Path) -> Path:
    return cache / ("models--" + repo_id.replace("/", "--"))


def _has_weights(directory: Path) -> bool:
    return any(
        p.suffix in (".safetensors", ".bin", ".pt", ".pth", ".gguf") for p in directory.iterdir()
    )


def snapshot_for(repo_id: str, revision: str = "main", cache: Path | None = None) -> Path:
    """The local snapshot directory of `repo_id` at `revision` (a ref name or commit hash)."""
    cache = cache if cache is not None else hub_cache_dir()
    repo = _repo_dir(repo_id, cache)
    snapshots = repo / "snapshots"
    if not snapshots.is_dir():
        raise ModelNotFound(
            f"{repo_id!r} is not in the local Hugging Face cache ({cache}); "
            "download it first (huggingface-cli download ...) or pass --allow-download"
        )
    commit = revision if _COMMIT.match(revision) else None
    ref = repo / "refs" / revision
    if commit is None and ref.is_file():
        commit = ref.read_text().strip()
    if commit is not None:
        snap = snapshots / commit
        if snap.is_dir():
            return snap
        raise ModelNotFound(
            f"{repo_id!r}: revision {revision!r} points at {commit[:12]}, which is not in "
            f"{snapshots}; the cache is incomplete: download it again"
        )
    candidates = [p for p in snapshots.iterdir() if p.is_dir()]
    if not candidates:
        raise ModelNotFound(f"{repo_id!r}: {snapshots} holds no snapshot")
    return max(candidates, key=lambda p: p.stat().st_mtime)


def resolve(name: str, cache: Path | None = None) -> Path:
    """A model name -> a local directory: an existing directory as is, else a hub id (optionally
    `org/name@revision`) from the local cache. Never downloads; raises `ModelNotFound`."""
    path = Path(name).expanduser()
    try:
        path.stat()
    except PermissionError:
        raise ModelNotFound(f"{name}: permission denied: this user cannot enter a directory "
                            "on the way to it (it needs x on each; check owners and modes)"
                            ) from None
    except (OSError, ValueError):
        pass
    if path.is_dir():
        return path.resolve()
    repo_id, _, revision = name.partition("@")
    cache = cache if cache is not None else hub_cache_dir()
    # Legacy ids without an org ("gpt2") are cached as models--gpt2.
    if looks_like_repo_id(repo_id) or (
        "/" not in repo_id and repo_id and _repo_dir(repo_id, cache).is_dir()
    ):
        return snapshot_for(repo_id, revision or "main", cache)
    if path.exists():
        raise ModelNotFound(f"{name!r} is a file; a model is a directory with config.json")
    raise ModelNotFound(
        f"{name!r}: no such directory, and not a hub id (org/name) to look up in the cache"
    )


def _blob_bytes(repo: Path) -> int:
    blobs = repo / "blobs"
    if not blobs.is_dir():
        return 0
    return sum(p.stat().st_size for p in blobs.iterdir() if p.is_file())


def list_cached(cache: Path | None = None) -> list[CachedModel]:
    """Every model repo in the cache that has a snapshot, sorted by repo id."""
    cache = cache if cache is not None else hub_cache_dir()
    if not cache.is_dir():
        return []
    found: list[CachedModel] = []
    for repo in sorted(cache.glob("models--*")):
        parts = repo.name.split("--")[1:]
        if not parts:
            continue
        repo_id = "/".join(parts)
        try:
            snap = snapshot_for(repo_id, "main", cache)
        except ModelNotFound:
            continue
        found.append(CachedModel(
            repo_id=repo_id, snapshot=snap, revision=snap.name,
            size_bytes=_blob_bytes(repo), has_weights=_has_weights(snap),
        ))
    return found
