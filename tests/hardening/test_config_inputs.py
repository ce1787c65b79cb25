"""Bad configuration input: one line naming the file / flag and the key, exit 2, at once."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from console.cli import main
from console.host.config import MAX_INTERVAL_S, ConfigError, parse_config
from tests.hardening.helpers import cli, need_other_user


def one_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e309", str(MAX_INTERVAL_S * 2), "0"])
def test_interval_flag_must_be_finite_and_in_range(capsys: pytest.CaptureFixture[str],
                                                   value: str) -> None:
    line = one_line(capsys, [f"--interval={value}", "config", "--check"])
    assert line.startswith("autoglm-console: --interval: interval: must be")


@pytest.mark.parametrize(("toml", "key"), [
    ("[monitor]\ninterval = nan\n", "monitor.interval"),
    ("[monitor]\ninterval = inf\n", "monitor.interval"),
    ("[monitor]\ninterval = 99999\n", "monitor.interval"),
    ("[monitor]\nhistory_seconds = inf\n", "monitor.history_seconds"),
    ("[guard]\nstall_seconds = nan\n", "guard.stall_seconds"),
    ("[thresholds.vram]\npause = nan\n", "thresholds.vram.pause"),
    ("[thresholds.ram]\nwarn = -inf\n", "thresholds.ram.warn"),
    ("[thresholds.swap_in]\npause = inf\n", "thresholds.swap_in.pause"),
    ("[thresholds.vram]\nabort = 500\n", "thresholds.vram.abort"),
    ("[thresholds.temperature]\npause = 1e300\nabort = 1e301\n", "thresholds.temperature"),
    ("[logs]\nkeep_sessions = 0\n", "logs.keep_sessions"),
    ("[logs]\nmax_mib = nan\n", "logs.max_mib"),
    ("[logs]\nkeep_sessions = 1.5\n", "logs.keep_sessions"),
])
def test_config_check_refuses_non_finite_and_out_of_range(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, toml: str, key: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(toml)
    line = one_line(capsys, ["--config", str(path), "config", "--check"])
    assert line.startswith(f"autoglm-console: {path}: {key}"), line


def test_logs_keys_parse() -> None:
    cfg = parse_config({"logs": {"keep_sessions": 3, "max_mib": 1.5}}, "x")
    assert (cfg.log_keep_sessions, cfg.log_max_mib) == (3, 1.5)
    with pytest.raises(ConfigError):
        parse_config({"logs": {"keep": 3}}, "x")


def test_directory_as_config_is_refused(capsys: pytest.CaptureFixture[str],
                                        tmp_path: Path) -> None:
    line = one_line(capsys, ["--config", str(tmp_path), "config", "--check"])
    assert line == f"autoglm-console: {tmp_path}: (file): is a directory; pass a TOML file"


def test_fifo_as_config_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "config.fifo"
    os.mkfifo(fifo)
    # A real process: if it opened the fifo for reading it would block; the timeout says so.
    done = cli(["--config", str(fifo), "config", "--check"], timeout=30)
    assert done.returncode == 2
    assert done.stderr.strip().endswith("is not a regular file (a fifo, socket or device would "
                                        "block or never end); pass a TOML file")
    assert len(done.stderr.strip().splitlines()) == 1


def test_unreadable_config_names_the_permission() -> None:
    need_other_user()
    where = Path(tempfile.mkdtemp(prefix="autoglm-perm-"))  # /tmp: other users may enter
    os.chmod(where, 0o755)
    path = where / "secret.toml"
    path.write_text("[monitor]\ninterval = 1\n")
    os.chmod(path, 0o000)
    done = cli(["--config", str(path), "config", "--check"], as_nobody=os.geteuid() == 0)
    assert done.returncode == 2, done
    assert done.stderr.strip() == (f"autoglm-console: {path}: (file): cannot be read: permission "
                                   "denied (check its owner and mode, e.g. chmod u+r)")
    shutil.rmtree(where)
