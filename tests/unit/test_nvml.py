"""console.host.nvml: the one NVML choke point, against recorded driver answers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from console.host.nvml import (
    ERR_FUNCTION_NOT_FOUND,
    ERR_LIBRARY_NOT_FOUND,
    NA,
    RECORDING_ENV,
    RecordedNvml,
    gpu_count,
    nvml,
)
from tests.paths import NVML_FIXTURES as FIXTURES
from tests.paths import REPO as ROOT


def test_a_call_that_fails_answers_na_and_says_why() -> None:
    nv = nvml(RecordedNvml(FIXTURES / "function_not_found.json"))
    assert nv.start() is None and nv.ok
    handle = nv.call("nvmlDeviceGetHandleByIndex", 0)
    assert handle is not NA and nv.last_error is None
    assert nv.call("nvmlDeviceGetPowerManagementLimit", handle) is NA
    assert nv.last_error == ERR_FUNCTION_NOT_FOUND
    assert type(nv.last_exception).__name__.startswith("NVMLError")
    assert nv.failures == {"nvmlDeviceGetPowerManagementLimit": 1}
    assert nv.call("nvmlDeviceGetCount") == 1 and nv.last_error is None  # cleared per call
    nv.shutdown()
    assert not nv.ok


def test_no_driver_is_a_state_not_an_exception() -> None:
    nv = nvml(RecordedNvml(FIXTURES / "no_driver.json"))
    state = nv.start()
    assert state is not None and state[0] == "no_driver"
    assert nv.last_error == ERR_LIBRARY_NOT_FOUND
    assert nv.start() == state  # started once; asked again, the same answer
    nv.shutdown()  # nothing to shut down: no call made
    assert nv.failures == {"nvmlInit": 1}


def test_an_unloadable_library_is_no_driver(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    bad = tmp_path / "not-a-recording.json"
    bad.write_text('{"format": "something else"}')
    monkeypatch.setenv(RECORDING_ENV, str(bad))
    nv = nvml()
    state = nv.start()
    assert state is not None and state[0] == "no_driver" and "not an NVML recording" in state[1]
    assert nv.module is None


def test_gpu_count(monkeypatch: pytest.MonkeyPatch) -> None:
    assert gpu_count(RecordedNvml(FIXTURES / "h100_handmade.json")) == 1
    assert gpu_count(RecordedNvml(FIXTURES / "no_driver.json")) == 0
    monkeypatch.setenv(RECORDING_ENV, str(FIXTURES / "h100_handmade.json"))
    assert gpu_count() == 1


# The modules that still import pynvml themselves: i12 moves them onto console.host.nvml.
NOT_YET_MOVED = {"console/worker/worker.py", "console/commands/load.py"}


def test_every_nvml_call_goes_through_the_nvml_module() -> None:
    """Only console/host/nvml.py imports pynvml (a grep that reads imports, not comments)."""
    importers = set()
    for path in [*ROOT.glob("console/**/*.py"), *ROOT.glob("widgets/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] == "pynvml" for n in names):
                importers.add(path.relative_to(ROOT).as_posix())
    assert importers - NOT_YET_MOVED == {"console/host/nvml.py"}


def test_a_pynvml_that_does_not_match_the_driver_says_so() -> None:
    recording = {"format": "autoglm-console-nvml-recording", "format_version": 1,
                 "calls": {"nvmlInit()": [{"error": "library_mismatch"}]}}
    state = nvml(RecordedNvml(recording)).start()
    assert state is not None and state[0] == "version_mismatch"
    assert "update nvidia-ml-py" in state[1]
