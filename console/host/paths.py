"""Where the console keeps its files (platformdirs), overridable by environment for tests."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from console.core.termsafe import safe_line

APP_NAME = "autoglm-console"


def config_dir() -> Path:
    env = os.environ.get("AUTOGLM_CONSOLE_CONFIG_DIR")
    return Path(env) if env else Path(platformdirs.user_config_dir(APP_NAME))


def default_config_path() -> Path:
    return config_dir() / "config.toml"


def cache_dir() -> Path:
    env = os.environ.get("AUTOGLM_CONSOLE_CACHE_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir(APP_NAME))


def data_dir() -> Path:
    """What the console records for the user to keep (fingerprints)."""
    env = os.environ.get("AUTOGLM_CONSOLE_DATA_DIR")
    return Path(env) if env else Path(platformdirs.user_data_dir(APP_NAME))


def log_dir() -> Path:
    env = os.environ.get("AUTOGLM_CONSOLE_LOG_DIR")
    return Path(env) if env else Path(platformdirs.user_log_dir(APP_NAME))


def typed_file(raw: str) -> tuple[Path | None, str | None]:
    """A path the user typed (`~` expanded): (path, None) when it is a regular file, else
    (None, one line naming the path and what is wrong, safe to show in a terminal); (None,
    None) for an empty entry."""
    raw = raw.strip()
    if not raw:
        return None, None
    path = Path(raw).expanduser()
    if path.is_file():
        return path, None
    problem = "no such file" if not path.exists() else "not a regular file"
    return None, safe_line(f"{path}: {problem}")
