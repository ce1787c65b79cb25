"""The shared one-place rules: how an engine ended, the default device, generation defaults."""

from __future__ import annotations

import pytest

from console.core.devices import default_device
from console.core.exits import Ended, ended_line, exit_text, parse_ended_line, signal_name
from console.core.generation import DEFAULT_GENERATION, GenerationSettings


@pytest.mark.parametrize("returncode,signal,text", [
    (-9, None, "killed by SIGKILL"),
    (-9, "SIGKILL", "killed by SIGKILL"),
    (137, None, "exit code 137"),  # a shell's 128 + 9 is an exit code, said as such
    (1, None, "exit code 1"),
    (None, None, "exit code None"),
    (-200, None, "killed by signal 200"),
])
def test_exit_text(returncode: int | None, signal: str | None, text: str) -> None:
    assert exit_text(returncode, signal) == text


def test_signal_name() -> None:
    assert (signal_name(-15), signal_name(0), signal_name(None)) == ("SIGTERM", None, None)


@pytest.mark.parametrize("returncode,signal,expected,facts", [
    (-9, "SIGKILL", False, Ended(4242, -9, 9, expected=False)),
    (-15, "SIGTERM", True, Ended(4242, -15, 15, expected=True)),
    (3, None, False, Ended(4242, 3, None, expected=False)),
    (None, None, True, Ended(4242, None, None, expected=True)),
])
def test_the_session_log_line_reads_back(returncode: int | None, signal: str | None,
                                         expected: bool, facts: Ended) -> None:
    line = ended_line(4242, returncode, signal, expected)
    assert line.startswith("engine pid 4242 ended (")
    assert parse_ended_line(f"2026-11-21T15:25:56.750 CLIENT {line}") == facts


def test_an_unrelated_line_is_not_an_exit() -> None:
    assert parse_ended_line("engine pid 12 started") is None


@pytest.mark.parametrize("device,gpus,want", [
    (None, 1, "cuda:0"), (None, 0, "cpu"), ("auto", 2, "cuda:0"), ("auto", 0, "cpu"),
    ("cuda", 0, "cuda:0"), ("cuda:1", 2, "cuda:1"), ("cpu", 4, "cpu"),
])
def test_default_device(device: str | None, gpus: int, want: str) -> None:
    assert default_device(device, gpus) == want


def test_generation_defaults_and_kwargs() -> None:
    assert DEFAULT_GENERATION.generate_kwargs() == {"max_new_tokens": 64, "do_sample": False}
    greedy_with_top_p = GenerationSettings(top_p=0.9)  # top_p means nothing without sampling
    assert "top_p" not in greedy_with_top_p.generate_kwargs()
    sampled = GenerationSettings.from_message({"max_new_tokens": 8, "temperature": 0.7,
                                               "top_p": 0.9, "seed": None})
    assert sampled.generate_kwargs() == {"max_new_tokens": 8, "do_sample": True,
                                         "temperature": 0.7, "top_p": 0.9}
    assert GenerationSettings.from_message({"max_new_tokens": None}) == DEFAULT_GENERATION


@pytest.mark.parametrize("fields,word", [
    ({"max_new_tokens": 0}, "max_new_tokens"), ({"temperature": -1.0}, "temperature"),
    ({"top_p": 1.5}, "top_p"),
])
def test_generation_settings_name_the_bad_field(fields: dict[str, float], word: str) -> None:
    with pytest.raises(ValueError, match=word):
        GenerationSettings(**fields)  # type: ignore[arg-type]
