"""Configuration: a TOML file in the user config dir, overridden by `--config` and flags.

Every problem is a `ConfigError` naming the file, the key and what is wrong; the CLI prints it
as one line and exits 2. Unknown keys are errors, not silently ignored.
"""

from __future__ import annotations

import dataclasses
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from console.core.levels import (
    DEFAULT_LEVELS,
    GUARD_RESOURCES,
    LEVEL_MAXIMUM,
    RESOURCES,
    ConfigError,
    Levels,
    check_number,
    validate_levels,
)
from console.host import paths

__all__ = ["DEFAULT_LEVELS", "GUARD_RESOURCES", "LEVEL_MAXIMUM", "RESOURCES", "Config",
           "ConfigError", "Levels", "check_number", "validate_levels"]

MIN_INTERVAL_S = 0.25
MAX_CONFIG_BYTES = 1024 * 1024
MAX_INTERVAL_S = 3600.0  # a sampling interval above an hour is a typo, not a setting
MAX_HISTORY_S = 7 * 24 * 3600.0
MAX_STALL_S = 24 * 3600.0
DEFAULT_LOG_KEEP_SESSIONS = 50
DEFAULT_LOG_MAX_MIB = 200.0

SERVE_ENGINES = ("vllm", "sglang", "transformers")
RESOURCE_UNITS = {
    "vram": "% of the GPU's memory used",
    "ram": "% of host RAM used (100 - available)",
    "swap": "% of swap used",
    "swap_in": "MiB/s swapped in",
    "cpu": "% CPU, all cores",
    "temperature": "degrees C",
}


@dataclass(frozen=True)
class Config:
    interval_s: float = 1.0
    history_s: float = 600.0
    thresholds: dict[str, Levels] = field(default_factory=lambda: dict(DEFAULT_LEVELS))
    auto_resume: bool = False
    stall_s: float = 20.0
    hf_cache: str | None = None  # None: huggingface_hub's default
    log_keep_sessions: int = DEFAULT_LOG_KEEP_SESSIONS  # session logs kept (newest first)
    log_max_mib: float = DEFAULT_LOG_MAX_MIB  # and at most this much of them
    # Start the engine process (torch and transformers imported, no CUDA context) when the
    # console opens, so the first load pays no import time.
    prestart: bool = True
    # engine -> the command that starts it (shell words), e.g. vllm ->
    # "/opt/vllm/bin/python -m vllm.entrypoints.openai.api_server"; [serve] vllm_cmd = ...
    serve_cmds: dict[str, str] = field(default_factory=dict)
    source: str = "<defaults>"

    def with_overrides(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)


def _number(source: str, key: str, value: Any, *, minimum: float | None = None,
            maximum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(source, key, f"expected a number, got {value!r}")
    return check_number(source, key, float(value), minimum=minimum, maximum=maximum)


def check_interval(source: str, key: str, value: float) -> float:
    """A sampling interval: finite, MIN_INTERVAL_S..MAX_INTERVAL_S."""
    return check_number(source, key, value, minimum=MIN_INTERVAL_S, maximum=MAX_INTERVAL_S)


def _check_keys(source: str, prefix: str, table: dict[str, Any], allowed: set[str]) -> None:
    for key in table:
        if key not in allowed:
            where = f"{prefix}.{key}" if prefix else key
            raise ConfigError(
                source, where, f"unknown key (allowed here: {', '.join(sorted(allowed))})"
            )


def _levels(source: str, name: str, table: Any) -> Levels:
    key = f"thresholds.{name}"
    if not isinstance(table, dict):
        raise ConfigError(source, key, "expected a table with warn / pause / abort / resume")
    _check_keys(source, key, table, {"warn", "pause", "abort", "resume"})
    base = DEFAULT_LEVELS[name]
    vals: dict[str, float | None] = {
        "warn": base.warn, "pause": base.pause, "abort": base.abort, "resume": base.resume
    }
    for lvl in ("warn", "pause", "abort", "resume"):
        if lvl in table:
            raw = table[lvl]
            if lvl == "abort" and raw is False:
                vals[lvl] = None
                continue
            vals[lvl] = _number(source, f"{key}.{lvl}", raw, minimum=0)
    return validate_levels(source, name, vals)


def _table(source: str, data: dict[str, Any], name: str, allowed: set[str]) -> dict[str, Any]:
    """The `[name]` table (empty when absent): a table, holding only the `allowed` keys."""
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(source, name, "expected a table")
    _check_keys(source, name, table, allowed)
    return table


def parse_config(data: dict[str, Any], source: str) -> Config:
    _check_keys(source, "", data,
                {"monitor", "thresholds", "guard", "models", "logs", "engine", "serve"})
    cfg = Config(source=source)
    monitor = _table(source, data, "monitor", {"interval", "history_seconds"})
    interval = cfg.interval_s
    if "interval" in monitor:
        interval = _number(source, "monitor.interval", monitor["interval"],
                           minimum=MIN_INTERVAL_S, maximum=MAX_INTERVAL_S)
    history = cfg.history_s
    if "history_seconds" in monitor:
        history = _number(source, "monitor.history_seconds", monitor["history_seconds"],
                          minimum=60, maximum=MAX_HISTORY_S)

    thresholds = dict(DEFAULT_LEVELS)
    th = _table(source, data, "thresholds", set(RESOURCES))
    for name, table in th.items():
        thresholds[name] = _levels(source, name, table)

    guard = _table(source, data, "guard", {"auto_resume", "stall_seconds"})
    auto_resume = cfg.auto_resume
    if "auto_resume" in guard:
        if not isinstance(guard["auto_resume"], bool):
            raise ConfigError(source, "guard.auto_resume",
                              f"expected true or false, got {guard['auto_resume']!r}")
        auto_resume = guard["auto_resume"]
    stall = cfg.stall_s
    if "stall_seconds" in guard:
        stall = _number(source, "guard.stall_seconds", guard["stall_seconds"], minimum=1,
                        maximum=MAX_STALL_S)

    logs = _table(source, data, "logs", {"keep_sessions", "max_mib"})
    keep_sessions = cfg.log_keep_sessions
    if "keep_sessions" in logs:
        raw_keep = logs["keep_sessions"]
        if (isinstance(raw_keep, bool) or not isinstance(raw_keep, int)
                or not 1 <= raw_keep <= 100_000):
            raise ConfigError(source, "logs.keep_sessions",
                              f"expected a whole number from 1 to 100000, got {raw_keep!r}")
        keep_sessions = raw_keep
    max_mib = cfg.log_max_mib
    if "max_mib" in logs:
        max_mib = _number(source, "logs.max_mib", logs["max_mib"], minimum=1, maximum=1e6)

    models = _table(source, data, "models", {"hf_cache"})
    hf_cache = models.get("hf_cache")
    if hf_cache is not None and not isinstance(hf_cache, str):
        raise ConfigError(source, "models.hf_cache", f"expected a path string, got {hf_cache!r}")

    prestart = _table(source, data, "engine", {"prestart"}).get("prestart", cfg.prestart)
    if not isinstance(prestart, bool):
        raise ConfigError(source, "engine.prestart", f"expected true or false, got {prestart!r}")
    serve = _table(source, data, "serve", {f"{e}_cmd" for e in SERVE_ENGINES})
    serve_cmds: dict[str, str] = {}
    for engine in SERVE_ENGINES:
        value = serve.get(f"{engine}_cmd")
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(source, f"serve.{engine}_cmd",
                              f"expected a command string, got {value!r}")
        serve_cmds[engine] = value

    return Config(
        interval_s=interval,
        history_s=history,
        thresholds=thresholds,
        auto_resume=auto_resume,
        stall_s=stall,
        hf_cache=hf_cache,
        log_keep_sessions=keep_sessions,
        log_max_mib=max_mib,
        prestart=prestart,
        serve_cmds=serve_cmds,
        source=source,
    )


def load_config(path: Path | None = None) -> Config:
    """Load `path`, or the user config file when it exists, or the defaults."""
    explicit = path is not None
    target = path if path is not None else paths.default_config_path()
    try:
        st = target.stat()
    except FileNotFoundError:
        if explicit:
            raise ConfigError(str(target), "(file)",
                              "does not exist; pass an existing TOML file") from None
        return Config()
    except PermissionError:
        raise ConfigError(str(target), "(file)", "cannot be read: permission denied on a "
                          "directory above it (check owners and modes, e.g. chmod u+x)") from None
    except OSError as exc:
        raise ConfigError(str(target), "(file)", f"cannot be read: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ConfigError(str(target), "(file)", "is a directory; pass a TOML file")
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(str(target), "(file)", "is not a regular file (a fifo, socket or "
                          "device would block or never end); pass a TOML file")
    if st.st_size > MAX_CONFIG_BYTES:
        raise ConfigError(str(target), "(file)", f"is {st.st_size:,} bytes; a config file is "
                          f"at most {MAX_CONFIG_BYTES:,}")
    try:
        # O_NONBLOCK: should the path become a fifo after the check, open does not wait.
        fd = os.open(target, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise ConfigError(str(target), "(file)", "is not a regular file; pass a TOML file")
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except PermissionError:
        raise ConfigError(str(target), "(file)", "cannot be read: permission denied (check its "
                          "owner and mode, e.g. chmod u+r)") from None
    except OSError as exc:
        raise ConfigError(str(target), "(file)", f"cannot be read: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(str(target), "(file)", "is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(target), "(syntax)", f"invalid TOML: {exc}") from None
    return parse_config(data, str(target))


def default_toml() -> str:
    """The defaults as a commented TOML file (what `autoglm-console config --default` prints)."""
    lines = [
        "# autoglm-console configuration",
        "[monitor]",
        "interval = 1.0            # seconds between samples (0.25 to 3600)",
        "history_seconds = 600     # how much history the sparklines keep",
        "",
        "[guard]",
        "auto_resume = false       # resume a paused load once every resource is under 'resume'",
        "stall_seconds = 20        # no load progress for this long shows 'stalled'",
        "",
        "[logs]",
        f"keep_sessions = {DEFAULT_LOG_KEEP_SESSIONS}        # session logs kept, newest first",
        f"max_mib = {DEFAULT_LOG_MAX_MIB:g}            # and at most this many MiB of them",
        "[engine]",
        "prestart = true           # start the engine (imports torch) when the console opens",
        "",
        "[models]",
        "# hf_cache = \"/data/hf\"   # default: huggingface_hub's cache location",
        "",
        "[serve]",
        "# the command that starts each served engine (`serve --engine-cmd` overrides it)",
        "# vllm_cmd = \"/opt/vllm-venv/bin/python -m vllm.entrypoints.openai.api_server\"",
        "# sglang_cmd = \"python -m sglang.launch_server\"",
        "# transformers_cmd = \"transformers serve\"",
    ]
    for name in RESOURCES:
        lv = DEFAULT_LEVELS[name]
        lines += ["", f"[thresholds.{name}]    # {RESOURCE_UNITS[name]}"]
        lines.append(f"warn = {lv.warn:g}")
        lines.append(f"pause = {lv.pause:g}")
        lines.append("abort = false" if lv.abort is None else f"abort = {lv.abort:g}")
        lines.append(f"resume = {lv.resume:g}")
    return "\n".join(lines) + "\n"
