"""Guard thresholds: one `Levels` type for the config, the guard, the engine and the session.

Pure: no I/O. `console.host.config` reads them from the TOML file; the protocol carries them
as `{"warn", "pause", "abort", "resume"}` objects (`Levels.to_wire` / `Levels.from_wire`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Resources the thresholds apply to. The guard (pause/abort) uses the first four; cpu and
# temperature only colour the dashboard.
GUARD_RESOURCES = ("vram", "ram", "swap", "swap_in")
RESOURCES = (*GUARD_RESOURCES, "cpu", "temperature")


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

    def to_wire(self) -> dict[str, float | None]:
        """The protocol's level object."""
        return {"warn": self.warn, "pause": self.pause, "abort": self.abort,
                "resume": self.resume}

    @classmethod
    def from_wire(cls, value: Mapping[str, Any], base: Levels) -> Levels:
        """Levels from a protocol level object; a level missing or not a number keeps `base`'s."""
        def number(key: str, default: float | None) -> float | None:
            raw = value.get(key, default)
            if raw is None and key == "abort":
                return None
            if isinstance(raw, bool) or not isinstance(raw, (int, float)):
                return default
            return float(raw)

        warn = number("warn", base.warn)
        pause = number("pause", base.pause)
        resume = number("resume", base.resume)
        return cls(warn=base.warn if warn is None else warn,
                   pause=base.pause if pause is None else pause,
                   abort=number("abort", base.abort),
                   resume=base.resume if resume is None else resume)


DEFAULT_LEVELS: dict[str, Levels] = {
    "vram": Levels(warn=80.0, pause=92.0, abort=97.0, resume=88.0),
    "ram": Levels(warn=80.0, pause=90.0, abort=95.0, resume=85.0),
    "swap": Levels(warn=25.0, pause=50.0, abort=75.0, resume=40.0),
    "swap_in": Levels(warn=10.0, pause=50.0, abort=None, resume=5.0),
    "cpu": Levels(warn=85.0, pause=95.0, abort=None, resume=90.0),
    "temperature": Levels(warn=80.0, pause=88.0, abort=None, resume=84.0),
}


class ConfigError(Exception):
    """A bad configuration file or value: names the file, the key and the fix."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        super().__init__(f"{source}: {key}: {problem}")


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
