"""Configuration: one line naming the file, the key and the problem; exit code 2."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from console.cli import build_parser, main, resolve_config
from console.host.config import (
    DEFAULT_LEVELS,
    MIN_INTERVAL_S,
    RESOURCES,
    Config,
    ConfigError,
    Levels,
    default_toml,
    load_config,
    parse_config,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "config.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def cli_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run the CLI, expect exit 2 and exactly one stderr line; return that line."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert captured.out == ""
    return lines[0]


# The exact line for each kind of mistake:
# (file text, expected line after "autoglm-console: PATH: ").
BAD_FILES = [
    ("[monitor]\ninterval = 'fast'\n", "monitor.interval: expected a number, got 'fast'"),
    ("[monitor]\ninterval = true\n", "monitor.interval: expected a number, got True"),
    ("[monitor]\ninterval = 0.1\n",
     f"monitor.interval: must be at least {MIN_INTERVAL_S}, got 0.1"),
    ("[monitor]\nhistory_seconds = 10\n", "monitor.history_seconds: must be at least 60, got 10"),
    ("[monitor]\nspeed = 1\n",
     "monitor.speed: unknown key (allowed here: history_seconds, interval)"),
    ("[monitr]\ninterval = 1\n",
     "monitr: unknown key (allowed here: engine, guard, logs, models, monitor, "
     "serve, thresholds)"),
    ("monitor = 3\n", "monitor: expected a table"),
    ("[thresholds.gpu]\nwarn = 1\n",
     "thresholds.gpu: unknown key (allowed here: cpu, ram, swap, swap_in, temperature, vram)"),
    ("[thresholds.vram]\nwarm = 1\n",
     "thresholds.vram.warm: unknown key (allowed here: abort, pause, resume, warn)"),
    ("[thresholds.vram]\nwarn = 95\n",
     "thresholds.vram.warn: must not exceed pause (92.0), got 95.0"),
    ("[thresholds.vram]\nabort = 90\n",
     "thresholds.vram.abort: must be at least pause (92.0), got 90.0"),
    ("[thresholds.vram]\nresume = 92\n",
     "thresholds.vram.resume: must be below pause (92.0) for hysteresis, got 92.0"),
    ("[thresholds.ram]\npause = 120\nabort = 130\n",
     "thresholds.ram.pause: is a percentage: at most 100, got 120.0"),
    ("[thresholds.swap]\nwarn = -1\n", "thresholds.swap.warn: must be at least 0, got -1"),
    ("[thresholds.swap]\nwarn = '5'\n", "thresholds.swap.warn: expected a number, got '5'"),
    ("[guard]\nauto_resume = 'yes'\n", "guard.auto_resume: expected true or false, got 'yes'"),
    ("[guard]\nstall_seconds = 0\n", "guard.stall_seconds: must be at least 1, got 0"),
    ("[models]\nhf_cache = 3\n", "models.hf_cache: expected a path string, got 3"),
    ("[engine]\nprestart = 1\n", "engine.prestart: expected true or false, got 1"),
    ("[engine]\nprestrat = true\n", "engine.prestrat: unknown key (allowed here: prestart)"),
]


@pytest.mark.parametrize(("text", "expected"), BAD_FILES, ids=[e.split(":")[0] + f"-{i}" for i, (_,
    e) in enumerate(BAD_FILES)])
def test_bad_value_gives_one_exact_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    line = cli_error(capsys, ["--config", str(path), "monitor", "--once"])
    assert line == f"autoglm-console: {path}: {expected}"


def test_bad_toml_syntax_names_the_file_and_position(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "[monitor\ninterval = 1\n")
    line = cli_error(capsys, ["--config", str(path), "config", "--check"])
    assert line.startswith(f"autoglm-console: {path}: (syntax): invalid TOML: ")
    assert "line 1" in line


def test_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, b"[monitor]\ninterval = 1 # \xff\xfe\n")
    assert cli_error(capsys, ["--config", str(path),
                              "config"]) == f"autoglm-console: {path}: (file): is not UTF-8 text"


def test_missing_explicit_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nope.toml"
    assert cli_error(capsys, ["--config", str(path), "monitor", "--once"]) == (
        f"autoglm-console: {path}: (file): does not exist; pass an existing TOML file"
    )


def test_interval_flag_below_minimum(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_error(capsys, ["--interval", "0.1", "monitor", "--once"]) == (
        f"autoglm-console: --interval: interval: must be at least {MIN_INTERVAL_S}, got 0.1"
    )


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--bogus"], ["--interval", "fast"], ["monitor", "--count", "x"],
                 ["nosuchcommand"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2, argv
    capsys.readouterr()
    assert cli_error(capsys, ["monitor", "--count",
        "0"]) == "autoglm-console: monitor: --count: must be at least 1, got 0"


def test_flags_override_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[monitor]\ninterval = 2.0\n")
    args = build_parser().parse_args(["--config", str(path), "--interval", "0.5", "monitor"])
    assert resolve_config(args).interval_s == 0.5
    args = build_parser().parse_args(["--config", str(path), "monitor"])
    assert resolve_config(args).interval_s == 2.0


def test_prestart_from_the_file_and_the_flag(tmp_path: Path) -> None:
    """The engine starts with the console unless `[engine] prestart = false` or --no-prestart."""
    assert resolve_config(build_parser().parse_args([])).prestart is True
    off = write(tmp_path, "[engine]\nprestart = false\n")
    assert resolve_config(build_parser().parse_args(["--config", str(off)])).prestart is False
    assert resolve_config(build_parser().parse_args(["--no-prestart"])).prestart is False


def test_user_config_dir_file_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOGLM_CONSOLE_CONFIG_DIR", str(tmp_path))
    assert load_config() == Config()  # no file: the defaults
    write(tmp_path, "[monitor]\ninterval = 0.5\n[guard]\nauto_resume = true\n")
    config = load_config()
    assert (config.interval_s, config.auto_resume, config.source) == (0.5, True,
                                                                      str(tmp_path / "config.toml"))


def test_bad_user_config_file_fails_every_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AUTOGLM_CONSOLE_CONFIG_DIR", str(tmp_path))
    path = write(tmp_path, "[monitor]\nintervall = 1\n")
    line = cli_error(capsys, ["config", "--check"])
    assert line.startswith(f"autoglm-console: {path}: monitor.intervall: unknown key")


def test_default_toml_is_valid_and_equals_the_defaults() -> None:
    parsed = parse_config(tomllib.loads(default_toml()), "<default_toml>")
    assert parsed == Config(source="<default_toml>")
    for name in RESOURCES:
        assert f"[thresholds.{name}]" in default_toml()


def test_config_default_command_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "--default"]) == 0
    assert capsys.readouterr().out == default_toml()


def test_config_check_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "[thresholds.vram]\nwarn = 70\npause = 90\nabort = false\nresume = 80\n")
    assert main(["config", "--check", str(path)]) == 0
    assert capsys.readouterr().out == f"ok: {path}\n"


def test_levels_ordering_and_abort_false(tmp_path: Path) -> None:
    path = write(tmp_path, "[thresholds.vram]\nwarn = 70\npause = 90\nabort = false\nresume = 80\n")
    levels = load_config(path).thresholds["vram"]
    assert levels == Levels(warn=70, pause=90, abort=None, resume=80)
    assert load_config(path).thresholds["ram"] == DEFAULT_LEVELS["ram"]  # untouched: default
    # Equal warn and pause are allowed; swap_in and temperature are not percentages.
    write(tmp_path, "[thresholds.swap_in]\nwarn = 150\npause = 150\nresume = 20\n"
                    "[thresholds.temperature]\npause = 105\nresume = 100\nwarn = 95\n")
    config = load_config(path)
    assert config.thresholds["swap_in"].pause == 150
    assert config.thresholds["temperature"].pause == 105


def test_levels_colour() -> None:
    lv = Levels(warn=80, pause=92, abort=97, resume=88)
    assert [lv.colour(v) for v in (None, 0, 79.9, 80, 91.9, 92, 100)] == [
        "na", "ok", "ok", "warn", "warn", "critical", "critical"
    ]


def test_config_error_carries_its_parts() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"monitor": {"interval": "x"}}, "f.toml")
    assert (info.value.source, info.value.key) == ("f.toml", "monitor.interval")
