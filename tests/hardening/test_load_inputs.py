"""`load`: generation flags validated before anything starts; a guard pause with nobody on
stdin ends instead of waiting forever. Real engine processes on a real tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.cli import main
from tests.hardening.helpers import cli


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from console.worker import tinymodels

    return tinymodels.build("llama", tmp_path_factory.mktemp("tiny") / "llama")


@pytest.mark.parametrize(("flags", "start"), [
    (["--temperature=nan"], "--temperature: nan: must be a finite number"),
    (["--temperature=-1"], "--temperature: -1.0: must be at least 0"),
    (["--temperature=inf"], "--temperature: inf: must be a finite number"),
    (["--top-p=nan"], "--top-p: nan: must be a finite number"),
    (["--top-p=0"], "--top-p: 0.0: must be above 0"),
    (["--top-p=1.5"], "--top-p: 1.5: must be at most 1"),
    (["--top-p=-0.5"], "--top-p: -0.5: must be above 0"),
    (["--timeout=nan"], "--timeout: nan: must be a finite number"),
    (["--timeout=0"], "--timeout: 0.0: must be above 0 seconds"),
    (["--timeout=-5"], "--timeout: -5.0: must be above 0 seconds"),
    (["--timeout=inf"], "--timeout: inf: must be a finite number"),
])
def test_bad_generation_flags_one_line_exit_2(capsys: pytest.CaptureFixture[str],
                                              flags: list[str], start: str) -> None:
    assert main(["load", "demo", "--prompt", "hi", *flags]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"autoglm-console: {start}"), err[0]


def test_pause_without_a_terminal_aborts_by_default(tiny: Path) -> None:
    done = cli(["load", str(tiny), "--device", "cpu", "--pause-at", "ram=1", "--timeout", "60"])
    assert done.returncode == 1
    assert "guard: aborted (on pause: abort)" in done.stderr
    assert "load aborted before tensor 1/" in done.stderr


def test_waiting_pause_with_stdin_at_its_end_aborts(tiny: Path) -> None:
    done = cli(["load", str(tiny), "--device", "cpu", "--pause-at", "ram=1", "--on-pause",
                "wait", "--timeout", "60"])
    assert done.returncode == 1
    assert "guard: standard input ended while the load is paused; aborting" in done.stderr
    assert "timed out" not in done.stderr


def test_waiting_pause_takes_answers_from_stdin(tiny: Path) -> None:
    # A pipe that says "f" (resume anyway: one tensor moves, then the guard pauses again), then
    # "a" (abort): both answers are taken, the end of stdin is not what ends it.
    done = cli(["load", str(tiny), "--device", "cpu", "--pause-at", "ram=1", "--on-pause",
                "wait", "--timeout", "60"], input_bytes=b"f\na\n")
    assert done.returncode == 1
    assert "guard: resumed by the user" in done.stderr
    assert "guard: aborted by the user" in done.stderr
    assert "standard input ended" not in done.stderr
