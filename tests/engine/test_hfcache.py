"""HF cache resolution offline, on a real cache layout made here (blobs, symlinks, refs)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from console.core import hfcache
from tests.fresh_python import fresh_python

COMMIT_A = "a" * 40
COMMIT_B = "b" * 40


def make_cached_repo(cache: Path, repo_id: str, source: Path, commit: str = COMMIT_A,
                     ref: str | None = "main") -> Path:
    """Lay `source`'s files out as huggingface_hub does: blobs named by hash, snapshot links."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    for f in sorted(source.iterdir()):
        if not f.is_file():
            continue
        data = f.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        link = snapshot / f.name
        if not link.exists():
            link.symlink_to(os.path.relpath(blob, snapshot))
    if ref is not None:
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / ref).write_text(commit)
    return snapshot


@pytest.fixture
def source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "config.json").write_text('{"model_type": "llama"}')
    (src / "model.safetensors").write_bytes(b"x" * 1000)
    return src


def test_resolve_hub_id_to_snapshot_of_refs_main(tmp_path: Path, source: Path) -> None:
    cache = tmp_path / "hub"
    make_cached_repo(cache, "org/name", source, COMMIT_B, ref=None)
    snap_a = make_cached_repo(cache, "org/name", source, COMMIT_A, ref="main")
    assert hfcache.resolve("org/name", cache) == snap_a
    assert hfcache.resolve(f"org/name@{COMMIT_B}", cache) == cache / "models--org--name" / \
        "snapshots" / COMMIT_B
    assert (hfcache.resolve("org/name", cache) / "config.json").read_text().startswith("{")


def test_resolve_uses_env_cache_location(tmp_path: Path, source: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "hfhome" / "hub"
    snap = make_cached_repo(cache, "org/name", source)
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hfhome"))
    assert hfcache.hub_cache_dir() == cache
    assert hfcache.resolve("org/name") == snap
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "elsewhere"))
    with pytest.raises(hfcache.ModelNotFound, match="not in the local Hugging Face cache"):
        hfcache.resolve("org/name")


def test_local_directory_wins(tmp_path: Path, source: Path) -> None:
    assert hfcache.resolve(str(source), tmp_path / "hub") == source.resolve()


def test_missing_and_broken(tmp_path: Path, source: Path) -> None:
    cache = tmp_path / "hub"
    with pytest.raises(hfcache.ModelNotFound, match="not in the local Hugging Face cache"):
        hfcache.resolve("org/absent", cache)
    with pytest.raises(hfcache.ModelNotFound, match="no such directory"):
        hfcache.resolve(str(tmp_path / "nope" / "x" / "y"), cache)
    with pytest.raises(hfcache.ModelNotFound, match="is a file"):
        hfcache.resolve(str(source / "config.json"), cache)
    # refs/main names a commit whose snapshot is missing: an incomplete cache, said so.
    make_cached_repo(cache, "org/partial", source, COMMIT_A, ref=None)
    (cache / "models--org--partial" / "refs").mkdir()
    (cache / "models--org--partial" / "refs" / "main").write_text(COMMIT_B)
    with pytest.raises(hfcache.ModelNotFound, match="incomplete"):
        hfcache.resolve("org/partial", cache)


def test_legacy_id_without_org(tmp_path: Path, source: Path) -> None:
    cache = tmp_path / "hub"
    snap = make_cached_repo(cache, "gpt2", source)
    assert hfcache.resolve("gpt2", cache) == snap


def test_list_cached_with_sizes(tmp_path: Path, source: Path) -> None:
    cache = tmp_path / "hub"
    make_cached_repo(cache, "org/one", source)
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.json").write_text("{}")
    make_cached_repo(cache, "org/two", bare)
    (cache / "datasets--org--data").mkdir()  # not a model: ignored
    listed = hfcache.list_cached(cache)
    assert [m.repo_id for m in listed] == ["org/one", "org/two"]
    one, two = listed
    assert one.size_bytes == 1000 + len('{"model_type": "llama"}')
    assert one.has_weights and not two.has_weights
    assert one.revision == COMMIT_A
    assert hfcache.list_cached(tmp_path / "absent") == []


def test_hfcache_is_light() -> None:
    """Importing the cache reader pulls in neither torch nor huggingface_hub."""
    code = ("import sys, console.core.hfcache; "
            "print(sorted(m for m in ('torch', 'transformers', 'huggingface_hub', 'textual') "
            "if m in sys.modules))")
    assert fresh_python(code) == "[]"
