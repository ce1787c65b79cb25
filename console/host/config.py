"""Configuration: a TOML file in the user config dir, overridden by `--config` and flags.

Every problem is a `ConfigError` naming the file, the key and what is wrong; the CLI prints it
as one line and exits 2. Unknown keys are errors, not silently ignored.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from console.host import paths

MIN_INTERVAL_S = 0.25

# Resources the thresholds apply to. The guard (pause/abort) uses the first four; cpu and
# temperature only colour the dashboard.
GUARD_RESOURCES = ("vram", "ram", "swap", "swap_in")
RESOURCES = (*GUARD_RESOURCES, "cpu", "temperature")
SERVE_ENGINES = ("vllm", "sglang", "transformers")
RESOURCE_UNITS = {
    "vram": "% of the GPU's memory used",
    "ram": "% of host RAM used (100 - available)",
    "swap": "% of swap used",
    "swap_in": "MiB/s swapped in",
    "cpu": "% CPU, all cores",
    "temperature": "degrees C",
}


class ConfigError(Exception):
    """A bad configuration file or value: names the file, the key and the fix."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        super().__init__(f"{source}: {key}: {problem}")


@dataclass(frozen=True)
class Levels:
    """warn < pause <= abort; resume < pause (hysteresis). abort None = never abort."""

    warn: float
    pause: float
    abort: float | None
    resume: float

    def colour(self, value: float | None) -> str:
        """"ok" / "warn" / "critical" for the dashboard (critical from the pause level on)."""
        if value is None:
            return "na"
        if value >= self.pause:
            return "critical"
        if value >= self.warn:
            return "warn"
        return "ok"


DEFAULT_LEVELS: dict[str, Levels] = {
    "vram": Levels(warn=80.0, pause=92.0, abort=97.0, resume=88.0),
    "ram": Levels(warn=80.0, pause=90.0, abort=95.0, resume=85.0),
    "swap": Levels(warn=25.0, pause=50.0, abort=75.0, resume=40.0),
    "swap_in": Levels(warn=10.0, pause=50.0, abort=None, resume=5.0),
    "cpu": Levels(warn=85.0, pause=95.0, abort=None, resume=90.0),
    "temperature": Levels(warn=80.0, pause=88.0, abort=None, resume=84.0),
}


@dataclass(frozen=True)
class Config:
    interval_s: float = 1.0
    history_s: float = 600.0
    thresholds: dict[str, Levels] = field(default_factory=lambda: dict(DEFAULT_LEVELS))
    auto_resume: bool = False
    stall_s: float = 20.0
    hf_cache: str | None = None  # None: huggingface_hub's default
    # engine -> the command that starts it (shell words), e.g. vllm ->
    # "/opt/vllm/bin/python -m vllm.entrypoints.openai.api_server"; [serve] vllm_cmd = ...
    serve_cmds: dict[str, str] = field(default_factory=dict)
    source: str = "<defaults>"

    def with_overrides(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)


def _number(source: str, key: str, value: Any, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(source, key, f"expected a number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(source, key, f"must be at least {minimum}, got {value}")
    return float(value)


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


def validate_levels(source: str, name: str, vals: dict[str, float | None]) -> Levels:
    key = f"thresholds.{name}"
    warn, pause, abort, resume = vals["warn"], vals["pause"], vals["abort"], vals["resume"]
    assert warn is not None and pause is not None and resume is not None
    if name not in ("swap_in", "temperature") and pause > 100:
        raise ConfigError(source, f"{key}.pause", f"is a percentage: at most 100, got {pause}")
    if warn > pause:
        raise ConfigError(source, f"{key}.warn", f"must not exceed pause ({pause}), got {warn}")
    if abort is not None and abort < pause:
        raise ConfigError(source, f"{key}.abort", f"must be at least pause ({pause}), got {abort}")
    if resume >= pause:
        raise ConfigError(
            source, f"{key}.resume", f"must be below pause ({pause}) for hysteresis, got {resume}"
        )
    return Levels(warn=warn, pause=pause, abort=abort, resume=resume)


def parse_config(data: dict[str, Any], source: str) -> Config:
    _check_keys(source, "", data, {"monitor", "thresholds", "guard", "models", "serve"})
    cfg = Config(source=source)
    monitor = data.get("monitor", {})
    if not isinstance(monitor, dict):
        raise ConfigError(source, "monitor", "expected a table")
    _check_keys(source, "monitor", monitor, {"interval", "history_seconds"})
    interval = cfg.interval_s
    if "interval" in monitor:
        interval = _number(source, "monitor.interval", monitor["interval"], minimum=MIN_INTERVAL_S)
    history = cfg.history_s
    if "history_seconds" in monitor:
        history = _number(source, "monitor.history_seconds", monitor["history_seconds"], minimum=60)

    thresholds = dict(DEFAULT_LEVELS)
    th = data.get("thresholds", {})
    if not isinstance(th, dict):
        raise ConfigError(source, "thresholds", "expected a table")
    _check_keys(source, "thresholds", th, set(RESOURCES))
    for name, table in th.items():
        thresholds[name] = _levels(source, name, table)

    guard = data.get("guard", {})
    if not isinstance(guard, dict):
        raise ConfigError(source, "guard", "expected a table")
    _check_keys(source, "guard", guard, {"auto_resume", "stall_seconds"})
    auto_resume = cfg.auto_resume
    if "auto_resume" in guard:
        if not isinstance(guard["auto_resume"], bool):
            raise ConfigError(source, "guard.auto_resume",
                              f"expected true or false, got {guard['auto_resume']!r}")
        auto_resume = guard["auto_resume"]
    stall = cfg.stall_s
    if "stall_seconds" in guard:
        stall = _number(source, "guard.stall_seconds", guard["stall_seconds"], minimum=1)

    models = data.get("models", {})
    if not isinstance(models, dict):
        raise ConfigError(source, "models", "expected a table")
    _check_keys(source, "models", models, {"hf_cache"})
    hf_cache = models.get("hf_cache")
    if hf_cache is not None and not isinstance(hf_cache, str):
        raise ConfigError(source, "models.hf_cache", f"expected a path string, got {hf_cache!r}")

    serve = data.get("serve", {})
    if not isinstance(serve, dict):
        raise ConfigError(source, "serve", "expected a table")
    _check_keys(source, "serve", serve, {f"{e}_cmd" for e in SERVE_ENGINES})
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
        serve_cmds=serve_cmds,
        source=source,
    )


def load_config(path: Path | None = None) -> Config:
    """Load `path`, or the user config file when it exists, or the defaults."""
    explicit = path is not None
    target = path if path is not None else paths.default_config_path()
    if not target.exists():
        if explicit:
            raise ConfigError(str(target), "(file)", "does not exist; pass an existing TOML file")
        return Config()
    try:
        raw = target.read_bytes()
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
        "interval = 1.0            # seconds between samples (minimum 0.25)",
        "history_seconds = 600     # how much history the sparklines keep",
        "",
        "[guard]",
        "auto_resume = false       # resume a paused load once every resource is under 'resume'",
        "stall_seconds = 20        # no load progress for this long shows 'stalled'",
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
